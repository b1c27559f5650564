//! ch02: chapter 01, plus a process tree and a mount table of the container's own.
//!
//! `ch02-solution run -- ps` lists only the container's processes; the command is PID 1,
//! or PID 2 under `--init`.

use boxcar::cli::{self, RunArgs};
use boxcar::{state, Failure};
use ch01_solution::process::Process;
use ch01_solution::{spine, uts};
use ch02_solution::{init, mounts, pid, signals};

fn main() {
    cli::main(2, run)
}

// ANCHOR: run
fn run(args: &RunArgs) -> Result<i32, Failure> {
    // Check everything the user gave before anything is created.
    let id = args.name.clone().unwrap_or_else(state::new_container_id);
    let hostname = args.hostname.clone().unwrap_or(id);
    uts::check_hostname(&hostname)?;
    let process = Process::from_args(args, &hostname)?;

    let forwarded = signals::block_forwarded()?;
    let mut child = spine::spawn(uts::namespaces() | pid::namespaces(), |channel| {
        // The child's setup, in order. It is PID 1 of its new PID namespace.
        uts::set_hostname(&hostname)?;
        mounts::make_private()?;
        mounts::mount_proc()?;
        if args.init {
            init::run_as_init(&process, channel)
        } else {
            process.exec()
        }
    })?;
    child.start()?;
    signals::wait_forwarding(&child, &forwarded)
}
// ANCHOR_END: run
