//! The command line every chapter's runtime shares, shaped after `docker run`.
//!
//! Every chapter parses the same [`RunArgs`]; a flag belongs to the chapter that brings its
//! pillar (see [`FLAGS`]). Chapter N's runtime hides the flags of later chapters from its help
//! and refuses them with one line that says where they arrive, so a learner never wonders
//! why `--memory` "did nothing".

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use std::path::Path;

use crate::error::{exit_with, Failure};
use crate::exit;
use crate::spec::Container;

/// A chapter's runtime: `chNN run [FLAGS] -- CMD [ARG…]`.
#[derive(Debug, Parser)]
#[command(about = "A boxcar container runtime", disable_help_subcommand = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a command in a new container and wait for it, like `docker run`.
    Run(Box<RunArgs>),
    /// Print the OCI runtime spec (config.json) that `run` with the same flags would use.
    Spec(Box<RunArgs>),
    /// List the images in the store, like `docker images`.
    Images,
    /// Import an image: an OCI archive, a `docker save` tarball, or a root filesystem tar.
    Import {
        /// The archive: `skopeo copy … oci-archive:F`, `docker save`, an Alpine minirootfs…
        file: std::path::PathBuf,
        /// The image's name.
        name: String,
    },
    /// Write an image as an OCI archive (or, with --rootfs, its root filesystem as one tar).
    Export {
        /// The image's name.
        name: String,
        /// Where to write the archive.
        file: std::path::PathBuf,
        /// Write the image's files flattened into one tar, as `docker export` does.
        #[arg(long)]
        rootfs: bool,
    },
    /// Print an image's config (its command, environment, working directory, layers); from
    /// chapter 08 on, a container's record, state and config.json when NAME is a container.
    Inspect {
        /// The image's (or, from chapter 08, the container's) name.
        name: String,
    },
    /// List containers (running ones; all with -a).
    Ps {
        /// Also containers that have exited.
        #[arg(short, long)]
        all: bool,
        /// Show the size of each container's writable layer.
        #[arg(short, long)]
        size: bool,
    },
    /// List the files a container added (A), changed (C) or deleted (D).
    Diff {
        /// The container's id or name.
        container: String,
    },
    /// Make a new image from a container: its image's layers plus its changes.
    Commit {
        /// The container's id or name.
        container: String,
        /// The new image's name.
        name: String,
    },
    /// Remove exited containers and their writable layers.
    Rm {
        /// Stop a running container first (SIGKILL, no grace).
        #[arg(short, long)]
        force: bool,
        /// Ids or names.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Set a container up without starting its command: it waits at the start line.
    Create(Box<RunArgs>),
    /// Start a created or stopped container (a stopped one over its same upper layer).
    Start {
        /// Stay attached: print its output and end with its exit code.
        #[arg(short, long)]
        attach: bool,
        /// The container's id or name.
        container: String,
    },
    /// Stop a running container: SIGTERM, then SIGKILL after the timeout.
    Stop {
        /// Seconds to wait after SIGTERM before SIGKILL.
        #[arg(short = 't', long = "time", value_name = "SECS", default_value_t = 10)]
        time: u64,
        /// Ids or names.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Stop a container if it runs, then start it again.
    Restart {
        /// Seconds to wait after SIGTERM before SIGKILL.
        #[arg(short = 't', long = "time", value_name = "SECS", default_value_t = 10)]
        time: u64,
        /// The container's id or name.
        container: String,
    },
    /// Run a command in a running container.
    Exec {
        /// Set an environment variable for the command (K=V).
        #[arg(short = 'e', long = "env", value_name = "K=V")]
        env: Vec<String>,
        /// The working directory of the command inside the container.
        #[arg(short = 'w', long = "workdir", value_name = "DIR")]
        workdir: Option<String>,
        /// The container's id or name.
        container: String,
        /// The command to run and its arguments.
        #[arg(required = true, trailing_var_arg = true, value_name = "CMD")]
        command: Vec<String>,
    },
    /// Print a container's output, from every run it had.
    Logs {
        /// Keep printing what it writes until it stops.
        #[arg(short, long)]
        follow: bool,
        /// Only the last N lines.
        #[arg(long, value_name = "N")]
        tail: Option<usize>,
        /// The container's id or name.
        container: String,
    },
}

/// Subcommands other than `run`, with the chapter that brings them.
pub const SUBCOMMANDS: &[(&str, u8, &str)] = &[
    ("images", 4, "images"),
    ("import", 4, "images"),
    ("export", 4, "images"),
    ("inspect", 4, "images"),
    ("ps", 6, "overlayfs"),
    ("diff", 6, "overlayfs"),
    ("commit", 6, "overlayfs"),
    ("rm", 6, "overlayfs"),
    ("create", 8, "the stoppable runtime"),
    ("start", 8, "the stoppable runtime"),
    ("stop", 8, "the stoppable runtime"),
    ("restart", 8, "the stoppable runtime"),
    ("exec", 8, "the stoppable runtime"),
    ("logs", 8, "the stoppable runtime"),
];

/// Flags of subcommands other than `run`, with the chapter that brings them.
pub const SUBCOMMAND_FLAGS: &[(&str, &str, u8, &str)] =
    &[("rm", "force", 8, "the stoppable runtime")];

/// The flags of `run`. Which chapter brings each one is in [`FLAGS`].
#[derive(Debug, Clone, Default, Args)]
pub struct RunArgs {
    /// A name for the container (default: a random id).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// The hostname seen inside the container (default: the container's name or id).
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,

    /// Set an environment variable inside the container (K=V, or K to copy it from here).
    #[arg(short = 'e', long = "env", value_name = "K=V")]
    pub env: Vec<String>,

    /// The working directory of the command inside the container.
    #[arg(short = 'w', long = "workdir", value_name = "DIR")]
    pub workdir: Option<String>,

    /// Run a small init as PID 1 that reaps zombies and forwards signals.
    #[arg(long)]
    pub init: bool,

    /// Memory limit, e.g. 64m (b, k, m, g suffixes).
    #[arg(long, value_name = "SIZE")]
    pub memory: Option<String>,

    /// CPU limit in CPUs, e.g. 0.5.
    #[arg(long, value_name = "CPUS")]
    pub cpus: Option<String>,

    /// Maximum number of processes in the container.
    #[arg(long = "pids-limit", value_name = "N")]
    pub pids_limit: Option<String>,

    /// After the container ends, print its peak memory and CPU time (read from its cgroup).
    #[arg(long)]
    pub stats: bool,

    /// Run from this image.
    #[arg(long, value_name = "NAME", conflicts_with = "rootfs")]
    pub image: Option<String>,

    /// Run this instead of the image's Entrypoint (the command then replaces its Cmd).
    #[arg(long, value_name = "CMD")]
    pub entrypoint: Option<String>,

    /// Run as this user: NAME, UID, NAME:GROUP or UID:GID, looked up in the image.
    #[arg(short = 'u', long, value_name = "USER[:GROUP]")]
    pub user: Option<String>,

    /// Run from this directory as the root filesystem.
    #[arg(long, value_name = "DIR")]
    pub rootfs: Option<String>,

    /// Bind-mount a host path into the container (HOST:CTR[:ro]).
    #[arg(short = 'v', long = "volume", value_name = "HOST:CTR[:ro]")]
    pub volumes: Vec<String>,

    /// Mount the container's root filesystem read-only.
    #[arg(long = "read-only")]
    pub read_only: bool,

    /// Network: bridge (the default: an address behind NAT) or none (only lo).
    #[arg(long, value_name = "MODE")]
    pub net: Option<String>,

    /// Publish a container port on the host ([IP:]HOST:CTR[/tcp|udp]).
    #[arg(short = 'p', long = "publish", value_name = "[IP:]HOST:CTR")]
    pub publish: Vec<String>,

    /// Remove the container when it exits.
    #[arg(long)]
    pub rm: bool,

    /// Start the container in the background and print its id.
    #[arg(short = 'd', long)]
    pub detach: bool,

    /// The command to run and its arguments (default: the image's Entrypoint and Cmd).
    #[arg(trailing_var_arg = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// Every flag of `run`, with the chapter and pillar that bring it.
pub const FLAGS: &[(&str, u8, &str)] = &[
    ("name", 1, "the clone spine"),
    ("hostname", 1, "UTS namespaces"),
    ("env", 1, "the clone spine"),
    ("workdir", 1, "the clone spine"),
    ("init", 2, "PID namespaces"),
    ("memory", 3, "cgroups"),
    ("cpus", 3, "cgroups"),
    ("pids_limit", 3, "cgroups"),
    ("stats", 3, "cgroups"),
    ("image", 4, "images and chroot"),
    ("rootfs", 4, "images and chroot"),
    ("entrypoint", 4, "images and chroot"),
    ("user", 4, "images and chroot"),
    ("volumes", 5, "pivot_root"),
    ("read_only", 5, "pivot_root"),
    ("rm", 6, "overlayfs"),
    ("net", 7, "networking"),
    ("publish", 7, "networking"),
    ("detach", 8, "the stoppable runtime"),
];

/// Parse the command line of chapter `chapter`'s runtime, or print one clear line and exit.
///
/// Usage errors exit 125, as `docker run` does, so they are never confused with the
/// command's own exit code.
pub fn parse(chapter: u8) -> Cli {
    let program = program_name();
    let command = command_for_chapter(chapter).name(program.clone());
    let matches = command.try_get_matches().unwrap_or_else(|error| {
        let code = if error.use_stderr() {
            exit::RUNTIME_FAILED
        } else {
            0
        };
        let _ = error.print();
        std::process::exit(code)
    });
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|error| {
        let _ = error.print();
        std::process::exit(exit::RUNTIME_FAILED)
    });
    if let Err(failure) = refuse_later_flags(&matches, chapter) {
        exit_with(&program, &failure)
    }
    cli
}

/// The clap command for chapter `chapter`: later chapters' flags are hidden from its help.
pub fn command_for_chapter(chapter: u8) -> clap::Command {
    let hide_later_flags = |run: clap::Command| {
        FLAGS
            .iter()
            .filter(|(_, brought_in, _)| *brought_in > chapter)
            .fold(run, |run, (id, _, _)| {
                run.mut_arg(*id, |arg| arg.hide(true))
            })
    };
    let command = Cli::command()
        .mut_subcommand("run", hide_later_flags)
        .mut_subcommand("spec", hide_later_flags)
        .mut_subcommand("create", hide_later_flags);
    let command = SUBCOMMAND_FLAGS
        .iter()
        .filter(|(_, _, brought_in, _)| *brought_in > chapter)
        .fold(command, |command, (name, id, _, _)| {
            command.mut_subcommand(*name, |sub| sub.mut_arg(*id, |arg| arg.hide(true)))
        });
    SUBCOMMANDS
        .iter()
        .filter(|(_, brought_in, _)| *brought_in > chapter)
        .fold(command, |command, (name, _, _)| {
            command.mut_subcommand(*name, |sub| sub.hide(true))
        })
}

fn refuse_later_flags(matches: &clap::ArgMatches, chapter: u8) -> Result<(), Failure> {
    let Some((name, sub)) = matches.subcommand() else {
        return Ok(());
    };
    let given = |id: &str| sub.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
    let later = SUBCOMMANDS
        .iter()
        .find(|(n, brought_in, _)| *n == name && *brought_in > chapter);
    if let Some((_, brought_in, pillar)) = later {
        return Err(not_yet(&format!("`{name}`"), chapter, *brought_in, pillar));
    }
    let flags = SUBCOMMAND_FLAGS
        .iter()
        .filter(|(command, _, brought_in, _)| *command == name && *brought_in > chapter);
    for (_, id, brought_in, pillar) in flags {
        if given(id) {
            let what = format!("`{name} --{}`", id.replace('_', "-"));
            return Err(not_yet(&what, chapter, *brought_in, pillar));
        }
    }
    if !matches!(name, "run" | "spec" | "create") {
        return Ok(());
    }
    for (id, brought_in, pillar) in FLAGS {
        if given(id) && *brought_in > chapter {
            let what = format!("--{}", id.replace('_', "-"));
            return Err(not_yet(&what, chapter, *brought_in, pillar));
        }
    }
    Ok(())
}

/// "`what` is not available in chapter N's runtime — it arrives in chapter M (pillar) …".
fn not_yet(what: &str, chapter: u8, brought_in: u8, pillar: &str) -> Failure {
    Failure::new(format!(
        "{what} is not available in chapter {chapter:02}'s runtime"
    ))
    .hint(format!(
        "it arrives in chapter {brought_in:02} ({pillar}); use that chapter's binary"
    ))
}

/// The name this binary was started as, without its directory (e.g. `ch02-solution`).
pub fn program_name() -> String {
    std::env::args_os()
        .next()
        .map(std::path::PathBuf::from)
        .and_then(|path| {
            path.file_name()
                .map(|name| name.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "boxcar".into())
}

/// Exit with one clear line unless running as root: creating namespaces needs CAP_SYS_ADMIN.
pub fn require_root() {
    if nix::unistd::geteuid().is_root() {
        return;
    }
    let program = program_name();
    // The whole command line as typed (argv[0] with its path), so it can be pasted after sudo.
    let command_line: Vec<String> = std::env::args().collect();
    let failure = Failure::new("this runtime must run as root").hint(format!(
        "it creates namespaces, which needs CAP_SYS_ADMIN (see namespaces(7)); \
             run: sudo {}  (cargo run does this for you: see .cargo/config.toml)",
        command_line.join(" ")
    ));
    exit_with(&program, &failure)
}

/// What a chapter's `run` is given: the container the flags describe, and the state root
/// (`$BOXCAR_ROOT`, read once here and passed on).
pub type Run = fn(&Container, &Path) -> Result<i32, Failure>;

/// What handles a chapter's other subcommands (`images`, `ps`, …).
pub type Other = fn(Command, &Path) -> Result<i32, Failure>;

/// The `main` of chapter `chapter`'s runtime: parse the command line, turn `run`'s flags
/// into the container spec, then `run` it (as root); exit with the right code either way.
pub fn main(chapter: u8, run: Run) -> ! {
    main_with(chapter, run, no_other_command)
}

/// [`main`] for a chapter with subcommands of its own (`images` from chapter 04, `ps`, …
/// from chapter 06): every subcommand other than `run` and `spec` goes to `other`.
pub fn main_with(chapter: u8, run: Run, other: Other) -> ! {
    let state_root = crate::state::root();
    let command = parse(chapter).command;
    // From chapter 04 on there is a store: only root may look into it (see state::secure).
    if chapter >= 4 && nix::unistd::geteuid().is_root() {
        if let Err(failure) = crate::state::secure(&state_root) {
            exit_with(&program_name(), &failure)
        }
    }
    let outcome = match command {
        Command::Run(args) => Container::from_run_args(&args, chapter).and_then(|container| {
            require_root();
            run(&container, &state_root)
        }),
        Command::Spec(args) => Container::from_run_args(&args, chapter)
            .and_then(|container| container.config_json())
            .map(|json| {
                print!("{json}");
                0
            }),
        // Only from the chapter that brings them: parse() refuses them before.
        command => other(command, &state_root),
    };
    match outcome {
        Ok(code) => std::process::exit(code),
        Err(failure) => exit_with(&program_name(), &failure),
    }
}

/// The `other` of chapters that have no subcommand beyond `run` and `spec`.
fn no_other_command(command: Command, _state_root: &Path) -> Result<i32, Failure> {
    Err(Failure::new(format!(
        "{command:?} is not a command of this chapter"
    )))
}

/// Print `lines` on stdout, each ending in a newline. A reader that stopped reading
/// (`ps -a | head`) is the end of the output, not an error: Rust ignores SIGPIPE, so the
/// write fails with EPIPE, and we stop there and exit 0 as `ls | head` appears to.
pub fn print_lines<S: AsRef<str>>(lines: impl IntoIterator<Item = S>) -> Result<(), Failure> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let written = lines
        .into_iter()
        .try_for_each(|line| writeln!(stdout, "{}", line.as_ref()))
        .and_then(|()| stdout.flush());
    match written {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Failure::io("cannot write to stdout", error))
        }
        _ => Ok(()),
    }
}

