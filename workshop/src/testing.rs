//! The behaviour-test harness: checks that run a chapter's runtime as a black box, as root,
//! on the real kernel, and prove that it left nothing behind.
//!
//! Each `tests/chNN.rs` lists its [`Check`]s and hands them to [`main`]. A check says in
//! plain words what it proves, why that proves the pillar, and what to try when it fails;
//! `cargo boxcar verify` prints exactly that. Under `cargo test` the same checks run as
//! ordinary tests (through libtest-mimic), so CI reads the usual `test result:` line.
//!
//! Which runtime is tested:
//! - `BOXCAR_BIN=/path/to/chNN`: that binary (this is how `verify` tests a learner's chapter);
//! - otherwise every solution from this chapter to the newest, built on the spot: chapter 01's
//!   checks run against ch01-solution, ch02-solution, … since every chapter must still do
//!   what the earlier ones did.
//!
//! Every check runs in a network namespace of its own, with `lo` up ([`OwnNetwork`]), that
//! plays the host: the bridges, nft tables and sysctls its runtimes make never touch the
//! machine's network, and parallel checks never collide on names.
//!
//! After every check, [`Leaks`] compares the host with how it was before: new mounts,
//! boxcar cgroups, boxcar network links, processes left behind, state left in the check's
//! own `$BOXCAR_ROOT` (containers, address reservations), boxcar nft tables. Anything new
//! fails the check.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child as Process, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::build;

/// How long any one run of the runtime may take before the check gives up and kills it,
/// unless `BOXCAR_RUN_TIMEOUT` (seconds) says otherwise: the cgroup v2 VM emulates its CPU,
/// and an unoptimised build unpacking an image there takes longer than this.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(30);

fn run_timeout() -> Duration {
    std::env::var("BOXCAR_RUN_TIMEOUT")
        .ok()
        .and_then(|secs| secs.parse().ok())
        .map_or(RUN_TIMEOUT, Duration::from_secs)
}

/// Where every check's own `$BOXCAR_ROOT` is made.
pub const TEST_ROOTS: &str = "/tmp/boxcar-tests";

/// One behaviour, checked against a runtime.
#[derive(Clone)]
pub struct Check {
    /// A short identifier, used as the test's name.
    pub name: &'static str,
    /// What works when the check passes, in plain words.
    pub says: &'static str,
    /// Why passing it proves the pillar works.
    pub why: &'static str,
    /// What to look at when it fails.
    pub hint: &'static str,
    /// True for checks that need the chapter's exercises done; false for baseline checks
    /// (the kit's flag parsing, the root check, a chapter's given input checks), which pass
    /// on an untouched starter too.
    pub needs_pillar: bool,
    /// The check itself.
    pub run: fn(&Ctx) -> Result<()>,
}

impl Check {
    /// A check that the chapter's pillar must make pass.
    pub const fn pillar(
        name: &'static str,
        says: &'static str,
        why: &'static str,
        hint: &'static str,
        run: fn(&Ctx) -> Result<()>,
    ) -> Self {
        Check {
            name,
            says,
            why,
            hint,
            needs_pillar: true,
            run,
        }
    }

    /// A baseline check: it holds before the chapter's exercises are done (the kit's flag
    /// parsing, say), so it passes on an untouched starter as well.
    pub const fn baseline(
        name: &'static str,
        says: &'static str,
        why: &'static str,
        hint: &'static str,
        run: fn(&Ctx) -> Result<()>,
    ) -> Self {
        Check {
            name,
            says,
            why,
            hint,
            needs_pillar: false,
            run,
        }
    }
}

/// What a check can use: the runtime under test, the probe, and a state root of its own.
pub struct Ctx {
    bin: PathBuf,
    probe: PathBuf,
    root: PathBuf,
    /// The pids of the runtimes this check started: what it leaves is this check's to
    /// answer for, and nothing another check or terminal left is.
    spawned: Mutex<Vec<u32>>,
}

/// Where the probe is in the `probe` image that [`Ctx::build_images`] makes.
pub const PROBE_IN_IMAGE: &str = "/usr/local/bin/boxcar-probe";

/// How a run of the runtime ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// Fail unless the runtime exited with `code`; the message shows what it printed.
    pub fn expect_code(&self, code: i32) -> Result<&Self> {
        if self.code != Some(code) {
            bail!(
                "expected exit code {code}, got {}\n{}",
                self.code_text(),
                self.printed()
            );
        }
        Ok(self)
    }

    /// stdout without the trailing newline.
    pub fn out(&self) -> &str {
        self.stdout.trim_end()
    }

    /// stderr as exactly one line (the contract for errors); fails otherwise.
    pub fn one_error_line(&self) -> Result<&str> {
        let line = self.stderr.trim_end();
        if line.is_empty() || line.contains('\n') {
            bail!("expected exactly one line on stderr\n{}", self.printed());
        }
        Ok(line)
    }

    fn code_text(&self) -> String {
        self.code
            .map_or("none (killed by a signal)".into(), |code| code.to_string())
    }

    pub fn printed(&self) -> String {
        format!(
            "--- stdout ---\n{}--- stderr ---\n{}",
            self.stdout, self.stderr
        )
    }
}

/// A runtime still running, for checks that signal it.
pub struct Running {
    process: Process,
    lines: Receiver<String>,
    stdout: Vec<String>,
    stderr: Arc<Mutex<Vec<u8>>>,
    /// Says the stderr reader has read to the end of the pipe.
    stderr_done: Receiver<()>,
}

impl Ctx {
    /// The runtime under test.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// The static probe binary (see tests/probe).
    pub fn probe(&self) -> &Path {
        &self.probe
    }

    /// The probe's path as a string, for command lines.
    pub fn probe_arg(&self) -> String {
        self.probe.display().to_string()
    }

    /// This check's own state root (its `$BOXCAR_ROOT`), a scratch place on the host.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Build the images checks run in, into this check's own store: `busybox` (from the
    /// host's busybox-static) and `probe` (the same, plus the probe at [`PROBE_IN_IMAGE`]).
    /// They are built once per test binary (see [`image_cache`]) and copied here.
    pub fn build_images(&self) -> Result<()> {
        let cache = image_cache(&self.probe)?.join("images");
        copy_dir(&cache, &self.root.join("images"))
    }

    /// The chapter of the runtime under test, from its name (`ch02`, `ch02-solution`).
    pub fn chapter(&self) -> u8 {
        chapter_of(&self.bin).unwrap_or(0)
    }

