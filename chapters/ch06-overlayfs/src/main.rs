//! ch06: chapter 05 on an overlay: the image's layers are shared and read-only, each
//! container writes into its own upper layer, and it is kept after exit until `rm` (or
//! `run --rm`). Also `ps [-a] [--size]`, `diff`, `commit` and `rm`.

// Your starter, generated from solutions/ by `cargo boxcar sync`: fill in the TODOs.
// Until you do, some imports and arguments are unused; these lints stay quiet meanwhile.
#![allow(
    unused_imports,
    unused_variables,
    unused_mut,
    dead_code,
    unreachable_code
)]

use std::path::PathBuf;
use std::time::Instant;

use boxcar::cli::{self, RunArgs};
use boxcar::image::Store;
use boxcar::{state, Failure};
use ch01_solution::process::Process;
use ch01_solution::{spine, uts};
use ch02_solution::{init, mounts, pid, signals};
use ch03_solution::cgroup::{self, Cgroup};
use ch03_solution::limits::Limits;
use ch04_solution::chroot;
use ch04_solution::rootfs::Source;
use ch05_solution::volumes::{self, Volume};
use ch05_solution::{dev, pivot};
use ch06::containers::{Containers, Record, Status};
use ch06::overlay::{self, Dirs};
use ch06::{commands, layers};

fn main() {
    cli::main_with(6, run, commands::run)
}

fn run(args: &RunArgs) -> Result<i32, Failure> {
    // Check everything the user gave before anything is created.
    let id = state::new_container_id();
    let name = args.name.clone().unwrap_or_else(|| id.clone());
    let hostname = args.hostname.clone().unwrap_or_else(|| name.clone());
    uts::check_hostname(&hostname)?;
    let process = Process::from_args(args, &hostname)?;
    let limits = Limits::from_args(args)?;
    let source = Source::from_args(args)?;
    let volumes: Vec<Volume> = args
        .volumes
        .iter()
        .map(|spec| Volume::parse(spec))
        .collect::<Result<_, _>>()?;
    if source.is_none() && (!volumes.is_empty() || args.read_only || args.rm) {
        return Err(Failure::new(
            "-v, --read-only and --rm need a root filesystem of the container's own",
        )
        .hint("add --image busybox (or --rootfs DIR)"));
    }
    let root = state::root();
    let containers = Containers::new(&root);
    if args.name.is_some() {
        containers.check_name_free(&name)?;
    }

    cgroup::clean_stale();
    let cgroup = Cgroup::create(&id, &limits)?;
    // An image becomes an overlay of its shared layers and an upper layer of this container;
    // a --rootfs directory is used as it is.
    let mut kept = None;
    let (rootfs, overlay_parts): (Option<PathBuf>, Option<(Vec<PathBuf>, Dirs)>) = match &source {
        Some(Source::Image(image)) => {
            let lowerdirs = layers::lowerdirs(&Store::new(&root), &root, image)?;
            kept = Some(Kept::new(
                &containers,
                Record::new(&id, &name, image, &args.command),
                args.rm,
            )?);
            let dirs = containers.overlay(&id);
            dirs.create()?;
            (Some(dirs.merged.clone()), Some((lowerdirs, dirs)))
        }
        Some(Source::Dir(dir)) => (Some(dir.clone()), None),
        None => (None, None),
    };

    let forwarded = signals::block_forwarded()?;
    let mut child = spine::spawn(uts::namespaces() | pid::namespaces(), |channel| {
        // The child's setup, in order. It is PID 1 of its new PID namespace.
        uts::set_hostname(&hostname)?;
        mounts::make_private()?;
        if let Some((lowerdirs, dirs)) = &overlay_parts {
            overlay::mount_overlay(lowerdirs, dirs)?;
        }
        if let Some(rootfs) = &rootfs {
            chroot::ensure_mount_points(rootfs, &["proc", "sys", "dev"])?;
            let targets: Vec<PathBuf> = volumes
                .iter()
                .map(|v| v.prepare(rootfs))
                .collect::<Result<_, _>>()?;
            pivot::bind_to_itself(rootfs)?;
            for (volume, target) in volumes.iter().zip(&targets) {
                volumes::bind(volume, target)?;
            }
            pivot::pivot_into(rootfs)?;
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
    if let Some(kept) = &mut kept {
        kept.exit_code = Some(code);
    }
    cgroup.report(&cli::program_name(), args.stats, started.elapsed());
    Ok(code)
    // `kept` is dropped here: the record says Exited (or, with --rm, the container is gone).
}

/// The record of a container from an image, finished when dropped: marked exited with its
/// exit code (125 if it never ran), or removed with its upper layer under `--rm`.
struct Kept<'a> {
    containers: &'a Containers,
    record: Record,
    remove: bool,
    exit_code: Option<i32>,
}

impl<'a> Kept<'a> {
    fn new(containers: &'a Containers, record: Record, remove: bool) -> Result<Kept<'a>, Failure> {
        containers.save(&record)?;
        Ok(Kept {
            containers,
            record,
            remove,
            exit_code: None,
        })
    }
}

impl Drop for Kept<'_> {
    fn drop(&mut self) {
        if self.remove {
            let _ = self.containers.remove(&self.record.id);
            return;
        }
        self.record.status = Status::Exited;
        self.record.runtime_pid = None;
        self.record.exit_code = Some(self.exit_code.unwrap_or(boxcar::exit::RUNTIME_FAILED));
        let _ = self.containers.save(&self.record);
    }
}
