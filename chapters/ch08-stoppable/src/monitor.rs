//! The monitor: one process per instance, our conmon.
//!
//! ```text
//!   CLI (create, run -d, start)      monitor (setsid, child subreaper)      container
//!   fork ─────────────────────────▶  lock upper/, create the cgroup
//!                                    fork ──▶ create: clone ───────────▶ init: setup,
//!                                             wait "set up", exit        waits at exec.fifo
//!                                    adopt the init (subreaper)
//!                                    [start: open exec.fifo] ─────────▶ execve(2)
//!   wait for "ok" ◀── ready pipe ──  record created/running
//!   print the id, exit               wait: forward signals, reap ◀────── exit
//!                                    teardown: cgroup, fifo, instance.json,
//!                                    record the exit code, unlock upper/, exit
//! ```
//!
//! The monitor is single-threaded (it forks) and waits with sigwait(3), as chapter 02's
//! runtime does. It holds two flock(2)s for the instance's whole life: the cgroup's owner
//! lock (chapter 03) and the upper layer's lock. The kernel drops both when it dies however
//! it dies, so a SIGKILLed monitor leaves an instance that the next command recognises and
//! cleans (see [`sweep`]): its cgroup's lock is free, so `cgroup::clean_stale` kills what
//! is in it; its record names a monitor that is gone. The container's processes never
//! inherit either lock: the create process closes every fd it does not need before it
//! clones the init.
//!
//! `run` without `-d` is the same monitor, in the foreground: attached to the terminal,
//! no log file, signals to the runtime forwarded to the container, and create run in the
//! monitor itself, so that the container dies with it (PR_SET_PDEATHSIG) as it does in
//! chapters 01-07.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use boxcar::spec::Container;
use boxcar::state::{start_time, Runtime};
use boxcar::{cli, exit, Failure};
use ch01_solution::spine::Lifetime;
use ch02_solution::signals;
use ch03_solution::cgroup::{self, Cgroup};
use ch06_solution::containers::{Containers, Record, Status};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, OFlag};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, pipe2, ForkResult, Pid};

use crate::core::{self, Plan};
use crate::network;
use crate::state::Instance;

/// The container's output, all its runs, in its directory.
pub const LOG: &str = "container.log";
/// The upper layer's lock: held by the monitor of the one instance that mounts it.
pub const UPPER_LOCK: &str = "upper.lock";

/// What the monitor is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    /// Stop at created: the init waits at the exec fifo for `start`.
    Wait,
    /// Start at once (`run`, `start` of a stopped container).
    Start,
}

/// Run a monitor in this process, attached to the terminal (`run` without `-d`), and return
/// the command's exit code. `kept`: the container has a record (it runs from an image).
pub fn run_attached(container: &Container, root: &Path, kept: bool) -> Result<i32, Failure> {
    let mut monitor = Monitor::new(container, root, kept)?;
    monitor.attached = true;
    let outcome = monitor.run(Then::Start, &mut None);
    monitor.finish(&outcome);
    if kept && !monitor.prepared {
        // Refused before anything was set up (a damaged image, say): as with chapter 06,
        // bad input leaves no container behind.
        let _ = monitor.containers.remove(&container.id);
    }
    outcome
}

