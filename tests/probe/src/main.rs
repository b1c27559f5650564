//! boxcar-probe: runs inside a container and prints what it sees as one JSON object on stdout.
//!
//! Behaviour tests start it as the container's command and assert on its output: "pid is 1",
//! "the host's mounts are gone", "only `lo` is up". So every value is read from the kernel's
//! own files (mostly procfs, see proc(5)), never guessed. A field that cannot be read is
//! `null` (or `[]` for "interfaces") and the reason is a line in "errors"; the probe never
//! panics, so even a container without /proc yields a JSON object that says what is missing.
//!
//! The probe is often PID 1 of a new PID namespace (`sh -c '…; exec probe --wait-ms 600'`).
//! It therefore never waits for children and installs no signal handlers: orphans that are
//! re-parented to it stay zombies, which is exactly what a test wants to observe.
//!
//! With `--hog-mb N` it first allocates and touches N MiB, so that a test can watch the
//! kernel's OOM killer enforce a memory cgroup limit (exit status 137, SIGKILL).
//!
//! Built fully static (`-C target-feature=+crt-static`) so it runs in any root filesystem;
//! that is why it uses no glibc function that needs NSS (getpwnam and friends).

use std::ffi::CStr;
use std::hint::black_box;
use std::io::{self, Write};
use std::os::fd::RawFd;
use std::process::ExitCode;
use std::time::Duration;
use std::{env, fs, thread};

use serde_json::{json, Map, Value};

const USAGE: &str = "\
usage: boxcar-probe [--wait-ms N] [--hog-mb N] [--fork-bomb N] [--only FIELD[,FIELD...]] [--help]

Prints what this process sees of the kernel (namespaces, mounts, cgroups,
capabilities, processes, ...) as one JSON object on stdout.

  --wait-ms N      sleep N milliseconds before looking
  --escape-chroot PATH  try the classic chroot escape, then say whether the host
                   path PATH is visible (prints escaped: true or false)
  --deep-tree N DIR  make DIR with N directories nested in it, deeper than PATH_MAX
  --fork-bomb N    try to fork N children that sleep 1.5 s; report how many forks
                   the kernel refused (forked, fork_failed), then reap them
  --hog-mb N       then allocate N MiB and write to every page of it, so it is
                   charged to the memory cgroup (an OOM kill if over the limit);
                   adds hogged_mb to the output if the probe survives
  --listen PORT [N]  listen on TCP PORT (all addresses), print a JSON line once
                   listening, then answer N connections (default 1) with one line, the
                   address the client came from (peer 10.88.0.1:40000), and exit
  --connect HOST:PORT  connect over TCP (3 s timeout) and print JSON: connected,
                   reply (the listener's line), error; exit 1 if it could not
  --only FIELDS    print only these top-level fields (comma-separated)
  --help           print this help

fields: pid ppid uid gid hostname namespaces mounts cgroup cgroup_limits
        capabilities interfaces fds processes cwd env errors";

/// Every top-level field, in the order it is gathered. "errors" comes last so that it holds
/// the failures of every field gathered before it.
const FIELDS: &[&str] = &[
    "pid",
    "ppid",
    "uid",
    "gid",
    "hostname",
    "namespaces",
    "mounts",
    "cgroup",
    "cgroup_limits",
    "capabilities",
    "interfaces",
    "fds",
    "processes",
    "cwd",
    "env",
    "errors",
];

/// What the command line asked for.
#[derive(Debug, PartialEq)]
enum Command {
    Help,
    /// `--escape-chroot PATH`: try the classic chroot escape, then report whether PATH (a
    /// file only the host has) is visible.
    EscapeChroot(String),
    /// `--deep-tree DEPTH DIR`: make DIR and DEPTH directories nested in it, deeper than
    /// PATH_MAX allows a path to be, as a container may; a runtime must still remove them.
    DeepTree(usize, String),
    /// `--listen PORT [N]`: answer N TCP connections on PORT with the peer's address.
    Listen(u16, usize),
    /// `--connect HOST:PORT`: connect and print what the listener said.
    Connect(String),
    Probe {
        wait: Duration,
        /// MiB to allocate and touch before looking (`--hog-mb`); None: allocate nothing.
        hog_mb: Option<usize>,
        /// Children to try to fork, each sleeping a while (`--fork-bomb`); 0: fork none.
        fork_bomb: usize,
        fields: Vec<&'static str>,
    },
}

fn main() -> ExitCode {
    // args_os, not args: a non-UTF-8 argument must be an error message, not a panic.
    let args = env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned());
    let (wait, hog_mb, fork_bomb, fields) = match parse_args(args) {
        Ok(Command::Help) => return print(USAGE),
        Ok(Command::EscapeChroot(marker)) => return print(&escape_chroot(&marker).to_string()),
        Ok(Command::DeepTree(depth, dir)) => return print(&deep_tree(depth, &dir).to_string()),
        Ok(Command::Listen(port, count)) => return listen(port, count),
        Ok(Command::Connect(address)) => return connect(&address),
        Ok(Command::Probe {
            wait,
            hog_mb,
            fork_bomb,
            fields,
        }) => (wait, hog_mb, fork_bomb, fields),
        Err(message) => {
            warn(&message);
            return ExitCode::from(2);
        }
    };
    // Plain sleep: no wait(2), no signal handler, so zombies stay visible (see module doc).
    thread::sleep(wait);
    // Held until the end of main, so the memory stays charged while the probe looks around.
    let mut errors = Vec::new();
    let hogged = hog_mb.map(|mb| hog(mb, &mut errors));
    let bomb = (fork_bomb > 0).then(|| fork_sleepers(fork_bomb));
    let (mut report, errors) = probe(&fields, errors);
    if let Some(chunks) = &hogged {
        report.insert("hogged_mb".to_owned(), json!(chunks.len()));
    }
    if let Some(bomb) = &bomb {
        report.insert("forked".to_owned(), json!(bomb.forked.len()));
        report.insert("fork_failed".to_owned(), json!(bomb.failed));
    }
    // Errors the caller did not ask to see in the JSON still go somewhere a human can read.
    if !fields.contains(&"errors") {
        errors.iter().for_each(|e| warn(e));
    }
    let printed = print(&Value::Object(report).to_string());
    if let Some(bomb) = bomb {
        bomb.reap();
    }
    printed
}

