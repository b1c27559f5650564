//! Building chapter binaries and the probe, for `verify` and the behaviour tests.
//!
//! Cargo is run as the user who asked for it: under sudo, `SUDO_UID` names that user, and
//! files written into `target/` as root would later stop their own `cargo build`.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

/// The workspace this kit belongs to.
pub fn workspace_dir() -> PathBuf {
    // The workshop crate sits in the workspace's workshop/ directory.
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    crate_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or(crate_dir)
}

/// The workspace's target directory: `CARGO_TARGET_DIR`, or target/ in the workspace.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_dir().join("target"))
}

/// A `cargo` command run in the workspace, as the invoking user when run under sudo.
pub fn cargo() -> Command {
    cargo_in(&workspace_dir())
}

/// A `cargo` command run in `dir`, as the invoking user when run under sudo.
pub fn cargo_in(dir: &Path) -> Command {
    let program = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(program);
    command.current_dir(dir);
    if let Some((uid, gid, home)) = invoking_user() {
        command.uid(uid).gid(gid).env("HOME", home);
    }
    command
}

/// Under sudo, make `path` the invoking user's: what the workshop writes into the target
/// directory must not stop their own `cargo` later.
pub fn give_to_invoking_user(path: &Path) -> Result<()> {
    if let Some((uid, gid, _)) = invoking_user() {
        nix::unistd::chown(path, Some(uid.into()), Some(gid.into()))
            .with_context(|| format!("cannot give {} to uid {uid}", path.display()))?;
    }
    Ok(())
}

/// (uid, gid, home) of the user behind sudo, if this is root started by sudo.
pub(crate) fn invoking_user() -> Option<(u32, u32, PathBuf)> {
    if !nix::unistd::geteuid().is_root() {
        return None;
    }
    let uid: u32 = std::env::var("SUDO_UID").ok()?.parse().ok()?;
    if uid == 0 {
        return None;
    }
    let user = nix::unistd::User::from_uid(uid.into()).ok()??;
    Some((uid, user.gid.as_raw(), user.dir))
}

/// Build `package`'s binary and return its path.
pub fn build_binary(package: &str) -> Result<PathBuf> {
    build_binary_with(package, false)
}

/// Build `package`'s binary with the release profile (optimised, as it would ship) and return
/// its path. `bench` measures this one: a debug build times the compiler's settings, not the
/// runtime.
pub fn build_binary_release(package: &str) -> Result<PathBuf> {
    build_binary_with(package, true)
}

fn build_binary_with(package: &str, release: bool) -> Result<PathBuf> {
    binary_from(cargo(), package, release)
}

/// Build `package`'s binary in the workspace at `dir` into `target_dir`, and return its path
/// (`mistakes` builds a scratch copy of the workspace this way).
pub fn build_binary_in(dir: &Path, target_dir: &Path, package: &str) -> Result<PathBuf> {
    let mut command = cargo_in(dir);
    command.env("CARGO_TARGET_DIR", target_dir).args([
        "build",
        "--quiet",
        "--message-format=json",
        "-p",
        package,
    ]);
    // The compiler's words about a mistaken copy are shown only when it does not build.
    let output = command.output().context("cannot run cargo")?;
    let messages = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let rendered: Vec<String> = messages
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|message| message["message"]["level"] == "error")
            .filter_map(|message| message["message"]["rendered"].as_str().map(str::to_string))
            .collect();
        bail!(
            "building {package} failed:\n{}{}",
            rendered.join(""),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|message| message["executable"].as_str().map(PathBuf::from))
        .find(|path| path.file_name().is_some_and(|name| name == package))
        .with_context(|| format!("cargo built no binary named {package}"))
}

fn binary_from(mut command: Command, package: &str, release: bool) -> Result<PathBuf> {
    command.args([
        "build",
        "--quiet",
        "--message-format=json-render-diagnostics",
        "-p",
        package,
    ]);
    if release {
        command.arg("--release");
    }
    let executables = run_for_executables(command, package)?;
    executables
        .into_iter()
        .find(|path| path.file_name().is_some_and(|name| name == package))
        .with_context(|| format!("cargo built no binary named {package}"))
}

/// Build the probe as a static binary: it must run inside any root filesystem, even one
/// with no C library (chapter 04's busybox image has none). It has its own target
/// directory so the static build and the workspace's normal build never overwrite each other.
pub fn build_probe() -> Result<PathBuf> {
    let target_dir = target_dir().join("static");
    let mut command = cargo();
    command.args([
        "rustc",
        "--quiet",
        "--message-format=json-render-diagnostics",
        "-p",
        "boxcar-probe",
    ]);
    command.arg("--target-dir").arg(&target_dir);
    command.args(["--", "-C", "target-feature=+crt-static"]);
    let executables = run_for_executables(command, "boxcar-probe")?;
    executables
        .into_iter()
        .next()
        .context("cargo built no probe binary")
}

/// Build the test binaries of `tests` (e.g. ["ch01", "ch02"]) and return (name, path) pairs.
pub fn build_test_binaries(tests: &[String]) -> Result<Vec<(String, PathBuf)>> {
    let mut command = cargo();
    command.args([
        "test",
        "--quiet",
        "--no-run",
        "--message-format=json-render-diagnostics",
        "-p",
        "workshop",
    ]);
    for test in tests {
        command.args(["--test", test]);
    }
    let output = command
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run cargo")?;
    if !output.status.success() {
        bail!("building the behaviour tests failed (the compiler's messages are above)");
    }
    let mut found = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let name = message["target"]["name"].as_str().unwrap_or_default();
        let kinds = message["target"]["kind"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if let (Some(path), true) = (
            message["executable"].as_str(),
            kinds.iter().any(|k| k == "test"),
        ) {
            if tests.iter().any(|t| t == name) {
                found.push((name.to_string(), PathBuf::from(path)));
            }
        }
    }
    Ok(found)
}

fn run_for_executables(mut command: Command, what: &str) -> Result<Vec<PathBuf>> {
    let output = command
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run cargo")?;
    if !output.status.success() {
        bail!("building {what} failed (the compiler's messages are above)");
    }
    let executables = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|message| message["executable"].as_str().map(PathBuf::from))
        .collect();
    Ok(executables)
}

/// The chapters that have a solution, as (number, directory), in order.
pub fn solution_chapters() -> Vec<(u8, PathBuf)> {
    chapters_in(&workspace_dir().join("solutions"))
}

/// The `chNN-*` directories of `dir`, as (NN, path), in order.
pub fn chapters_in(dir: &Path) -> Vec<(u8, PathBuf)> {
    let mut chapters: Vec<(u8, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let number = name.strip_prefix("ch")?.get(..2)?.parse().ok()?;
            Some((number, entry.path()))
        })
        .collect();
    chapters.sort();
    chapters
}
