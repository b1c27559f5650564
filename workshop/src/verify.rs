//! `verify N`: build chapter N and run the checks of chapters 1..=N against it.
//!
//! The checks are the behaviour tests in tests/ (see [`crate::testing`]), run with
//! `BOXCAR_BIN` pointing at the chapter's binary, so a learner's runtime is judged by exactly
//! the tests CI runs on the solutions.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::{build, hints};

/// Which binary of a chapter to verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The learner's starter, `chapters/chNN-*` (package `chNN`).
    Starter,
    /// The solution, `solutions/chNN-*` (package `chNN-solution`).
    Solution,
}

impl Target {
    pub fn package(self, chapter: u8) -> String {
        match self {
            Target::Starter => format!("ch{chapter:02}"),
            Target::Solution => format!("ch{chapter:02}-solution"),
        }
    }
}

/// Everything a run of the checks needs, built.
struct Built {
    runtime: PathBuf,
    probe: PathBuf,
    tests: Vec<(String, PathBuf)>,
}

fn build_all(chapter: u8, target: Target) -> Result<Built> {
    let known = build::solution_chapters();
    if !known.iter().any(|(number, _)| *number == chapter) {
        let numbers: Vec<String> = known.iter().map(|(n, _)| n.to_string()).collect();
        bail!(
            "there is no chapter {chapter}; the chapters are {}",
            numbers.join(", ")
        );
    }
    eprintln!("building {} and its checks…", target.package(chapter));
    let runtime = build::build_binary(&target.package(chapter))?;
    let probe = build::build_probe()?;
    let names: Vec<String> = (1..=chapter).map(|n| format!("ch{n:02}")).collect();
    let mut tests = build::build_test_binaries(&names)?;
    tests.sort();
    Ok(Built {
        runtime,
        probe,
        tests,
    })
}

fn checks_command(built: &Built, test: &PathBuf, mode: &str) -> Command {
    let mut command = Command::new(test);
    command
        .env("BOXCAR_BIN", &built.runtime)
        .env("BOXCAR_PROBE", &built.probe)
        .env("BOXCAR_VERIFY", mode);
    command
}

/// Run the checks of chapters 1..=N on chapter N and print them for a learner.
/// Returns whether every check passed.
pub fn verify(chapter: u8, target: Target) -> Result<bool> {
    let built = build_all(chapter, target)?;
    println!(
        "verifying {} against the checks of chapters 01 to {chapter:02}\n",
        built.runtime.display()
    );
    let mut failing = Vec::new();
    // The first exercise whose todo!() a failing check ran into, as the checks name it.
    let mut stopped_at = None;
    for (name, test) in &built.tests {
        let mut child = checks_command(&built, test, "plain")
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run {name}"))?;
        let stdout = child.stdout.take().context("no stdout")?;
        for line in BufReader::new(stdout).lines() {
            let line = line?;
            println!("{line}");
            if stopped_at.is_none() && line.contains("more help:") {
                stopped_at = hints::exercise_named_in(&line);
            }
        }
        if !child.wait()?.success() {
            failing.push(name.clone());
        }
        println!();
    }
    if failing.is_empty() {
        println!("✓ chapter {chapter:02}: every check passes. On to the next chapter!");
        return Ok(true);
    }
    println!(
        "✗ not yet: checks fail in {}. {}",
        failing.join(", "),
        look_first(chapter, target, stopped_at)
    );
    Ok(false)
}

/// The end of the "not yet" line: which exercise to look at first, and where.
fn look_first(chapter: u8, target: Target, stopped_at: Option<String>) -> String {
    let workspace = build::workspace_dir();
    let first = match stopped_at {
        Some(id) => hints::split_id(&id)
            .and_then(|(of, _)| hints::exercises(&workspace, of).ok())
            .and_then(|all| all.into_iter().find(|e| e.id == id)),
        None if target == Target::Starter => {
            hints::still_to_do(&workspace, chapter).into_iter().next()
        }
        None => None,
    };
    match first {
        Some(exercise) => {
            let place = hints::todo_in_starter(&workspace, &exercise)
                .map(|(file, line)| format!("{}:{line}", file.display()))
                .unwrap_or_else(|| exercise.file.display().to_string());
            format!(
                "Look first at exercise {} ({place}; cargo boxcar hint {}), then run this again.",
                exercise.id,
                hints::short_id(&exercise.id)
            )
        }
        None => "Read the ✗ lines above, edit your code, and run this again.".to_string(),
    }
}

/// For each chapter: its checks that need the pillar must fail on its untouched starter.
/// That proves they test the pillar, not something the kit or an earlier chapter does.
pub fn check_starters() -> Result<bool> {
    let mut all_good = true;
    for (chapter, _) in build::solution_chapters() {
        let built = build_all(chapter, Target::Starter)?;
        let own = format!("ch{chapter:02}");
        let (_, test) = built
            .tests
            .iter()
            .find(|(name, _)| *name == own)
            .context("no test binary")?;
        let output = checks_command(&built, test, "json")
            .output()
            .context("cannot run the checks")?;
        let mut failing = 0;
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let result: serde_json::Value =
                serde_json::from_str(line).context("the checks printed no JSON")?;
            let (name, passed) = (
                result["name"].as_str().unwrap_or("?"),
                result["passed"] == true,
            );
            if result["needs_pillar"] == true {
                if passed {
                    all_good = false;
                    println!("✗ {own}: check {name} passes on the untouched starter: it does not test the pillar");
                } else {
                    failing += 1;
                }
            }
        }
        if failing == 0 {
            all_good = false;
            println!(
                "✗ {own}: no pillar check ran on the starter (exit status {})",
                output.status
            );
        } else {
            println!(
                "✓ {own}: all {failing} pillar checks fail on the untouched starter, as they must"
            );
        }
    }
    Ok(all_good)
}