    /// The runtime's file name, which snapshots replace with `[RUNTIME]`.
    pub fn runtime_name(&self) -> String {
        self.bin
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// `text` with the runtime's name and the probe's path redacted, for snapshots.
    pub fn redact(&self, text: &str) -> String {
        text.replace(&self.probe_arg(), "[PROBE]")
            .replace(&self.runtime_name(), "[RUNTIME]")
    }

    /// A command for the runtime with `args`, this check's root, and nothing on stdin.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.bin);
        command
            .args(args)
            .env("BOXCAR_ROOT", &self.root)
            .stdin(Stdio::null());
        command
    }

    /// Run the runtime with `args` to the end (at most [`RUN_TIMEOUT`], or `BOXCAR_RUN_TIMEOUT`).
    pub fn run(&self, args: &[&str]) -> Result<Outcome> {
        self.run_command(self.command(args))
    }

    /// Run the runtime as another user (e.g. to prove it refuses to run without root).
    pub fn run_as(&self, uid: u32, args: &[&str]) -> Result<Outcome> {
        let mut command = self.command(args);
        command.uid(uid).gid(uid);
        self.run_command(command)
    }

    /// Run `script` with sh(1) in a mount namespace of its own (unshare(1) `--mount`, private
    /// propagation), `$RUNTIME` naming the runtime under test and `$BOXCAR_ROOT` this check's
    /// root. What the script mounts (a tmpfs for the runtime to work on, say) goes with the
    /// namespace: a check can watch what a runtime does to a whole filesystem — remount it
    /// read-only by mistake — without the host's filesystems at stake.
    pub fn run_in_own_mounts(&self, script: &str) -> Result<Outcome> {
        let mut command = Command::new("unshare");
        command
            .args(["--mount", "--propagation", "private", "--"])
            .args(["/bin/sh", "-c", script])
            .env("RUNTIME", &self.bin)
            .env("BOXCAR_ROOT", &self.root)
            .stdin(Stdio::null());
        self.run_command(command)
    }

    /// Run `probe ARGS` in a container started with `run_flags`, and parse its JSON.
    pub fn probe_with(&self, run_flags: &[&str], probe_args: &[&str]) -> Result<serde_json::Value> {
        let probe = self.probe_arg();
        let mut args = vec!["run"];
        args.extend_from_slice(run_flags);
        args.push("--");
        args.push(&probe);
        args.extend_from_slice(probe_args);
        let outcome = self.run(&args)?;
        outcome.expect_code(0)?;
        serde_json::from_str(&outcome.stdout)
            .with_context(|| format!("the probe printed no JSON\n{}", outcome.printed()))
    }

    /// Run `run ARGS` where the command prints the probe's JSON, and parse it.
    pub fn probe_raw(&self, run_args: &[&str]) -> Result<serde_json::Value> {
        let mut args = vec!["run"];
        args.extend_from_slice(run_args);
        let outcome = self.run(&args)?;
        outcome.expect_code(0)?;
        serde_json::from_str(&outcome.stdout)
            .with_context(|| format!("the probe printed no JSON\n{}", outcome.printed()))
    }

    /// Run `command` (from [`Ctx::command`], changed as a check needs: another
    /// `BOXCAR_ROOT`, a lower `ulimit -n`) to the end, at most [`RUN_TIMEOUT`].
    pub fn run_command(&self, command: Command) -> Result<Outcome> {
        let running = self.spawn_command(command)?;
        running.wait(run_timeout())
    }

    /// Run `script` with sh(1) on the check's host (its network namespace), tracked; fail
    /// with its output unless it succeeds.
    pub fn host_sh(&self, script: &str) -> Result<Outcome> {
        let mut command = Command::new("/bin/sh");
        command.args(["-c", script]);
        let outcome = self.run_command(command)?;
        outcome
            .expect_code(0)
            .with_context(|| format!("the host-side script failed: {script}"))?;
        Ok(outcome)
    }

    /// The addresses reserved in the check's root (chapter 07's pool, one file each).
    pub fn reservations(&self) -> Vec<std::net::Ipv4Addr> {
        std::fs::read_dir(self.root().join("network").join("addresses"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| entry.file_name().to_string_lossy().parse().ok())
            .collect()
    }

    /// Run `program ARGS` (not the runtime) as the unprivileged user nobody (uid and gid
    /// 65534, no supplementary groups) with setpriv(1): what any local user can do. setpriv
    /// still holds root's capabilities when it calls execve(2) (they go at the exec), so a
    /// path it execs directly is looked up with CAP_DAC_OVERRIDE; a shell in between, with
    /// none left, does the lookup as nobody would.
    pub fn run_as_nobody(&self, program_and_args: &[&str]) -> Result<Outcome> {
        let mut command = Command::new("setpriv");
        command
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .args(["/bin/sh", "-c", "exec \"$0\" \"$@\""])
            .args(program_and_args)
            .stdin(Stdio::null());
        self.run_command(command)
    }

    /// Run the runtime with `args`, its stdout a pipe whose reader is already gone, as in
    /// `ps -a | head` once head has read its lines: every write gets EPIPE.
    pub fn run_with_stdout_closed(&self, args: &[&str]) -> Result<Outcome> {
        let (reader, writer) = nix::unistd::pipe()?;
        drop(reader);
        let mut command = self.command(args);
        command.stdout(Stdio::from(writer)).stderr(Stdio::piped());
        let running = self.spawn_exactly(command)?;
        running.wait(RUN_TIMEOUT)
    }

    /// Start the runtime with `args` and return at once, stdout piped line by line.
    pub fn spawn(&self, args: &[&str]) -> Result<Running> {
        self.spawn_command(self.command(args))
    }

    /// Start `command` (a tool a check needs running beside the runtime: a process that plays
    /// "the outside world") and return at once, tracked and piped as [`Ctx::spawn`].
    pub fn spawn_command(&self, mut command: Command) -> Result<Running> {
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        self.spawn_exactly(command)
    }

    /// Spawn `command` with the stdio it has (stderr must be piped), tracked as a runtime.
    fn spawn_exactly(&self, mut command: Command) -> Result<Running> {
        // Spawn and record under one lock, so a leak check in another thread never sees
        // this runtime as a stray child.
        let mut process = {
            let mut live = live_runtimes().lock().unwrap_or_else(|e| e.into_inner());
            let process = command
                .spawn()
                .with_context(|| format!("cannot start {}", self.bin.display()))?;
            live.insert(process.id());
            self.spawned
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(process.id());
            process
        };
        let (sender, lines) = channel();
        if let Some(stdout) = process.stdout.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if sender.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut pipe = process.stderr.take().context("no stderr")?;
        let sink = Arc::clone(&stderr);
        let (done, stderr_done) = channel();
        std::thread::spawn(move || {
            // Chunk by chunk, so what arrived is there even if the pipe stays open.
            let mut buffer = [0u8; 4096];
            while let Ok(read @ 1..) = pipe.read(&mut buffer) {
                sink.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(&buffer[..read]);
            }
            let _ = done.send(());
        });
        Ok(Running {
            process,
            lines,
            stdout: Vec::new(),
            stderr,
            stderr_done,
        })
    }
}

/// A check that fails half-way (a `?` before its `wait`) must not leave its runtime running:
/// nothing would ever end it, and its container and cgroup would outlive the test. Killing
/// the runtime (SIGKILL) takes its container with it (PR_SET_PDEATHSIG); what it leaves
/// is then a leak the check's own leak check reports.
impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.process.try_wait() {
            let _ = self.process.kill();
            wait_thawing(&mut self.process);
        }
        live_runtimes_remove(self.process.id());
    }
}

