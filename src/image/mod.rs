//! The image store: root filesystems as tar layers, kept under `$BOXCAR_ROOT/images/`.
//!
//! An image is what `docker save` keeps, minus the registry: one or more tar layers (plain or
//! gzip) and a small JSON manifest naming each by its sha256 digest:
//!
//! ```text
//! images/busybox/manifest.json            {"name": "busybox", "layers": [{"digest":
//!                                           "sha256:…", "size": 1048576, "compression":
//!                                           "gzip"}], "created": "2024-05-01T12:00:00Z"}
//! images/busybox/layers/<sha256>.tar.gz   the layer exactly as imported
//! ```
//!
//! An image appears whole or not at all: import builds it in a hidden staging directory and
//! renames that into place last (rename(2) is atomic), and unpacking extracts into a
//! temporary directory renamed into place at the end. A half-written image is never listed
//! and a half-extracted root filesystem is never used.
//!
//! - [`extract`]: the safety rules for layer entries, and extraction under them.
//! - [`import`]: copying a tar or tar.gz into the store while hashing and checking it.
//! - [`export`]: an image's flattened root filesystem as one tar.
//! - [`busybox`]: the default image, built offline from the host's busybox-static.

pub mod busybox;
pub mod export;
pub mod extract;
pub mod import;
mod scratch;

#[cfg(test)]
mod tests;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use busybox::build_busybox;
pub use extract::{extract_layer, extract_layer_with, EntryKind, Hooked, LayerEntry};

use crate::Failure;
use scratch::Scratch;

/// The images of one state root, kept in `state_root/images/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store {
    root: PathBuf,
}

/// An image's manifest, as `images/<name>/manifest.json` holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub name: String,
    /// Bottom layer first: later layers are extracted over earlier ones.
    pub layers: Vec<Layer>,
    /// When the image was imported, as RFC 3339 in UTC.
    pub created: String,
}

/// One layer of an image: a tar archive stored as it was imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layer {
    /// `sha256:<64 hex digits>` of the blob file as stored.
    pub digest: String,
    /// The blob's size in bytes (compressed, if it is).
    pub size: u64,
    pub compression: Compression,
}

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
}

/// One line of `images`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    pub name: String,
    pub layers: usize,
    /// The layers' total size in bytes, as stored.
    pub size: u64,
}

impl Manifest {
    /// The layers' total size in bytes, as stored.
    pub fn size(&self) -> u64 {
        self.layers.iter().map(|layer| layer.size).sum()
    }
}

impl Layer {
    /// The hex digits of the digest, which name the blob file.
    pub fn hex(&self) -> &str {
        self.digest.strip_prefix("sha256:").unwrap_or(&self.digest)
    }

    /// The blob's file name in `layers/`: `<hex>.tar` or `<hex>.tar.gz`.
    pub fn file_name(&self) -> String {
        match self.compression {
            Compression::None => format!("{}.tar", self.hex()),
            Compression::Gzip => format!("{}.tar.gz", self.hex()),
        }
    }
}

impl Store {
    /// The store of the state root `state_root` (images live in `state_root/images/`).
    pub fn new(state_root: &Path) -> Store {
        Store {
            root: state_root.join("images"),
        }
    }

    /// The store under `$BOXCAR_ROOT` (see [`crate::state::root`]).
    pub fn default_root() -> Store {
        Store::new(&crate::state::root())
    }

    /// The directory that holds the images.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of image `name` (which may not exist).
    fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Where a layer of image `name` is stored.
    pub fn layer_path(&self, name: &str, layer: &Layer) -> PathBuf {
        self.dir(name).join("layers").join(layer.file_name())
    }