/// Bytes as `docker images` shows them: 1.2MB, 512kB.
pub fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1_000_000_000 => format!("{:.1}GB", b as f64 / 1e9),
        b if b >= 1_000_000 => format!("{:.1}MB", b as f64 / 1e6),
        b if b >= 1_000 => format!("{:.1}kB", b as f64 / 1e3),
        b => format!("{b}B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_of_run_has_a_chapter() {
        let command = Cli::command();
        let run = command.find_subcommand("run").expect("run subcommand");
        for arg in run.get_arguments() {
            let id = arg.get_id().as_str();
            if id == "command" || id == "help" {
                continue;
            }
            assert!(
                FLAGS.iter().any(|(flag, _, _)| *flag == id),
                "--{id} has no chapter in FLAGS"
            );
        }
    }

    #[test]
    fn a_later_flag_is_refused_with_the_chapter_that_brings_it() {
        let matches = command_for_chapter(1)
            .try_get_matches_from(["ch01", "run", "--memory", "64m", "--", "true"])
            .expect("parses");
        let failure = refuse_later_flags(&matches, 1).unwrap_err();
        assert_eq!(
            failure.to_string(),
            "--memory is not available in chapter 01's runtime — it arrives in chapter 03 \
             (cgroups); use that chapter's binary"
        );
    }

    #[test]
    fn the_command_keeps_its_own_flags() {
        let matches = command_for_chapter(1)
            .try_get_matches_from(["ch01", "run", "--hostname", "box", "ls", "-l", "/"])
            .expect("parses");
        let cli = Cli::from_arg_matches(&matches).expect("valid");
        let Command::Run(args) = cli.command else {
            panic!("not run")
        };
        assert_eq!(args.hostname.as_deref(), Some("box"));
        assert_eq!(args.command, ["ls", "-l", "/"]);
    }
}
