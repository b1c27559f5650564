//! pivot_root(2): swap the root *mount* of the mount namespace, then throw the old one away.
//!
//! chroot changed how `/` resolves for one process; pivot_root changes which mount is the
//! root of the whole mount namespace. Once the old root is detached (umount2 with
//! MNT_DETACH), nothing in the namespace refers to the host's tree any more: `..` at the
//! top of the container's root is the root itself, and the chroot escape climbs nowhere.
//!
//! ```text
//!   before                          after pivot_root(".", ".")      after umount2(".", DETACH)
//!   / (host)                        / (rootfs)                      / (rootfs)
//!   └─ …/containers/<id>/rootfs     └─ (old root stacked on /)      (host tree gone)
//!        (bind mount of itself)
//! ```

use std::path::Path;

use boxcar::Failure;
use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};

/// In the child, after the volumes are mounted into `rootfs`: make `rootfs` the root mount of
/// the namespace, and take the host's tree away.
pub fn pivot_into(rootfs: &Path) -> Result<(), Failure> {
    // TODO(ch05-1): Make `rootfs` the root mount of this mount namespace and leave no way
    // back to the host's tree: afterwards the chroot escape of chapter 04 climbs to the
    // container's own root, /proc/self/mountinfo lists no host mount, the volumes mounted
    // into `rootfs` before this call are still there, and the command starts in `/`.
    // pivot_root(2) says what it demands of the new root (read its NOTES), umount2(2) how
    // to let go of a mount that is still in use. Map pivot_root's errors with pivot_failure.
    todo!("exercise ch05-1: see the TODO above")
}

/// What pivot_root's errors mean for a container runtime.
pub fn pivot_failure(errno: Errno) -> Failure {
    let failure = Failure::syscall("pivot_root failed", errno);
    match errno {
        Errno::EINVAL => failure.hint(
            "the new root must be a mount point (bind-mount it onto itself first) and no mount \
             may be shared (make mounts private first)",
        ),
        Errno::EBUSY => failure.hint(
            "the new root is busy: it must be a mount point; bind-mount it onto itself first",
        ),
        Errno::EPERM => {
            failure.hint("pivot_root needs CAP_SYS_ADMIN in the mount namespace's user namespace")
        }
        _ => failure,
    }
}

/// In the child: /sys, read-only: the container may look at the kernel's devices, not
/// change them (sysfs(5)).
pub fn mount_sys_readonly() -> Result<(), Failure> {
    let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(Some("sysfs"), "/sys", Some("sysfs"), flags, None::<&str>)
        .map_err(|errno| Failure::syscall("cannot mount /sys", errno))
}

/// In the child, last: make the root filesystem read-only (`--read-only`). Volumes, /proc,
/// /dev are mounts of their own and keep their own flags.
pub fn make_root_read_only() -> Result<(), Failure> {
    // TODO(ch05-4): Make the container's root filesystem refuse writes — this one
    // mount only: not the image's filesystem on the host, not /proc, /dev or the volumes —
    // and keep every restriction the mount already had (nosuid, nodev, noexec, …).
    // mount(2), "Remounting an existing mount" and "Creating a bind mount", says how a
    // remount chooses between the filesystem and one mount, and what it does to the flags
    // you do not give.
    todo!("exercise ch05-4: see the TODO above")
}

/// The flags of the mount at `path` that a remount must repeat. A remount sets every flag
/// anew: one that drops nosuid, nodev or noexec would loosen the mount (runc keeps them too;
/// without CAP_SYS_ADMIN in the initial user namespace the kernel even refuses, EPERM).
pub fn kept_flags(path: &Path) -> Result<MsFlags, Failure> {
    use nix::sys::statvfs::{statvfs, FsFlags};
    let current = statvfs(path)
        .map_err(|errno| {
            Failure::syscall(
                format!("cannot read the flags of {}", path.display()),
                errno,
            )
        })?
        .flags();
    let pairs = [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ];
    Ok(pairs
        .iter()
        .filter(|(st, _)| current.contains(*st))
        .fold(MsFlags::empty(), |flags, (_, ms)| flags | *ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pivot_root_errors_say_what_to_do() {
        assert!(pivot_failure(Errno::EINVAL)
            .to_string()
            .contains("bind-mount it onto itself"));
        assert!(pivot_failure(Errno::EBUSY)
            .to_string()
            .contains("must be a mount point"));
    }
}
