//! The workshop's own tools: what `cargo boxcar …` runs, and the behaviour-test harness.
//! No chapter binary links this crate: a runtime's dependency tree holds no test harness.
//!
//! - [`doctor`]: is this machine ready for the workshop?
//! - [`verify`]: run the checks of chapters 1..=N on a learner's chapter N.
//! - [`sync`]: generate chapters/ from solutions/, keeping what the learner edited.
//! - [`hints`]: the three levels of hints beside each exercise, shown on demand.
//! - [`mistakes`]: the catalogue of plausible mistakes, each proved caught by the checks.
//! - [`bench`]: a container's start time against runc, crun and the floor.
//! - [`images`]: the default image, busybox, imported through chapter 04's import.
//! - [`testing`]: the behaviour-test harness and its leak check.
//! - [`build`]: building chapter binaries and the probe for the above.

pub mod bench;
pub mod bench_stoppable;
pub mod build;
pub mod doctor;
pub mod hints;
pub mod images;
pub mod mistakes;
pub mod sync;
pub mod testing;
pub mod verify;
