//! Writing the OCI image layout: blobs, and the index.json entries that name images.
//!
//! Nothing is ever half-written: a blob goes to a temporary file (`.partial-…`, see
//! [`super::scratch`]) that is renamed to its digest once all of it is on disk, and
//! index.json is rewritten the same way while holding a lock (flock(2) on
//! `images/index.json.lock`), so two imports never lose each other's entry. An image
//! appears when its entry does, which is the last write of an import.
//!
//! A crash between the blobs and the entry leaves blobs no entry names: harmless (nothing
//! lists or runs them), and taken again by the next import of the same content, whose
//! digests are the same. [`Store::remove`] takes away what no image names any more.

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};
use oci_spec::image::{Descriptor, ImageIndex, MediaType};

use super::scratch::{self, Scratch};
use super::{ref_name, sha256_of, Store, REF_NAME};
use crate::Failure;

/// The content of `oci-layout` (image-layout.md).
const OCI_LAYOUT: &str = "{\"imageLayoutVersion\":\"1.0.0\"}\n";

/// An index with no image.
pub fn empty_index() -> ImageIndex {
    let mut index = ImageIndex::default();
    index.set_media_type(Some(MediaType::ImageIndex));
    index.set_manifests(Vec::new());
    index
}

impl Store {
    /// Make `images/` an OCI layout if it is not one yet (`oci-layout`, `blobs/sha256/`),
    /// and remove what importers killed half-way left (`.partial-<pid>-…` of dead pids).
    pub fn ensure_layout(&self) -> Result<(), Failure> {
        let blobs = self.root().join("blobs/sha256");
        fs::create_dir_all(&blobs).map_err(|error| {
            Failure::io(
                format!("cannot create the image store {}", self.root().display()),
                error,
            )
        })?;
        // index() refuses a store in the old format before we write into it.
        self.index()?;
        let header = self.root().join("oci-layout");
        if !header.exists() {
            write_atomic(&header, OCI_LAYOUT.as_bytes())?;
        }
        scratch::sweep(self.root());
        Ok(())
    }

    /// Store `bytes` as a blob; returns its digest. Already there (same digest, so the
    /// same bytes): nothing to write.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<String, Failure> {
        let digest = sha256_of(bytes);
        let path = self.blob_path(&digest);
        if !path.exists() {
            write_atomic(&path, bytes)?;
        }
        Ok(digest)
    }

    /// Name the manifest `descriptor` `name` in index.json. Refused if the name is taken.
    pub fn add_image(&self, name: &str, mut descriptor: Descriptor) -> Result<(), Failure> {
        super::check_name(name)?;
        let _lock = self.lock()?;
        let mut index = self.index()?;
        if index.manifests().iter().any(|d| ref_name(d) == Some(name)) {
            return Err(exists(name));
        }
        let mut annotations = descriptor.annotations().clone().unwrap_or_default();
        annotations.insert(REF_NAME.to_string(), name.to_string());
        descriptor.set_annotations(Some(annotations));
        let mut manifests = index.manifests().clone();
        manifests.push(descriptor);
        index.set_manifests(manifests);
        self.write_index(&index)
    }

    /// Fail now if image `name` exists, before the work of an import.
    pub fn check_free(&self, name: &str) -> Result<(), Failure> {
        super::check_name(name)?;
        let index = self.index()?;
        match index.manifests().iter().any(|d| ref_name(d) == Some(name)) {
            true => Err(exists(name)),
            false => Ok(()),
        }
    }

    /// Remove image `name` from index.json, then the blobs no image names any more. Under
    /// the lock, so an import cannot add an entry that needs them meanwhile; blobs younger
    /// than an hour are kept, as they may belong to an import still writing its blobs.
    pub fn remove(&self, name: &str) -> Result<(), Failure> {
        let _lock = self.lock()?;
        let mut index = self.index()?;
        self.find(&index, name)?;
        let kept: Vec<Descriptor> = index
            .manifests()
            .iter()
            .filter(|d| ref_name(d) != Some(name))
            .cloned()
            .collect();
        index.set_manifests(kept);
        self.write_index(&index)?;
        self.sweep_blobs(&index);
        Ok(())
    }

    /// Remove the blobs that no image of `index` reaches and that are over an hour old.
    fn sweep_blobs(&self, index: &ImageIndex) {
        let mut used = BTreeSet::new();
        for descriptor in index.manifests() {
            used.insert(descriptor.digest().to_string());
            if let Some(name) = ref_name(descriptor) {
                if let Ok(image) = self.image_at(name, descriptor.clone()) {
                    used.insert(image.manifest.config().digest().to_string());
                    used.extend(image.layers.iter().map(|layer| layer.digest.clone()));
                }
            }
        }
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        let blobs = self.root().join("blobs/sha256");
        for entry in fs::read_dir(&blobs).into_iter().flatten().flatten() {
            let digest = format!("sha256:{}", entry.file_name().to_string_lossy());
            let old = entry
                .metadata()
                .and_then(|meta| meta.modified())
                .is_ok_and(|modified| modified < hour_ago);
            if old && !used.contains(&digest) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    fn write_index(&self, index: &ImageIndex) -> Result<(), Failure> {
        let mut text = serde_json::to_string_pretty(index)
            .map_err(|error| Failure::new(format!("cannot encode index.json: {error}")))?;
        text.push('\n');
        write_atomic(&self.root().join("index.json"), text.as_bytes())
    }

    /// flock(2) on `images/index.json.lock`: exclusive, held until the returned value drops.
    fn lock(&self) -> Result<Flock<File>, Failure> {
        self.ensure_dir()?;
        let path = self.root().join("index.json.lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(|error| Failure::io(format!("cannot open {}", path.display()), error))?;
        Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, errno)| {
            Failure::syscall(format!("cannot lock {}", path.display()), errno)
        })
    }

    fn ensure_dir(&self) -> Result<(), Failure> {
        fs::create_dir_all(self.root()).map_err(|error| {
            Failure::io(
                format!("cannot create the image store {}", self.root().display()),
                error,
            )
        })
    }
}

fn exists(name: &str) -> Failure {
    Failure::new(format!("an image named {name} already exists"))
        .hint("import under another name, or remove the old image first")
}

/// Write `bytes` to `path` whole or not at all: a temporary file beside it, synced, then
/// renamed over it (rename(2) is atomic within one filesystem).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let partial = Scratch::path_in(dir, "write");
    let failed = |error| Failure::io(format!("cannot write {}", path.display()), error);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(partial.path())
        .map_err(failed)?;
    file.write_all(bytes).map_err(failed)?;
    file.sync_all().map_err(failed)?;
    partial.rename_to(path).map_err(failed)
}

/// A descriptor of media type `media` for the blob `digest` of `size` bytes.
pub fn descriptor(media: MediaType, digest: &str, size: u64) -> Result<Descriptor, Failure> {
    let digest: oci_spec::image::Digest = digest
        .parse()
        .map_err(|error| Failure::new(format!("{digest:?} is not a digest: {error}")))?;
    let mut descriptor = Descriptor::new(media, size, digest);
    descriptor.set_annotations(None::<HashMap<String, String>>);
    Ok(descriptor)
}
