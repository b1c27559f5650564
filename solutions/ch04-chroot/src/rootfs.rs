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
    // ANCHOR: prepare
    /// Make the root filesystem of container `id` ready, under the state root of `store`.
    pub fn prepare(source: &Source, id: &str, store: &Store) -> Result<Rootfs, Failure> {
        // EXERCISE(ch04-1): Give the container its root filesystem. A --rootfs directory is
        // the user's: use it as it is, and never remove it. An image is unpacked for this
        // container alone into <state root>/containers/<id>/rootfs (the state root is the
        // store root's parent), and everything made for it goes when the Rootfs is dropped —
        // or at once, if unpacking fails, so that a failed run leaves nothing behind.
        // crate::unpack::unpack does the unpacking; the `owned` field says what Drop removes.
        // HINT(1): two sources, two lifetimes: the user's directory outlives the container,
        //   the unpacked image dies with it. Ownership of the container's directory is the
        //   decision; every early return must undo what was created so far.
        // HINT(2): create containers/<id> (create_dir_all) before unpacking into its rootfs
        //   subdirectory; own containers/<id>, not just rootfs, so Drop removes all of it; on
        //   an unpack error remove containers/<id> (remove_dir_all) and return the error.
        // HINT(3): match source { Source::Dir(dir) => Rootfs { path: dir.clone(), owned: None },
        //   Source::Image(name) => { state_root = store.root().parent(); container_dir =
        //   state_root/containers/id; create_dir_all; if let Err(f) = unpack(store, name,
        //   &path) { remove_dir_all(&container_dir); return Err(f) } Rootfs { path, owned:
        //   Some(container_dir) } } }.
        match source {
            Source::Dir(dir) => Ok(Rootfs {
                path: dir.clone(),
                owned: None,
            }),
            Source::Image(name) => {
                let state_root = store.root().parent().unwrap_or(Path::new("/"));
                let container_dir = state_root.join("containers").join(id);
                let path = container_dir.join("rootfs");
                std::fs::create_dir_all(&container_dir).map_err(|e| {
                    Failure::io(format!("cannot create {}", container_dir.display()), e)
                })?;
                if let Err(failure) = unpack(store, name, &path) {
                    let _ = std::fs::remove_dir_all(&container_dir);
                    return Err(failure);
                }
                Ok(Rootfs {
                    path,
                    owned: Some(container_dir),
                })
            }
        }
        // END EXERCISE
    }
    // ANCHOR_END: prepare

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
