//! Ownership of a container's cgroups: a lock file the runtime holds for its whole life.
//!
//! A runtime killed with SIGKILL cannot remove its cgroups; the next run must. But many
//! runtimes run at once, and a cgroup that is empty may belong to one that is just starting.
//! So each runtime takes an exclusive flock(2) on `/run/boxcar/cgroups/<id>.lock` *before* it
//! creates the cgroups, and keeps it until they are gone. The kernel releases a flock when
//! its holder dies, however it dies: a lock anyone can take marks a stale cgroup. The lock
//! file names the state root (`$BOXCAR_ROOT`) of the runtime that created the cgroups, so
//! whose they are can be told (the behaviour tests' leak check counts only its own).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use boxcar::{state, Failure};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// Where the owner locks live: /run is a tmpfs, so a reboot forgets them with the cgroups.
pub const LOCK_DIR: &str = boxcar::cgroupfs::OWNER_LOCK_DIR;

/// A held ownership lock of one container's cgroups.
#[derive(Debug)]
pub struct Owner {
    path: PathBuf,
    lock: Flock<File>,
}

impl Owner {
    /// Take the lock of container `id`: `Ok(None)` when a live runtime holds it.
    pub fn try_take(id: &str) -> Result<Option<Owner>, Failure> {
        let path = PathBuf::from(LOCK_DIR).join(format!("{id}.lock"));
        std::fs::create_dir_all(LOCK_DIR).map_err(|e| {
            Failure::new(format!("cannot create {LOCK_DIR}: {e}"))
                .hint("it needs root; is /run writable?")
        })?;
        // O_CLOEXEC (std's default): the lock must never reach the container's command.
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| Failure::new(format!("cannot open {}: {e}", path.display())))?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(Some(Owner { path, lock })),
            Err((_, Errno::EWOULDBLOCK)) => Ok(None),
            Err((_, errno)) => Err(Failure::syscall(
                format!("cannot lock {}", path.display()),
                errno,
            )),
        }
    }

    /// Take the lock of a new container's cgroups; it is an error if someone holds it.
    /// The lock file then names this runtime's state root.
    pub fn take(id: &str) -> Result<Owner, Failure> {
        let owner = Owner::try_take(id)?.ok_or_else(|| {
            Failure::new(format!("container {id} is already running"))
                .hint("container ids are random, so this should not happen: run again")
        })?;
        let mut file: &File = &owner.lock;
        let root = state::root();
        file.set_len(0)
            .and_then(|()| file.write_all(root.as_os_str().as_bytes()))
            .map_err(|e| Failure::new(format!("cannot write {}: {e}", owner.path.display())))?;
        Ok(owner)
    }

    /// Done with the cgroups: remove the lock file, then let go of the lock.
    pub fn release(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
