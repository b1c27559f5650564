//! The exec fifo: how a created container waits just before execve(2), and how start lets
//! it go (runc's `exec.fifo`).
//!
//! ```text
//!   create: mkfifo exec.fifo; open it O_PATH ─▶ the init inherits that fd
//!   init:   … setup, pivot_root …  open("/proc/self/fd/N", O_WRONLY)   blocks: no reader yet
//!   start:  open("exec.fifo", O_RDONLY) ───▶ the init's open returns; it writes one byte
//!           read that byte, unlink the fifo  ◀──┘  and execve(2)s the command
//! ```
//!
//! Opening a fifo for writing blocks until someone opens it for reading (fifo(7)): the init
//! needs no loop and no signal to wait, and costs nothing while it waits. After pivot_root
//! the host's path to the fifo is out of the init's reach, so it keeps an O_PATH fd opened
//! before, and reopens it for writing through /proc/self/fd (a "magic link", proc(5)), as
//! runc's init does.

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use boxcar::state::Runtime;
use boxcar::Failure;
use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::stat::Mode;

/// The exec fifo's name in the container's directory; it exists while the instance is
/// created and not yet started.
pub const FIFO: &str = "exec.fifo";

/// How long start waits for the init to take its byte.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Make the exec fifo in `dir` (root's alone) and open it O_PATH for the init to inherit.
pub fn make(dir: &Path) -> Result<(PathBuf, OwnedFd), Failure> {
    let path = dir.join(FIFO);
    let _ = std::fs::remove_file(&path);
    nix::unistd::mkfifo(&path, Mode::from_bits_truncate(0o600))
        .map_err(|errno| Failure::syscall(format!("cannot make {}", path.display()), errno))?;
    // O_PATH: a handle to the fifo itself, which opens nothing and so does not block.
    let fd = open(&path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|errno| Failure::syscall(format!("cannot open {}", path.display()), errno))?;
    Ok((path, fd))
}

// ANCHOR: wait_for_start
/// In the init, after its setup: block until start opens the fifo, then tell it we go on.
pub fn wait_for_start(fifo: RawFd) -> Result<(), Failure> {
    // EXERCISE(ch08-1): Make the init wait, costing nothing, until start releases it, then
    // tell start it goes on. `fifo` is an O_PATH fd of the exec fifo, opened by create
    // before pivot_root: the host's path to the fifo is out of reach now, the fd is not.
    // Only opening a fifo blocks until its other end is opened (fifo(7), open(2)); an
    // O_PATH fd opens nothing (proc(5) says how to open again what such an fd names).
    // start reads one byte, and takes only a byte as "the init took the start". A signal
    // may interrupt the wait (EINTR): keep waiting. Nothing you open may reach the command.
    // HINT(1): start opens the fifo for reading; the init opens it for writing. Whichever
    //   opens first blocks until the other comes (for the writer: unless O_NONBLOCK, which
    //   fails with ENXIO instead). Once both ends are open, the init writes its byte and
    //   returns; its exec then closes its end, so the fd must be close-on-exec.
    // HINT(2): proc(5): /proc/self/fd/N is a "magic link" to what fd N names; open(2) on
    //   it opens the fifo itself, with the flags you give now (O_WRONLY | O_CLOEXEC). Loop
    //   while open returns EINTR. Then write(2) one byte on the new fd.
    // HINT(3): let fd = loop { match nix::fcntl::open(format!("/proc/self/fd/{fifo}")
    //   .as_str(), OFlag::O_WRONLY | OFlag::O_CLOEXEC, Mode::empty()) { Err(Errno::EINTR) =>
    //   continue, other => break other } }.map_err(|e| Failure::syscall("…", e))?;
    //   nix::unistd::write(&fd, b"0").map_err(…)?; Ok(())
    let through_proc = format!("/proc/self/fd/{fifo}");
    // Blocks here, in open(2), until a reader opens the fifo (fifo(7)).
    let fd = loop {
        match open(
            through_proc.as_str(),
            OFlag::O_WRONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Err(Errno::EINTR) => continue,
            other => break other,
        }
    }
    .map_err(|errno| Failure::syscall("cannot open the exec fifo", errno))?;
    nix::unistd::write(&fd, b"0")
        .map_err(|errno| Failure::syscall("cannot write to the exec fifo", errno))?;
    Ok(())
    // END EXERCISE
}
// ANCHOR_END: wait_for_start

// ANCHOR: release
/// start: open the fifo for reading, which releases the init blocked in its open(2), take
/// its byte, and remove the fifo: from now on the instance is running.
///
/// The open is non-blocking and the wait a poll(2) with the init's liveness checked between
/// tries: a blocking open would hang for ever if the init has died meanwhile.
pub fn release(dir: &Path, init: Runtime) -> Result<(), Failure> {
    let path = dir.join(FIFO);
    let fd = open(
        &path,
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|errno| {
        Failure::syscall(format!("cannot open {}", path.display()), errno)
            .hint("the container is not waiting to start: see its state with inspect")
    })?;
    let mut file = std::fs::File::from(fd);
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(20u16)) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(errno) => return Err(Failure::syscall("cannot wait on the exec fifo", errno)),
        }
        let mut byte = [0u8; 1];
        match file.read(&mut byte) {
            Ok(1) => break,
            // No writer yet (0) or nothing written yet (EAGAIN): is the init still there?
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(error) => return Err(Failure::io("cannot read the exec fifo", error)),
        }
        if !init.is_alive() {
            return Err(
                Failure::new("the container's init ended before it could start")
                    .hint("see what it printed with logs"),
            );
        }
        if !path.exists() {
            return Err(Failure::new("the container was started by another command")
                .hint("see its state with inspect"));
        }
        if Instant::now() > deadline {
            return Err(Failure::new("the container's init did not take the start")
                .hint("it is stuck before its exec fifo; stop it and start it again"));
        }
    }
    // The command may already have ended and its monitor removed the fifo with the rest of
    // the instance: then there is nothing left to remove.
    match std::fs::remove_file(&path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(Failure::io(
            format!("cannot remove {}", path.display()),
            error,
        )),
        _ => Ok(()),
    }
}
// ANCHOR_END: release
