//! ch06: chapter 05 on an overlay: the image's layers are shared and read-only, each
//! container writes into its own upper layer, and it is kept after exit until `rm` (or
//! `run --rm`), with the spec it ran with as `config.json`. Also `ps [-a] [--size]`, `diff`,
//! `commit` and `rm`.

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
use boxcar::image::Store;
use boxcar::spec::Container;
use boxcar::Failure;
use ch01_solution::process::Process;
use ch01_solution::{namespaces, spine, uts};
use ch02_solution::{init, mounts, signals};
use ch03_solution::cgroup::{self, Cgroup};
use ch03_solution::limits::Limits;
use ch04_solution::rootfs::Source;
use ch04_solution::{chroot, image_config, user};
use ch05_solution::volumes::{self, Volume};
use ch05_solution::{dev, pivot};
use ch06::containers::{Containers, Kept};
use ch06::overlay;
use ch06::{commands, layers};

fn main() {
    cli::main_with(6, run, commands::run)
}

fn run(container: &Container, state_root: &Path) -> Result<i32, Failure> {
    // Check everything the spec asks for before anything is created.
    let hostname = container.hostname();
    uts::check_hostname(hostname)?;
    let flags = namespaces::clone_flags(&container.namespaces())?;
    let limits = Limits::from_resources(&container.resources())?;
    let store = Store::new(state_root);
    let source = Source::of(container, &store)?;
    let volumes: Vec<Volume> = container
        .mounts()
        .iter()
        .map(Volume::from_mount)
        .collect::<Result<_, _>>()?;
    let containers = Containers::new(state_root);
    if container.host.name != container.id {
        containers.check_name_free(&container.host.name)?;
    }

    cgroup::clean_stale();
    let cgroup = Cgroup::create(&container.id, &limits)?;
    // An image becomes an overlay of its shared layers and an upper layer of this container,
    // with its mount points made in the parent; a --rootfs directory is used as it is.
    let mut kept = None;
    let mut merged = None;
    let (rootfs, overlay_parts, targets) = match &source {
        Some(Source::Image(image)) => {
            let lowerdirs = layers::lowerdirs(&store, state_root, image)?;
            let dirs = containers.overlay(&container.id);
            overlay::check_options_fit(&lowerdirs, &dirs)?;
            // Chapter 04's merge of the image's config, names looked up in its layers; the
            // record's config.json is the result.
            let config = store.image(image)?.config;
            let with_image =
                merged.insert(image_config::merge(container, Some(&config), &lowerdirs)?);
            kept = Some(Kept::new(&containers, with_image, image)?);
            dirs.create()?;
            let targets = overlay::prepare_in_overlay(&dirs, &lowerdirs, &volumes)?;
            (Some(dirs.merged.clone()), Some((lowerdirs, dirs)), targets)
        }
        Some(Source::Dir(dir)) => {
            chroot::ensure_mount_points(dir, &overlay::MOUNT_POINTS)?;
            let targets = volumes
                .iter()
                .map(|v| v.prepare(dir))
                .collect::<Result<_, _>>()?;
            (Some(dir.clone()), None, targets)
        }
        None => (None, None, Vec::new()),
    };
    let container = match &merged {
        Some(merged) => merged,
        None => &image_config::merge(container, None, &rootfs.iter().cloned().collect::<Vec<_>>())?,
    };
    let process = Process::from_spec(container.process())?;

    let forwarded = signals::block_forwarded()?;
    let mut child = spine::spawn(flags, |channel| {
        // The child's setup, in order. It is PID 1 of its new PID namespace.
        uts::set_hostname(hostname)?;
        mounts::make_private()?;
        if let Some((lowerdirs, dirs)) = &overlay_parts {
            overlay::mount_overlay(lowerdirs, dirs)?;
        }
        if let Some(rootfs) = &rootfs {
            // The volumes first, while the host's paths are reachable; the pivot keeps them.
            for (volume, target) in volumes.iter().zip(&targets) {
                volumes::bind(volume, target)?;
            }
            pivot::pivot_into(rootfs)?;
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
    if let Some(kept) = &mut kept {
        kept.exit_code = Some(code);
    }
    cgroup.report(
        &cli::program_name(),
        container.host.stats,
        started.elapsed(),
    );
    Ok(code)
    // `kept` is dropped here: the record says Exited (or, with --rm, the container is gone).
}
