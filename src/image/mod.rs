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
//! The kit knows only the store's layout and its manifests. Putting an image in
//! (`import`), getting one out (`export`) and unpacking it safely are chapter 04's pillar
//! and live in its solution; chapter 06 extracts each layer once, for its overlays.
//!
//! An image appears whole or not at all: it is built in a hidden staging directory
//! ([`scratch`]) and renamed into place last (rename(2) is atomic), so a half-written image
//! is never listed.

pub mod scratch;

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

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

    /// The directory that holds the images.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of image `name` (which may not exist).
    pub fn dir(&self, name: &str) -> PathBuf {
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
            Err(error) => {
                return Err(Failure::io(
                    format!("cannot read {}", path.display()),
                    error,
                ))
            }
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
            .map_err(|error| Failure::io(format!("cannot remove image {name}"), error))?;
        drop(doomed);
        Ok(())
    }
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

/// Write `manifest.json` into `dir`: to a temporary file first, renamed over the real name,
/// so a reader sees the whole manifest or none.
pub fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<(), Failure> {
    let path = dir.join("manifest.json");
    let temporary = dir.join(".manifest.json.tmp");
    let failed = |error| Failure::io(format!("cannot write {}", path.display()), error);
    let mut text = serde_json::to_string_pretty(manifest)
        .map_err(|error| Failure::new(format!("cannot encode the manifest: {error}")))?;
    text.push('\n');
    let mut file = File::create(&temporary).map_err(failed)?;
    file.write_all(text.as_bytes()).map_err(failed)?;
    file.sync_all().map_err(failed)?;
    fs::rename(&temporary, &path).map_err(failed)
}

/// `time` as RFC 3339 in UTC, e.g. `2024-05-01T12:00:00Z`, without a date crate: days to
/// a civil date with Howard Hinnant's algorithm (chrono and the C++20 <chrono> use it too).
pub fn rfc3339(time: std::time::SystemTime) -> String {
    let seconds = time
        .duration_since(std::time::UNIX_EPOCH)
        .map(|since| since.as_secs() as i64)
        .unwrap_or(0);
    let (days, second_of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    )
}
