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
    let nosuid_noexec = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC;
    mount(
        Some("tmpfs"),
        "/dev",
        Some("tmpfs"),
        nosuid_noexec,
        Some("mode=755,size=65536k"),
    )
    .map_err(|errno| Failure::syscall("cannot mount a tmpfs on /dev", errno))?;
    // TODO(ch05-3): For each (name, major, minor) in DEVICES, create /dev/<name> with
    // mknod(2) as a character device (SFlag::S_IFCHR), mode 0o666, device makedev(major,
    // minor). Error: Failure::syscall(format!("cannot create /dev/{name}"), errno).
    todo!("exercise ch05-3: see the TODO above");
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
