//! Containers as records: what `ps` lists, what `diff`, `commit` and `rm` act on.
//!
//! Each container has a directory `$BOXCAR_ROOT/containers/<id>/` with
//!
//! ```text
//!   config.json      the OCI runtime spec it was run with (what docker hands runc)
//!   container.json   its record: name, image, status, exit code (docker's hostconfig and
//!                    state, which the runtime spec has no field for)
//!   .container.json.exit   the space of its last record, reserved at start (see [`Kept`])
//!   upper/ work/ merged/   its overlay
//! ```
//!
//! A container that exits keeps its directory — its writes — until `rm` (or `run --rm`), as
//! with Docker.
//!
//! A name is claimed atomically: under an exclusive flock(2) on `containers.lock`, a run
//! checks that no record has the name and writes its own, so of two runs with one `--name`
//! exactly one gets it. The name is free again when the record is removed.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use boxcar::spec::Container;
use boxcar::state::Runtime;
use boxcar::Failure;
use nix::fcntl::{Flock, FlockArg};
use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};

use crate::overlay::Dirs;

/// The file that keeps the space of a container's last record (see [`Kept`]).
const EXIT_RECORD: &str = ".container.json.exit";
/// How much space that is: a record is about 250 bytes.
const EXIT_RESERVE: usize = 4096;

/// What a container is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Set up and waiting to start (chapter 08's `create`).
    Created,
    Running,
    Exited,
}

/// `container.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub name: String,
    pub image: String,
    /// Nanoseconds since the epoch (fine enough to order containers started in one second).
    pub created: u64,
    pub status: Status,
    /// The runtime's pid while it runs: a running record whose runtime is gone is stale.
    pub runtime_pid: Option<i32>,
    /// The runtime's start time (field 22 of /proc/PID/stat) with its pid: a pid is reused
    /// once its process is gone, the pair is not. Absent in records from before it existed.
    #[serde(default)]
    pub runtime_start: Option<u64>,
    pub exit_code: Option<i32>,
}

/// The containers of one state root.
#[derive(Debug, Clone)]
pub struct Containers {
    dir: PathBuf,
}

impl Containers {
    pub fn new(state_root: &Path) -> Containers {
        Containers {
            dir: state_root.join("containers"),
        }
    }

    /// The directory of container `id`.
    pub fn dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// The overlay directories of container `id`.
    pub fn overlay(&self, id: &str) -> Dirs {
        Dirs::of(&self.dir(id))
    }

