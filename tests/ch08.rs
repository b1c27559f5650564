//! Chapter 08's behaviour: the stoppable runtime. create sets a container up and stops just
//! before its command; start runs it; stop, start again over the same upper layer; exec
//! joins a running instance; logs keep every run; a killed monitor is cleaned up after.
//!
//! Run: `cargo test --test ch08` (every solution from chapter 08 on), or
//! `cargo boxcar verify 8` (your chapters/ch08, with explanations).

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;
use workshop::testing::{self, ns_inode, Check, Ctx, PROBE_IN_IMAGE};

fn main() {
    testing::main(8, checks())
}

fn checks() -> Vec<Check> {
    vec![
        Check::pillar(
            "create_sets_up_and_waits",
            "after create the container's init exists with its hostname, overlay root and cgroup, and the command has not run; start runs it; a second start exits 125",
            "create does all the setup and the init waits at the exec fifo; start only releases it",
            "core::create (the init's setup, then fifo::wait_for_start) and fifo::release",
            create_sets_up_and_waits,
        ),
        Check::pillar(
            "the_init_outlives_create",
            "after the create command has exited, the container's init is alive, adopted by the monitor",
            "an OCI create returns while its init waits: no parent-death signal, and a subreaper above to reap it",
            "spine::spawn_with(Lifetime::OutlivesParent) and the monitor's PR_SET_CHILD_SUBREAPER",
            the_init_outlives_create,
        ),
        Check::pillar(
            "stop_and_start_keep_the_upper_layer",
            "a file written in one run is there after stop and start; logs show both runs; rm leaves nothing",
            "the container (record, upper layer, log) lives from create to rm; an instance from start to stop",
            "the warm start in commands::start: a new monitor over the same upper layer",
            stop_and_start_keep_the_upper_layer,
        ),
        Check::pillar(
            "exec_joins_the_running_container",
            "exec sees the container's PID namespace, hostname, files and cgroup, passes its exit code through, and gets only fds 0, 1 and 2",
            "exec is setns(2) on a pidfd of the init, a cgroup join, and a fork into the PID namespace",
            "exec::exec and exec::join",
            exec_joins_the_running_container,
        ),
        Check::pillar(
            "the_states_allow_what_the_spec_allows",
            "created: exec refused, start works; running: start refused, exec works; stopped: exec refused, stop is a no-op, start works — each refusal one line and 125",
            "the runtime spec's operations: start only from created, exec (ours) only when running",
            "state::allows and state::check, and state_of deriving the state from the processes",
            the_states_allow_what_the_spec_allows,
        ),
        Check::pillar(
            "stop_waits_for_a_pid_1_without_a_handler",
            "stop -t 1 of a plain sleep ends it with 137 after about a second; with --init, stop -t 20 ends it with 143 long before the timeout",
            "PID 1 gets only the signals it has a handler for: without an init SIGTERM is ignored and SIGKILL comes after the timeout",
            "commands::stop: SIGTERM, wait, then SIGKILL",
            stop_waits_for_a_pid_1_without_a_handler,
        ),
        Check::pillar(
            "the_monitor_passes_signals_on",
            "SIGTERM sent to a detached container's monitor reaches the container: with --init the command ends with 143 within seconds and the monitor records it",
            "the monitor stands for the container, as the runtime did in chapter 02: it reaps without blocking and forwards what it is sent",
            "monitor::wait_for_init: waitpid(-1, WNOHANG), then sigwait and kill",
            the_monitor_passes_signals_on,
        ),
        Check::pillar(
            "a_killed_monitor_is_cleaned_up",
            "after the monitor of a running container is killed with SIGKILL, the next command stops its processes and ps shows it Dead; rm removes it",
            "the monitor's locks go with it, so the next command sees a stale cgroup and instance and cleans them",
            "monitor::sweep and chapter 03's cgroup::clean_stale",
            a_killed_monitor_is_cleaned_up,
        ),
        Check::pillar(
            "one_instance_per_upper_layer",
            "while another holder has a container's upper layer locked, start refuses with one line and 125; once it lets go, start -a works, prints the output and ends with the command's code",
            "two overlay mounts of one upper layer are undefined (overlayfs.rst): an explicit flock(2) keeps it to one instance",
            "the monitor's lock_upper, taken before the plan is made and held for the instance's life",
            one_instance_per_upper_layer,
        ),
        Check::pillar(
            "two_starts_at_once_make_one_instance",
            "of two starts of one stopped container at the same moment, one starts it and the other exits 125 with one line; the container is running",
            "the loser (refused by the state or by the upper layer's lock) must leave the winner's instance and record alone",
            "Monitor::finish touches the instance only when it holds the upper layer's lock (Monitor::owner)",
            two_starts_at_once_make_one_instance,
        ),
        Check::pillar(
            "prewarmed_containers_share_one_image",
            "ten containers created over one image (pre-warmed, not started) then started each see their own writes only, and restart keeps them",
            "each instance mounts the shared layers under an upper layer of its own container: create alone does the whole setup",
            "core::Plan::prepare (the container's own overlay directories) and the warm start",
            prewarmed_containers_share_one_image,
        ),
        Check::pillar(
            "the_address_lives_with_the_container",
            "three containers get distinct addresses; each keeps its address across stop and start while its port table goes and comes with the instance; rm frees the address and leaves no table and no veth",
            "the container owns its address (reserved until rm); an instance owns its veth and port rules (made after create, undone at stop)",
            "network::attach (chapter 07's connect, keep_reservation) and rm's network::clean_stale",
            the_address_lives_with_the_container,
        ),
        // Baseline: the ready pipe and the teardown of a failed create are the kit's, and
        // the failures happen before any exercise's code runs.
        Check::baseline(
            "a_failed_create_leaves_nothing",
            "a create whose setup fails (a volume onto a symlink of the image; a command that is not there) exits 125 (127) with one line and leaves no container",
            "errors of create's setup come from create, and a failed create is torn down",
            "the monitor's ready pipe and commands::detached removing the container",
            a_failed_create_leaves_nothing,
        ),
    ]
}

