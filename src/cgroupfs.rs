//! Where the host's cgroup filesystems are: the layout (v2, v1 or hybrid) and, for v1, the
//! mount point of each controller.
//!
//! These are facts about the host that `doctor` needs before chapter 03 exists, so they live
//! in the kit; chapter 03 builds its two backends on them. The layout is detected the way
//! production runtimes do (youki's libcgroups, runc): by the filesystem *magic* statfs(2)
//! reports, never by guessing from directory names.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC, TMPFS_MAGIC};

/// Where cgroup filesystems are mounted on every distribution we know of.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Where a runtime (chapter 03 on) keeps the owner lock of each container's cgroups,
/// `<id>.lock`, naming the `$BOXCAR_ROOT` of the runtime that holds it. /run is a tmpfs.
pub const OWNER_LOCK_DIR: &str = "/run/boxcar/cgroups";

/// The v1 controllers boxcar uses. cpuacct holds the CPU time used; freezer stops every
/// process of a cgroup at once, so none can fork while we kill them.
pub const V1_CONTROLLERS: [&str; 5] = ["memory", "cpu", "cpuacct", "pids", "freezer"];

/// The cgroup layout of a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One unified cgroup2 tree at /sys/fs/cgroup (Ubuntu 24.04, Debian 12, Fedora …).
    V2,
    /// v1 controllers under /sys/fs/cgroup/<controller>, plus a cgroup2 tree at
    /// /sys/fs/cgroup/unified that usually has no controllers.
    Hybrid,
    /// v1 controllers only.
    V1,
    /// No cgroup filesystem where it should be.
    Unknown,
}

// ANCHOR: layout
/// Detect the layout under `root` (normally [`CGROUP_ROOT`]) from filesystem magic.
pub fn layout(root: &Path) -> Layout {
    let magic = |path: &Path| statfs(path).ok().map(|fs| fs.filesystem_type());
    match magic(root) {
        // /sys/fs/cgroup is itself a cgroup2 filesystem: the unified layout.
        Some(m) if m == CGROUP2_SUPER_MAGIC => Layout::V2,
        // A tmpfs holding one mount per v1 hierarchy; a cgroup2 "unified" beside them
        // makes it hybrid.
        Some(m) if m == TMPFS_MAGIC => match magic(&root.join("unified")) {
            Some(m) if m == CGROUP2_SUPER_MAGIC => Layout::Hybrid,
            _ => Layout::V1,
        },
        _ => Layout::Unknown,
    }
}
// ANCHOR_END: layout

/// The mount point of each v1 controller, from a mountinfo text (proc(5)): a line with
/// filesystem type `cgroup` lists its controllers in its super options (`rw,cpu,cpuacct`).
/// Co-mounted controllers (`cpu,cpuacct` on many distributions) share one mount point.
pub fn v1_mounts(mountinfo: &str) -> BTreeMap<String, PathBuf> {
    let mut mounts = BTreeMap::new();
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(dash) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        let (Some(mount_point), Some(fstype), Some(options)) =
            (fields.get(4), fields.get(dash + 1), fields.get(dash + 3))
        else {
            continue;
        };
        if *fstype != "cgroup" {
            continue;
        }
        for option in options.split(',') {
            if V1_CONTROLLERS.contains(&option) {
                mounts.insert(option.to_string(), PathBuf::from(mount_point));
            }
        }
    }
    mounts
}

/// The v1 controller mounts of this process's mount namespace.
pub fn host_v1_mounts() -> BTreeMap<String, PathBuf> {
    v1_mounts(&std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default())
}

/// The cgroup2 mount point of a host: /sys/fs/cgroup on v2, /sys/fs/cgroup/unified on hybrid.
pub fn unified_mount(layout: Layout) -> Option<PathBuf> {
    match layout {
        Layout::V2 => Some(PathBuf::from(CGROUP_ROOT)),
        Layout::Hybrid => Some(Path::new(CGROUP_ROOT).join("unified")),
        Layout::V1 | Layout::Unknown => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:7 - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn v1_controllers_are_found_also_when_co_mounted() {
        let mounts = v1_mounts(MOUNTINFO);
        assert_eq!(mounts["cpu"], PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(
            mounts["cpuacct"],
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")
        );
        assert_eq!(mounts["memory"], PathBuf::from("/sys/fs/cgroup/memory"));
        assert!(!mounts.contains_key("freezer"));
        assert!(!mounts.contains_key("name=systemd"));
    }

    #[test]
    fn a_plain_directory_is_no_cgroup_layout() {
        assert_eq!(layout(&std::env::temp_dir()), Layout::Unknown);
    }
}
