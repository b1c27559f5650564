//! Chapter 02's behaviour: PID and mount namespaces, /proc, signals and `--init`.
//!
//! Run: `cargo test --test ch02` (every solution from chapter 02 on), or
//! `cargo boxcar verify 2` (your chapters/ch02, with explanations).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::signal::Signal;
use serde_json::Value;
use workshop::testing::{self, ns_inode, Check, Ctx};

fn main() {
    testing::main(2, checks())
}

fn checks() -> Vec<Check> {
    vec![
        Check::pillar(
            "command_is_pid_1",
            "the command is PID 1 of a PID namespace of its own",
            "in a new PID namespace numbering starts again at 1, so `echo $$` prints 1",
            "the spec lists the pid namespace and chapter 01's clone_flags creates it: the child's setup (make_private, mount_proc) must get as far as exec",
            command_is_pid_1,
        ),
        Check::pillar(
            "ps_shows_only_the_container",
            "/proc inside lists only the container's processes",
            "a procfs shows the PID namespace of whoever mounted it: the child must mount its own",
            "mount a new proc on /proc in the child (mounts::mount_proc), after making mounts private",
            ps_shows_only_the_container,
        ),
        Check::pillar(
            "mounts_do_not_reach_the_host",
            "a mount made inside the container is not seen by the host",
            "with / shared (systemd's default) a new mount propagates to the host unless made private",
            "mounts::make_private remounts / with MS_REC | MS_PRIVATE before anything is mounted",
            mounts_do_not_reach_the_host,
        ),
        Check::pillar(
            "sigterm_reaches_the_command",
            "SIGTERM sent to the runtime reaches the command",
            "a signal sent to the runtime reaches only the runtime: it must pass it on to PID 1, as docker run's --sig-proxy does",
            "signals::wait_forwarding sends every forwarded signal to the child with kill(2)",
            sigterm_reaches_the_command,
        ),
        Check::pillar(
            "pid_1_ignores_sigterm_it_does_not_handle",
            "as PID 1, a command with no SIGTERM handler ignores SIGTERM; SIGKILL of the runtime still ends everything",
            "the kernel delivers to a namespace's init only signals it handles (pid_namespaces(7)); PR_SET_PDEATHSIG kills the container with the runtime",
            "this is PID 1's nature: --init is the cure; if the container outlives the runtime, check set_pdeathsig in the spine",
            pid_1_ignores_sigterm_it_does_not_handle,
        ),
        Check::pillar(
            "orphans_stay_zombies_without_init",
            "without --init, an orphan that exits stays a zombie under a PID 1 that never waits",
            "orphans are reparented to the namespace's PID 1: it alone can reap them",
            "the PID namespace must be new, so orphans go to the container's PID 1, not the host's init",
            orphans_stay_zombies_without_init,
        ),
        Check::pillar(
            "init_reaps_zombies",
            "with --init the command is PID 2 and orphans that exit are reaped",
            "the init waits with waitpid(-1): any child, including the orphans it inherits",
            "init::reap_all loops on waitpid(-1, WNOHANG) until no child is left to reap",
            init_reaps_zombies,
        ),
        Check::pillar(
            "init_forwards_sigterm",
            "with --init, SIGTERM stops a command that has no handler for it (exit 143)",
            "the command is PID 2, an ordinary process: the init's forwarded SIGTERM kills it",
            "init::supervise sends every signal other than SIGCHLD to the command",
            init_forwards_sigterm,
        ),
        Check::pillar(
            "init_passes_exit_codes_and_errors_through",
            "with --init, the command's exit code and a missing command's 127 still arrive",
            "the init exits with the command's status, and the command's exec error reaches the runtime",
            "init::supervise returns exit::code_of of the command; PID 1 closes its report end after fork",
            init_passes_exit_codes_and_errors_through,
        ),
        Check::pillar(
            "proc_is_mounted_nosuid_nodev_noexec",
            "the container's /proc is mounted nosuid, nodev and noexec",
            "nothing in /proc is a program, a device or setuid: a mount that allows them only widens what an attacker can try (runc and docker set all three)",
            "mounts::mount_proc passes the flags that forbid setuid, device files and execution",
            proc_is_mounted_nosuid_nodev_noexec,
        ),
        Check::pillar(
            "every_forwarded_signal_reaches_the_command",
            "SIGHUP, SIGINT, SIGUSR1 and SIGUSR2 sent to the runtime reach the command, not only SIGTERM",
            "users reload with SIGHUP, interrupt with SIGINT and signal apps with SIGUSR1/2: a runtime that drops them breaks the app",
            "signals::wait_forwarding must pass on every signal it waited for except SIGCHLD",
            every_forwarded_signal_reaches_the_command,
        ),
        Check::pillar(
            "init_ends_with_its_command",
            "with --init, the container ends when its command ends, even if a background process still runs",
            "the init reaps without blocking (WNOHANG): it must not wait for children that are still alive; when it exits, the kernel kills the rest",
            "init::reap_all must return when no ended child is left, not wait for the living ones",
            init_ends_with_its_command,
        ),
    ]
}

