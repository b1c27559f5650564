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
//! Built fully static (`-C target-feature=+crt-static`) so it runs in any root filesystem;
//! that is why it uses no glibc function that needs NSS (getpwnam and friends).

use std::ffi::CStr;
use std::io::{self, Write};
use std::os::fd::RawFd;
use std::process::ExitCode;
use std::time::Duration;
use std::{env, fs, thread};

use serde_json::{json, Map, Value};

const USAGE: &str = "\
usage: boxcar-probe [--wait-ms N] [--only FIELD[,FIELD...]] [--help]

Prints what this process sees of the kernel (namespaces, mounts, cgroups,
capabilities, processes, ...) as one JSON object on stdout.

  --wait-ms N      sleep N milliseconds before looking
  --only FIELDS    print only these top-level fields (comma-separated)
  --help           print this help

fields: pid ppid uid gid hostname namespaces mounts cgroup capabilities
        interfaces fds processes cwd env errors";

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
    Probe {
        wait: Duration,
        fields: Vec<&'static str>,
    },
}

fn main() -> ExitCode {
    // args_os, not args: a non-UTF-8 argument must be an error message, not a panic.
    let args = env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned());
    let (wait, fields) = match parse_args(args) {
        Ok(Command::Help) => return print(USAGE),
        Ok(Command::Probe { wait, fields }) => (wait, fields),
        Err(message) => {
            warn(&message);
            return ExitCode::from(2);
        }
    };
    // Plain sleep: no wait(2), no signal handler, so zombies stay visible (see module doc).
    thread::sleep(wait);
    let (report, errors) = probe(&fields);
    // Errors the caller did not ask to see in the JSON still go somewhere a human can read.
    if !fields.contains(&"errors") {
        errors.iter().for_each(|e| warn(e));
    }
    print(&Value::Object(report).to_string())
}

/// Parses the few options by hand; the probe must stay small and dependency-free.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Command, String> {
    let mut wait = Duration::ZERO;
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
            "--only" => {
                let value = args
                    .next()
                    .ok_or("--only needs a list of fields, e.g. pid,mounts")?;
                fields = parse_only(&value)?;
            }
            other => return Err(format!("unknown argument `{other}` (try --help)")),
        }
    }
    Ok(Command::Probe { wait, fields })
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

/// Gathers the requested fields. Failures are collected, never raised: a probe that crashes
/// tells a test nothing, one that says "cannot read /proc/self/mountinfo" tells it why.
fn probe(fields: &[&str]) -> (Map<String, Value>, Vec<String>) {
    let mut errors = Vec::new();
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
    // At most three parts: a cgroup path may itself contain ':'.
    let mut parts = line.splitn(3, ':');
    let hierarchy: u64 = parts.next()?.parse().ok()?;
    let controllers: Vec<&str> = parts.next()?.split(',').filter(|c| !c.is_empty()).collect();
    let path = parts.next()?;
    Some(json!({ "hierarchy": hierarchy, "controllers": controllers, "path": path }))
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
            fields: FIELDS.to_vec(),
        };
        assert_eq!(args(&[]), Ok(all));
        assert_eq!(args(&["--help"]), Ok(Command::Help));
        let only = args(&["--wait-ms", "600", "--only", "errors,pid"]);
        let expected = Command::Probe {
            wait: Duration::from_millis(600),
            fields: vec!["pid", "errors"],
        };
        assert_eq!(only, Ok(expected));
        assert!(args(&["--wait-ms"]).is_err());
        assert!(args(&["--wait-ms", "soon"]).is_err());
        assert!(args(&["--only", "pid,nope"]).is_err());
        assert!(args(&["--verbose"]).is_err());
    }
}
