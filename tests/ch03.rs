//! Chapter 03's behaviour: cgroup limits, accounting and cleanup, on this host's real layout
//! (v1, v2 or hybrid: whichever it has).
//!
//! Run: `cargo test --test ch03` (every solution from chapter 03 on), or
//! `cargo boxcar verify 3` (your chapters/ch03, with explanations).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use boxcar::cgroupfs::{self, Layout};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use serde_json::Value;
use workshop::testing::{self, Check, Ctx};

fn main() {
    testing::main(3, checks())
}

fn checks() -> Vec<Check> {
    vec![
        Check::pillar(
            "memory_limit_ends_in_an_oom_kill",
            "a memory hog under --memory 32m is killed (exit 137) and the runtime says why",
            "the kernel charges every page to the container's memory cgroup and OOM-kills inside it; its oom_kill counter says so",
            "write memory.max (v2) or memory.limit_in_bytes (v1), join the cgroup before exec, read oom_kill with cgroup::keyed_value",
            memory_limit_ends_in_an_oom_kill,
        ),
        Check::pillar(
            "pids_limit_holds_a_fork_bomb",
            "a fork bomb under --pids-limit 32 never has more than 32 processes, and the container still answers",
            "past pids.max the kernel refuses fork(2) with EAGAIN, inside the cgroup only",
            "write pids.max, and make sure the container's first process joins the cgroup before it execs",
            pids_limit_holds_a_fork_bomb,
        ),
        Check::pillar(
            "cpu_quota_throttles_a_busy_loop",
            "a busy loop under --cpus 0.2 gets about 20% of a CPU (from the cgroup's own CPU accounting)",
            "the CFS bandwidth controller lets the cgroup run `quota` µs per 100 ms period, then throttles it",
            "cpu.max gets \"20000 100000\" (v2); cpu.cfs_period_us 100000 then cpu.cfs_quota_us 20000 (v1)",
            cpu_quota_throttles_a_busy_loop,
        ),
        Check::pillar(
            "the_probe_sees_its_cgroup_and_limits",
            "inside, the container's process is in boxcar/<id> and reads its limits from the cgroup files",
            "/proc/self/cgroup names the process's cgroup in each hierarchy; the limits are files there",
            "add_process writes the child's pid into cgroup.procs of every hierarchy (cgroup::join)",
            the_probe_sees_its_cgroup_and_limits,
        ),
        Check::pillar(
            "the_cgroup_is_removed_after_exit",
            "when the container ends, its cgroup is removed from every hierarchy",
            "Cgroup's Drop kills whatever is left (cgroup.kill, or freeze + kill + thaw) and rmdirs",
            "an rmdir fails with EBUSY while a process is inside: kill first, wait for it to empty",
            the_cgroup_is_removed_after_exit,
        ),
        Check::pillar(
            "a_stale_cgroup_is_cleaned_by_the_next_run",
            "after the runtime is killed with SIGKILL, the next run removes the cgroup it left",
            "a killed runtime cannot clean up; its released owner lock tells the next run the cgroup is stale",
            "cgroup::clean_stale runs before Cgroup::create",
            a_stale_cgroup_is_cleaned_by_the_next_run,
        ),
        Check::pillar(
            "a_stale_owner_lock_is_cleaned_by_the_next_run",
            "an owner lock file in /run/boxcar/cgroups that no runtime holds, with no cgroup left, is removed by the next run",
            "a runtime killed before it created its cgroups (or after it removed them) leaves its lock file; a lock anyone can take is no one's",
            "cgroup::clean_stale also goes through owner::locked_ids",
            a_stale_owner_lock_is_cleaned_by_the_next_run,
        ),
        Check::baseline(
            "bad_limits_are_refused_before_anything_exists",
            "invalid limits (12x, 0, negative, absurd) are refused with one line and exit 125",
            "a typo must cost one line, not a half-made cgroup",
            "Limits::from_resources runs before Cgroup::create (the kit checked the flag values)",
            bad_limits_are_refused,
        ),
    ]
}

fn memory_limit_ends_in_an_oom_kill(ctx: &Ctx) -> Result<()> {
    let probe = ctx.probe_arg();
    let outcome = ctx.run(&[
        "run", "--memory", "32m", "--", &probe, "--hog-mb", "100", "--only", "pid",
    ])?;
    outcome.expect_code(137)?;
    workshop::assert_snapshot!("oom_kill", ctx.redact(outcome.one_error_line()?));
    Ok(())
}

