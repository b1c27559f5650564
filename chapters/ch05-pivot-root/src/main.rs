//! ch05: chapter 04 with pivot_root instead of chroot, a minimal /dev, a read-only /sys,
//! `--read-only` and `-v HOST:CTR[:ro]` volumes.
//!
//! The chroot escape of chapter 04 now climbs to the container's own root and no further.

// Your starter, generated from solutions/ by `cargo boxcar sync`: fill in the TODOs.
// Until you do, some imports and arguments are unused; these lints stay quiet meanwhile.
#![allow(
    unused_imports,
    unused_variables,
    unused_mut,
    dead_code,
    unreachable_code
)]

use std::path::{Path, PathBuf};
use std::time::Instant;

use boxcar::cli;
use boxcar::image::Store;
use boxcar::spec::Container;
use boxcar::Failure;
use ch01_solution::process::Process;
use ch01_solution::{namespaces, spine, uts};
use ch02_solution::{init, mounts, signals};
use ch03_solution::cgroup::{self, Cgroup};
use ch03_solution::limits::Limits;
use ch04_solution::rootfs::{Rootfs, Source};
use ch04_solution::{chroot, image_config, images, user};
use ch05::volumes::{self, Volume};
use ch05::{dev, pivot};

fn main() {
    cli::main_with(5, run, images::command)
}

fn run(container: &Container, state_root: &Path) -> Result<i32, Failure> {
    // Check everything the spec asks for before anything is created.
    let hostname = container.hostname();
    uts::check_hostname(hostname)?;
    let flags = namespaces::clone_flags(&container.namespaces())?;
    let limits = Limits::from_resources(&container.resources())?;
    let store = Store::new(state_root);
    let source = Source::of(container, &store)?;
    let image = source
        .as_ref()
        .map(|source| source.config(&store))
        .transpose()?
        .flatten();
    let volumes: Vec<Volume> = container
        .mounts()
        .iter()
        .map(Volume::from_mount)
        .collect::<Result<_, _>>()?;

    cgroup::clean_stale();
    let cgroup = Cgroup::create(&container.id, &limits)?;
    let rootfs = source
        .map(|source| Rootfs::prepare(&source, &container.id, &store))
        .transpose()?;
    // The image's command, environment, working directory and user under the flags; the
    // user's name is looked up in the root filesystem just prepared.
    let roots: Vec<PathBuf> = rootfs.iter().map(|r| r.path().to_path_buf()).collect();
    let container = &image_config::merge(container, image.as_ref(), &roots)?;
    let process = Process::from_spec(container.process())?;
    // In the parent, before clone: the mount points the child mounts on.
    let mut targets: Vec<PathBuf> = Vec::new();
    if let Some(rootfs) = &rootfs {
        chroot::ensure_mount_points(rootfs.path(), &["proc", "sys", "dev"])?;
        targets = volumes
            .iter()
            .map(|v| v.prepare(rootfs.path()))
            .collect::<Result<_, _>>()?;
    }

    let forwarded = signals::block_forwarded()?;
    let mut child = spine::spawn(flags, |channel| {
        // The child's setup, in order. It is PID 1 of its new PID namespace.
        uts::set_hostname(hostname)?;
        mounts::make_private()?;
        if let Some(rootfs) = &rootfs {
            // The volumes first, while the host's paths are reachable; the pivot keeps them.
            for (volume, target) in volumes.iter().zip(&targets) {
                volumes::bind(volume, target)?;
            }
            pivot::pivot_into(rootfs.path())?;
            image_config::ensure_workdir(container.process().cwd())?;
        }
        mounts::mount_proc()?;
        if rootfs.is_some() {
            pivot::mount_sys_readonly()?;
            dev::mount_minimal_dev()?;
            if container.read_only() {
                pivot::make_root_read_only()?;
            }
        }
        user::switch(container.process().user())?;
        if container.host.init {
            init::run_as_init(&process, channel)
        } else {
            process.exec()
        }
    })?;
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
}
