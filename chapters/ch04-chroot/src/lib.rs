//! Chapter 04: the container gets a root filesystem of its own, from an image.
//!
//! - [`rootfs`]: where the root filesystem comes from (an image unpacked per container, or a
//!   directory given with `--rootfs`) and its removal when the container is gone.
//! - [`chroot`]: chroot(2) into it — and why that alone is not a jail (chapter 05 fixes it).

// Your starter, generated from solutions/ by `cargo boxcar sync`: fill in the TODOs.
// Until you do, some imports and arguments are unused; these lints stay quiet meanwhile.
#![allow(
    unused_imports,
    unused_variables,
    unused_mut,
    dead_code,
    unreachable_code
)]

pub mod chroot;
pub mod rootfs;
