//! Chapter 08: the stoppable runtime. A container is set up once (`create`), started when
//! asked (`start`), stopped, and started again over the same upper layer; `exec` joins it.
//!
//! # Design
//!
//! Two layers, as docker builds on runc:
//!
//! - **The core** ([`core`], [`state`], [`fifo`]) is OCI-shaped: [`core::create`] does the
//!   whole setup — namespaces, cgroup, mounts, pivot_root, the overlay — and the container's
//!   init then waits just before execve(2), blocked opening the exec fifo (runc's design);
//!   [`core::start`] opens the fifo's other end and the command runs. The init outlives the
//!   process that ran create: it is cloned without a parent-death signal, and the process
//!   above (the monitor) is a child subreaper that adopts and reaps it. The states are the
//!   runtime spec's (creating, created, running, stopped), derived from the processes and
//!   the fifo as runc derives them, never from a field someone must remember to update.
//! - **The monitor** ([`monitor`], our conmon) is one process per *instance*: setsid, child
//!   subreaper, single-threaded. It holds the upper layer's lock and the cgroup's owner lock,
//!   calls create (in a forked child, which exits) and start, sends the output to the log
//!   file, reaps the init, records the exit code and tears the instance down. `run` without
//!   `-d` is the same monitor in the foreground, attached to the terminal; it runs create
//!   itself, and its container dies with it, as in chapters 01-07.
//!
//! Two lifetimes: the *container* (its record, config.json, upper layer, log) lives from
//! `create` to `rm`; an *instance* (processes, namespaces, cgroup, and — with chapter 07 —
//! the veth and port rules) from `start` to `stop` or exit.
//!
//! **The network** ([`network`]) is chapter 07's, split along the two lifetimes:
//! [`network::attach`] is called by the monitor once the init exists and before start (the
//! veth into the init's network namespace, the address, the port rules), and what it made
//! for the instance goes in the teardown; the container's address reservation stays until
//! `rm`.
//!
//! - [`state`]: the spec's states, the table of allowed operations, `instance.json`.
//! - [`fifo`]: the exec fifo: the init's wait, start's release.
//! - [`pidfd`]: processes named by a pidfd, trusted only with their start time.
//! - [`core`]: create (everything before execve) and start.
//! - [`monitor`]: the per-instance monitor, attached or detached.
//! - [`exec`]: a new process in a running container, by setns(pidfd).
//! - [`network`]: chapter 07's network, the instance's part and the container's part.
//! - [`commands`]: create, start, stop, restart, exec, logs, ps, rm, inspect.

// Your starter, generated from solutions/ by `cargo boxcar sync`: fill in the TODOs.
// Until you do, some imports and arguments are unused; these lints stay quiet meanwhile.
#![allow(
    unused_imports,
    unused_variables,
    unused_mut,
    dead_code,
    unreachable_code
)]

pub mod commands;
pub mod core;
pub mod exec;
pub mod fifo;
pub mod monitor;
pub mod network;
pub mod pidfd;
pub mod state;
