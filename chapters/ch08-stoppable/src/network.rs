//! Chapter 07's network, split along chapter 08's two lifetimes.
//!
//! An *instance* owns its network: the veth pair (its host end on the bridge, its other end
//! in the init's network namespace) and the port rules, made once create has cloned the
//! init and before start, undone in the instance's teardown. The *container* owns its
//! address: reserved by its first instance, kept across stop and start (the record keeps the
//! reservation alive), released by `rm` (chapter 07's `clean_stale` frees the reservations
//! of containers whose record is gone).

use std::net::Ipv4Addr;
use std::path::Path;

use boxcar::spec::Container;
use boxcar::state::Runtime;
use boxcar::Failure;
use ch07_solution::network::{self, Network, Plan};
use nix::unistd::Pid;

/// The address a container was given, in its directory: its next instance asks for it.
pub const ADDRESS: &str = "address";

/// An instance's network: dropping it removes its port rules (and, for a container without
/// a record to keep, its address). Its veth goes with the init's namespace (chapter 07).
pub struct Attachment {
    _network: Network,
}

/// Check what the flags ask of the network before anything is created (chapter 07).
pub fn plan(container: &Container) -> Result<Plan, Failure> {
    Plan::of(container)
}

/// After create, before start: connect the init's network namespace. `kept`: the container
/// outlives this instance (it has a record and no `--rm`), so its address stays reserved,
/// and is written in its directory `dir` for its next instance to ask for again.
pub fn attach(
    plan: &Plan,
    container: &Container,
    init: Runtime,
    dir: &Path,
    state_root: &Path,
    kept: bool,
) -> Result<Attachment, Failure> {
    let file = dir.join(ADDRESS);
    let previous = std::fs::read_to_string(&file)
        .ok()
        .and_then(|text| text.trim().parse::<Ipv4Addr>().ok());
    let pid = Pid::from_raw(init.pid);
    let mut network = network::connect_again(plan, &container.id, pid, state_root, previous)?;
    if kept {
        network.keep_reservation();
        if let Some(address) = network.address().filter(|a| Some(*a) != previous) {
            std::fs::write(&file, address.to_string())
                .map_err(|e| Failure::io(format!("cannot write {}", file.display()), e))?;
        }
    }
    Ok(Attachment { _network: network })
}

/// Undo what killed monitors and removed containers left: port tables, host veths,
/// reservations whose record is gone (chapter 07's `clean_stale`).
pub fn clean_stale(state_root: &Path) {
    network::clean_stale(state_root);
}
