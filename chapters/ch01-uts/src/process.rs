//! The command: its arguments, environment and working directory, and the execve(2).
//!
//! execve(2) takes a path, not a name: searching `PATH` is the caller's job (exec(3) does it
//! with the caller's own `PATH`). A runtime must search the *container's* `PATH`, in the
//! container's filesystem, as runc does — so we do it here, the way execvp(3) describes.

use std::convert::Infallible;
use std::ffi::{CStr, CString};

use boxcar::{exit, Failure};
use nix::errno::Errno;

/// The `PATH` a container gets unless `-e PATH=…` says otherwise (the same as Docker's).
pub use boxcar::spec::DEFAULT_PATH;

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
    /// The spec's process, as the C strings execve(2) takes. The kit made the environment
    /// (Docker's defaults, then `-e`); the host's is not the container's.
    pub fn from_spec(process: &oci_spec::runtime::Process) -> Result<Self, Failure> {
        let argv: Vec<CString> = process
            .args()
            .iter()
            .flatten()
            .map(|arg| c_string(arg, "an argument"))
            .collect::<Result<_, _>>()?;
        if argv.is_empty() {
            return Err(Failure::new("the spec's process has no command")
                .hint("give the command after the flags: run [FLAGS] -- CMD [ARG…]"));
        }
        let env: Vec<CString> = process
            .env()
            .iter()
            .flatten()
            .map(|var| c_string(var, "-e"))
            .collect::<Result<_, _>>()?;
        let path = process
            .env()
            .iter()
            .flatten()
            .rev()
            .find_map(|var| var.strip_prefix("PATH="))
            .unwrap_or_default()
            .to_string();
        let cwd = process.cwd().to_string_lossy();
        let workdir = Some(c_string(&cwd, "-w")?);
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

impl Process {
    /// Fail now, with the exit code execve(2) would give, if the command cannot be found or
    /// is not executable along the container's `PATH` — what runc checks before its init
    /// waits to start (chapter 08), so that `create` reports it. access(2) cannot foresee
    /// everything (a script's missing interpreter, a binary for another CPU): execve(2)
    /// still has the last word. A relative path is left to execve(2), after the chdir.
    pub fn check_runnable(&self) -> Result<(), Failure> {
        let name = self.argv[0].as_bytes();
        let errno = if name.starts_with(b"/") {
            runnable(&self.argv[0])
        } else if name.contains(&b'/') || name.is_empty() {
            None
        } else {
            let mut denied = false;
            let mut found = false;
            for dir in self.path.split(':').filter(|dir| !dir.is_empty()) {
                let Ok(candidate) = CString::new([dir.as_bytes(), b"/", name].concat()) else {
                    continue;
                };
                match runnable(&candidate) {
                    None => found = true,
                    Some(Errno::EACCES) => denied = true,
                    Some(_) => {}
                }
                if found {
                    break;
                }
            }
            match (found, denied) {
                (true, _) => None,
                (false, true) => Some(Errno::EACCES),
                (false, false) => Some(Errno::ENOENT),
            }
        };
        match errno {
            None => Ok(()),
            Some(errno) => {
                let name = self.argv[0].to_string_lossy().into_owned();
                Err(exec_failure(&name, errno, &self.path))
            }
        }
    }
}

/// What execve(2) of `path` would say before it reads the file: ENOENT if there is none,
/// EACCES if it is not a regular file with an execute bit (access(2), X_OK).
fn runnable(path: &CStr) -> Option<Errno> {
    use nix::sys::stat::{stat, SFlag};
    match stat(path) {
        Err(errno) => Some(errno),
        Ok(st) if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG => {
            Some(Errno::EACCES)
        }
        Ok(_) => nix::unistd::access(path, nix::unistd::AccessFlags::X_OK).err(),
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

fn c_string(text: &str, what: &str) -> Result<CString, Failure> {
    CString::new(text).map_err(|_| {
        Failure::new(format!("invalid {what} {text:?}: it contains a NUL byte"))
            .hint("the kernel takes C strings, which end at the first NUL; remove it")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_process_becomes_c_strings_with_its_path() {
        let mut spec = oci_spec::runtime::Process::default();
        spec.set_args(Some(vec!["sh".into(), "-c".into()]))
            .set_env(Some(vec!["PATH=/bin".into(), "A=b=c".into()]))
            .set_cwd("/tmp".into());
        let process = Process::from_spec(&spec).unwrap();
        assert_eq!(process.argv, [c"sh", c"-c"]);
        assert_eq!(process.env, [c"PATH=/bin", c"A=b=c"]);
        assert_eq!(process.workdir.as_deref(), Some(c"/tmp"));
        assert_eq!(process.path, "/bin");
    }

    #[test]
    fn a_spec_without_a_command_is_refused() {
        let mut spec = oci_spec::runtime::Process::default();
        spec.set_args(Some(vec![]));
        assert!(Process::from_spec(&spec).is_err());
    }

    #[test]
    fn a_command_is_checked_along_the_path_before_it_runs() {
        let process = |command: &str| {
            let mut spec = oci_spec::runtime::Process::default();
            spec.set_args(Some(vec![command.into()]))
                .set_env(Some(vec!["PATH=/nonexistent:/bin:/usr/bin".into()]));
            Process::from_spec(&spec).unwrap()
        };
        assert_eq!(process("sh").check_runnable(), Ok(()));
        assert_eq!(process("/bin/sh").check_runnable(), Ok(()));
        assert_eq!(
            process("no-such-command")
                .check_runnable()
                .unwrap_err()
                .exit_code,
            127
        );
        assert_eq!(
            process("/etc/passwd")
                .check_runnable()
                .unwrap_err()
                .exit_code,
            126
        );
        assert_eq!(process("/etc").check_runnable().unwrap_err().exit_code, 126);
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
