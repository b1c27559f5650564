//! Containers as records: what `ps` lists, what `diff`, `commit` and `rm` act on.
//!
//! Each container has a directory `$BOXCAR_ROOT/containers/<id>/` with `container.json`
//! and its overlay's `upper/`, `work/`, `merged/`. A container that exits keeps its
//! directory — its writes — until `rm` (or `run --rm`), as with Docker.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use boxcar::Failure;
use serde::{Deserialize, Serialize};

use crate::overlay::Dirs;

/// What a container is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Running,
    Exited,
}

/// `container.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub name: String,
    pub image: String,
    pub command: Vec<String>,
    /// Nanoseconds since the epoch (fine enough to order containers started in one second).
    pub created: u64,
    pub status: Status,
    /// The runtime's pid while it runs: a running record whose runtime is gone is stale.
    pub runtime_pid: Option<i32>,
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

    /// Refuse a name another container already has.
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

    /// Write a record: to a temporary file, then rename(2), so a reader never sees half.
    pub fn save(&self, record: &Record) -> Result<(), Failure> {
        let dir = self.dir(&record.id);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Failure::new(format!("cannot create {}: {e}", dir.display())))?;
        let text = serde_json::to_string_pretty(record)
            .map_err(|e| Failure::new(format!("cannot encode the record: {e}")))?;
        let temporary = dir.join("container.json.tmp");
        std::fs::write(&temporary, text)
            .and_then(|()| std::fs::rename(&temporary, dir.join("container.json")))
            .map_err(|e| Failure::new(format!("cannot write {}: {e}", dir.display())))
    }

    /// Remove a container's directory: its record and its writable layer.
    pub fn remove(&self, id: &str) -> Result<(), Failure> {
        let dir = self.dir(id);
        std::fs::remove_dir_all(&dir)
            .map_err(|e| Failure::new(format!("cannot remove {}: {e}", dir.display())))
    }
}

impl Record {
    /// A new record, for a container about to start.
    pub fn new(id: &str, name: &str, image: &str, command: &[String]) -> Record {
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or_default();
        Record {
            id: id.to_string(),
            name: name.to_string(),
            image: image.to_string(),
            command: command.to_vec(),
            created,
            status: Status::Running,
            runtime_pid: Some(std::process::id() as i32),
            exit_code: None,
        }
    }

    /// Whether the record says running but its runtime is gone (killed with SIGKILL, say).
    pub fn is_stale(&self) -> bool {
        self.status == Status::Running
            && self
                .runtime_pid
                .is_none_or(|pid| !Path::new(&format!("/proc/{pid}")).exists())
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
