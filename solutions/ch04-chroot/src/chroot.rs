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

// ANCHOR: enter
/// In the child: make `rootfs` the root directory, and go there.
pub fn enter(rootfs: &Path) -> Result<(), Failure> {
    // EXERCISE(ch04-2): Make `rootfs` this process's root directory, so that every path
    // beginning with / (the command's, the PATH search's) resolves inside the image, and
    // leave the process standing inside that root: the command must start in the image's /,
    // never in a host directory. chroot(2) says what it changes and what it does not; its
    // NOTES tell how a working directory left outside becomes a way out.
    // HINT(1): a process has two directories of its own: its root and its working directory.
    //   chroot changes the first only.
    // HINT(2): chroot(2), then chdir(2) to "/" — in that order: "/" means the new root only
    //   once the chroot is done. Either can fail; say which one in the error.
    // HINT(3): nix::unistd::chroot(rootfs), its errno a Failure::syscall("cannot chroot into
    //   …", errno); then nix::unistd::chdir("/") with its own message.
    nix::unistd::chroot(rootfs).map_err(|errno| {
        Failure::syscall(format!("cannot chroot into {}", rootfs.display()), errno)
    })?;
    nix::unistd::chdir("/").map_err(|errno| Failure::syscall("cannot chdir to the new root", errno))
    // END EXERCISE
}
// ANCHOR_END: enter
