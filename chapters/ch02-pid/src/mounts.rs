//! The container's mount table: private, with a /proc of its own.
//!
//! A new mount namespace starts as a copy of the parent's, but on most distributions `/`
//! is a *shared* mount (systemd makes it so), and a mount under a shared mount propagates
//! to every peer — the host included (mount_namespaces(7), "Shared subtrees"). So the first
//! thing the child does is make its whole tree private: from then on its mounts stay its own.

use boxcar::Failure;
use nix::mount::{mount, MsFlags};

/// In the child: stop mount events from propagating to or from the host.
pub fn make_private() -> Result<(), Failure> {
    // TODO(ch02-1): Stop mount events from travelling between the container's mount
    // namespace and the host, in both directions, for every mount in the container's tree
    // (not only for "/" itself). mount(2), "Changing the propagation type", and
    // mount_namespaces(7), "Shared subtrees", say how. A refusal must reach the learner.
    todo!("exercise ch02-1: see the TODO above")
}

/// In the child: mount a new procfs on /proc. It shows the processes of the PID namespace
/// of the process that mounts it, so `ps` sees only the container (proc(5)).
pub fn mount_proc() -> Result<(), Failure> {
    // TODO(ch02-2): Mount a new procfs on /proc, so that it shows this PID namespace's
    // processes, and mount it the way every runtime does: nothing on it may be run as a
    // program, act as a device, or raise privileges through a setuid bit (proc(5), mount(2)
    // "MS_NOSUID"). A refusal must reach the learner.
    todo!("exercise ch02-2: see the TODO above")
}
