//! The container's root filesystem: an image unpacked for this container alone, or a
//! directory the user gives with `--rootfs`.
//!
//! An image is a stack of tar layers (extracted safely by [`crate::extract`]); this chapter
//! unpacks all of them, in order, into
//! `$BOXCAR_ROOT/containers/<id>/rootfs`. Every container pays for a full copy — chapter 06
//! replaces the copy with an overlay that costs nothing until the container writes.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use boxcar::image::Store;
use boxcar::spec::Container;
use boxcar::state::Runtime;
use boxcar::Failure;
use oci_spec::image::ImageConfiguration;

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
            store.image(name)?;
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

impl Source {
    /// The image's config (its command, environment, working directory, user), if the root
    /// filesystem comes from an image.
    pub fn config(&self, store: &Store) -> Result<Option<ImageConfiguration>, Failure> {
        match self {
            Source::Image(name) => Ok(Some(store.image(name)?.config)),
            Source::Dir(_) => Ok(None),
        }
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
        // crate::unpack::unpack does the unpacking, own_container_dir (below) makes the
        // container's directory; the `owned` field says what Drop removes.
        // HINT(1): two sources, two lifetimes: the user's directory outlives the container,
        //   the unpacked image dies with it. Ownership of the container's directory is the
        //   decision; every early return must undo what was created so far.
        // HINT(2): make containers/<id> (own_container_dir) before unpacking into its rootfs
        //   subdirectory; own containers/<id>, not just rootfs, so Drop removes all of it; on
        //   an unpack error remove containers/<id> (boxcar::tree::remove_tree, which removes
        //   a tree of any depth) and return the error.
        // HINT(3): match source { Source::Dir(dir) => Rootfs { path: dir.clone(), owned: None },
        //   Source::Image(name) => { state_root = store.root().parent(); container_dir =
        //   own_container_dir(state_root, id)?; if let Err(f) = unpack(store, name, &path) {
        //   remove_tree(&container_dir); return Err(f) } Rootfs { path, owned:
        //   Some(container_dir) } } }.
        match source {
            Source::Dir(dir) => Ok(Rootfs {
                path: dir.clone(),
                owned: None,
            }),
            Source::Image(name) => {
                let state_root = store.root().parent().unwrap_or(Path::new("/"));
                let container_dir = own_container_dir(state_root, id)?;
                let path = container_dir.join("rootfs");
                if let Err(failure) = unpack(store, name, &path) {
                    let _ = boxcar::tree::remove_tree(&container_dir);
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
        // nothing is mounted under the directory any more. remove_tree does not follow
        // symlinks, so a symlink in the image to / removes nothing of the host's, and it
        // removes a tree of any depth. A failure is said: the copy would be left behind.
        if let Some(dir) = &self.owned {
            if let Err(error) = boxcar::tree::remove_tree(dir) {
                let failure = Failure::io(format!("cannot remove {}", dir.display()), error);
                eprintln!("{}: {failure}", boxcar::cli::program_name());
            }
        }
    }
}

/// The file in a container's directory that names the runtime owning it (pid and start
/// time, see `boxcar::state::Runtime`).
pub const OWNER_FILE: &str = "owner";

/// Create `containers/<id>/` (0700: the copy holds the image's setuid files) and write our
/// [`OWNER_FILE`] in it; first remove the copies of runtimes that died without removing
/// theirs (killed with SIGKILL, say), never one whose runtime still runs.
fn own_container_dir(state_root: &Path, id: &str) -> Result<PathBuf, Failure> {
    let containers = state_root.join("containers");
    sweep_dead(&containers);
    let dir = containers.join(id);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| Failure::io(format!("cannot create {}", dir.display()), e))?;
    let owner = dir.join(OWNER_FILE);
    if let Err(error) = std::fs::write(&owner, Runtime::me().to_line()) {
        let _ = boxcar::tree::remove_tree(&dir);
        return Err(Failure::io(
            format!("cannot write {}", owner.display()),
            error,
        ));
    }
    Ok(dir)
}

/// Remove every container directory in `containers` whose owner file names a runtime that is
/// no longer running. A directory without an owner file is not ours to judge: left alone.
pub fn sweep_dead(containers: &Path) {
    for entry in std::fs::read_dir(containers)
        .into_iter()
        .flatten()
        .flatten()
    {
        let owner = std::fs::read_to_string(entry.path().join(OWNER_FILE));
        let Some(runtime) = owner.ok().as_deref().and_then(Runtime::parse) else {
            continue;
        };
        if !runtime.is_alive() {
            let _ = boxcar::tree::remove_tree(&entry.path());
        }
    }
}