/// Wait for a process the harness killed. A runtime killed between freezing its container's
/// v1 cgroup and thawing it (chapter 03's kill) leaves that cgroup frozen, and a frozen task
/// acts on SIGKILL only once thawed (freezer-subsystem.rst): if the process sits in a frozen
/// cgroup, thaw it, or the wait never ends.
fn wait_thawing(process: &mut Process) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Ok(None) = process.try_wait() {
        if Instant::now() > deadline {
            eprintln!("process {} does not end after SIGKILL", process.id());
            return;
        }
        thaw_frozen_cgroup_of(process.id() as i32);
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Thaw the v1 freezer cgroup under `boxcar/` that `pid` (a process of this harness) is in,
/// if it is frozen.
fn thaw_frozen_cgroup_of(pid: i32) {
    let Ok(cgroups) = std::fs::read_to_string(format!("/proc/{pid}/cgroup")) else {
        return;
    };
    for line in cgroups.lines() {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next(), fields.next(), fields.next());
        let (Some(controllers), Some(path)) = (controllers, path) else {
            continue;
        };
        if !controllers.split(',').any(|c| c == "freezer") || !path.starts_with("/boxcar/") {
            continue;
        }
        let state = Path::new("/sys/fs/cgroup/freezer")
            .join(path.trim_start_matches('/'))
            .join("freezer.state");
        if std::fs::read_to_string(&state).is_ok_and(|s| s.trim() == "FROZEN") {
            let _ = std::fs::write(&state, "THAWED");
        }
    }
}

impl Running {
    /// The runtime's pid on the host.
    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.process.id() as i32)
    }

    /// Wait until the runtime prints a line equal to `line`.
    pub fn wait_for_line(&mut self, line: &str, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(got) => {
                    let found = got == line;
                    self.stdout.push(got);
                    if found {
                        return Ok(());
                    }
                }
                Err(_) => break,
            }
        }
        bail!(
            "the container never printed {line:?} (it printed {:?})",
            self.stdout
        )
    }

    /// Send `signal` to the runtime (by pid: we started it).
    pub fn signal(&self, signal: Signal) -> Result<()> {
        kill(self.pid(), signal).with_context(|| format!("cannot send {signal} to the runtime"))
    }

    /// Whether the runtime is still running after `grace`.
    pub fn still_running_after(&mut self, grace: Duration) -> Result<bool> {
        std::thread::sleep(grace);
        Ok(self.process.try_wait()?.is_none())
    }

    /// Wait for the runtime to end; kill it and fail if it takes longer than `timeout`.
    pub fn wait(mut self, timeout: Duration) -> Result<Outcome> {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.process.try_wait()? {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.process.kill();
                let _ = self.process.wait();
                live_runtimes_remove(self.process.id());
                bail!("the runtime did not end within {timeout:?}; it was killed");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        live_runtimes_remove(self.process.id());
        // The readers end when the pipes close; the container may have held them a moment.
        let mut stdout = std::mem::take(&mut self.stdout);
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            stdout.push(line);
        }
        let stdout = stdout.iter().map(|line| format!("{line}\n")).collect();
        // The same for stderr: under load its reader may not have caught up yet.
        let _ = self.stderr_done.recv_timeout(Duration::from_secs(2));
        let stderr =
            String::from_utf8_lossy(&self.stderr.lock().unwrap_or_else(|e| e.into_inner()))
                .into_owned();
        use std::os::unix::process::ExitStatusExt;
        let code = status.code().or_else(|| status.signal().map(|s| 128 + s));
        Ok(Outcome {
            code,
            stdout,
            stderr,
        })
    }
}

/// The images checks use, built once per test binary into `TEST_ROOTS/.images-<pid>`:
/// building runs busybox, and a child process of the harness must exist only while it is a
/// runtime the harness tracks (the zombie reaper would take it otherwise).
fn image_cache(probe: &Path) -> Result<PathBuf> {
    static CACHE: OnceLock<PathBuf> = OnceLock::new();
    if let Some(dir) = CACHE.get() {
        return Ok(dir.clone());
    }
    use crate::images::build_busybox;
    use boxcar::image::Store;
    let dir = Path::new(TEST_ROOTS).join(format!(".images-{}", std::process::id()));
    let store = Store::new(&dir);
    build_busybox(&store, "busybox", &[])?;
    build_busybox(
        &store,
        "probe",
        &[(probe.to_path_buf(), PROBE_IN_IMAGE.to_string())],
    )?;
    Ok(CACHE.get_or_init(|| dir).clone())
}

/// Remove the image cache, if one was built.
fn remove_image_cache() {
    let _ = std::fs::remove_dir_all(
        Path::new(TEST_ROOTS).join(format!(".images-{}", std::process::id())),
    );
}

/// Copy a directory tree of plain files (an image store: index.json and blobs).
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// The runtimes the harness has started and not yet reaped: its only legitimate children.
fn live_runtimes() -> &'static Mutex<BTreeSet<u32>> {
    static LIVE: OnceLock<Mutex<BTreeSet<u32>>> = OnceLock::new();
    LIVE.get_or_init(|| Mutex::new(BTreeSet::new()))
}

fn live_runtimes_remove(pid: u32) {
    live_runtimes()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&pid);
}

