//! The container's network, from outside: its namespace gets `lo` up and, with
//! `--net bridge`, a veth pair to the host's bridge, an address, a default route, and its
//! published ports. What is the container's is undone when [`Network`] is dropped (its port
//! rules, its address), and what a killed runtime left is undone by [`clean_stale`]. Two
//! things are not undone per container, on purpose:
//!
//! - the veth pair goes with the container's namespace: when its last process exits the
//!   kernel frees the namespace, and deleting a namespace deletes the veths in it with their
//!   peers (veth(4)). Deleting the host end ourselves would cost a synchronous
//!   unregister_netdevice — 30–100 ms of RCU grace periods on this VM — for what the kernel
//!   does anyway, a moment later, off our clock. Until then the old address may still answer:
//!   harmless, as the pool hands addresses out round-robin, never the one just freed;
//! - the bridge and its NAT table stay for the next container, as Docker keeps `docker0`
//!   (see [`bridge`]).
//!
//! ```text
//!   host (the runtime's namespace)                  container's namespace
//!   bx0 10.88.0.1/16 ── bxv<id> ═══ veth pair ═══ eth0 10.88.0.2/16, default via 10.88.0.1
//!    │  nft: table ip boxcar (masquerade)          lo 127.0.0.1
//!    │       table ip boxcar-<id> (DNAT -p)
//! ```

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use boxcar::spec::Container;
use boxcar::Failure;
use ch03_solution::owner::Owner;
use nix::unistd::Pid;

use crate::addresses::{Pool, GATEWAY, PREFIX};
use crate::netlink::Netlink;
use crate::ports::{Held, Port};
use crate::{bridge, nat, ports};

/// What the flags ask for, checked before anything is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// The host's network (a runtime before chapter 07).
    Host,
    /// A namespace with only `lo`.
    None,
    /// On the bridge, with these published ports.
    Bridge(Vec<Port>),
}

impl Plan {
    pub fn of(container: &Container) -> Result<Plan, Failure> {
        let ports = ports::parse_all(&container.host.publish)?;
        match container.host.network.as_deref() {
            None => Ok(Plan::Host),
            Some("none") if !ports.is_empty() => Err(Failure::new(
                "-p needs a network to publish on, and --net none has none",
            )
            .hint("drop --net none (bridge is the default) or drop -p")),
            Some("none") => Ok(Plan::None),
            Some(_) => {
                nat::check_nft_present()?;
                Ok(Plan::Bridge(ports))
            }
        }
    }
}

/// The host veth of container `id`: `bx` marks it as boxcar's, and the id (12 hex digits)
/// fits IFNAMSIZ (15 characters) and says whose it is.
pub fn host_veth(id: &str) -> String {
    format!("bxv{id}")
}

/// The container's network, as made so far: dropping it undoes all of it.
pub struct Network {
    id: String,
    pool: Pool,
    markers: PathBuf,
    address: Option<Ipv4Addr>,
    port_table: bool,
    _held: Vec<Held>,
    keep_reservation: bool,
}

/// Set up the network of the container `id` whose process is `pid` (waiting for "go").
pub fn connect(plan: &Plan, id: &str, pid: Pid, state_root: &Path) -> Result<Network, Failure> {
    connect_again(plan, id, pid, state_root, None)
}