/// Run `args`, expect exit 0, and return stdout's first line (an id, say).
fn ok(ctx: &Ctx, args: &[&str]) -> Result<String> {
    let outcome = ctx.run(args)?;
    outcome.expect_code(0)?;
    Ok(outcome.out().lines().next().unwrap_or_default().to_string())
}

/// `inspect NAME` as JSON.
fn inspect(ctx: &Ctx, name: &str) -> Result<Value> {
    let outcome = ctx.run(&["inspect", name])?;
    outcome.expect_code(0)?;
    serde_json::from_str(&outcome.stdout).context("inspect printed no JSON")
}

/// The pid of a process of the instance (`init` or `monitor`), from inspect.
fn pid_of(ctx: &Ctx, name: &str, which: &str) -> Result<i32> {
    let seen = inspect(ctx, name)?;
    seen["instance"][which]["pid"]
        .as_i64()
        .map(|pid| pid as i32)
        .with_context(|| format!("inspect shows no {which}: {}", seen["instance"]))
}

/// Wait until `logs NAME` contains `text`.
fn wait_for_log(ctx: &Ctx, name: &str, text: &str) -> Result<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let logs = ctx.run(&["logs", name])?;
        if logs.stdout.contains(text) {
            return Ok(logs.stdout);
        }
        if Instant::now() > deadline {
            bail!("the log never showed {text:?}; it has:\n{}", logs.stdout);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Field `n` (1-based, as in proc(5)) of /proc/PID/stat.
fn stat_field(pid: i32, n: usize) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(") ")?;
    rest.split_whitespace().nth(n - 3).map(String::from)
}

