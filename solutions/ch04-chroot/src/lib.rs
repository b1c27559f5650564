//! Chapter 04: the container gets a root filesystem of its own, from an image.
//!
//! - [`rootfs`]: where the root filesystem comes from (an image unpacked per container, or a
//!   directory given with `--rootfs`) and its removal when the container is gone.
//! - [`chroot`]: chroot(2) into it — and why that alone is not a jail (chapter 05 fixes it).

pub mod chroot;
pub mod rootfs;