/// Fork a monitor that detaches (setsid, output to the log file) and return once it says
/// the instance is created (`Then::Wait`) or started (`Then::Start`), with its identity.
pub fn spawn_detached(container: &Container, root: &Path, then: Then) -> Result<Runtime, Failure> {
    let containers = Containers::new(root);
    let log = containers.dir(&container.id).join(LOG);
    let (ready_read, ready_write) = pipe()?;
    // SAFETY: the runtime is single-threaded: the forked copy holds no lock another thread
    // owned.
    match unsafe { fork() }.map_err(|e| Failure::syscall("cannot fork the monitor", e))? {
        ForkResult::Child => {
            drop(ready_read);
            let mut ready = Some(File::from(ready_write));
            let outcome = detach(&log).and_then(|()| {
                let mut monitor = Monitor::new(container, root, true)?;
                let outcome = monitor.run(then, &mut ready);
                monitor.finish(&outcome);
                outcome
            });
            // A failure before "ready" goes to the CLI, which prints it as its own.
            if let (Err(failure), Some(mut ready)) = (&outcome, ready.take()) {
                send(&mut ready, &Err(failure.clone()));
            }
            std::process::exit(outcome.unwrap_or_else(|failure| failure.exit_code))
        }
        ForkResult::Parent { child } => {
            drop(ready_write);
            let answer = receive(File::from(ready_read));
            if answer.is_err() {
                // The monitor has ended or is ending: reap it, it is our child until we exit.
                let _ = waitpid(child, None);
            }
            answer?;
            let start = start_time(child.as_raw()).unwrap_or(0);
            Ok(Runtime {
                pid: child.as_raw(),
                start,
            })
        }
    }
}

/// In the forked monitor: leave the CLI's session and terminal, send all output to the log.
fn detach(log: &Path) -> Result<(), Failure> {
    nix::unistd::setsid().map_err(|e| Failure::syscall("cannot start a new session", e))?;
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(log)
        .map_err(|e| Failure::io(format!("cannot open {}", log.display()), e))?;
    let null = File::open("/dev/null").map_err(|e| Failure::io("cannot open /dev/null", e))?;
    for (from, to) in [
        (null.as_raw_fd(), 0),
        (log_file.as_raw_fd(), 1),
        (log_file.as_raw_fd(), 2),
    ] {
        // SAFETY: dup2(2) on fds this process owns; 0, 1 and 2 are replaced atomically.
        if unsafe { libc::dup2(from, to) } < 0 {
            return Err(Failure::syscall(
                "cannot redirect the monitor's output",
                Errno::last(),
            ));
        }
    }
    // Hold no directory of the CLI's: it may be unmounted or removed while we run.
    let _ = std::env::set_current_dir("/");
    Ok(())
}

/// One instance's monitor.
struct Monitor<'a> {
    container: &'a Container,
    root: &'a Path,
    containers: Containers,
    dir: PathBuf,
    /// The container has a record to keep up to date (it runs from an image).
    kept: bool,
    /// This monitor holds the upper layer's lock: the instance files and the record are its
    /// to write. A monitor refused the lock (another instance runs) must touch neither.
    owner: bool,
    /// The plan was made: the container's directories are ready for an instance.
    prepared: bool,
    /// In the foreground (`run` without `-d`): the monitor runs create itself and the init
    /// dies with it, as every runtime of chapters 01-07 does.
    attached: bool,
    init: Option<Runtime>,
}

