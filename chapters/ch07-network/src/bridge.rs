//! The host's bridge, `bx0`: a virtual switch every container's veth is plugged into, with
//! the containers' gateway address on it. Made by the first container that needs it, under
//! the pool's lock, with its NAT table; then kept for the next ones, as Docker keeps
//! `docker0`: made and removed per container it would cost every `run --rm` a bridge, an
//! `nft` run and a synchronous link deletion (tens of milliseconds here). Remove it by hand
//! with `ip link del bx0 && nft delete table ip boxcar`; the next container makes it again.

use std::net::Ipv4Addr;

use boxcar::Failure;

use crate::addresses::{GATEWAY, PREFIX};
use crate::netlink::{Link, Netlink};
use crate::{nat, sysctl};

/// The bridge's name: every link boxcar makes starts with `bx`.
pub const BRIDGE: &str = "bx0";

/// The MTU when the host has no default route: Ethernet's.
pub const DEFAULT_MTU: u32 = 1500;

/// The bridge, made now if it is not there. Its MTU is the one of the host's way out (the
/// default route's link): a container sending 1500-byte packets through a 1400-byte uplink
/// would see its large packets vanish.
pub fn ensure(host: &Netlink) -> Result<Link, Failure> {
    if let Some(bridge) = host.link(BRIDGE)? {
        return Ok(bridge);
    }
    let mtu = host.default_route_mtu()?.unwrap_or(DEFAULT_MTU);
    host.add_bridge(BRIDGE, mtu)?;
    let bridge = host
        .link(BRIDGE)?
        .ok_or_else(|| Failure::new(format!("bridge {BRIDGE} was created but cannot be found")))?;
    // From here on, a failure must not leave the bridge half made.
    let configured = configure(host, &bridge);
    if let Err(failure) = configured {
        let _ = host.delete_link(bridge.index);
        return Err(failure);
    }
    Ok(bridge)
}

fn configure(host: &Netlink, bridge: &Link) -> Result<(), Failure> {
    host.add_address(bridge.index, GATEWAY, PREFIX)?;
    // Packets between the bridge and the host's other links are forwarded: the runtime's
    // network namespace must route (ip-sysctl.rst, ip_forward). Docker does the same.
    sysctl::enable_forwarding()?;
    // A published port bound to 127.0.0.1 is DNATed to a container: the kernel drops a
    // packet from 127.0.0.0/8 routed out of a link unless route_localnet is set on it.
    sysctl::set_route_localnet(BRIDGE)?;
    nat::add_bridge_table(Ipv4Addr::from(u32::from(GATEWAY) & !0xffff), PREFIX)
}
