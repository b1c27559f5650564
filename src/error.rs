//! Errors a learner can act on: one line with what failed, the likely cause and what to do.
//!
//! A bare `EPERM` teaches nothing. Every failure the runtime reports is a [`Failure`]:
//! what it was doing, the errno if the kernel refused, and a hint that names the likely
//! cause and the next step. Common errno values come with a default hint (see
//! [`errno_hint`]); call sites that know better give their own with [`Failure::hint`].

use nix::errno::Errno;
use std::fmt;

use crate::exit;

/// A failure of the runtime, printed as one line and turned into an exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What the runtime was doing, e.g. "cannot set the hostname".
    pub what: String,
    /// The kernel's answer, when a syscall failed.
    pub errno: Option<Errno>,
    /// The likely cause and what to do about it.
    pub hint: Option<String>,
    /// The exit code the runtime ends with.
    pub exit_code: i32,
}

impl Failure {
    /// A failure with no errno, e.g. a value the user gave that makes no sense.
    pub fn new(what: impl Into<String>) -> Self {
        Failure {
            what: what.into(),
            errno: None,
            hint: None,
            exit_code: exit::RUNTIME_FAILED,
        }
    }

    /// A syscall failed; the hint defaults to the usual cause of that errno.
    pub fn syscall(what: impl Into<String>, errno: Errno) -> Self {
        Failure {
            what: what.into(),
            errno: Some(errno),
            hint: errno_hint(errno).map(String::from),
            exit_code: exit::RUNTIME_FAILED,
        }
    }

    /// An I/O error from the standard library: its errno and that errno's usual hint when
    /// the kernel gave one (so `Failure::errno` stays matchable), its text otherwise.
    pub fn io(what: impl Into<String>, error: std::io::Error) -> Self {
        match error.raw_os_error() {
            Some(code) => Failure::syscall(what, Errno::from_raw(code)),
            None => Failure::new(format!("{}: {error}", what.into())),
        }
    }

    /// Replace the hint with one that knows the context.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// End with this exit code instead of 125.
    pub fn exit_code(mut self, code: i32) -> Self {
        self.exit_code = code;
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.what)?;
        if let Some(errno) = self.errno {
            write!(f, ": {} ({errno:?})", errno.desc())?;
        }
        if let Some(hint) = &self.hint {
            write!(f, " — {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Failure {}

/// The likely cause of an errno when a container runtime gets it, and what to do.
pub fn errno_hint(errno: Errno) -> Option<&'static str> {
    Some(match errno {
        Errno::EPERM => {
            "the kernel refused: this needs root (CAP_SYS_ADMIN), or a security policy \
             (seccomp, AppArmor, a nested container) forbids it; run as root on the host or VM"
        }
        Errno::EACCES => "permission denied: check the file's mode and the mount's noexec/ro flags",
        Errno::ENOENT => {
            "a path does not exist: check for typos and that it exists where it is used"
        }
        Errno::EINVAL => {
            "the kernel rejected an argument: a flag combination it does not support, \
             or a feature this kernel lacks"
        }
        Errno::EBUSY => "the target is in use: something is still mounted on it or using it",
        Errno::ENOSPC => "no space left, or a kernel limit (e.g. user.max_*_namespaces) is reached",
        Errno::EAGAIN => {
            "a limit on processes is reached (ulimit -u, or a pids cgroup); try again later"
        }
        Errno::ENOMEM => "the kernel is out of memory, or a memory cgroup limit is reached",
        Errno::EMFILE => "too many open files: raise `ulimit -n`",
        Errno::ENOSYS => {
            "this kernel does not have the system call: it is too old or built without it"
        }
        Errno::ENOTDIR => "a path component is not a directory",
        Errno::EEXIST => "it already exists: remove the old one first",
        Errno::ENAMETOOLONG => "a name is too long (a hostname is at most 64 bytes)",
        _ => return None,
    })
}

/// Print `failure` as one line on stderr, prefixed with the program's name, and exit.
pub fn exit_with(program: &str, failure: &Failure) -> ! {
    eprintln!("{program}: {failure}");
    std::process::exit(failure.exit_code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_syscall_failure_names_errno_and_the_likely_cause() {
        let failure = Failure::syscall("cannot create namespaces", Errno::EPERM);
        let line = failure.to_string();
        assert!(line.starts_with("cannot create namespaces: Operation not permitted (EPERM) — "));
        assert!(line.contains("needs root"));
        assert!(!line.contains('\n'));
        assert_eq!(failure.exit_code, 125);
    }

    #[test]
    fn a_context_hint_replaces_the_default() {
        let failure = Failure::syscall("pivot_root", Errno::EBUSY)
            .hint("the new root must be a mount point; bind-mount it onto itself first");
        assert!(failure
            .to_string()
            .ends_with("bind-mount it onto itself first"));
    }
}
