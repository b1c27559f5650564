//! `-v HOST:CTR[:ro]`: bind a host directory or file into the container.
//!
//! A bind mount shows the same files at a second place (mount(2), MS_BIND). It is made in
//! the child's mount namespace, before pivot_root, while the host's paths are still
//! reachable; after the pivot the container keeps the mount and loses the rest.

use std::path::{Component, Path, PathBuf};

use boxcar::Failure;
use nix::mount::{mount, MsFlags};

use crate::pivot::kept_flags;

/// One `-v` flag, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    /// The host path, absolute and existing.
    pub host: PathBuf,
    /// The path inside the container, absolute.
    pub container: PathBuf,
    pub read_only: bool,
}

impl Volume {
    /// Parse `HOST:CTR[:ro|:rw]`.
    pub fn parse(spec: &str) -> Result<Volume, Failure> {
        let bad = |why: &str| {
            Failure::new(format!("invalid -v {spec:?}: {why}"))
                .hint("write -v /host/dir:/dir/in/container, and add :ro to make it read-only")
        };
        let parts: Vec<&str> = spec.split(':').collect();
        let (host, container, read_only) = match parts.as_slice() {
            [host, container] => (*host, *container, false),
            [host, container, "ro"] => (*host, *container, true),
            [host, container, "rw"] => (*host, *container, false),
            [_, _, other] => return Err(bad(&format!("unknown option {other:?} (ro or rw)"))),
            _ => return Err(bad("expected HOST:CTR or HOST:CTR:ro")),
        };
        if !host.starts_with('/') || !container.starts_with('/') {
            return Err(bad("both paths must be absolute"));
        }
        if Path::new(container)
            .components()
            .any(|c| c == Component::ParentDir)
        {
            return Err(bad("the container path may not contain .."));
        }
        let host = Path::new(host)
            .canonicalize()
            .map_err(|e| bad(&format!("the host path: {e}")))?;
        Ok(Volume {
            host,
            container: PathBuf::from(container),
            read_only,
        })
    }

    /// In the parent, before clone: create the mount point inside `rootfs`, refusing a path
    /// that goes through a symlink of the image (it could point anywhere on the host).
    pub fn prepare(&self, rootfs: &Path) -> Result<PathBuf, Failure> {
        let mut target = rootfs.to_path_buf();
        for component in self
            .container
            .components()
            .filter(|c| matches!(c, Component::Normal(_)))
        {
            target.push(component);
            if std::fs::symlink_metadata(&target).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(Failure::new(format!(
                    "refusing -v {}: {} is a symlink in the container's filesystem",
                    self.container.display(),
                    target.strip_prefix(rootfs).unwrap_or(&target).display()
                ))
                .hint("mount somewhere that is a real directory in the image"));
            }
        }
        let created = if self.host.is_dir() {
            std::fs::create_dir_all(&target)
        } else {
            target
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| {
                    std::fs::OpenOptions::new()
                        .create(true)
                        .truncate(false)
                        .write(true)
                        .open(&target)
                        .map(|_| ())
                })
        };
        created.map_err(|e| Failure::new(format!("cannot create {}: {e}", target.display())))?;
        Ok(target)
    }
}

// ANCHOR: bind_volume
/// In the child, before pivot_root: bind `volume.host` onto `target` (inside the rootfs).
pub fn bind(volume: &Volume, target: &Path) -> Result<(), Failure> {
    let what = || format!("cannot mount volume {}", volume.container.display());
    // EXERCISE(ch05-4): Bind-mount volume.host onto target with MS_BIND | MS_REC. For a
    // read-only volume, remount the bind with MS_REMOUNT | MS_BIND | MS_RDONLY and the flags
    // it must keep (pivot::kept_flags): the first mount(2) ignores MS_RDONLY with MS_BIND. Errors: Failure::syscall(what(), errno).
    mount(
        Some(&volume.host),
        target,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|errno| Failure::syscall(what(), errno))?;
    if volume.read_only {
        let flags =
            MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | kept_flags(target)?;
        mount(None::<&str>, target, None::<&str>, flags, None::<&str>)
            .map_err(|errno| Failure::syscall(what(), errno))?;
    }
    Ok(())
    // END EXERCISE
}
// ANCHOR_END: bind_volume

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_specs_are_parsed() {
        let volume = Volume::parse("/tmp:/data:ro").unwrap();
        assert_eq!(volume.container, PathBuf::from("/data"));
        assert!(volume.read_only);
        assert!(!Volume::parse("/tmp:/data").unwrap().read_only);
    }

    #[test]
    fn bad_volume_specs_are_refused() {
        for bad in [
            "tmp:/data",
            "/tmp:data",
            "/tmp",
            "/tmp:/data:rx",
            "/no/such/dir:/data",
            "/tmp:/../etc",
        ] {
            assert!(Volume::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_symlink_in_the_image_is_not_followed() {
        let rootfs = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/", rootfs.path().join("data")).unwrap();
        let volume = Volume::parse("/tmp:/data/x").unwrap();
        assert!(volume
            .prepare(rootfs.path())
            .unwrap_err()
            .to_string()
            .contains("is a symlink"));
    }
}
