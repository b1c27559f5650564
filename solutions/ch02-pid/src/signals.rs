//! Passing signals on: the runtime stands between the user and the container.
//!
//! `kill <runtime pid>` or Ctrl-C reaches the runtime, not the container. So the runtime
//! blocks the signals it forwards *before* clone(2) (a signal that arrives early waits,
//! pending, instead of killing the runtime), then waits for them with sigwait(3) and sends
//! each to the container's PID 1. SIGCHLD is in the same set: it says the container ended.
//! No signal handler runs, so the runtime stays one plain loop.

use boxcar::Failure;
use ch01_solution::spine::Child;
use nix::sys::signal::{kill, SigSet, Signal};

/// The signals a user sends to stop, reload or resize a container.
pub const FORWARDED: [Signal; 7] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

/// Block [`FORWARDED`] and SIGCHLD in this process, and return that set for
/// [`wait_forwarding`]. Call it before clone(2); the child unblocks them before it execs.
pub fn block_forwarded() -> Result<SigSet, Failure> {
    let mut set = SigSet::empty();
    for signal in FORWARDED.iter().chain([&Signal::SIGCHLD]) {
        set.add(*signal);
    }
    set.thread_block()
        .map_err(|errno| Failure::syscall("cannot block signals", errno))?;
    Ok(set)
}

// ANCHOR: wait_forwarding
/// Wait for the container to end, sending it every forwarded signal the runtime receives.
pub fn wait_forwarding(child: &Child, blocked: &SigSet) -> Result<i32, Failure> {
    loop {
        if let Some(code) = child.try_wait()? {
            return Ok(code);
        }
        let signal = blocked
            .wait()
            .map_err(|errno| Failure::syscall("cannot wait for signals", errno))?;
        // EXERCISE(ch02-3): Pass every signal the user sent the runtime on to the container's
        // PID 1 — but not the one that only says the container ended, which the loop checks
        // itself. The container may end between the two: that is not an error (kill(2)).
        // HINT(1): The runtime stands between the user and the container: `kill RUNTIME` and
        //   Ctrl-C reach the runtime. It blocked the signals it forwards (FORWARDED) and
        //   SIGCHLD, and sigwait hands it each one here.
        // HINT(2): kill(2) sends a signal to a pid; the container's PID 1 is child.pid() on
        //   the host. It fails with ESRCH when that process is gone, which is harmless here.
        //   SIGCHLD is not for the container.
        // HINT(3): if signal != Signal::SIGCHLD { let _ = kill(child.pid(), signal); }
        if signal != Signal::SIGCHLD {
            let _ = kill(child.pid(), signal);
        }
        // END EXERCISE
    }
}
// ANCHOR_END: wait_forwarding
