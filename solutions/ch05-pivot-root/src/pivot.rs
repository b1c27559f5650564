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

// ANCHOR: bind_to_itself
/// In the child: make `rootfs` a mount point, as pivot_root(2) requires of its new root.
pub fn bind_to_itself(rootfs: &Path) -> Result<(), Failure> {
    // EXERCISE(ch05-1): Bind-mount rootfs onto itself: mount(Some(rootfs), rootfs, None,
    // MS_BIND | MS_REC, None). MS_REC takes the mounts below it along (volumes, say).
    // Error: Failure::syscall("cannot bind-mount the rootfs onto itself", errno).
    mount(
        Some(rootfs),
        rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|errno| Failure::syscall("cannot bind-mount the rootfs onto itself", errno))
    // END EXERCISE
}
// ANCHOR_END: bind_to_itself

// ANCHOR: pivot_into
/// In the child: make `rootfs` the root mount and detach the old root.
pub fn pivot_into(rootfs: &Path) -> Result<(), Failure> {
    nix::unistd::chdir(rootfs)
        .map_err(|errno| Failure::syscall("cannot chdir into the rootfs", errno))?;
    // EXERCISE(ch05-2): pivot_root(".", ".") (nix::unistd::pivot_root) stacks the old root on
    // top of the new one, at "." — no put_old directory needed (pivot_root(2), NOTES). Then
    // umount2(".", MNT_DETACH) detaches that old root, the host's tree. Map pivot_root's
    // errno with pivot_failure(errno) and umount2's with Failure::syscall.
    nix::unistd::pivot_root(".", ".").map_err(pivot_failure)?;
    umount2(".", MntFlags::MNT_DETACH)
        .map_err(|errno| Failure::syscall("cannot detach the old root", errno))?;
    // END EXERCISE
    // After the pivot the working directory may still be the old root's view: go to the new /.
    nix::unistd::chdir("/").map_err(|errno| Failure::syscall("cannot chdir to the new root", errno))
}
// ANCHOR_END: pivot_into

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

// ANCHOR: read_only
/// In the child, last: make the root filesystem read-only (`--read-only`). Volumes, /proc,
/// /dev are mounts of their own and keep their own flags.
pub fn make_root_read_only() -> Result<(), Failure> {
    let kept = kept_flags(Path::new("/"))?;
    // EXERCISE(ch05-5): Remount "/" with MS_REMOUNT | MS_BIND | MS_RDONLY | kept: a bind
    // remount changes the flags of this one mount only (mount(2), "Remounting an existing
    // mount"), and sets all of them anew, so the ones it had must be given again.
    // Error: Failure::syscall("cannot make the root read-only", errno).
    let flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | kept;
    mount(None::<&str>, "/", None::<&str>, flags, None::<&str>)
        .map_err(|errno| Failure::syscall("cannot make the root read-only", errno))
    // END EXERCISE
}
// ANCHOR_END: read_only

// ANCHOR: kept_flags
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
// ANCHOR_END: kept_flags

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
