//! Images made by other tools: an OCI archive (an OCI image layout in a tar, as
//! `skopeo copy … oci-archive:F` and `podman save --format oci-archive` write it) and a
//! `docker save` tarball (`manifest.json` and layer tars; `skopeo copy … docker-archive:F`
//! writes the same).
//!
//! The archive is unpacked into a scratch directory of the store (regular files and
//! directories only, under clean names: it is untrusted), then every blob the image needs
//! is checked against its digest and every layer against the rules of [`crate::extract`]
//! as it is copied into the store. The image is named last; on any failure the scratch
//! directory goes, and no name appears.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Component, Path, PathBuf};

use flate2::read::MultiGzDecoder;
use oci_spec::image::{Arch, Descriptor, ImageIndex, ImageManifest, Os};
use serde::Deserialize;

use boxcar::image::scratch::Scratch;
use boxcar::image::{
    check_digest, hex_of, is_index, is_manifest, layers_of, parse_config, sha256_of, Image, Store,
};
use boxcar::Failure;

use crate::extract::{Model, GZIP_MAGIC};
use crate::import::{add_manifest, store_layer, write_image_raw, Expected, Tee};

/// What an archive given to `import` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An OCI image layout: `oci-layout`, `index.json`, `blobs/`.
    Oci,
    /// `docker save`'s format: `manifest.json` naming a config and layer tars.
    Docker,
    /// Anything else: a root filesystem.
    Rootfs,
}

/// Tell the kinds apart by the names at the archive's top: `oci-layout` makes an OCI
/// layout (newer `docker save` writes one too, beside its `manifest.json`), `manifest.json`
/// alone a docker archive.
pub fn kind(file: &Path) -> Result<Kind, Failure> {
    let mut names = Vec::new();
    let listed = (|| -> io::Result<()> {
        let mut archive = tar::Archive::new(open_maybe_gzip(file)?);
        for entry in archive.entries()? {
            let entry = entry?;
            if let Some(name) = top_name(&entry.path()?) {
                names.push(name);
            }
        }
        Ok(())
    })();
    // A file that is not a tar at all is the root filesystem check's to report.
    if listed.is_err() {
        return Ok(Kind::Rootfs);
    }
    Ok(if names.iter().any(|n| n == "oci-layout") {
        Kind::Oci
    } else if names.iter().any(|n| n == "manifest.json") {
        Kind::Docker
    } else {
        Kind::Rootfs
    })
}

/// The name of a top-level file (`oci-layout`, `./manifest.json`), or None.
fn top_name(path: &Path) -> Option<String> {
    let parts: Vec<_> = path
        .components()
        .filter(|c| *c != Component::CurDir)
        .collect();
    match parts.as_slice() {
        [Component::Normal(name)] => Some(name.to_string_lossy().into_owned()),
        _ => None,
    }
}

fn open_maybe_gzip(file: &Path) -> io::Result<Box<dyn Read>> {
    let mut reader = BufReader::new(File::open(file)?);
    if reader.fill_buf()?.starts_with(&GZIP_MAGIC) {
        return Ok(Box::new(MultiGzDecoder::new(reader)));
    }
    Ok(Box::new(reader))
}

/// One clear line about a bad archive.
fn bad(file: &Path, why: impl std::fmt::Display) -> Failure {
    Failure::new(format!("cannot import {}: {why}", file.display())).hint(
        "make the archive again (skopeo copy docker://IMAGE oci-archive:FILE, or docker save)",
    )
}