/// [`connect`] for a container that held `previous` in an earlier run (chapter 08 starts
/// containers again): it gets the same address if the reservation is still its own.
pub fn connect_again(
    plan: &Plan,
    id: &str,
    pid: Pid,
    state_root: &Path,
    previous: Option<Ipv4Addr>,
) -> Result<Network, Failure> {
    let mut network = Network {
        id: id.to_string(),
        pool: Pool::new(state_root),
        markers: state_root.join("network").join("ports"),
        address: None,
        port_table: false,
        _held: Vec::new(),
        keep_reservation: false,
    };
    if *plan == Plan::Host {
        return Ok(network);
    }
    let inside = Netlink::open_in(pid)?;
    // A new network namespace has a loopback link, down (network_namespaces(7)).
    let lo = inside
        .link("lo")?
        .ok_or_else(|| Failure::new("the container has no lo link"))?;
    inside.set_up(lo.index)?;
    let Plan::Bridge(ports) = plan else {
        return Ok(network);
    };
    network._held = ports::hold(ports)?;
    let host = Netlink::open()?;
    let address = network.plug_in(&host, pid, previous)?;
    configure_inside(&inside, address)?;
    if !ports.is_empty() {
        network.publish(ports, address)?;
    }
    Ok(network)
}

impl Network {
    /// Under the pool's lock: the bridge, an address, the veth pair with hairpin mode.
    fn plug_in(
        &mut self,
        host: &Netlink,
        pid: Pid,
        previous: Option<Ipv4Addr>,
    ) -> Result<Ipv4Addr, Failure> {
        let locked = self.pool.lock()?;
        let bridge = bridge::ensure(host)?;
        let address = match previous.filter(|a| self.pool.held_by(*a, &self.id)) {
            Some(address) => address,
            None => self.pool.reserve(&locked, &self.id)?,
        };
        self.address = Some(address);
        let name = host_veth(&self.id);
        // The previous run's veth may still be there: its namespace is freed a moment after
        // its last process exits. It is no one's now, and its name is this run's.
        unplug(host, &self.id)?;
        host.add_veth(&name, pid, bridge.index, bridge.mtu)?;
        let veth = host
            .link(&name)?
            .ok_or_else(|| Failure::new(format!("veth {name} was created but cannot be found")))?;
        host.set_hairpin(veth.index)?;
        Ok(address)
    }

    /// The DNAT rules of `ports`, in a table of this container's own.
    fn publish(&mut self, ports: &[Port], address: Ipv4Addr) -> Result<(), Failure> {
        // The marker says "this container has a port table" to a later clean_stale, which
        // then need not run nft to look for one.
        std::fs::create_dir_all(&self.markers)
            .and_then(|()| std::fs::write(self.markers.join(&self.id), ""))
            .map_err(|e| Failure::io(format!("cannot write in {}", self.markers.display()), e))?;
        self.port_table = true;
        nat::add_port_table(&self.id, address, ports)
    }

    /// The container's address on the bridge, if it has one.
    pub fn address(&self) -> Option<Ipv4Addr> {
        self.address
    }

    /// Keep the address reserved after the container ends: its record is kept (no --rm),
    /// and the reservation goes when the record does.
    pub fn keep_reservation(&mut self) {
        self.keep_reservation = true;
    }

    /// The port rules and the address. The veth goes with the namespace (see the top).
    fn disconnect(&mut self) -> Result<(), Failure> {
        if self.port_table {
            nat::delete_port_table(&self.id)?;
            let _ = std::fs::remove_file(self.markers.join(&self.id));
        }
        if let Some(address) = self.address.filter(|_| !self.keep_reservation) {
            let locked = self.pool.lock()?;
            self.pool.release(&locked, address, &self.id);
        }
        Ok(())
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        if let Err(failure) = self.disconnect() {
            eprintln!("{}: {failure}", boxcar::cli::program_name());
        }
    }
}

/// Delete container `id`'s host veth, if it is still there (its peer goes with it). Only for
/// what a dead runtime left: a container that outlived its runtime keeps its namespace.
fn unplug(host: &Netlink, id: &str) -> Result<(), Failure> {
    match host.link(&host_veth(id))? {
        Some(veth) => host.delete_link(veth.index),
        None => Ok(()),
    }
}

