//! `mistakes [N]`: the catalogue of plausible mistakes, and the proof that the checks catch
//! each one.
//!
//! Each solution keeps its catalogue beside its sources, in `solutions/chNN-*/mistakes.toml`
//! (`sync` does not copy it into the starter):
//!
//! ```toml
//! [[mistake]]
//! exercise = "ch01-1"
//! name = "the mount namespace's flag forgotten"        # the slip, as a learner makes it
//! file = "src/namespaces.rs"                           # relative to the solution crate
//! find = "LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,"   # exactly once in the file
//! replace = "LinuxNamespaceType::Mount => CloneFlags::empty(),"
//! caught_by = ["ps_shows_only_the_container"]          # optional: checks expected to fail
//! cgroup = "v2"                                        # optional: only on a cgroup v2 host
//! ```
//!
//! For each mistake the command edits a scratch copy of the workspace (under the target
//! directory, with a target directory of its own that every mistake shares, so each build is
//! incremental), builds that chapter's solution there, restores the file, and runs the chapter's
//! checks with `BOXCAR_BIN` pointing at the mistaken binary — then the earlier chapters' checks
//! if none of its own failed. A mistake is caught when a check fails. A mistake whose `find`
//! does not occur exactly once is stale, and as much a defect as one no check catches.
//!
//! A mistake marked `cgroup = "v2"` is skipped on a v1 or hybrid host; `--v2-vm` builds the
//! selected ones here and runs their chapter's checks in the v2 VM (scripts/v2-vm.sh), in one
//! boot, beside the untouched solution as a control.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::build::{self, chapters_in};
use crate::hints::split_id;

/// The catalogue's file name in a solution crate.
pub const CATALOGUE: &str = "mistakes.toml";

/// One plausible mistake, as the catalogue states it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mistake {
    /// The exercise where a learner makes it, `ch01-1`.
    pub exercise: String,
    /// The slip, in a learner's words.
    pub name: String,
    /// The file, relative to the solution crate.
    pub file: PathBuf,
    /// Text that occurs exactly once in the file…
    pub find: String,
    /// …and what the mistake puts in its place.
    pub replace: String,
    /// The checks expected to fail (any one of them); empty when not stated.
    #[serde(default)]
    pub caught_by: Vec<String>,
    /// `"v2"` for a mistake in the cgroup v2 backend, which a runtime on a v1 or hybrid host
    /// never runs: it is tried only where /sys/fs/cgroup is cgroup2 (the v2 VM, the
    /// classroom VM), and skipped elsewhere with a line that says so.
    #[serde(default)]
    pub cgroup: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Catalogue {
    #[serde(default)]
    mistake: Vec<Mistake>,
}

/// A mistake with where it belongs.
#[derive(Debug, Clone)]
pub struct Entry {
    /// `ch01-1/2`: the exercise, and the mistake's place among that exercise's.
    pub id: String,
    pub chapter: u8,
    /// The solution crate, e.g. `solutions/ch01-uts`, relative to the workspace.
    pub solution: PathBuf,
    pub mistake: Mistake,
}

impl Entry {
    /// The file it edits, relative to the workspace.
    pub fn path(&self) -> PathBuf {
        self.solution.join(&self.mistake.file)
    }
}

/// Parse one chapter's catalogue.
pub fn parse(text: &str, chapter: u8) -> Result<Vec<Mistake>> {
    let catalogue: Catalogue = toml::from_str(text)?;
    for (index, mistake) in catalogue.mistake.iter().enumerate() {
        let which = format!("mistake {} ({:?})", index + 1, mistake.name);
        match split_id(&mistake.exercise) {
            Some((c, _)) if c == chapter => {}
            _ => bail!(
                "{which}: exercise {:?} is not an exercise of chapter {chapter:02} (chNN-K)",
                mistake.exercise
            ),
        }
        if mistake.find.is_empty() {
            bail!("{which}: `find` is empty");
        }
        if mistake.find == mistake.replace {
            bail!("{which}: `replace` is the same as `find`: that is no mistake");
        }
        if mistake.file.is_absolute() || mistake.file.components().any(|c| c.as_os_str() == "..") {
            bail!("{which}: `file` must be a path inside the solution crate");
        }
    }
    Ok(catalogue.mistake)
}

