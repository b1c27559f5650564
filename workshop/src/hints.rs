//! `hint N[-K]`: hints on demand, three levels per exercise, kept beside the exercise in the
//! solution's source so that `sync` keeps them true.
//!
//! ```text
//!     // EXERCISE(ch01-2): Give the container its own hostname …     <- the goal (the TODO)
//!     // HINT(1): A UTS namespace holds a hostname of its own …        <- the concept
//!     //          (a comment line that is not a new HINT: the same hint goes on)
//!     // HINT(2): sethostname(2) — what matters is …                   <- the man page
//!     // HINT(3): nix::unistd has a function of the same name …        <- near-code
//!     the answer
//!     // END EXERCISE
//! ```
//!
//! A hint goes on over the comment lines after it until a new `HINT(`, `END EXERCISE`, an
//! `ANCHOR` or a labelled comment such as `// SAFETY:` (which belongs to the answer). An empty
//! `//` line starts a new paragraph. `sync` drops the hints from the starter: the TODO keeps
//! only the goal.
//!
//! What was shown is remembered per exercise in `target/boxcar/hints.json` (the workspace's
//! target directory), so each `hint N-K` shows the next level.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::build::{self, chapters_in};

pub(crate) const EXERCISE: &str = "// EXERCISE(";
pub(crate) const END_EXERCISE: &str = "// END EXERCISE";
pub(crate) const ANCHOR: &str = "// ANCHOR";
const HINT: &str = "// HINT(";

/// How many levels an exercise's hints have at most.
pub const LEVELS: usize = 3;

/// What each level is for, as the command prints it.
const LEVEL_NAMES: [&str; LEVELS] = ["the concept", "the man page and what matters", "near-code"];

/// One exercise as its solution marks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exercise {
    /// `ch01-2`.
    pub id: String,
    /// The file, relative to the chapter's crate (`src/uts.rs`).
    pub file: PathBuf,
    /// The line of its `EXERCISE` marker in the solution, from 1.
    pub line: usize,
    /// The goal, as the TODO states it (the comment text, lines joined).
    pub goal: String,
    /// The hints, level 1 first. Empty when the exercise has none yet.
    pub hints: Vec<String>,
}

/// `// HINT(L): text` → (L, text).
pub(crate) fn hint_start(trimmed: &str) -> Option<(usize, &str)> {
    let rest = trimmed.strip_prefix(HINT)?;
    let (level, text) = rest.split_once("):")?;
    Some((level.trim().parse().ok()?, text.trim()))
}

/// The text of a comment line that goes on with the hint above it, or None if the line is
/// not part of the hint. `Some("")` is an empty comment line: a paragraph break.
fn hint_continuation(trimmed: &str) -> Option<&str> {
    if trimmed.starts_with("///")
        || trimmed.starts_with("//!")
        || trimmed.starts_with(HINT)
        || trimmed.starts_with(END_EXERCISE)
        || trimmed.starts_with(ANCHOR)
    {
        return None;
    }
    let text = trimmed.strip_prefix("//")?.trim();
    // `// SAFETY: …`, `// NOTE: …`: a comment of the answer's own, not the hint's.
    let label = text.split_once(':').map_or("", |(label, _)| label);
    if !label.is_empty() && label.chars().all(|c| c.is_ascii_uppercase()) {
        return None;
    }
    Some(text)
}

/// Join comment texts into paragraphs: an empty text separates two.
fn join_paragraphs<'a>(texts: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for text in texts {
        if text.is_empty() {
            if !out.ends_with("\n\n") && !out.is_empty() {
                out.push_str("\n\n");
            }
        } else {
            if !out.is_empty() && !out.ends_with('\n') {
                out.push(' ');
            }
            out.push_str(text);
        }
    }
    out.trim_end().to_string()
}

