//! Removing a directory tree whatever its depth.
//!
//! `std::fs::remove_dir_all` opens one directory per level and keeps each open until the
//! level below is gone, so a tree deeper than `ulimit -n` (a container that ran
//! `while mkdir d && cd d; do :; done`) cannot be removed: EMFILE. Full paths do not help
//! either: past PATH_MAX (4096 bytes) the kernel refuses them (ENAMETOOLONG).
//!
//! [`remove_tree`] holds one directory open at a time. It goes down with openat(2) relative
//! to the directory it is in, and back up through `..`, checking that `..` is the directory
//! it came from (same device and inode), so a tree moved while it is removed stops the removal
//! rather than sending it elsewhere. Symlinks are removed, never followed (O_NOFOLLOW).

use std::ffi::{CStr, CString};
use std::io;
use std::path::Path;

use nix::dir::{Dir, Type};
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{fstat, fstatat, Mode, SFlag};
use nix::unistd::{unlinkat, UnlinkatFlags};

const OPEN_DIR: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC);

/// Remove `path` and everything under it; a file or a symlink is simply unlinked, and a
/// path that does not exist is fine. At most two directories are open at any moment.
pub fn remove_tree(path: &Path) -> io::Result<()> {
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error),
    };
    if !metadata.is_dir() {
        return std::fs::remove_file(path);
    }
    let mut dir = Dir::open(path, OPEN_DIR, Mode::empty())?;
    let mut pending = empty_out(&mut dir)?;
    // For each level above the current one: the name we went down by, that level's
    // (device, inode), and the subdirectories it still has to remove.
    let mut above: Vec<(CString, (u64, u64), Vec<CString>)> = Vec::new();
    loop {
        if let Some(name) = pending.pop() {
            let child = match Dir::openat(&dir, name.as_c_str(), OPEN_DIR, Mode::empty()) {
                Ok(child) => child,
                Err(nix::errno::Errno::ENOENT) => continue,
                Err(errno) => return Err(errno.into()),
            };
            above.push((name, identity(&dir)?, std::mem::take(&mut pending)));
            dir = child;
            pending = empty_out(&mut dir)?;
            continue;
        }
        let Some((name, expected, rest)) = above.pop() else {
            break;
        };
        let parent = Dir::openat(&dir, c"..", OPEN_DIR, Mode::empty())?;
        if identity(&parent)? != expected {
            return Err(io::Error::other(format!(
                "{} changed while it was being removed",
                path.display()
            )));
        }
        dir = parent;
        unlinkat(&dir, name.as_c_str(), UnlinkatFlags::RemoveDir)?;
        pending = rest;
    }
    drop(dir);
    std::fs::remove_dir(path)
}

/// Unlink everything in `dir` that is not a directory; return the names of the
/// subdirectories.
fn empty_out(dir: &mut Dir) -> io::Result<Vec<CString>> {
    let mut entries: Vec<(CString, Option<Type>)> = Vec::new();
    for entry in dir.iter() {
        let entry = entry?;
        let name = entry.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        entries.push((name.to_owned(), entry.file_type()));
    }
    let mut subdirectories = Vec::new();
    for (name, kind) in entries {
        if is_directory(dir, &name, kind)? {
            subdirectories.push(name);
        } else {
            match unlinkat(&*dir, name.as_c_str(), UnlinkatFlags::NoRemoveDir) {
                Ok(()) | Err(nix::errno::Errno::ENOENT) => {}
                Err(errno) => return Err(errno.into()),
            }
        }
    }
    Ok(subdirectories)
}

/// Whether `name` in `dir` is a directory; some filesystems do not say in the directory
/// entry (DT_UNKNOWN), then fstatat(2) without following a symlink does.
fn is_directory(dir: &Dir, name: &CStr, kind: Option<Type>) -> io::Result<bool> {
    match kind {
        Some(Type::Directory) => Ok(true),
        Some(_) => Ok(false),
        None => match fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(stat) => {
                Ok(SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR)
            }
            Err(nix::errno::Errno::ENOENT) => Ok(false),
            Err(errno) => Err(errno.into()),
        },
    }
}

fn identity(dir: &Dir) -> io::Result<(u64, u64)> {
    let stat = fstat(dir)?;
    Ok((stat.st_dev, stat.st_ino))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_deeper_than_the_open_file_limit_and_path_max_is_removed() {
        let top = tempfile::tempdir().unwrap();
        let root = top.path().join("deep");
        std::fs::create_dir(&root).unwrap();
        // 3,000 levels of "d/": 6,000 bytes of path, over PATH_MAX, built relative to the
        // level above as a container would.
        let mut dir = Dir::open(&root, OPEN_DIR, Mode::empty()).unwrap();
        for level in 0..3000 {
            nix::sys::stat::mkdirat(&dir, "d", Mode::from_bits_truncate(0o755)).unwrap();
            if level % 100 == 0 {
                let file = nix::fcntl::openat(
                    &dir,
                    "f",
                    OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_CLOEXEC,
                    Mode::from_bits_truncate(0o644),
                )
                .unwrap();
                drop(file);
                std::os::unix::fs::symlink("/", root.join("link")).ok();
            }
            dir = Dir::openat(&dir, "d", OPEN_DIR, Mode::empty()).unwrap();
        }
        drop(dir);
        remove_tree(&root).unwrap();
        assert!(!root.exists());
    }

    #[test]
    fn a_symlink_is_removed_not_followed() {
        let top = tempfile::tempdir().unwrap();
        let kept = top.path().join("kept");
        std::fs::create_dir(&kept).unwrap();
        std::fs::write(kept.join("file"), "x").unwrap();
        let tree = top.path().join("tree");
        std::fs::create_dir(&tree).unwrap();
        std::os::unix::fs::symlink(&kept, tree.join("link")).unwrap();
        remove_tree(&tree).unwrap();
        assert!(!tree.exists());
        assert!(kept.join("file").exists());
        remove_tree(&top.path().join("absent")).unwrap();
    }
}