/// Every mistake of the workspace's catalogues (of `chapter` only, if given), in order.
pub fn catalogue(workspace: &Path, chapter: Option<u8>) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for (number, dir) in chapters_in(&workspace.join("solutions")) {
        if chapter.is_some_and(|c| c != number) {
            continue;
        }
        let path = dir.join(CATALOGUE);
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let mistakes = parse(&text, number).with_context(|| format!("in {}", path.display()))?;
        let solution = dir.strip_prefix(workspace).unwrap_or(&dir).to_path_buf();
        let mut per_exercise = std::collections::BTreeMap::<String, usize>::new();
        for mistake in mistakes {
            let n = per_exercise.entry(mistake.exercise.clone()).or_default();
            *n += 1;
            entries.push(Entry {
                id: format!("{}/{n}", mistake.exercise),
                chapter: number,
                solution: solution.clone(),
                mistake,
            });
        }
    }
    Ok(entries)
}

/// `text` with the mistake made; an error unless `find` occurs exactly once.
pub fn apply(text: &str, mistake: &Mistake) -> Result<String> {
    match text.matches(&mistake.find).count() {
        1 => Ok(text.replacen(&mistake.find, &mistake.replace, 1)),
        0 => bail!(
            "its `find` text no longer occurs in {} (stale: update the catalogue)",
            mistake.file.display()
        ),
        n => bail!(
            "its `find` text occurs {n} times in {}: make it match exactly once",
            mistake.file.display()
        ),
    }
}

/// `K/M` → (K, M): every M-th mistake, starting at the K-th (from 0).
pub fn parse_part(text: &str) -> Result<(usize, usize)> {
    let (k, m) = text.split_once('/').context("--part K/M, e.g. 0/4")?;
    let (k, m): (usize, usize) = (
        k.trim().parse().context("--part K/M: K is a number")?,
        m.trim().parse().context("--part K/M: M is a number")?,
    );
    if m == 0 || k >= m {
        bail!("--part K/M needs 0 <= K < M (got {k}/{m})");
    }
    Ok((k, m))
}

/// What `mistakes` should do.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Only this chapter's catalogue.
    pub chapter: Option<u8>,
    /// Only the mistakes of this exercise (`ch01-1`) or this one mistake (`ch01-1/2`).
    pub only: Option<String>,
    /// (K, M): every M-th mistake, starting at K.
    pub part: Option<(usize, usize)>,
    /// Start no new mistake after this many minutes.
    pub budget_minutes: Option<f64>,
    /// List the catalogue and check that every mistake applies; build and run nothing.
    pub list: bool,
    /// Try the selected cgroup v2 mistakes in the v2 VM (scripts/v2-vm.sh), all in one boot.
    pub v2_vm: bool,
}

/// The mistakes `options` select, in catalogue order.
pub fn select(entries: Vec<Entry>, options: &Options) -> Vec<Entry> {
    let chosen = entries.into_iter().filter(|entry| match &options.only {
        Some(only) if only.contains('/') => entry.id == *only,
        Some(only) => entry.mistake.exercise == *only,
        None => true,
    });
    match options.part {
        Some((k, m)) => chosen.skip(k).step_by(m).collect(),
        None => chosen.collect(),
    }
}

/// `cargo boxcar mistakes`.
pub fn mistakes(options: &Options) -> Result<bool> {
    let workspace = build::workspace_dir();
    let all = catalogue(&workspace, options.chapter)?;
    let total = all.len();
    let entries = select(all, options);
    if entries.is_empty() {
        println!("no mistakes selected (the catalogue holds {total})");
        return Ok(total > 0 || options.list);
    }
    if options.list {
        return Ok(list(&workspace, &entries));
    }
    if options.v2_vm {
        return run_in_v2_vm(&workspace, entries);
    }
    run(&workspace, &entries, options.budget_minutes)
}

