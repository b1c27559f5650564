//! Image layers, each extracted once into `$BOXCAR_ROOT/layers/<diff id>/` and never changed:
//! these directories are the read-only lowerdirs of every container of the image. The diff
//! id (the sha256 of the uncompressed tar, from the image's config) names what a layer
//! holds whatever its compression, so the same layer gzipped or not is extracted once.
//!
//! A layer records a deletion with a *whiteout* (the OCI image spec, "Whiteouts"): an empty
//! file `.wh.NAME` says "NAME of the layers below is gone", and `.wh..wh..opq` in a directory
//! says "hide everything below this directory". overlayfs has its own forms of both
//! (Documentation/filesystems/overlayfs.rst): a character device 0/0 named NAME, and the
//! xattr `trusted.overlay.opaque="y"` on the directory. Extraction converts one to the other.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use boxcar::image::scratch::{self, Scratch};
use boxcar::image::Store;
use boxcar::Failure;
use ch04_solution::extract::{extract_checked, whiteout_target, Hooked, LayerEntry};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};

/// The OCI whiteout prefix and the opaque marker.
pub const WHITEOUT_PREFIX: &str = ".wh.";
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";
/// The xattr overlayfs reads to treat a directory as opaque.
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// The lowerdirs of image `name`, topmost layer first (overlayfs's order), each extracted
/// if it is not yet. `state_root` is the store's: layers go in `state_root/layers/`.
pub fn lowerdirs(store: &Store, state_root: &Path, name: &str) -> Result<Vec<PathBuf>, Failure> {
    let image = store.image(name)?;
    // overlayfs's options separate directories with ':' and options with ','.
    if state_root.to_string_lossy().contains([':', ',']) {
        return Err(Failure::new(format!(
            "the state directory {} contains ':' or ','",
            state_root.display()
        ))
        .hint("overlayfs cannot take such paths: set BOXCAR_ROOT to a path without them"));
    }
    let layers_dir = state_root.join("layers");
    // What a runtime killed while extracting left (`.partial-<pid>-…`) goes now, whether or
    // not this image needs extracting.
    scratch::sweep(&layers_dir);
    let mut dirs = Vec::new();
    for layer in &image.layers {
        let dir = layers_dir.join(layer.diff_hex());
        if !dir.is_dir() {
            extract_once(&store.blob_path(&layer.digest), layer.hex(), &dir)?;
        }
        dirs.push(dir);
    }
    dirs.reverse();
    Ok(dirs)
}

/// Extract a layer, its digest checked (chapter 04's `extract_checked`), into a scratch
/// directory beside `dir`, and rename it into place: two runtimes that extract the same
/// layer at once both succeed, a half-extracted layer is never used, and one a killed
/// runtime left is swept by the next extraction.
fn extract_once(blob: &Path, digest: &str, dir: &Path) -> Result<(), Failure> {
    let layers_dir = dir.parent().unwrap_or(dir);
    std::fs::create_dir_all(layers_dir)
        .map_err(|e| Failure::io(format!("cannot create {}", layers_dir.display()), e))?;
    let staging = Scratch::dir_in(layers_dir, "extracting", 0o755)?;
    extract_checked(blob, digest, staging.path(), &mut convert_whiteout)?;
    staging.rename_to(dir).or_else(|error| {
        // Someone else extracted it meanwhile: theirs is as good as ours.
        if dir.is_dir() {
            Ok(())
        } else {
            Err(Failure::io(
                format!("cannot create {}", dir.display()),
                error,
            ))
        }
    })
}

