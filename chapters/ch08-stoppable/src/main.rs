//! ch08: chapter 07's runtime split in two, as docker sits on runc: an OCI-shaped core
//! (create sets everything up and its init waits at an exec fifo; start lets it exec) under a
//! per-instance monitor. `run` is create + start, attached; `run -d`, `create`, `start`,
//! `stop`, `restart`, `exec`, `logs`, `ps`, `rm` and `inspect` manage containers that
//! outlive the command that made them.

// Your starter, generated from solutions/ by `cargo boxcar sync`: fill in the TODOs.
// Until you do, some imports and arguments are unused; these lints stay quiet meanwhile.
#![allow(
    unused_imports,
    unused_variables,
    unused_mut,
    dead_code,
    unreachable_code
)]

use boxcar::cli;
use ch08::commands;

fn main() {
    cli::main_with(8, commands::run_container, commands::run)
}
