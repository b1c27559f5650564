//! Ownership of a container's cgroups: a lock file the runtime holds for its whole life.
//!
//! A runtime killed with SIGKILL cannot remove its cgroups; the next run must. But many
//! runtimes run at once, and a cgroup that is empty may belong to one that is just starting.
//! So each runtime takes an exclusive flock(2) on `/run/boxcar/cgroups/<id>.lock` *before* it
//! creates the cgroups, and keeps it until they are gone. The kernel releases a flock when
//! its holder dies, however it dies: a lock anyone can take marks a stale cgroup.
//!
//! The file holds the owner's pid, as text: whoever finds a cgroup left behind can tell
//! which runtime made it (the behaviour tests count only what their own runtimes left).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use boxcar::Failure;
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// Where the owner locks live: /run is a tmpfs, so a reboot forgets them with the cgroups.
pub const LOCK_DIR: &str = boxcar::cgroupfs::OWNER_LOCK_DIR;

/// A held ownership lock of one container's cgroups.
#[derive(Debug)]
pub struct Owner {
    path: PathBuf,
    _lock: Flock<File>,
}

impl Owner {
    /// Take the lock of container `id`: `Ok(None)` when a live runtime holds it.
    pub fn try_take(id: &str) -> Result<Option<Owner>, Failure> {
        let path = PathBuf::from(LOCK_DIR).join(format!("{id}.lock"));
        std::fs::create_dir_all(LOCK_DIR).map_err(|e| {
            Failure::io(format!("cannot create {LOCK_DIR}"), e)
                .hint("it needs root; is /run writable?")
        })?;
        loop {
            // O_CLOEXEC (std's default): the lock must never reach the container's command.
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| Failure::io(format!("cannot open {}", path.display()), e))?;
            let lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(lock) => lock,
                Err((_, Errno::EWOULDBLOCK)) => return Ok(None),
                Err((_, errno)) => {
                    return Err(Failure::syscall(
                        format!("cannot lock {}", path.display()),
                        errno,
                    ))
                }
            };
            // A cleaner (`remove_stale_locks`) may have removed the file between our open and
            // our flock: then we hold a lock on a file no one else can find. Only a lock on
            // the file that is at `path` now counts; otherwise, open again.
            if same_file(&lock, &path) {
                write_pid(&lock, &path)?;
                return Ok(Some(Owner { path, _lock: lock }));
            }
        }
    }

    /// Take the lock of a new container's cgroups; it is an error if someone keeps it.
    ///
    /// Someone may hold it for a moment: another runtime's [`crate::cgroup::clean_stale`]
    /// finds every lock file, ours included as soon as we create it, takes the free ones and
    /// gives back those with no cgroup (removing the file, which `try_take`'s loop notices).
    /// So a held lock is waited for, briefly; a new container's random id is nobody else's.
    pub fn take(id: &str) -> Result<Owner, Failure> {
        for _ in 0..200 {
            if let Some(owner) = Owner::try_take(id)? {
                return Ok(owner);
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        Err(Failure::new(format!("container {id} is already running"))
            .hint("container ids are random, so this should not happen: run again"))
    }

    /// Done with the cgroups: remove the lock file, then let go of the lock.
    pub fn release(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Replace the lock file's content with this process's pid.
fn write_pid(file: &File, path: &std::path::Path) -> Result<(), Failure> {
    use std::io::Write;
    let failed = |e| Failure::io(format!("cannot write {}", path.display()), e);
    file.set_len(0).map_err(failed)?;
    let mut writer = file;
    writer
        .write_all(format!("{}\n", std::process::id()).as_bytes())
        .map_err(failed)
}

/// The pid written in the lock file of container `id`, if there is one.
pub fn pid_of(id: &str) -> Option<u32> {
    let path = PathBuf::from(LOCK_DIR).join(format!("{id}.lock"));
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Whether the open `file` is the file at `path` (same device and inode).
fn same_file(file: &File, path: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(open), Ok(named)) => open.dev() == named.dev() && open.ino() == named.ino(),
        _ => false,
    }
}

/// The container ids that have a lock file, held or not.
pub fn locked_ids() -> Vec<String> {
    std::fs::read_dir(LOCK_DIR)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            name.strip_suffix(".lock").map(str::to_string)
        })
        .collect()
}
