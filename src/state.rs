//! Where boxcar keeps its state: `$BOXCAR_ROOT`, by default `/var/lib/boxcar`.
//!
//! Every behaviour test sets its own root, so tests never see each other's images or
//! containers and can run in parallel.
//!
//! The store is root's alone. An extracted layer keeps its files' setuid bits and a
//! container's upper layer holds whatever the container wrote, so a store other users can
//! walk into lets any of them run a setuid-root file from it and become root (and read every
//! container's files). Docker keeps `/var/lib/docker` 0710 root:root; [`secure`] makes ours
//! 0711 and `images/`, `layers/` and `containers/` 0700, and tightens a store made before.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Failure;

/// The default state directory, as `/var/lib/docker` is Docker's.
pub const DEFAULT_ROOT: &str = "/var/lib/boxcar";

/// The directories of the store that hold layers and containers' files: only root enters.
pub const PRIVATE_DIRS: [&str; 3] = ["images", "layers", "containers"];

/// The state directory: `$BOXCAR_ROOT` if set, else [`DEFAULT_ROOT`].
pub fn root() -> PathBuf {
    std::env::var_os("BOXCAR_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| DEFAULT_ROOT.into())
}

/// Make the state root `root` root's alone: created 0711 if missing (others may pass
/// through, as a path to it needs, but not list it), and [`PRIVATE_DIRS`] 0700. A store from
/// before, with 0755 directories, is tightened. The root itself is tightened only if it is
/// root's and not a shared directory (sticky, like /tmp): `BOXCAR_ROOT=/tmp` must not
/// change /tmp.
pub fn secure(root: &Path) -> Result<(), Failure> {
    let failed =
        |path: &Path, error| Failure::io(format!("cannot secure {}", path.display()), error);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o711)
        .create(root)
        .map_err(|e| failed(root, e))?;
    let metadata = std::fs::metadata(root).map_err(|e| failed(root, e))?;
    let mode = metadata.mode() & 0o7777;
    if metadata.uid() == 0 && mode & 0o1000 == 0 && mode & 0o066 != 0 {
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(mode & !0o066))
            .map_err(|e| failed(root, e))?;
    }
    for name in PRIVATE_DIRS {
        let dir = root.join(name);
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(error) => return Err(failed(&dir, error)),
        }
        let metadata = std::fs::symlink_metadata(&dir).map_err(|e| failed(&dir, e))?;
        if !metadata.is_dir() {
            return Err(
                Failure::new(format!("{} is not a directory", dir.display()))
                    .hint("the store is damaged or not boxcar's: move it away, or set BOXCAR_ROOT"),
            );
        }
        if metadata.mode() & 0o077 != 0 {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| failed(&dir, e))?;
        }
    }
    Ok(())
}

/// A process as a record keeps it: its pid and its start time. The kernel reuses a pid once
/// its process is gone, so a pid alone can name a stranger; the pair cannot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Runtime {
    pub pid: i32,
    /// When it started, in clock ticks after boot (field 22 of /proc/PID/stat, proc(5)).
    pub start: u64,
}

impl Runtime {
    /// This process.
    pub fn me() -> Runtime {
        let pid = std::process::id() as i32;
        Runtime {
            pid,
            start: start_time(pid).unwrap_or(0),
        }
    }

    /// Whether this very process still runs: its pid exists, started when it did, and is
    /// not a zombie (ended, waiting for its parent to reap it: state Z in proc(5)).
    pub fn is_alive(&self) -> bool {
        start_time(self.pid) == Some(self.start) && !is_zombie(self.pid)
    }

    /// As one line, `PID START`, for an owner file.
    pub fn to_line(self) -> String {
        format!("{} {}\n", self.pid, self.start)
    }

    /// The `PID START` line [`Runtime::to_line`] wrote.
    pub fn parse(line: &str) -> Option<Runtime> {
        let mut words = line.split_whitespace();
        Some(Runtime {
            pid: words.next()?.parse().ok()?,
            start: words.next()?.parse().ok()?,
        })
    }
}

/// The start time of process `pid` (field 22 of /proc/PID/stat), or `None` if there is none.
/// The second field, the command's name, may hold spaces and parentheses: the fields are
/// counted after its closing parenthesis.
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(") ")?;
    // `rest` starts at field 3 (state): field 22 is the 20th word.
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether process `pid` has ended and waits to be reaped (field 3 of /proc/PID/stat is Z).
fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| Some(stat.rsplit_once(") ")?.1.starts_with('Z')))
        .unwrap_or(false)
}

/// A new container id: 12 hex digits, like the short ids `docker ps` shows.
pub fn new_container_id() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 6];
    let random = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if random.is_err() {
        // No /dev/urandom: mix the clock and the pid. Unique enough for a name, which is all
        // an id is used for.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let mixed = nanos ^ ((std::process::id() as u128) << 32);
        bytes.copy_from_slice(&mixed.to_le_bytes()[..6]);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_stranger_with_its_pid_is_not() {
        let me = Runtime::me();
        assert!(me.start > 0);
        assert!(me.is_alive());
        let stranger = Runtime {
            start: me.start + 1,
            ..me
        };
        assert!(!stranger.is_alive());
        assert_eq!(Runtime::parse(&me.to_line()), Some(me));
    }
}