/// The textbook chroot escape (chroot(2), NOTES: "This call does not change the current
/// working directory"): chroot into a subdirectory while the working directory stays
/// outside it, climb with `chdir("..")` — nothing stops us, we are above our root — and
/// chroot to where we end up. Under chroot that is the host's `/`; after pivot_root with
/// the old root detached, the climb ends at the container's own root.
fn escape_chroot(marker: &str) -> Value {
    let attempt = || -> Result<bool, String> {
        let dir = c"/tmp/.boxcar-escape";
        // SAFETY: plain syscalls on C string literals; no memory is shared with the kernel.
        unsafe {
            if libc::mkdir(dir.as_ptr(), 0o700) != 0 && *libc::__errno_location() != libc::EEXIST {
                return Err(format!("mkdir: {}", io::Error::last_os_error()));
            }
            if libc::chroot(dir.as_ptr()) != 0 {
                return Err(format!("chroot: {}", io::Error::last_os_error()));
            }
            for _ in 0..64 {
                libc::chdir(c"..".as_ptr());
            }
            if libc::chroot(c".".as_ptr()) != 0 {
                return Err(format!("chroot .: {}", io::Error::last_os_error()));
            }
        }
        Ok(fs::metadata(marker).is_ok())
    };
    match attempt() {
        Ok(escaped) => json!({ "escaped": escaped, "looked_for": marker }),
        Err(error) => json!({ "escaped": false, "looked_for": marker, "errors": [error] }),
    }
}

/// Make `dir` and `depth` directories `d/d/d/…` in it, one chdir(2) at a time: each step is
/// a one-component relative path, so the tree can be deeper than any path may be long.
fn deep_tree(depth: usize, dir: &str) -> serde_json::Value {
    let attempt = || -> io::Result<usize> {
        fs::create_dir(dir)?;
        std::env::set_current_dir(dir)?;
        for made in 0..depth {
            if let Err(error) = fs::create_dir("d").and_then(|()| std::env::set_current_dir("d")) {
                return Err(io::Error::new(
                    error.kind(),
                    format!("at depth {made}: {error}"),
                ));
            }
        }
        Ok(depth)
    };
    match attempt() {
        Ok(depth) => json!({ "depth": depth }),
        Err(error) => json!({ "depth": 0, "errors": [error.to_string()] }),
    }
}

/// Children forked by `--fork-bomb`: a bounded fork bomb, to see a pids limit hold.
struct Bomb {
    forked: Vec<libc::pid_t>,
    failed: usize,
}

/// How long each child of `--fork-bomb` lives: long enough for every fork to overlap.
const SLEEPER_LIFETIME: Duration = Duration::from_millis(1500);

/// Fork `count` children that sleep [`SLEEPER_LIFETIME`] and exit, counting the forks the
/// kernel refuses (EAGAIN, the pids controller's answer once `pids.max` is reached, see
/// Documentation/admin-guide/cgroup-v1/pids.rst). Bounded on purpose: even without a limit
/// it cannot hurt the host.
fn fork_sleepers(count: usize) -> Bomb {
    let mut bomb = Bomb {
        forked: Vec::new(),
        failed: 0,
    };
    for _ in 0..count {
        // SAFETY: the probe is single-threaded; the child only sleeps and calls _exit(2).
        match unsafe { libc::fork() } {
            0 => {
                thread::sleep(SLEEPER_LIFETIME);
                // SAFETY: _exit ends the child at once, running no destructor of the parent's.
                unsafe { libc::_exit(0) }
            }
            -1 => bomb.failed += 1,
            pid => bomb.forked.push(pid),
        }
    }
    bomb
}

impl Bomb {
    /// Wait for every child forked, so none is left behind.
    fn reap(self) {
        for pid in self.forked {
            // SAFETY: waitpid on our own child; a null status pointer is allowed.
            unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
        }
    }
}

/// `--listen`: the server end of a network test. Each client gets one line naming the
/// address its connection came from, so a test sees where NAT rewrote it.
fn listen(port: u16, count: usize) -> ExitCode {
    let listener = match std::net::TcpListener::bind(("0.0.0.0", port)) {
        Ok(listener) => listener,
        Err(e) => {
            warn(&format!("--listen: cannot listen on port {port}: {e}"));
            return ExitCode::from(1);
        }
    };
    if print(&json!({ "listening": port }).to_string()) != ExitCode::SUCCESS {
        return ExitCode::from(1);
    }
    for _ in 0..count {
        match listener.accept() {
            Ok((mut stream, peer)) => {
                let _ = writeln!(stream, "peer {peer}");
            }
            Err(e) => warn(&format!("--listen: accept failed: {e}")),
        }
    }
    ExitCode::SUCCESS
}

/// `--connect`: the client end. A refused or timed-out connection is a result, not a crash.
fn connect(address: &str) -> ExitCode {
    use std::io::Read;
    use std::net::ToSocketAddrs;
    let attempt = || -> io::Result<String> {
        let target = address
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::other("no address"))?;
        let mut stream = std::net::TcpStream::connect_timeout(&target, Duration::from_secs(3))?;
        stream.set_read_timeout(Some(Duration::from_secs(3)))?;
        let mut reply = String::new();
        stream.read_to_string(&mut reply)?;
        Ok(reply.trim().to_owned())
    };
    let (report, code) = match attempt() {
        Ok(reply) => (json!({"connected": true, "reply": reply, "error": null}), 0),
        Err(e) => (
            json!({"connected": false, "reply": null, "error": e.to_string()}),
            1,
        ),
    };
    let printed = print(&report.to_string());
    if code == 0 {
        printed
    } else {
        ExitCode::from(1)
    }
}

