//! The cgroup v1 backend: one hierarchy per controller (Documentation/admin-guide/cgroup-v1).
//!
//! The container gets a `boxcar/<id>` directory in each hierarchy it uses — memory, cpu,
//! cpuacct, pids, freezer — and its process is written into every one of them. v1 has no
//! `cgroup.kill`: the freezer stops every process at once, so none can fork while we kill.
//! Hybrid hosts (v1 controllers plus an empty cgroup2 at /sys/fs/cgroup/unified) use this
//! backend too: their controllers are all on the v1 side.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use boxcar::Failure;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::cgroup::{
    self, join, keyed_value, read_file, write_file, Backend, Events, Usage, PARENT,
};
use crate::limits::{Limits, CPU_PERIOD_US};

/// The controllers a container cannot do without (cpuacct only adds accounting).
const REQUIRED: [&str; 4] = ["memory", "cpu", "pids", "freezer"];

/// One container's cgroups, a directory per controller.
#[derive(Debug, Clone)]
pub struct V1 {
    dirs: BTreeMap<String, PathBuf>,
}

impl V1 {
    /// Create `boxcar/<id>` in each hierarchy of `mounts` (controller → mount point).
    pub fn create(mounts: &BTreeMap<String, PathBuf>, id: &str) -> Result<V1, Failure> {
        if let Some(missing) = REQUIRED.iter().find(|c| !mounts.contains_key(**c)) {
            return Err(Failure::new(format!("the cgroup v1 controller {missing} is not mounted"))
                .hint(format!("mount it: mkdir -p /sys/fs/cgroup/{missing} && mount -t cgroup -o {missing} cgroup /sys/fs/cgroup/{missing}")));
        }
        let v1 = V1::open(mounts, id);
        for dir in v1.unique_dirs() {
            if let Err(error) = std::fs::create_dir_all(&dir) {
                let _ = v1.remove();
                return Err(Failure::new(format!(
                    "cannot create cgroup {}: {error}",
                    dir.display()
                )));
            }
        }
        Ok(v1)
    }

    /// The cgroups of an existing container, to clean them up.
    pub fn open(mounts: &BTreeMap<String, PathBuf>, id: &str) -> V1 {
        let dirs = mounts
            .iter()
            .map(|(controller, mount)| (controller.clone(), mount.join(PARENT).join(id)))
            .collect();
        V1 { dirs }
    }

    /// Each directory once (co-mounted controllers such as cpu,cpuacct share one).
    fn unique_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = self.dirs.values().cloned().collect();
        dirs.sort();
        dirs.dedup();
        dirs
    }

    fn dir(&self, controller: &str) -> Option<&Path> {
        self.dirs.get(controller).map(PathBuf::as_path)
    }

    fn read(&self, controller: &str, file: &str) -> Option<String> {
        read_file(&self.dir(controller)?.join(file))
    }

    fn write(&self, controller: &str, file: &str, value: &str) -> Result<(), Failure> {
        let dir = self
            .dir(controller)
            .ok_or_else(|| Failure::new(format!("no {controller} cgroup")))?;
        write_file(&dir.join(file), value)
    }

    /// Freeze or thaw, and wait until the freezer says it is done (freezer-subsystem.rst:
    /// FREEZING means "not all frozen yet").
    fn set_frozen(&self, frozen: bool) -> Result<(), Failure> {
        let state = if frozen { "FROZEN" } else { "THAWED" };
        self.write("freezer", "freezer.state", state)?;
        for _ in 0..100 {
            if self
                .read("freezer", "freezer.state")
                .is_some_and(|s| s.trim() == state)
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Err(Failure::new(format!("the freezer did not reach {state}")))
    }
}

