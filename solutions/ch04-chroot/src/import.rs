//! `import FILE NAME`: an image into the store, checked on the way in.
//!
//! Three kinds of file are images: a root filesystem as a tar or tar.gz (it becomes a
//! one-layer image with a default config), an OCI archive (an OCI image layout in a tar, as
//! `skopeo copy … oci-archive:F` writes it) and a `docker save` tarball (see
//! [`crate::archive`]). Whatever the kind, every layer is read once: each byte is copied
//! into the store and hashed (sha256, the digest that names the blob), and on the way the
//! tar entries are listed and checked with the same rules extraction applies (see
//! [`crate::extract`]). A hostile layer is refused here, naming the bad entry, before it
//! ever becomes an image. The image is named in index.json last: until then it is not
//! there (see `boxcar::image::layout`).

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, IsTerminal, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use oci_spec::image::{
    Config, History, ImageConfiguration, ImageManifestBuilder, MediaType, RootFs,
};
use sha2::{Digest, Sha256};

use boxcar::image::layout::descriptor;
use boxcar::image::scratch::Scratch;
use boxcar::image::{rfc3339, Image, Layer, Store};
use boxcar::spec::DEFAULT_PATH;
use boxcar::Failure;

use crate::extract::{check_stream, Model};

/// Files smaller than this import too fast for a progress bar to be worth drawing.
const PROGRESS_FROM_BYTES: u64 = 20 * 1024 * 1024;

/// Import `file` as the image `name`: an OCI archive, a docker-save tarball, or a root
/// filesystem tar or tar.gz. An existing image of that name is refused.
pub fn import(store: &Store, file: &Path, name: &str) -> Result<Image, Failure> {
    store.check_free(name)?;
    match crate::archive::kind(file)? {
        crate::archive::Kind::Oci => crate::archive::import_oci(store, file, name),
        crate::archive::Kind::Docker => crate::archive::import_docker(store, file, name),
        crate::archive::Kind::Rootfs => {
            import_layers(store, name, &[file.to_path_buf()], rootfs_config())
        }
    }
}

/// The config of an image made from a root filesystem tar: docker import's, a PATH and
/// no command (`run` then needs one).
pub fn rootfs_config() -> Config {
    let mut config = Config::default();
    config.set_env(Some(vec![format!("PATH={DEFAULT_PATH}")]));
    config
}

/// Import `layers` (each a tar or tar.gz, bottom layer first) as the image `name`, with
/// `runtime` as its config's command, environment, working directory and user.
pub fn import_layers(
    store: &Store,
    name: &str,
    layers: &[PathBuf],
    runtime: Config,
) -> Result<Image, Failure> {
    store.check_free(name)?;
    if layers.is_empty() {
        return Err(Failure::new(format!(
            "image {name} needs at least one layer"
        )));
    }
    store.ensure_layout()?;
    // One model for all layers: a layer may not write through a symlink of one below it.
    let mut model = Model::default();
    let mut stored = Vec::new();
    for (number, file) in layers.iter().enumerate() {
        let what = match layers.len() {
            1 => format!("importing {name}"),
            count => format!("importing {name} ({}/{count})", number + 1),
        };
        stored.push(store_layer(store, file, &mut model, what, None)?);
    }
    let config = new_config(&stored, runtime, "boxcar import");
    write_image(store, name, &config, &stored)
}

/// A new image config for `layers`, made now, on this machine's architecture.
pub fn new_config(layers: &[Layer], runtime: Config, created_by: &str) -> ImageConfiguration {
    let now = rfc3339(std::time::SystemTime::now());
    let mut rootfs = RootFs::default();
    rootfs.set_diff_ids(layers.iter().map(|layer| layer.diff_id.clone()).collect());
    let mut history = History::default();
    history
        .set_created(Some(now.clone()))
        .set_created_by(Some(created_by.to_string()));
    let mut config = ImageConfiguration::default();
    config
        .set_created(Some(now))
        .set_config(Some(runtime))
        .set_rootfs(rootfs)
        .set_history(Some(vec![history]));
    config
}

/// Store `config` and a manifest for `layers` (blobs already in the store) as blobs, and
/// name the manifest `name` in index.json — the last step: the image appears whole.
pub fn write_image(
    store: &Store,
    name: &str,
    config: &ImageConfiguration,
    layers: &[Layer],
) -> Result<Image, Failure> {
    write_image_raw(store, name, &to_json(config)?, layers)
}

/// [`write_image`] with the config as the bytes to store (an imported config is kept byte
/// for byte: its digest is the image's id).
pub fn write_image_raw(
    store: &Store,
    name: &str,
    config_bytes: &[u8],
    layers: &[Layer],
) -> Result<Image, Failure> {
    let config_digest = store.put_blob(config_bytes)?;
    let layer_descriptors = layers
        .iter()
        .map(|layer| descriptor(layer.media_type(), &layer.digest, layer.size))
        .collect::<Result<Vec<_>, _>>()?;
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(descriptor(
            MediaType::ImageConfig,
            &config_digest,
            config_bytes.len() as u64,
        )?)
        .layers(layer_descriptors)
        .build()
        .map_err(|error| Failure::new(format!("cannot make the manifest: {error}")))?;
    add_manifest(store, name, &to_json(&manifest)?)
}

/// Store the manifest `bytes` as a blob and name it `name`; returns the image as read back.
pub fn add_manifest(store: &Store, name: &str, bytes: &[u8]) -> Result<Image, Failure> {
    let digest = store.put_blob(bytes)?;
    store.add_image(
        name,
        descriptor(MediaType::ImageManifest, &digest, bytes.len() as u64)?,
    )?;
    store.image(name)
}

