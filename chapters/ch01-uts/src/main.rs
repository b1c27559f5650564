//! ch01: run a command in new UTS and IPC namespaces, with a hostname of its own.
//!
//! `ch01-solution run --hostname box -- hostname` prints `box`; the host keeps its name.
//! `ch01-solution spec --hostname box -- hostname` prints the container's config.json.

// Your starter, generated from solutions/ by `cargo boxcar sync`: fill in the TODOs.
// Until you do, some imports and arguments are unused; these lints stay quiet meanwhile.
#![allow(
    unused_imports,
    unused_variables,
    unused_mut,
    dead_code,
    unreachable_code
)]

use std::path::Path;

use boxcar::cli;
use boxcar::spec::Container;
use boxcar::Failure;
use ch01::process::Process;
use ch01::{namespaces, spine, uts};

fn main() {
    cli::main(1, run)
}

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
