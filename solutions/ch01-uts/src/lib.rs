//! Chapter 01: the spine every container runtime is built on, and the UTS namespace.
//!
//! - [`spine`]: clone(2) a child into new namespaces, hold it until the parent is ready,
//!   let it exec the command, wait for it and pass its exit status on.
//! - [`namespaces`]: the namespaces the container's spec lists, as clone(2) flags.
//! - [`uts`]: the first pillar, a hostname of the container's own (and a private IPC space).
//! - [`process`]: what the command gets: its arguments, environment and working directory,
//!   and the exec(2) that replaces our code with it.

pub mod namespaces;
pub mod process;
pub mod spine;
pub mod uts;
