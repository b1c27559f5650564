//! The container's mount table: private, with a /proc of its own.
//!
//! A new mount namespace starts as a copy of the parent's, but on most distributions `/`
//! is a *shared* mount (systemd makes it so), and a mount under a shared mount propagates
//! to every peer — the host included (mount_namespaces(7), "Shared subtrees"). So the first
//! thing the child does is make its whole tree private: from then on its mounts stay its own.

use boxcar::Failure;
use nix::mount::{mount, MsFlags};

// ANCHOR: make_private
/// In the child: stop mount events from propagating to or from the host.
pub fn make_private() -> Result<(), Failure> {
    // EXERCISE(ch02-1): Remount "/" with MS_REC | MS_PRIVATE and no source, type or data
    // (mount(2) "Changing the propagation type"); nix::mount::mount needs the None values
    // typed, e.g. None::<&str>. Error: Failure::syscall("cannot make mounts private", errno).
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|errno| Failure::syscall("cannot make mounts private", errno))
    // END EXERCISE
}
// ANCHOR_END: make_private

// ANCHOR: mount_proc
/// In the child: mount a new procfs on /proc. It shows the processes of the PID namespace
/// of the process that mounts it, so `ps` sees only the container (proc(5)).
pub fn mount_proc() -> Result<(), Failure> {
    // EXERCISE(ch02-2): Mount a filesystem of type "proc" (source "proc") on "/proc" with
    // MS_NOSUID | MS_NODEV | MS_NOEXEC: nothing in /proc should be setuid, a device or
    // executable. Error: Failure::syscall("cannot mount /proc", errno).
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(Some("proc"), "/proc", Some("proc"), flags, None::<&str>)
        .map_err(|errno| Failure::syscall("cannot mount /proc", errno))
    // END EXERCISE
}
// ANCHOR_END: mount_proc
