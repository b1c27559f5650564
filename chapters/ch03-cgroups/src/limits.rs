//! The limits a container gets, read from its spec's `linux.resources`: what `--memory 64m`,
//! `--cpus 0.5` and `--pids-limit 64` became (the kit checked their syntax), in the units
//! the cgroup files take.

use boxcar::Failure;
use oci_spec::runtime::LinuxResources;

/// The CFS period the CPU limit is expressed in: 100 ms, the kernel's default
/// (sched-bwc.rst: a cgroup may run `quota` microseconds every `period`).
pub use boxcar::spec::CPU_PERIOD_US;

/// What the container may use. `None` means "no limit of this kind".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of memory (and no swap on top).
    pub memory: Option<u64>,
    /// CPU time per period, in microseconds, out of [`CPU_PERIOD_US`].
    pub cpu_quota_us: Option<u64>,
    /// Processes (and threads) at once.
    pub pids: Option<u64>,
}

impl Limits {
    /// The limits of the spec's `linux.resources` (the kit checked the flags' values when
    /// it made the spec; a value no cgroup can hold is refused here).
    pub fn from_resources(resources: &LinuxResources) -> Result<Self, Failure> {
        let memory = resources
            .memory()
            .as_ref()
            .and_then(|memory| memory.limit());
        let cpu = resources.cpu().as_ref();
        let cpu_quota_us = match cpu.and_then(|cpu| cpu.quota()) {
            Some(quota) => Some(per_default_period(quota, cpu.and_then(|cpu| cpu.period()))?),
            None => None,
        };
        let pids = resources.pids().as_ref().map(|pids| pids.limit());
        Ok(Limits {
            memory: memory
                .map(|bytes| positive(bytes, "memory.limit"))
                .transpose()?,
            cpu_quota_us,
            pids: pids.map(|n| positive(n, "pids.limit")).transpose()?,
        })
    }
}

/// A spec value that must be a positive number of bytes or processes (-1, "no limit", is
/// what runc reads as unlimited: we leave such a limit out).
fn positive(value: i64, field: &str) -> Result<u64, Failure> {
    u64::try_from(value).ok().filter(|v| *v > 0).ok_or_else(|| {
        Failure::new(format!(
            "invalid linux.resources.{field} {value} in the spec"
        ))
        .hint("give a positive number, or leave the limit out")
    })
}

/// A quota for `period` µs as a quota per [`CPU_PERIOD_US`], the period our cgroups use.
fn per_default_period(quota: i64, period: Option<u64>) -> Result<u64, Failure> {
    let period = period.unwrap_or(CPU_PERIOD_US).max(1);
    let quota = positive(quota, "cpu.quota")?;
    Ok(quota.saturating_mul(CPU_PERIOD_US) / period)
}

/// Bytes as a learner reads them: "32 MiB", "1.5 GiB", "512 KiB".
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value.fract() == 0.0 {
        format!("{value} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxCpu, LinuxMemory, LinuxPids};

    #[test]
    fn resources_become_limits() {
        let mut resources = LinuxResources::default();
        let mut memory = LinuxMemory::default();
        memory.set_limit(Some(64 << 20));
        let mut cpu = LinuxCpu::default();
        cpu.set_quota(Some(25_000)).set_period(Some(50_000));
        let mut pids = LinuxPids::default();
        pids.set_limit(32);
        resources
            .set_memory(Some(memory))
            .set_cpu(Some(cpu))
            .set_pids(Some(pids));
        let limits = Limits::from_resources(&resources).unwrap();
        assert_eq!(limits.memory, Some(64 << 20));
        assert_eq!(limits.cpu_quota_us, Some(50_000), "half a CPU either way");
        assert_eq!(limits.pids, Some(32));
        assert_eq!(
            Limits::from_resources(&LinuxResources::default()).unwrap(),
            Limits::default()
        );
    }

    #[test]
    fn bytes_read_like_a_person_writes_them() {
        assert_eq!(human_bytes(32 << 20), "32 MiB");
        assert_eq!(human_bytes(1536 << 20), "1.5 GiB");
        assert_eq!(human_bytes(100), "100 B");
    }
}
