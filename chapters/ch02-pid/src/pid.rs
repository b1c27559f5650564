//! PID and mount namespaces.
//!
//! In a new PID namespace the first process is PID 1, the namespace's init
//! (pid_namespaces(7)). Two things make that process special:
//! - the kernel delivers it only the signals it has a handler for — SIGKILL and SIGSTOP from
//!   an ancestor namespace excepted — so a plain `sleep` as PID 1 shrugs off SIGTERM;
//! - orphans in the namespace are reparented to it, and if it never wait(2)s for them they
//!   stay zombies. When it exits, the kernel kills everything else in the namespace.
//!
//! A new mount namespace (CLONE_NEWNS, the first namespace Linux had, hence the name) gives
//! the child a copy of the mount table; see [`crate::mounts`] for why a copy is not enough.

use nix::sched::CloneFlags;

/// The namespaces this chapter adds to chapter 01's.
pub fn namespaces() -> CloneFlags {
    // TODO(ch02-1): Return the clone(2) flags for a new PID namespace and a new mount
    // namespace (the mount one is called CLONE_NEWNS, for "new namespace").
    todo!("exercise ch02-1: see the TODO above")
}
