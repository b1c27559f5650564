//! The boxcar kit: what every chapter's runtime shares and a learner never edits.
//!
//! - [`cli`]: the `run` flags, shaped after `docker run`, and which chapter brings each one.
//! - [`error`]: one-line errors that say what failed, the likely cause and what to do.
//! - [`exit`]: the exit codes a runtime returns (the command's own, 128+N, 125, 126, 127).
//! - [`image`]: the image store: tar layers under `$BOXCAR_ROOT/images/`, extracted safely.
//! - [`cgroupfs`]: where the host keeps its cgroup filesystems (v2, v1 or hybrid).
//! - [`channel`]: the pipe pair the parent and the cloned child use to stay in step.
//! - [`state`]: where boxcar keeps its state (`$BOXCAR_ROOT`).
//! - [`testing`]: the behaviour-test harness and its leak check.
//! - [`workshop`]: the workshop commands behind `cargo boxcar`.

pub mod cgroupfs;
pub mod channel;
pub mod cli;
pub mod error;
pub mod exit;
pub mod image;
pub mod state;
pub mod testing;
pub mod workshop;

pub use error::Failure;