fn proc_is_mounted_nosuid_nodev_noexec(ctx: &Ctx) -> Result<()> {
    // Field 5 of mountinfo is the mount point, field 6 the per-mount options (proc(5)).
    let script = "awk '$5 == \"/proc\" { print $6 }' /proc/self/mountinfo";
    let outcome = ctx.run(&["run", "--", "/bin/sh", "-c", script])?;
    outcome.expect_code(0)?;
    let options = outcome.out();
    for wanted in ["nosuid", "nodev", "noexec"] {
        ensure!(
            options.split(',').any(|option| option == wanted),
            "/proc is mounted with {options:?}: {wanted} is missing"
        );
    }
    Ok(())
}

fn every_forwarded_signal_reaches_the_command(ctx: &Ctx) -> Result<()> {
    let script = "for s in HUP INT USR1 USR2; do trap \"echo got $s\" $s; done; \
                  trap 'echo got TERM; exit 0' TERM; echo ready; \
                  while true; do sleep 0.05; done";
    let mut running = ctx.spawn(&["run", "--", "/bin/sh", "-c", script])?;
    running.wait_for_line("ready", Duration::from_secs(10))?;
    for (signal, line) in [
        (Signal::SIGHUP, "got HUP"),
        (Signal::SIGINT, "got INT"),
        (Signal::SIGUSR1, "got USR1"),
        (Signal::SIGUSR2, "got USR2"),
    ] {
        running.signal(signal)?;
        if let Err(error) = running.wait_for_line(line, Duration::from_secs(5)) {
            running.signal(Signal::SIGKILL)?;
            let _ = running.wait(Duration::from_secs(10));
            return Err(error.context(format!("{signal} did not reach the command")));
        }
    }
    running.signal(Signal::SIGTERM)?;
    running.wait(Duration::from_secs(10))?.expect_code(0)?;
    Ok(())
}

fn init_ends_with_its_command(ctx: &Ctx) -> Result<()> {
    let started = std::time::Instant::now();
    let outcome = ctx.run(&[
        "run",
        "--init",
        "--",
        "/bin/sh",
        "-c",
        "sleep 20 & echo started; exit 3",
    ])?;
    outcome.expect_code(3)?;
    ensure!(
        started.elapsed() < Duration::from_secs(10),
        "the container lasted {:?}: the init waited for the background sleep",
        started.elapsed()
    );
    Ok(())
}

fn command_is_pid_1(ctx: &Ctx) -> Result<()> {
    let outcome = ctx.run(&["run", "--", "/bin/sh", "-c", "echo $$"])?;
    outcome.expect_code(0)?;
    ensure!(
        outcome.out() == "1",
        "the command's pid is {}, not 1",
        outcome.out()
    );
    let seen = ctx.probe_with(&[], &["--only", "namespaces"])?;
    let inside = seen["namespaces"]["pid"]
        .as_u64()
        .context("the probe saw no pid namespace")?;
    ensure!(
        inside != ns_inode("pid")?,
        "the container shares the host's PID namespace"
    );
    Ok(())
}