impl<'a> Monitor<'a> {
    fn new(container: &'a Container, root: &'a Path, kept: bool) -> Result<Self, Failure> {
        let containers = Containers::new(root);
        let dir = containers.dir(&container.id);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Failure::io(format!("cannot create {}", dir.display()), e))?;
        // The container's init is cloned by the create process, which exits: as its
        // subreaper (prctl(2), PR_SET_CHILD_SUBREAPER) we adopt it and can wait for it.
        nix::sys::prctl::set_child_subreaper(true)
            .map_err(|e| Failure::syscall("cannot become a child subreaper", e))?;
        Ok(Monitor {
            container,
            root,
            containers,
            dir,
            kept,
            owner: false,
            prepared: false,
            attached: false,
            init: None,
        })
    }

    /// Create the instance, start it if asked, say so on `ready`, and wait for its end.
    fn run(&mut self, then: Then, ready: &mut Option<File>) -> Result<i32, Failure> {
        let me = Runtime::me();
        let _upper = if self.kept {
            Some(lock_upper(&self.dir, &self.container.host.name)?)
        } else {
            None
        };
        // From here on the instance is ours: the teardown may clear it and write the record.
        self.owner = true;
        let plan = Plan::prepare(self.container, self.root)?;
        self.prepared = true;
        if self.kept {
            self.update_record(|record| {
                record.runtime_pid = Some(me.pid);
                record.runtime_start = Some(me.start);
            })?;
        }
        Instance {
            monitor: me,
            init: None,
            starting: then == Then::Start,
        }
        .save(&self.dir)?;
        cgroup::clean_stale();
        let cgroup = Cgroup::create(&self.container.id, &plan.limits)?;
        let forwarded = signals::block_forwarded()?;
        let init = if self.attached {
            create_here(&plan, &cgroup, &self.dir)?
        } else {
            create_in_child(&plan, &cgroup, &self.dir)?
        };
        self.init = Some(init);
        Instance {
            monitor: me,
            init: Some(init),
            starting: then == Then::Start,
        }
        .save(&self.dir)?;
        let keep_address = self.kept && !self.container.host.remove;
        let _attachment = network::attach(
            &plan.network,
            self.container,
            init,
            &self.dir,
            self.root,
            keep_address,
        )?;
        let status = match then {
            Then::Wait => Status::Created,
            Then::Start => {
                core::start(&self.dir, init)?;
                Status::Running
            }
        };
        if self.kept {
            self.update_record(|record| record.status = status)?;
        }
        // Answer and close: the CLI reads up to end-of-file, then exits.
        if let Some(mut ready) = ready.take() {
            send(&mut ready, &Ok(String::new()));
        }
        let started = Instant::now();
        let code = wait_for_init(Pid::from_raw(init.pid), &forwarded)?;
        self.init = None;
        cgroup.report(
            &cli::program_name(),
            self.container.host.stats,
            started.elapsed(),
        );
        Ok(code)
        // Dropped here, last made first: `attachment` (the port rules; the veth goes with the
        // namespace), then `cgroup` (what is left in it is killed and it is removed).
    }

    /// The teardown, whatever happened: no process, no instance, the exit code recorded.
    fn finish(&mut self, outcome: &Result<i32, Failure>) {
        if let Some(init) = self.init.take() {
            // Create or start failed after the init was cloned: it must not outlive us.
            let pid = Pid::from_raw(init.pid);
            if init.is_alive() {
                let _ = kill(pid, Signal::SIGKILL);
            }
            let _ = waitpid(pid, None);
        }
        if !self.owner {
            return;
        }
        Instance::remove(&self.dir);
        if !self.kept {
            let _ = std::fs::remove_dir_all(&self.dir);
            return;
        }
        let code = match outcome {
            Ok(code) => *code,
            Err(failure) => failure.exit_code,
        };
        if self.container.host.remove {
            if let Err(failure) = self.containers.remove(&self.container.id) {
                let failure = failure.hint(format!(
                    "the container is left behind: remove it with `rm {}`",
                    self.container.id
                ));
                eprintln!("{}: {failure}", cli::program_name());
            }
            return;
        }
        let _lock = self.containers.lock();
        if let Ok(mut record) = self.containers.find(&self.container.id) {
            record.status = Status::Exited;
            record.runtime_pid = None;
            record.runtime_start = None;
            record.exit_code = Some(code);
            if let Err(failure) = self.containers.save_reserved(&record) {
                eprintln!("{}: {failure}", cli::program_name());
            }
        }
    }

    fn update_record(&self, change: impl FnOnce(&mut Record)) -> Result<(), Failure> {
        update_record(&self.containers, &self.container.id, change)
    }
}

/// Change container `id`'s record under the containers' lock.
pub fn update_record(
    containers: &Containers,
    id: &str,
    change: impl FnOnce(&mut Record),
) -> Result<(), Failure> {
    let _lock = containers.lock()?;
    let mut record = containers.find(id)?;
    change(&mut record);
    containers.save(&record)
}

