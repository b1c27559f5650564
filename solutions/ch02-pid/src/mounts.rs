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
    // EXERCISE(ch02-1): Stop mount events from travelling between the container's mount
    // namespace and the host, in both directions, for every mount in the container's tree
    // (not only for "/" itself). mount(2), "Changing the propagation type", and
    // mount_namespaces(7), "Shared subtrees", say how. A refusal must reach the learner.
    // HINT(1): A new mount namespace starts as a copy, but mounts that were *shared* stay
    //   peers of the host's: a mount made under one appears on the host too. Changing the
    //   propagation type of the whole tree cuts those links.
    // HINT(2): mount(2) with no source, type or data, only a propagation flag, changes the
    //   type of the mount at the target; MS_REC applies it to every mount below as well.
    //   MS_PRIVATE neither sends nor receives events; MS_SHARED is what systemd made `/`.
    // HINT(3): nix::mount::mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC |
    //   MsFlags::MS_PRIVATE, None::<&str>), its errno mapped with Failure::syscall.
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
    // EXERCISE(ch02-2): Mount a new procfs on /proc, so that it shows this PID namespace's
    // processes, and mount it the way every runtime does: nothing on it may be run as a
    // program, act as a device, or raise privileges through a setuid bit (proc(5), mount(2)
    // "MS_NOSUID"). A refusal must reach the learner.
    // HINT(1): procfs shows the processes of the PID namespace of the process that mounts
    //   it; the child is PID 1 of a new one. A pseudo-filesystem still takes the usual
    //   per-mount options, and runc and docker set three of them on /proc.
    // HINT(2): mount(2): the filesystem type is "proc" (any source name will do; "proc" is
    //   the convention); the flags that forbid setuid, device files and execution are
    //   MS_NOSUID, MS_NODEV and MS_NOEXEC.
    // HINT(3): nix::mount::mount(Some("proc"), "/proc", Some("proc"), MsFlags::MS_NOSUID |
    //   MsFlags::MS_NODEV | MsFlags::MS_NOEXEC, None::<&str>), errno mapped with
    //   Failure::syscall.
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(Some("proc"), "/proc", Some("proc"), flags, None::<&str>)
        .map_err(|errno| Failure::syscall("cannot mount /proc", errno))
    // END EXERCISE
}
// ANCHOR_END: mount_proc
