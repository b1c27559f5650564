//! `import FILE NAME`: a tar or tar.gz into the store, checked on the way in.
//!
//! The file is read once: every byte is copied into the store and hashed (sha256, the
//! digest that names the layer), and on the way the tar entries are listed and checked
//! with the same rules extraction applies (see [`super::extract`]). A hostile archive is
//! refused here, naming the bad entry, before it ever becomes an image.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, IsTerminal, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sha2::{Digest, Sha256};

use super::extract::{check_stream, Model};
use super::scratch::{self, Scratch};
use super::{check_name, io_failure, Layer, Manifest, Store};
use crate::Failure;

/// Files smaller than this import too fast for a progress bar to be worth drawing.
const PROGRESS_FROM_BYTES: u64 = 20 * 1024 * 1024;

impl Store {
    /// Import `file` (tar or tar.gz, told apart by gzip's magic bytes) as the one-layer
    /// image `name`. An existing image of that name is refused: [`Store::remove`] it first.
    pub fn import(&self, file: &Path, name: &str) -> Result<Manifest, Failure> {
        self.import_layers(name, &[file.to_path_buf()])
    }

    /// Import `layers` (each a tar or tar.gz, bottom layer first) as the image `name`.
    ///
    /// Everything is written into a hidden staging directory, the manifest last, and the
    /// directory is renamed to `images/<name>` at the end: the image appears whole, or on
    /// failure not at all.
    pub fn import_layers(&self, name: &str, layers: &[PathBuf]) -> Result<Manifest, Failure> {
        check_name(name)?;
        if layers.is_empty() {
            return Err(Failure::new(format!(
                "image {name} needs at least one layer"
            )));
        }
        if fs::symlink_metadata(self.dir(name)).is_ok() {
            return Err(exists(name));
        }
        fs::create_dir_all(&self.root).map_err(|error| {
            io_failure(
                format!("cannot create the image store {}", self.root.display()),
                error,
            )
        })?;
        scratch::sweep(&self.root);
        // 0755, like the rest of the store: `images` lists images without root.
        let staging = Scratch::dir_in(&self.root, name, 0o755)?;
        let layers_dir = staging.path().join("layers");
        fs::create_dir(&layers_dir).map_err(|error| {
            io_failure(format!("cannot create {}", layers_dir.display()), error)
        })?;
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
        staging.rename_to(&self.dir(name)).map_err(|error| {
            // rename(2) onto a directory that is not empty: someone imported it meanwhile.
            match error.raw_os_error() {
                Some(libc::EEXIST | libc::ENOTEMPTY) => exists(name),
                _ => io_failure(format!("cannot store image {name}"), error),
            }
        })?;
        Ok(manifest)
    }
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
        .map_err(|error| io_failure(format!("cannot open {}", file.display()), error))?;
    let size = source
        .metadata()
        .map_err(|error| io_failure(format!("cannot stat {}", file.display()), error))?
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
        .map_err(|error| io_failure(format!("cannot create {}", incoming.display()), error))?;
    let bar = progress(size, what);
    let mut tee = Tee::new(source, BufWriter::new(copy), bar.clone());
    let compression = check_stream(&mut tee, file, model);
    bar.finish_and_clear();
    let compression = compression?;
    let (hex, size, copy) = tee.finish(file)?;
    let stored_failed = |error| io_failure(format!("cannot write {}", incoming.display()), error);
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
        .map_err(|error| io_failure(format!("cannot store {}", blob.display()), error))?;
    Ok(layer)
}

/// Write `manifest.json` into `dir`: to a temporary file first, renamed over the real name,
/// so a reader sees the whole manifest or none.
fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<(), Failure> {
    let path = dir.join("manifest.json");
    let temporary = dir.join(".manifest.json.tmp");
    let failed = |error| io_failure(format!("cannot write {}", path.display()), error);
    let mut text = serde_json::to_string_pretty(manifest)
        .map_err(|error| Failure::new(format!("cannot encode the manifest: {error}")))?;
    text.push('\n');
    let mut file = File::create(&temporary).map_err(failed)?;
    file.write_all(text.as_bytes()).map_err(failed)?;
    file.sync_all().map_err(failed)?;
    fs::rename(&temporary, &path).map_err(failed)
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
pub(crate) struct Tee<R, W> {
    inner: R,
    copy: W,
    hasher: Sha256,
    bytes: u64,
    bar: ProgressBar,
}

impl<R: Read, W: Write> Tee<R, W> {
    pub fn new(inner: R, copy: W, bar: ProgressBar) -> Self {
        Tee {
            inner,
            copy,
            hasher: Sha256::new(),
            bytes: 0,
            bar,
        }
    }

    /// Read what is left, then return (sha256 in hex, bytes read, the copy).
    pub fn finish(mut self, label: &Path) -> Result<(String, u64, W), Failure> {
        io::copy(&mut self, &mut io::sink())
            .map_err(|error| io_failure(format!("cannot read {}", label.display()), error))?;
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
        self.copy.write_all(&buf[..read])?;
        self.hasher.update(&buf[..read]);
        self.bytes += read as u64;
        self.bar.inc(read as u64);
        Ok(read)
    }
}

/// `time` as RFC 3339 in UTC, e.g. `2024-05-01T12:00:00Z`, without a date crate: days to
/// a civil date with Howard Hinnant's algorithm (chrono and the C++20 <chrono> use it too).
pub(crate) fn rfc3339(time: std::time::SystemTime) -> String {
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