/// Parses the few options by hand; the probe must stay small and dependency-free.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Command, String> {
    let mut wait = Duration::ZERO;
    let mut hog_mb = None;
    let mut fork_bomb = 0;
    let mut fields = FIELDS.to_vec();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--help" | "-h" => return Ok(Command::Help),
            "--wait-ms" => {
                let value = args
                    .next()
                    .ok_or("--wait-ms needs a number of milliseconds")?;
                let ms = value
                    .parse()
                    .map_err(|_| format!("--wait-ms: `{value}` is not a number of milliseconds"))?;
                wait = Duration::from_millis(ms);
            }
            "--escape-chroot" => {
                let marker = args
                    .next()
                    .ok_or("--escape-chroot needs a host path to look for")?;
                return Ok(Command::EscapeChroot(marker));
            }
            "--deep-tree" => {
                let depth = args
                    .next()
                    .ok_or("--deep-tree needs a depth and a directory")?;
                let depth = depth
                    .parse()
                    .map_err(|_| format!("--deep-tree: `{depth}` is not a depth"))?;
                let dir = args.next().ok_or("--deep-tree needs a directory")?;
                return Ok(Command::DeepTree(depth, dir));
            }
            "--listen" => {
                let port = args.next().ok_or("--listen needs a port")?;
                let port = port
                    .parse()
                    .map_err(|_| format!("--listen: `{port}` is not a port"))?;
                let count = match args.next() {
                    Some(n) => n
                        .parse()
                        .map_err(|_| format!("--listen: `{n}` is not a number of connections"))?,
                    None => 1,
                };
                return Ok(Command::Listen(port, count));
            }
            "--connect" => {
                let address = args.next().ok_or("--connect needs HOST:PORT")?;
                return Ok(Command::Connect(address));
            }
            "--fork-bomb" => {
                let value = args
                    .next()
                    .ok_or("--fork-bomb needs a number of children")?;
                fork_bomb = value
                    .parse()
                    .map_err(|_| format!("--fork-bomb: `{value}` is not a number of children"))?;
            }
            "--hog-mb" => {
                let value = args.next().ok_or("--hog-mb needs a number of MiB")?;
                let mb = value
                    .parse()
                    .map_err(|_| format!("--hog-mb: `{value}` is not a number of MiB"))?;
                hog_mb = Some(mb);
            }
            "--only" => {
                let value = args
                    .next()
                    .ok_or("--only needs a list of fields, e.g. pid,mounts")?;
                fields = parse_only(&value)?;
            }
            other => return Err(format!("unknown argument `{other}` (try --help)")),
        }
    }
    Ok(Command::Probe {
        wait,
        hog_mb,
        fork_bomb,
        fields,
    })
}

/// Checks each requested field name and returns them in gathering order, so that
/// "errors", if asked for, is still gathered last.
fn parse_only(list: &str) -> Result<Vec<&'static str>, String> {
    if let Some(unknown) = list.split(',').find(|name| !FIELDS.contains(name)) {
        return Err(format!("--only: unknown field `{unknown}` (try --help)"));
    }
    let wanted: Vec<&str> = list.split(',').collect();
    Ok(FIELDS
        .iter()
        .copied()
        .filter(|f| wanted.contains(f))
        .collect())
}

/// Allocates `mb` MiB in 1 MiB chunks and writes 0xA5 to every byte, so every page is
/// really faulted in and charged to this process's memory cgroup (a zeroed allocation would
/// not be: calloc can hand out untouched pages). Under a memory limit the kernel's OOM killer
/// ends the probe here with SIGKILL, which is the point.
///
/// Allocation uses `try_reserve` so that a refused allocation is an error line, not an abort;
/// the chunks allocated so far are returned (their count is what was hogged).
fn hog(mb: usize, errors: &mut Vec<String>) -> Vec<Vec<u8>> {
    const MIB: usize = 1 << 20;
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    if let Err(e) = chunks.try_reserve_exact(mb) {
        errors.push(format!(
            "--hog-mb {mb}: cannot allocate the chunk list: {e}"
        ));
        return chunks;
    }
    for _ in 0..mb {
        let mut chunk = Vec::new();
        if let Err(e) = chunk.try_reserve_exact(MIB) {
            errors.push(format!(
                "--hog-mb {mb}: allocation failed after {} MiB: {e}",
                chunks.len()
            ));
            break;
        }
        chunk.resize(MIB, 0xA5);
        // black_box: the optimiser must assume the bytes are read, so the writes stay.
        chunks.push(black_box(chunk));
    }
    black_box(chunks)
}

/// Gathers the requested fields. Failures are collected, never raised: a probe that crashes
/// tells a test nothing, one that says "cannot read /proc/self/mountinfo" tells it why.
/// `errors` may already hold failures from before the gathering (`--hog-mb`).
fn probe(fields: &[&str], mut errors: Vec<String>) -> (Map<String, Value>, Vec<String>) {
    let mut report = Map::new();
    for &field in fields {
        let value = match field {
            "pid" => json!(std::process::id()),
            "ppid" => json!(std::os::unix::process::parent_id()),
            // SAFETY: getuid(2) and getgid(2) cannot fail and touch no memory of ours.
            "uid" => json!(unsafe { libc::getuid() }),
            "gid" => json!(unsafe { libc::getgid() }),
            "hostname" => hostname(&mut errors),
            "namespaces" => namespaces(&mut errors),
            "mounts" => mounts(&mut errors),
            "cgroup" => cgroups(&mut errors),
            "cgroup_limits" => cgroup_limits(&mut errors),
            "capabilities" => capabilities(&mut errors),
            "interfaces" => interfaces(&mut errors),
            "fds" => fds(&mut errors),
            "processes" => processes(&mut errors),
            "cwd" => cwd(&mut errors),
            "env" => environment(),
            "errors" => json!(errors),
            _ => continue, // parse_only admits only names from FIELDS
        };
        report.insert(field.to_owned(), value);
    }
    (report, errors)
}

// ---------------------------------------------------------------------------------------
// Gatherers: each reads one kernel file or directory and records why if it cannot.
// ---------------------------------------------------------------------------------------

/// The nodename of the UTS namespace this process is in, from gethostname(2).
fn hostname(errors: &mut Vec<String>) -> Value {
    // HOST_NAME_MAX is 64; the spare room guarantees a terminating NUL.
    let mut buf = [0u8; 256];
    // SAFETY: buf is valid for writes of buf.len() bytes.
    if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } != 0 {
        errors.push(format!(
            "gethostname failed: {}",
            io::Error::last_os_error()
        ));
        return Value::Null;
    }
    match CStr::from_bytes_until_nul(&buf) {
        Ok(name) => json!(name.to_string_lossy()),
        Err(_) => {
            errors.push("gethostname returned a name without a NUL".to_owned());
            Value::Null
        }
    }
}

/// One inode number per namespace type. Two processes are in the same namespace exactly
/// when these numbers (on the same nsfs device) are equal — see namespaces(7).
fn namespaces(errors: &mut Vec<String>) -> Value {
    const DIR: &str = "/proc/self/ns";
    let names = match list_dir(DIR) {
        Ok(names) => names,
        Err(e) => return failed(errors, DIR, &e),
    };
    let mut map = Map::new();
    for name in names {
        let path = format!("{DIR}/{name}");
        match fs::read_link(&path) {
            Ok(target) => match parse_ns_link(&target.to_string_lossy()) {
                Some(inode) => {
                    map.insert(name, json!(inode));
                }
                None => errors.push(format!("{path}: unexpected link target {target:?}")),
            },
            // Skip this namespace but say so: the others are still worth reporting.
            Err(e) => errors.push(format!("cannot read link {path}: {e}")),
        }
    }
    Value::Object(map)
}

/// Every mount this process's mount namespace holds, from /proc/self/mountinfo.
fn mounts(errors: &mut Vec<String>) -> Value {
    parse_lines("/proc/self/mountinfo", parse_mountinfo_line, errors)
}

