//! Chapter 02: the container gets its own process tree and its own mount table.
//!
//! - [`pid`]: the namespaces (PID and mount) and what makes PID 1 special.
//! - [`mounts`]: private mount propagation, then a /proc that shows only the container.
//! - [`signals`]: the runtime passes the signals it gets on to the container.
//! - [`init`]: `--init`, a tiny PID 1 that reaps orphans and forwards signals.

pub mod init;
pub mod mounts;
pub mod pid;
pub mod signals;