fn pids_limit_holds_a_fork_bomb(ctx: &Ctx) -> Result<()> {
    // A bounded bomb: 100 forks at most, so a missing limit cannot hurt the host.
    let script = format!("{} --fork-bomb 100 --only pid; echo alive", ctx.probe_arg());
    let outcome = ctx.run(&["run", "--pids-limit", "32", "--", "/bin/sh", "-c", &script])?;
    outcome.expect_code(0)?;
    let mut lines = outcome.stdout.lines();
    let seen: Value = serde_json::from_str(lines.next().unwrap_or_default())
        .context("the probe printed no JSON")?;
    let (forked, failed) = (
        seen["forked"].as_u64().unwrap_or(0),
        seen["fork_failed"].as_u64().unwrap_or(0),
    );
    // The shell and the probe count too: 30 children + 2 = 32.
    ensure!(
        forked + 2 <= 32,
        "{forked} children forked besides sh and the probe: more than 32 processes"
    );
    ensure!(failed > 0, "no fork was refused: is pids.max written?");
    ensure!(
        lines.next() == Some("alive"),
        "the shell did not answer after the bomb:\n{}",
        outcome.stdout
    );
    ensure!(
        outcome.stderr.contains("the pids limit (32) refused"),
        "no note about refused forks: {}",
        outcome.stderr
    );
    Ok(())
}

fn cpu_quota_throttles_a_busy_loop(ctx: &Ctx) -> Result<()> {
    let outcome = ctx.run(&[
        "run",
        "--cpus",
        "0.2",
        "--stats",
        "--",
        "timeout",
        "2",
        "/bin/sh",
        "-c",
        "while :; do :; done",
    ])?;
    outcome.expect_code(124)?; // timeout(1)'s code when it had to stop the command
    let stats = outcome
        .stderr
        .lines()
        .find(|l| l.contains("stats:"))
        .context("no stats line")?;
    let (cpu, wall) = parse_stats(stats)?;
    let share = cpu / wall;
    ensure!(
        (0.1..=0.3).contains(&share),
        "the loop got {:.0}% of a CPU, not about 20%: {stats}",
        share * 100.0
    );
    ensure!(
        stats.contains("throttled in") && !stats.contains("throttled in 0 "),
        "not throttled: {stats}"
    );
    Ok(())
}

/// "stats: memory peak 1 MiB, CPU 0.41 s over 2.01 s, …" → (0.41, 2.01)
fn parse_stats(line: &str) -> Result<(f64, f64)> {
    let number_after = |word: &str| -> Result<f64> {
        let rest = line
            .split_once(word)
            .with_context(|| format!("no {word:?} in {line}"))?
            .1;
        rest.split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .with_context(|| format!("no number after {word:?}"))
    };
    Ok((number_after("CPU ")?, number_after(" over ")?))
}

fn the_probe_sees_its_cgroup_and_limits(ctx: &Ctx) -> Result<()> {
    let flags = ["--memory", "64m", "--pids-limit", "50", "--cpus", "0.5"];
    let seen = ctx.probe_with(&flags, &["--only", "cgroup,cgroup_limits"])?;
    let paths: Vec<&str> = seen["cgroup"]
        .as_array()
        .context("no cgroup")?
        .iter()
        .filter_map(|c| c["path"].as_str())
        .collect();
    ensure!(
        paths.iter().any(|p| p.starts_with("/boxcar/")),
        "the container is in no boxcar cgroup: {paths:?}"
    );
    let limits = &seen["cgroup_limits"];
    ensure!(
        limits["memory_max"] == "67108864",
        "memory limit seen inside: {limits}"
    );
    ensure!(
        limits["pids_max"] == "50",
        "pids limit seen inside: {limits}"
    );
    let cpu = match limits["version"].as_u64() {
        Some(2) => limits["cpu_max"] == "50000 100000",
        _ => limits["cpu_quota_us"] == "50000" && limits["cpu_period_us"] == "100000",
    };
    ensure!(cpu, "CPU limit seen inside: {limits}");
    Ok(())
}

/// The container's memory cgroup directory (v1) or its cgroup (v2), from /proc/PID/cgroup.
fn cgroup_dir_of(pid: Pid) -> Result<PathBuf> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
    let root = std::path::Path::new(cgroupfs::CGROUP_ROOT);
    let line_path = |wanted: &dyn Fn(&str) -> bool| {
        text.lines().find_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            wanted(controllers).then(|| path.trim_start_matches('/').to_string())
        })
    };
    match cgroupfs::layout(root) {
        Layout::V2 => Ok(root.join(line_path(&|c| c.is_empty()).context("no v2 line")?)),
        _ => {
            let mounts = cgroupfs::host_v1_mounts();
            let memory = mounts.get("memory").context("no memory hierarchy")?;
            Ok(memory.join(
                line_path(&|c| c.split(',').any(|c| c == "memory")).context("no memory line")?,
            ))
        }
    }
}