/// The hostname in the UTS namespace of process `pid`, read with nsenter(1).
fn hostname_of(pid: i32) -> Result<String> {
    let output = std::process::Command::new("nsenter")
        .args(["-t", &pid.to_string(), "--uts", "hostname"])
        .output()
        .context("cannot run nsenter")?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

fn create_sets_up_and_waits(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    let id = ok(
        ctx,
        &[
            "create",
            "--name",
            "c1",
            "--hostname",
            "made-early",
            "--image",
            "busybox",
            "--",
            "sh",
            "-c",
            "echo ran > /ran; echo ran",
        ],
    )?;
    let init = pid_of(ctx, "c1", "init")?;
    ensure!(
        hostname_of(init)? == "made-early",
        "the created init's hostname is not the container's"
    );
    let mountinfo = std::fs::read_to_string(format!("/proc/{init}/mountinfo"))?;
    ensure!(
        mountinfo
            .lines()
            .any(|l| l.contains(" / / ") && l.contains(" - overlay ")),
        "the created init's root is not the overlay:\n{mountinfo}"
    );
    let cgroup = std::fs::read_to_string(format!("/proc/{init}/cgroup"))?;
    ensure!(
        cgroup.contains(&format!("/boxcar/{id}")),
        "the created init is not in the container's cgroup:\n{cgroup}"
    );
    let upper = ctx.root().join("containers").join(&id).join("upper/ran");
    ensure!(!upper.exists(), "the command ran before start");
    ensure!(
        ctx.run(&["logs", "c1"])?.stdout.is_empty(),
        "the command printed before start"
    );
    ensure!(
        inspect(ctx, "c1")?["state"] == "created",
        "inspect does not say created"
    );
    ok(ctx, &["start", "c1"])?;
    wait_for_log(ctx, "c1", "ran")?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while inspect(ctx, "c1")?["state"] != "stopped" {
        ensure!(Instant::now() < deadline, "the container never stopped");
        std::thread::sleep(Duration::from_millis(20));
    }
    ensure!(
        upper.exists(),
        "the command's file is not in the upper layer"
    );
    ok(ctx, &["rm", "c1"])?;
    Ok(())
}

fn the_init_outlives_create(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    let outcome = ctx.run(&["create", "--name", "c2", "--image", "busybox", "--", "true"])?;
    outcome.expect_code(0)?;
    // The create command has exited (run waited for it); its init has not.
    let init = pid_of(ctx, "c2", "init")?;
    let monitor = pid_of(ctx, "c2", "monitor")?;
    let parent = stat_field(init, 4).context("the init is gone after create exited")?;
    ensure!(
        parent == monitor.to_string(),
        "the init's parent is {parent}, not the monitor {monitor}"
    );
    ensure!(
        stat_field(init, 3).as_deref() != Some("Z"),
        "the init has exited"
    );
    ok(ctx, &["rm", "c2"])?;
    Ok(())
}

fn stop_and_start_keep_the_upper_layer(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    let script = "echo run $(cat /kept 2>/dev/null | wc -l); echo x >> /kept; sleep 100";
    let id = ok(
        ctx,
        &[
            "run", "-d", "--name", "c3", "--image", "busybox", "--", "sh", "-c", script,
        ],
    )?;
    wait_for_log(ctx, "c3", "run 0")?;
    ok(ctx, &["stop", "-t", "0", "c3"])?;
    ok(ctx, &["start", "c3"])?;
    let logs = wait_for_log(ctx, "c3", "run 1")?;
    ensure!(
        logs.contains("run 0\n") && logs.contains("run 1\n"),
        "logs do not show both runs:\n{logs}"
    );
    ok(ctx, &["stop", "-t", "0", "c3"])?;
    ok(ctx, &["rm", "c3"])?;
    let dir = ctx.root().join("containers").join(&id);
    ensure!(!dir.exists(), "rm left {}", dir.display());
    Ok(())
}

fn exec_joins_the_running_container(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    ok(
        ctx,
        &[
            "run",
            "-d",
            "--name",
            "c4",
            "--hostname",
            "joined",
            "--image",
            "probe",
            "--",
            "sh",
            "-c",
            "echo here > /marker; echo ready; sleep 100",
        ],
    )?;
    let init = pid_of(ctx, "c4", "init")?;
    wait_for_log(ctx, "c4", "ready")?;
    let outcome = ctx.run(&[
        "exec",
        "-w",
        "/tmp",
        "c4",
        "--",
        PROBE_IN_IMAGE,
        "--only",
        "hostname,namespaces,cgroup,fds,cwd",
    ])?;
    outcome.expect_code(0)?;
    let seen: Value = serde_json::from_str(&outcome.stdout).context("the probe printed no JSON")?;
    ensure!(
        seen["hostname"] == "joined",
        "exec's hostname: {}",
        seen["hostname"]
    );
    ensure!(seen["cwd"] == "/tmp", "exec's cwd: {}", seen["cwd"]);
    for kind in ["pid", "uts", "ipc", "mnt"] {
        let link = std::fs::read_link(format!("/proc/{init}/ns/{kind}"))?;
        let theirs = link.to_string_lossy().to_string();
        let ours = seen["namespaces"][kind].as_u64().context("no namespace")?;
        ensure!(
            theirs.contains(&format!("[{ours}]")),
            "exec is in {kind} namespace {ours}, the container in {theirs}"
        );
        ensure!(
            ours != ns_inode(kind)?,
            "exec is in the host's {kind} namespace"
        );
    }
    let fds: Vec<u64> = seen["fds"]
        .as_array()
        .context("no fds")?
        .iter()
        .filter_map(|fd| fd["fd"].as_u64())
        .collect();
    ensure!(
        fds == [0, 1, 2],
        "exec's command has fds {fds:?}: {}",
        seen["fds"]
    );
    let cgroups = seen["cgroup"].to_string();
    ensure!(
        cgroups.contains("/boxcar/"),
        "exec is in no boxcar cgroup: {cgroups}"
    );
    let files = ctx.run(&["exec", "c4", "--", "sh", "-c", "cat /marker; exit 7"])?;
    files.expect_code(7)?;
    ensure!(
        files.out() == "here",
        "exec does not see the container's files"
    );
    ok(ctx, &["rm", "-f", "c4"])?;
    Ok(())
}

fn the_states_allow_what_the_spec_allows(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    let refused = |args: &[&str]| -> Result<()> {
        let outcome = ctx.run(args)?;
        outcome.expect_code(125)?;
        outcome.one_error_line()?;
        Ok(())
    };
    ok(
        ctx,
        &[
            "create", "--name", "c5", "--image", "busybox", "--", "sleep", "100",
        ],
    )?;
    refused(&["exec", "c5", "--", "true"])?;
    ok(ctx, &["start", "c5"])?;
    refused(&["start", "c5"])?;
    ok(ctx, &["exec", "c5", "--", "true"])?;
    ok(ctx, &["stop", "-t", "0", "c5"])?;
    refused(&["exec", "c5", "--", "true"])?;
    ok(ctx, &["stop", "c5"])?;
    ok(ctx, &["start", "c5"])?;
    ok(ctx, &["exec", "c5", "--", "true"])?;
    refused(&["rm", "c5"])?;
    ok(ctx, &["rm", "-f", "c5"])?;
    Ok(())
}

fn exit_code_of(ctx: &Ctx, name: &str) -> Result<Value> {
    Ok(inspect(ctx, name)?["record"]["exit_code"].clone())
}

fn stop_waits_for_a_pid_1_without_a_handler(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    ok(
        ctx,
        &[
            "run", "-d", "--name", "plain", "--image", "busybox", "--", "sleep", "100",
        ],
    )?;
    let started = Instant::now();
    ok(ctx, &["stop", "-t", "1", "plain"])?;
    let took = started.elapsed();
    ensure!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "stop -t 1 without --init took {took:?}, expected about a second"
    );
    ensure!(
        exit_code_of(ctx, "plain")? == 137,
        "exit code {}",
        exit_code_of(ctx, "plain")?
    );
    ok(
        ctx,
        &[
            "run", "-d", "--init", "--name", "inited", "--image", "busybox", "--", "sleep", "100",
        ],
    )?;
    let started = Instant::now();
    ok(ctx, &["stop", "-t", "20", "inited"])?;
    let took = started.elapsed();
    ensure!(
        took < Duration::from_secs(10),
        "stop of a container with --init took {took:?}: its init should pass SIGTERM on"
    );
    ensure!(
        exit_code_of(ctx, "inited")? == 143,
        "exit code {}",
        exit_code_of(ctx, "inited")?
    );
    ok(ctx, &["rm", "plain", "inited"])?;
    Ok(())
}

