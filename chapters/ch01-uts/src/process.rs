//! The command: its arguments, environment and working directory, and the execve(2).
//!
//! execve(2) takes a path, not a name: searching `PATH` is the caller's job (exec(3) does it
//! with the caller's own `PATH`). A runtime must search the *container's* `PATH`, in the
//! container's filesystem, as runc does — so we do it here, the way execvp(3) describes.

use std::convert::Infallible;
use std::ffi::{CStr, CString};

use boxcar::cli::RunArgs;
use boxcar::{exit, Failure};
use nix::errno::Errno;

/// The `PATH` a container gets unless `-e PATH=…` says otherwise (the same as Docker's).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Everything the child needs to exec the command, prepared in the parent: the child should
/// do as little as it can between clone(2) and execve(2).
#[derive(Debug, Clone)]
pub struct Process {
    pub argv: Vec<CString>,
    pub env: Vec<CString>,
    pub workdir: Option<CString>,
    path: String,
}

impl Process {
    /// The command of `run`, with a clean environment: the host's is not the container's.
    pub fn from_args(args: &RunArgs, hostname: &str) -> Result<Self, Failure> {
        let argv = args
            .command
            .iter()
            .map(|arg| c_string(arg, "an argument"))
            .collect::<Result<_, _>>()?;
        let mut vars = vec![
            ("PATH".to_string(), DEFAULT_PATH.to_string()),
            ("HOSTNAME".to_string(), hostname.to_string()),
            ("HOME".to_string(), "/root".to_string()),
        ];
        for entry in &args.env {
            if let Some((key, value)) = parse_env(entry)? {
                vars.retain(|(k, _)| *k != key);
                vars.push((key, value));
            }
        }
        let path = vars
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let env = vars
            .iter()
            .map(|(k, v)| c_string(&format!("{k}={v}"), "-e"))
            .collect::<Result<_, _>>()?;
        let workdir = args
            .workdir
            .as_deref()
            .map(|dir| c_string(dir, "-w"))
            .transpose()?;
        Ok(Process {
            argv,
            env,
            workdir,
            path,
        })
    }

    /// In the child: become the command. Returns only if that was impossible.
    pub fn exec(&self) -> Result<Infallible, Failure> {
        if let Some(dir) = &self.workdir {
            nix::unistd::chdir(dir.as_c_str()).map_err(|errno| {
                Failure::syscall(
                    format!("cannot change to the working directory {dir:?}"),
                    errno,
                )
                .hint("-w must name a directory that exists in the container")
            })?;
        }
        close_inherited_fds();
        let name = self.argv[0].to_string_lossy().into_owned();
        let errno = self.execve_searching_path();
        Err(exec_failure(&name, errno, &self.path))
    }

    /// execve(2) each candidate in turn, as execvp(3) does: a missing file means "try the
    /// next directory"; a file we may not execute is remembered, and reported if nothing
    /// better turns up.
    fn execve_searching_path(&self) -> Errno {
        let name = self.argv[0].as_bytes();
        if name.contains(&b'/') || name.is_empty() {
            return execve(&self.argv[0], &self.argv, &self.env);
        }
        let mut denied = false;
        for dir in self.path.split(':').filter(|dir| !dir.is_empty()) {
            let Ok(candidate) = CString::new([dir.as_bytes(), b"/", name].concat()) else {
                continue;
            };
            match execve(&candidate, &self.argv, &self.env) {
                Errno::ENOENT | Errno::ENOTDIR => continue,
                Errno::EACCES => denied = true,
                other => return other,
            }
        }
        if denied {
            Errno::EACCES
        } else {
            Errno::ENOENT
        }
    }
}

fn execve(path: &CStr, argv: &[CString], env: &[CString]) -> Errno {
    match nix::unistd::execve(path, argv, env) {
        Ok(never) => match never {},
        Err(errno) => errno,
    }
}

