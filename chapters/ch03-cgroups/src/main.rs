//! ch03: chapter 02, plus cgroups: `--memory`, `--cpus`, `--pids-limit` and `--stats`.
//!
//! `ch03-solution run --memory 32m -- <a memory hog>` ends with 137 and
//! `container killed: out of memory (limit 32 MiB)`.

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
use std::time::Instant;

use boxcar::cli;
use boxcar::spec::Container;
use boxcar::Failure;
use ch01_solution::process::Process;
use ch01_solution::{namespaces, spine, uts};
use ch02_solution::{init, mounts, signals};
use ch03::cgroup::{self, Cgroup};
use ch03::limits::Limits;

fn main() {
    cli::main(3, run)
}

fn run(container: &Container, _state_root: &Path) -> Result<i32, Failure> {
    // Check everything the spec asks for before anything is created.
    let hostname = container.hostname();
    uts::check_hostname(hostname)?;
    let process = Process::from_spec(container.process())?;
    let flags = namespaces::clone_flags(&container.namespaces())?;
    let limits = Limits::from_resources(&container.resources())?;

    // A runtime killed with SIGKILL left its cgroups behind: remove them now.
    cgroup::clean_stale();
    let cgroup = Cgroup::create(&container.id, &limits)?;

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
    // The child waits for "go": it joins the cgroup before the command can run a single
    // instruction, and every process it starts is born inside.
    cgroup.add_process(child.pid())?;
    let started = Instant::now();
    child.start()?;
    let code = signals::wait_forwarding(&child, &forwarded)?;

    cgroup.report(
        &cli::program_name(),
        container.host.stats,
        started.elapsed(),
    );
    Ok(code)
    // `cgroup` is dropped here: whatever is left in it is killed, and it is removed.
}