/// Take the upper layer's lock, or fail if another instance holds it. overlayfs does not
/// stop two mounts from sharing an upper directory (with its index feature off, the default,
/// it mounts the second and only warns in the kernel log) and calls the result undefined
/// (overlayfs.rst, "Sharing and copying layers").
fn lock_upper(dir: &Path, name: &str) -> Result<Flock<File>, Failure> {
    let path = dir.join(UPPER_LOCK);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| Failure::io(format!("cannot open {}", path.display()), e))?;
    Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, errno)| match errno {
        Errno::EWOULDBLOCK => Failure::new(format!(
            "container {name}'s upper layer is in use by another instance"
        ))
        .hint("two mounts of one upper layer are undefined in overlayfs; stop the other first"),
        errno => Failure::syscall(format!("cannot lock {}", path.display()), errno),
    })
}

/// Run create in this process, the init dying with it (PR_SET_PDEATHSIG): the foreground
/// `run`, whose container ends when the runtime the user waits on is killed.
fn create_here(plan: &Plan, cgroup: &Cgroup, dir: &Path) -> Result<Runtime, Failure> {
    let (_path, fifo) = crate::fifo::make(dir)?;
    let pid = core::create(plan, cgroup, fifo.as_raw_fd(), Lifetime::DiesWithParent)?;
    let start = start_time(pid.as_raw()).ok_or_else(|| {
        Failure::new("the container's init ended right after create")
            .hint("see what it printed above")
    })?;
    Ok(Runtime {
        pid: pid.as_raw(),
        start,
    })
}

/// Run create in a child process that exits once the init waits at the exec fifo, and
/// return the init. The child keeps only the fds create needs: the container must never
/// inherit the monitor's locks or its pipe to the CLI.
fn create_in_child(plan: &Plan, cgroup: &Cgroup, dir: &Path) -> Result<Runtime, Failure> {
    let (_path, fifo) = crate::fifo::make(dir)?;
    let (answer_read, answer_write) = pipe()?;
    // SAFETY: the monitor is single-threaded: the forked copy holds no lock another thread
    // owned.
    match unsafe { fork() }.map_err(|e| Failure::syscall("cannot fork create", e))? {
        ForkResult::Child => {
            keep_only_fds(&[answer_write.as_raw_fd(), fifo.as_raw_fd()]);
            let created = core::create(plan, cgroup, fifo.as_raw_fd(), Lifetime::OutlivesParent);
            let mut answer = File::from(answer_write);
            send(&mut answer, &created.map(|pid| pid.to_string()));
            // _exit(2): nothing of the monitor's (its cgroup, its locks) may be dropped here.
            // SAFETY: ends this process at once; nothing after it runs.
            unsafe { libc::_exit(0) }
        }
        ForkResult::Parent { child } => {
            drop(answer_write);
            drop(fifo);
            while let Err(Errno::EINTR) = waitpid(child, None) {}
            // Not up to end-of-file: the init holds a copy of the pipe until it execs. Create
            // has exited, so its one write(2) is all there is to read.
            let answer = nix::fcntl::fcntl(
                &answer_read,
                nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK),
            )
            .map_err(|e| Failure::syscall("cannot read create's answer", e))
            .and_then(|_| receive(File::from(answer_read)));
            let pid: i32 = answer?
                .trim()
                .parse()
                .map_err(|_| Failure::new("create answered nonsense"))?;
            let start = start_time(pid).ok_or_else(|| {
                Failure::new("the container's init ended right after create")
                    .hint("see what it printed with logs")
            })?;
            Ok(Runtime { pid, start })
        }
    }
}

/// In the create process: close every fd above stderr except `keep` (close_range(2)).
fn keep_only_fds(keep: &[RawFd]) {
    let mut keep: Vec<u32> = keep.iter().map(|fd| *fd as u32).collect();
    keep.sort_unstable();
    let mut first = 3u32;
    for fd in keep.into_iter().chain([u32::MAX]) {
        if fd > first {
            // SAFETY: closes fds of this short-lived process; the objects that own them
            // are never used again (it ends with _exit(2)).
            unsafe { libc::syscall(libc::SYS_close_range, first, fd - 1, 0) };
        }
        first = fd.saturating_add(1);
    }
}