/// The cgroup(s) this process is in, one line per hierarchy, from /proc/self/cgroup.
fn cgroups(errors: &mut Vec<String>) -> Value {
    parse_lines("/proc/self/cgroup", parse_cgroup_line, errors)
}

/// The limits of the cgroups this process is in, as the kernel's own limit files state them:
/// memory, pids and CPU bandwidth. The value is an object such as
/// `{"version": 1, "memory_max": "52428800", "pids_max": "max", "cpu_quota_us": "-1",
/// "cpu_period_us": "100000", "memory_path": "/sys/fs/cgroup/memory/x"}`; each value is the
/// file's text, trimmed, and a key is present only if its file could be read.
///
/// The cgroup of each hierarchy comes from /proc/self/cgroup, the directory it is shown at
/// from /proc/self/mountinfo (cgroups(7), proc(5)). cgroup v1 (files described in the
/// kernel's Documentation/admin-guide/cgroup-v1/memory.rst and pids.rst, and
/// Documentation/scheduler/sched-bwc.rst): memory.limit_in_bytes, pids.max,
/// cpu.cfs_quota_us and cpu.cfs_period_us, each in the hierarchy of its controller.
/// cgroup v2 (Documentation/admin-guide/cgroup-v2.rst): memory.max, pids.max and cpu.max,
/// all in the one unified directory.
///
/// A hybrid host has both: v1 controllers and a cgroup2 hierarchy that may have none. v1 is
/// tried first if a v1 hierarchy has the memory controller, v2 first otherwise, and the other
/// only if the first yields no file at all. A missing file is normal (a controller that is
/// not mounted or not enabled), so it is an error only if no file at all could be read.
fn cgroup_limits(errors: &mut Vec<String>) -> Value {
    const CGROUP: &str = "/proc/self/cgroup";
    const MOUNTINFO: &str = "/proc/self/mountinfo";
    let cgroup = match read_text(CGROUP) {
        Ok(text) => text,
        Err(e) => return failed(errors, CGROUP, &e),
    };
    let mountinfo = match read_text(MOUNTINFO) {
        Ok(text) => text,
        Err(e) => return failed(errors, MOUNTINFO, &e),
    };
    let lines: Vec<CgroupLine> = cgroup.lines().filter_map(split_cgroup_line).collect();
    let v1_memory = lines
        .iter()
        .any(|line| line.controllers.contains(&"memory"));
    let order = if v1_memory { [1, 2] } else { [2, 1] };
    let mut missing = Vec::new();
    for version in order {
        let mut limits = match version {
            1 => v1_limits(&lines, &mountinfo, &mut missing, errors),
            _ => v2_limits(&lines, &mountinfo, &mut missing, errors),
        };
        if !limits.is_empty() {
            limits.insert("version".to_owned(), json!(version));
            return Value::Object(limits);
        }
    }
    if missing.is_empty() {
        missing.push(format!(
            "no cgroup limits: {CGROUP} names no memory, pids or cpu cgroup that {MOUNTINFO} shows"
        ));
    }
    errors.append(&mut missing);
    Value::Null
}

/// The cgroup v1 limits: each controller's file in that controller's own hierarchy, found
/// through the `cgroup` mount whose superblock options name the controller.
fn v1_limits(
    lines: &[CgroupLine],
    mountinfo: &str,
    missing: &mut Vec<String>,
    errors: &mut Vec<String>,
) -> Map<String, Value> {
    const LIMITS: &[(&str, &[(&str, &str)])] = &[
        ("memory", &[("memory.limit_in_bytes", "memory_max")]),
        ("pids", &[("pids.max", "pids_max")]),
        (
            "cpu",
            &[
                ("cpu.cfs_quota_us", "cpu_quota_us"),
                ("cpu.cfs_period_us", "cpu_period_us"),
            ],
        ),
    ];
    let mut limits = Map::new();
    for &(controller, files) in LIMITS {
        // Not in a hierarchy with this controller: there is no limit to read.
        let Some(line) = lines.iter().find(|l| l.controllers.contains(&controller)) else {
            continue;
        };
        let Some(mount) = v1_mount(mountinfo, controller) else {
            missing.push(format!("no cgroup v1 mount of the {controller} controller"));
            continue;
        };
        let Some(dir) = cgroup_dir(&mount, line.path) else {
            missing.push(outside(controller, line.path, &mount));
            continue;
        };
        for &(file, key) in files {
            read_limit(&dir, file, key, &mut limits, missing, errors);
        }
        if controller == "memory" && limits.contains_key("memory_max") {
            limits.insert("memory_path".to_owned(), json!(dir));
        }
    }
    limits
}

/// The cgroup v2 limits: all in the directory of the `0::/path` cgroup under the cgroup2
/// mount. A controller that the parent did not enable has no files there.
fn v2_limits(
    lines: &[CgroupLine],
    mountinfo: &str,
    missing: &mut Vec<String>,
    errors: &mut Vec<String>,
) -> Map<String, Value> {
    let mut limits = Map::new();
    let unified = lines
        .iter()
        .find(|l| l.hierarchy == 0 && l.controllers.is_empty());
    let Some(line) = unified else {
        return limits; // not in a cgroup v2 hierarchy: nothing to read
    };
    let Some(mount) = v2_mount(mountinfo) else {
        missing.push("no cgroup2 mount".to_owned());
        return limits;
    };
    let Some(dir) = cgroup_dir(&mount, line.path) else {
        missing.push(outside("cgroup2", line.path, &mount));
        return limits;
    };
    let files = [
        ("memory.max", "memory_max"),
        ("pids.max", "pids_max"),
        ("cpu.max", "cpu_max"),
    ];
    for (file, key) in files {
        read_limit(&dir, file, key, &mut limits, missing, errors);
    }
    if limits.contains_key("memory_max") {
        limits.insert("memory_path".to_owned(), json!(dir));
    }
    limits
}

/// Reads `dir/file` into `limits[key]`. A file that does not exist goes to `missing` (only
/// reported if no limit is found at all); any other failure is an error straight away.
fn read_limit(
    dir: &str,
    file: &str,
    key: &str,
    limits: &mut Map<String, Value>,
    missing: &mut Vec<String>,
    errors: &mut Vec<String>,
) {
    let path = format!("{dir}/{file}");
    match read_text(&path) {
        Ok(text) => {
            limits.insert(key.to_owned(), json!(text.trim()));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            missing.push(format!("cannot read {path}: {e}"));
        }
        Err(e) => errors.push(format!("cannot read {path}: {e}")),
    }
}

