//! A process named by a pidfd (pidfd_open(2)), trusted only with its start time.
//!
//! A pid read from a record may, once its process is gone, belong to any new process. A
//! pidfd refers to one process for as long as the fd is open, whatever happens to the pid:
//! so we open the pidfd first, *then* check that the pid's start time is the recorded one.
//! If it is, the pidfd is that process and every later signal (pidfd_send_signal(2)) or
//! setns(2) reaches it and no stranger. A pidfd also becomes readable when its process
//! exits, which lets `stop` and `start -a` wait for a process that is not their child.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use boxcar::state::Runtime;
use boxcar::Failure;
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;

/// An open pidfd of a process whose start time was checked.
#[derive(Debug)]
pub struct Pidfd {
    fd: OwnedFd,
    pub process: Runtime,
}

impl Pidfd {
    /// A pidfd of `process`, or `None` when that process (that pid *and* start time) is gone.
    pub fn open(process: Runtime) -> Result<Option<Pidfd>, Failure> {
        // SAFETY: pidfd_open(2) takes a pid and flags and returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, process.pid, 0) };
        if fd < 0 {
            return match Errno::last() {
                Errno::ESRCH => Ok(None),
                errno => Err(Failure::syscall(
                    format!("cannot open a pidfd for process {}", process.pid),
                    errno,
                )
                .hint("pidfd_open(2) needs Linux 5.3 or later")),
            };
        }
        // SAFETY: the fd was just returned to us by the kernel and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        // Checked after the open: from here on the pid cannot be reused while we hold fd.
        if !process.is_alive() {
            return Ok(None);
        }
        Ok(Some(Pidfd { fd, process }))
    }

    /// Send `signal` (pidfd_send_signal(2)). `false` if the process has already exited.
    pub fn signal(&self, signal: Signal) -> Result<bool, Failure> {
        // SAFETY: pidfd_send_signal(2) with a valid pidfd, a signal number, no siginfo and
        // no flags.
        let sent = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.fd.as_raw_fd(),
                signal as i32,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        match sent {
            0 => Ok(true),
            _ => match Errno::last() {
                Errno::ESRCH => Ok(false),
                errno => Err(Failure::syscall(
                    format!("cannot send {signal} to process {}", self.process.pid),
                    errno,
                )),
            },
        }
    }

    /// Wait until the process exits, at most `timeout`: `true` if it did.
    pub fn wait_exit(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let millis = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
            let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::from(millis)) {
                Ok(n) if n > 0 => return true,
                Ok(_) if left.is_zero() => return false,
                Ok(_) | Err(Errno::EINTR) => continue,
                // A pidfd that cannot be polled: fall back to the start time.
                Err(_) => return !self.process.is_alive(),
            }
        }
    }
}

impl AsFd for Pidfd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pidfd_opens_for_a_live_process_and_not_for_a_stranger() {
        let me = Runtime::me();
        let pidfd = Pidfd::open(me).unwrap().expect("this process is alive");
        assert!(!pidfd.wait_exit(Duration::from_millis(10)));
        let stranger = Runtime {
            start: me.start + 1,
            ..me
        };
        assert!(Pidfd::open(stranger).unwrap().is_none());
    }
}