fn the_monitor_passes_signals_on(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    ok(
        ctx,
        &[
            "run", "-d", "--init", "--name", "sig", "--image", "busybox", "--", "sleep", "100",
        ],
    )?;
    let monitor = pid_of(ctx, "sig", "monitor")?;
    // The monitor is an orphan of the harness (a subreaper): ours to signal, by pid.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(monitor),
        nix::sys::signal::Signal::SIGTERM,
    )?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while inspect(ctx, "sig")?["state"] != "stopped" || exit_code_of(ctx, "sig")?.is_null() {
        ensure!(
            Instant::now() < deadline,
            "10 s after SIGTERM to its monitor the container is {}",
            inspect(ctx, "sig")?["state"]
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    ensure!(
        exit_code_of(ctx, "sig")? == 143,
        "the command ended with {}, not 143 (SIGTERM)",
        exit_code_of(ctx, "sig")?
    );
    ok(ctx, &["rm", "sig"])?;
    Ok(())
}

fn a_killed_monitor_is_cleaned_up(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    ok(
        ctx,
        &[
            "run", "-d", "--name", "c6", "--image", "busybox", "--", "sleep", "100",
        ],
    )?;
    let monitor = pid_of(ctx, "c6", "monitor")?;
    let init = pid_of(ctx, "c6", "init")?;
    // The monitor is an orphan of the harness (a subreaper): ours to kill, by pid.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(monitor),
        nix::sys::signal::Signal::SIGKILL,
    )?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while stat_field(monitor, 3).is_some_and(|state| state != "Z") {
        ensure!(Instant::now() < deadline, "the monitor did not die");
        std::thread::sleep(Duration::from_millis(10));
    }
    let ps = ctx.run(&["ps", "-a"])?;
    ps.expect_code(0)?;
    let line = ps
        .stdout
        .lines()
        .find(|l| l.contains("c6"))
        .unwrap_or_default();
    ensure!(line.contains("Dead"), "ps -a after the kill: {line:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while stat_field(init, 3).is_some_and(|state| state != "Z") {
        ensure!(Instant::now() < deadline, "the container's init still runs");
        std::thread::sleep(Duration::from_millis(10));
    }
    ok(ctx, &["rm", "c6"])?;
    Ok(())
}

