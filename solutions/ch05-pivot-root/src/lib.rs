//! Chapter 05: pivot_root, and a container that sees only its own files.
//!
//! - [`pivot`]: bind the rootfs onto itself, pivot_root(2) into it, detach the old root.
//! - [`dev`]: a minimal /dev on a tmpfs: null, zero, full, random, urandom, tty, pts, shm.
//! - [`volumes`]: `-v HOST:CTR[:ro]` bind mounts, and `--read-only`.

pub mod dev;
pub mod pivot;
pub mod volumes;