/// JSON as blobs hold it: compact, so its digest does not depend on indentation.
pub fn to_json(value: &impl serde::Serialize) -> Result<Vec<u8>, Failure> {
    serde_json::to_vec(value).map_err(|error| Failure::new(format!("cannot encode JSON: {error}")))
}

/// What a manifest (the blob's digest) and a config (the diff id) say a layer hashes to.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub digest: Option<&'a str>,
    pub diff_id: &'a str,
}

/// Copy the layer `file` into the store's blobs while hashing and checking it; returns
/// the layer with its digest, size, compression and diff id. With `expected` (the
/// digest and diff id a manifest and config give it), a layer that hashes otherwise is
/// refused before it becomes a blob.
pub fn store_layer(
    store: &Store,
    file: &Path,
    model: &mut Model,
    what: String,
    expected: Option<Expected<'_>>,
) -> Result<Layer, Failure> {
    let source = File::open(file)
        .map_err(|error| Failure::io(format!("cannot open {}", file.display()), error))?;
    let size = source
        .metadata()
        .map_err(|error| Failure::io(format!("cannot stat {}", file.display()), error))?
        .len();
    if size == 0 {
        return Err(
            Failure::new(format!("{} is empty, not a tar archive", file.display()))
                .hint("give a tar or tar.gz file, e.g. one made with `tar -C DIR -czf FILE .`"),
        );
    }
    let incoming = Scratch::path_in(store.root(), "layer");
    let copy = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(incoming.path())
        .map_err(|error| {
            Failure::io(
                format!("cannot create {}", incoming.path().display()),
                error,
            )
        })?;
    let bar = progress(size, what);
    let mut tee = Tee::new(source, BufWriter::new(copy)).with_progress(bar.clone());
    let checked = check_stream(&mut tee, file, model);
    bar.finish_and_clear();
    // A failed write of the copy (a full disk) is the store's fault, not the archive's.
    if let Some(error) = tee.copy_error.take() {
        return Err(Failure::io(
            format!("cannot store the layer in {}", store.root().display()),
            error,
        ));
    }
    let checked = checked?;
    let (hex, size, copy) = tee.finish(file)?;
    let stored_failed =
        |error| Failure::io(format!("cannot write {}", incoming.path().display()), error);
    copy.into_inner()
        .map_err(|error| stored_failed(error.into_error()))?
        .sync_all()
        .map_err(stored_failed)?;
    let layer = Layer {
        digest: format!("sha256:{hex}"),
        size,
        compression: checked.compression,
        diff_id: format!("sha256:{}", checked.diff_hex),
    };
    if let Some(expected) = expected {
        for (what, said, found) in [
            ("digest", expected.digest, &layer.digest),
            ("diff id", Some(expected.diff_id), &layer.diff_id),
        ] {
            if said.is_some_and(|said| said != found) {
                return Err(Failure::new(format!(
                    "layer {} does not match its {what}: it hashes to {found}, not {}",
                    file.display(),
                    said.unwrap_or_default()
                ))
                .hint("the archive is damaged or was altered; make it again (skopeo copy, docker save)"));
            }
        }
    }
    let blob = store.blob_path(&layer.digest);
    incoming
        .rename_to(&blob)
        .map_err(|error| Failure::io(format!("cannot store {}", blob.display()), error))?;
    Ok(layer)
}

/// A progress bar on stderr for a long read, or a hidden one: for small files, and when
/// stderr is not a terminal (a log file, a test) it would only be noise.
fn progress(len: u64, what: String) -> ProgressBar {
    if len < PROGRESS_FROM_BYTES || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} ({eta})")
        .map(|style| style.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr())
        .with_style(style)
        .with_message(what)
}

/// Reads through to `inner`, hashing every byte and copying it to `copy`, so one pass over
/// a file both stores and checks it.
pub struct Tee<R, W> {
    inner: R,
    copy: W,
    hasher: Sha256,
    bytes: u64,
    bar: ProgressBar,
    /// Why writing the copy failed, kept apart from a failure to read: a full disk must not
    /// be reported as an unreadable archive.
    pub copy_error: Option<io::Error>,
}

impl<R: Read, W: Write> Tee<R, W> {
    pub fn new(inner: R, copy: W) -> Self {
        Tee {
            inner,
            copy,
            hasher: Sha256::new(),
            bytes: 0,
            bar: ProgressBar::hidden(),
            copy_error: None,
        }
    }

    /// Show progress on `bar` as bytes go through.
    pub fn with_progress(mut self, bar: ProgressBar) -> Self {
        self.bar = bar;
        self
    }

    /// Read what is left, then return (sha256 in hex, bytes read, the copy).
    pub fn finish(mut self, label: &Path) -> Result<(String, u64, W), Failure> {
        let read = io::copy(&mut self, &mut io::sink());
        if let Some(error) = self.copy_error.take() {
            return Err(Failure::io("cannot store a copy of the layer", error));
        }
        read.map_err(|error| Failure::io(format!("cannot read {}", label.display()), error))?;
        let hex = self
            .hasher
            .finalize()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        Ok((hex, self.bytes, self.copy))
    }
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        if let Err(error) = self.copy.write_all(&buf[..read]) {
            let kind = error.kind();
            self.copy_error = Some(error);
            return Err(io::Error::new(kind, "cannot write the copy"));
        }
        self.hasher.update(&buf[..read]);
        self.bytes += read as u64;
        self.bar.inc(read as u64);
        Ok(read)
    }
}