/// Says that a cgroup is not below the part of its hierarchy that a mount shows.
fn outside(hierarchy: &str, path: &str, mount: &CgroupMount) -> String {
    format!(
        "{hierarchy} cgroup {path} is outside the mount at {} (root {})",
        mount.mount_point, mount.root
    )
}

/// The capability sets and the other privilege limits the kernel reports in
/// /proc/self/status: capabilities(7), PR_SET_NO_NEW_PRIVS in prctl(2), seccomp(2).
fn capabilities(errors: &mut Vec<String>) -> Value {
    const STATUS: &str = "/proc/self/status";
    let status = match read_text(STATUS) {
        Ok(text) => text,
        Err(e) => return failed(errors, STATUS, &e),
    };
    let mut caps = Map::new();
    let sets = [
        ("CapEff", "effective"),
        ("CapPrm", "permitted"),
        ("CapBnd", "bounding"),
    ];
    for (key, name) in sets {
        match status_field(&status, key) {
            Some(mask) => {
                caps.insert(name.to_owned(), json!(mask));
            }
            None => errors.push(format!("{STATUS} has no {key} line")),
        }
    }
    // Both lines are newer than the capability sets (Linux 4.10 and 3.8): absent is no error.
    if let Some(value) = status_field(&status, "NoNewPrivs") {
        match value {
            "0" | "1" => {
                caps.insert("no_new_privs".to_owned(), json!(value == "1"));
            }
            _ => errors.push(format!("{STATUS}: NoNewPrivs is {value:?}, not 0 or 1")),
        }
    }
    if let Some(value) = status_field(&status, "Seccomp") {
        match value.parse::<u8>() {
            Ok(mode) => {
                caps.insert("seccomp".to_owned(), json!(mode));
            }
            Err(_) => errors.push(format!("{STATUS}: Seccomp is {value:?}, not a mode number")),
        }
    }
    Value::Object(caps)
}

/// The network interfaces of this process's network namespace.
///
/// /proc/net/dev is read first because /proc/net links to /proc/self/net: it always shows
/// the reader's own network namespace. /sys/class/net is only the fallback: sysfs shows the
/// network namespace of whoever *mounted* it, so a container that kept the host's /sys
/// would list the host's interfaces there.
fn interfaces(errors: &mut Vec<String>) -> Value {
    const PROC_NET_DEV: &str = "/proc/net/dev";
    const SYS_CLASS_NET: &str = "/sys/class/net";
    let names = match read_text(PROC_NET_DEV) {
        Ok(text) => parse_net_dev(&text),
        Err(proc_err) => match list_dir(SYS_CLASS_NET) {
            Ok(names) => names,
            Err(sys_err) => {
                errors.push(format!("cannot read {PROC_NET_DEV}: {proc_err}"));
                errors.push(format!("cannot read {SYS_CLASS_NET}: {sys_err}"));
                Vec::new()
            }
        },
    };
    json!(names)
}

/// The open file descriptors and what each refers to.
///
/// Reading /proc/self/fd needs a descriptor of its own, which would show up in the listing;
/// so the directory is opened with opendir(3), its number learnt with dirfd(3) and left out.
fn fds(errors: &mut Vec<String>) -> Value {
    const DIR: &str = "/proc/self/fd";
    let listing = Dir::open(c"/proc/self/fd").and_then(|mut dir| Ok((dir.fd(), dir.names()?)));
    let (own, names) = match listing {
        Ok(listing) => listing,
        Err(e) => return failed(errors, DIR, &e),
    };
    let mut fds = Vec::new();
    let numbers = names.iter().filter_map(|name| name.parse::<RawFd>().ok());
    for fd in numbers.filter(|fd| *fd != own) {
        match fs::read_link(format!("{DIR}/{fd}")) {
            Ok(target) => fds.push(json!({ "fd": fd, "target": target.to_string_lossy() })),
            Err(e) => errors.push(format!("cannot read link {DIR}/{fd}: {e}")),
        }
    }
    fds.sort_by_key(|entry| entry["fd"].as_i64());
    Value::Array(fds)
}

/// Every process of the PID namespace that /proc was mounted for (proc(5)): this is how a
/// test sees PID isolation, and the zombies a PID 1 has not reaped.
fn processes(errors: &mut Vec<String>) -> Value {
    const PROC: &str = "/proc";
    let names = match list_dir(PROC) {
        Ok(names) => names,
        Err(e) => return failed(errors, PROC, &e),
    };
    let mut procs = Vec::new();
    for pid in names.iter().filter_map(|name| name.parse::<u32>().ok()) {
        let path = format!("{PROC}/{pid}/stat");
        match read_text(&path) {
            Ok(stat) => match parse_stat(&stat) {
                Some(process) => procs.push(process),
                None => unexpected(errors, &path, stat.trim_end()),
            },
            Err(e) if vanished(&e) => {} // it exited between listing and reading
            Err(e) => errors.push(format!("cannot read {path}: {e}")),
        }
    }
    procs.sort_by_key(|p| p["pid"].as_u64());
    Value::Array(procs)
}

/// The working directory as the kernel resolves it, relative to this process's root.
fn cwd(errors: &mut Vec<String>) -> Value {
    const CWD: &str = "/proc/self/cwd";
    match fs::read_link(CWD) {
        Ok(path) => json!(path.to_string_lossy()),
        Err(e) => failed(errors, CWD, &e),
    }
}

/// The environment the runtime gave this process.
fn environment() -> Value {
    let vars = env::vars_os().map(|(k, v)| {
        let value = Value::String(v.to_string_lossy().into_owned());
        (k.to_string_lossy().into_owned(), value)
    });
    Value::Object(vars.collect())
}

// ---------------------------------------------------------------------------------------
// Parsers: pure functions over the kernel's text formats, unit-tested below.
// ---------------------------------------------------------------------------------------

/// Parses a /proc/PID/ns/* link target, `"uts:[4026531838]"`, into its inode number.
fn parse_ns_link(target: &str) -> Option<u64> {
    let (_kind, rest) = target.split_once(":[")?;
    rest.strip_suffix(']')?.parse().ok()
}

/// Parses one line of /proc/PID/mountinfo. proc(5) gives the format:
///
/// ```text
/// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
/// (1)(2)(3)   (4)   (5)      (6)      (7)   (8)  (9)    (10)         (11)
/// ```
///
/// (5) is the mount point, (6) the per-mount options; (7) is zero or more optional fields
/// ended by the lone "-" (8); then the filesystem type (9), the source (10) and the
/// superblock options (11).
fn parse_mountinfo_line(line: &str) -> Option<Value> {
    let mut fields = line.split(' ');
    let mount_point = fields.nth(4)?;
    let options = fields.next()?;
    let mut after_separator = fields.skip_while(|field| *field != "-").skip(1);
    let fstype = after_separator.next()?;
    let source = after_separator.next()?;
    Some(json!({
        "mount_point": unescape_octal(mount_point),
        "fstype": unescape_octal(fstype),
        "source": unescape_octal(source),
        "options": options,
    }))
}