/// The chapter number in a runtime's file name: `ch02` and `ch02-solution` are chapter 2.
pub fn chapter_of(bin: &Path) -> Option<u8> {
    let name = bin.file_name()?.to_string_lossy().into_owned();
    name.strip_prefix("ch")?.get(..2)?.parse().ok()
}

/// What the host has that a runtime could leave behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaks {
    mounts: BTreeSet<String>,
    cgroups: BTreeSet<String>,
    links: BTreeSet<String>,
}

/// The prefix of every network link boxcar creates.
pub const LINK_PREFIX: &str = "bx";

impl Leaks {
    /// What is there now.
    pub fn snapshot() -> Self {
        Leaks {
            mounts: host_mounts(),
            cgroups: boxcar_cgroups(),
            links: boxcar_links(),
        }
    }

    /// What is in `self` (taken after a check) that was not in `before` and that the check's
    /// own runtimes (`own_pids`) made, ignoring what other checks running at the same time,
    /// or containers in another terminal, own: mounts under other roots of [`TEST_ROOTS`],
    /// cgroups whose owner lock names another runtime.
    pub fn new_since(&self, before: &Leaks, own_root: &Path, own_pids: &[u32]) -> Vec<String> {
        let own = own_root.display().to_string();
        let foreign = |mount: &str| mount.contains(TEST_ROOTS) && !mount.contains(&own);
        let mounts = self
            .mounts
            .difference(&before.mounts)
            .filter(|m| !foreign(m));
        let mounts = mounts.map(|m| format!("mount left on the host: {m}"));
        // A cgroup with processes in it belongs to a container still running (a check in
        // parallel); a process left behind is caught by the process check instead.
        let empty = |dir: &&String| {
            let procs = std::fs::read_to_string(Path::new(dir.as_str()).join("cgroup.procs"));
            procs.is_ok_and(|p| p.trim().is_empty())
        };
        // The runtime keeps its owner lock (with its pid) until its cgroups are gone: a
        // cgroup it left is still attributed to it.
        let ours = |dir: &&String| {
            let id = Path::new(dir.as_str()).file_name().unwrap_or_default();
            ch03_solution::owner::pid_of(&id.to_string_lossy())
                .is_some_and(|pid| own_pids.contains(&pid))
        };
        let cgroups = self
            .cgroups
            .difference(&before.cgroups)
            .filter(empty)
            .filter(ours)
            .map(|c| format!("cgroup left: {c}"));
        let links = self
            .links
            .difference(&before.links)
            .map(|l| format!("network link left: {l}"));
        mounts.chain(cgroups).chain(links).collect()
    }
}

/// The host's mounts as "mount point (fstype)" with the mount id, from the harness's own
/// mount namespace (/proc/self/mountinfo, see proc(5)).
fn host_mounts() -> BTreeSet<String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let dash = fields.iter().position(|f| *f == "-")?;
            Some(format!(
                "{} ({}, mount id {})",
                fields.get(4)?,
                fields.get(dash + 1)?,
                fields.first()?
            ))
        })
        .collect()
}

/// Every cgroup directory under a `boxcar` subtree, in every hierarchy.
fn boxcar_cgroups() -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let base = Path::new("/sys/fs/cgroup");
    let mut tops = vec![base.join("boxcar")];
    for entry in std::fs::read_dir(base).into_iter().flatten().flatten() {
        tops.push(entry.path().join("boxcar"));
    }
    for top in tops {
        collect_dirs(&top, &mut found);
    }
    found
}

fn collect_dirs(dir: &Path, found: &mut BTreeSet<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            found.insert(entry.path().display().to_string());
            collect_dirs(&entry.path(), found);
        }
    }
}

/// The bridge chapter 07 makes once and keeps, as docker keeps docker0 (with its nft table,
/// [`BRIDGE_TABLE`]): not a leak. It goes with the check's own network namespace.
pub const BRIDGE: &str = "bx0";
/// The bridge's nft table (`table ip boxcar`); a container's own tables are `boxcar-<id>`.
pub const BRIDGE_TABLE: &str = "table ip boxcar";

/// The boxcar links of the calling thread's network namespace, the kept bridge aside:
/// /proc/thread-self/net/dev (proc(5)) follows the thread's namespace, where /sys/class/net
/// shows the one sysfs was mounted in.
fn boxcar_links() -> BTreeSet<String> {
    let text = std::fs::read_to_string("/proc/thread-self/net/dev").unwrap_or_default();
    text.lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(name, _)| name.trim().to_string())
        .filter(|name| name.starts_with(LINK_PREFIX) && name != BRIDGE)
        .collect()
}

/// A network namespace of the check's own, with `lo` up, that plays the host for the
/// runtimes it starts: unshare(2) with CLONE_NEWNET changes the calling thread only, and the
/// processes it spawns are born there. Dropping it brings the thread back.
pub struct OwnNetwork {
    home: std::fs::File,
}

impl OwnNetwork {
    pub fn enter() -> Result<OwnNetwork> {
        use nix::sched::{unshare, CloneFlags};
        let home = std::fs::File::open("/proc/thread-self/ns/net")
            .context("cannot open the harness's network namespace")?;
        unshare(CloneFlags::CLONE_NEWNET)
            .context("cannot give the check a network namespace of its own")?;
        let own = OwnNetwork { home };
        set_loopback_up().context("cannot set lo up in the check's network namespace")?;
        Ok(own)
    }
}

impl Drop for OwnNetwork {
    fn drop(&mut self) {
        use std::os::fd::AsFd;
        if let Err(errno) =
            nix::sched::setns(self.home.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
        {
            // Every later check on this thread would run in a namespace it did not make.
            eprintln!("cannot return to the harness's network namespace ({errno})");
            std::process::exit(1);
        }
    }
}

/// `ip link set lo up` with the old interface ioctls (netdevice(7), SIOCSIFFLAGS): no
/// process to spawn, so nothing for the harness's zombie reaper to race with.
fn set_loopback_up() -> std::io::Result<()> {
    // SAFETY: plain socket(2)/ioctl(2) calls on a zeroed ifreq we own; the fd is closed below.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut request: libc::ifreq = std::mem::zeroed();
        for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
            *slot = *byte as libc::c_char;
        }
        let mut result = libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut request);
        if result == 0 {
            request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            result = libc::ioctl(fd, libc::SIOCSIFFLAGS, &request);
        }
        let error = std::io::Error::last_os_error();
        libc::close(fd);
        if result == 0 {
            Ok(())
        } else {
            Err(error)
        }
    }
}

