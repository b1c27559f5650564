//! `sync`: generate the learner's starters in chapters/ from the solutions in solutions/.
//!
//! A solution marks each exercise in its own source, so the solution stays the one source
//! of truth:
//!
//! ```text
//!     // EXERCISE(ch01-2): Set the hostname with sethostname(2) ...   <- the hint, kept
//!     // (more hint lines, also kept)
//!     nix::unistd::sethostname(name).map_err(...)                     <- the answer, removed
//!     // END EXERCISE
//! ```
//!
//! In the starter the hint becomes a `// TODO(ch01-2): …` comment followed by a `todo!()`,
//! mdBook's `// ANCHOR:` lines disappear, and the package `chNN-solution` becomes `chNN`.
//!
//! A learner's work is never overwritten silently: `.generated` in each starter records the
//! hash of every file as generated, and a file whose content no longer matches is the
//! learner's. `sync` keeps it (unless `--force`); `reset N` replaces a starter on purpose.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::build::{chapters_in, workspace_dir};

/// The file in each starter that records what was generated.
pub const MANIFEST: &str = ".generated";

const EXERCISE: &str = "// EXERCISE(";
const END_EXERCISE: &str = "// END EXERCISE";
const ANCHOR: &str = "// ANCHOR";

/// A starter as it should be: relative path → generated file.
pub type Files = BTreeMap<PathBuf, Generated>;

/// One generated file, and the hash of the solution file it came from: a change to an
/// answer leaves the starter's text alone but still makes chapters/ stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    pub text: String,
    pub source_hash: String,
}

/// What the manifest records for a file: (hash as generated, hash of its solution file).
type Recorded = BTreeMap<PathBuf, (String, String)>;

/// One chapter's solution and the starter made from it.
#[derive(Debug, Clone)]
pub struct Chapter {
    pub number: u8,
    pub solution_dir: PathBuf,
    pub starter_dir: PathBuf,
}

/// Every chapter with a solution, and where its starter goes.
pub fn chapters(workspace: &Path) -> Vec<Chapter> {
    chapters_in(&workspace.join("solutions"))
        .into_iter()
        .map(|(number, solution_dir)| {
            let name = solution_dir.file_name().unwrap_or_default().to_owned();
            let starter_dir = workspace.join("chapters").join(name);
            Chapter {
                number,
                solution_dir,
                starter_dir,
            }
        })
        .collect()
}

/// Generate a chapter's starter from its solution, in memory.
pub fn generate(chapter: &Chapter) -> Result<Files> {
    let mut files = Files::new();
    for path in source_files(&chapter.solution_dir)? {
        let relative = path.strip_prefix(&chapter.solution_dir)?.to_path_buf();
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let starter = match path.extension().and_then(|e| e.to_str()) {
            Some("rs") => starter_source(&text, chapter.number, is_crate_root(&relative))
                .with_context(|| format!("in {}", path.display()))?,
            Some("toml") => starter_manifest(&text, chapter.number),
            _ => text.clone(),
        };
        files.insert(
            relative,
            Generated {
                text: starter,
                source_hash: digest(&text),
            },
        );
    }
    Ok(files)
}

fn is_crate_root(relative: &Path) -> bool {
    relative == Path::new("src/lib.rs") || relative == Path::new("src/main.rs")
}

