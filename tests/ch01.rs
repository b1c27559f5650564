//! Chapter 01's behaviour: the clone spine and the UTS namespace, on the real kernel.
//!
//! Run: `cargo test --test ch01` (every solution from chapter 01 on), or
//! `cargo boxcar verify 1` (your chapters/ch01, with explanations).

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use boxcar::cli::FLAGS;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use workshop::testing::{self, host_hostname, ns_inode, Check, Ctx};

fn main() {
    testing::main(1, checks())
}

fn checks() -> Vec<Check> {
    vec![
        Check::pillar(
            "hostname_is_seen_inside",
            "the command sees the hostname given with --hostname, and the host keeps its own",
            "sethostname(2) in a new UTS namespace changes only that namespace's copy of the name",
            "clone with the flags of the spec's namespaces (namespaces::clone_flags) and call sethostname in the child (uts::set_hostname)",
            hostname_is_seen_inside,
        ),
        Check::pillar(
            "uts_and_ipc_namespaces_are_new",
            "the container is in a UTS and an IPC namespace of its own",
            "/proc/self/ns/uts and /proc/self/ns/ipc name a namespace by inode; a new one has a new inode",
            "namespaces::clone_flags must map each kind the spec lists to its clone(2) flag, and spawn must pass them to clone",
            uts_and_ipc_namespaces_are_new,
        ),
        Check::pillar(
            "exit_code_is_passed_through",
            "the runtime exits with the command's own exit code",
            "a runtime is used in scripts: `run -- sh -c 'exit 7'` must end with 7, as the command did",
            "Child::wait decodes waitpid's status with boxcar::exit::code_of",
            exit_code_is_passed_through,
        ),
        Check::pillar(
            "killed_command_is_128_plus_signal",
            "a command killed by a signal ends the runtime with 128 + the signal number",
            "SIGKILL is 9, so a shell reports 137: the runtime must report it the same way",
            "exit::code_of maps WaitStatus::Signaled to 128 + N",
            killed_command_is_128_plus_signal,
        ),
        Check::pillar(
            "missing_command_is_127",
            "a command that does not exist gives exit code 127 and one clear line",
            "the child reports execve's ENOENT through the sync pipe, so the runtime can explain it",
            "Process::exec returns the failure; the spine's child reports it on the channel",
            missing_command_is_127,
        ),
        Check::pillar(
            "not_executable_is_126",
            "a file that cannot be executed gives exit code 126 and one clear line",
            "execve(2) fails with EACCES for a file without the x bit; shells use 126 for that",
            "the exec error's errno picks the exit code (process::exec_failure)",
            not_executable_is_126,
        ),
        Check::pillar(
            "environment_is_clean_and_dash_e_adds",
            "the command gets a clean environment (PATH, HOSTNAME, HOME) plus what -e adds",
            "the host's environment is not the container's: only what the runtime passes arrives",
            "Process::from_spec passes the spec's environment, as it is, to execve(2)",
            environment_is_clean_and_dash_e_adds,
        ),
        Check::pillar(
            "only_stdio_fds_reach_the_command",
            "the command starts with only fds 0, 1 and 2 open",
            "a runtime's fd left open in the container is a way out (runc's CVE-2024-21626)",
            "the sync pipes must be O_CLOEXEC, and stray fds are marked close-on-exec before exec",
            only_stdio_fds_reach_the_command,
        ),
        Check::baseline(
            "bad_flag_is_a_usage_error",
            "an unknown flag is refused with a usage message and exit code 125",
            "125 is the runtime's own failure (as in docker run), never confused with the command's",
            "flags are parsed by boxcar::cli; this comes from the kit",
            bad_flag_is_a_usage_error,
        ),
        Check::baseline(
            "later_chapter_flag_is_refused",
            "a flag of a later chapter is refused with one line naming that chapter",
            "a flag that silently did nothing would make a learner believe a limit was applied",
            "boxcar::cli::FLAGS says which chapter brings each flag",
            later_chapter_flag_is_refused,
        ),
        Check::baseline(
            "bad_hostname_is_refused_before_anything_starts",
            "an invalid hostname is refused with one line and exit code 125",
            "bad input must be caught before any namespace or process exists",
            "uts::check_hostname runs before spawn",
            bad_hostname_is_refused,
        ),
        Check::baseline(
            "not_root_is_one_clear_line",
            "run without root, the runtime says so in one line with the command to use",
            "clone(2) with namespace flags needs CAP_SYS_ADMIN; a vague EPERM teaches nothing",
            "boxcar::cli::require_root runs right after the flags are parsed",
            not_root_is_one_clear_line,
        ),
        Check::baseline(
            "help_lists_this_chapters_flags",
            "`run --help` lists the flags this chapter has, and no later ones",
            "the help is the learner's map of what the runtime can do so far",
            "boxcar::cli hides the flags of later chapters",
            help_lists_this_chapters_flags,
        ),
        Check::pillar(
            "the_name_is_the_default_hostname",
            "--name names the container, and is its hostname unless --hostname says otherwise",
            "--name means the same in every chapter: the container's name (its id is generated)",
            "the spec's hostname is the name when no --hostname is given: set that one (uts::set_hostname)",
            the_name_is_the_default_hostname,
        ),
        Check::baseline(
            "spec_prints_config_json",
            "`spec` prints the container's OCI runtime spec, the config.json docker would hand runc",
            "the flags become one spec before anything runs; every pillar reads its part of it",
            "boxcar::spec::Container::from_run_args builds it; this comes from the kit",
            spec_prints_config_json,
        ),
    ]
}

