//! The image store: an OCI image layout (the OCI image spec's "image-layout.md") kept in
//! `$BOXCAR_ROOT/images/`, which skopeo, umoci and podman read as they read their own:
//!
//! ```text
//! images/oci-layout                 {"imageLayoutVersion": "1.0.0"}
//! images/index.json                 one descriptor per image, its name in the annotation
//!                                   org.opencontainers.image.ref.name
//! images/blobs/sha256/<hex>         every manifest, config and layer, named by its sha256:
//!                                   index → manifest → config + layers
//! ```
//!
//! A blob is named by the digest of its bytes, so two images that share a layer share its
//! file, and a blob that no longer matches its name is refused when it is read.
//!
//! The kit reads the store and writes its plumbing ([`layout`]: blobs and index.json, every
//! write to a temporary file renamed into place, index.json under a lock). Putting an image
//! in (`import`), getting one out (`export`) and unpacking it safely are chapter 04's pillar
//! and live in its solution; chapter 06 extracts each layer once, for its overlays.

pub mod layout;
pub mod scratch;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest, MediaType};
use sha2::{Digest as _, Sha256};

use crate::Failure;

/// The annotation that names an image in index.json (the image spec's "annotations.md").
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// docker's media types, which `docker save` and some registries still write: the same
/// formats under other names (see the image spec's "media-types.md", compatibility matrix).
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";

/// The images of one state root, kept in `state_root/images/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store {
    root: PathBuf,
}

/// An image as the store holds it: its manifest, its config, and its layers.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    pub name: String,
    /// The descriptor of its manifest in index.json.
    pub descriptor: Descriptor,
    pub manifest: ImageManifest,
    pub config: ImageConfiguration,
    /// Bottom layer first: later layers are extracted over earlier ones.
    pub layers: Vec<Layer>,
}

/// One layer of an image: a tar archive stored as it was imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// `sha256:<64 hex digits>` of the blob as stored (compressed, if it is).
    pub digest: String,
    /// The blob's size in bytes.
    pub size: u64,
    pub compression: Compression,
    /// `sha256:…` of the uncompressed tar: the config's `rootfs.diff_ids` entry.
    pub diff_id: String,
}

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
}

/// One line of `images`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    pub name: String,
    /// The config's digest: what docker calls the image id.
    pub id: String,
    /// The config's `created`, if it has one.
    pub created: Option<String>,
    /// The blobs' total size in bytes, as stored.
    pub size: u64,
}

impl Image {
    /// The blobs' total size in bytes, as stored: layers and config.
    pub fn size(&self) -> u64 {
        self.layers.iter().map(|layer| layer.size).sum::<u64>() + self.manifest.config().size()
    }

    /// The config's digest, `sha256:…`: the image's id.
    pub fn id(&self) -> String {
        self.manifest.config().digest().to_string()
    }
}

impl Layer {
    /// The hex digits of the blob's digest, which name its file.
    pub fn hex(&self) -> &str {
        hex_of(&self.digest)
    }

    /// The hex digits of the diff id, which name the extracted layer in chapter 06.
    pub fn diff_hex(&self) -> &str {
        hex_of(&self.diff_id)
    }

    /// The OCI media type of a layer compressed this way.
    pub fn media_type(&self) -> MediaType {
        match self.compression {
            Compression::None => MediaType::ImageLayer,
            Compression::Gzip => MediaType::ImageLayerGzip,
        }
    }
}

/// The hex digits of `sha256:<hex>`.
pub fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_of(bytes: &[u8]) -> String {
    format!("sha256:{}", to_hex(&Sha256::digest(bytes)))
}

/// Bytes as lowercase hex.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

impl Store {
    /// The store of the state root `state_root` (images live in `state_root/images/`).
    pub fn new(state_root: &Path) -> Store {
        Store {
            root: state_root.join("images"),
        }
    }

