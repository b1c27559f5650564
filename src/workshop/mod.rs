//! The workshop commands behind `cargo boxcar`: doctor, verify, sync and reset.

pub mod bench;
pub mod build;
pub mod doctor;
pub mod sync;
pub mod verify;
