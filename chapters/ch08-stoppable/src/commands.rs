//! The commands, docker's shape: `run [-d]`, `create`, `start [-a]`, `stop [-t]`,
//! `restart`, `exec`, `logs`, `ps`, `rm [-f]`, `inspect`; the image and layer commands are
//! chapter 06's.
//!
//! Every command first [`sweep`]s: whatever a killed monitor left is cleaned before anything
//! is looked at.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use boxcar::cli::{self, Command};
use boxcar::spec::{Container, HostConfig};
use boxcar::state::Runtime;
use boxcar::Failure;
use ch06_solution::containers::{Containers, Record, Status};
use nix::sys::signal::Signal;
use serde_json::json;

use crate::exec::{self, Request};
use crate::monitor::{self, sweep, update_record, Then, LOG};
use crate::pidfd::Pidfd;
use crate::state::{self, state_of, Instance, Operation, State};

/// What docker keeps beside config.json: how the container is run (`--init`, `--rm`, …).
const HOST_CONFIG: &str = "hostconfig.json";

/// How long `stop` waits for the monitor's teardown once the init has gone.
const TEARDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// `run`: in the foreground, attached (chapter 06's behaviour, through create and start);
/// with `-d`, under a detached monitor, printing the id.
pub fn run_container(container: &Container, root: &Path) -> Result<i32, Failure> {
    sweep(root);
    let container = &crate::core::with_image_config(container, root)?;
    let containers = Containers::new(root);
    if container.host.detach {
        claim(&containers, container, Status::Created)?;
        return detached(&containers, container, root, Then::Start);
    }
    let kept = match &container.host.image {
        Some(_) => {
            claim(&containers, container, Status::Running)?;
            true
        }
        None => false,
    };
    monitor::run_attached(container, root, kept)
}

/// The subcommands other than `run` and `spec`.
pub fn run(command: Command, root: &Path) -> Result<i32, Failure> {
    let containers = Containers::new(root);
    match command {
        Command::Create(args) => {
            let container = Container::from_run_args(&args, 8)?;
            cli::require_root();
            sweep(root);
            let container = crate::core::with_image_config(&container, root)?;
            create(&containers, &container, root)
        }
        Command::Start { attach, container } => {
            cli::require_root();
            sweep(root);
            start(&containers, root, &container, attach)
        }
        Command::Stop {
            time,
            containers: names,
        } => {
            cli::require_root();
            sweep(root);
            for name in names {
                let record = containers.find(&name)?;
                stop(&containers, &record, Duration::from_secs(time))?;
                println!("{name}");
            }
            Ok(0)
        }
        Command::Restart { time, container } => {
            cli::require_root();
            sweep(root);
            let record = containers.find(&container)?;
            stop(&containers, &record, Duration::from_secs(time))?;
            start(&containers, root, &container, false)
        }
        Command::Exec {
            env,
            workdir,
            container,
            command,
        } => {
            cli::require_root();
            sweep(root);
            let request = Request {
                command,
                env,
                workdir,
            };
            exec_in(&containers, &container, &request)
        }
        Command::Logs {
            follow,
            tail,
            container,
        } => {
            sweep(root);
            logs(&containers, &container, follow, tail)
        }
        // As docker's: a container if one has that name, else an image (chapter 04).
        Command::Inspect { name } if containers.find(&name).is_ok() => {
            sweep(root);
            inspect(&containers, &name)
        }
        Command::Ps { all, size } => {
            sweep(root);
            ch06_solution::commands::ps(&containers, all, size)
        }
        Command::Rm {
            force,
            containers: names,
        } => {
            cli::require_root();
            sweep(root);
            let removed = names.iter().try_for_each(|name| {
                remove(&containers, name, force)?;
                println!("{name}");
                Ok(())
            });
            // The addresses of the removed containers go back to the pool (chapter 07).
            crate::network::clean_stale(root);
            removed.map(|()| 0)
        }
        other => ch06_solution::commands::run(other, root),
    }
}

/// Claim the container's name and save its spec, record and host config.
fn claim(containers: &Containers, container: &Container, status: Status) -> Result<(), Failure> {
    let image = container.host.image.as_deref().ok_or_else(|| {
        Failure::new("a container that is kept needs an image")
            .hint("add --image busybox: create and run -d keep the container's upper layer")
    })?;
    containers.claim(container, image, status)?;
    let host = serde_json::to_string_pretty(&container.host)
        .map_err(|e| Failure::new(format!("cannot encode the host config: {e}")))?;
    if let Err(failure) = containers.write(&container.id, HOST_CONFIG, &host) {
        let _ = containers.remove(&container.id);
        return Err(failure);
    }
    Ok(())
}

