//! The boxcar kit: what every chapter's runtime shares and a learner never edits.
//!
//! - [`cli`]: the `run` flags, shaped after `docker run`, and which chapter brings each one.
//! - [`spec`]: those flags turned into one OCI runtime spec (`config.json`), and what the
//!   spec has no field for (the name, the image, `--rm`).
//! - [`error`]: one-line errors that say what failed, the likely cause and what to do.
//! - [`exit`]: the exit codes a runtime returns (the command's own, 128+N, 125, 126, 127).
//! - [`image`]: the image store's layout and manifests under `$BOXCAR_ROOT/images/`.
//! - [`cgroupfs`]: where the host keeps its cgroup filesystems (v2, v1 or hybrid).
//! - [`channel`]: the pipe pair the parent and the cloned child use to stay in step.
//! - [`state`]: where boxcar keeps its state (`$BOXCAR_ROOT`), closed to other users, and
//!   how a record names a live process (pid and start time).
//! - [`tree`]: removing a directory tree whatever its depth.
//!
//! The workshop's tools (doctor, verify, sync, bench, the test harness) are another crate,
//! `workshop/`: no chapter binary links them.

pub mod cgroupfs;
pub mod channel;
pub mod cli;
pub mod error;
pub mod exit;
pub mod image;
pub mod spec;
pub mod state;
pub mod tree;

pub use error::Failure;