// ANCHOR: convert_whiteout
/// The extraction hook: turn an OCI whiteout entry into overlayfs's form, and let every
/// other entry be extracted as usual.
pub fn convert_whiteout(entry: &LayerEntry, dest: &Path) -> Result<Hooked, Failure> {
    let Some(name) = entry.path.file_name().and_then(|n| n.to_str()) else {
        return Ok(Hooked::Extract);
    };
    let parent = dest.join(entry.path.parent().unwrap_or(Path::new("")));
    // Chapter 04's rules refused a whiteout that names no entry of its directory (`.wh.`,
    // `.wh..`); checked again here, so a whiteout can never be made at `parent/..`.
    if name.starts_with(WHITEOUT_PREFIX)
        && name != OPAQUE_MARKER
        && whiteout_target(name.as_ref()).is_none()
    {
        return Err(Failure::new(format!(
            "refusing the whiteout {}: it names no file of its directory",
            entry.path.display()
        ))
        .hint("this layer is not a safe image: remove the image and import it again"));
    }
    // EXERCISE(ch06-2): Turn an OCI whiteout entry into overlayfs's own form, in `parent`:
    // `.wh..wh..opq` makes its directory opaque (the layers below show nothing of it), and
    // `.wh.NAME` hides NAME of the layers below. Neither is itself extracted; every other
    // entry is (Hooked::Extract). A layer need not list a whiteout's directory before the
    // whiteout (`etc/.wh.group` may come with no `etc/` entry): the directory must then be
    // made. The OCI image spec's "Whiteouts" gives the names; overlayfs.rst ("whiteouts and
    // opaque directories") the forms; mknod(2) and setxattr(2) the calls.
    // HINT(1): overlayfs's whiteout is a character device with device number 0/0 named like
    //   the file it hides; its opaque directory carries an xattr. This hook runs before the
    //   extractor would create the entry's parent directories: a whiteout's parent may not
    //   exist yet.
    // HINT(2): OPAQUE_MARKER and WHITEOUT_PREFIX are the names; OPAQUE_XATTR with the value
    //   "y" marks a directory opaque (set_xattr, below). mknod(2) with S_IFCHR, mode 0, dev
    //   makedev(0, 0), named after what follows the prefix. create_dir_all the parent first.
    //   Return Hooked::Done for both: the marker file itself must not appear.
    // HINT(3): if name == OPAQUE_MARKER { create_dir_all(&parent); set_xattr(&parent,
    //   OPAQUE_XATTR, b"y")?; Done } else if let Some(hidden) =
    //   name.strip_prefix(WHITEOUT_PREFIX) { create_dir_all(&parent); mknod(&parent.join(hidden),
    //   SFlag::S_IFCHR, Mode::empty(), makedev(0, 0)); Done } else { Extract }.
    if name == OPAQUE_MARKER {
        std::fs::create_dir_all(&parent)
            .map_err(|e| Failure::io(format!("cannot create {}", parent.display()), e))?;
        set_xattr(&parent, OPAQUE_XATTR, b"y")?;
        return Ok(Hooked::Done);
    }
    if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
        std::fs::create_dir_all(&parent)
            .map_err(|e| Failure::io(format!("cannot create {}", parent.display()), e))?;
        let whiteout = parent.join(hidden);
        mknod(&whiteout, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0)).map_err(|errno| {
            Failure::syscall(
                format!("cannot create the whiteout {}", whiteout.display()),
                errno,
            )
        })?;
        return Ok(Hooked::Done);
    }
    Ok(Hooked::Extract)
    // END EXERCISE
}
// ANCHOR_END: convert_whiteout

/// setxattr(2) on `path` (not following a final symlink: it is a directory we created).
pub fn set_xattr(path: &Path, name: &str, value: &[u8]) -> Result<(), Failure> {
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Failure::new("a path with a NUL byte"))?;
    let c_name = CString::new(name).map_err(|_| Failure::new("an xattr name with a NUL byte"))?;
    // SAFETY: both strings are NUL-terminated and outlive the call; value is a valid slice.
    let result = unsafe {
        libc::lsetxattr(
            c_path.as_ptr(),
            c_name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if result != 0 {
        let errno = nix::errno::Errno::last();
        return Err(
            Failure::syscall(format!("cannot set {name} on {}", path.display()), errno).hint(
                "trusted.* xattrs need root and a filesystem that supports them (ext4, xfs, tmpfs)",
            ),
        );
    }
    Ok(())
}

/// Whether `path` carries the xattr `name` with value `value`.
pub fn has_xattr(path: &Path, name: &str, value: &[u8]) -> bool {
    let (Ok(c_path), Ok(c_name)) = (
        CString::new(path.as_os_str().as_bytes()),
        CString::new(name),
    ) else {
        return false;
    };
    let mut buffer = [0u8; 16];
    // SAFETY: the buffer is writable for its length; both strings are NUL-terminated.
    let size = unsafe {
        libc::lgetxattr(
            c_path.as_ptr(),
            c_name.as_ptr(),
            buffer.as_mut_ptr().cast(),
            buffer.len(),
        )
    };
    size >= 0 && &buffer[..size as usize] == value
}

/// Whether `metadata` is an overlayfs whiteout: a character device with device number 0/0.
pub fn is_whiteout(metadata: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    metadata.file_type().is_char_device() && metadata.rdev() == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use ch04_solution::extract::EntryKind;

    #[test]
    fn a_whiteout_that_names_no_file_is_refused_not_made_beside_its_directory() {
        let dest = tempfile::tempdir().unwrap();
        std::fs::create_dir(dest.path().join("a")).unwrap();
        for name in ["a/.wh.", "a/.wh..", "a/.wh...", ".wh.."] {
            let entry = LayerEntry {
                path: PathBuf::from(name),
                kind: EntryKind::File,
                mode: 0o644,
                uid: 0,
                gid: 0,
                mtime: 0,
            };
            let failure = convert_whiteout(&entry, dest.path()).expect_err(name);
            assert!(failure.what.contains("names no file"), "{name}: {failure}");
        }
        let left: Vec<_> = std::fs::read_dir(dest.path().join("a")).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