/// A container as it was created: its config.json and host config.
fn load(containers: &Containers, record: &Record) -> Result<Container, Failure> {
    let spec = containers.config(&record.id)?;
    let host = std::fs::read_to_string(containers.dir(&record.id).join(HOST_CONFIG))
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_else(|| HostConfig {
            name: record.name.clone(),
            image: Some(record.image.clone()),
            ..HostConfig::default()
        });
    Ok(Container {
        id: record.id.clone(),
        spec,
        host,
    })
}

/// `create`: everything set up, the command not started; prints the id.
fn create(containers: &Containers, container: &Container, root: &Path) -> Result<i32, Failure> {
    claim(containers, container, Status::Created)?;
    detached(containers, container, root, Then::Wait)
}

/// Hand a claimed container to a detached monitor and print its id. If that fails, the
/// monitor has torn its instance down and the container goes too: nothing is left.
fn detached(
    containers: &Containers,
    container: &Container,
    root: &Path,
    then: Then,
) -> Result<i32, Failure> {
    match monitor::spawn_detached(container, root, then) {
        Ok(_) => {
            println!("{}", container.id);
            Ok(0)
        }
        Err(failure) => {
            let _ = containers.remove(&container.id);
            Err(failure)
        }
    }
}

/// `start`: a created instance is released at its exec fifo; a stopped container gets a new
/// instance over its same upper layer (the warm start). With `-a`, print its output and end
/// with its exit code.
fn start(containers: &Containers, root: &Path, name: &str, attach: bool) -> Result<i32, Failure> {
    let record = containers.find(name)?;
    let dir = containers.dir(&record.id);
    let log = dir.join(LOG);
    let offset = std::fs::metadata(&log).map_or(0, |m| m.len());
    let monitor = match (state_of(&dir), Instance::load(&dir)) {
        (
            State::Created,
            Some(Instance {
                monitor,
                init: Some(init),
                ..
            }),
        ) => {
            crate::core::start(&dir, init)?;
            update_record(containers, &record.id, |record| {
                if record.status == Status::Created {
                    record.status = Status::Running;
                }
            })?;
            monitor
        }
        (State::Stopped, _) => {
            let mut container = load(containers, &record)?;
            container.host.detach = true;
            monitor::spawn_detached(&container, root, Then::Start)?
        }
        (state, _) => {
            state::check(name, state, Operation::Start)?;
            return Err(Failure::new(format!("cannot start container {name}")));
        }
    };
    if !attach {
        println!("{name}");
        return Ok(0);
    }
    follow(&log, offset, Some(monitor))?;
    // The monitor may be our child (we forked it for a warm start): reap it.
    let _ = nix::sys::wait::waitpid(
        nix::unistd::Pid::from_raw(monitor.pid),
        Some(nix::sys::wait::WaitPidFlag::WNOHANG),
    );
    let record = containers.find(&record.id)?;
    Ok(record.exit_code.unwrap_or(boxcar::exit::RUNTIME_FAILED))
}

/// `stop`: SIGTERM to the init, SIGKILL after `timeout`, then wait for the monitor's
/// teardown. An init that is PID 1 without a handler for SIGTERM ignores it (the kernel
/// delivers PID 1 only the signals it handles, pid_namespaces(7)): without `--init`, stop
/// waits the whole timeout. A created init waits at its fifo: it is killed at once.
fn stop(containers: &Containers, record: &Record, timeout: Duration) -> Result<(), Failure> {
    let dir = containers.dir(&record.id);
    let Some(instance) = Instance::load(&dir) else {
        return Ok(());
    };
    let state = state_of(&dir);
    if state != State::Stopped {
        state::check(&record.name, state, Operation::Kill)?;
    }
    // TODO(ch08-5): Stop the instance as docker stop does: ask the running init to end
    // (SIGTERM), give it `timeout` to do so, then end it for certain (SIGKILL); a created
    // init, still blocked at its exec fifo before the command ever ran, has nothing to say
    // and is killed at once. The init is named by a pid in `instance` that may belong to a
    // stranger by now: reach it only through a pidfd opened and checked (Pidfd::open, from
    // pidfd_open(2); it is None when the process is gone); signal it through that pidfd
    // (pidfd_send_signal(2)), and wait for its end by polling it. Then wait until the
    // monitor has torn the instance down, so that the record says how it ended when stop
    // returns and the next start finds the upper layer free.
    todo!("exercise ch08-5: see the TODO above")
}