/// Unpack the archive's regular files and directories into a new scratch directory of the
/// store. Names must be relative and without `..`; links and devices are skipped (an
/// archive of blobs has none), so nothing is written outside the scratch directory.
fn unpack_archive(store: &Store, file: &Path) -> Result<Scratch, Failure> {
    store.ensure_layout()?;
    let work = Scratch::dir_in(store.root(), "archive", 0o700)?;
    let failed = |error: io::Error| bad(file, format!("it is not a readable tar: {error}"));
    let mut archive = tar::Archive::new(open_maybe_gzip(file).map_err(failed)?);
    for entry in archive.entries().map_err(failed)? {
        let mut entry = entry.map_err(failed)?;
        let path = entry.path().map_err(failed)?.into_owned();
        let clean = path
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
        if !clean {
            return Err(bad(
                file,
                format!("the entry {} climbs out", path.display()),
            ));
        }
        let target = work.path().join(&path);
        match entry.header().entry_type() {
            tar::EntryType::Directory => fs::create_dir_all(&target).map_err(failed)?,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent).map_err(failed)?;
                }
                let mut out = File::create(&target).map_err(failed)?;
                io::copy(&mut entry, &mut out).map_err(failed)?;
            }
            _ => continue,
        }
    }
    Ok(work)
}

/// The bytes of the blob `digest` in the unpacked layout `dir`, checked against it.
fn layout_blob(dir: &Path, file: &Path, digest: &str) -> Result<Vec<u8>, Failure> {
    check_digest(digest).map_err(|f| bad(file, f.what))?;
    let path = dir.join("blobs/sha256").join(hex_of(digest));
    let bytes = fs::read(&path).map_err(|_| bad(file, format!("the blob {digest} is missing")))?;
    let actual = sha256_of(&bytes);
    if actual != digest {
        return Err(bad(
            file,
            format!("the blob {digest} does not match its digest (it hashes to {actual})"),
        ));
    }
    Ok(bytes)
}

/// Check that the file `blob` of the archive `file` hashes to `digest`, reading it once.
fn check_file_digest(blob: &Path, file: &Path, digest: &str) -> Result<(), Failure> {
    let source =
        File::open(blob).map_err(|_| bad(file, format!("the blob {digest} is missing")))?;
    let (hex, _size, _sink) = Tee::new(source, io::sink()).finish(blob)?;
    if format!("sha256:{hex}") != digest {
        return Err(bad(
            file,
            format!("the blob {digest} does not match its digest (it hashes to sha256:{hex})"),
        ));
    }
    Ok(())
}

/// Import the OCI archive `file` as `name`.
pub fn import_oci(store: &Store, file: &Path, name: &str) -> Result<Image, Failure> {
    let work = unpack_archive(store, file)?;
    let dir = work.path();
    let index_text = fs::read(dir.join("index.json"))
        .map_err(|_| bad(file, "it has an oci-layout but no index.json"))?;
    let index: ImageIndex = serde_json::from_slice(&index_text).map_err(|error| {
        bad(
            file,
            format!("its index.json is not an image index: {error}"),
        )
    })?;
    let chosen = choose(dir, file, &index, 0)?;
    let manifest_bytes = layout_blob(dir, file, chosen.digest().as_ref())?;
    let manifest: ImageManifest = serde_json::from_slice(&manifest_bytes).map_err(|error| {
        bad(
            file,
            format!("its manifest is not an image manifest: {error}"),
        )
    })?;
    let config_bytes = layout_blob(dir, file, manifest.config().digest().as_ref())?;
    let config = parse_config(&config_bytes).map_err(|why| bad(file, why))?;
    let layers = layers_of(&manifest, &config).map_err(|why| bad(file, why))?;
    let mut model = Model::default();
    for (number, layer) in layers.iter().enumerate() {
        check_digest(&layer.digest).map_err(|f| bad(file, f.what))?;
        let blob = dir.join("blobs/sha256").join(layer.hex());
        // The digest first: a damaged layer is named as such, not as a bad gzip stream.
        check_file_digest(&blob, file, &layer.digest)?;
        let what = format!("importing {name} ({}/{})", number + 1, layers.len());
        let expected = Some(Expected {
            digest: Some(&layer.digest),
            diff_id: &layer.diff_id,
        });
        store_layer(store, &blob, &mut model, what, expected)?;
    }
    store.put_blob(&config_bytes)?;
    // The manifest is kept byte for byte, so its digest is the same here as in the archive.
    add_manifest(store, name, &manifest_bytes)
}

