//! Chapter 04: the container gets a root filesystem of its own, from an image.
//!
//! - [`extract`]: the safety rules every layer entry must pass, and extraction under them:
//!   nothing in an archive may write outside the directory it is unpacked into.
//! - [`import`]: a tar or tar.gz copied into the image store, hashed and checked on the way.
//! - [`unpack`]: an image's layers, in order, flattened into one directory.
//! - [`export`]: an image's root filesystem as one tar.
//! - [`images`]: the `images`, `import` and `export` commands.
//! - [`rootfs`]: where the root filesystem comes from (an image unpacked per container, or a
//!   directory given with `--rootfs`) and its removal when the container is gone.
//! - [`chroot`]: chroot(2) into it — and why that alone is not a jail (chapter 05 fixes it).

pub mod chroot;
pub mod export;
pub mod extract;
pub mod images;
pub mod import;
pub mod rootfs;
pub mod unpack;

#[cfg(test)]
mod tests;
