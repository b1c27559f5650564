//! ch01: run a command in new UTS and IPC namespaces, with a hostname of its own.
//!
//! `ch01-solution run --hostname box -- hostname` prints `box`; the host keeps its name.

// Your starter, generated from solutions/ by `cargo boxcar sync`: fill in the TODOs.
// Until you do, some imports and arguments are unused; these lints stay quiet meanwhile.
#![allow(
    unused_imports,
    unused_variables,
    unused_mut,
    dead_code,
    unreachable_code
)]

use boxcar::cli::{self, RunArgs};
use boxcar::{state, Failure};
use ch01::process::Process;
use ch01::{spine, uts};

fn main() {
    cli::main(1, run)
}

fn run(args: &RunArgs) -> Result<i32, Failure> {
    // Check everything the user gave before anything is created.
    let id = args.name.clone().unwrap_or_else(state::new_container_id);
    let hostname = args.hostname.clone().unwrap_or(id);
    uts::check_hostname(&hostname)?;
    let process = Process::from_args(args, &hostname)?;

    let mut child = spine::spawn(uts::namespaces(), |_channel| {
        // The child's setup, in order. Each chapter adds its steps to this list.
        uts::set_hostname(&hostname)?;
        process.exec()
    })?;
    child.start()?;
    child.wait()
}
