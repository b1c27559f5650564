//! The runtime spec's states of an instance, and which operation each state allows.
//!
//! ```text
//!            create                start               the command ends
//!   (none) ─────────▶ creating ──▶ created ─────────▶ running ─────────────▶ stopped
//!                                     │  kill                                   │ delete
//!                                     └───────────────────────▶ stopped ────────┴──▶ (none)
//! ```
//!
//! The OCI runtime spec ("Lifecycle", "Operations"): `start` only from created, `kill` only
//! when created or running, `delete` only when stopped. We add `exec`: only when running.
//!
//! The state is never stored as a word someone must remember to update: like runc
//! (`refreshState`), it is derived from what is there. `instance.json` names the init and
//! the monitor (pid and start time); an init that is gone means stopped; an init still
//! waiting at the exec fifo (the fifo exists) means created — or still creating, when its
//! monitor is to start it itself; otherwise running.

use std::path::Path;

use boxcar::state::Runtime;
use boxcar::Failure;
use serde::{Deserialize, Serialize};

/// The core's record of one instance, `containers/<id>/instance.json` (runc's state.json).
pub const INSTANCE: &str = "instance.json";

/// A state of the runtime spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// create has begun and not finished.
    Creating,
    /// Set up; the init waits at the exec fifo.
    Created,
    /// The command runs.
    Running,
    /// The command ended (or there is no instance).
    Stopped,
}

/// What can be asked of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Start,
    Kill,
    Delete,
    Exec,
}

/// Whether `operation` is allowed in `state` (the runtime spec's "Operations").
pub fn allows(state: State, operation: Operation) -> bool {
    // TODO(ch08-2): Decide which operation each state of an instance allows, as the
    // OCI runtime spec's "Operations" section says for start, kill and delete (read the
    // "Lifecycle" too), and exec, ours, only where a process can join. Every command asks
    // here before it acts (see `check` below and commands.rs): stop is a kill, rm a delete.
    // A state the spec does not name for an operation refuses it; creating refuses all.
    todo!("exercise ch08-2: see the TODO above")
}

/// [`allows`], as a failure that says what to do instead.
pub fn check(name: &str, state: State, operation: Operation) -> Result<(), Failure> {
    if allows(state, operation) {
        return Ok(());
    }
    let what = match operation {
        Operation::Start => "start",
        Operation::Kill => "stop",
        Operation::Delete => "remove",
        Operation::Exec => "exec in",
    };
    let state_word = serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    let hint = match (state, operation) {
        (State::Running, Operation::Start) => format!("it is already running; stop {name} first"),
        (State::Stopped, Operation::Exec) => format!("start it first: start {name}"),
        (State::Running | State::Created, Operation::Delete) => {
            format!("stop it first (stop {name}), or use rm -f")
        }
        (State::Creating, _) => "it is being created; try again in a moment".into(),
        _ => format!("see its state with `inspect {name}`"),
    };
    Err(Failure::new(format!(
        "cannot {what} container {name}: it is {state_word}"
    ))
    .hint(hint))
}

/// `instance.json`: the processes of the current instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// The monitor that owns the instance.
    pub monitor: Runtime,
    /// The container's init, once create has cloned it.
    pub init: Option<Runtime>,
    /// The monitor starts the instance itself (`run`, a warm `start`): until it has, the
    /// instance is still being created for everyone else, and no other command may start it.
    #[serde(default)]
    pub starting: bool,
}

impl Instance {
    /// The instance recorded in `dir`, if any.
    pub fn load(dir: &Path) -> Option<Instance> {
        serde_json::from_str(&std::fs::read_to_string(dir.join(INSTANCE)).ok()?).ok()
    }

    /// Write it to `dir`: to a temporary file, then rename(2), so no reader sees half.
    pub fn save(&self, dir: &Path) -> Result<(), Failure> {
        let text = serde_json::to_string(self)
            .map_err(|e| Failure::new(format!("cannot encode the instance: {e}")))?;
        let temporary = dir.join(format!(".{INSTANCE}.tmp"));
        let path = dir.join(INSTANCE);
        std::fs::write(&temporary, text)
            .and_then(|()| std::fs::rename(&temporary, &path))
            .map_err(|e| Failure::io(format!("cannot write {}", path.display()), e))
    }

    /// Forget the instance (the core's `delete`).
    pub fn remove(dir: &Path) {
        let _ = std::fs::remove_file(dir.join(INSTANCE));
        let _ = std::fs::remove_file(dir.join(crate::fifo::FIFO));
    }
}

/// The state of the instance of the container whose directory is `dir`, derived from its
/// processes: see the module's documentation.
pub fn state_of(dir: &Path) -> State {
    let Some(instance) = Instance::load(dir) else {
        return State::Stopped;
    };
    match instance.init {
        None if instance.monitor.is_alive() => State::Creating,
        None => State::Stopped,
        Some(init) if !init.is_alive() => State::Stopped,
        Some(_) if dir.join(crate::fifo::FIFO).exists() && instance.starting => State::Creating,
        Some(_) if dir.join(crate::fifo::FIFO).exists() => State::Created,
        Some(_) => State::Running,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_of_allowed_operations() {
        use Operation::*;
        use State::*;
        let table = [
            // state      start  kill   delete exec
            (Creating, [false, false, false, false]),
            (Created, [true, true, false, false]),
            (Running, [false, true, false, true]),
            (Stopped, [false, false, true, false]),
        ];
        for (state, expected) in table {
            for (operation, allowed) in [Start, Kill, Delete, Exec].into_iter().zip(expected) {
                assert_eq!(
                    allows(state, operation),
                    allowed,
                    "{operation:?} when {state:?}"
                );
            }
        }
    }

    #[test]
    fn a_refusal_says_the_state_and_what_to_do() {
        let failure = check("web", State::Running, Operation::Start).unwrap_err();
        assert_eq!(
            failure.to_string(),
            "cannot start container web: it is running — it is already running; stop web first"
        );
        assert!(check("web", State::Created, Operation::Start).is_ok());
    }

    #[test]
    fn the_state_comes_from_the_processes_and_the_fifo() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(state_of(dir.path()), State::Stopped);
        let me = Runtime::me();
        let mut instance = Instance {
            monitor: me,
            init: None,
            starting: false,
        };
        instance.save(dir.path()).unwrap();
        assert_eq!(state_of(dir.path()), State::Creating);
        instance.init = Some(me);
        instance.save(dir.path()).unwrap();
        assert_eq!(state_of(dir.path()), State::Running);
        std::fs::write(dir.path().join(crate::fifo::FIFO), "").unwrap();
        assert_eq!(state_of(dir.path()), State::Created);
        instance.starting = true;
        instance.save(dir.path()).unwrap();
        assert_eq!(state_of(dir.path()), State::Creating);
        instance.starting = false;
        instance.init = Some(Runtime {
            start: me.start + 1,
            ..me
        });
        instance.save(dir.path()).unwrap();
        assert_eq!(state_of(dir.path()), State::Stopped);
        Instance::remove(dir.path());
        assert_eq!(state_of(dir.path()), State::Stopped);
    }
}
