//! The OCI-shaped core: `create` does everything up to execve(2), `start` lets it happen.
//!
//! ```text
//!   create (a process that then exits)          the container's init (PID 1 inside)
//!   mkfifo exec.fifo, open it O_PATH
//!   clone(2), no parent-death signal ─────────▶ hostname, private mounts, overlay,
//!   join the cgroup, "go" ──────────────────▶   volumes, pivot_root, /proc, /sys, /dev
//!   wait for "set up" ◀── report closed ─────── open exec.fifo for writing: blocks
//!   exit: the init is adopted by the monitor
//!   start: open exec.fifo for reading ────────▶ the open returns: write a byte, execve(2)
//! ```
//!
//! A setup that fails is reported to create, which reports it to whoever called it: the
//! runtime spec wants errors of create's work to come from create. What fails after start
//! (the command is not found) is the command's exit code, 127, and a line in its output.

use std::convert::Infallible;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};

use boxcar::image::Store;
use boxcar::spec::Container;
use boxcar::state::Runtime;
use boxcar::Failure;
use ch01_solution::process::Process;
use ch01_solution::spine::{self, Lifetime};
use ch01_solution::{namespaces, uts};
use ch02_solution::{init, mounts};
use ch03_solution::cgroup::Cgroup;
use ch03_solution::limits::Limits;
use ch04_solution::rootfs::Source;
use ch04_solution::{chroot, image_config, user};
use ch05_solution::volumes::{self, Volume};
use ch05_solution::{dev, pivot};
use ch06_solution::containers::Containers;
use ch06_solution::layers;
use ch06_solution::overlay::{self, Dirs};
use nix::sched::CloneFlags;
use nix::unistd::Pid;

/// Everything create needs, checked and prepared before anything is created: the same
/// checks and the same order as chapter 07's `run`.
#[derive(Debug)]
pub struct Plan {
    pub hostname: String,
    pub process: Process,
    pub flags: CloneFlags,
    pub limits: Limits,
    /// The user the command runs as (chapter 04's `--user` and the image's User).
    pub user: oci_spec::runtime::User,
    pub init: bool,
    pub read_only: bool,
    /// The command's working directory, made in the container if the image lacks it.
    pub workdir: PathBuf,
    /// The image's layers and this container's overlay directories, for an image.
    pub overlay: Option<(Vec<PathBuf>, Dirs)>,
    /// What becomes `/`: the overlay's merged directory or a `--rootfs` directory.
    pub rootfs: Option<PathBuf>,
    pub volumes: Vec<Volume>,
    /// Where each volume is mounted, under `rootfs`.
    pub targets: Vec<PathBuf>,
    /// What chapter 07 connects once the init exists.
    pub network: ch07_solution::network::Plan,
}

impl Plan {
    /// Check what `container` asks for, then make its mount points (in its upper layer for
    /// an image). Idempotent: a warm start prepares the same directories again.
    pub fn prepare(container: &Container, state_root: &Path) -> Result<Plan, Failure> {
        let hostname = container.hostname().to_string();
        uts::check_hostname(&hostname)?;
        let process = Process::from_spec(container.process())?;
        let flags = namespaces::clone_flags(&container.namespaces())?;
        let limits = Limits::from_resources(&container.resources())?;
        let network = crate::network::plan(container)?;
        let store = Store::new(state_root);
        let volumes: Vec<Volume> = container
            .mounts()
            .iter()
            .map(Volume::from_mount)
            .collect::<Result<_, _>>()?;
        let (rootfs, overlay, targets) = match Source::of(container, &store)? {
            Some(Source::Image(image)) => {
                let lowerdirs = layers::lowerdirs(&store, state_root, &image)?;
                let dirs = Containers::new(state_root).overlay(&container.id);
                overlay::check_options_fit(&lowerdirs, &dirs)?;
                dirs.create()?;
                let targets = overlay::prepare_in_overlay(&dirs, &lowerdirs, &volumes)?;
                (Some(dirs.merged.clone()), Some((lowerdirs, dirs)), targets)
            }
            Some(Source::Dir(dir)) => {
                chroot::ensure_mount_points(&dir, &overlay::MOUNT_POINTS)?;
                let targets = volumes
                    .iter()
                    .map(|v| v.prepare(&dir))
                    .collect::<Result<_, _>>()?;
                (Some(dir), None, targets)
            }
            None => (None, None, Vec::new()),
        };
        Ok(Plan {
            hostname,
            process,
            flags,
            limits,
            user: container.process().user().clone(),
            init: container.host.init,
            workdir: container.process().cwd().clone(),
            read_only: container.read_only(),
            overlay,
            rootfs,
            volumes,
            targets,
            network,
        })
    }
}

