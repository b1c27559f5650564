//! The spine: clone a child into new namespaces, hold it, let it exec, wait for it.
//!
//! ```text
//!   runtime (parent)                      container process (child)
//!   channel()        make the two pipes
//!   clone(2) ───── new namespaces ──────▶ close the parent's pipe ends
//!                                         ask for SIGKILL if the parent dies
//!                                         wait for "go"
//!   start(): release ── "go" ───────────▶ setup: hostname, mounts, … then execve(2)
//!            wait_for_exec ◀── report ─── (only if setup failed)
//!   wait(): waitpid(2) ◀──── exit ──────── the command runs and ends
//! ```
//!
//! Every later chapter reuses this file: it adds namespaces to the flags and steps to the
//! child's setup, never a second way to start a process.

use std::convert::Infallible;
use std::panic::{catch_unwind, AssertUnwindSafe};

use boxcar::channel::{channel, ChildEnd, ParentEnd};
use boxcar::{exit, Failure};
use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::Pid;

/// The child's stack. It only runs our setup until execve(2) replaces it, so 1 MiB is ample.
const STACK_SIZE: usize = 1024 * 1024;

/// The container's process, seen from the runtime.
#[derive(Debug)]
pub struct Child {
    pid: Pid,
    channel: ParentEnd,
}

/// Clone a child into `namespaces`. It waits for [`Child::start`], then runs `setup`, which
/// ends by exec'ing the command and so returns only on failure.
pub fn spawn<F>(namespaces: CloneFlags, setup: F) -> Result<Child, Failure>
where
    F: FnMut(&mut ChildEnd) -> Result<Infallible, Failure>,
{
    spawn_with(namespaces, Lifetime::DiesWithParent, setup)
}

/// Whether the child dies with the process that cloned it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// Killed when its parent dies (prctl(2), PR_SET_PDEATHSIG): a runtime that waits for
    /// its container, as in every chapter up to 07.
    DiesWithParent,
    /// Outlives its parent, as an OCI runtime's `create` needs (chapter 08): the process
    /// that cloned it exits, and the subreaper above it (the monitor) adopts and reaps it.
    OutlivesParent,
}

/// [`spawn`], with the child's [`Lifetime`] chosen by the caller.
pub fn spawn_with<F>(
    namespaces: CloneFlags,
    lifetime: Lifetime,
    mut setup: F,
) -> Result<Child, Failure>
where
    F: FnMut(&mut ChildEnd) -> Result<Infallible, Failure>,
{
    let (parent_end, mut child_end) = channel()?;
    let parent_fds = parent_end.fds();
    let mut stack = vec![0u8; STACK_SIZE];
    let child_main = Box::new(|| {
        child_end.close_parent_fds(&parent_fds);
        let failure = match prepare_child(&mut child_end, lifetime) {
            Ok(()) => run_setup(&mut setup, &mut child_end),
            Err(failure) => failure,
        };
        child_end.report(&failure);
        failure.exit_code as isize
    });
    let pid = clone_into_namespaces(child_main, &mut stack, namespaces)?;
    child_end.close_in_parent();
    Ok(Child {
        pid,
        channel: parent_end,
    })
}

/// clone(2): a new process that starts in `child_main`, in new `namespaces`.
fn clone_into_namespaces(
    child_main: nix::sched::CloneCb<'_>,
    stack: &mut [u8],
    namespaces: CloneFlags,
) -> Result<Pid, Failure> {
    // TODO(ch01-3): Create the container's process with clone(2): it starts in
    // `child_main`, on `stack`, in new namespaces, and its end must be visible to the
    // parent's waitpid(2) like any child's. The call is unsafe: say in a SAFETY comment why
    // it is sound here. A refusal (EPERM without root, ENOSPC past a namespace limit) must
    // reach the learner as a Failure.
    todo!("exercise ch01-3: see the TODO above")
}

/// In the child, before setup: a clean signal mask, death with the parent (unless it must
/// outlive it), and the "go".
fn prepare_child(channel: &mut ChildEnd, lifetime: Lifetime) -> Result<(), Failure> {
    // The parent may have blocked signals it forwards (chapter 02); the blocked mask
    // survives execve(2), and a command with SIGTERM blocked could never be stopped.
    SigSet::empty()
        .thread_set_mask()
        .map_err(|errno| Failure::syscall("cannot reset the signal mask", errno))?;
    // If the runtime dies, so does the container (prctl(2), PR_SET_PDEATHSIG): nothing
    // is left running that no one waits for.
    if lifetime == Lifetime::DiesWithParent {
        nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
            .map_err(|errno| Failure::syscall("cannot ask to die with the runtime", errno))?;
    }
    channel.wait_for_release()
}

/// Run the chapter's setup; a panic (say, a todo!() not done yet) becomes a report too.
fn run_setup<F>(setup: &mut F, channel: &mut ChildEnd) -> Failure
where
    F: FnMut(&mut ChildEnd) -> Result<Infallible, Failure>,
{
    match catch_unwind(AssertUnwindSafe(|| setup(channel))) {
        Ok(Err(failure)) => failure,
        Ok(Ok(never)) => match never {},
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".into());
            Failure::new(format!("the container's setup panicked: {message}"))
                .hint("see the panic message above for the file and line")
        }
    }
}

impl Child {
    /// The container's process id, as the host sees it.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Let the child run its setup, and wait until it has exec'd the command. If it could
    /// not, it has already exited: reap it and return its report.
    pub fn start(&mut self) -> Result<(), Failure> {
        self.channel.release()?;
        if let Err(failure) = self.channel.wait_for_exec() {
            // The child reported and exits: reap it, so no zombie is left. If it cannot be
            // reaped, that is the bigger problem, and the one to report.
            if let Err(not_reaped) = self.wait() {
                return Err(not_reaped.hint(
                    "the container's process cannot be waited for: was it cloned without an \
                     exit signal? waitpid(2) sees only children that end with SIGCHLD",
                ));
            }
            return Err(failure);
        }
        Ok(())
    }

    /// Wait for the container to end and return the exit code a shell would report.
    pub fn wait(&self) -> Result<i32, Failure> {
        loop {
            match waitpid(self.pid, None) {
                Ok(status) => {
                    if let Some(code) = exit::code_of(status) {
                        return Ok(code);
                    }
                }
                Err(Errno::EINTR) => continue,
                Err(errno) => return Err(Failure::syscall("cannot wait for the container", errno)),
            }
        }
    }

    /// The exit code if the container has ended, without blocking (waitpid(2), WNOHANG).
    pub fn try_wait(&self) -> Result<Option<i32>, Failure> {
        match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(status) => Ok(exit::code_of(status)),
            Err(Errno::EINTR) => Ok(None),
            Err(errno) => Err(Failure::syscall("cannot wait for the container", errno)),
        }
    }
}