    /// The directory that holds the layout.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob with `digest` (`sha256:<hex>`) is stored (it may not exist).
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        self.root.join("blobs/sha256").join(hex_of(digest))
    }

    /// The layout's index.json, or an empty index when the store has no image yet.
    pub fn index(&self) -> Result<ImageIndex, Failure> {
        self.refuse_old_format()?;
        let path = self.root.join("index.json");
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Ok(layout::empty_index())
            }
            Err(error) => {
                return Err(Failure::io(
                    format!("cannot read {}", path.display()),
                    error,
                ))
            }
        };
        serde_json::from_str(&text).map_err(|error| {
            Failure::new(format!(
                "{} is not an OCI image index: {error}",
                path.display()
            ))
            .hint("the store is damaged: remove it and import the images again")
        })
    }

    /// The descriptor of image `name` in `index`: exactly one, or a failure.
    pub fn find(&self, index: &ImageIndex, name: &str) -> Result<Descriptor, Failure> {
        check_name(name)?;
        let found: Vec<&Descriptor> = index
            .manifests()
            .iter()
            .filter(|d| ref_name(d) == Some(name))
            .collect();
        match found.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(Failure::new(format!("no image named {name}")).hint(
                "list images with `images`, import one with `import FILE NAME`; \
                 the default image, busybox, is built by ./setup.sh",
            )),
            many => Err(Failure::new(format!(
                "the image store names {} images {name}: {} is ambiguous",
                many.len(),
                self.root.join("index.json").display()
            ))
            .hint("a tool other than boxcar wrote it; remove the extra entries from index.json")),
        }
    }

    /// Image `name`: its manifest, config and layers, each blob checked against its digest.
    pub fn image(&self, name: &str) -> Result<Image, Failure> {
        let index = self.index()?;
        let descriptor = self.find(&index, name)?;
        self.image_at(name, descriptor)
    }

    /// The image whose manifest `descriptor` names.
    pub(crate) fn image_at(&self, name: &str, descriptor: Descriptor) -> Result<Image, Failure> {
        let damaged = |why: String| {
            Failure::new(format!("image {name} is damaged: {why}"))
                .hint("remove the store's images/ and import the image again")
        };
        let media = descriptor.media_type().to_string();
        if media != MediaType::ImageManifest.to_string() && media != DOCKER_MANIFEST {
            return Err(damaged(format!("its manifest has media type {media}")));
        }
        let bytes = self.read_blob(descriptor.digest().as_ref())?;
        let manifest: ImageManifest = serde_json::from_slice(&bytes)
            .map_err(|error| damaged(format!("its manifest is not an image manifest: {error}")))?;
        let config_bytes = self.read_blob(manifest.config().digest().as_ref())?;
        let config = parse_config(&config_bytes).map_err(damaged)?;
        let layers = layers_of(&manifest, &config).map_err(damaged)?;
        Ok(Image {
            name: name.to_string(),
            descriptor,
            manifest,
            config,
            layers,
        })
    }

    /// The bytes of the blob `digest`, checked against it. Manifests and configs are read
    /// whole (they are small); layers are checked as they are extracted.
    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>, Failure> {
        check_digest(digest)?;
        let path = self.blob_path(digest);
        let bytes = fs::read(&path).map_err(|error| {
            Failure::io(format!("cannot read blob {digest}"), error)
                .hint("the store is missing a blob: remove the image and import it again")
        })?;
        let actual = sha256_of(&bytes);
        if actual != digest {
            return Err(Failure::new(format!(
                "blob {} is damaged: its sha256 is {actual}, not {digest}",
                path.display()
            ))
            .hint("the file changed since it was stored: remove the image and import it again"));
        }
        Ok(bytes)
    }

    /// Every image, sorted by name; one that cannot be read is left out.
    pub fn list(&self) -> Result<Vec<ImageInfo>, Failure> {
        let index = self.index()?;
        let mut images: Vec<ImageInfo> = index
            .manifests()
            .iter()
            .filter_map(|descriptor| {
                let name = ref_name(descriptor)?;
                let image = self.image_at(name, descriptor.clone()).ok()?;
                Some(ImageInfo {
                    id: image.id(),
                    created: image.config.created().clone(),
                    size: image.size(),
                    name: name.to_string(),
                })
            })
            .collect();
        images.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(images)
    }

    /// A store in boxcar's format from before the OCI layout (`images/<name>/manifest.json`)
    /// is refused with what to do, rather than read wrongly.
    fn refuse_old_format(&self) -> Result<(), Failure> {
        if !self.is_old_format() {
            return Ok(());
        }
        Err(Failure::new(format!(
            "the image store {} is in boxcar's old format, not an OCI image layout",
            self.root.display()
        ))
        .hint(
            "run ./setup.sh again: it moves the old store aside (images.before-oci) and \
             rebuilds busybox; then import your own images again",
        ))
    }

    /// Whether the store is in boxcar's format from before the OCI layout: no `oci-layout`,
    /// and a directory with a `manifest.json` in it.
    pub fn is_old_format(&self) -> bool {
        !self.root.join("oci-layout").exists()
            && fs::read_dir(&self.root)
                .into_iter()
                .flatten()
                .flatten()
                .any(|entry| entry.path().join("manifest.json").is_file())
    }
}