/// Every file of a solution that belongs in its starter (sources and the manifest).
fn source_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = vec![];
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?
        {
            let path = entry?.path();
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            // mistakes.toml quotes the solution's code: it stays beside the solution.
            if name.starts_with('.') || name == "target" || name == "mistakes.toml" {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// The starter's Cargo.toml: the same crate, named `chNN`.
fn starter_manifest(text: &str, number: u8) -> String {
    text.replace(
        &format!("name = \"ch{number:02}-solution\""),
        &format!("name = \"ch{number:02}\""),
    )
    .replacen("description = \"", "description = \"Your starter for ", 1)
}

/// A starter's Rust source: exercises replaced, anchors dropped, its own crate renamed.
pub fn starter_source(text: &str, number: u8, crate_root: bool) -> Result<String> {
    let own_crate = format!("ch{number:02}_solution");
    let mut out = String::new();
    let mut lines = text.lines().enumerate().peekable();
    let mut header_done = !crate_root;
    while let Some((index, line)) = lines.next() {
        let trimmed = line.trim_start();
        if !header_done && !trimmed.starts_with("//!") {
            out.push_str(STARTER_HEADER);
            header_done = true;
        }
        if trimmed.starts_with(ANCHOR) {
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix(EXERCISE) {
            let indent = &line[..line.len() - trimmed.len()];
            let (id, first_hint) = rest
                .split_once("):")
                .with_context(|| format!("line {}: EXERCISE(id): hint", index + 1))?;
            writeln!(out, "{indent}// TODO({id}):{first_hint}")?;
            // The hint goes on while the lines are comments; then the answer, until the end.
            while let Some((_, hint)) = lines
                .next_if(|(_, l)| l.trim_start().starts_with("//") && !l.contains(END_EXERCISE))
            {
                writeln!(out, "{hint}")?;
            }
            let closed = lines
                .by_ref()
                .any(|(_, l)| l.trim_start().starts_with(END_EXERCISE));
            if !closed {
                bail!("line {}: EXERCISE({id}) has no {END_EXERCISE}", index + 1);
            }
            // The todo!() is the block's value when the block ends right after the exercise,
            // and a statement when more code follows.
            let ends_block = lines
                .peek()
                .is_none_or(|(_, next)| next.trim_start().starts_with('}'));
            let end = if ends_block { "" } else { ";" };
            writeln!(
                out,
                "{indent}todo!(\"exercise {id}: see the TODO above\"){end}"
            )?;
            continue;
        }
        writeln!(
            out,
            "{}",
            line.replace(&own_crate, &format!("ch{number:02}"))
        )?;
    }
    if !header_done {
        out.push_str(STARTER_HEADER);
    }
    Ok(out)
}

/// What goes after the crate docs of a starter's lib.rs and main.rs.
const STARTER_HEADER: &str =
    "\n// Your starter, generated from solutions/ by `cargo boxcar sync`: fill in the TODOs.\n\
// Until you do, some imports and arguments are unused; these lints stay quiet meanwhile.\n\
#![allow(\n    unused_imports,\n    unused_variables,\n    unused_mut,\n    dead_code,\n    unreachable_code\n)]\n";

/// The hash recorded for a generated file.
fn digest(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The manifest of a starter.
fn read_manifest(starter_dir: &Path) -> Recorded {
    let text = std::fs::read_to_string(starter_dir.join(MANIFEST)).unwrap_or_default();
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (hashes, path) = line.split_once("  ")?;
            let (generated, source) = hashes.split_once(' ')?;
            Some((
                PathBuf::from(path),
                (generated.to_string(), source.to_string()),
            ))
        })
        .collect()
}

fn manifest_text(recorded: &Recorded) -> String {
    let mut text = String::from(
        "# Written by `cargo boxcar sync`: sha256 of each file as generated, and of the solution \
         file it came from.\n",
    );
    for (path, (generated, source)) in recorded {
        let _ = writeln!(text, "{generated} {source}  {}", path.display());
    }
    text
}

fn record(file: &Generated) -> (String, String) {
    (digest(&file.text), file.source_hash.clone())
}

/// The state of one starter file compared with what would be generated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileState {
    UpToDate,
    Missing,
    /// Unchanged since generated, but the solution has changed since.
    Stale,
    /// Changed since generated: the learner's work.
    Edited,
    /// In the starter, not generated (and not the learner's to keep).
    Extra,
}

/// Compare a starter on disk with what `generate` makes.
pub fn compare(chapter: &Chapter, files: &Files) -> Vec<(PathBuf, FileState)> {
    let manifest = read_manifest(&chapter.starter_dir);
    let mut states = Vec::new();
    for (relative, wanted) in files {
        let recorded = manifest.get(relative);
        let state = match std::fs::read_to_string(chapter.starter_dir.join(relative)) {
            Err(_) => FileState::Missing,
            Ok(actual) if actual == wanted.text && recorded == Some(&record(wanted)) => {
                FileState::UpToDate
            }
            Ok(actual) if actual == wanted.text => FileState::Stale,
            Ok(actual) if recorded.is_some_and(|(generated, _)| *generated == digest(&actual)) => {
                FileState::Stale
            }
            Ok(_) => FileState::Edited,
        };
        states.push((relative.clone(), state));
    }
    for relative in manifest.keys().filter(|path| !files.contains_key(*path)) {
        if chapter.starter_dir.join(relative).exists() {
            states.push((relative.clone(), FileState::Extra));
        }
    }
    states
}

/// Whether the manifest on disk matches the files that would be generated.
fn manifest_is_current(chapter: &Chapter, files: &Files) -> bool {
    let wanted: Recorded = files
        .iter()
        .map(|(path, file)| (path.clone(), record(file)))
        .collect();
    read_manifest(&chapter.starter_dir) == wanted
}

/// `sync --check`: fail when any starter differs from what its solution generates.
pub fn check(workspace: &Path) -> Result<()> {
    let mut problems = Vec::new();
    for chapter in chapters(workspace) {
        let files = generate(&chapter)?;
        for (relative, state) in compare(&chapter, &files) {
            let path = chapter.starter_dir.join(&relative);
            match state {
                FileState::UpToDate => {}
                FileState::Edited => problems.push(format!(
                    "{}: edited by hand (it differs from what its solution generates)",
                    path.display()
                )),
                FileState::Stale => problems.push(format!(
                    "{}: stale (its solution changed since the last sync)",
                    path.display()
                )),
                FileState::Missing => problems.push(format!("{}: missing", path.display())),
                FileState::Extra => {
                    problems.push(format!("{}: no longer generated", path.display()))
                }
            }
        }
        if problems.is_empty() && !manifest_is_current(&chapter, &files) {
            problems.push(format!(
                "{}: out of date",
                chapter.starter_dir.join(MANIFEST).display()
            ));
        }
    }
    if !problems.is_empty() {
        bail!(
            "chapters/ is not what solutions/ generates:\n  {}\nrun: cargo boxcar sync",
            problems.join("\n  ")
        );
    }
    Ok(())
}

/// `sync`: write every starter, keeping a learner's edits unless `force`.
pub fn sync(workspace: &Path, force: bool) -> Result<Vec<String>> {
    let mut report = Vec::new();
    for chapter in chapters(workspace) {
        report.extend(write_starter(&chapter, force)?);
    }
    Ok(report)
}

/// `reset N`: replace chapter N's starter with a fresh one. The learner's work is lost.
pub fn reset(workspace: &Path, number: u8) -> Result<()> {
    let chapter = chapters(workspace)
        .into_iter()
        .find(|c| c.number == number)
        .with_context(|| format!("there is no chapter {number:02} in solutions/"))?;
    if chapter.starter_dir.exists() {
        std::fs::remove_dir_all(&chapter.starter_dir)?;
    }
    write_starter(&chapter, true)?;
    Ok(())
}

fn write_starter(chapter: &Chapter, force: bool) -> Result<Vec<String>> {
    let files = generate(chapter)?;
    let mut recorded = read_manifest(&chapter.starter_dir);
    let mut report = Vec::new();
    for (relative, state) in compare(chapter, &files) {
        let path = chapter.starter_dir.join(&relative);
        match (state, files.get(&relative)) {
            (FileState::UpToDate, Some(file)) => {
                recorded.insert(relative, record(file));
            }
            (FileState::Edited, _) if !force => {
                report.push(format!(
                    "kept your edits in {} (reset with: cargo boxcar reset {})",
                    path.display(),
                    chapter.number
                ));
            }
            (FileState::Extra, _) => {
                std::fs::remove_file(&path)?;
                recorded.remove(&relative);
                report.push(format!("removed {}", path.display()));
            }
            (_, Some(file)) => {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::write(&path, &file.text)?;
                recorded.insert(relative, record(file));
                report.push(format!("wrote {}", path.display()));
            }
            (_, None) => {}
        }
    }
    std::fs::create_dir_all(&chapter.starter_dir)?;
    std::fs::write(chapter.starter_dir.join(MANIFEST), manifest_text(&recorded))?;
    Ok(report)
}

/// The workspace's chapters, for commands run from anywhere.
pub fn workspace_chapters() -> Vec<Chapter> {
    chapters(&workspace_dir())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOLUTION: &str = "\
//! Docs.

use ch03_solution::x;

// ANCHOR: f
pub fn f(a: u32) -> u32 {
    // EXERCISE(ch03-1): Double it.
    // Multiply by two.
    a * 2
    // END EXERCISE
}
// ANCHOR_END: f
";

    #[test]
    fn an_exercise_becomes_a_todo_with_its_hint() {
        let starter = starter_source(SOLUTION, 3, true).unwrap();
        assert_eq!(
            starter,
            format!(
                "//! Docs.\n{STARTER_HEADER}\nuse ch03::x;\n\npub fn f(a: u32) -> u32 {{\n    \
                 // TODO(ch03-1): Double it.\n    // Multiply by two.\n    \
                 todo!(\"exercise ch03-1: see the TODO above\")\n}}\n"
            )
        );
    }

    #[test]
    fn an_unclosed_exercise_is_an_error() {
        let broken = "fn f() {\n    // EXERCISE(ch03-1): x\n    1\n}\n";
        assert!(starter_source(broken, 3, false).is_err());
    }

    #[test]
    fn the_package_is_renamed() {
        let manifest = "[package]\nname = \"ch03-solution\"\ndescription = \"Chapter 03\"\n";
        assert_eq!(
            starter_manifest(manifest, 3),
            "[package]\nname = \"ch03\"\ndescription = \"Your starter for Chapter 03\"\n"
        );
    }

    /// chapters/ must be what solutions/ generates. A file a learner edited is theirs, not
    /// stale: `cargo boxcar sync --check` (run by CI on a clean clone) catches those.
    #[test]
    fn chapters_are_in_sync_with_solutions() {
        for chapter in chapters(&workspace_dir()) {
            let files = generate(&chapter).unwrap();
            for (path, state) in compare(&chapter, &files) {
                let fine = matches!(state, FileState::UpToDate | FileState::Edited);
                assert!(
                    fine,
                    "{}: {state:?}; run cargo boxcar sync",
                    chapter.starter_dir.join(path).display()
                );
            }
        }
    }

    fn scratch_workspace() -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("boxcar-sync-{}", boxcar::state::new_container_id()));
        let solution = dir.join("solutions/ch03-x/src");
        std::fs::create_dir_all(&solution).unwrap();
        std::fs::write(solution.join("lib.rs"), SOLUTION).unwrap();
        std::fs::write(
            dir.join("solutions/ch03-x/Cargo.toml"),
            "[package]\nname = \"ch03-solution\"\n",
        )
        .unwrap();
        dir
    }

    #[test]
    fn sync_keeps_a_learners_edits_and_reset_replaces_them() {
        let workspace = scratch_workspace();
        sync(&workspace, false).unwrap();
        check(&workspace).unwrap();
        let lib = workspace.join("chapters/ch03-x/src/lib.rs");
        std::fs::write(&lib, "// my work\n").unwrap();
        let report = sync(&workspace, false).unwrap();
        assert!(
            report.iter().any(|line| line.contains("kept your edits")),
            "{report:?}"
        );
        assert_eq!(std::fs::read_to_string(&lib).unwrap(), "// my work\n");
        assert!(check(&workspace).is_err());
        reset(&workspace, 3).unwrap();
        check(&workspace).unwrap();
        std::fs::remove_dir_all(&workspace).unwrap();
    }

    #[test]
    fn a_changed_solution_makes_the_starter_stale_and_sync_updates_it() {
        let workspace = scratch_workspace();
        sync(&workspace, false).unwrap();
        let solution = workspace.join("solutions/ch03-x/src/lib.rs");
        std::fs::write(&solution, SOLUTION.replace("a * 2", "a + a")).unwrap();
        let error = check(&workspace).unwrap_err().to_string();
        assert!(error.contains("stale"), "{error}");
        sync(&workspace, false).unwrap();
        check(&workspace).unwrap();
        std::fs::remove_dir_all(&workspace).unwrap();
    }
}