/// Undoes the kernel's escaping in mountinfo: space, tab, newline and backslash are written
/// as three octal digits (`\040`, `\011`, `\012`, `\134`) so that fields stay space-separated.
fn unescape_octal(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let digits = bytes.get(i + 1..i + 4);
        let octal = digits.filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (bytes[i], octal) {
            (b'\\', Some(d)) => {
                // Three octal digits fit in 9 bits; the kernel only writes values below \200.
                let value = d.iter().fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
                out.push(value as u8);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses one line of /proc/PID/cgroup, `hierarchy-ID:controller-list:cgroup-path`
/// (proc(5), cgroups(7)). cgroup v1 lines name their controllers (`4:cpu,cpuacct:/x`);
/// the cgroup v2 line has hierarchy 0 and an empty list (`0::/x`).
fn parse_cgroup_line(line: &str) -> Option<Value> {
    let CgroupLine {
        hierarchy,
        controllers,
        path,
    } = split_cgroup_line(line)?;
    Some(json!({ "hierarchy": hierarchy, "controllers": controllers, "path": path }))
}

/// One line of /proc/PID/cgroup, split into its three parts.
#[derive(Debug, PartialEq)]
struct CgroupLine<'a> {
    hierarchy: u64,
    controllers: Vec<&'a str>,
    path: &'a str,
}

/// Splits a /proc/PID/cgroup line (see `parse_cgroup_line`).
fn split_cgroup_line(line: &str) -> Option<CgroupLine<'_>> {
    // At most three parts: a cgroup path may itself contain ':'.
    let mut parts = line.splitn(3, ':');
    let hierarchy: u64 = parts.next()?.parse().ok()?;
    let controllers: Vec<&str> = parts.next()?.split(',').filter(|c| !c.is_empty()).collect();
    let path = parts.next()?;
    Some(CgroupLine {
        hierarchy,
        controllers,
        path,
    })
}

/// Where a cgroup hierarchy is mounted: `root` is the cgroup the mount shows (field 4 of
/// mountinfo, `/` unless a container was given only its own subtree), `mount_point` where.
#[derive(Debug, PartialEq)]
struct CgroupMount {
    root: String,
    mount_point: String,
}

/// The first cgroup v1 mount of `controller`: fstype `cgroup` and the controller among the
/// superblock options, e.g. `rw,cpu,cpuacct` for the co-mounted `/sys/fs/cgroup/cpu,cpuacct`
/// (cgroups(7)). Options are compared whole, so `cpu` does not find `cpuset`.
fn v1_mount(mountinfo: &str, controller: &str) -> Option<CgroupMount> {
    find_mount(mountinfo, |fstype, options| {
        fstype == "cgroup" && options.split(',').any(|option| option == controller)
    })
}

/// The first cgroup v2 mount (fstype `cgroup2`).
fn v2_mount(mountinfo: &str) -> Option<CgroupMount> {
    find_mount(mountinfo, |fstype, _| fstype == "cgroup2")
}

/// The first mountinfo line for which `wanted(fstype, superblock options)` holds; the line
/// format is described at `parse_mountinfo_line`.
fn find_mount(mountinfo: &str, wanted: impl Fn(&str, &str) -> bool) -> Option<CgroupMount> {
    mountinfo.lines().find_map(|line| {
        let mut fields = line.split(' ');
        let root = fields.nth(3)?;
        let mount_point = fields.next()?;
        let mut after_separator = fields.skip_while(|field| *field != "-").skip(1);
        let fstype = after_separator.next()?;
        let super_options = after_separator.nth(1)?;
        wanted(fstype, super_options).then(|| CgroupMount {
            root: unescape_octal(root),
            mount_point: unescape_octal(mount_point),
        })
    })
}

/// The directory at which `mount` shows the cgroup `path` (as /proc/self/cgroup gives it,
/// relative to the hierarchy's root), or None if the mount shows only another subtree.
fn cgroup_dir(mount: &CgroupMount, path: &str) -> Option<String> {
    let relative = match mount.root.trim_end_matches('/') {
        "" => path,
        root => path
            .strip_prefix(root)
            .filter(|rest| rest.is_empty() || rest.starts_with('/'))?,
    };
    let relative = relative.trim_matches('/');
    let base = mount.mount_point.trim_end_matches('/');
    Some(match relative {
        "" if base.is_empty() => "/".to_owned(),
        "" => base.to_owned(),
        _ => format!("{base}/{relative}"),
    })
}

/// Parses the start of /proc/PID/stat, `pid (comm) state ppid …` (proc(5)).
///
/// comm is whatever the process named itself (up to 15 bytes) and may contain spaces and
/// parentheses, so it runs from the first '(' to the *last* ')'; the fields after it are
/// space-separated numbers and single letters, safe to split.
fn parse_stat(stat: &str) -> Option<Value> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let pid: u32 = stat[..open].trim().parse().ok()?;
    let comm = stat.get(open + 1..close)?;
    let mut rest = stat[close + 1..].split_whitespace();
    let state = rest.next()?;
    let ppid: u32 = rest.next()?.parse().ok()?;
    Some(json!({ "pid": pid, "ppid": ppid, "state": state, "comm": comm }))
}

/// Finds `Key:<whitespace>value` in /proc/PID/status and returns the trimmed value.
fn status_field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    let value = status
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'));
    value.map(str::trim)
}

/// Interface names from /proc/net/dev: two header lines, then `  name: counters…` per
/// interface. Sorted so the output does not depend on interface creation order.
fn parse_net_dev(text: &str) -> Vec<String> {
    let mut names: Vec<String> = text
        .lines()
        .skip(2)
        .filter_map(|line| Some(line.split_once(':')?.0.trim().to_owned()))
        .collect();
    names.sort();
    names
}

// ---------------------------------------------------------------------------------------
// Small helpers.
// ---------------------------------------------------------------------------------------

/// Reads a file whose lines each describe one thing, parsing each line with `parse`.
/// Lines that do not parse are reported, not dropped silently.
fn parse_lines(path: &str, parse: fn(&str) -> Option<Value>, errors: &mut Vec<String>) -> Value {
    let text = match read_text(path) {
        Ok(text) => text,
        Err(e) => return failed(errors, path, &e),
    };
    let mut items = Vec::new();
    for line in text.lines().filter(|line| !line.is_empty()) {
        match parse(line) {
            Some(item) => items.push(item),
            None => unexpected(errors, path, line),
        }
    }
    Value::Array(items)
}

