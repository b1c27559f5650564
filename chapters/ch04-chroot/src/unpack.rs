//! Unpacking an image: every layer, in order, flattened into one directory.
//!
//! Each layer is extracted under the safety rules of [`crate::extract`], its digest checked
//! on the way. The layers are flattened as the OCI image spec says ("Whiteouts"): a
//! `.wh.NAME` entry removes NAME of the layers below, and `.wh..wh..opq` empties its
//! directory of what the layers below put there. (Chapter 06 keeps layers apart instead,
//! with overlayfs's own whiteouts.)

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use boxcar::image::scratch::Scratch;
use boxcar::image::Store;
use boxcar::Failure;

use crate::extract::{extract_checked, whiteout_target, Hook, Hooked, LayerEntry, WHITEOUT_PREFIX};

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
pub fn unpack(store: &Store, name: &str, dest: &Path) -> Result<(), Failure> {
    unpack_each(store, name, dest, &mut |blob, digest, staging| {
        let mut this_layer = BTreeSet::new();
        let mut hook =
            |entry: &LayerEntry, dest: &Path| flatten_whiteout(entry, dest, &mut this_layer);
        extract_checked(blob, digest, staging, &mut hook)
    })
}

/// [`unpack`] without whiteout handling, showing every entry that passed the safety
/// rules to `hook` first (see [`extract_layer_with`]).
pub fn unpack_with(
    store: &Store,
    name: &str,
    dest: &Path,
    hook: &mut Hook<'_>,
) -> Result<(), Failure> {
    unpack_each(store, name, dest, &mut |blob, digest, staging| {
        extract_checked(blob, digest, staging, hook)
    })
}

/// Unpack image `name` into `dest` by calling `extract(blob, staging)` for each layer in
/// order, with the digest the manifest gives the blob.
fn unpack_each(
    store: &Store,
    name: &str,
    dest: &Path,
    extract: &mut dyn FnMut(&Path, &str, &Path) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let image = store.image(name)?;
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
    staging_name.push(format!(".tmp-{}", boxcar::state::new_container_id()));
    let staging = Scratch::dir(&parent.join(staging_name), 0o755)?;
    for layer in &image.layers {
        extract(&store.blob_path(&layer.digest), layer.hex(), staging.path())?;
    }
    staging
        .rename_to(dest)
        .map_err(|error| Failure::io(format!("cannot create {}", dest.display()), error))
}

/// The flattening hook of [`unpack`]: apply an OCI whiteout to what earlier layers
/// extracted into `dest`, and remember what this layer creates (`this_layer`), which an
/// opaque marker must keep. The entry's parent directories were checked (no symlink), and a
/// whiteout names one entry of its directory (`whiteout_target`, checked again here: a
/// `.wh...` would otherwise remove `<dir>/..`), so nothing outside `dest` can be removed.
pub(crate) fn flatten_whiteout(
    entry: &LayerEntry,
    dest: &Path,
    this_layer: &mut BTreeSet<PathBuf>,
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
    if name.starts_with(WHITEOUT_PREFIX) {
        let Some(hidden) = whiteout_target(name.as_ref()) else {
            return Err(Failure::new(format!(
                "refusing the whiteout {}: it names no file of its directory",
                entry.path.display()
            ))
            .hint("this layer is not a safe image; import checks this, so the store was changed"));
        };
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
        Ok(metadata) if metadata.is_dir() => boxcar::tree::remove_tree(path),
        Ok(_) => fs::remove_file(path),
    };
    removed.map_err(|error| {
        Failure::io(
            format!("cannot apply a whiteout to {}", path.display()),
            error,
        )
    })
}