    /// Every container with a readable record, oldest first.
    pub fn list(&self) -> Vec<Record> {
        let mut records: Vec<Record> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| read_record(&entry.path().join("container.json")))
            .collect();
        records.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        records
    }

    /// The container whose id, id prefix or name is `wanted`.
    pub fn find(&self, wanted: &str) -> Result<Record, Failure> {
        let records = self.list();
        let exact = records.iter().find(|r| r.name == wanted || r.id == wanted);
        let by_prefix: Vec<&Record> = records
            .iter()
            .filter(|r| r.id.starts_with(wanted))
            .collect();
        match (exact, by_prefix.as_slice()) {
            (Some(record), _) => Ok(record.clone()),
            (None, [record]) => Ok((*record).clone()),
            (None, []) => {
                Err(Failure::new(format!("no container {wanted:?}")).hint("list them with `ps -a`"))
            }
            (None, _) => Err(
                Failure::new(format!("{wanted:?} matches several containers"))
                    .hint("give more of the id"),
            ),
        }
    }

    /// Refuse a name another container already has. This is the early check, before
    /// anything is created; [`Kept::new`] claims the name for good, under the lock.
    pub fn check_name_free(&self, name: &str) -> Result<(), Failure> {
        if self.list().iter().any(|r| r.name == name) {
            return Err(
                Failure::new(format!("the name {name:?} is already in use")).hint(format!(
                    "remove that container first (rm {name}) or choose another --name"
                )),
            );
        }
        Ok(())
    }

    /// Hold the containers' lock (an exclusive flock(2) on `containers.lock` beside the
    /// directory) until the returned guard is dropped. The kernel lets go of it when its
    /// holder dies, however it dies, so a killed runtime never keeps it.
    pub fn lock(&self) -> Result<Flock<std::fs::File>, Failure> {
        let path = self.dir.with_extension("lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| Failure::io(format!("cannot open {}", path.display()), e))?;
        Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, errno)| {
            Failure::syscall(format!("cannot lock {}", path.display()), errno)
        })
    }

    /// Write a record: to a temporary file, then rename(2), so a reader never sees half.
    pub fn save(&self, record: &Record) -> Result<(), Failure> {
        let text = serde_json::to_string_pretty(record)
            .map_err(|e| Failure::new(format!("cannot encode the record: {e}")))?;
        self.write(&record.id, "container.json", &text)
    }

    /// Write the container's spec as `config.json`, beside its record.
    pub fn save_config(&self, container: &Container) -> Result<(), Failure> {
        self.write(&container.id, "config.json", &container.config_json()?)
    }

    /// The spec container `id` was run with.
    pub fn config(&self, id: &str) -> Result<Spec, Failure> {
        let path = self.dir(id).join("config.json");
        Spec::load(&path).map_err(|error| {
            Failure::new(format!("cannot read {}: {error}", path.display()))
                .hint("the container's state is damaged: remove it with rm")
        })
    }

    /// Write `text` to `name` in container `id`'s directory, whole or not at all. The
    /// directory is 0700: only root may look at a container's files.
    pub fn write(&self, id: &str, name: &str, text: &str) -> Result<(), Failure> {
        let dir = self.dir(id);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| Failure::io(format!("cannot create {}", dir.display()), e))?;
        let path = dir.join(name);
        let temporary = dir.join(format!(".{name}.tmp"));
        std::fs::write(&temporary, text)
            .and_then(|()| std::fs::rename(&temporary, &path))
            .map_err(|e| Failure::io(format!("cannot write {}", path.display()), e))
    }

    /// Save `container`'s spec and a new record for it with `status`, claiming its name.
    pub fn claim(
        &self,
        container: &Container,
        image: &str,
        status: Status,
    ) -> Result<Record, Failure> {
        let mut record = Record::new(container, image);
        record.status = status;
        // The name is claimed here: checked and taken under the lock, so two runs with the
        // same --name cannot both see it free. (A name that is the id is unique anyway.)
        let lock = self.lock()?;
        if container.host.name != container.id {
            self.check_name_free(&container.host.name)?;
        }
        // The record is what `ps` and `rm` find: if only the spec could be written, the
        // directory is removed again rather than left for no one to see.
        let saved = self
            .save_config(container)
            .and_then(|()| self.reserve_last_record(&record.id))
            .and_then(|()| self.save(&record));
        drop(lock);
        if let Err(failure) = saved {
            let _ = self.remove(&record.id);
            return Err(failure);
        }
        Ok(record)
    }

    /// Reserve the space of container `id`'s last record now, while there is space: a file
    /// of `EXIT_RESERVE` bytes, which [`Containers::save_reserved`] overwrites in place.
    fn reserve_last_record(&self, id: &str) -> Result<(), Failure> {
        let path = self.dir(id).join(EXIT_RECORD);
        std::fs::write(&path, vec![b' '; EXIT_RESERVE])
            .map_err(|e| Failure::io(format!("cannot write {}", path.display()), e))
    }

    /// Write a record into the space [`Containers::reserve_last_record`] kept, then rename it
    /// over `container.json`: overwriting blocks a file already has needs no free space, so
    /// a container that filled the disk still gets its exit code recorded. Without a reserve
    /// (or a record too long for it), the usual [`Containers::save`].
    pub fn save_reserved(&self, record: &Record) -> Result<(), Failure> {
        use std::io::{Seek, Write};
        let text = serde_json::to_string_pretty(record)
            .map_err(|e| Failure::new(format!("cannot encode the record: {e}")))?;
        let dir = self.dir(&record.id);
        let reserved = dir.join(EXIT_RECORD);
        let path = dir.join("container.json");
        if text.len() > EXIT_RESERVE || !reserved.exists() {
            return self.save(record);
        }
        // JSON ends at its closing brace; the spaces after it are whitespace a reader skips.
        let mut bytes = text.into_bytes();
        bytes.resize(EXIT_RESERVE, b' ');
        std::fs::OpenOptions::new()
            .write(true)
            .open(&reserved)
            .and_then(|mut file| {
                file.rewind()?;
                file.write_all(&bytes)
            })
            .and_then(|()| std::fs::rename(&reserved, &path))
            .map_err(|e| Failure::io(format!("cannot write {}", path.display()), e))
    }

    /// Remove a container's directory: its record and its writable layer, however deep (see
    /// `boxcar::tree`). If that fails half-way, the record is written back, so `ps -a`
    /// still shows what is left and `rm` can try again.
    pub fn remove(&self, id: &str) -> Result<(), Failure> {
        let dir = self.dir(id);
        let record = read_record(&dir.join("container.json"));
        boxcar::tree::remove_tree(&dir).map_err(|e| {
            if let Some(record) = record.filter(|_| dir.exists()) {
                let _ = self.save(&record);
            }
            Failure::io(format!("cannot remove {}", dir.display()), e)
        })
    }
}