/// Print the catalogue, and whether each mistake applies. Returns whether all do.
fn list(workspace: &Path, entries: &[Entry]) -> bool {
    let mut stale = 0;
    for entry in entries {
        let applies = std::fs::read_to_string(workspace.join(entry.path()))
            .with_context(|| format!("cannot read {}", entry.path().display()))
            .and_then(|text| apply(&text, &entry.mistake));
        match applies {
            Ok(_) => println!(
                "  {:<10} {} ({})",
                entry.id,
                entry.mistake.name,
                entry.path().display()
            ),
            Err(error) => {
                stale += 1;
                println!("✗ {:<10} {}: {error:#}", entry.id, entry.mistake.name);
            }
        }
    }
    if stale == 0 {
        println!("{} mistakes, each applies exactly once", entries.len());
    } else {
        println!("{stale} of {} mistakes do not apply", entries.len());
    }
    stale == 0
}

/// What one check reported, from the harness's JSON lines.
#[derive(Debug, Clone)]
struct Failed {
    name: String,
    says: String,
}

/// What became of one mistake.
enum Verdict {
    Caught(Vec<Failed>),
    NotCaught,
    Defect(String),
}

/// The built checks and the scratch workspace they test mistakes in.
struct Bench {
    scratch: PathBuf,
    target: PathBuf,
    probe: PathBuf,
    tests: Vec<(String, PathBuf)>,
}

impl Bench {
    /// Build the checks of the chapters up to the newest of `entries`, and mirror the
    /// workspace into the scratch copy the mistakes are made in.
    fn prepare(workspace: &Path, entries: &[Entry]) -> Result<Bench> {
        let newest = entries.iter().map(|e| e.chapter).max().unwrap_or(1);
        eprintln!("building the checks of chapters 01 to {newest:02}…");
        let probe = build::build_probe()?;
        let names: Vec<String> = (1..=newest).map(|n| format!("ch{n:02}")).collect();
        let mut tests = build::build_test_binaries(&names)?;
        tests.sort();
        let base = build::target_dir().join("boxcar").join("mistakes");
        let bench = Bench {
            scratch: base.join("workspace"),
            target: base.join("target"),
            probe,
            tests,
        };
        eprintln!("copying the workspace to {}…", bench.scratch.display());
        mirror(
            workspace,
            &bench.scratch,
            &[build::target_dir(), base.clone()],
        )?;
        make_dir_for_invoking_user(&bench.target)?;
        Ok(bench)
    }

    /// The test binary of chapter `name` (`ch03`).
    fn test(&self, name: &str) -> Option<&PathBuf> {
        self.tests.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }

    /// Make the mistake in the scratch copy, build its chapter's solution, put the file back.
    fn build_mistaken(&self, entry: &Entry) -> Result<PathBuf> {
        let path = self.scratch.join(entry.path());
        let original = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let mistaken = apply(&original, &entry.mistake)?;
        std::fs::write(&path, mistaken)?;
        let built =
            build::build_binary_in(&self.scratch, &self.target, &solution_of(entry.chapter));
        std::fs::write(&path, &original)
            .with_context(|| format!("cannot put back {}", path.display()))?;
        built
            .context("the mistake does not compile: the catalogue wants mistakes a learner can run")
    }
}

/// The solution package of a chapter.
fn solution_of(chapter: u8) -> String {
    format!("ch{chapter:02}-solution")
}

