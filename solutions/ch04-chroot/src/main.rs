//! ch04: chapter 03, plus a root filesystem from an image (`--image`) or a directory
//! (`--rootfs`), entered with chroot(2). Also `images`, `import` and `export`.
//!
//! `ch04-solution run --image busybox -- cat /etc/os-release` reads the image's file.

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

fn main() {
    cli::main_with(4, run, images::command)
}

// ANCHOR: run
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
    if let Some(rootfs) = &rootfs {
        chroot::ensure_mount_points(rootfs.path(), &["proc"])?;
    }

    let forwarded = signals::block_forwarded()?;
    let mut child = spine::spawn(flags, |channel| {
        // The child's setup, in order. It is PID 1 of its new PID namespace.
        uts::set_hostname(hostname)?;
        mounts::make_private()?;
        if let Some(rootfs) = &rootfs {
            chroot::enter(rootfs.path())?;
            image_config::ensure_workdir(container.process().cwd())?;
        }
        mounts::mount_proc()?; // on the container's /proc, now that / is the rootfs
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
    // Dropped here, in reverse order: the rootfs is removed, the cgroup emptied and removed.
}
// ANCHOR_END: run
