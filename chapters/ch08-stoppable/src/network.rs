//! Chapter 07's network, split along chapter 08's two lifetimes.
//!
//! An *instance* owns its network: the veth pair (its host end on the bridge, its other end
//! in the init's network namespace) and the port rules, made once create has cloned the
//! init and before start, undone in the instance's teardown. The *container* owns its
//! address: reserved by its first instance, kept across stop and start (the record keeps the
//! reservation alive), released by `rm` (chapter 07's `clean_stale` frees the reservations
//! of containers whose record is gone).

use std::path::Path;

use boxcar::spec::Container;
use boxcar::state::Runtime;
use boxcar::Failure;
use ch07_solution::network::{self, Network, Plan};
use nix::unistd::Pid;

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
/// outlives this instance (it has a record and no `--rm`), so its address stays reserved.
pub fn attach(
    plan: &Plan,
    container: &Container,
    init: Runtime,
    state_root: &Path,
    kept: bool,
) -> Result<Attachment, Failure> {
    let mut network = network::connect(plan, &container.id, Pid::from_raw(init.pid), state_root)?;
    if kept {
        network.keep_reservation();
    }
    Ok(Attachment { _network: network })
}

/// Undo what killed monitors and removed containers left: port tables, host veths,
/// reservations whose record is gone (chapter 07's `clean_stale`).
pub fn clean_stale(state_root: &Path) {
    network::clean_stale(state_root);
}
