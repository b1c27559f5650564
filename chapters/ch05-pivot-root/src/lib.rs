//! Chapter 05: pivot_root, and a container that sees only its own files.
//!
//! - [`pivot`]: bind the rootfs onto itself, pivot_root(2) into it, detach the old root.
//! - [`dev`]: a minimal /dev on a tmpfs: null, zero, full, random, urandom, tty, pts, shm.
//! - [`volumes`]: `-v HOST:CTR[:ro]` bind mounts, and `--read-only`.

// Your starter, generated from solutions/ by `cargo boxcar sync`: fill in the TODOs.
// Until you do, some imports and arguments are unused; these lints stay quiet meanwhile.
#![allow(
    unused_imports,
    unused_variables,
    unused_mut,
    dead_code,
    unreachable_code
)]

pub mod dev;
pub mod pivot;
pub mod volumes;