/// Wait until the monitor has torn its instance down and exited.
fn wait_for_monitor(monitor: Runtime) {
    if let Ok(Some(pidfd)) = Pidfd::open(monitor) {
        pidfd.wait_exit(TEARDOWN_TIMEOUT);
    }
}

/// `rm`: a stopped or created container goes with its upper layer and log; a running one
/// only with `-f` (killed first).
fn remove(containers: &Containers, name: &str, force: bool) -> Result<(), Failure> {
    let record = containers.find(name)?;
    let dir = containers.dir(&record.id);
    match state_of(&dir) {
        State::Running if !force => state::check(name, State::Running, Operation::Delete)?,
        State::Running | State::Created => stop(containers, &record, Duration::ZERO)?,
        State::Creating => state::check(name, State::Creating, Operation::Delete)?,
        State::Stopped => {}
    }
    // Chapter 07's seam: the container's address reservation is released here.
    containers.remove(&record.id)
}

/// `exec`: only in a running container.
fn exec_in(containers: &Containers, name: &str, request: &Request) -> Result<i32, Failure> {
    let record = containers.find(name)?;
    let dir = containers.dir(&record.id);
    let state = state_of(&dir);
    state::check(name, state, Operation::Exec)?;
    let not_running = || {
        Failure::new(format!("cannot exec in container {name}: it is stopped"))
            .hint(format!("start it first: start {name}"))
    };
    let init = Instance::load(&dir)
        .and_then(|instance| instance.init)
        .ok_or_else(not_running)?;
    let init = Pidfd::open(init)?.ok_or_else(not_running)?;
    let container = load(containers, &record)?;
    let process = exec::process_of(&container, request)?;
    exec::exec(&container, &init, &process)
}

/// `logs`: the output of every run, from the log file.
fn logs(
    containers: &Containers,
    name: &str,
    follow_it: bool,
    tail: Option<usize>,
) -> Result<i32, Failure> {
    let record = containers.find(name)?;
    let dir = containers.dir(&record.id);
    let log = dir.join(LOG);
    let text = std::fs::read(&log).unwrap_or_default();
    let shown = match tail {
        Some(lines) => last_lines(&text, lines),
        None => &text[..],
    };
    write_out(shown)?;
    if follow_it {
        let monitor = Instance::load(&dir).map(|instance| instance.monitor);
        follow(&log, text.len() as u64, monitor)?;
    }
    Ok(0)
}

/// The last `n` lines of `text`.
fn last_lines(text: &[u8], n: usize) -> &[u8] {
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    let start = body
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, byte)| **byte == b'\n')
        .nth(n.saturating_sub(1))
        .map_or(0, |(at, _)| at + 1);
    if n == 0 {
        return &text[text.len()..];
    }
    &text[start..]
}

/// Copy what is written to `log` after `offset` to stdout until `monitor` exits.
fn follow(log: &Path, offset: u64, monitor: Option<Runtime>) -> Result<(), Failure> {
    let monitor = monitor.map(Pidfd::open).transpose()?.flatten();
    let mut file = std::fs::File::open(log)
        .map_err(|e| Failure::io(format!("cannot open {}", log.display()), e))?;
    file.seek(SeekFrom::Start(offset))
        .map_err(|e| Failure::io("cannot read the log", e))?;
    let mut copy = || -> Result<(), Failure> {
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| Failure::io("cannot read the log", e))?;
        write_out(&bytes)
    };
    loop {
        copy()?;
        match &monitor {
            Some(monitor) if !monitor.wait_exit(Duration::from_millis(50)) => continue,
            _ => return copy(),
        }
    }
}

fn write_out(bytes: &[u8]) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Failure::io("cannot write to stdout", error))
        }
        _ => Ok(()),
    }
}

/// `inspect`: the record, the instance's state and processes, and config.json.
fn inspect(containers: &Containers, name: &str) -> Result<i32, Failure> {
    let record = containers.find(name)?;
    let dir = containers.dir(&record.id);
    let container = load(containers, &record)?;
    let value = json!({
        "record": record,
        "state": state_of(&dir),
        "instance": Instance::load(&dir),
        "host": container.host,
        "config": container.spec,
    });
    let text = serde_json::to_string_pretty(&value)
        .map_err(|e| Failure::new(format!("cannot encode: {e}")))?;
    cli::print_lines([text])?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_lines_of_a_log() {
        assert_eq!(last_lines(b"a\nb\nc\n", 2), b"b\nc\n");
        assert_eq!(last_lines(b"a\nb\nc\n", 5), b"a\nb\nc\n");
        assert_eq!(last_lines(b"a\nb\nc", 1), b"c");
        assert_eq!(last_lines(b"a\n", 0), b"");
    }
}
