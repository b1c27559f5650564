//! Chapter 02: the container gets its own process tree and its own mount table.
//!
//!
//! In a new PID namespace the first process is PID 1, the namespace's init
//! (pid_namespaces(7)). Two things make that process special:
//! - the kernel delivers it only the signals it has a handler for — SIGKILL and SIGSTOP from
//!   an ancestor namespace excepted — so a plain `sleep` as PID 1 shrugs off SIGTERM;
//! - orphans in the namespace are reparented to it, and if it never wait(2)s for them they
//!   stay zombies. When it exits, the kernel kills everything else in the namespace.
//!
//! A new mount namespace (CLONE_NEWNS, the first namespace Linux had, hence the name) gives
//! the child a copy of the mount table; see [`mounts`] for why a copy is not enough.
//! The spec lists both (`linux.namespaces`), and chapter 01's `namespaces::clone_flags`
//! creates them.
//!//!
//! - [`mounts`]: private mount propagation, then a /proc that shows only the container.
//! - [`signals`]: the runtime passes the signals it gets on to the container.
//! - [`init`]: `--init`, a tiny PID 1 that reaps orphans and forwards signals.

pub mod init;
pub mod mounts;
pub mod signals;
