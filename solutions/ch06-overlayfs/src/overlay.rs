//! The container's root: an overlay of the image's layers (read-only, shared) and an upper
//! layer of its own.
//!
//! ```text
//!   merged/   what the container sees: a file comes from the topmost layer that has it
//!   upper/    the container's writes; a file it changes is first copied up here
//!   work/     overlayfs's scratch space, on the same filesystem as upper/
//!   lowerdir  layers/<sha>…  the image, never written
//! ```

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use boxcar::Failure;
use ch05_solution::volumes::Volume;
use nix::mount::{mount, MsFlags};

use crate::layers::{has_xattr, is_whiteout, OPAQUE_XATTR};

/// The directories the child mounts on, besides the volumes' targets.
pub const MOUNT_POINTS: [&str; 3] = ["proc", "sys", "dev"];

/// In the parent, before clone: the mount points and the volumes' targets, made in the
/// container's upper layer where the image lacks them. Returns the targets under `merged`.
pub fn prepare_in_overlay(
    dirs: &Dirs,
    lowerdirs: &[PathBuf],
    volumes: &[Volume],
) -> Result<Vec<PathBuf>, Failure> {
    for dir in MOUNT_POINTS {
        dirs.prepare_mount_point(lowerdirs, Path::new(dir), false)?;
    }
    volumes
        .iter()
        .map(|v| dirs.prepare_mount_point(lowerdirs, &v.container, !v.host.is_dir()))
        .collect()
}

/// The directories of one container's overlay, under `containers/<id>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirs {
    pub upper: PathBuf,
    pub work: PathBuf,
    pub merged: PathBuf,
}

impl Dirs {
    /// The overlay directories of the container whose state is in `container_dir`.
    pub fn of(container_dir: &Path) -> Dirs {
        Dirs {
            upper: container_dir.join("upper"),
            work: container_dir.join("work"),
            merged: container_dir.join("merged"),
        }
    }

    /// Create them (in the parent, before clone). Only root may enter: the upper layer holds
    /// the container's files, setuid ones included.
    pub fn create(&self) -> Result<(), Failure> {
        for dir in [&self.upper, &self.work, &self.merged] {
            std::fs::create_dir_all(dir)
                .map_err(|e| Failure::io(format!("cannot create {}", dir.display()), e))?;
        }
        Ok(())
    }

    /// In the parent, before clone: make `path` (as the container sees it) exist in the
    /// overlay of `lowerdirs` and this upper layer, as a directory (or, with `file`, a file),
    /// so the child can mount on it; return where it will be under `merged`.
    ///
    /// The parent cannot look into `merged`: the overlay is mounted only in the child's mount
    /// namespace. So it looks through the layers as overlayfs would (the topmost layer that has
    /// a name decides) and creates what is missing in the upper layer. A path that goes
    /// through a symlink of the image is refused: it could point anywhere on the host.
    pub fn prepare_mount_point(
        &self,
        lowerdirs: &[PathBuf],
        path: &Path,
        file: bool,
    ) -> Result<PathBuf, Failure> {
        let relative: PathBuf = path
            .components()
            .filter(|c| matches!(c, Component::Normal(_)))
            .collect();
        let mut prefix = PathBuf::new();
        let count = relative.components().count();
        for (index, component) in relative.components().enumerate() {
            prefix.push(component);
            let last = index + 1 == count;
            match self.find(lowerdirs, &prefix) {
                Some((layer, metadata)) if metadata.file_type().is_symlink() => {
                    return Err(Failure::new(format!(
                        "refusing to mount on {}: /{} is a symlink in the container's filesystem",
                        path.display(),
                        prefix.display()
                    ))
                    .hint(format!(
                        "mount somewhere that is a real directory in the image (the link is in {})",
                        layer.display()
                    )))
                }
                Some((_, metadata)) if metadata.is_dir() => {}
                Some(_) if last && file => {}
                Some(_) => {
                    return Err(Failure::new(format!(
                        "cannot mount on {}: /{} is not a directory in the container",
                        path.display(),
                        prefix.display()
                    ))
                    .hint("choose a mount point that is a directory, or none at all"))
                }
                None => self.create_in_upper(lowerdirs, &prefix, last && file)?,
            }
        }
        Ok(self.merged.join(relative))
    }