fn the_name_is_the_default_hostname(ctx: &Ctx) -> Result<()> {
    let outcome = ctx.run(&["run", "--name", "web-1", "--", "hostname"])?;
    outcome.expect_code(0)?;
    ensure!(
        outcome.out() == "web-1",
        "with --name web-1, hostname printed {:?}",
        outcome.out()
    );
    let outcome = ctx.run(&[
        "run",
        "--name",
        "web-1",
        "--hostname",
        "box",
        "--",
        "hostname",
    ])?;
    outcome.expect_code(0)?;
    ensure!(
        outcome.out() == "box",
        "--hostname box gave {:?}",
        outcome.out()
    );
    Ok(())
}

fn spec_prints_config_json(ctx: &Ctx) -> Result<()> {
    let outcome = ctx.run(&[
        "spec", "--name", "web", "-e", "A=1", "--", "sh", "-c", "true",
    ])?;
    outcome.expect_code(0)?;
    let spec: serde_json::Value =
        serde_json::from_str(&outcome.stdout).context("spec did not print JSON")?;
    ensure!(
        spec["ociVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("1.")),
        "no ociVersion 1.x: {spec}"
    );
    ensure!(spec["hostname"] == "web", "hostname: {}", spec["hostname"]);
    ensure!(
        spec["process"]["args"] == serde_json::json!(["sh", "-c", "true"]),
        "process.args: {}",
        spec["process"]["args"]
    );
    let env = spec["process"]["env"]
        .as_array()
        .context("no process.env")?;
    ensure!(env.iter().any(|v| v == "A=1"), "-e A=1 is not in {env:?}");
    let kinds: Vec<&str> = spec["linux"]["namespaces"]
        .as_array()
        .context("no linux.namespaces")?
        .iter()
        .filter_map(|ns| ns["type"].as_str())
        .collect();
    ensure!(
        kinds.contains(&"uts") && kinds.contains(&"ipc"),
        "the namespaces {kinds:?} lack uts or ipc"
    );
    Ok(())
}

fn hostname_is_seen_inside(ctx: &Ctx) -> Result<()> {
    let host_before = host_hostname();
    let outcome = ctx.run(&["run", "--hostname", "box", "--", "hostname"])?;
    outcome.expect_code(0)?;
    ensure!(
        outcome.out() == "box",
        "inside, hostname printed {:?}, not \"box\"",
        outcome.out()
    );
    ensure!(
        host_hostname() == host_before,
        "the host's hostname changed to {:?}",
        host_hostname()
    );
    Ok(())
}

fn uts_and_ipc_namespaces_are_new(ctx: &Ctx) -> Result<()> {
    let seen = ctx.probe_with(&[], &["--only", "namespaces"])?;
    for kind in ["uts", "ipc"] {
        let inside = seen["namespaces"][kind]
            .as_u64()
            .with_context(|| format!("the probe saw no {kind} namespace"))?;
        ensure!(
            inside != ns_inode(kind)?,
            "the container shares the host's {kind} namespace ({inside})"
        );
    }
    Ok(())
}

fn exit_code_is_passed_through(ctx: &Ctx) -> Result<()> {
    for code in [0, 7, 42] {
        ctx.run(&["run", "--", "/bin/sh", "-c", &format!("exit {code}")])?
            .expect_code(code)?;
    }
    Ok(())
}

fn killed_command_is_128_plus_signal(ctx: &Ctx) -> Result<()> {
    // Kill the command from the host: from chapter 02 on it is PID 1 of its namespace, which
    // only an ancestor namespace may SIGKILL (pid_namespaces(7)).
    let mut running = ctx.spawn(&["run", "--", "/bin/sh", "-c", "echo ready; exec sleep 30"])?;
    running.wait_for_line("ready", Duration::from_secs(10))?;
    let container = children_of(running.pid())?;
    ensure!(
        container.len() == 1,
        "the runtime should have one child, the container: {container:?}"
    );
    kill(container[0], Signal::SIGKILL)?;
    running.wait(Duration::from_secs(10))?.expect_code(137)?;
    Ok(())
}

/// The children of `pid`, from /proc/PID/task/PID/children (proc(5)).
fn children_of(pid: Pid) -> Result<Vec<Pid>> {
    let list = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))?;
    Ok(list
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .map(Pid::from_raw)
        .collect())
}