    /// Every complete image, sorted by name. A directory without a readable manifest is a
    /// half-done import or removal, or not ours: it is not an image, so it is not listed.
    pub fn list(&self) -> Vec<ImageInfo> {
        let Ok(entries) = fs::read_dir(&self.root) else {
            return Vec::new();
        };
        let mut images: Vec<ImageInfo> = entries
            .flatten()
            .filter_map(|entry| entry.file_name().into_string().ok())
            .filter(|name| check_name(name).is_ok())
            .filter_map(|name| {
                let manifest = self.manifest(&name).ok()?;
                Some(ImageInfo {
                    layers: manifest.layers.len(),
                    size: manifest.size(),
                    name,
                })
            })
            .collect();
        images.sort_by(|a, b| a.name.cmp(&b.name));
        images
    }

    /// The manifest of image `name`, or a failure that says how to get one.
    pub fn manifest(&self, name: &str) -> Result<Manifest, Failure> {
        check_name(name)?;
        let path = self.dir(name).join("manifest.json");
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Err(Failure::new(format!("no image named {name}")).hint(
                    "list images with `images`, import one with `import FILE NAME`; \
                     the default image, busybox, is built by ./setup.sh",
                ))
            }
            Err(error) => return Err(io_failure(format!("cannot read {}", path.display()), error)),
        };
        let damaged = |why: String| {
            Failure::new(format!("image {name} is damaged: {why}")).hint(format!(
                "remove {} and import the image again",
                self.dir(name).display()
            ))
        };
        let manifest: Manifest = serde_json::from_str(&text)
            .map_err(|error| damaged(format!("{} is not a manifest: {error}", path.display())))?;
        // The digest becomes a file name: a hand-edited `sha256:../../x` must not.
        if let Some(layer) = manifest
            .layers
            .iter()
            .find(|layer| !is_sha256(&layer.digest))
        {
            return Err(damaged(format!(
                "{:?} is not a sha256 digest",
                layer.digest
            )));
        }
        Ok(manifest)
    }

    /// Remove image `name`. It is renamed out of sight first, so it is never half there.
    pub fn remove(&self, name: &str) -> Result<(), Failure> {
        self.manifest(name)?;
        let doomed = Scratch::path_in(&self.root, "removing");
        fs::rename(self.dir(name), doomed.path())
            .map_err(|error| io_failure(format!("cannot remove image {name}"), error))?;
        drop(doomed);
        Ok(())
    }

    /// Extract every layer of image `name`, in order, into `dest`, which must not exist yet.
    ///
    /// The layers go into a sibling temporary directory `dest.tmp-<random>`, renamed to
    /// `dest` only when all of them are in; on any failure it is removed, so `dest` is
    /// either the whole image or absent. Each layer's sha256 is checked on the way: a blob
    /// changed since import is refused.
    ///
    /// The layers are flattened as the OCI image spec says ("Whiteouts"): a `.wh.NAME` entry
    /// removes NAME of the layers below, and `.wh..wh..opq` empties its directory of what the
    /// layers below put there. (Chapter 06 keeps layers apart instead, with overlayfs's own
    /// whiteouts; see its `layers` module.)
    pub fn unpack(&self, name: &str, dest: &Path) -> Result<(), Failure> {
        self.unpack_each(name, dest, &mut |blob, staging| {
            let mut this_layer = std::collections::BTreeSet::new();
            let mut hook =
                |entry: &LayerEntry, dest: &Path| flatten_whiteout(entry, dest, &mut this_layer);
            extract::extract_verified(blob, staging, &mut hook)
        })
    }

    /// [`Store::unpack`] without whiteout handling, showing every entry that passed the safety
    /// rules to `hook` first (see [`extract_layer_with`]).
    pub fn unpack_with(
        &self,
        name: &str,
        dest: &Path,
        hook: &mut extract::Hook<'_>,
    ) -> Result<(), Failure> {
        self.unpack_each(name, dest, &mut |blob, staging| {
            extract::extract_verified(blob, staging, hook)
        })
    }

    /// Unpack image `name` into `dest` by calling `extract(blob, staging)` for each layer in
    /// order; it returns the blob's sha256, checked against the manifest.
    fn unpack_each(
        &self,
        name: &str,
        dest: &Path,
        extract: &mut dyn FnMut(&Path, &Path) -> Result<String, Failure>,
    ) -> Result<(), Failure> {
        let manifest = self.manifest(name)?;
        if fs::symlink_metadata(dest).is_ok() {
            return Err(Failure::new(format!(
                "cannot unpack image {name} into {}: it already exists",
                dest.display()
            ))
            .hint("unpack into a path that does not exist yet; it is created whole at the end"));
        }
        let file_name = dest.file_name().ok_or_else(|| {
            Failure::new(format!(
                "cannot unpack into {}: it names no directory",
                dest.display()
            ))
        })?;
        let parent = match dest.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let mut staging_name = file_name.to_os_string();
        staging_name.push(format!(".tmp-{}", crate::state::new_container_id()));
        let staging = Scratch::dir(&parent.join(staging_name), 0o755)?;
        for layer in &manifest.layers {
            let blob = self.layer_path(name, layer);
            let digest = extract(&blob, staging.path())?;
            if digest != layer.hex() {
                return Err(Failure::new(format!(
                    "layer {} of image {name} is damaged: its sha256 is now {digest}",
                    layer.hex()
                ))
                .hint(
                    "the file changed since it was imported: remove the image and import it again",
                ));
            }
        }
        staging
            .rename_to(dest)
            .map_err(|error| io_failure(format!("cannot create {}", dest.display()), error))
    }
}

