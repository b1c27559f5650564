//! Paths that are ours only until they are renamed into place: staging directories and
//! temporary files. Each is an owned value whose Drop removes it, so every early return and
//! every `?` cleans up; only a rename makes it permanent.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::Failure;

/// What leftovers in the store are called: `.partial-<pid>-<random>-<what>`.
const PARTIAL: &str = ".partial-";

/// A path removed on drop unless [`Scratch::rename_to`] moved it into place.
#[derive(Debug)]
pub struct Scratch {
    path: PathBuf,
    armed: bool,
}

impl Scratch {
    /// A fresh hidden name in `dir` (see [`fresh_name`]); nothing is created yet.
    pub fn path_in(dir: &Path, what: &str) -> Scratch {
        Scratch {
            path: fresh_name(dir, what),
            armed: true,
        }
    }

    /// Create the directory `path` with `mode` (exactly: the umask does not apply).
    pub fn dir(path: &Path, mode: u32) -> Result<Scratch, Failure> {
        fs::DirBuilder::new()
            .mode(mode)
            .create(path)
            .map_err(|error| Failure::io(format!("cannot create {}", path.display()), error))?;
        let scratch = Scratch {
            path: path.to_path_buf(),
            armed: true,
        };
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .map_err(|error| Failure::io(format!("cannot chmod {}", path.display()), error))?;
        Ok(scratch)
    }

    /// A new hidden directory in `dir` (see [`fresh_name`]) with `mode`.
    pub fn dir_in(dir: &Path, what: &str, mode: u32) -> Result<Scratch, Failure> {
        Scratch::dir(&fresh_name(dir, what), mode)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Move it to `target` with rename(2), atomic within one filesystem: `target` appears
    /// whole or not at all. On failure the scratch path is removed.
    pub fn rename_to(mut self, target: &Path) -> io::Result<()> {
        fs::rename(&self.path, target)?;
        self.armed = false;
        Ok(())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        // remove_tree does not follow symlinks, so a half-extracted image's
        // `lib -> /usr/lib` removes nothing of the host's, and it removes any depth.
        let _ = crate::tree::remove_tree(&self.path);
    }
}

/// `dir/.partial-<pid>-<random>-<what>`: our pid is in it so [`sweep`] can tell a leftover
/// of a dead process from the work of a live one.
fn fresh_name(dir: &Path, what: &str) -> PathBuf {
    let random = crate::state::new_container_id();
    dir.join(format!("{PARTIAL}{}-{random}-{what}", std::process::id()))
}

/// Remove the leftovers in `dir` of processes that no longer exist: an import killed
/// half-way (SIGKILL, a power cut) is cleaned up by the next one. kill(2) with signal 0
/// checks that a process exists without signalling it: ESRCH means it is gone.
pub fn sweep(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|name| name.strip_prefix(PARTIAL)) else {
            continue;
        };
        let Some(pid) = rest
            .split('-')
            .next()
            .and_then(|pid| pid.parse::<i32>().ok())
        else {
            continue;
        };
        let gone = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None)
            == Err(nix::errno::Errno::ESRCH);
        if gone {
            drop(Scratch {
                path: entry.path(),
                armed: true,
            });
        }
    }
}