/// The nft tables a check's runtimes left in its network namespace (`nft list tables`).
fn boxcar_nft_tables() -> Vec<String> {
    let mut command = Command::new("nft");
    command.args(["list", "tables"]);
    let Ok(text) = tracked_output(command) else {
        return Vec::new();
    };
    text.lines()
        .filter(|line| line.contains(" boxcar") && line.trim() != BRIDGE_TABLE)
        .map(|line| format!("nft table left: {line}"))
        .collect()
}

/// Run a tool to the end, tracked as a runtime is, so the zombie reaper leaves it to us.
fn tracked_output(mut command: Command) -> Result<String> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let child = {
        let mut live = live_runtimes().lock().unwrap_or_else(|e| e.into_inner());
        let child = command.spawn()?;
        live.insert(child.id());
        child
    };
    let id = child.id();
    let output = child.wait_with_output();
    live_runtimes_remove(id);
    Ok(String::from_utf8_lossy(&output?.stdout).into_owned())
}

/// Address reservations and port markers a check's runtimes left in its root: a reservation
/// lives as long as its container's record, a port marker as long as its runtime.
fn leftover_network_state(root: &Path) -> Vec<String> {
    let network = root.join("network");
    let records = root.join("containers");
    let reservations = std::fs::read_dir(network.join("addresses"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .parse::<std::net::Ipv4Addr>()
                .is_ok()
        })
        .filter(|entry| {
            let id = std::fs::read_to_string(entry.path()).unwrap_or_default();
            !records.join(id.trim()).join("container.json").exists()
        })
        .map(|entry| format!("address reservation left: {}", entry.path().display()));
    let markers = std::fs::read_dir(network.join("ports"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| format!("published-port marker left: {}", entry.path().display()));
    reservations.chain(markers).collect()
}

/// Processes a runtime left behind. The harness is a child subreaper (prctl(2),
/// PR_SET_CHILD_SUBREAPER), so an orphan of a runtime is reparented to it rather than to the
/// host's init, where it would hide. A child of the harness is a stray when it is not a
/// runtime still running and it is either in a UTS namespace other than the harness's (every
/// container has one of its own from chapter 01 on) or a copy of the runtime under test.
/// Tools the harness runs for itself (insta may start rustfmt) are neither. A runtime
/// process that outlives its command on purpose (chapter 08's detached monitor) carries the
/// `BOXCAR_ROOT` of the check that started it: one with another check's root is that
/// check's, running in parallel, and not a stray of this one (`own_root`).
fn stray_children(runtime: &Path, own_root: &Path) -> Vec<(i32, String)> {
    let me = std::process::id() as i32;
    let my_uts = std::fs::read_link("/proc/self/ns/uts").ok();
    let runtime = std::fs::canonicalize(runtime).ok();
    // Hold the lock while scanning: no runtime can be started, unrecorded, meanwhile.
    let live = live_runtimes().lock().unwrap_or_else(|e| e.into_inner());
    let mut strays = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some((comm, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let comm = comm.split_once(" (").map_or("", |(_, c)| c).to_string();
        let ppid = rest.split(' ').nth(1).and_then(|p| p.parse::<i32>().ok());
        if ppid != Some(me) || live.contains(&(pid as u32)) {
            continue;
        }
        let uts = std::fs::read_link(entry.path().join("ns/uts")).ok();
        let exe = std::fs::read_link(entry.path().join("exe")).ok();
        if another_checks(entry.path().as_path(), own_root) {
            continue;
        }
        if uts != my_uts || (exe.is_some() && exe == runtime) {
            strays.push((pid, comm));
        }
    }
    strays
}

/// Whether the process at `/proc/PID` was started for another check: its environment's
/// `BOXCAR_ROOT` is a check root (under [`TEST_ROOTS`]) other than `own_root`.
fn another_checks(proc_dir: &Path, own_root: &Path) -> bool {
    let environ = std::fs::read(proc_dir.join("environ")).unwrap_or_default();
    environ
        .split(|byte| *byte == 0)
        .filter_map(|var| var.strip_prefix(b"BOXCAR_ROOT="))
        .map(|root| Path::new(std::ffi::OsStr::from_bytes(root)))
        .any(|root| root.starts_with(TEST_ROOTS) && root != own_root)
}

/// Strays that are still alive after a grace period. A container killed with its runtime
/// (PR_SET_PDEATHSIG) takes a moment to die and is then reparented to the harness as a
/// zombie: reaping it is the harness's duty as subreaper, as it is init's on a host. Only a
/// process still running after the grace is a leak.
fn lasting_strays(runtime: &Path, own_root: &Path) -> Vec<(i32, String)> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        reap_zombie_children();
        let strays = stray_children(runtime, own_root);
        if strays.is_empty() || Instant::now() > deadline {
            return strays;
        }
        // A container whose runtime was killed while it froze it cannot die until thawed.
        for (pid, _) in &strays {
            thaw_frozen_cgroup_of(*pid);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reap every child of the harness that has ended and is not a runtime a check waits for.
fn reap_zombie_children() {
    let live = live_runtimes().lock().unwrap_or_else(|e| e.into_inner());
    let me = std::process::id();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let mut fields = rest.split(' ');
        let (state, ppid) = (
            fields.next(),
            fields.next().and_then(|p| p.parse::<u32>().ok()),
        );
        if state == Some("Z") && ppid == Some(me) && !live.contains(&pid) {
            let _ = nix::sys::wait::waitpid(
                Pid::from_raw(pid as i32),
                Some(nix::sys::wait::WaitPidFlag::WNOHANG),
            );
        }
    }
}

/// End the strays by pid (they are ours: reparented to us) and reap them.
fn end_strays(strays: &[(i32, String)]) {
    for (pid, _) in strays {
        let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(Pid::from_raw(*pid), None);
    }
}

/// What is new since `before` and still there after a grace period. Checks run in parallel:
/// another check's runtime may be creating or removing its cgroup right now. A leak is what
/// stays.
fn lasting_leaks(before: &Leaks, root: &Path, own_pids: &[u32]) -> Vec<String> {
    // A dead container's veth goes when the kernel frees its network namespace, which it does
    // in the background (a work queue): 15-30 ms here, a few seconds on a loaded machine.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let leaks = Leaks::snapshot().new_since(before, root, own_pids);
        if leaks.is_empty() || Instant::now() > deadline {
            return leaks;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Run one check: a fresh root, the check, then the leak check.
fn run_check(check: &Check, bin: &Path, probe: &Path) -> Result<()> {
    let root = Path::new(TEST_ROOTS).join(format!(
        "{}-{}",
        check.name,
        boxcar::state::new_container_id()
    ));
    std::fs::create_dir_all(&root).with_context(|| format!("cannot create {}", root.display()))?;
    let ctx = Ctx {
        bin: bin.to_path_buf(),
        probe: probe.to_path_buf(),
        root: root.clone(),
        spawned: Mutex::new(Vec::new()),
    };
    // The check's own "host" network: bridges, nft tables and sysctls its runtimes make
    // stay there, and parallel checks never meet. Left (and freed) when the check ends.
    let own_network = OwnNetwork::enter()?;
    let before = Leaks::snapshot();
    // A panic (a failed snapshot assertion) must not skip the leak check and the cleanup.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (check.run)(&ctx)))
        .unwrap_or_else(|panic| Err(anyhow!("{}", panic_message(panic.as_ref()))));
    let own_pids = ctx
        .spawned
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let mut leaks = lasting_leaks(&before, &root, &own_pids);
    let strays = lasting_strays(bin, &root);
    end_strays(&strays);
    leaks.extend(
        strays
            .iter()
            .map(|(pid, comm)| format!("process left running: {pid} ({comm})")),
    );
    leaks.extend(leftover_state(&root));
    leaks.extend(leftover_network_state(&root));
    leaks.extend(boxcar_nft_tables());
    drop(own_network);
    let _ = std::fs::remove_dir_all(&root);
    result?;
    if !leaks.is_empty() {
        return Err(Leaked(leaks).into());
    }
    Ok(())
}

/// A check that did what it tests but left things behind: what was left is all there is to say.
#[derive(Debug)]
pub struct Leaked(pub Vec<String>);

impl std::fmt::Display for Leaked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the runtime left things behind:\n  {}\n(processes are found as orphans of the test \
             process: with checks running in parallel, one may come from another check)",
            self.0.join("\n  ")
        )
    }
}

impl std::error::Error for Leaked {}

/// Output that is not what a snapshot in tests/snapshots/ expects.
#[derive(Debug)]
pub struct SnapshotMismatch {
    pub name: String,
    pub expected: String,
    pub actual: String,
}

impl std::fmt::Display for SnapshotMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "the output is not what the snapshot {:?} expects",
            self.name
        )?;
        writeln!(f, "expected:")?;
        for line in self.expected.lines() {
            writeln!(f, "  {line}")?;
        }
        writeln!(f, "actual:")?;
        for line in self.actual.lines() {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SnapshotMismatch {}

/// Whether the harness compares snapshots itself: under `verify` (and `check-starters`,
/// `mistakes`), which print a mismatch in a learner's words and must never write
/// `.snap.new` files or advise accepting the new output. Under plain `cargo test`, insta does.
pub fn harness_compares_snapshots() -> bool {
    std::env::var_os("BOXCAR_VERIFY").is_some()
}

/// Compare `actual` with the snapshot `name` of the test crate `module` (the file
/// `tests/snapshots/<module>__<name>.snap`), as insta compares a file snapshot: the body after
/// the header between `---` lines, trailing whitespace trimmed, CRLF as LF.
pub fn compare_snapshot(module: &str, name: &str, actual: &str) -> Result<()> {
    let file = build::workspace_dir()
        .join("tests")
        .join("snapshots")
        .join(format!("{}__{name}.snap", module.replace("::", "__")));
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("the expected output {name:?} is missing"))?;
    let expected = snapshot_body(&text);
    let actual = actual.trim_end().replace("\r\n", "\n");
    if expected != actual {
        return Err(SnapshotMismatch {
            name: name.to_string(),
            expected,
            actual,
        }
        .into());
    }
    Ok(())
}