/// Reads a kernel text file. Lossy, because names chosen by users (paths, comm) need not be
/// UTF-8, and one odd name must not hide the whole file.
fn read_text(path: &str) -> io::Result<String> {
    fs::read(path).map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

/// Directory entry names, sorted so the output is the same from run to run.
fn list_dir(path: &str) -> io::Result<Vec<String>> {
    let mut names = fs::read_dir(path)?
        .map(|entry| Ok(entry?.file_name().to_string_lossy().into_owned()))
        .collect::<io::Result<Vec<_>>>()?;
    names.sort();
    Ok(names)
}

/// True when a /proc/PID file failed because that process is gone (ENOENT once its
/// directory is removed, ESRCH while it is being torn down).
fn vanished(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::NotFound || error.raw_os_error() == Some(libc::ESRCH)
}

/// Records that `path` could not be read; the field becomes null.
fn failed(errors: &mut Vec<String>, path: &str, error: &io::Error) -> Value {
    errors.push(format!("cannot read {path}: {error}"));
    Value::Null
}

/// Records a line of `path` that is not in the format proc(5) describes.
fn unexpected(errors: &mut Vec<String>, path: &str, line: &str) {
    errors.push(format!("{path}: unexpected line {line:?}"));
}

/// Writes to stdout without panicking if stdout is closed (println! would panic).
fn print(text: &str) -> ExitCode {
    match writeln!(io::stdout().lock(), "{text}") {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            warn(&format!("cannot write to stdout: {e}"));
            ExitCode::FAILURE
        }
    }
}

/// One line on stderr; a failure to write it has nowhere left to be reported.
fn warn(message: &str) {
    let _ = writeln!(io::stderr().lock(), "boxcar-probe: {message}");
}

/// A directory stream from opendir(3), closed when dropped.
///
/// std's `ReadDir` hides its descriptor; the fd listing needs to know it (see `fds`).
struct Dir(*mut libc::DIR);

impl Dir {
    fn open(path: &CStr) -> io::Result<Dir> {
        // SAFETY: path is a valid NUL-terminated string.
        let dir = unsafe { libc::opendir(path.as_ptr()) };
        if dir.is_null() {
            return Err(io::Error::last_os_error());
        }
        Ok(Dir(dir))
    }

    /// The descriptor this stream reads through.
    fn fd(&self) -> RawFd {
        // SAFETY: self.0 is an open directory stream.
        unsafe { libc::dirfd(self.0) }
    }