/// Every exercise marked in one source file, with its hints.
pub fn parse(text: &str, file: &Path) -> Result<Vec<Exercise>> {
    let mut exercises = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut index = 0;
    while index < lines.len() {
        let trimmed = lines[index].trim_start();
        let Some(rest) = trimmed.strip_prefix(EXERCISE) else {
            index += 1;
            continue;
        };
        let start = index;
        let (id, first) = rest
            .split_once("):")
            .with_context(|| format!("line {}: EXERCISE(id): goal", start + 1))?;
        let mut goal = vec![first.trim()];
        index += 1;
        // The goal: the comment lines up to the first hint (or the answer).
        while let Some(line) = lines.get(index).map(|l| l.trim_start()) {
            if !line.starts_with("//")
                || hint_start(line).is_some()
                || line.starts_with(END_EXERCISE)
            {
                break;
            }
            goal.push(line.trim_start_matches('/').trim());
            index += 1;
        }
        // The hints, each with its continuation lines.
        let mut hints: Vec<String> = Vec::new();
        while let Some((level, text)) = lines.get(index).and_then(|l| hint_start(l.trim_start())) {
            if level != hints.len() + 1 {
                bail!(
                    "line {}: exercise {id}: HINT({level}) where HINT({}) was expected \
                     (levels go 1, 2, 3 in order)",
                    index + 1,
                    hints.len() + 1
                );
            }
            if level > LEVELS {
                bail!(
                    "line {}: exercise {id}: at most {LEVELS} hint levels",
                    index + 1
                );
            }
            let mut texts = vec![text];
            index += 1;
            while let Some(more) = lines
                .get(index)
                .and_then(|l| hint_continuation(l.trim_start()))
            {
                texts.push(more);
                index += 1;
            }
            hints.push(join_paragraphs(texts));
        }
        exercises.push(Exercise {
            id: id.trim().to_string(),
            file: file.to_path_buf(),
            line: start + 1,
            goal: join_paragraphs(goal),
            hints,
        });
    }
    Ok(exercises)
}

/// `ch01-2` → (1, 2).
pub fn split_id(id: &str) -> Option<(u8, u32)> {
    let (chapter, k) = id.strip_prefix("ch")?.split_once('-')?;
    Some((chapter.parse().ok()?, k.parse().ok()?))
}

/// The short form a learner types: `ch01-2` → `1-2`.
pub fn short_id(id: &str) -> String {
    match split_id(id) {
        Some((chapter, k)) => format!("{chapter}-{k}"),
        None => id.to_string(),
    }
}

/// What a learner types (`2`, `2-3`, `02-3`, `ch02-3`) → (chapter, exercise).
pub fn parse_request(text: &str) -> Result<(u8, Option<u32>)> {
    let bare = text.trim().trim_start_matches("ch");
    let (chapter, k) = match bare.split_once('-') {
        Some((chapter, k)) => (chapter, Some(k)),
        None => (bare, None),
    };
    let chapter: u8 = chapter
        .parse()
        .with_context(|| format!("{text:?}: give a chapter (2) or an exercise (2-3)"))?;
    let k = match k {
        Some(k) => Some(
            k.parse()
                .with_context(|| format!("{text:?}: give a chapter (2) or an exercise (2-3)"))?,
        ),
        None => None,
    };
    Ok((chapter, k))
}

/// A chapter's solution directory and starter directory.
fn chapter_dirs(workspace: &Path, chapter: u8) -> Result<(PathBuf, PathBuf)> {
    let solution = chapters_in(&workspace.join("solutions"))
        .into_iter()
        .find(|(n, _)| *n == chapter)
        .map(|(_, dir)| dir)
        .with_context(|| format!("there is no chapter {chapter} in solutions/"))?;
    let starter = workspace
        .join("chapters")
        .join(solution.file_name().unwrap_or_default());
    Ok((solution, starter))
}

/// The Rust sources under `dir/src`, sorted.
fn rust_sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.join("src")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Every exercise of a chapter, from its solution, in the order of their numbers.
pub fn exercises(workspace: &Path, chapter: u8) -> Result<Vec<Exercise>> {
    let (solution, _) = chapter_dirs(workspace, chapter)?;
    let mut all = Vec::new();
    for path in rust_sources(&solution) {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let relative = path.strip_prefix(&solution).unwrap_or(&path);
        all.extend(parse(&text, relative).with_context(|| format!("in {}", path.display()))?);
    }
    all.sort_by_key(|e| split_id(&e.id).map_or(u32::MAX, |(_, k)| k));
    Ok(all)
}

/// Where exercise `id`'s `todo!` is in the starter: (path relative to the workspace, line),
/// or None once the learner has replaced it.
pub fn todo_in_starter(workspace: &Path, exercise: &Exercise) -> Option<(PathBuf, usize)> {
    let (chapter, _) = split_id(&exercise.id)?;
    let (_, starter) = chapter_dirs(workspace, chapter).ok()?;
    let path = starter.join(&exercise.file);
    let text = std::fs::read_to_string(&path).ok()?;
    let needle = format!("todo!(\"exercise {}:", exercise.id);
    let line = text.lines().position(|l| l.contains(&needle))?;
    let relative = path.strip_prefix(workspace).unwrap_or(&path).to_path_buf();
    Some((relative, line + 1))
}

