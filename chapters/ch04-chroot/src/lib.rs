//! Chapter 04: the container gets a root filesystem of its own, from an image.
//!
//! - [`extract`]: the safety rules every layer entry must pass, and extraction under them:
//!   nothing in an archive may write outside the directory it is unpacked into.
//! - [`import`]: an image copied into the store (an OCI layout), hashed and checked on the
//!   way; [`archive`]: the OCI archives and docker-save tarballs other tools write.
//! - [`unpack`]: an image's layers, in order, flattened into one directory.
//! - [`export`]: an image as an OCI archive, or its root filesystem as one tar.
//! - [`image_config`]: the image's command, environment, working directory and user,
//!   merged under `run`'s flags; [`user`]: names resolved in the image, and the switch.
//! - [`images`]: the `images`, `import`, `export` and `inspect` commands.
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

pub mod archive;
pub mod chroot;
pub mod export;
pub mod extract;
pub mod image_config;
pub mod images;
pub mod import;
pub mod rootfs;
pub mod unpack;
pub mod user;

#[cfg(test)]
mod tests;