    /// The layer that decides what `relative` is in the overlay, and what it is there.
    fn find(&self, lowerdirs: &[PathBuf], relative: &Path) -> Option<(PathBuf, Metadata)> {
        find_in_layers(std::iter::once(&self.upper).chain(lowerdirs), relative)
    }

    /// Create `relative` in the upper layer: a directory (mode 0755, as mkdir -p) or an
    /// empty file. Its parents are directories of the overlay already, maybe only in a lower
    /// layer: they are created in the upper layer with that layer's mode and owner, as a
    /// copy-up would, so a `/tmp` keeps its 1777.
    fn create_in_upper(
        &self,
        lowerdirs: &[PathBuf],
        relative: &Path,
        file: bool,
    ) -> Result<(), Failure> {
        let mut prefix = PathBuf::new();
        for component in relative.parent().into_iter().flat_map(Path::components) {
            prefix.push(component);
            let target = self.upper.join(&prefix);
            if target.symlink_metadata().is_ok() {
                continue;
            }
            let failed = |e| Failure::io(format!("cannot create {}", target.display()), e);
            // Looked up before the upper layer has it: the lower directory's attributes.
            let lower = find_in_layers(lowerdirs, &prefix);
            std::fs::create_dir(&target).map_err(failed)?;
            if let Some((_, metadata)) = lower {
                // The owner first: chown(2) may clear the set-group-ID bit that chmod sets.
                std::os::unix::fs::lchown(&target, Some(metadata.uid()), Some(metadata.gid()))
                    .map_err(failed)?;
                std::fs::set_permissions(&target, metadata.permissions()).map_err(failed)?;
            }
        }
        let target = self.upper.join(relative);
        let created = if file {
            std::fs::OpenOptions::new()
                .create_new(true)
                .write(true)
                .open(&target)
                .map(drop)
        } else {
            std::fs::create_dir(&target)
        };
        created.map_err(|e| Failure::io(format!("cannot create {}", target.display()), e))
    }
}

/// The layer that decides what `relative` is in an overlay of `layers` (topmost first), and
/// what it is there — or `None` if the overlay does not show it. As overlayfs resolves a
/// name (Documentation/filesystems/overlayfs.rst): the topmost layer that has the name
/// decides; a whiteout hides it; a parent that is not a directory hides everything below it;
/// an opaque parent hides the layers below. Parents are checked before the name, so nothing
/// is ever looked up through a symlink of the image (which could point into the host).
pub fn find_in_layers<'a>(
    layers: impl IntoIterator<Item = &'a PathBuf>,
    relative: &Path,
) -> Option<(PathBuf, Metadata)> {
    let mut ancestors: Vec<&Path> = relative
        .ancestors()
        .skip(1)
        .filter(|a| !a.as_os_str().is_empty())
        .collect();
    ancestors.reverse();
    for layer in layers {
        let mut opaque = false;
        for ancestor in &ancestors {
            match layer.join(ancestor).symlink_metadata() {
                Ok(metadata) if !metadata.is_dir() => return None,
                Ok(_) if has_xattr(&layer.join(ancestor), OPAQUE_XATTR, b"y") => opaque = true,
                _ => {}
            }
        }
        if let Ok(metadata) = layer.join(relative).symlink_metadata() {
            return (!is_whiteout(&metadata)).then(|| (layer.clone(), metadata));
        }
        if opaque {
            return None;
        }
    }
    None
}