/// The exercises of a chapter whose `todo!` is still in the starter, in order.
pub fn still_to_do(workspace: &Path, chapter: u8) -> Vec<Exercise> {
    exercises(workspace, chapter)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| todo_in_starter(workspace, e).is_some())
        .collect()
}

/// The exercise a runtime's output names, from the message of a starter's `todo!`
/// ("not yet implemented: exercise ch01-2: see the TODO above").
pub fn exercise_named_in(output: &str) -> Option<String> {
    output.match_indices("exercise ch").find_map(|(at, _)| {
        let rest = &output[at + "exercise ".len()..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .unwrap_or(rest.len());
        let id = &rest[..end];
        split_id(id).map(|_| id.to_string())
    })
}

/// What was shown: exercise id → the highest level shown.
type Shown = BTreeMap<String, usize>;

fn state_path() -> PathBuf {
    build::target_dir().join("boxcar").join("hints.json")
}

fn read_state(path: &Path) -> Shown {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

/// Write the state as the invoking user (under sudo the file must stay theirs).
fn write_state(path: &Path, shown: &Shown) -> Result<()> {
    let dir = path.parent().context("no directory for the hint state")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(path, serde_json::to_string_pretty(shown)? + "\n")
        .with_context(|| format!("cannot write {}", path.display()))?;
    build::give_to_invoking_user(dir)?;
    build::give_to_invoking_user(path)?;
    Ok(())
}

/// What `hint` should do.
#[derive(Debug, Clone)]
pub struct Request {
    /// `2` or `2-3`.
    pub which: String,
    /// Show this level instead of the next one.
    pub level: Option<usize>,
    /// Forget what was shown (for the exercise, or for the whole chapter).
    pub reset: bool,
}

/// `cargo boxcar hint`.
pub fn hint(request: &Request) -> Result<bool> {
    let workspace = build::workspace_dir();
    let (chapter, k) = parse_request(&request.which)?;
    let all = exercises(&workspace, chapter)?;
    if all.is_empty() {
        println!("chapter {chapter:02} has no exercises");
        return Ok(true);
    }
    let path = state_path();
    let mut shown = read_state(&path);
    let numbers = || {
        all.iter()
            .map(|e| short_id(&e.id))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let exercise = match k {
        Some(k) => {
            let id = format!("ch{chapter:02}-{k}");
            all.iter().find(|e| e.id == id).with_context(|| {
                format!(
                    "chapter {chapter:02} has no exercise {id}; its exercises are {}",
                    numbers()
                )
            })?
        }
        None if request.reset => {
            shown.retain(|id, _| split_id(id).is_none_or(|(c, _)| c != chapter));
            write_state(&path, &shown)?;
            println!("forgot the hints shown for chapter {chapter:02}");
            return Ok(true);
        }
        None => match all
            .iter()
            .find(|e| todo_in_starter(&workspace, e).is_some())
        {
            Some(exercise) => exercise,
            None => {
                println!(
                    "every exercise of chapter {chapter:02} is done in your starter; for the \
                     hints of one, name it: cargo boxcar hint {chapter}-K ({})",
                    numbers()
                );
                return Ok(true);
            }
        },
    };
    if request.reset {
        shown.remove(&exercise.id);
        write_state(&path, &shown)?;
        println!("forgot the hints shown for exercise {}", exercise.id);
        return Ok(true);
    }
    let place = match todo_in_starter(&workspace, exercise) {
        Some((file, line)) => format!("{}:{line}", file.display()),
        None => {
            let (_, starter) = chapter_dirs(&workspace, chapter)?;
            let file = starter.join(&exercise.file);
            format!(
                "{} (done)",
                file.strip_prefix(&workspace).unwrap_or(&file).display()
            )
        }
    };
    println!("exercise {} — {place}", exercise.id);
    if exercise.hints.is_empty() {
        println!(
            "exercise {} has no hints yet: its TODO and the book's page are what there is",
            exercise.id
        );
        return Ok(true);
    }
    let count = exercise.hints.len();
    let level = match request.level {
        Some(level) if (1..=count).contains(&level) => level,
        Some(level) => bail!(
            "exercise {} has hint levels 1 to {count}, not {level}",
            exercise.id
        ),
        None => (shown.get(&exercise.id).copied().unwrap_or(0) + 1).min(count),
    };
    let previous = shown.get(&exercise.id).copied().unwrap_or(0);
    shown.insert(exercise.id.clone(), previous.max(level));
    write_state(&path, &shown)?;
    print!("{}", render(exercise, level, terminal_width()));
    let short = short_id(&exercise.id);
    let next = (previous.max(level) + 1).min(count);
    if level < count || next < count {
        println!("\nnext: cargo boxcar hint {short} shows hint {next}/{count}");
    } else {
        println!(
            "\nthere are no more hints for {} (cargo boxcar hint {short} --level 1 shows the \
             first again)",
            exercise.id
        );
    }
    Ok(true)
}

/// One hint, as printed: its level and its text wrapped to `width` columns.
pub fn render(exercise: &Exercise, level: usize, width: usize) -> String {
    let count = exercise.hints.len();
    let name = LEVEL_NAMES.get(level - 1).copied().unwrap_or("");
    let mut out = format!("hint {level}/{count} ({name}):\n");
    for paragraph in exercise.hints[level - 1].split("\n\n") {
        for line in wrap(paragraph, width.saturating_sub(4)) {
            let _ = writeln!(out, "    {line}");
        }
        out.push('\n');
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

/// Words to lines of at most `width` characters (a longer word gets a line of its own).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// The terminal's width (40 to 100 columns), 80 when stdout is not a terminal.
fn terminal_width() -> usize {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into the struct we pass, which outlives the call.
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    if ok && size.ws_col > 0 {
        usize::from(size.ws_col).clamp(40, 100)
    } else {
        80
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = "\
fn f() -> u32 {
    // EXERCISE(ch01-2): Give the container its own
    // hostname.
    // HINT(1): A UTS namespace holds a hostname
    //          of its own.
    //
    //          A second paragraph.
    // HINT(2): sethostname(2).
    // HINT(3): nix::unistd has it.
    // SAFETY: part of the answer.
    unsafe { 2 }
    // END EXERCISE
}

fn g() {
    // EXERCISE(ch01-3): No hints here.
    // Another goal line.
    g()
    // END EXERCISE
}
";

    #[test]
    fn hints_are_parsed_by_level_with_their_continuations() {
        let found = parse(SOURCE, Path::new("src/uts.rs")).unwrap();
        assert_eq!(found.len(), 2);
        let first = &found[0];
        assert_eq!(first.id, "ch01-2");
        assert_eq!(first.line, 2);
        assert_eq!(first.goal, "Give the container its own hostname.");
        assert_eq!(
            first.hints,
            [
                "A UTS namespace holds a hostname of its own.\n\nA second paragraph.",
                "sethostname(2).",
                "nix::unistd has it.",
            ]
        );
        assert_eq!(found[1].id, "ch01-3");
        assert_eq!(found[1].goal, "No hints here. Another goal line.");
        assert!(found[1].hints.is_empty());
    }

    #[test]
    fn hint_levels_must_come_in_order() {
        let broken = "// EXERCISE(ch01-1): x\n// HINT(2): y\n1\n// END EXERCISE\n";
        assert!(parse(broken, Path::new("x.rs")).is_err());
        let too_many = "// EXERCISE(ch01-1): x\n// HINT(1): a\n// HINT(2): b\n// HINT(3): c\n\
                        // HINT(4): d\n1\n// END EXERCISE\n";
        assert!(parse(too_many, Path::new("x.rs")).is_err());
    }

    #[test]
    fn requests_and_ids() {
        assert_eq!(parse_request("2").unwrap(), (2, None));
        assert_eq!(parse_request("2-3").unwrap(), (2, Some(3)));
        assert_eq!(parse_request("ch02-3").unwrap(), (2, Some(3)));
        assert!(parse_request("two").is_err());
        assert_eq!(short_id("ch02-3"), "2-3");
        assert_eq!(
            exercise_named_in("not yet implemented: exercise ch01-2: see the TODO above"),
            Some("ch01-2".into())
        );
        assert_eq!(exercise_named_in("an exercise chosen"), None);
    }

    #[test]
    fn a_hint_is_wrapped_under_its_level() {
        let exercise = &parse(SOURCE, Path::new("src/uts.rs")).unwrap()[0];
        assert_eq!(
            render(exercise, 1, 30),
            "hint 1/3 (the concept):\n    A UTS namespace holds a\n    hostname of its own.\n\n    \
             A second paragraph.\n"
        );
    }

    /// Every solution's hints parse: levels in order, at most three.
    #[test]
    fn every_solution_s_hints_parse() {
        let workspace = build::workspace_dir();
        for (chapter, _) in build::solution_chapters() {
            exercises(&workspace, chapter).unwrap();
        }
    }
}