fn run(workspace: &Path, entries: &[Entry], budget_minutes: Option<f64>) -> Result<bool> {
    let started = Instant::now();
    let budget = budget_minutes.map(|m| Duration::from_secs_f64(m.max(0.0) * 60.0));
    let bench = Bench::prepare(workspace, entries)?;
    println!(
        "applying {} mistakes, one at a time, to a copy of the solutions\n",
        entries.len()
    );
    let (mut caught, mut ran, mut defects, mut skipped) = (0, 0, 0, 0);
    let host_is_v2 = boxcar::cgroupfs::layout(Path::new(boxcar::cgroupfs::CGROUP_ROOT))
        == boxcar::cgroupfs::Layout::V2;
    for (index, entry) in entries.iter().enumerate() {
        if entry.mistake.cgroup.as_deref() == Some("v2") && !host_is_v2 {
            skipped += 1;
            println!(
                "- {:<10} {}
      skipped: a mistake in the cgroup v2 backend, which this v1 or \
                 hybrid host never runs (`cargo boxcar mistakes --v2-vm` tries it on v2)",
                entry.id, entry.mistake.name
            );
            continue;
        }
        if let Some(budget) = budget {
            if started.elapsed() > budget {
                let left = entries.len() - index;
                println!(
                    "\nthe budget of {} minutes is spent: {left} of {} not started (run them with \
                     --part or --only)",
                    budget.as_secs_f64() / 60.0,
                    entries.len()
                );
                break;
            }
        }
        let began = Instant::now();
        let verdict =
            try_mistake(&bench, entry).unwrap_or_else(|e| Verdict::Defect(format!("{e:#}")));
        let took = began.elapsed().as_secs();
        ran += 1;
        let checks = format!("chapters 01 to {:02}", entry.chapter);
        match report(entry, &verdict, &format!("{took} s"), &checks) {
            Verdict::Caught(_) => caught += 1,
            Verdict::Defect(_) => defects += 1,
            Verdict::NotCaught => {}
        }
    }
    println!(
        "\ncaught {caught} / {ran}{}{} in {} s",
        if defects > 0 {
            format!(" ({defects} do not apply)")
        } else {
            String::new()
        },
        if skipped > 0 {
            format!(", {skipped} skipped (cgroup v2 only)")
        } else {
            String::new()
        },
        started.elapsed().as_secs()
    );
    Ok(caught == ran)
}

/// Print what became of one mistake; returns the verdict. `checks` names the checks that
/// ran ("chapters 01 to 03").
fn report<'a>(entry: &Entry, verdict: &'a Verdict, took: &str, checks: &str) -> &'a Verdict {
    let what = format!("{:<10} {}", entry.id, entry.mistake.name);
    match verdict {
        Verdict::Caught(failed) => {
            println!("✓ {what} ({took})\n      caught by ✗ {}", failed[0].says);
            if failed.len() > 1 {
                println!("      (and {} more checks)", failed.len() - 1);
            }
            let expected = &entry.mistake.caught_by;
            if !expected.is_empty() && !failed.iter().any(|f| expected.contains(&f.name)) {
                let names: Vec<&str> = failed.iter().map(|f| f.name.as_str()).collect();
                println!(
                    "      note: caught_by names {}, but the checks that failed are {}",
                    expected.join(", "),
                    names.join(", ")
                );
            }
        }
        Verdict::NotCaught => {
            println!("✗ {what} ({took})\n      NOT caught: every check of {checks} passes")
        }
        Verdict::Defect(why) => println!("✗ {what}\n      does not apply: {why}"),
    }
    verdict
}