/// Start a container that waits, and return (the running runtime, its cgroup directory).
fn start_waiting(ctx: &Ctx) -> Result<(testing::Running, PathBuf)> {
    let mut running = ctx.spawn(&[
        "run",
        "--memory",
        "64m",
        "--",
        "/bin/sh",
        "-c",
        "echo ready; exec sleep 30",
    ])?;
    running.wait_for_line("ready", Duration::from_secs(10))?;
    let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", running.pid()))?;
    let child: i32 = children
        .split_whitespace()
        .next()
        .context("the runtime has no child")?
        .parse()?;
    let dir = cgroup_dir_of(Pid::from_raw(child))?;
    ensure!(
        dir.to_string_lossy().contains("/boxcar/"),
        "the container is not in a boxcar cgroup: {}",
        dir.display()
    );
    ensure!(dir.is_dir(), "{} does not exist", dir.display());
    Ok((running, dir))
}

fn the_cgroup_is_removed_after_exit(ctx: &Ctx) -> Result<()> {
    let (running, dir) = start_waiting(ctx)?;
    // SIGTERM is forwarded, but sleep as PID 1 ignores it; SIGINT too. A trap-less exit:
    // kill the container's process from the host, and let the runtime clean up.
    let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", running.pid()))?;
    let child: i32 = children
        .split_whitespace()
        .next()
        .context("no child")?
        .parse()?;
    nix::sys::signal::kill(Pid::from_raw(child), Signal::SIGKILL)?;
    running.wait(Duration::from_secs(10))?.expect_code(137)?;
    ensure!(
        !dir.exists(),
        "{} is still there after the container ended",
        dir.display()
    );
    Ok(())
}

fn a_stale_cgroup_is_cleaned_by_the_next_run(ctx: &Ctx) -> Result<()> {
    let (running, dir) = start_waiting(ctx)?;
    running.signal(Signal::SIGKILL)?;
    running.wait(Duration::from_secs(10))?;
    // The killed runtime removed nothing. The next run removes it — this check's, or one
    // that another check runs at the same moment (any run cleans every stale cgroup).
    ctx.run(&["run", "--", "true"])?.expect_code(0)?;
    for _ in 0..100 {
        if !dir.exists() {
            return Ok(());
        }
        // Another run may be removing it right now (rmdir waits for the last process).
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("{} is still there after the next run", dir.display())
}

fn a_stale_owner_lock_is_cleaned_by_the_next_run(ctx: &Ctx) -> Result<()> {
    // As a runtime killed between taking its lock and creating its cgroups leaves it.
    let dir = std::path::Path::new("/run/boxcar/cgroups");
    std::fs::create_dir_all(dir)?;
    let lock = dir.join(format!("{}.lock", boxcar::state::new_container_id()));
    std::fs::write(&lock, "")?;
    ctx.run(&["run", "--", "true"])?.expect_code(0)?;
    ensure!(
        !lock.exists(),
        "{} is still there after the next run",
        lock.display()
    );
    Ok(())
}

fn bad_limits_are_refused(ctx: &Ctx) -> Result<()> {
    let bad: [&[&str]; 9] = [
        &["--memory", "12x"],
        &["--memory", "0"],
        &["--memory=-5m"],
        &["--memory", "99999999999g"],
        &["--cpus", "0"],
        &["--cpus", "abc"],
        &["--cpus", "1000"],
        &["--pids-limit", "0"],
        &["--pids-limit=-1"],
    ];
    let mut lines = Vec::new();
    for flags in bad {
        let mut args = vec!["run"];
        args.extend_from_slice(flags);
        args.extend(["--", "true"]);
        let outcome = ctx.run(&args)?;
        outcome.expect_code(125)?;
        let line = ctx.redact(outcome.one_error_line()?);
        lines.push(
            line.replace(&format!(" {} CPU", cpus()), " [N] CPU")
                .replace(&format!("and {}", cpus()), "and [N]"),
        );
    }
    workshop::assert_snapshot!("bad_limits", lines.join("\n"));
    Ok(())
}

fn cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}
