//! Exit codes, the way `docker run` reports them.
//!
//! The shell convention (see "EXIT STATUS" in bash(1)) is kept, so scripts can tell the
//! runtime's own failures from the command's.

use nix::sys::wait::WaitStatus;

/// The runtime itself failed: bad flag, missing privilege, a syscall that failed.
pub const RUNTIME_FAILED: i32 = 125;
/// The command exists but cannot be executed (execve(2) gave EACCES or ENOEXEC).
pub const NOT_EXECUTABLE: i32 = 126;
/// The command was not found (execve(2) gave ENOENT).
pub const NOT_FOUND: i32 = 127;
/// Added to a signal number when the command was killed by that signal.
pub const SIGNAL_BASE: i32 = 128;

/// The exit code a shell would report for a process that ended with `status`;
/// `None` while the process has not ended (stopped, continued, still alive).
pub fn code_of(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, signal, _) => Some(SIGNAL_BASE + signal as i32),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::Signal;
    use nix::unistd::Pid;

    #[test]
    fn exit_code_is_passed_through() {
        assert_eq!(code_of(WaitStatus::Exited(Pid::from_raw(7), 3)), Some(3));
    }

    #[test]
    fn killed_by_signal_is_128_plus_n() {
        let killed = WaitStatus::Signaled(Pid::from_raw(7), Signal::SIGKILL, false);
        assert_eq!(code_of(killed), Some(137));
    }

    #[test]
    fn a_stopped_process_has_not_ended() {
        let stopped = WaitStatus::Stopped(Pid::from_raw(7), Signal::SIGSTOP);
        assert_eq!(code_of(stopped), None);
    }
}
