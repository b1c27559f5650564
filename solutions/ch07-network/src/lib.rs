//! Chapter 07: the network namespace. Each container gets a network stack of its own; with
//! `--net bridge` (the default) a veth pair plugs it into the host's bridge, with an address,
//! a default route, outbound NAT and published ports. All of it over netlink, in process.
//!
//! - [`netlink`]: the synchronous façade over rtnetlink (links, addresses, routes).
//! - [`bridge`]: the host's bridge `bx0`, made by the first container and kept, as `docker0`.
//! - [`addresses`]: the /16 pool, one reservation file per address, round-robin.
//! - [`nat`]: masquerade and DNAT as nftables JSON.
//! - [`ports`]: `-p [IP:]HOST:CTR[/tcp|udp]`, each host port held open.
//! - [`sysctl`]: ip_forward and route_localnet.
//! - [`network`]: the steps in order, their undoing, and `clean_stale`.

pub mod addresses;
pub mod bridge;
pub mod nat;
pub mod netlink;
pub mod network;
pub mod ports;
pub mod sysctl;
