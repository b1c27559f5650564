//! The container's root: an overlay of the image's layers (read-only, shared) and an upper
//! layer of its own.
//!
//! ```text
//!   merged/   what the container sees: a file comes from the topmost layer that has it
//!   upper/    the container's writes; a file it changes is first copied up here
//!   work/     overlayfs's scratch space, on the same filesystem as upper/
//!   lowerdir  layers/<sha>…  the image, never written
//! ```

use std::path::{Path, PathBuf};

use boxcar::Failure;
use nix::mount::{mount, MsFlags};

/// The directories of one container's overlay, under `containers/<id>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirs {
    pub upper: PathBuf,
    pub work: PathBuf,
    pub merged: PathBuf,
}

impl Dirs {
    /// The overlay directories of the container whose state is in `container_dir`.
    pub fn of(container_dir: &Path) -> Dirs {
        Dirs {
            upper: container_dir.join("upper"),
            work: container_dir.join("work"),
            merged: container_dir.join("merged"),
        }
    }

    /// Create them (in the parent, before clone).
    pub fn create(&self) -> Result<(), Failure> {
        for dir in [&self.upper, &self.work, &self.merged] {
            std::fs::create_dir_all(dir)
                .map_err(|e| Failure::new(format!("cannot create {}: {e}", dir.display())))?;
        }
        Ok(())
    }
}

/// In the child, in its private mount namespace: mount the overlay on `dirs.merged`. It
/// vanishes with the namespace, so the host never holds it and nothing can leak.
pub fn mount_overlay(lowerdirs: &[PathBuf], dirs: &Dirs) -> Result<(), Failure> {
    // TODO(ch06-1): Build the options "lowerdir=L1:L2:…,upperdir=U,workdir=W" (lowerdirs
    // are already topmost first, joined with ':') and mount(2) a filesystem of type
    // "overlay" (source "overlay") on dirs.merged with them. Error: overlay_failure(errno).
    todo!("exercise ch06-1: see the TODO above")
}

/// What overlay mount errors usually mean.
pub fn overlay_failure(errno: nix::errno::Errno) -> Failure {
    let failure = Failure::syscall("cannot mount the overlay", errno);
    match errno {
        nix::errno::Errno::ENODEV => failure.hint("this kernel has no overlayfs: modprobe overlay"),
        nix::errno::Errno::EINVAL => failure.hint(
            "an option is wrong: upperdir and workdir must be on the same filesystem, and none of \
             the directories may be an overlay itself (check `dmesg` for overlayfs's reason)",
        ),
        _ => failure,
    }
}