// ANCHOR: configure_inside
/// From the parent, through a socket opened inside the container's namespace: the address
/// on eth0, eth0 up, the default route through the bridge.
fn configure_inside(inside: &Netlink, address: Ipv4Addr) -> Result<(), Failure> {
    // EXERCISE(ch07-3): Make eth0, the container's end of the veth pair, usable: give it
    // `address` in the bridge's network (a /PREFIX), set it up, and send everything not on
    // that network to the bridge, GATEWAY (a default route). `inside` talks to the
    // container's namespace: what you ask of it happens there. ip-address(8), ip-link(8),
    // ip-route(8) are the same requests typed by hand.
    // HINT(1): three requests, in an order the kernel accepts: a route through a gateway is
    //   refused until the gateway is reachable, that is, until a link that is up has an
    //   address in the gateway's network.
    // HINT(2): Netlink has a method for each: link("eth0") finds its index, add_address,
    //   set_up, add_default_route. The prefix is the pool's, PREFIX, not /32.
    // HINT(3): let eth0 = inside.link("eth0")?.ok_or_else(|| Failure::new("…"))?;
    //   inside.add_address(eth0.index, address, PREFIX)?; inside.set_up(eth0.index)?;
    //   inside.add_default_route(GATEWAY)
    let eth0 = inside
        .link("eth0")?
        .ok_or_else(|| Failure::new("the container's end of the veth pair is missing"))?;
    inside.add_address(eth0.index, address, PREFIX)?;
    inside.set_up(eth0.index)?;
    inside.add_default_route(GATEWAY)
    // END EXERCISE
}
// ANCHOR_END: configure_inside

/// Undo what runtimes that were killed left: their port tables, their host veths, the
/// reservations of containers whose record is gone. A container
/// whose runtime is alive holds its owner lock (chapter 03) and is left alone.
pub fn clean_stale(state_root: &Path) {
    let pool = Pool::new(state_root);
    // One pass over the reservations (a full pool has 65 533 files): read once, and each
    // container's record looked for once, not once per address.
    let reservations = pool.reservations();
    let markers = state_root.join("network").join("ports");
    let marked: Vec<String> = std::fs::read_dir(&markers)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    if reservations.is_empty() && marked.is_empty() {
        return;
    }
    let Ok(locked) = pool.lock() else {
        return;
    };
    let Ok(host) = Netlink::open() else {
        return;
    };
    for id in marked {
        if runtime_gone(&id) && nat::delete_port_table(&id).is_ok() {
            let _ = std::fs::remove_file(markers.join(&id));
        }
    }
    // A kept container (its record is there) keeps its address; its veth went with its
    // namespace. Only the others can be a dead runtime's: ask their owner locks, once each.
    let records = state_root.join("containers");
    let mut recorded: HashMap<String, bool> = HashMap::new();
    let mut unrecorded: Vec<(Ipv4Addr, String)> = reservations
        .into_iter()
        .filter(|(_, id)| {
            !*recorded
                .entry(id.clone())
                .or_insert_with(|| records.join(id).exists())
        })
        .collect();
    unrecorded.sort_by(|a, b| a.1.cmp(&b.1));
    let links: Vec<String> = host
        .links()
        .unwrap_or_default()
        .into_iter()
        .map(|l| l.name)
        .collect();
    let mut gone: Option<(String, bool)> = None;
    for (address, id) in unrecorded {
        let dead = match &gone {
            Some((last, dead)) if *last == id => *dead,
            _ => runtime_gone(&id),
        };
        gone = Some((id.clone(), dead));
        if !dead {
            continue;
        }
        // Its namespace is gone or going, and its veth with it; do not wait for the kernel.
        if links.contains(&host_veth(&id)) {
            let _ = unplug(&host, &id);
        }
        pool.release(&locked, address, &id);
    }
}

/// Whether no live runtime holds container `id`'s owner lock (taking it proves it).
fn runtime_gone(id: &str) -> bool {
    match Owner::try_take(id) {
        Ok(Some(owner)) => {
            owner.release();
            true
        }
        _ => false,
    }
}
