//! `import FILE NAME`: a tar or tar.gz into the store, checked on the way in.
//!
//! The file is read once: every byte is copied into the store and hashed (sha256, the
//! digest that names the layer), and on the way the tar entries are listed and checked
//! with the same rules extraction applies (see [`crate::extract`]). A hostile archive is
//! refused here, naming the bad entry, before it ever becomes an image.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, IsTerminal, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sha2::{Digest, Sha256};

use boxcar::image::scratch::{self, Scratch};
use boxcar::image::{check_name, rfc3339, write_manifest, Layer, Manifest, Store};
use boxcar::Failure;

use crate::extract::{check_stream, Model};

/// Files smaller than this import too fast for a progress bar to be worth drawing.
const PROGRESS_FROM_BYTES: u64 = 20 * 1024 * 1024;

/// Import `file` (tar or tar.gz, told apart by gzip's magic bytes) as the one-layer image
/// `name`. An existing image of that name is refused: [`Store::remove`] it first.
pub fn import(store: &Store, file: &Path, name: &str) -> Result<Manifest, Failure> {
    import_layers(store, name, &[file.to_path_buf()])
}

/// Import `layers` (each a tar or tar.gz, bottom layer first) as the image `name`.
///
/// Everything is written into a hidden staging directory, the manifest last, and the
/// directory is renamed to `images/<name>` at the end: the image appears whole, or on
/// failure not at all.
pub fn import_layers(store: &Store, name: &str, layers: &[PathBuf]) -> Result<Manifest, Failure> {
    check_name(name)?;
    if layers.is_empty() {
        return Err(Failure::new(format!(
            "image {name} needs at least one layer"
        )));
    }
    if fs::symlink_metadata(store.dir(name)).is_ok() {
        return Err(exists(name));
    }
    fs::create_dir_all(store.root()).map_err(|error| {
        Failure::io(
            format!("cannot create the image store {}", store.root().display()),
            error,
        )
    })?;
    scratch::sweep(store.root());
    // 0755 inside images/, which only root may enter (boxcar::state::secure).
    let staging = Scratch::dir_in(store.root(), name, 0o755)?;
    let layers_dir = staging.path().join("layers");
    fs::create_dir(&layers_dir)
        .map_err(|error| Failure::io(format!("cannot create {}", layers_dir.display()), error))?;
    // One model for all layers: a layer may not write through a symlink of one below it.
    let mut model = Model::default();
    let mut imported = Vec::new();
    for (number, file) in layers.iter().enumerate() {
        let what = match layers.len() {
            1 => format!("importing {name}"),
            count => format!("importing {name} ({}/{count})", number + 1),
        };
        imported.push(import_layer(file, &layers_dir, &mut model, what)?);
    }
    let manifest = Manifest {
        name: name.to_string(),
        layers: imported,
        created: rfc3339(std::time::SystemTime::now()),
    };
    write_manifest(staging.path(), &manifest)?;
    staging.rename_to(&store.dir(name)).map_err(|error| {
        // rename(2) onto a directory that is not empty: someone imported it meanwhile.
        match error.raw_os_error() {
            Some(libc::EEXIST | libc::ENOTEMPTY) => exists(name),
            _ => Failure::io(format!("cannot store image {name}"), error),
        }
    })?;
    Ok(manifest)
}

fn exists(name: &str) -> Failure {
    Failure::new(format!("an image named {name} already exists"))
        .hint("import under another name, or remove the old image first")
}

/// Copy one layer file into `layers_dir` while hashing and checking it.
fn import_layer(
    file: &Path,
    layers_dir: &Path,
    model: &mut Model,
    what: String,
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
    let incoming = layers_dir.join("incoming");
    let copy = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&incoming)
        .map_err(|error| Failure::io(format!("cannot create {}", incoming.display()), error))?;
    let bar = progress(size, what);
    let mut tee = Tee::new(source, BufWriter::new(copy)).with_progress(bar.clone());
    let compression = check_stream(&mut tee, file, model);
    bar.finish_and_clear();
    // A failed write of the copy (a full disk) is the store's fault, not the archive's.
    if let Some(error) = tee.copy_error.take() {
        return Err(Failure::io(
            format!("cannot store the layer in {}", layers_dir.display()),
            error,
        ));
    }
    let compression = compression?;
    let (hex, size, copy) = tee.finish(file)?;
    let stored_failed = |error| Failure::io(format!("cannot write {}", incoming.display()), error);
    copy.into_inner()
        .map_err(|error| stored_failed(error.into_error()))?
        .sync_all()
        .map_err(stored_failed)?;
    let layer = Layer {
        digest: format!("sha256:{hex}"),
        size,
        compression,
    };
    let blob = layers_dir.join(layer.file_name());
    fs::rename(&incoming, &blob)
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
