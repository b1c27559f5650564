//! A minimal /dev: a fresh tmpfs with the few devices every program expects, and nothing
//! else of the host's (the host's /dev has its disks).
//!
//! The device numbers are fixed by the kernel (Documentation/admin-guide/devices.txt):
//! memory devices are major 1, /dev/tty is 5,0.

use std::os::unix::fs::PermissionsExt;

use boxcar::Failure;
use nix::mount::{mount, MsFlags};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};

/// (name, major, minor) of the character devices a container gets.
pub const DEVICES: [(&str, u64, u64); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// Symlinks every Linux userland expects in /dev.
const LINKS: [(&str, &str); 5] = [
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
];

/// In the child, after pivot_root: mount the minimal /dev.
pub fn mount_minimal_dev() -> Result<(), Failure> {
    // TODO(ch05-2): Give the container a /dev of its own: a fresh, small, in-memory
    // filesystem on /dev (the image's /dev and the host's stay out of sight), and in it the
    // character devices of DEVICES, each usable — readable and writable — by every user, as
    // on any Linux, whatever the runtime's umask. The filesystem itself must not let a file
    // there run as a program or gain privileges. tmpfs(5) for the filesystem and its
    // options, mknod(2) for a device node, makedev(3) for its number.
    todo!("exercise ch05-2: see the TODO above");
    for (name, target) in LINKS {
        std::os::unix::fs::symlink(target, format!("/dev/{name}"))
            .map_err(|e| Failure::io(format!("cannot link /dev/{name}"), e))?;
    }
    mount_pts_and_shm()
}

/// A devpts of the container's own (`newinstance`: not the host's ptys), and a tmpfs for
/// POSIX shared memory.
fn mount_pts_and_shm() -> Result<(), Failure> {
    for dir in ["/dev/pts", "/dev/shm"] {
        std::fs::create_dir(dir).map_err(|e| Failure::io(format!("cannot create {dir}"), e))?;
    }
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC;
    mount(
        Some("devpts"),
        "/dev/pts",
        Some("devpts"),
        flags,
        Some("newinstance,ptmxmode=0666,mode=0620"),
    )
    .map_err(|errno| Failure::syscall("cannot mount /dev/pts", errno))?;
    mount(
        Some("shm"),
        "/dev/shm",
        Some("tmpfs"),
        flags | MsFlags::MS_NODEV,
        Some("mode=1777,size=65536k"),
    )
    .map_err(|errno| Failure::syscall("cannot mount /dev/shm", errno))
}