/// The body of an insta snapshot file: what follows the `---` … `---` header.
pub fn snapshot_body(text: &str) -> String {
    let mut lines = text.lines();
    let body: Vec<&str> = if text.lines().next().is_some_and(|l| l.trim_end() == "---") {
        lines.next();
        lines.by_ref().find(|l| l.trim_end() == "---");
        lines.collect()
    } else {
        text.lines().collect()
    };
    body.join("\n").trim_end().replace("\r\n", "\n")
}

/// Compare output with a snapshot in tests/snapshots/: under `cargo test` with insta (as
/// `insta::assert_snapshot!`, so `cargo insta review` works for developers), under `verify`
/// with the harness, which returns an error that prints expected and actual. Use it in a check
/// (a function returning `Result`): `workshop::assert_snapshot!("name", text);`
#[macro_export]
macro_rules! assert_snapshot {
    ($name:expr, $value:expr $(,)?) => {
        if $crate::testing::harness_compares_snapshots() {
            $crate::testing::compare_snapshot(module_path!(), &$name, &$value)?;
        } else {
            insta::assert_snapshot!($name, $value);
        }
    };
}

/// Container state a check's root still holds after its runtimes ended. From chapter 06 on a
/// container that exited is kept, with a record that says so, until `rm` (as with Docker);
/// anything else left in `containers/` — no record, or a record still "running" — is a leak.
fn leftover_state(root: &Path) -> Vec<String> {
    std::fs::read_dir(root.join("containers"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| {
            let record =
                std::fs::read_to_string(entry.path().join("container.json")).unwrap_or_default();
            let record: serde_json::Value = serde_json::from_str(&record).unwrap_or_default();
            record["status"] != "exited"
        })
        .map(|entry| format!("container state left: {}", entry.path().display()))
        .collect()
}

/// The entry point of a `tests/chNN.rs` file.
/// Give the checks a "host" of their own, before any thread exists: a UTS namespace, so a
/// runtime that sets the hostname in the wrong namespace (a mistake the checks must catch)
/// renames this copy, never the machine (uts_namespaces(7)); and a mount namespace whose
/// mounts receive the machine's mount events but send none back (MS_SLAVE), so a runtime
/// that forgets to make its mounts private leaks them here, where the leak check sees
/// them, and never onto the machine (mount_namespaces(7), "Shared subtrees").
fn isolate_the_checks_host() {
    use nix::mount::{mount, MsFlags};
    use nix::sched::{unshare, CloneFlags};
    let isolated = unshare(CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWNS).and_then(|()| {
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_SLAVE,
            None::<&str>,
        )
    });
    if let Err(errno) = isolated {
        eprintln!("cannot give the checks namespaces of their own ({errno})");
        std::process::exit(1);
    }
}