fn pids(seen: &Value) -> Result<Vec<(u64, String)>> {
    let processes = seen["processes"]
        .as_array()
        .context("the probe listed no processes")?;
    Ok(processes
        .iter()
        .map(|p| {
            (
                p["pid"].as_u64().unwrap_or_default(),
                p["state"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect())
}

fn ps_shows_only_the_container(ctx: &Ctx) -> Result<()> {
    let seen = ctx.probe_with(&[], &["--only", "processes,mounts"])?;
    let listed: Vec<u64> = pids(&seen)?.into_iter().map(|(pid, _)| pid).collect();
    ensure!(
        listed == [1],
        "/proc inside lists {listed:?}; only the probe, PID 1, should be there"
    );
    let outcome = ctx.run(&["run", "--", "ps", "-o", "pid,comm"])?;
    outcome.expect_code(0)?;
    // procps sizes the PID column from kernel.pid_max, which differs between kernels (and,
    // from Linux 6.14, between PID namespaces): pin the columns, not their padding.
    let columns: String = outcome
        .stdout
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" ") + "\n")
        .collect();
    workshop::assert_snapshot!("ps_inside", ctx.redact(&columns));
    Ok(())
}

/// A bind mount of `dir` onto itself made *shared*, as systemd makes `/`: a mount under it
/// propagates to every copy of it, including the copy a new mount namespace gets.
/// Unmounted when dropped.
struct SharedMount(PathBuf);

impl SharedMount {
    fn new(dir: PathBuf) -> Result<Self> {
        std::fs::create_dir_all(&dir)?;
        mount(
            Some(&dir),
            &dir,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .context("bind mount")?;
        let shared = SharedMount(dir);
        mount(
            None::<&str>,
            &shared.0,
            None::<&str>,
            MsFlags::MS_SHARED,
            None::<&str>,
        )
        .context("make shared")?;
        Ok(shared)
    }
}

impl Drop for SharedMount {
    fn drop(&mut self) {
        let _ = umount2(&self.0, MntFlags::MNT_DETACH);
    }
}

fn mounts_do_not_reach_the_host(ctx: &Ctx) -> Result<()> {
    // Hosts differ (systemd makes / shared; this test must not depend on it), so the check
    // makes a shared mount of its own and lets the container mount under it.
    let shared = SharedMount::new(ctx.root().join("shared"))?;
    let target = shared.0.join("mnt");
    let done = ctx.root().join("done");
    std::fs::create_dir_all(&target)?;
    let script = format!(
        "mount -t tmpfs boxcar-test {} && echo mounted && while [ ! -e {} ]; do sleep 0.02; done",
        target.display(),
        done.display()
    );
    let mut running = ctx.spawn(&["run", "--", "/bin/sh", "-c", &script])?;
    running.wait_for_line("mounted", Duration::from_secs(10))?;
    let host_mounts = std::fs::read_to_string("/proc/self/mountinfo")?;
    let leaked = host_mounts
        .lines()
        .any(|line| line.contains(&target.display().to_string()));
    std::fs::write(&done, "")?;
    running.wait(Duration::from_secs(10))?.expect_code(0)?;
    if leaked {
        let _ = umount2(&target, MntFlags::MNT_DETACH);
    }
    drop(shared);
    ensure!(
        !leaked,
        "the tmpfs mounted inside at {} appeared on the host",
        target.display()
    );
    Ok(())
}

fn sigterm_reaches_the_command(ctx: &Ctx) -> Result<()> {
    let script =
        "trap 'echo got SIGTERM; exit 42' TERM; echo ready; while true; do sleep 0.05; done";
    let mut running = ctx.spawn(&["run", "--", "/bin/sh", "-c", script])?;
    running.wait_for_line("ready", Duration::from_secs(10))?;
    running.signal(Signal::SIGTERM)?;
    let outcome = running.wait(Duration::from_secs(10))?;
    outcome.expect_code(42)?;
    ensure!(
        outcome.stdout.contains("got SIGTERM"),
        "the trap did not run: {}",
        outcome.stdout
    );
    Ok(())
}

fn pid_1_ignores_sigterm_it_does_not_handle(ctx: &Ctx) -> Result<()> {
    let mut running = ctx.spawn(&["run", "--", "/bin/sh", "-c", "echo ready; exec sleep 30"])?;
    running.wait_for_line("ready", Duration::from_secs(10))?;
    std::thread::sleep(Duration::from_millis(100)); // let sh exec sleep
    running.signal(Signal::SIGTERM)?;
    let ignored = running.still_running_after(Duration::from_millis(400))?;
    running.signal(Signal::SIGKILL)?;
    let outcome = running.wait(Duration::from_secs(10))?;
    ensure!(
        ignored,
        "sleep as PID 1 ended on SIGTERM: is it really PID 1 of a new PID namespace?"
    );
    outcome.expect_code(137)?;
    // A runtime killed with SIGKILL cannot clean up; from chapter 03 on, the next run removes
    // what it left (its cgroup). Earlier chapters leave nothing to clean.
    ctx.run(&["run", "--", "true"])?.expect_code(0)?;
    Ok(())
}

fn zombies_seen(ctx: &Ctx, run_flags: &[&str]) -> Result<Vec<(u64, String)>> {
    // A subshell starts `sleep 0.1` and exits: the sleep is orphaned and reparented to PID 1.
    // Then PID 1 (or PID 2 under --init) becomes the probe, which never waits for anyone.
    let script = format!(
        "(sleep 0.1 &); exec {} --wait-ms 600 --only pid,processes",
        ctx.probe_arg()
    );
    let mut args = run_flags.to_vec();
    args.extend(["--", "/bin/sh", "-c", &script]);
    let seen = ctx.probe_raw(&args)?;
    Ok(pids(&seen)?
        .into_iter()
        .filter(|(_, state)| state == "Z")
        .collect())
}

fn orphans_stay_zombies_without_init(ctx: &Ctx) -> Result<()> {
    let zombies = zombies_seen(ctx, &[])?;
    ensure!(
        !zombies.is_empty(),
        "no zombie was seen: was the orphan reparented to the container's PID 1?"
    );
    Ok(())
}

fn init_reaps_zombies(ctx: &Ctx) -> Result<()> {
    let seen = ctx.probe_with(&["--init"], &["--only", "pid,ppid"])?;
    ensure!(
        seen["pid"] == 2 && seen["ppid"] == 1,
        "under --init the command should be PID 2, child of 1: {seen}"
    );
    let zombies = zombies_seen(ctx, &["--init"])?;
    ensure!(zombies.is_empty(), "zombies left under --init: {zombies:?}");
    Ok(())
}

fn init_forwards_sigterm(ctx: &Ctx) -> Result<()> {
    let mut running = ctx.spawn(&[
        "run",
        "--init",
        "--",
        "/bin/sh",
        "-c",
        "echo ready; exec sleep 30",
    ])?;
    running.wait_for_line("ready", Duration::from_secs(10))?;
    std::thread::sleep(Duration::from_millis(100));
    running.signal(Signal::SIGTERM)?;
    running.wait(Duration::from_secs(5))?.expect_code(143)?;
    Ok(())
}

fn init_passes_exit_codes_and_errors_through(ctx: &Ctx) -> Result<()> {
    ctx.run(&["run", "--init", "--", "/bin/sh", "-c", "exit 7"])?
        .expect_code(7)?;
    let missing = ctx.run(&["run", "--init", "--", "/nonexistent"])?;
    missing.expect_code(127)?;
    missing.one_error_line()?;
    Ok(())
}