/// `mistakes --v2-vm`: the selected cgroup v2 mistakes, each built on this host, then all run
/// in one boot of the v2 VM (scripts/v2-vm.sh) beside the untouched solution as a control: a
/// mistake counts as caught only if a check fails on it while every check passes on the
/// control. Only the mistake's own chapter's checks run in the VM (software emulation is slow).
fn run_in_v2_vm(workspace: &Path, entries: Vec<Entry>) -> Result<bool> {
    let started = Instant::now();
    let entries: Vec<Entry> = entries
        .into_iter()
        .filter(|e| e.mistake.cgroup.as_deref() == Some("v2"))
        .collect();
    if entries.is_empty() {
        println!("no cgroup v2 mistake among those selected: nothing to run in the v2 VM");
        return Ok(true);
    }
    let bench = Bench::prepare(workspace, &entries)?;
    let vm = bench.target.parent().unwrap_or(&bench.target).join("v2vm");
    let _ = std::fs::remove_dir_all(&vm);
    make_dir_for_invoking_user(&vm.join("bin"))?;
    // One run a line: TEST LABEL TEST_BINARY RUNTIME_BINARY (scripts/v2-vm.sh --runs).
    let mut runs = String::new();
    let mut line = |test: &str, label: &str, binary: &Path| -> Result<()> {
        let checks = bench
            .test(test)
            .context("the chapter's checks were not built")?;
        let kept = vm.join("bin").join(label);
        std::fs::copy(binary, &kept)
            .with_context(|| format!("cannot copy {}", binary.display()))?;
        runs += &format!("{test} {label} {} {}\n", checks.display(), kept.display());
        Ok(())
    };
    let mut defects: Vec<(usize, String)> = Vec::new();
    let chapters: BTreeSet<u8> = entries.iter().map(|e| e.chapter).collect();
    for chapter in &chapters {
        eprintln!(
            "building the untouched {} as the control…",
            solution_of(*chapter)
        );
        let control =
            build::build_binary_in(&bench.scratch, &bench.target, &solution_of(*chapter))?;
        line(
            &format!("ch{chapter:02}"),
            &format!("control-ch{chapter:02}"),
            &control,
        )?;
    }
    for (index, entry) in entries.iter().enumerate() {
        eprintln!("building {} ({})…", entry.id, entry.mistake.name);
        match bench.build_mistaken(entry) {
            Ok(binary) => line(
                &format!("ch{:02}", entry.chapter),
                &label_of(entry),
                &binary,
            )?,
            Err(error) => defects.push((index, format!("{error:#}"))),
        }
    }
    std::fs::write(vm.join("runs"), &runs)?;
    let results = vm.join("results");
    let status = Command::new(workspace.join("scripts/v2-vm.sh"))
        .arg("run")
        .arg("--runs")
        .arg(vm.join("runs"))
        .arg("--results")
        .arg(&results)
        .arg("--verify-json")
        .status()
        .context("cannot run scripts/v2-vm.sh")?;
    if !status.success() {
        bail!("the v2 VM did not run the checks (scripts/v2-vm.sh: {status}); see above");
    }
    let result_of = |test: &str, label: &str| -> Result<Vec<Failed>> {
        let out = results.join(format!("{test}-{label}.out"));
        let text = std::fs::read_to_string(&out)
            .with_context(|| format!("no results in {}", out.display()))?;
        parse_results(&text)
    };
    for chapter in &chapters {
        let test = format!("ch{chapter:02}");
        let control = result_of(&test, &format!("control-ch{chapter:02}"))?;
        if let Some(failed) = control.first() {
            bail!(
                "the untouched {} fails on v2 ({} checks, first: {}): no mistake can be judged",
                solution_of(*chapter),
                control.len(),
                failed.says
            );
        }
    }
    println!();
    let mut caught = 0;
    for (index, entry) in entries.iter().enumerate() {
        let verdict = match defects.iter().find(|(i, _)| *i == index) {
            Some((_, why)) => Verdict::Defect(why.clone()),
            None => match result_of(&format!("ch{:02}", entry.chapter), &label_of(entry)) {
                Ok(failed) if failed.is_empty() => Verdict::NotCaught,
                Ok(failed) => Verdict::Caught(failed),
                Err(error) => Verdict::Defect(format!("{error:#}")),
            },
        };
        let checks = format!("chapter {:02} on cgroup v2", entry.chapter);
        if let Verdict::Caught(_) = report(entry, &verdict, "in the v2 VM", &checks) {
            caught += 1;
        }
    }
    println!(
        "\ncaught {caught} / {} on a pure cgroup v2 kernel, in {} s",
        entries.len(),
        started.elapsed().as_secs()
    );
    Ok(caught == entries.len())
}

