//! ch04: chapter 03, plus a root filesystem from an image (`--image`) or a directory
//! (`--rootfs`), entered with chroot(2). Also `images`, `import` and `export`.
//!
//! `ch04-solution run --image busybox -- cat /etc/os-release` reads the image's file.

use std::time::Instant;

use boxcar::cli::{self, RunArgs};
use boxcar::{state, Failure};
use ch01_solution::process::Process;
use ch01_solution::{spine, uts};
use ch02_solution::{init, mounts, pid, signals};
use ch03_solution::cgroup::{self, Cgroup};
use ch03_solution::limits::Limits;
use ch04_solution::chroot;
use ch04_solution::rootfs::{Rootfs, Source};

fn main() {
    cli::main(4, run)
}

// ANCHOR: run
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
    let source = Source::from_args(args)?;

    cgroup::clean_stale();
    let cgroup = Cgroup::create(&id, &limits)?;
    let rootfs = source
        .map(|source| Rootfs::prepare(&source, &id))
        .transpose()?;
    if let Some(rootfs) = &rootfs {
        chroot::ensure_mount_points(rootfs.path(), &["proc"])?;
    }

    let forwarded = signals::block_forwarded()?;
    let mut child = spine::spawn(uts::namespaces() | pid::namespaces(), |channel| {
        // The child's setup, in order. It is PID 1 of its new PID namespace.
        uts::set_hostname(&hostname)?;
        mounts::make_private()?;
        if let Some(rootfs) = &rootfs {
            chroot::enter(rootfs.path())?;
        }
        mounts::mount_proc()?; // on the container's /proc, now that / is the rootfs
        if args.init {
            init::run_as_init(&process, channel)
        } else {
            process.exec()
        }
    })?;
    cgroup.add_process(child.pid())?;
    let started = Instant::now();
    child.start()?;
    let code = signals::wait_forwarding(&child, &forwarded)?;

    cgroup.report(&cli::program_name(), args.stats, started.elapsed());
    Ok(code)
    // Dropped here, in reverse order: the rootfs is removed, the cgroup emptied and removed.
}
// ANCHOR_END: run
