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

// ANCHOR: pivot_into
/// In the child, after the volumes are mounted into `rootfs`: make `rootfs` the root mount of
/// the namespace, and take the host's tree away.
pub fn pivot_into(rootfs: &Path) -> Result<(), Failure> {
    // EXERCISE(ch05-1): Make `rootfs` the root mount of this mount namespace and leave no way
    // back to the host's tree: afterwards the chroot escape of chapter 04 climbs to the
    // container's own root, /proc/self/mountinfo lists no host mount, the volumes mounted
    // into `rootfs` before this call are still there, and the command starts in `/`.
    // pivot_root(2) says what it demands of the new root (read its NOTES), umount2(2) how
    // to let go of a mount that is still in use. Map pivot_root's errors with pivot_failure.
    // HINT(1): pivot_root swaps root *mounts*, so the new root must be a mount point, which a
    //   plain directory is not until something is mounted on it — itself will do. The old
    //   root does not vanish: it is stacked somewhere, still mounted, until you detach it.
    // HINT(2): pivot_root(2), NOTES: with new_root and put_old both ".", the old root ends up
    //   stacked on top of the new one at the working directory, so chdir into rootfs first.
    //   A bind mount (MS_BIND) that is recursive (MS_REC) keeps the mounts below rootfs.
    //   Before detaching, make the old root stop propagating (MS_SLAVE | MS_REC, mount(2)
    //   "Changing the propagation type") so the detach cannot reach the host's own mounts;
    //   umount2 with MNT_DETACH lets go of a busy mount.
    // HINT(3): nix::mount::mount(Some(rootfs), rootfs, None, bind|rec, None); chdir(rootfs);
    //   nix::unistd::pivot_root(".", "."); mount(None, ".", None, slave|rec, None);
    //   umount2(".", MntFlags::MNT_DETACH); chdir("/"). Each error becomes a Failure that
    //   says which step failed (Failure::syscall("cannot …", errno)).
    mount(
        Some(rootfs),
        rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|errno| Failure::syscall("cannot bind-mount the rootfs onto itself", errno))?;
    nix::unistd::chdir(rootfs)
        .map_err(|errno| Failure::syscall("cannot chdir into the rootfs", errno))?;
    nix::unistd::pivot_root(".", ".").map_err(pivot_failure)?;
    // The old root is now stacked on "."; stop it propagating before it goes.
    mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|errno| Failure::syscall("cannot make the old root a slave", errno))?;
    umount2(".", MntFlags::MNT_DETACH)
        .map_err(|errno| Failure::syscall("cannot detach the old root", errno))?;
    nix::unistd::chdir("/").map_err(|errno| Failure::syscall("cannot chdir to the new root", errno))
    // END EXERCISE
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
    // EXERCISE(ch05-4): Make the container's root filesystem refuse writes — this one
    // mount only: not the image's filesystem on the host, not /proc, /dev or the volumes —
    // and keep every restriction the mount already had (nosuid, nodev, noexec, …).
    // mount(2), "Remounting an existing mount" and "Creating a bind mount", says how a
    // remount chooses between the filesystem and one mount, and what it does to the flags
    // you do not give.
    // HINT(1): a remount changes a mount that exists. Done on the filesystem it changes it
    //   for every mount of it, the host's included; done on one bind mount it changes only
    //   that mount's flags — and sets all of them anew.
    // HINT(2): mount(2): MS_REMOUNT | MS_BIND | MS_RDONLY on "/", no source, type or data.
    //   Flags you leave out are cleared, so repeat the ones the mount has: kept_flags(path),
    //   below, reads them with statvfs(3).
    // HINT(3): let kept = kept_flags(Path::new("/"))?; then nix::mount::mount(None, "/", None,
    //   remount|bind|rdonly|kept, None), its error a Failure::syscall("cannot make the root
    //   read-only", errno).
    let kept = kept_flags(Path::new("/"))?;
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
