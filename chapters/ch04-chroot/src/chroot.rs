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
    // TODO(ch04-2): Make `rootfs` this process's root directory, so that every path
    // beginning with / (the command's, the PATH search's) resolves inside the image, and
    // leave the process standing inside that root: the command must start in the image's /,
    // never in a host directory. chroot(2) says what it changes and what it does not; its
    // NOTES tell how a working directory left outside becomes a way out.
    todo!("exercise ch04-2: see the TODO above")
}