/// The name annotation of an index entry.
pub fn ref_name(descriptor: &Descriptor) -> Option<&str> {
    descriptor
        .annotations()
        .as_ref()?
        .get(REF_NAME)
        .map(String::as_str)
}

/// Parse an image config (OCI, or docker's, which is the same with more fields).
pub fn parse_config(bytes: &[u8]) -> Result<ImageConfiguration, String> {
    serde_json::from_slice(bytes)
        .map_err(|error| format!("its config is not an image config: {error}"))
}

/// The layers a manifest lists, with their diff ids from the config, their media types
/// checked: plain or gzip tar (OCI's or docker's name); zstd and anything else refused.
pub fn layers_of(
    manifest: &ImageManifest,
    config: &ImageConfiguration,
) -> Result<Vec<Layer>, String> {
    let diff_ids = config.rootfs().diff_ids();
    if diff_ids.len() != manifest.layers().len() {
        return Err(format!(
            "its manifest has {} layers but its config {} diff ids",
            manifest.layers().len(),
            diff_ids.len()
        ));
    }
    let config_type = manifest.config().media_type().to_string();
    if config_type != MediaType::ImageConfig.to_string() && config_type != DOCKER_CONFIG {
        return Err(format!("unknown config media type {config_type}"));
    }
    manifest
        .layers()
        .iter()
        .zip(diff_ids)
        .map(|(descriptor, diff_id)| {
            let digest = descriptor.digest().to_string();
            check_digest(&digest).map_err(|failure| failure.what)?;
            check_digest(diff_id).map_err(|failure| failure.what)?;
            Ok(Layer {
                compression: layer_compression(descriptor.media_type().as_ref())?,
                digest,
                size: descriptor.size(),
                diff_id: diff_id.clone(),
            })
        })
        .collect()
}

/// How a layer of media type `media` is compressed, or why it cannot be used.
pub fn layer_compression(media: &str) -> Result<Compression, String> {
    match media {
        m if m == MediaType::ImageLayer.to_string() || m == DOCKER_LAYER => Ok(Compression::None),
        m if m == MediaType::ImageLayerGzip.to_string() || m == DOCKER_LAYER_GZIP => {
            Ok(Compression::Gzip)
        }
        m if m.ends_with("+zstd") || m.ends_with(".zstd") => Err(format!(
            "a layer is compressed with zstd ({m}), which boxcar does not read; \
             convert it with `skopeo copy --dest-compress-format gzip`"
        )),
        m => Err(format!("a layer has the unknown media type {m}")),
    }
}

/// Whether `media` is an index (OCI's, or docker's manifest list).
pub fn is_index(media: &str) -> bool {
    media == MediaType::ImageIndex.to_string() || media == DOCKER_LIST
}

/// Whether `media` is an image manifest (OCI's or docker's).
pub fn is_manifest(media: &str) -> bool {
    media == MediaType::ImageManifest.to_string() || media == DOCKER_MANIFEST
}

/// Refuse a name that is not `[a-z0-9][a-z0-9._-]{0,63}`: names are what `run --image`
/// takes, so they stay simple words.
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

/// Refuse a digest that is not `sha256:` and 64 lowercase hex digits: it becomes a file
/// name, and a hand-edited `sha256:../../x` must not.
pub fn check_digest(digest: &str) -> Result<(), Failure> {
    let ok = digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    });
    if ok {
        return Ok(());
    }
    Err(Failure::new(format!("{digest:?} is not a sha256 digest"))
        .hint("boxcar reads sha256 digests only (sha256:<64 hex digits>)"))
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
