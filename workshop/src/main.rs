//! `cargo boxcar …`: the workshop commands.
//!
//! - `doctor`: is this machine ready?
//! - `verify N [--solution]`: run the checks of chapters 1..=N on your chapter N.
//! - `hint N[-K] [--level L] [--reset]`: the next hint for an exercise.
//! - `mistakes [N] [--only ID] [--part K/M] [--budget-minutes X] [--list | --v2-vm]`: prove the checks
//!   catch each mistake of the catalogue.
//! - `sync [--check] [--force]`: regenerate chapters/ from solutions/.
//! - `reset N`: replace your chapter N with a fresh starter (your edits are lost).
//! - `check-starters`: prove each chapter's checks fail on its untouched starter.
//! - `setup-images`: build the default image, busybox, from the host's busybox-static.
//! - `bench [--runtime PKG] [--runs N] [--stoppable [--density N]] [--write-book]`: time a container against runc, crun
//!   and the floor (unshare + chroot).

use clap::{Parser, Subcommand};

use workshop::{bench, doctor, hints, mistakes, sync, verify};

#[derive(Debug, Parser)]
#[command(name = "cargo boxcar", about = "The boxcar workshop's commands")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check that this machine has what the workshop needs, and say how to fix what is missing.
    Doctor,
    /// Build chapter N and run the checks of chapters 1 to N against it.
    Verify {
        /// The chapter number, e.g. 2.
        chapter: u8,
        /// Verify the solution instead of your starter.
        #[arg(long)]
        solution: bool,
    },
    /// Show the next hint for an exercise: `hint 2` (the first exercise of chapter 2 still to
    /// do) or `hint 2-3` (exercise ch02-3). Three levels: the concept, the man page and what
    /// matters, then near-code.
    Hint {
        /// A chapter (2) or an exercise (2-3).
        which: String,
        /// Show this level (1 to 3) instead of the next one.
        #[arg(long)]
        level: Option<usize>,
        /// Forget which hints were shown (for the exercise, or the whole chapter).
        #[arg(long)]
        reset: bool,
    },
    /// Apply each mistake of the catalogue (solutions/chNN-*/mistakes.toml) to a copy of its
    /// solution and prove that a check fails on it.
    Mistakes {
        /// Only chapter N's catalogue.
        chapter: Option<u8>,
        /// Only this exercise's mistakes (ch01-1) or this one mistake (ch01-1/2).
        #[arg(long)]
        only: Option<String>,
        /// Every M-th mistake starting at the K-th, from 0 (CI rotates through the catalogue).
        #[arg(long, value_name = "K/M", value_parser = mistakes::parse_part)]
        part: Option<(usize, usize)>,
        /// Start no new mistake after this many minutes.
        #[arg(long, value_name = "MINUTES")]
        budget_minutes: Option<f64>,
        /// List the catalogue and check that each mistake applies; build and run nothing.
        #[arg(long)]
        list: bool,
        /// Try the selected cgroup v2 mistakes on a pure v2 kernel, in the QEMU VM of
        /// scripts/v2-vm.sh (one boot for all of them; a few minutes).
        #[arg(long, conflicts_with = "list")]
        v2_vm: bool,
    },
    /// Regenerate chapters/ from solutions/ (your edits are kept unless --force).
    Sync {
        /// Only check that chapters/ is what solutions/ generates.
        #[arg(long)]
        check: bool,
        /// Overwrite files you edited.
        #[arg(long)]
        force: bool,
    },
    /// Replace chapter N's starter with a fresh copy. Your edits to it are lost.
    Reset {
        /// The chapter number, e.g. 2.
        chapter: u8,
    },
    /// Check that each chapter's pillar checks fail on its untouched starter.
    CheckStarters,
    /// Build the default image, busybox, from this host's busybox-static (if it is missing).
    SetupImages,
    /// Time `run -- /bin/true` against runc, crun and the floor (unshare + chroot).
    Bench {
        /// The runtime's package, e.g. ch05-solution (default: the newest solution).
        #[arg(long)]
        runtime: Option<String>,
        /// Timed runs per command (default: 50; 10 with --stoppable).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        runs: Option<u32>,
        /// Chapter 08's benchmark instead: cold, warm and hot starts, exec and stop, on busybox
        /// and a Debian-sized image, beside crun, and the density of detached containers.
        #[arg(long)]
        stoppable: bool,
        /// With --stoppable: how many detached containers the density run starts.
        #[arg(long, default_value_t = workshop::bench_stoppable::DEFAULT_DENSITY)]
        density: usize,
        /// Write the results into the book's Benchmarks page (book/src/benchmarks.md), with a
        /// plot of every run (benchmarks.svg) and hyperfine's JSON (benchmarks.json) beside it.
        #[arg(long)]
        write_book: bool,
    },
}