/// A mistake's id as a file name: `ch03-1/2` → `ch03-1-2`.
fn label_of(entry: &Entry) -> String {
    entry.id.replace('/', "-")
}

/// Make the mistake in the scratch copy, build, put the file back, run the checks.
fn try_mistake(bench: &Bench, entry: &Entry) -> Result<Verdict> {
    let binary = bench.build_mistaken(entry)?;
    // The chapter's own checks first; the earlier chapters' only if those all pass.
    let own = format!("ch{:02}", entry.chapter);
    let mut order: Vec<&(String, PathBuf)> = bench
        .tests
        .iter()
        .filter(|(name, _)| *name <= own)
        .collect();
    order.sort_by_key(|(name, _)| (*name != own, std::cmp::Reverse(name.clone())));
    for (name, test) in order {
        let failed = failing_checks(bench, test, &binary)
            .with_context(|| format!("running the checks of {name}"))?;
        if !failed.is_empty() {
            return Ok(Verdict::Caught(failed));
        }
    }
    Ok(Verdict::NotCaught)
}

/// Run one chapter's checks on `binary`; the ones that failed.
fn failing_checks(bench: &Bench, test: &Path, binary: &Path) -> Result<Vec<Failed>> {
    let output = Command::new(test)
        .env("BOXCAR_BIN", binary)
        .env("BOXCAR_PROBE", &bench.probe)
        .env("BOXCAR_VERIFY", "json")
        .output()
        .with_context(|| format!("cannot run {}", test.display()))?;
    parse_results(&String::from_utf8_lossy(&output.stdout)).with_context(|| {
        format!(
            "exit status {}:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// The failed checks among the harness's JSON lines (`BOXCAR_VERIFY=json`); an error when
/// there is no result at all (the checks did not run).
fn parse_results(stdout: &str) -> Result<Vec<Failed>> {
    let mut failed = Vec::new();
    let mut seen = 0;
    for line in stdout.lines() {
        let Ok(result) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        seen += 1;
        if result["passed"] != true {
            failed.push(Failed {
                name: result["name"].as_str().unwrap_or("?").to_string(),
                says: result["says"].as_str().unwrap_or("?").to_string(),
            });
        }
    }
    if seen == 0 {
        bail!("the checks reported nothing");
    }
    Ok(failed)
}

/// Make `to` a copy of the workspace's sources at `from`: files whose content differs are
/// written (so an unchanged file keeps its time stamp and cargo's build stays incremental),
/// files no longer in `from` are removed. `.git`, target directories and `skip` are left out.
fn mirror(from: &Path, to: &Path, skip: &[PathBuf]) -> Result<()> {
    make_dir_for_invoking_user(to)?;
    let mut wanted = BTreeSet::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let dir = from.join(&relative);
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?
        {
            let entry = entry?;
            let name = entry.file_name();
            let path = entry.path();
            if name == ".git" || name == "target" || name == ".vagrant" || skip.contains(&path) {
                continue;
            }
            let relative = relative.join(&name);
            let kind = entry.file_type()?;
            wanted.insert(relative.clone());
            if kind.is_dir() {
                make_dir_for_invoking_user(&to.join(&relative))?;
                pending.push(relative);
            } else if kind.is_file() {
                let bytes = std::fs::read(&path)?;
                let target = to.join(&relative);
                if std::fs::read(&target).ok().as_ref() != Some(&bytes) {
                    std::fs::write(&target, &bytes)
                        .with_context(|| format!("cannot write {}", target.display()))?;
                    build::give_to_invoking_user(&target)?;
                }
            }
        }
    }
    // What the copy has and the workspace no longer does.
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        for entry in std::fs::read_dir(to.join(&relative))?.flatten() {
            let relative = relative.join(entry.file_name());
            if !wanted.contains(&relative) {
                let path = entry.path();
                if entry.file_type()?.is_dir() {
                    std::fs::remove_dir_all(&path)?;
                } else {
                    std::fs::remove_file(&path)?;
                }
            } else if entry.file_type()?.is_dir() {
                pending.push(relative);
            }
        }
    }
    Ok(())
}

/// Create `dir` (and its parents) owned by the invoking user, as cargo runs as them.
fn make_dir_for_invoking_user(dir: &Path) -> Result<()> {
    let mut missing = Vec::new();
    let mut at = dir.to_path_buf();
    while !at.exists() {
        missing.push(at.clone());
        if !at.pop() {
            break;
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for created in missing {
        build::give_to_invoking_user(&created)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CATALOGUE_TEXT: &str = r#"
[[mistake]]
exercise = "ch01-1"
name = "the mount namespace's flag forgotten"
file = "src/namespaces.rs"
find = "Mount => CloneFlags::CLONE_NEWNS,"
replace = "Mount => CloneFlags::empty(),"
caught_by = ["ps_shows_only_the_container"]

[[mistake]]
exercise = "ch01-2"
name = "two lines"
file = "src/uts.rs"
find = '''
    a(x)
        .b()
'''
replace = '''
    a(x);
'''
"#;

    #[test]
    fn a_catalogue_parses_with_multiline_finds() {
        let mistakes = parse(CATALOGUE_TEXT, 1).unwrap();
        assert_eq!(mistakes.len(), 2);
        assert_eq!(mistakes[0].caught_by, ["ps_shows_only_the_container"]);
        assert_eq!(mistakes[1].find, "    a(x)\n        .b()\n");
        assert!(mistakes[1].caught_by.is_empty());
        let text = "fn f() {\n    a(x)\n        .b()\n}\n";
        assert_eq!(
            apply(text, &mistakes[1]).unwrap(),
            "fn f() {\n    a(x);\n}\n"
        );
    }

    #[test]
    fn a_catalogue_of_another_chapter_or_with_a_typo_is_refused() {
        assert!(parse(CATALOGUE_TEXT, 2).is_err());
        let typo = CATALOGUE_TEXT.replace("caught_by", "caugth_by");
        assert!(parse(&typo, 1).is_err());
        let same = "[[mistake]]\nexercise = \"ch01-1\"\nname = \"n\"\nfile = \"f\"\nfind = \"a\"\nreplace = \"a\"\n";
        assert!(parse(same, 1).is_err());
    }

    #[test]
    fn a_find_must_occur_exactly_once() {
        let mistake = &parse(CATALOGUE_TEXT, 1).unwrap()[0];
        assert!(apply("nothing here", mistake).is_err());
        let twice = format!("{0}\n{0}\n", mistake.find);
        assert!(apply(&twice, mistake).is_err());
    }

    #[test]
    fn parts_rotate_through_the_catalogue() {
        assert_eq!(parse_part("1/3").unwrap(), (1, 3));
        assert!(parse_part("3/3").is_err());
        assert!(parse_part("0/0").is_err());
        let entries: Vec<Entry> = (1..=7)
            .map(|n| Entry {
                id: format!("ch01-1/{n}"),
                chapter: 1,
                solution: PathBuf::from("solutions/ch01-uts"),
                mistake: parse(CATALOGUE_TEXT, 1).unwrap()[0].clone(),
            })
            .collect();
        let options = Options {
            part: Some((1, 3)),
            ..Options::default()
        };
        let ids: Vec<String> = select(entries.clone(), &options)
            .into_iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(ids, ["ch01-1/2", "ch01-1/5"]);
        let options = Options {
            only: Some("ch01-1/3".into()),
            ..Options::default()
        };
        assert_eq!(select(entries, &options).len(), 1);
    }

    /// Every catalogue in solutions/ parses and every mistake in it applies exactly once.
    #[test]
    fn every_catalogue_applies() {
        let workspace = build::workspace_dir();
        for entry in catalogue(&workspace, None).unwrap() {
            let text = std::fs::read_to_string(workspace.join(entry.path())).unwrap();
            apply(&text, &entry.mistake)
                .with_context(|| entry.id.clone())
                .unwrap();
        }
    }
}