fn a_failed_create_leaves_nothing(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    let outcome = ctx.run(&[
        "create",
        "--name",
        "c7",
        "-v",
        "/tmp:/bin/sh",
        "--image",
        "busybox",
        "--",
        "true",
    ])?;
    outcome.expect_code(125)?;
    let line = outcome.one_error_line()?;
    ensure!(
        line.contains("symlink"),
        "the error does not say why: {line}"
    );
    // A command that is not there is create's error too, with exec's exit code.
    let missing = ctx.run(&["create", "--name", "c7", "--image", "busybox", "--", "nope"])?;
    missing.expect_code(127)?;
    missing.one_error_line()?;
    let ps = ctx.run(&["ps", "-a"])?;
    ensure!(
        !ps.stdout.contains("c7"),
        "ps -a still lists it:\n{}",
        ps.stdout
    );
    Ok(())
}

fn one_instance_per_upper_layer(ctx: &Ctx) -> Result<()> {
    use nix::fcntl::{Flock, FlockArg};
    ctx.build_images()?;
    let id = ok(
        ctx,
        &[
            "create",
            "--name",
            "c8",
            "--image",
            "busybox",
            "--",
            "sh",
            "-c",
            "echo hi; exit 3",
        ],
    )?;
    ok(ctx, &["stop", "c8"])?;
    // Another holder of the lock, as a second instance's monitor would be.
    let lock = ctx.root().join("containers").join(&id).join("upper.lock");
    let file = std::fs::File::open(&lock).context("no upper.lock")?;
    let held = Flock::lock(file, FlockArg::LockExclusiveNonblock)
        .map_err(|(_, errno)| anyhow::anyhow!("cannot lock {}: {errno}", lock.display()))?;
    let refused = ctx.run(&["start", "c8"])?;
    drop(held);
    refused.expect_code(125)?;
    let line = refused.one_error_line()?;
    ensure!(
        line.contains("in use"),
        "the refusal does not say why: {line}"
    );
    // Attached, the start prints the run's output and ends with its exit code.
    let attached = ctx.run(&["start", "-a", "c8"])?;
    attached.expect_code(3)?;
    ensure!(
        attached.out() == "hi",
        "start -a printed {:?}",
        attached.out()
    );
    ok(ctx, &["rm", "c8"])?;
    Ok(())
}

fn two_starts_at_once_make_one_instance(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    ok(
        ctx,
        &[
            "create", "--name", "c9", "--image", "busybox", "--", "sleep", "100",
        ],
    )?;
    ok(ctx, &["stop", "c9"])?;
    for _ in 0..5 {
        let first = ctx.spawn(&["start", "c9"])?;
        let second = ctx.spawn(&["start", "c9"])?;
        let mut codes = [
            first.wait(Duration::from_secs(20))?,
            second.wait(Duration::from_secs(20))?,
        ];
        codes.sort_by_key(|outcome| outcome.code);
        codes[0].expect_code(0)?;
        codes[1].expect_code(125)?;
        codes[1].one_error_line()?;
        ensure!(
            inspect(ctx, "c9")?["state"] == "running",
            "after two starts the container is {}",
            inspect(ctx, "c9")?["state"]
        );
        ensure!(
            inspect(ctx, "c9")?["record"]["status"] == "running",
            "the record says {}",
            inspect(ctx, "c9")?["record"]["status"]
        );
        ok(ctx, &["stop", "-t", "0", "c9"])?;
    }
    ok(ctx, &["rm", "c9"])?;
    Ok(())
}