/// Mark every fd above stderr close-on-exec (close_range(2), CLOSE_RANGE_CLOEXEC).
/// A runtime's own fds must never reach the command: a leaked fd of the host's filesystem
/// is how runc's CVE-2024-21626 let containers escape. Our report pipe is among them, and
/// closing it at exec is exactly what tells the parent the exec worked.
fn close_inherited_fds() {
    // SAFETY: close_range(2) only changes flags on fds of this process; no Rust object
    // relies on one of its fds staying open across execve(2).
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
}

/// What to tell the learner when execve(2) failed, with the exit code a shell would use.
fn exec_failure(name: &str, errno: Errno, path: &str) -> Failure {
    let what = format!("cannot run {name:?}");
    match errno {
        Errno::ENOENT if !name.contains('/') => Failure::syscall(what, errno)
            .hint(format!("no such command in the container's PATH ({path}); check the name or give a full path"))
            .exit_code(exit::NOT_FOUND),
        Errno::ENOENT => Failure::syscall(what, errno)
            .hint("no such file in the container (for a script: its #! interpreter may be missing)")
            .exit_code(exit::NOT_FOUND),
        Errno::EACCES => Failure::syscall(what, errno)
            .hint("it is not executable: chmod +x it, and check it is a file on a mount without noexec")
            .exit_code(exit::NOT_EXECUTABLE),
        Errno::ENOEXEC => Failure::syscall(what, errno)
            .hint("the kernel cannot run this format: a script needs a #! line; a binary must be for this CPU")
            .exit_code(exit::NOT_EXECUTABLE),
        _ => Failure::syscall(what, errno).exit_code(exit::NOT_EXECUTABLE),
    }
}

/// `-e K=V` sets a variable; `-e K` copies K from the runtime's environment if it is set.
fn parse_env(entry: &str) -> Result<Option<(String, String)>, Failure> {
    let (key, value) = match entry.split_once('=') {
        Some((key, value)) => (key, Some(value.to_string())),
        None => (entry, std::env::var(entry).ok()),
    };
    if key.is_empty() {
        return Err(
            Failure::new(format!("invalid -e {entry:?}: the variable has no name"))
                .hint("write -e NAME=value, or -e NAME to copy NAME from your environment"),
        );
    }
    Ok(value.map(|value| (key.to_string(), value)))
}

fn c_string(text: &str, what: &str) -> Result<CString, Failure> {
    CString::new(text).map_err(|_| {
        Failure::new(format!("invalid {what} {text:?}: it contains a NUL byte"))
            .hint("the kernel takes C strings, which end at the first NUL; remove it")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(command: &[&str], env: &[&str]) -> RunArgs {
        RunArgs {
            command: command.iter().map(|s| s.to_string()).collect(),
            env: env.iter().map(|s| s.to_string()).collect(),
            ..RunArgs::default()
        }
    }

    #[test]
    fn the_environment_is_clean_with_docker_defaults() {
        let process = Process::from_args(&args(&["sh"], &[]), "box").unwrap();
        let env: Vec<_> = process.env.iter().map(|v| v.to_str().unwrap()).collect();
        assert_eq!(
            env,
            [
                &format!("PATH={DEFAULT_PATH}"),
                "HOSTNAME=box",
                "HOME=/root"
            ]
        );
    }

    #[test]
    fn dash_e_overrides_and_adds() {
        let process = Process::from_args(&args(&["sh"], &["HOME=/tmp", "A=b=c"]), "box").unwrap();
        let env: Vec<_> = process.env.iter().map(|v| v.to_str().unwrap()).collect();
        assert!(env.contains(&"HOME=/tmp") && env.contains(&"A=b=c"));
        assert!(!env.contains(&"HOME=/root"));
    }

    #[test]
    fn an_unnamed_variable_is_refused() {
        assert!(Process::from_args(&args(&["sh"], &["=x"]), "box").is_err());
    }

    #[test]
    fn exit_codes_follow_the_shell() {
        assert_eq!(
            exec_failure("nope", Errno::ENOENT, DEFAULT_PATH).exit_code,
            127
        );
        assert_eq!(
            exec_failure("/etc/passwd", Errno::EACCES, DEFAULT_PATH).exit_code,
            126
        );
    }
}
