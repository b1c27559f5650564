//! ch01: run a command in new UTS and IPC namespaces, with a hostname of its own.
//!
//! `ch01-solution run --hostname box -- hostname` prints `box`; the host keeps its name.
//! `ch01-solution spec --hostname box -- hostname` prints the container's config.json.

use std::path::Path;

use boxcar::cli;
use boxcar::spec::Container;
use boxcar::Failure;
use ch01_solution::process::Process;
use ch01_solution::{namespaces, spine, uts};

fn main() {
    cli::main(1, run)
}

// ANCHOR: run
fn run(container: &Container, _state_root: &Path) -> Result<i32, Failure> {
    // Check everything the spec asks for before anything is created.
    let hostname = container.hostname();
    uts::check_hostname(hostname)?;
    let process = Process::from_spec(container.process())?;
    let flags = namespaces::clone_flags(&container.namespaces())?;

    let mut child = spine::spawn(flags, |_channel| {
        // The child's setup, in order. Each chapter adds its steps to this list.
        uts::set_hostname(hostname)?;
        process.exec()
    })?;
    child.start()?;
    child.wait()
}
// ANCHOR_END: run