/// The flattening hook of [`Store::unpack`]: apply an OCI whiteout to what earlier layers
/// extracted into `dest`, and remember what this layer creates (`this_layer`), which an
/// opaque marker must keep. The entry's parent directories were checked (no symlink), and a
/// whiteout names one component in them, so nothing outside `dest` can be removed.
fn flatten_whiteout(
    entry: &LayerEntry,
    dest: &Path,
    this_layer: &mut std::collections::BTreeSet<PathBuf>,
) -> Result<Hooked, Failure> {
    let name = entry
        .path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let parent = entry.path.parent().unwrap_or(Path::new(""));
    if name == ".wh..wh..opq" {
        for child in fs::read_dir(dest.join(parent))
            .into_iter()
            .flatten()
            .flatten()
        {
            let relative = parent.join(child.file_name());
            if !this_layer.contains(&relative) {
                remove_any(&child.path())?;
            }
        }
        return Ok(Hooked::Done);
    }
    if let Some(hidden) = name.strip_prefix(".wh.") {
        remove_any(&dest.join(parent).join(hidden))?;
        return Ok(Hooked::Done);
    }
    this_layer.insert(entry.path.clone());
    Ok(Hooked::Extract)
}

/// Remove a file, a symlink (never what it points to) or a whole directory; absent is fine.
fn remove_any(path: &Path) -> Result<(), Failure> {
    let removed = match fs::symlink_metadata(path) {
        Err(_) => Ok(()),
        Ok(metadata) if metadata.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
    };
    removed.map_err(|error| {
        io_failure(
            format!("cannot apply a whiteout to {}", path.display()),
            error,
        )
    })
}

/// Refuse a name that is not `[a-z0-9][a-z0-9._-]{0,63}`: a name becomes a directory, so
/// it must not be `..`, hidden, or carry a `/`.
pub fn check_name(name: &str) -> Result<(), Failure> {
    let bytes = name.as_bytes();
    let first_ok = bytes
        .first()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let rest_ok = bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(b));
    if first_ok && rest_ok && bytes.len() <= 64 {
        return Ok(());
    }
    Err(Failure::new(format!("invalid image name {name:?}")).hint(
        "use 1 to 64 lowercase letters, digits, '.', '_' or '-', starting with a letter or \
         digit, e.g. busybox or alpine-3.20",
    ))
}

/// Whether `digest` is `sha256:` and 64 lowercase hex digits.
fn is_sha256(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// An I/O error as a [`Failure`]: the errno with its usual hint when the kernel gave one.
pub(crate) fn io_failure(what: impl Into<String>, error: io::Error) -> Failure {
    match error.raw_os_error() {
        Some(code) => Failure::syscall(what, nix::errno::Errno::from_raw(code)),
        None => Failure::new(format!("{}: {error}", what.into())),
    }
}
