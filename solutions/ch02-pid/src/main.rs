//! ch02: chapter 01, plus a process tree and a mount table of the container's own.
//!
//! `ch02-solution run -- ps` lists only the container's processes; the command is PID 1,
//! or PID 2 under `--init`.

use std::path::Path;

use boxcar::cli;
use boxcar::spec::Container;
use boxcar::Failure;
use ch01_solution::process::Process;
use ch01_solution::{namespaces, spine, uts};
use ch02_solution::{init, mounts, signals};

fn main() {
    cli::main(2, run)
}

// ANCHOR: run
fn run(container: &Container, _state_root: &Path) -> Result<i32, Failure> {
    // Check everything the spec asks for before anything is created.
    let hostname = container.hostname();
    uts::check_hostname(hostname)?;
    let process = Process::from_spec(container.process())?;
    let flags = namespaces::clone_flags(&container.namespaces())?;

    let forwarded = signals::block_forwarded()?;
    let mut child = spine::spawn(flags, |channel| {
        // The child's setup, in order. It is PID 1 of its new PID namespace.
        uts::set_hostname(hostname)?;
        mounts::make_private()?;
        mounts::mount_proc()?;
        if container.host.init {
            init::run_as_init(&process, channel)
        } else {
            process.exec()
        }
    })?;
    child.start()?;
    signals::wait_forwarding(&child, &forwarded)
}
// ANCHOR_END: run