/// Wait for the init to end, forwarding the signals the monitor gets, and reaping every
/// child: the init (adopted from create) and nothing else is expected.
fn wait_for_init(init: Pid, forwarded: &SigSet) -> Result<i32, Failure> {
    // TODO(ch08-3): Wait until the container's init ends and return its exit code as
    // the shell would give it (exit::code_of): 128+N when a signal N killed it. The init is
    // not a child the monitor forked: create forked it and exited, and the monitor, a child
    // subreaper (prctl(2), PR_SET_CHILD_SUBREAPER, set in Monitor::new), adopted it. Reap
    // every child that ends (wait(2), waitpid(2)) so none stays a zombie. Meanwhile the
    // monitor is the container's representative: every signal in `forwarded` (blocked in
    // this process, sigwait(3) takes one; SIGCHLD among them) that someone sends it goes
    // on to the init, except SIGCHLD, which only says a child changed state.
    todo!("exercise ch08-3: see the TODO above")
}

fn pipe() -> Result<(OwnedFd, OwnedFd), Failure> {
    pipe2(OFlag::O_CLOEXEC).map_err(|e| Failure::syscall("cannot create a pipe", e))
}

/// Answer on a pipe: `ok TEXT`, or `err CODE LINE` for a failure.
fn send(pipe: &mut File, answer: &Result<String, Failure>) {
    let text = match answer {
        Ok(text) => format!("ok {text}"),
        Err(failure) => format!("err {} {failure}", failure.exit_code),
    };
    let _ = pipe.write_all(text.as_bytes());
}

/// Read the answer [`send`] wrote, up to end-of-file. No answer at all means the other end
/// died first.
fn receive(mut pipe: File) -> Result<String, Failure> {
    let mut text = String::new();
    let _ = pipe.read_to_string(&mut text);
    if let Some(rest) = text.strip_prefix("ok ") {
        return Ok(rest.to_string());
    }
    if let Some((code, line)) = text.strip_prefix("err ").and_then(|r| r.split_once(' ')) {
        return Err(Failure::new(line).exit_code(code.parse().unwrap_or(exit::RUNTIME_FAILED)));
    }
    Err(
        Failure::new("the container's monitor ended before the container was set up")
            .hint("see what it printed with logs"),
    )
}

/// Whether the instance recorded in `dir` has a monitor that is gone: it was killed, and
/// [`sweep`] must clean after it.
fn orphaned(dir: &Path) -> bool {
    Instance::load(dir).is_some_and(|instance| !instance.monitor.is_alive())
}

/// Clean what monitors that died (SIGKILL, say) left: their cgroups (chapter 03's
/// `clean_stale` kills what is left in a cgroup whose owner lock is free), their
/// instance files, and their network (chapter 07's `clean_stale`). Every command calls it first.
pub fn sweep(root: &Path) {
    cgroup::clean_stale();
    let containers = Containers::new(root);
    for record in containers.list() {
        let dir = containers.dir(&record.id);
        if orphaned(&dir) {
            // The record keeps saying what it said, with a runtime that is gone: `ps`
            // shows it Dead (chapter 06), and `start` or `rm` take it from there.
            Instance::remove(&dir);
        }
    }
    // A foreground run without an image has a directory (its fifo, its instance) and no
    // record: once its monitor is gone, nothing in it is anyone's.
    let dirs = std::fs::read_dir(root.join("containers"))
        .into_iter()
        .flatten();
    for dir in dirs.flatten().map(|entry| entry.path()) {
        if !dir.join("container.json").exists() && orphaned(&dir) {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    // Last, once the directories of the dead are gone: their port tables, their addresses.
    network::clean_stale(root);
}
