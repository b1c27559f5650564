//! ch05: chapter 04 with pivot_root instead of chroot, a minimal /dev, a read-only /sys,
//! `--read-only` and `-v HOST:CTR[:ro]` volumes.
//!
//! The chroot escape of chapter 04 now climbs to the container's own root and no further.

use std::path::PathBuf;
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
use ch05_solution::volumes::{self, Volume};
use ch05_solution::{dev, pivot};

fn main() {
    cli::main(5, run)
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
    let volumes: Vec<Volume> = args
        .volumes
        .iter()
        .map(|spec| Volume::parse(spec))
        .collect::<Result<_, _>>()?;
    if source.is_none() && (!volumes.is_empty() || args.read_only) {
        return Err(Failure::new(
            "-v and --read-only need a root filesystem of the container's own",
        )
        .hint("add --image busybox (or --rootfs DIR)"));
    }

    cgroup::clean_stale();
    let cgroup = Cgroup::create(&id, &limits)?;
    let rootfs = source
        .map(|source| Rootfs::prepare(&source, &id))
        .transpose()?;
    let mut targets: Vec<PathBuf> = Vec::new();
    if let Some(rootfs) = &rootfs {
        chroot::ensure_mount_points(rootfs.path(), &["proc", "sys", "dev"])?;
        targets = volumes
            .iter()
            .map(|v| v.prepare(rootfs.path()))
            .collect::<Result<_, _>>()?;
    }

    let forwarded = signals::block_forwarded()?;
    let mut child = spine::spawn(uts::namespaces() | pid::namespaces(), |channel| {
        // The child's setup, in order. It is PID 1 of its new PID namespace.
        uts::set_hostname(&hostname)?;
        mounts::make_private()?;
        if let Some(rootfs) = &rootfs {
            pivot::bind_to_itself(rootfs.path())?;
            for (volume, target) in volumes.iter().zip(&targets) {
                volumes::bind(volume, target)?;
            }
            pivot::pivot_into(rootfs.path())?;
        }
        mounts::mount_proc()?;
        if rootfs.is_some() {
            pivot::mount_sys_readonly()?;
            dev::mount_minimal_dev()?;
            if args.read_only {
                pivot::make_root_read_only()?;
            }
        }
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
}
// ANCHOR_END: run
