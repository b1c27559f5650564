//! The workshop commands behind `cargo boxcar`: doctor, verify, sync and reset.

pub mod build;
