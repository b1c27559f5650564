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

use std::time::Instant;

use boxcar::cli::{self, RunArgs};
use boxcar::{state, Failure};
use ch01_solution::process::Process;
use ch01_solution::{spine, uts};
use ch02_solution::{init, mounts, pid, signals};
use ch03::cgroup::{self, Cgroup};
use ch03::limits::Limits;

fn main() {
    cli::main(3, run)
}

fn run(args: &RunArgs) -> Result<i32, Failure> {
    // Check everything the user gave before anything is created.
    let id = state::new_container_id();
    let hostname = args
        .hostname
        .clone()
        .or_else(|| args.name.clone())
        .unwrap_or_else(|| id.clone());
    uts::check_hostname(&hostname)?;
    let process = Process::from_args(args, &hostname)?;
    let limits = Limits::from_args(args)?;

    // A runtime killed with SIGKILL left its cgroups behind: remove them now.
    cgroup::clean_stale();
    let cgroup = Cgroup::create(&id, &limits)?;

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
    // The child waits for "go": it joins the cgroup before the command can run a single
    // instruction, and every process it starts is born inside.
    cgroup.add_process(child.pid())?;
    let started = Instant::now();
    child.start()?;
    let code = signals::wait_forwarding(&child, &forwarded)?;

    cgroup.report(&cli::program_name(), args.stats, started.elapsed());
    Ok(code)
    // `cgroup` is dropped here: whatever is left in it is killed, and it is removed.
}
