//! ch08: chapter 07's runtime split in two, as docker sits on runc: an OCI-shaped core
//! (create sets everything up and its init waits at an exec fifo; start lets it exec) under a
//! per-instance monitor. `run` is create + start, attached; `run -d`, `create`, `start`,
//! `stop`, `restart`, `exec`, `logs`, `ps`, `rm` and `inspect` manage containers that
//! outlive the command that made them.

use boxcar::cli;
use ch08_solution::commands;

fn main() {
    cli::main_with(8, commands::run_container, commands::run)
}
