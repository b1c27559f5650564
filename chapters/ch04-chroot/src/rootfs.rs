//! The container's root filesystem: an image unpacked for this container alone, or a
//! directory the user gives with `--rootfs`.
//!
//! An image is a stack of tar layers (extracted safely by [`crate::extract`]); this chapter
//! unpacks all of them, in order, into
//! `$BOXCAR_ROOT/containers/<id>/rootfs`. Every container pays for a full copy — chapter 06
//! replaces the copy with an overlay that costs nothing until the container writes.

use std::path::{Path, PathBuf};

use boxcar::image::Store;
use boxcar::spec::Container;
use boxcar::Failure;

use crate::unpack::unpack;

/// Where a root filesystem comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An image in the store, unpacked for this container.
    Image(String),
    /// A directory used as it is (and never removed).
    Dir(PathBuf),
}

impl Source {
    /// Where the container's root filesystem comes from, checked before anything is
    /// created; `None` when the spec has no root (the container then sees the host's files,
    /// as in chapters 1-3).
    pub fn of(container: &Container, store: &Store) -> Result<Option<Source>, Failure> {
        if let Some(name) = &container.host.image {
            store.manifest(name)?;
            return Ok(Some(Source::Image(name.clone())));
        }
        let Some(dir) = container.rootfs_dir() else {
            return Ok(None);
        };
        let mut entries = std::fs::read_dir(dir).map_err(|error| {
            Failure::io(format!("cannot use --rootfs {}", dir.display()), error)
                .hint("give a directory that holds a root filesystem (bin/, etc/, …)")
        })?;
        if entries.next().is_none() {
            return Err(Failure::new(format!("--rootfs {} is empty", dir.display()))
                .hint("unpack a root filesystem into it first, e.g. tar -xf alpine-minirootfs.tar.gz -C DIR"));
        }
        let dir = dir
            .canonicalize()
            .map_err(|e| Failure::io(format!("cannot resolve {}", dir.display()), e))?;
        Ok(Some(Source::Dir(dir)))
    }
}

/// A prepared root filesystem. One this runtime unpacked is removed when dropped.
#[derive(Debug)]
pub struct Rootfs {
    path: PathBuf,
    /// The container's state directory to remove on drop, if we created it.
    owned: Option<PathBuf>,
}

impl Rootfs {
    /// Make the root filesystem of container `id` ready, under the state root of `store`.
    pub fn prepare(source: &Source, id: &str, store: &Store) -> Result<Rootfs, Failure> {
        // TODO(ch04-1): Give the container its root filesystem. A --rootfs directory is
        // the user's: use it as it is, and never remove it. An image is unpacked for this
        // container alone into <state root>/containers/<id>/rootfs (the state root is the
        // store root's parent), and everything made for it goes when the Rootfs is dropped —
        // or at once, if unpacking fails, so that a failed run leaves nothing behind.
        // crate::unpack::unpack does the unpacking; the `owned` field says what Drop removes.
        todo!("exercise ch04-1: see the TODO above")
    }

    /// Where the root filesystem is on the host.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Rootfs {
    fn drop(&mut self) {
        // Only after the container has ended: its mounts went with its mount namespace, so
        // nothing is mounted under the directory any more. remove_dir_all does not follow
        // symlinks, so a symlink in the image to / removes nothing of the host's.
        if let Some(dir) = &self.owned {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