impl Backend for V1 {
    // ANCHOR: apply
    fn apply(&self, limits: &Limits) -> Result<(), Failure> {
        // EXERCISE(ch03-2): Apply each limit that is set on the v1 hierarchies, one
        // controller's tree each: the memory limit (and memory+swap equal to it where swap is
        // accounted, so there is no swap on top), the CPU limit as a quota per period, the
        // number of processes. The kernel checks each write against the others: order them
        // so every write is valid when it is made. Documentation/admin-guide/cgroup-v1/
        // (memory.rst, the CFS bandwidth in scheduler/sched-bwc.rst, pids.rst).
        // HINT(1): On v1 each controller is its own tree: self.write(controller, file, value)
        //   writes into this container's directory of that controller. memory+swap is a
        //   separate limit that may never be below the memory limit.
        // HINT(2): memory.limit_in_bytes, then memory.memsw.limit_in_bytes (only if it
        //   exists: swap accounting may be off); cpu.cfs_period_us (CPU_PERIOD_US) and
        //   cpu.cfs_quota_us (the quota in µs); pids.max. Values are decimal text in bytes,
        //   microseconds and processes.
        // HINT(3): if let Some(bytes) = limits.memory { self.write("memory",
        //   "memory.limit_in_bytes", &bytes.to_string())?; if the memsw file exists, the same
        //   value into it } … then the cpu pair, then pids; Ok(()).
        if let Some(bytes) = limits.memory {
            self.write("memory", "memory.limit_in_bytes", &bytes.to_string())?;
            // memsw must stay >= the memory limit, so it is written second.
            if self
                .dir("memory")
                .is_some_and(|dir| dir.join("memory.memsw.limit_in_bytes").exists())
            {
                self.write("memory", "memory.memsw.limit_in_bytes", &bytes.to_string())?;
            }
        }
        if let Some(quota) = limits.cpu_quota_us {
            self.write("cpu", "cpu.cfs_period_us", &CPU_PERIOD_US.to_string())?;
            self.write("cpu", "cpu.cfs_quota_us", &quota.to_string())?;
        }
        if let Some(pids) = limits.pids {
            self.write("pids", "pids.max", &pids.to_string())?;
        }
        Ok(())
        // END EXERCISE
    }
    // ANCHOR_END: apply

    fn add_process(&self, pid: Pid) -> Result<(), Failure> {
        self.unique_dirs().iter().try_for_each(|dir| join(dir, pid))
    }

    fn events(&self) -> Events {
        Events {
            oom_kills: self
                .read("memory", "memory.oom_control")
                .map_or(0, |t| keyed_value(&t, "oom_kill")),
            forks_refused: self
                .read("pids", "pids.events")
                .map_or(0, |t| keyed_value(&t, "max")),
        }
    }

    fn usage(&self) -> Usage {
        let number = |text: Option<String>| text.and_then(|t| t.trim().parse::<u64>().ok());
        Usage {
            memory_peak: number(self.read("memory", "memory.max_usage_in_bytes")),
            // cpuacct.usage is in nanoseconds.
            cpu_usec: number(self.read("cpuacct", "cpuacct.usage")).map(|ns| ns / 1000),
            throttled: self
                .read("cpu", "cpu.stat")
                .map(|t| keyed_value(&t, "nr_throttled")),
        }
    }

    fn kill_all(&self) -> Result<(), Failure> {
        let Some(freezer) = self.dir("freezer").filter(|dir| dir.exists()) else {
            return Ok(());
        };
        let inside = cgroup::pids_in(freezer);
        if inside.is_empty() {
            return Ok(());
        }
        // Never freeze the runtime itself: a frozen process cannot thaw the cgroup again and
        // hangs, unkillable, in state D. It is inside only if it joined its own pid by mistake.
        let runtime = nix::unistd::getpid();
        if inside.contains(&runtime) {
            for pid in inside.into_iter().filter(|pid| *pid != runtime) {
                let _ = kill(pid, Signal::SIGKILL);
            }
            return Err(Failure::new("the runtime itself is in the container's cgroup")
                .hint("move the container's process (its pid from clone) into the cgroup, not the runtime's own"));
        }
        // Freezing can take longer than we wait (a process busy in the kernel, a loaded
        // machine): kill anyway, and thaw whatever happened. A v1 cgroup left frozen keeps its
        // processes forever, unkillable, in state D (freezer-subsystem.rst: a frozen task
        // acts on SIGKILL only once thawed).
        let frozen = self.set_frozen(true);
        for pid in cgroup::pids_in(freezer) {
            // These are the container's processes, in the cgroup we created; SIGKILL is
            // queued while they are frozen and delivered when they thaw.
            let _ = kill(pid, Signal::SIGKILL);
        }
        self.set_frozen(false)?;
        if frozen.is_err() {
            // Not all were frozen: one may have forked between our kills. Once more.
            for pid in cgroup::pids_in(freezer) {
                let _ = kill(pid, Signal::SIGKILL);
            }
        }
        cgroup::wait_until_empty(freezer)
    }