    /// All entry names, including "." and "..".
    fn names(&mut self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        loop {
            // readdir(3) returns NULL both at the end and on error; only errno tells them
            // apart, so it is cleared first.
            // SAFETY: errno is thread-local; self.0 is an open stream; a non-NULL entry
            // points to a dirent whose d_name is NUL-terminated and valid until the next call.
            unsafe { *libc::__errno_location() = 0 };
            let entry = unsafe { libc::readdir(self.0) };
            if entry.is_null() {
                let error = io::Error::last_os_error();
                return match error.raw_os_error() {
                    Some(0) | None => Ok(names),
                    Some(_) => Err(error),
                };
            }
            let name = unsafe { CStr::from_ptr((*entry).d_name.as_ptr()) };
            names.push(name.to_string_lossy().into_owned());
        }
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        // SAFETY: self.0 came from a successful opendir and is closed only here.
        unsafe { libc::closedir(self.0) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ns_link_target_gives_its_inode() {
        assert_eq!(parse_ns_link("uts:[4026531838]"), Some(4026531838));
        assert_eq!(
            parse_ns_link("pid_for_children:[4026532201]"),
            Some(4026532201)
        );
        assert_eq!(parse_ns_link("uts:4026531838"), None);
        assert_eq!(parse_ns_link("uts:[]"), None);
    }

    #[test]
    fn mountinfo_line_with_optional_fields_and_an_escaped_space() {
        let line = "36 35 98:0 /mnt1 /mnt\\0402 rw,noatime master:1 shared:7 - ext3 /dev/my\\040disk rw,errors=continue";
        let expected = json!({
            "mount_point": "/mnt 2",
            "fstype": "ext3",
            "source": "/dev/my disk",
            "options": "rw,noatime",
        });
        assert_eq!(parse_mountinfo_line(line), Some(expected));
    }

    #[test]
    fn mountinfo_line_without_optional_fields() {
        let line = "22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw";
        let mount = parse_mountinfo_line(line).expect("parses");
        assert_eq!(mount["mount_point"], "/proc");
        assert_eq!(mount["fstype"], "proc");
        assert_eq!(mount["options"], "rw,nosuid,nodev,noexec,relatime");
    }

    #[test]
    fn mountinfo_line_without_separator_is_rejected() {
        assert_eq!(
            parse_mountinfo_line("22 1 0:21 / /proc rw proc proc rw"),
            None
        );
    }

    #[test]
    fn octal_escapes_are_undone_and_other_backslashes_kept() {
        assert_eq!(unescape_octal(r"a\040b\011c\012d\134e"), "a b\tc\nd\\e");
        assert_eq!(unescape_octal(r"tail\04"), r"tail\04");
        assert_eq!(unescape_octal(r"\x41"), r"\x41");
    }

    #[test]
    fn stat_with_parentheses_and_spaces_in_comm() {
        let stat = "4242 (a) b (c) d) S 1 4242 4242 0 -1 4194560 93 0 0 0 0 0";
        let expected = json!({ "pid": 4242, "ppid": 1, "state": "S", "comm": "a) b (c) d" });
        assert_eq!(parse_stat(stat), Some(expected));
    }

    #[test]
    fn stat_of_a_zombie() {
        let stat = "7 (sleep) Z 1 7 7 0 -1 4227084 0 0 0 0 0 0\n";
        assert_eq!(parse_stat(stat).expect("parses")["state"], "Z");
    }

    #[test]
    fn cgroup_v1_line() {
        let expected = json!({
            "hierarchy": 4,
            "controllers": ["cpu", "cpuacct"],
            "path": "/user.slice",
        });
        assert_eq!(
            parse_cgroup_line("4:cpu,cpuacct:/user.slice"),
            Some(expected)
        );
        let named = parse_cgroup_line("1:name=systemd:/init.scope").expect("parses");
        assert_eq!(named["controllers"], json!(["name=systemd"]));
    }

    #[test]
    fn cgroup_v2_line_has_no_controllers_and_may_contain_colons() {
        let expected = json!({ "hierarchy": 0, "controllers": [], "path": "/boxcar/a:b" });
        assert_eq!(parse_cgroup_line("0::/boxcar/a:b"), Some(expected));
        assert_eq!(parse_cgroup_line("garbage"), None);
    }

    #[test]
    fn status_fields_are_found_by_exact_key() {
        let status = "CapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nNoNewPrivs:\t1\n";
        assert_eq!(status_field(status, "CapPrm"), Some("000001ffffffffff"));
        assert_eq!(status_field(status, "NoNewPrivs"), Some("1"));
        assert_eq!(status_field(status, "Cap"), None);
    }

    #[test]
    fn net_dev_names() {
        let text = "Inter-|   Receive\n face |bytes\n  eth0: 1 2 3\n    lo:123 4 5\n";
        assert_eq!(parse_net_dev(text), ["eth0", "lo"]);
    }

    #[test]
    fn arguments() {
        let args = |list: &[&str]| parse_args(list.iter().map(|s| s.to_string()));
        let all = Command::Probe {
            wait: Duration::ZERO,
            hog_mb: None,
            fork_bomb: 0,
            fields: FIELDS.to_vec(),
        };
        assert_eq!(args(&[]), Ok(all));
        assert_eq!(args(&["--help"]), Ok(Command::Help));
        let only = args(&["--wait-ms", "600", "--only", "errors,pid"]);
        let expected = Command::Probe {
            wait: Duration::from_millis(600),
            hog_mb: None,
            fork_bomb: 0,
            fields: vec!["pid", "errors"],
        };
        assert_eq!(only, Ok(expected));
        assert!(args(&["--wait-ms"]).is_err());
        assert!(args(&["--wait-ms", "soon"]).is_err());
        assert!(args(&["--only", "pid,nope"]).is_err());
        assert!(args(&["--verbose"]).is_err());
        assert_eq!(args(&["--listen", "80"]), Ok(Command::Listen(80, 1)));
        assert_eq!(args(&["--listen", "80", "2"]), Ok(Command::Listen(80, 2)));
        assert!(args(&["--listen", "http"]).is_err());
        assert_eq!(
            args(&["--connect", "10.0.0.1:80"]),
            Ok(Command::Connect("10.0.0.1:80".into()))
        );
    }

    #[test]
    fn hog_argument() {
        let args = |list: &[&str]| parse_args(list.iter().map(|s| s.to_string()));
        let hog = args(&[
            "--wait-ms",
            "5",
            "--hog-mb",
            "100",
            "--only",
            "cgroup_limits",
        ]);
        let expected = Command::Probe {
            wait: Duration::from_millis(5),
            hog_mb: Some(100),
            fork_bomb: 0,
            fields: vec!["cgroup_limits"],
        };
        assert_eq!(hog, Ok(expected));
        let zero = args(&["--hog-mb", "0"]).expect("parses");
        assert!(matches!(
            zero,
            Command::Probe {
                hog_mb: Some(0),
                fork_bomb: 0,
                ..
            }
        ));
        assert!(args(&["--hog-mb"]).is_err());
        assert!(args(&["--hog-mb", "lots"]).is_err());
        assert!(args(&["--hog-mb", "-1"]).is_err());
        assert!(args(&["--hog-mb", "1.5"]).is_err());
    }

    #[test]
    fn hog_touches_what_it_keeps() {
        let mut errors = Vec::new();
        let chunks = hog(2, &mut errors);
        assert_eq!(errors, Vec::<String>::new());
        assert_eq!(chunks.len(), 2);
        assert!(chunks
            .iter()
            .all(|c| c.len() == 1 << 20 && c.iter().all(|b| *b == 0xA5)));
    }

    /// A hybrid host: v1 controllers (cpu and cpuacct co-mounted, cpuset listed first so a
    /// substring match of "cpu" would pick it), a named hierarchy and an empty cgroup2.
    const CGROUP_MOUNTINFO: &str = "\
25 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
31 23 0:28 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
32 31 0:29 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
33 31 0:30 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
34 31 0:31 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,cpu,cpuacct
36 31 0:33 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,memory
37 31 0:34 /docker/abc /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,pids
";

    #[test]
    fn v1_mount_points_by_controller() {
        let point = |controller| v1_mount(CGROUP_MOUNTINFO, controller).map(|m| m.mount_point);
        assert_eq!(point("memory").as_deref(), Some("/sys/fs/cgroup/memory"));
        assert_eq!(point("cpu").as_deref(), Some("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(
            point("cpuacct").as_deref(),
            Some("/sys/fs/cgroup/cpu,cpuacct")
        );
        assert_eq!(point("cpuset").as_deref(), Some("/sys/fs/cgroup/cpuset"));
        assert_eq!(point("blkio"), None);
        // Per-mount options ("rw,nosuid,…") are not superblock options.
        assert_eq!(point("nosuid"), None);
        assert_eq!(point("systemd"), None);
        let pids = v1_mount(CGROUP_MOUNTINFO, "pids").expect("pids is mounted");
        assert_eq!(pids.root, "/docker/abc");
    }

    #[test]
    fn v2_mount_point() {
        let unified = v2_mount(CGROUP_MOUNTINFO).expect("cgroup2 is mounted");
        assert_eq!(unified.mount_point, "/sys/fs/cgroup/unified");
        assert_eq!(v2_mount("22 1 0:21 / /proc rw - proc proc rw"), None);
    }

    #[test]
    fn cgroup_dirs_below_a_mount() {
        let mount = |root: &str, at: &str| CgroupMount {
            root: root.to_owned(),
            mount_point: at.to_owned(),
        };
        let memory = mount("/", "/sys/fs/cgroup/memory");
        let dir = |m: &CgroupMount, path| cgroup_dir(m, path);
        assert_eq!(dir(&memory, "/").as_deref(), Some("/sys/fs/cgroup/memory"));
        assert_eq!(
            dir(&memory, "/boxcar/a:b").as_deref(),
            Some("/sys/fs/cgroup/memory/boxcar/a:b")
        );
        let subtree = mount("/docker/abc", "/sys/fs/cgroup/pids");
        assert_eq!(
            dir(&subtree, "/docker/abc").as_deref(),
            Some("/sys/fs/cgroup/pids")
        );
        assert_eq!(
            dir(&subtree, "/docker/abc/x").as_deref(),
            Some("/sys/fs/cgroup/pids/x")
        );
        assert_eq!(dir(&subtree, "/docker/abcd"), None);
        assert_eq!(dir(&subtree, "/"), None);
    }
}