pub fn main(chapter: u8, checks: Vec<Check>) -> ! {
    require_root_for_tests();
    isolate_the_checks_host();
    // insta finds the snapshots by asking `cargo metadata` for the workspace root unless this
    // says where it is; the zombie reaper below could reap that cargo before insta waits for
    // it, and insta would then look for every snapshot in the wrong place. Set before any
    // thread starts.
    if std::env::var_os("INSTA_WORKSPACE_ROOT").is_none() {
        std::env::set_var("INSTA_WORKSPACE_ROOT", build::workspace_dir());
    }
    // Orphans of a runtime come to us, not the host's init, so the leak check sees them.
    if let Err(errno) = nix::sys::prctl::set_child_subreaper(true) {
        eprintln!("cannot become a child subreaper ({errno}); the process leak check needs it");
        std::process::exit(1);
    }
    let targets = match runtimes_under_test(chapter) {
        Ok(targets) => targets,
        Err(error) => {
            eprintln!("cannot build what the checks need: {error:#}");
            std::process::exit(1);
        }
    };
    // Images are built now, before the reaper starts: building them runs busybox.
    if chapter >= 4 {
        if let Err(error) = image_cache(&targets.1) {
            eprintln!("cannot build the test images: {error:#}");
            std::process::exit(1);
        }
    }
    // As init does on a host, reap what is reparented to us and has died, so that a killed
    // container's zombie does not keep its cgroup busy. Started after the builds above:
    // their cargo processes are reaped by std, not by us.
    std::thread::spawn(|| loop {
        reap_zombie_children();
        std::thread::sleep(Duration::from_millis(20));
    });
    match std::env::var("BOXCAR_VERIFY").as_deref() {
        Ok("json") => report_json(&checks, &targets),
        Ok(_) => report_for_learner(chapter, &checks, &targets),
        Err(_) => run_as_tests(&checks, &targets),
    }
}

fn require_root_for_tests() {
    if nix::unistd::geteuid().is_root() {
        return;
    }
    eprintln!(
        "\nERROR: boxcar's behaviour tests must run as root: they create namespaces, mounts and \
         cgroups on the real kernel.\n  Run them through cargo, whose runner uses sudo \
         (.cargo/config.toml):  cargo test\n  or directly:  sudo -E {}\n",
        std::env::args().collect::<Vec<_>>().join(" ")
    );
    std::process::exit(1);
}

/// (runtime, probe) pairs: `BOXCAR_BIN`, or every solution from `chapter` on.
fn runtimes_under_test(chapter: u8) -> Result<(Vec<PathBuf>, PathBuf)> {
    let probe = match std::env::var_os("BOXCAR_PROBE") {
        Some(probe) => PathBuf::from(probe),
        None => build::build_probe()?,
    };
    if let Some(bin) = std::env::var_os("BOXCAR_BIN") {
        return Ok((vec![PathBuf::from(bin)], probe));
    }
    let mut bins = Vec::new();
    for (number, dir) in build::solution_chapters() {
        if number >= chapter {
            let package = format!("ch{number:02}-solution");
            bins.push(
                build::build_binary(&package).with_context(|| format!("in {}", dir.display()))?,
            );
        }
    }
    if bins.is_empty() {
        bail!("no solution for chapter {chapter:02} or later in solutions/");
    }
    Ok((bins, probe))
}

fn run_as_tests(checks: &[Check], targets: &(Vec<PathBuf>, PathBuf)) -> ! {
    let args = libtest_mimic::Arguments::from_args();
    let (bins, probe) = targets;
    let mut trials = Vec::new();
    for bin in bins {
        let runtime = bin
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for check in checks {
            let (check, bin, probe) = (check.clone(), bin.clone(), probe.clone());
            let name = format!("{runtime}::{}", check.name);
            trials.push(libtest_mimic::Trial::test(name, move || {
                run_check(&check, &bin, &probe).map_err(|error| format!("{error:#}").into())
            }));
        }
    }
    let conclusion = libtest_mimic::run(&args, trials);
    remove_image_cache();
    conclusion.exit()
}

/// What `verify` prints: a line per check, ✓ or ✗, why it matters, and a hint on failure.
fn report_for_learner(chapter: u8, checks: &[Check], targets: &(Vec<PathBuf>, PathBuf)) -> ! {
    let (bins, probe) = targets;
    let mut failed = 0;
    for bin in bins {
        let runtime = chapter_of(bin).unwrap_or(chapter);
        println!("chapter {chapter:02}'s checks");
        if runtime > chapter {
            // The hints name an earlier chapter's code, which a starter takes from that
            // chapter's solution: a failure here usually comes from the runtime's own TODOs.
            println!(
                "  (on chapter {runtime:02}'s runtime: these must still pass; if one fails, the detail \
                 usually names a TODO of chapter {runtime:02} — start there)"
            );
        }
        let help = Help::for_runtime(bin, runtime);
        for check in checks {
            match run_check(check, bin, probe) {
                Ok(()) => println!("  ✓ {}\n      why: {}", check.says, check.why),
                Err(error) => {
                    failed += 1;
                    print!("{}", failure_report(check, &error, &help));
                }
            }
        }
    }
    remove_image_cache();
    std::process::exit(if failed == 0 { 0 } else { 1 })
}

/// Where a learner finds help for a failing check: the exercises of the runtime's chapter.
struct Help {
    chapter: u8,
    /// The exercises whose `todo!` is still in the starter (none for a solution).
    to_do: Vec<String>,
    /// Every exercise of the chapter.
    all: Vec<String>,
}

impl Help {
    fn for_runtime(bin: &Path, chapter: u8) -> Help {
        let workspace = build::workspace_dir();
        let is_starter = bin
            .file_name()
            .is_some_and(|name| !name.to_string_lossy().ends_with("-solution"));
        let ids = |list: Vec<crate::hints::Exercise>| list.into_iter().map(|e| e.id).collect();
        Help {
            chapter,
            to_do: if is_starter {
                ids(crate::hints::still_to_do(&workspace, chapter))
            } else {
                Vec::new()
            },
            all: ids(crate::hints::exercises(&workspace, chapter).unwrap_or_default()),
        }
    }