/// The record of a running container, finished when dropped: marked exited with its exit
/// code (125 if it never ran), or removed with its upper layer under `--rm`.
#[derive(Debug)]
pub struct Kept<'a> {
    containers: &'a Containers,
    record: Record,
    remove: bool,
    /// The command's exit code, once it has one.
    pub exit_code: Option<i32>,
}

impl<'a> Kept<'a> {
    /// Save `container`'s spec and a new record for it, to be finished on drop.
    pub fn new(
        containers: &'a Containers,
        container: &Container,
        image: &str,
    ) -> Result<Kept<'a>, Failure> {
        let record = containers.claim(container, image, Status::Running)?;
        Ok(Kept {
            containers,
            record,
            remove: container.host.remove,
            exit_code: None,
        })
    }
}

impl Drop for Kept<'_> {
    fn drop(&mut self) {
        // Drop cannot return an error, and the runtime's exit code is the command's: what
        // goes wrong here is said on stderr, never silently left behind.
        let said = |failure: Failure| {
            eprintln!("{}: {failure}", boxcar::cli::program_name());
        };
        if self.remove {
            if let Err(failure) = self.containers.remove(&self.record.id) {
                said(failure.hint(format!(
                    "the container is left behind: remove it with `rm {}`",
                    self.record.id
                )));
            }
            return;
        }
        self.record.status = Status::Exited;
        self.record.runtime_pid = None;
        self.record.runtime_start = None;
        self.record.exit_code = Some(self.exit_code.unwrap_or(boxcar::exit::RUNTIME_FAILED));
        if let Err(failure) = self.containers.save_reserved(&self.record) {
            said(failure);
        }
    }
}

impl Record {
    /// A new record, for a container from `image` about to start.
    pub fn new(container: &Container, image: &str) -> Record {
        let runtime = Runtime::me();
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or_default();
        Record {
            id: container.id.clone(),
            name: container.host.name.clone(),
            image: image.to_string(),
            created,
            status: Status::Running,
            runtime_pid: Some(runtime.pid),
            runtime_start: Some(runtime.start),
            exit_code: None,
        }
    }

    /// Whether the record says running (or created) but its runtime is gone (killed with SIGKILL, say).
    /// Its pid alone does not tell: once the runtime is gone the kernel may give the pid to
    /// any new process, so the pid must still be running *and* have started when it did.
    pub fn is_stale(&self) -> bool {
        let alive = match (self.runtime_pid, self.runtime_start) {
            (Some(pid), Some(start)) => Runtime { pid, start }.is_alive(),
            // A record from before start times were kept: the pid is all there is.
            (Some(pid), None) => Path::new(&format!("/proc/{pid}")).exists(),
            (None, _) => false,
        };
        self.status != Status::Exited && !alive
    }
}

fn read_record(path: &Path) -> Option<Record> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// The bytes of the regular files under `dir` (what `ps --size` shows: 0 for a container
/// that has written nothing).
pub fn size_of(dir: &Path) -> u64 {
    let mut total = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let Ok(metadata) = entry.path().symlink_metadata() else {
                continue;
            };
            if metadata.is_dir() {
                pending.push(entry.path());
            } else if metadata.is_file() {
                total += metadata.len();
            }
        }
    }
    total
}
