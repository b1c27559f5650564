//! chroot(2): change what `/` means for this process and its children.
//!
//! chroot changes one thing, the process's root directory, used to resolve paths that begin
//! with `/`. It changes neither the working directory nor the mount namespace, and a root
//! process may call chroot again. That is the textbook escape (chroot(2), NOTES): chroot into
//! a subdirectory while the working directory stays outside it, climb with `..` — nothing
//! stops a process above its root — and chroot to where the climb ends: the host's `/`.
//! The checks of this chapter run that escape, and it works. Chapter 05 closes it.

use std::path::Path;

use boxcar::Failure;

/// In the parent, before clone: create the directories (`dirs`, relative to `rootfs`) the
/// child mounts on, so an image without them still works (runc does the same).
pub fn ensure_mount_points(rootfs: &Path, dirs: &[&str]) -> Result<(), Failure> {
    for dir in dirs {
        let path = rootfs.join(dir);
        if std::fs::symlink_metadata(&path).is_err() {
            std::fs::create_dir_all(&path)
                .map_err(|e| Failure::io(format!("cannot create {}", path.display()), e))?;
        }
    }
    Ok(())
}

/// In the child: make `rootfs` the root directory, and go there.
pub fn enter(rootfs: &Path) -> Result<(), Failure> {
    // TODO(ch04-2): chroot(2) into rootfs (nix::unistd::chroot), then chdir(2) to "/":
    // chroot does not move the working directory, and a working directory outside the new
    // root is exactly how a chroot is escaped. Errors: Failure::syscall("cannot chroot
    // into …", errno) and Failure::syscall("cannot chdir to the new root", errno).
    todo!("exercise ch04-2: see the TODO above")
}