fn missing_command_is_127(ctx: &Ctx) -> Result<()> {
    let by_path = ctx.run(&["run", "--", "/nonexistent"])?;
    by_path.expect_code(127)?;
    workshop::assert_snapshot!(
        "missing_command_by_path",
        ctx.redact(by_path.one_error_line()?)
    );
    let by_name = ctx.run(&["run", "--", "no-such-command"])?;
    by_name.expect_code(127)?;
    workshop::assert_snapshot!(
        "missing_command_by_name",
        ctx.redact(by_name.one_error_line()?)
    );
    Ok(())
}

fn not_executable_is_126(ctx: &Ctx) -> Result<()> {
    let file = ctx.root().join("not-executable");
    std::fs::write(&file, "#!/bin/sh\necho should not run\n")?;
    let outcome = ctx.run(&["run", "--", &file.display().to_string()])?;
    outcome.expect_code(126)?;
    let line = outcome.one_error_line()?;
    ensure!(
        line.contains("EACCES") && line.contains("chmod +x"),
        "the error does not explain EACCES: {line}"
    );
    Ok(())
}

fn environment_is_clean_and_dash_e_adds(ctx: &Ctx) -> Result<()> {
    let outcome = ctx.run(&[
        "run",
        "--hostname",
        "box",
        "-e",
        "GREETING=hi",
        "--",
        "/usr/bin/env",
    ])?;
    outcome.expect_code(0)?;
    let mut vars: Vec<&str> = outcome.out().lines().collect();
    vars.sort();
    let expected = [
        "GREETING=hi",
        "HOME=/root",
        "HOSTNAME=box",
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    ];
    ensure!(
        vars == expected,
        "the environment was {vars:?}, expected {expected:?}"
    );
    Ok(())
}

fn only_stdio_fds_reach_the_command(ctx: &Ctx) -> Result<()> {
    let seen = ctx.probe_with(&[], &["--only", "fds"])?;
    let fds: Vec<u64> = seen["fds"]
        .as_array()
        .context("no fds")?
        .iter()
        .filter_map(|fd| fd["fd"].as_u64())
        .collect();
    ensure!(
        fds == [0, 1, 2],
        "the command has fds {fds:?} open, expected only [0, 1, 2]: {}",
        seen["fds"]
    );
    Ok(())
}

fn bad_flag_is_a_usage_error(ctx: &Ctx) -> Result<()> {
    let outcome = ctx.run(&["run", "--no-such-flag", "--", "true"])?;
    outcome.expect_code(125)?;
    ensure!(
        outcome
            .stderr
            .contains("unexpected argument '--no-such-flag'"),
        "no usage error: {}",
        outcome.stderr
    );
    Ok(())
}

fn later_chapter_flag_is_refused(ctx: &Ctx) -> Result<()> {
    let later = FLAGS
        .iter()
        .find(|(_, chapter, _)| *chapter > ctx.chapter());
    let Some((id, chapter, _)) = later else {
        return Ok(()); // the newest chapter has every flag: nothing can be refused
    };
    let command = boxcar::cli::command_for_chapter(ctx.chapter());
    let run = command
        .find_subcommand("run")
        .context("no run subcommand")?;
    let arg = run
        .get_arguments()
        .find(|a| a.get_id() == *id)
        .context("no such flag")?;
    let flag = format!("--{}", arg.get_long().context("no long name")?);
    let mut args = vec!["run", &flag];
    if arg.get_action().takes_values() {
        args.push("1");
    }
    args.extend(["--", "true"]);
    let outcome = ctx.run(&args)?;
    outcome.expect_code(125)?;
    let line = outcome.one_error_line()?;
    ensure!(
        line.contains(&format!("chapter {chapter:02}")),
        "the error does not name chapter {chapter:02}: {line}"
    );
    Ok(())
}

fn bad_hostname_is_refused(ctx: &Ctx) -> Result<()> {
    let outcome = ctx.run(&["run", "--hostname", "not a hostname", "--", "true"])?;
    outcome.expect_code(125)?;
    workshop::assert_snapshot!("bad_hostname", ctx.redact(outcome.one_error_line()?));
    Ok(())
}

fn not_root_is_one_clear_line(ctx: &Ctx) -> Result<()> {
    const NOBODY: u32 = 65534;
    let outcome = ctx.run_as(NOBODY, &["run", "--", "true"])?;
    outcome.expect_code(125)?;
    let line = outcome.one_error_line()?;
    ensure!(
        line.contains("must run as root") && line.contains("sudo"),
        "unclear: {line}"
    );
    Ok(())
}

fn help_lists_this_chapters_flags(ctx: &Ctx) -> Result<()> {
    let outcome = ctx.run(&["run", "--help"])?;
    outcome.expect_code(0)?;
    let snapshot = format!("run_help_chapter_{:02}", ctx.chapter());
    workshop::assert_snapshot!(snapshot, ctx.redact(&outcome.stdout));
    Ok(())
}
