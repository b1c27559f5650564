//! `export NAME FILE`: the image as an OCI archive — an OCI image layout with this image
//! alone, in one tar — which `skopeo copy oci-archive:FILE …`, `podman load` and `import`
//! read. `export --rootfs NAME FILE`: the image's root filesystem, its layers flattened, as
//! one plain tar, as `docker export` writes a container's.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io::{self, BufWriter};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use tar::{EntryType, Header, HeaderMode};

use boxcar::image::scratch::Scratch;
use boxcar::image::{layout, Store, REF_NAME};
use boxcar::Failure;

use crate::unpack::unpack;

/// Write image `name` to `out` as an OCI archive: `oci-layout`, an `index.json` naming the
/// image `name`, and its blobs (manifest, config, layers) as the store holds them, so every
/// digest is the same. Written beside `out` and renamed over it at the end.
pub fn export(store: &Store, name: &str, out: &Path) -> Result<(), Failure> {
    let image = store.image(name)?;
    let mut descriptor = image.descriptor.clone();
    descriptor.set_annotations(Some(
        [(REF_NAME.to_string(), name.to_string())]
            .into_iter()
            .collect(),
    ));
    let mut index = layout::empty_index();
    index.set_manifests(vec![descriptor]);
    let index_json = serde_json::to_vec(&index)
        .map_err(|error| Failure::new(format!("cannot encode index.json: {error}")))?;
    let mut blobs = vec![image.descriptor.digest().to_string(), image.id()];
    blobs.extend(image.layers.iter().map(|layer| layer.digest.clone()));
    write_beside(out, name, |builder| {
        add_bytes(
            builder,
            "oci-layout",
            b"{\"imageLayoutVersion\":\"1.0.0\"}\n",
        )?;
        add_bytes(builder, "index.json", &index_json)?;
        for dir in ["blobs", "blobs/sha256"] {
            let mut header = Header::new_gnu();
            header.set_entry_type(EntryType::Directory);
            header.set_mode(0o755);
            header.set_size(0);
            builder.append_data(&mut header, dir, io::empty())?;
        }
        for digest in &blobs {
            let path = store.blob_path(digest);
            let mut file = fs::File::open(&path)?;
            let mut header = Header::new_gnu();
            header.set_entry_type(EntryType::Regular);
            header.set_mode(0o644);
            header.set_size(file.metadata()?.len());
            let name = format!("blobs/sha256/{}", boxcar::image::hex_of(digest));
            builder.append_data(&mut header, name, &mut file)?;
        }
        Ok(())
    })
}

/// One regular file of `bytes` named `name`, owned by root, mode 0644.
fn add_bytes<W: io::Write>(
    builder: &mut tar::Builder<W>,
    name: &str,
    bytes: &[u8],
) -> io::Result<()> {
    let mut header = Header::new_gnu();
    header.set_entry_type(EntryType::Regular);
    header.set_mode(0o644);
    header.set_size(bytes.len() as u64);
    builder.append_data(&mut header, name, bytes)
}

/// Write a tar to a temporary file beside `out` with `fill`, then rename it over `out`:
/// `out` is never a half-written archive.
fn write_beside(
    out: &Path,
    name: &str,
    fill: impl FnOnce(&mut tar::Builder<BufWriter<fs::File>>) -> io::Result<()>,
) -> Result<(), Failure> {
    let parent = match out.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let partial = Scratch::path_in(parent, "export.tar");
    let failed = |error| {
        Failure::io(
            format!("cannot export image {name} to {}", out.display()),
            error,
        )
    };
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(partial.path())
        .map_err(failed)?;
    let mut builder = tar::Builder::new(BufWriter::new(file));
    fill(&mut builder).map_err(failed)?;
    let file = builder
        .into_inner()
        .map_err(failed)?
        .into_inner()
        .map_err(|error| failed(error.into_error()))?;
    file.sync_all().map_err(failed)?;
    partial.rename_to(out).map_err(failed)
}

/// Write image `name`'s root filesystem to `out` as one tar: symlinks as symlinks (never
/// followed), modes with their setuid, setgid and sticky bits, numeric owners, mtimes.
/// The tar is written to a temporary file beside `out` and renamed over it at the end,
/// so `out` is never a half-written archive.
pub fn export_rootfs(store: &Store, name: &str, out: &Path) -> Result<(), Failure> {
    store.image(name)?;
    let work = Scratch::dir_in(store.root(), "export", 0o700)?;
    let rootfs = work.path().join("rootfs");
    unpack(store, name, &rootfs)?;
    write_beside(out, name, |builder| {
        builder.follow_symlinks(false);
        builder.mode(HeaderMode::Complete);
        append_tree(builder, &rootfs, Path::new(""), &mut HashMap::new())
    })
}

/// Add everything under `root/dir` to the tar, each directory before what it holds, sorted
/// by name so the same tree always makes the same tar. A file with several names (hard
/// links, `first_names` remembers them by device and inode) is stored once; its other
/// names become hard-link entries.
fn append_tree<W: io::Write>(
    builder: &mut tar::Builder<W>,
    root: &Path,
    dir: &Path,
    first_names: &mut HashMap<(u64, u64), PathBuf>,
) -> io::Result<()> {
    let mut names = fs::read_dir(root.join(dir))?
        .map(|entry| entry.map(|entry| entry.file_name()))
        .collect::<io::Result<Vec<OsString>>>()?;
    names.sort();
    for name in names {
        let relative = dir.join(&name);
        let path = root.join(&relative);
        let meta = fs::symlink_metadata(&path)?;
        if meta.is_file() && meta.nlink() > 1 {
            let key = (meta.dev(), meta.ino());
            if let Some(first) = first_names.get(&key) {
                let mut header = Header::new_gnu();
                header.set_metadata_in_mode(&meta, HeaderMode::Complete);
                header.set_entry_type(EntryType::Link);
                header.set_size(0);
                builder.append_link(&mut header, &relative, first)?;
                continue;
            }
            first_names.insert(key, relative.clone());
        }
        let file_type = meta.file_type();
        if file_type.is_fifo() {
            append_fifo(builder, &relative, &meta)?;
            continue;
        }
        if file_type.is_socket() {
            // A socket is made by the process that listens on it; tar cannot hold one.
            continue;
        }
        if file_type.is_char_device() || file_type.is_block_device() {
            return Err(io::Error::other(format!(
                "/{} is a device node, which an image must not carry",
                relative.display()
            )));
        }
        builder.append_path_with_name(&path, &relative)?;
        if meta.is_dir() {
            append_tree(builder, root, &relative, first_names)?;
        }
    }
    Ok(())
}

/// Add a named pipe (fifo) as a tar entry named `relative`. The tar crate's
/// `append_path_with_name` would write a fifo's header with its path on the host rather
/// than `relative`, and fail; a fifo has no data, so its header is all there is to write.
pub fn append_fifo<W: io::Write>(
    builder: &mut tar::Builder<W>,
    relative: &Path,
    meta: &fs::Metadata,
) -> io::Result<()> {
    let mut header = Header::new_gnu();
    header.set_metadata_in_mode(meta, HeaderMode::Complete);
    header.set_entry_type(EntryType::Fifo);
    header.set_size(0);
    builder.append_data(&mut header, relative, io::empty())
}
