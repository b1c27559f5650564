//! What a container changed, read from its upper layer alone.
//!
//! The upper layer *is* the container's diff: a file there was added or changed (copied up
//! and written), a whiteout there is a deletion. `diff` prints it like `docker diff`; `commit`
//! writes it as a tar layer in the OCI form (whiteouts as `.wh.NAME` files again) and makes a
//! new image of the old layers plus this one.

use std::path::{Path, PathBuf};

use std::os::unix::fs::FileTypeExt;

use boxcar::Failure;
use ch04_solution::export::append_fifo;

use crate::layers::{has_xattr, is_whiteout, OPAQUE_MARKER, OPAQUE_XATTR, WHITEOUT_PREFIX};
use crate::overlay::find_in_layers;

/// One line of `diff`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Added(PathBuf),
    Changed(PathBuf),
    Deleted(PathBuf),
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::Added(path) => write!(f, "A /{}", path.display()),
            Change::Changed(path) => write!(f, "C /{}", path.display()),
            Change::Deleted(path) => write!(f, "D /{}", path.display()),
        }
    }
}

/// Every path under `dir`, relative to it, sorted.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        for entry in std::fs::read_dir(dir.join(&relative))
            .into_iter()
            .flatten()
            .flatten()
        {
            let path = relative.join(entry.file_name());
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                pending.push(path.clone());
            }
            found.push(path);
        }
    }
    found.sort();
    found
}

/// The changes in `upper` against the image layers `lowerdirs`.
pub fn diff(upper: &Path, lowerdirs: &[PathBuf]) -> Vec<Change> {
    let in_image = |path: &Path| in_image(path, lowerdirs);
    // TODO(ch06-3): List what the container changed, reading only its upper layer, in
    // the order walk(upper) gives (sorted): a path it deleted from the image (D), one the
    // image shows and it modified (C, a directory a write went into included), and one the
    // image does not show (A) — a file the image whited out and the container wrote again
    // is added, not changed. overlayfs.rst ("whiteouts") says how a deletion looks in the
    // upper layer; in_image says what the image shows, through all its layers.
    todo!("exercise ch06-3: see the TODO above")
}

/// Whether the image (its layers, topmost first) shows `path`: the topmost layer that says
/// anything about it decides — an entry shows it; a whiteout, a parent that is not a
/// directory (a symlink of the image included) or an opaque parent hides it.
pub fn in_image(path: &Path, lowerdirs: &[PathBuf]) -> bool {
    find_in_layers(lowerdirs, path).is_some()
}

/// Write `upper` as an OCI tar layer at `out`: whiteouts become `.wh.NAME` files and opaque
/// directories get a `.wh..wh..opq` entry, so the layer means the same in any runtime.
pub fn write_layer(upper: &Path, out: &Path) -> Result<(), Failure> {
    let file = std::fs::File::create(out)
        .map_err(|e| Failure::io(format!("cannot create {}", out.display()), e))?;
    let mut builder = tar::Builder::new(file);
    builder.follow_symlinks(false);
    let failed = |path: &Path, e: std::io::Error| {
        Failure::io(format!("cannot add /{} to the layer", path.display()), e)
    };
    for path in walk(upper) {
        let full = upper.join(&path);
        let metadata = full.symlink_metadata().map_err(|e| failed(&path, e))?;
        if is_whiteout(&metadata) {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let marker = path.with_file_name(format!("{WHITEOUT_PREFIX}{name}"));
            append_empty_file(&mut builder, &marker).map_err(|e| failed(&path, e))?;
            continue;
        }
        let file_type = metadata.file_type();
        if file_type.is_fifo() {
            // A named pipe is kept, as docker commits it: a header, no data.
            append_fifo(&mut builder, &path, &metadata).map_err(|e| failed(&path, e))?;
            continue;
        }
        if file_type.is_socket() {
            // A socket belongs to the process that listened on it; tar cannot hold one.
            continue;
        }
        if file_type.is_char_device() || file_type.is_block_device() {
            // Not a whiteout (0/0, above): a device the container made with mknod(2). An
            // image must not carry one (chapter 04's import refuses it), so neither does this.
            return Err(Failure::new(format!(
                "cannot commit /{}: it is a device node the container made",
                path.display()
            ))
            .hint("an image must not carry device nodes: remove it in the container first"));
        }
        builder
            .append_path_with_name(&full, &path)
            .map_err(|e| failed(&path, e))?;
        if metadata.is_dir() && has_xattr(&full, OPAQUE_XATTR, b"y") {
            append_empty_file(&mut builder, &path.join(OPAQUE_MARKER))
                .map_err(|e| failed(&path, e))?;
        }
    }
    builder
        .into_inner()
        .and_then(|mut file| std::io::Write::flush(&mut file))
        .map_err(|e| Failure::io(format!("cannot write {}", out.display()), e))
}

fn append_empty_file(
    builder: &mut tar::Builder<std::fs::File>,
    path: &Path,
) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(0);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    builder.append_data(&mut header, path, std::io::empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::stat::{makedev, mknod, Mode, SFlag};

    #[test]
    fn an_upper_layer_reads_as_added_changed_deleted() {
        let (upper, lower) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        std::fs::create_dir_all(lower.path().join("etc")).unwrap();
        std::fs::write(lower.path().join("etc/passwd"), "root\n").unwrap();
        std::fs::write(lower.path().join("etc/group"), "root\n").unwrap();
        std::fs::create_dir_all(upper.path().join("etc")).unwrap();
        std::fs::write(upper.path().join("etc/passwd"), "root\nme\n").unwrap();
        std::fs::write(upper.path().join("added"), "new\n").unwrap();
        let Ok(()) = mknod(
            &upper.path().join("etc/group"),
            SFlag::S_IFCHR,
            Mode::empty(),
            makedev(0, 0),
        ) else {
            return; // mknod needs root: the behaviour tests cover this case as root
        };
        let lines: Vec<String> = diff(upper.path(), &[lower.path().to_path_buf()])
            .iter()
            .map(|c| c.to_string())
            .collect();
        assert_eq!(
            lines,
            ["A /added", "C /etc", "D /etc/group", "C /etc/passwd"]
        );
    }
}