/// The image manifest to import from `index`: its only entry, or the one for this
/// machine's platform (linux/amd64 on a PC); an entry that is itself an index (a manifest
/// list, one manifest per platform) is looked into once.
fn choose(dir: &Path, file: &Path, index: &ImageIndex, depth: u8) -> Result<Descriptor, Failure> {
    let entries = index.manifests();
    let chosen = match entries.as_slice() {
        [] => return Err(bad(file, "its index names no image")),
        [one] => one.clone(),
        many => {
            let ours = many.iter().find(|d| {
                d.platform()
                    .as_ref()
                    .is_some_and(|p| *p.os() == Os::Linux && *p.architecture() == Arch::default())
            });
            match ours {
                Some(descriptor) => descriptor.clone(),
                None => {
                    return Err(bad(
                        file,
                        format!(
                            "it holds {} images and none is for linux/{}",
                            many.len(),
                            Arch::default()
                        ),
                    ))
                }
            }
        }
    };
    let media = chosen.media_type().to_string();
    if is_index(&media) && depth == 0 {
        let bytes = layout_blob(dir, file, chosen.digest().as_ref())?;
        let inner: ImageIndex = serde_json::from_slice(&bytes)
            .map_err(|error| bad(file, format!("a manifest list is not an index: {error}")))?;
        return choose(dir, file, &inner, 1);
    }
    if !is_manifest(&media) {
        return Err(bad(
            file,
            format!("its index names the unknown media type {media}"),
        ));
    }
    Ok(chosen)
}

/// One entry of a docker-save `manifest.json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerEntry {
    config: String,
    layers: Vec<String>,
}

/// Import the docker-save tarball `file` as `name`: its config is kept as it is (docker's
/// config is the OCI config with more fields) and a manifest is written for its layers.
pub fn import_docker(store: &Store, file: &Path, name: &str) -> Result<Image, Failure> {
    let work = unpack_archive(store, file)?;
    let dir = work.path();
    let text = fs::read(dir.join("manifest.json"))
        .map_err(|error| bad(file, format!("cannot read its manifest.json: {error}")))?;
    let entries: Vec<DockerEntry> = serde_json::from_slice(&text)
        .map_err(|error| bad(file, format!("its manifest.json is not docker's: {error}")))?;
    let [entry] = entries.as_slice() else {
        return Err(bad(
            file,
            format!(
                "it holds {} images; boxcar imports one at a time",
                entries.len()
            ),
        ));
    };
    let inside = |relative: &str| -> Result<PathBuf, Failure> {
        let path = Path::new(relative);
        let clean = path.components().all(|c| matches!(c, Component::Normal(_)));
        match clean && dir.join(path).is_file() {
            true => Ok(dir.join(path)),
            false => Err(bad(
                file,
                format!("its manifest names {relative:?}, which it lacks"),
            )),
        }
    };
    let config_bytes = fs::read(inside(&entry.config)?)
        .map_err(|error| bad(file, format!("cannot read its config: {error}")))?;
    let config = parse_config(&config_bytes).map_err(|why| bad(file, why))?;
    let diff_ids = config.rootfs().diff_ids();
    if diff_ids.len() != entry.layers.len() {
        return Err(bad(
            file,
            format!(
                "its manifest has {} layers but its config {} diff ids",
                entry.layers.len(),
                diff_ids.len()
            ),
        ));
    }
    let mut model = Model::default();
    let mut layers = Vec::new();
    for (number, (layer, diff_id)) in entry.layers.iter().zip(diff_ids).enumerate() {
        let what = format!("importing {name} ({}/{})", number + 1, entry.layers.len());
        let expected = Some(Expected {
            digest: None,
            diff_id,
        });
        layers.push(store_layer(
            store,
            &inside(layer)?,
            &mut model,
            what,
            expected,
        )?);
    }
    write_image_raw(store, name, &config_bytes, &layers)
}