// ANCHOR: mount_overlay
/// In the child, in its private mount namespace: mount the overlay on `dirs.merged`. It
/// vanishes with the namespace, so the host never holds it and nothing can leak.
pub fn mount_overlay(lowerdirs: &[PathBuf], dirs: &Dirs) -> Result<(), Failure> {
    // EXERCISE(ch06-1): Mount, on dirs.merged, the overlay the container will use as its
    // root: the image's layers (lowerdirs, topmost first) read-only beneath, so a file comes
    // from the topmost layer that has it; dirs.upper taking every write of the container;
    // dirs.work as overlayfs's scratch space. The kernel's overlayfs documentation
    // (Documentation/filesystems/overlayfs.rst, "Multiple lower layers") gives the options
    // and their order; mount(2) the call. Map its error with overlay_failure.
    // HINT(1): an overlay is one mount whose options name its layers. Nothing is copied: the
    //   lower layers are shared by every container of the image; only upper/ is this
    //   container's.
    // HINT(2): filesystem type "overlay", source "overlay" (any name does), no flags; the
    //   data is "lowerdir=A:B:C,upperdir=U,workdir=W", lowerdir listing the topmost layer
    //   first, separated by ':'. upperdir and workdir must be on one filesystem.
    // HINT(3): join lowerdirs' display() strings with ":", format!() the options string, then
    //   nix::mount::mount(Some("overlay"), &dirs.merged, Some("overlay"), MsFlags::empty(),
    //   Some(options.as_str())).map_err(overlay_failure).
    let lower: Vec<String> = lowerdirs
        .iter()
        .map(|dir| dir.display().to_string())
        .collect();
    let options = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        dirs.upper.display(),
        dirs.work.display()
    );
    mount(
        Some("overlay"),
        &dirs.merged,
        Some("overlay"),
        MsFlags::empty(),
        Some(options.as_str()),
    )
    .map_err(overlay_failure)
    // END EXERCISE
}
// ANCHOR_END: mount_overlay

/// Refuse, before anything is mounted, an overlay whose options mount(2) cannot take.
/// mount(2) copies its options string into one page (4096 bytes on x86-64 and arm64): a
/// longer one is cut short, and overlayfs then fails to find the lowerdir whose name was
/// cut, with a misleading ENOENT. An image of about 40 layers in a store under a long path
/// is enough. (Linux 6.8 lets fsconfig(2) add lowerdirs one by one with `lowerdir+`; this
/// runtime stays with mount(2), so it says so instead.)
pub fn check_options_fit(lowerdirs: &[PathBuf], dirs: &Dirs) -> Result<(), Failure> {
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .map_or(4096, |size| size as usize);
    let lower: usize = lowerdirs.iter().map(|d| d.as_os_str().len() + 1).sum();
    let length = "lowerdir=".len()
        + lower.saturating_sub(1)
        + ",upperdir=".len()
        + dirs.upper.as_os_str().len()
        + ",workdir=".len()
        + dirs.work.as_os_str().len();
    // The page also holds the string's closing NUL.
    if length >= page {
        return Err(Failure::new(format!(
            "the image has too many layers for one overlay mount: {} layers make {length} bytes \
             of mount options, over the {} that mount(2) takes (one page)",
            lowerdirs.len(),
            page - 1
        ))
        .hint(
            "flatten the image (export it and import the tar as one layer), or set BOXCAR_ROOT \
             to a shorter path",
        ));
    }
    Ok(())
}

/// What overlay mount errors usually mean.
pub fn overlay_failure(errno: nix::errno::Errno) -> Failure {
    let failure = Failure::syscall("cannot mount the overlay", errno);
    match errno {
        nix::errno::Errno::ENODEV => failure.hint("this kernel has no overlayfs: modprobe overlay"),
        nix::errno::Errno::EINVAL => failure.hint(
            "an option is wrong: upperdir and workdir must be on the same filesystem, and none of \
             the directories may be an overlay itself (check `dmesg` for overlayfs's reason)",
        ),
        _ => failure,
    }
}