fn prewarmed_containers_share_one_image(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    let names: Vec<String> = (0..10).map(|i| format!("w{i}")).collect();
    let script = "cat /who 2>/dev/null; echo $HOSTNAME >> /who; echo written; sleep 100";
    for name in &names {
        ok(
            ctx,
            &[
                "create", "--name", name, "--image", "busybox", "--", "sh", "-c", script,
            ],
        )?;
    }
    for name in &names {
        ok(ctx, &["start", name])?;
        wait_for_log(ctx, name, "written")?;
    }
    for name in &names {
        ok(ctx, &["restart", "-t", "0", name])?;
    }
    for name in &names {
        // The second run printed what the first wrote: its own name, and no one else's.
        let logs = wait_for_log(ctx, name, &format!("{name}\nwritten"))?;
        ensure!(
            logs.matches(name.as_str()).count() == 1,
            "{name} sees other writes:\n{logs}"
        );
        let who = ctx.run(&["exec", name, "--", "cat", "/who"])?;
        who.expect_code(0)?;
        ensure!(
            who.out() == format!("{name}\n{name}"),
            "{name}'s /who: {:?}",
            who.out()
        );
    }
    let mut rm = vec!["rm", "-f"];
    rm.extend(names.iter().map(String::as_str));
    ok(ctx, &rm)?;
    Ok(())
}

/// The IPv4 addresses on eth0 that the container's logs show, one per run.
fn addresses_logged(ctx: &Ctx, name: &str, runs: usize) -> Result<Vec<Ipv4Addr>> {
    let logs = wait_for_log_count(ctx, name, "inet ", runs)?;
    logs.lines()
        .filter_map(|line| line.split("inet ").nth(1))
        .map(|rest| {
            let address = rest.split('/').next().unwrap_or_default();
            address
                .parse()
                .with_context(|| format!("not an address in the log: {rest}"))
        })
        .collect()
}

/// Wait until `logs NAME` contains `text` `count` times.
fn wait_for_log_count(ctx: &Ctx, name: &str, text: &str, count: usize) -> Result<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let logs = ctx.run(&["logs", name])?.stdout;
        if logs.matches(text).count() >= count {
            return Ok(logs);
        }
        if Instant::now() > deadline {
            bail!("the log never showed {text:?} {count} times; it has:\n{logs}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn the_address_lives_with_the_container(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    let script = "ip -4 -o addr show dev eth0; sleep 100";
    let names = ["a0", "a1", "a2"];
    let mut ids = Vec::new();
    for (name, port) in names.iter().zip(["18480", "18481", "18482"]) {
        let publish = format!("{port}:80");
        let args = [
            "create", "--name", name, "-p", &publish, "--image", "busybox", "--", "sh", "-c",
            script,
        ];
        ids.push(ok(ctx, &args)?);
    }
    let tables = || -> Result<String> { Ok(ctx.host_sh("nft list tables")?.stdout) };
    let mut first = Vec::new();
    for (name, id) in names.iter().zip(&ids) {
        // create did the whole setup, the network too: the port table is there already.
        ensure!(
            tables()?.contains(&format!("boxcar-{id}")),
            "after create, {name} has no port table:\n{}",
            tables()?
        );
        ok(ctx, &["start", name])?;
        first.push(addresses_logged(ctx, name, 1)?[0]);
    }
    let mut distinct = first.clone();
    distinct.sort();
    distinct.dedup();
    ensure!(distinct.len() == 3, "addresses are not distinct: {first:?}");
    ok(ctx, &["stop", "-t", "0", "a0"])?;
    ensure!(
        ctx.reservations().contains(&first[0]),
        "a stopped container lost its address {}: {:?}",
        first[0],
        ctx.reservations()
    );
    ensure!(
        !tables()?.contains(&format!("boxcar-{}", ids[0])),
        "a stopped container's port table is still there:\n{}",
        tables()?
    );
    ok(ctx, &["start", "a0"])?;
    let both = addresses_logged(ctx, "a0", 2)?;
    ensure!(
        both == [first[0], first[0]],
        "a0 did not keep its address across stop and start: {both:?}"
    );
    let mut rm = vec!["rm", "-f"];
    rm.extend(names);
    ok(ctx, &rm)?;
    ensure!(
        ctx.reservations().is_empty(),
        "rm left reservations: {:?}",
        ctx.reservations()
    );
    ensure!(
        tables()?.trim() == "table ip boxcar",
        "rm left port tables:\n{}",
        tables()?
    );
    Ok(())
}
