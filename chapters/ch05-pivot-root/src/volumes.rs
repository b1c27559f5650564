//! `-v HOST:CTR[:ro]`: bind a host directory or file into the container. The kit turned
//! each flag into a bind mount of the spec (`mounts`); this module mounts them.
//!
//! A bind mount shows the same files at a second place (mount(2), MS_BIND). It is made in
//! the child's mount namespace, before pivot_root, while the host's paths are still
//! reachable; after the pivot the container keeps the mount and loses the rest.

use std::path::{Component, Path, PathBuf};

use boxcar::Failure;
use nix::mount::{mount, MsFlags};
use oci_spec::runtime::Mount;

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
    /// A bind mount of the spec (`-v HOST:CTR[:ro]` became one, its paths checked by the
    /// kit). Other mount types are refused: this runtime mounts /proc, /sys and /dev itself.
    pub fn from_mount(mount: &Mount) -> Result<Volume, Failure> {
        let container = mount.destination().clone();
        let refuse = |why: &str| {
            Failure::new(format!("cannot mount {}: {why}", container.display()))
                .hint("this runtime takes bind mounts (-v HOST:CTR[:ro]) only")
        };
        let options = mount.options().clone().unwrap_or_default();
        let is_bind = mount.typ().as_deref() == Some("bind")
            || options.iter().any(|o| o == "bind" || o == "rbind");
        if !is_bind {
            return Err(refuse(&format!(
                "type {:?} is not a bind mount",
                mount.typ()
            )));
        }
        let Some(host) = mount.source().clone() else {
            return Err(refuse("a bind mount needs a source"));
        };
        if !host.is_absolute() || !container.is_absolute() {
            return Err(refuse("both paths must be absolute"));
        }
        if container.components().any(|c| c == Component::ParentDir) {
            return Err(refuse("the container path may not contain .."));
        }
        Ok(Volume {
            host,
            container,
            read_only: options.iter().any(|o| o == "ro"),
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
        created.map_err(|e| Failure::io(format!("cannot create {}", target.display()), e))?;
        Ok(target)
    }
}

/// In the child, before pivot_root: bind `volume.host` onto `target` (inside the rootfs).
pub fn bind(volume: &Volume, target: &Path) -> Result<(), Failure> {
    let what = || format!("cannot mount volume {}", volume.container.display());
    // TODO(ch05-3): Show volume.host at `target`, with whatever is mounted below it on
    // the host, so that the container's writes there reach the host. For a read-only volume
    // (volume.read_only), the container must not be able to write there — while the host's
    // side stays writable and the mount keeps every restriction it had (nosuid, nodev, …).
    // mount(2): "Creating a bind mount" and "Remounting an existing mount".
    todo!("exercise ch05-3: see the TODO above")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bind_mount(source: &str, destination: &str, options: &[&str]) -> Mount {
        let mut mount = Mount::default();
        mount
            .set_destination(destination.into())
            .set_typ(Some("bind".into()))
            .set_source(Some(source.into()))
            .set_options(Some(options.iter().map(|o| o.to_string()).collect()));
        mount
    }

    #[test]
    fn bind_mounts_of_the_spec_become_volumes() {
        let volume = Volume::from_mount(&bind_mount("/tmp", "/data", &["rbind", "ro"])).unwrap();
        assert_eq!(volume.container, PathBuf::from("/data"));
        assert!(volume.read_only);
        let rw = Volume::from_mount(&bind_mount("/tmp", "/data", &["rbind", "rw"])).unwrap();
        assert!(!rw.read_only);
    }

    #[test]
    fn other_mounts_are_refused() {
        let mut tmpfs = bind_mount("tmpfs", "/run", &[]);
        tmpfs.set_typ(Some("tmpfs".into()));
        assert!(Volume::from_mount(&tmpfs).is_err());
        assert!(Volume::from_mount(&bind_mount("/tmp", "/../etc", &["rbind"])).is_err());
        assert!(Volume::from_mount(&bind_mount("tmp", "/data", &["rbind"])).is_err());
    }

    #[test]
    fn a_symlink_in_the_image_is_not_followed() {
        let rootfs = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/", rootfs.path().join("data")).unwrap();
        let volume = Volume::from_mount(&bind_mount("/tmp", "/data/x", &["rbind"])).unwrap();
        assert!(volume
            .prepare(rootfs.path())
            .unwrap_err()
            .to_string()
            .contains("is a symlink"));
    }
}