    /// The last line of a failure: which hint to ask for.
    fn line(&self, detail: &str) -> Option<String> {
        use crate::hints::short_id;
        if let Some(id) = crate::hints::exercise_named_in(detail) {
            return Some(format!(
                "more help: cargo boxcar hint {}  (the runtime stopped at the todo!() of exercise {id})",
                short_id(&id)
            ));
        }
        let chapter = self.chapter;
        match self.to_do.as_slice() {
            [] if self.all.is_empty() => None,
            [] => Some(format!(
                "more help: cargo boxcar hint {chapter}-K, for the exercise this is about (chapter \
                 {chapter:02}'s: {})",
                self.all.iter().map(|id| short_id(id)).collect::<Vec<_>>().join(", ")
            )),
            [only] => Some(format!(
                "more help: cargo boxcar hint {}  (the exercise of chapter {chapter:02} still to do)",
                short_id(only)
            )),
            [first, ..] => Some(format!(
                "more help: cargo boxcar hint {}  (chapter {chapter:02}'s exercises still to do: {})",
                short_id(first),
                self.to_do.join(", ")
            )),
        }
    }
}

/// What `verify` prints for a failed check. A leak alone says what was left and nothing else;
/// a snapshot mismatch shows expected and actual; anything else the why, the hint, the detail.
/// Every failure but a leak ends with where to find more help.
fn failure_report(check: &Check, error: &anyhow::Error, help: &Help) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if let Some(Leaked(leaks)) = error.downcast_ref::<Leaked>() {
        let _ = writeln!(
            out,
            "  ✗ {}\n      it works, but the runtime left this behind:",
            check.says
        );
        for leak in leaks {
            let _ = writeln!(out, "      | {leak}");
        }
        return out;
    }
    let _ = writeln!(
        out,
        "  ✗ {}\n      why: {}\n      hint: {}",
        check.says, check.why, check.hint
    );
    let detail = format!("{error:#}");
    if let Some(mismatch) = error.downcast_ref::<SnapshotMismatch>() {
        const MOST: usize = 30;
        for (title, text) in [
            ("expected", &mismatch.expected),
            ("actual", &mismatch.actual),
        ] {
            let _ = writeln!(out, "      {title}:");
            for line in text.lines().take(MOST) {
                let _ = writeln!(out, "      | {line}");
            }
            let more = text.lines().count().saturating_sub(MOST);
            if more > 0 {
                let _ = writeln!(out, "      | … ({more} more lines)");
            }
        }
    } else {
        // A panic's backtrace (under RUST_BACKTRACE) is not for a learner: it ends the detail.
        let useful = detail
            .lines()
            .take_while(|l| !l.starts_with("stack backtrace:"))
            .filter(|l| {
                !l.trim().is_empty() && !l.starts_with("--- ") && !l.starts_with("note: run with")
            });
        for line in useful.take(5) {
            let _ = writeln!(out, "      | {line}");
        }
    }
    if let Some(line) = help.line(&detail) {
        let _ = writeln!(out, "      {line}");
    }
    out
}

/// One JSON object per check, for `cargo boxcar check-starters` and `cargo boxcar mistakes`.
fn report_json(checks: &[Check], targets: &(Vec<PathBuf>, PathBuf)) -> ! {
    let (bins, probe) = targets;
    for bin in bins {
        for check in checks {
            let result = run_check(check, bin, probe);
            let leaked_only = result
                .as_ref()
                .err()
                .is_some_and(|e| e.downcast_ref::<Leaked>().is_some());
            let line = serde_json::json!({
                "name": check.name,
                "says": check.says,
                "needs_pillar": check.needs_pillar,
                "passed": result.is_ok(),
                "leaked_only": leaked_only,
                "detail": result.err().map(|e| format!("{e:#}")),
            });
            println!("{line}");
        }
    }
    remove_image_cache();
    std::process::exit(0)
}

/// The text of a panic's payload.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic".into())
}

/// The host's hostname, read the way `hostname` does (uname(2)).
pub fn host_hostname() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The inode of one of this process's namespaces, e.g. `ns_inode("uts")`.
pub fn ns_inode(kind: &str) -> Result<u64> {
    let link = std::fs::read_link(format!("/proc/self/ns/{kind}"))?;
    let text = link.to_string_lossy();
    let inode = text
        .split_once('[')
        .and_then(|(_, rest)| rest.strip_suffix(']'));
    inode
        .and_then(|i| i.parse().ok())
        .with_context(|| format!("unexpected ns link {text}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check() -> Check {
        Check::pillar("c", "it works", "because", "look at x", |_| Ok(()))
    }

    fn help() -> Help {
        Help {
            chapter: 1,
            to_do: vec!["ch01-2".into(), "ch01-3".into()],
            all: vec!["ch01-1".into(), "ch01-2".into(), "ch01-3".into()],
        }
    }

    #[test]
    fn a_leak_alone_says_what_leaked_and_nothing_else() {
        let error = anyhow::Error::from(Leaked(vec!["mount: /tmp/x".into()]));
        assert_eq!(
            failure_report(&check(), &error, &help()),
            "  ✗ it works\n      it works, but the runtime left this behind:\n      | mount: /tmp/x\n"
        );
    }

    #[test]
    fn a_failure_ends_with_the_hint_to_ask_for() {
        let panicked = anyhow!("expected exit code 0, got 101\nnot yet implemented: exercise ch01-3: see the TODO above");
        let report = failure_report(&check(), &panicked, &help());
        assert!(report.contains("      hint: look at x\n"), "{report}");
        assert!(
            report.ends_with("more help: cargo boxcar hint 1-3  (the runtime stopped at the todo!() of exercise ch01-3)\n"),
            "{report}"
        );
        let plain = failure_report(&check(), &anyhow!("wrong"), &help());
        assert!(
            plain.ends_with("more help: cargo boxcar hint 1-2  (chapter 01's exercises still to do: ch01-2, ch01-3)\n"),
            "{plain}"
        );
    }

    #[test]
    fn a_snapshot_mismatch_shows_expected_and_actual_and_no_path() {
        let error = anyhow::Error::from(SnapshotMismatch {
            name: "diff".into(),
            expected: "A /x".into(),
            actual: "C /x".into(),
        });
        let report = failure_report(&check(), &error, &help());
        assert!(
            report.contains("      expected:\n      | A /x\n      actual:\n      | C /x\n"),
            "{report}"
        );
        assert!(
            !report.contains("tests/") && !report.contains("insta"),
            "{report}"
        );
    }

    #[test]
    fn a_snapshot_body_is_what_follows_its_header() {
        let file =
            "---\nsource: tests/ch06.rs\nexpression: outcome.stdout\n---\nA /added\nC /etc\n\n";
        assert_eq!(snapshot_body(file), "A /added\nC /etc");
    }
}