    fn remove(&self) -> Result<(), Failure> {
        let mut result = Ok(());
        for dir in self.unique_dirs() {
            if let Err(failure) = cgroup::remove_dir(&dir) {
                result = Err(failure);
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Directories laid out like v1 hierarchies, cpu and cpuacct co-mounted.
    fn fake_mounts(base: &Path) -> BTreeMap<String, PathBuf> {
        let mut mounts = BTreeMap::new();
        for (controller, dir) in [
            ("memory", "memory"),
            ("cpu", "cpu,cpuacct"),
            ("cpuacct", "cpu,cpuacct"),
            ("pids", "pids"),
            ("freezer", "freezer"),
        ] {
            mounts.insert(controller.to_string(), base.join(dir));
        }
        mounts
    }

    #[test]
    fn limits_are_written_in_v1_format() {
        let base = tempfile::tempdir().unwrap();
        let cgroup = V1::create(&fake_mounts(base.path()), "abc").unwrap();
        let memory = base.path().join("memory/boxcar/abc");
        std::fs::write(memory.join("memory.memsw.limit_in_bytes"), "").unwrap();
        let limits = Limits {
            memory: Some(32 << 20),
            cpu_quota_us: Some(20_000),
            pids: Some(64),
        };
        cgroup.apply(&limits).unwrap();
        let read = |p: &str| std::fs::read_to_string(base.path().join(p)).unwrap();
        assert_eq!(read("memory/boxcar/abc/memory.limit_in_bytes"), "33554432");
        assert_eq!(
            read("memory/boxcar/abc/memory.memsw.limit_in_bytes"),
            "33554432"
        );
        assert_eq!(read("cpu,cpuacct/boxcar/abc/cpu.cfs_period_us"), "100000");
        assert_eq!(read("cpu,cpuacct/boxcar/abc/cpu.cfs_quota_us"), "20000");
        assert_eq!(read("pids/boxcar/abc/pids.max"), "64");
    }

    #[test]
    fn the_process_joins_each_hierarchy_once() {
        let base = tempfile::tempdir().unwrap();
        let cgroup = V1::create(&fake_mounts(base.path()), "abc").unwrap();
        cgroup.add_process(Pid::from_raw(77)).unwrap();
        for dir in ["memory", "cpu,cpuacct", "pids", "freezer"] {
            let procs =
                std::fs::read_to_string(base.path().join(dir).join("boxcar/abc/cgroup.procs"))
                    .unwrap();
            assert_eq!(procs, "77", "{dir}");
        }
    }

    #[test]
    fn a_missing_controller_is_refused_with_the_fix() {
        let base = tempfile::tempdir().unwrap();
        let mut mounts = fake_mounts(base.path());
        mounts.remove("pids");
        let failure = V1::create(&mounts, "abc").unwrap_err();
        assert!(
            failure.to_string().contains("mount -t cgroup -o pids"),
            "{failure}"
        );
    }

    #[test]
    fn events_and_usage_come_from_the_kernels_files() {
        let base = tempfile::tempdir().unwrap();
        let cgroup = V1::create(&fake_mounts(base.path()), "abc").unwrap();
        let write = |p: &str, text: &str| std::fs::write(base.path().join(p), text).unwrap();
        write(
            "memory/boxcar/abc/memory.oom_control",
            "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
        );
        write("pids/boxcar/abc/pids.events", "max 5\n");
        write("memory/boxcar/abc/memory.max_usage_in_bytes", "2097152\n");
        write("cpu,cpuacct/boxcar/abc/cpuacct.usage", "3000000\n");
        write(
            "cpu,cpuacct/boxcar/abc/cpu.stat",
            "nr_periods 20\nnr_throttled 4\nthrottled_time 9\n",
        );
        assert_eq!(
            cgroup.events(),
            Events {
                oom_kills: 2,
                forks_refused: 5
            }
        );
        assert_eq!(
            cgroup.usage(),
            Usage {
                memory_peak: Some(2 << 20),
                cpu_usec: Some(3000),
                throttled: Some(4)
            }
        );
    }
}