/// `container` with chapter 04's merge of its image's config under the flags (the image's
/// Entrypoint/Cmd, Env, WorkingDir, User), names looked up in its layers or `--rootfs`
/// directory: what chapter 06's run does, done once when the container is made, so that its
/// config.json is the result and a warm start reads it back as it is.
pub fn with_image_config(container: &Container, state_root: &Path) -> Result<Container, Failure> {
    let store = Store::new(state_root);
    match Source::of(container, &store)? {
        Some(Source::Image(image)) => {
            let lowerdirs = layers::lowerdirs(&store, state_root, &image)?;
            let config = store.image(&image)?.config;
            image_config::merge(container, Some(&config), &lowerdirs)
        }
        Some(Source::Dir(dir)) => image_config::merge(container, None, &[dir]),
        None => image_config::merge(container, None, &[]),
    }
}

/// create: clone the container's init into its namespaces and cgroup, let it set itself up,
/// and return once it waits at the exec fifo (`fifo`, an O_PATH fd it inherits). With
/// `Lifetime::OutlivesParent` the init outlives the caller, and whoever is above the caller
/// must be a child subreaper to reap it.
pub fn create(
    plan: &Plan,
    cgroup: &Cgroup,
    fifo: RawFd,
    lifetime: Lifetime,
) -> Result<Pid, Failure> {
    let mut child = spine::spawn_with(plan.flags, lifetime, |channel| {
        // The child's setup, in order: chapter 06's, then the wait for start.
        uts::set_hostname(&plan.hostname)?;
        mounts::make_private()?;
        if let Some((lowerdirs, dirs)) = &plan.overlay {
            overlay::mount_overlay(lowerdirs, dirs)?;
        }
        if let Some(rootfs) = &plan.rootfs {
            // The volumes first, while the host's paths are reachable; the pivot keeps them.
            for (volume, target) in plan.volumes.iter().zip(&plan.targets) {
                volumes::bind(volume, target)?;
            }
            pivot::pivot_into(rootfs)?;
            image_config::ensure_workdir(&plan.workdir)?;
        }
        mounts::mount_proc()?;
        if plan.rootfs.is_some() {
            pivot::mount_sys_readonly()?;
            dev::mount_minimal_dev()?;
            if plan.read_only {
                pivot::make_root_read_only()?;
            }
        }
        // As runc's init does before its fifo: a command that cannot run is create's error.
        plan.process.check_runnable()?;
        // Set up: closing the report pipe tells create so (end-of-file, as an exec would).
        channel.close_report();
        wait_then_exec(plan, fifo, channel)
    })?;
    cgroup.add_process(child.pid())?;
    child.start()?;
    Ok(child.pid())
}

/// In the init: wait at the exec fifo, then become the command (or its init). A failure
/// from here on cannot be reported to create, which has returned: it is printed, and the
/// spine ends the init with its exit code.
fn wait_then_exec(
    plan: &Plan,
    fifo: RawFd,
    channel: &mut boxcar::channel::ChildEnd,
) -> Result<Infallible, Failure> {
    // The user is switched after the wait: a process that changes its uid loses access to
    // its own /proc/self/fd (it is no longer "dumpable", proc(5)), the fifo's way in.
    let ran = crate::fifo::wait_for_start(fifo).and_then(|()| {
        user::switch(&plan.user)?;
        if plan.init {
            init::run_as_init(&plan.process, channel)
        } else {
            plan.process.exec()
        }
    });
    if let Err(failure) = &ran {
        eprintln!("{}: {failure}", boxcar::cli::program_name());
    }
    ran
}

/// start: let a created instance's init go on to execve(2) (see [`crate::fifo::release`]).
pub fn start(dir: &Path, init: Runtime) -> Result<(), Failure> {
    crate::fifo::release(dir, init)
}
