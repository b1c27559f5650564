//! `--init`: a minimal PID 1, the job Docker gives tini with `docker run --init`.
//!
//! A command that is not written to be an init misbehaves as PID 1: it ignores SIGTERM it
//! has no handler for, and never reaps the orphans the kernel hands it, which stay zombies.
//! So the init runs as PID 1, starts the command as PID 2, and then only does two things:
//! forward signals to the command, and reap every child that ends. When the command ends,
//! the init exits with its status, and the kernel kills whatever is left in the namespace.
//!
//! It is our own code, not another binary: the cloned child *is* the runtime's binary, so it
//! needs nothing inside the container's filesystem (tini must be copied in; we need not).

use std::convert::Infallible;

use boxcar::channel::ChildEnd;
use boxcar::{exit, Failure};
use ch01_solution::process::Process;
use nix::errno::Errno;
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

use crate::signals::FORWARDED;

/// In the child, as PID 1: fork the command as PID 2 and be its init until it ends.
pub fn run_as_init(process: &Process, channel: &mut ChildEnd) -> Result<Infallible, Failure> {
    let mut watched = SigSet::empty();
    for signal in FORWARDED.iter().chain([&Signal::SIGCHLD]) {
        watched.add(*signal);
    }
    // Block before fork(2), so a signal or an early exit of the command waits for the loop.
    watched
        .thread_block()
        .map_err(|errno| Failure::syscall("cannot block signals", errno))?;
    // SAFETY: this process is single-threaded (a clone of the single-threaded runtime), so
    // the forked copy holds no lock another thread owned.
    match unsafe { fork() }.map_err(|errno| Failure::syscall("cannot fork the command", errno))? {
        ForkResult::Child => {
            SigSet::empty()
                .thread_set_mask()
                .map_err(|errno| Failure::syscall("cannot unblock signals", errno))?;
            process.exec()
        }
        ForkResult::Parent { child: command } => {
            // Only the command's execve(2) may close the report pipe now.
            channel.close_report();
            let _ = nix::sys::prctl::set_name(c"boxcar-init");
            let code = supervise(command, &watched)?;
            std::process::exit(code)
        }
    }
}

// ANCHOR: supervise
/// Forward signals to `command` and reap every child, until `command` ends.
fn supervise(command: Pid, watched: &SigSet) -> Result<i32, Failure> {
    loop {
        let signal = watched
            .wait()
            .map_err(|errno| Failure::syscall("cannot wait for signals", errno))?;
        if signal != Signal::SIGCHLD {
            let _ = kill(command, signal);
            continue;
        }
        if let Some(code) = reap_all(command)? {
            return Ok(code);
        }
    }
}

/// Reap every child that has ended; the command's exit code if it was one of them.
fn reap_all(command: Pid) -> Result<Option<i32>, Failure> {
    let mut command_code: Option<i32> = None;
    // EXERCISE(ch02-4): Reap every child that has ended — the command and every orphan the
    // kernel handed to PID 1 — without ever blocking: the init must get back to its signals,
    // and must not wait for processes that are still running. Remember the command's exit
    // code (exit::code_of) if it was among them. waitpid(2) says how; "no children left" is
    // not an error here.
    // HINT(1): A zombie stays until its parent waits for it, and in a PID namespace orphans
    //   are reparented to PID 1. One SIGCHLD may stand for several children that ended, so
    //   reap until there is nothing more to reap right now.
    // HINT(2): waitpid(2): pid -1 waits for any child; WNOHANG returns at once when none
    //   has ended (nix gives WaitStatus::StillAlive); ECHILD means there are no children.
    //   EINTR means "try again".
    // HINT(3): loop { match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) { … } }
    //   with arms for StillAlive/ECHILD (return), the command's pid (keep its code), any
    //   other pid (an orphan: nothing to do), EINTR, and other errors.
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return Ok(command_code),
            Ok(status) if status.pid() == Some(command) => command_code = exit::code_of(status),
            Ok(_orphan_reaped) => {}
            Err(Errno::EINTR) => {}
            Err(errno) => return Err(Failure::syscall("cannot reap children", errno)),
        }
    }
    // END EXERCISE
}
// ANCHOR_END: supervise
