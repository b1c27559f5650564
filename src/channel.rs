//! The parent/child sync channel: two pipes that keep the runtime and its cloned child in step.
//!
//! ```text
//!   parent                          child (in its new namespaces)
//!     │  clone(2) ───────────────────▶ │
//!     │  (set up cgroups, maps, …)      │ wait_for_release()   blocks on the "go" pipe
//!     │  release() ── "go" pipe ──────▶ │
//!     │                                 │ set up, then execve(2)
//!     │  wait_for_exec() ◀── report ─── │ on failure: report(failure), exit
//! ```
//!
//! Both pipes are close-on-exec (pipe2(2) with O_CLOEXEC). A successful execve(2) closes the
//! child's end of the report pipe, so the parent reads end-of-file: "the command is running".
//! A failure before exec arrives as one message, so the parent can print the child's error
//! as its own, with the right exit code (127 for a command that was not found, …).

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::fcntl::OFlag;
use nix::unistd::pipe2;

use crate::error::Failure;

/// The parent's ends: it writes "go" and reads the child's report.
#[derive(Debug)]
pub struct ParentEnd {
    go: Option<OwnedFd>,
    report: std::fs::File,
}

/// The child's ends: it reads "go" and writes a report if it fails before exec.
#[derive(Debug)]
pub struct ChildEnd {
    go: std::fs::File,
    report: Option<std::fs::File>,
}

/// Make a channel. Call it before clone(2): both processes get copies of all four ends, and
/// each closes the other's (see [`ParentEnd::fds`] and [`ChildEnd::close_in_parent`]).
pub fn channel() -> Result<(ParentEnd, ChildEnd), Failure> {
    let pipe = || pipe2(OFlag::O_CLOEXEC).map_err(|e| Failure::syscall("cannot create a pipe", e));
    let (go_read, go_write) = pipe()?;
    let (report_read, report_write) = pipe()?;
    let parent = ParentEnd {
        go: Some(go_write),
        report: report_read.into(),
    };
    let child = ChildEnd {
        go: go_read.into(),
        report: Some(report_write.into()),
    };
    Ok((parent, child))
}

impl ParentEnd {
    /// The raw fds of the parent's ends, for the child to close right after clone(2).
    pub fn fds(&self) -> Vec<RawFd> {
        let go = self.go.iter().map(|fd| fd.as_raw_fd());
        go.chain([self.report.as_raw_fd()]).collect()
    }

    /// Let the child go on: it is blocked in [`ChildEnd::wait_for_release`].
    pub fn release(&mut self) -> Result<(), Failure> {
        let Some(go) = self.go.take() else {
            return Ok(());
        };
        let mut go = std::fs::File::from(go);
        go.write_all(b"G")
            .map_err(|e| Failure::io("cannot release the container's process", e))
        // `go` is dropped here: the child could only ever read one byte.
    }

    /// Wait until the child has exec'd the command (`Ok`) or reported why it could not.
    pub fn wait_for_exec(&mut self) -> Result<(), Failure> {
        let mut message = Vec::new();
        self.report
            .read_to_end(&mut message)
            .map_err(|e| Failure::io("cannot read the container's report", e))?;
        match decode(&message) {
            None => Ok(()),
            Some(failure) => Err(failure),
        }
    }
}

impl ChildEnd {
    /// In the parent, after clone(2): close the child's ends so end-of-file can arrive.
    pub fn close_in_parent(self) {}

    /// In the child: close the parent's ends that clone(2) copied.
    pub fn close_parent_fds(&self, fds: &[RawFd]) {
        for fd in fds {
            // SAFETY: these fds are the parent's ends, copied by clone(2); this process never
            // uses them, and nothing else in this process owns them.
            unsafe { libc::close(*fd) };
        }
    }

    /// Block until the parent says go. End-of-file means the parent died: give up.
    pub fn wait_for_release(&mut self) -> Result<(), Failure> {
        let mut byte = [0u8; 1];
        match self.go.read(&mut byte) {
            Ok(1) => Ok(()),
            _ => Err(Failure::new(
                "the runtime went away before the container started",
            )),
        }
    }

    /// Tell the parent why the container could not start. One write(2) of a short message
    /// is atomic on a pipe (see pipe(7), PIPE_BUF), so the parent never reads half of it.
    pub fn report(&mut self, failure: &Failure) {
        if let Some(report) = &mut self.report {
            let _ = report.write_all(&encode(failure));
        }
    }

    /// Close the report end in this process. An init does this once it has forked the
    /// command, so that only the command's execve(2) decides when the parent sees
    /// end-of-file.
    pub fn close_report(&mut self) {
        self.report = None;
    }
}

fn encode(failure: &Failure) -> Vec<u8> {
    let mut bytes = failure.exit_code.to_le_bytes().to_vec();
    bytes.extend_from_slice(failure.to_string().as_bytes());
    bytes
}

fn decode(bytes: &[u8]) -> Option<Failure> {
    let (code, message) = bytes.split_at_checked(4)?;
    let code = i32::from_le_bytes(code.try_into().ok()?);
    Some(Failure::new(String::from_utf8_lossy(message)).exit_code(code))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::errno::Errno;

    #[test]
    fn a_report_arrives_whole_with_its_exit_code() {
        let (mut parent, mut child) = channel().unwrap();
        let failure = Failure::syscall("cannot run 'nope'", Errno::ENOENT).exit_code(127);
        child.report(&failure);
        drop(child);
        let received = parent.wait_for_exec().unwrap_err();
        assert_eq!(received.exit_code, 127);
        assert_eq!(received.to_string(), failure.to_string());
    }

    #[test]
    fn end_of_file_without_a_report_means_exec_succeeded() {
        let (mut parent, child) = channel().unwrap();
        child.close_in_parent();
        assert_eq!(parent.wait_for_exec(), Ok(()));
    }

    #[test]
    fn release_lets_the_child_go_and_a_dead_parent_does_not() {
        let (mut parent, mut child) = channel().unwrap();
        parent.release().unwrap();
        assert_eq!(child.wait_for_release(), Ok(()));
        let (parent, mut child) = channel().unwrap();
        drop(parent);
        assert!(child.wait_for_release().is_err());
    }
}