/// Build `busybox` into the store under `$BOXCAR_ROOT` unless it is there already.
fn setup_images() -> anyhow::Result<bool> {
    use boxcar::image::Store;
    use workshop::images::build_busybox;
    let state_root = boxcar::state::root();
    let store = Store::new(&state_root);
    if store.is_old_format() {
        // A store from before the OCI layout: kept, aside, for the images imported into it.
        let aside = state_root.join("images.before-oci");
        if aside.exists() {
            anyhow::bail!(
                "{} is in boxcar's old format and {} exists already: remove one of them",
                store.root().display(),
                aside.display()
            );
        }
        std::fs::rename(store.root(), &aside)?;
        println!(
            "moved the image store in boxcar's old format to {} (its layers are the tar files \
             in <name>/layers/: import them again); the store is now an OCI image layout",
            aside.display()
        );
    }
    if store.image("busybox").is_ok() {
        println!("busybox is already in {}", store.root().display());
        return Ok(true);
    }
    let manifest = build_busybox(&store, "busybox", &[])?;
    println!(
        "built busybox ({} bytes) in {}",
        manifest.size(),
        store.root().display()
    );
    Ok(true)
}

fn main() {
    let ok =
        match Cli::parse().command {
            Command::Doctor => Ok(doctor::report()),
            Command::Verify { chapter, solution } => {
                let target = if solution {
                    verify::Target::Solution
                } else {
                    verify::Target::Starter
                };
                verify::verify(chapter, target)
            }
            Command::Hint {
                which,
                level,
                reset,
            } => hints::hint(&hints::Request {
                which,
                level,
                reset,
            }),
            Command::Mistakes {
                chapter,
                only,
                part,
                budget_minutes,
                list,
                v2_vm,
            } => mistakes::mistakes(&mistakes::Options {
                chapter,
                only,
                part,
                budget_minutes,
                list,
                v2_vm,
            }),
            Command::Sync { check: true, .. } => sync::check(&workshop::build::workspace_dir())
                .map(|()| {
                    println!("chapters/ is in sync with solutions/");
                    true
                }),
            Command::Sync { force, .. } => sync::sync(&workshop::build::workspace_dir(), force)
                .map(|report| {
                    for line in &report {
                        println!("{line}");
                    }
                    println!("chapters/ regenerated ({} changes)", report.len());
                    true
                }),
            Command::Reset { chapter } => sync::reset(&workshop::build::workspace_dir(), chapter)
                .map(|()| {
                    println!("chapter {chapter:02} is a fresh starter again");
                    true
                }),
            Command::CheckStarters => verify::check_starters(),
            Command::SetupImages => setup_images(),
            Command::Bench {
                runtime,
                runs,
                stoppable: true,
                density,
                write_book,
            } => workshop::bench_stoppable::bench(&workshop::bench_stoppable::Options {
                runtime,
                runs: runs.unwrap_or(workshop::bench_stoppable::DEFAULT_RUNS),
                density,
                write_book,
            }),
            Command::Bench {
                runtime,
                runs,
                stoppable: false,
                write_book,
                ..
            } => bench::bench(&bench::Options {
                runtime,
                runs: runs.unwrap_or(bench::DEFAULT_RUNS),
                write_book,
            }),
        };
    match ok {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(error) => {
            eprintln!("cargo boxcar: {error:#}");
            std::process::exit(1);
        }
    }
}
