//! The limits of `run`, in Docker's syntax: `--memory 64m`, `--cpus 0.5`, `--pids-limit 64`.
//!
//! Every value is checked before anything is created, so a typo costs nothing but one line.

use boxcar::cli::RunArgs;
use boxcar::Failure;

/// The CFS period the CPU limit is expressed in: 100 ms, the kernel's default
/// (sched-bwc.rst: a cgroup may run `quota` microseconds every `period`).
pub const CPU_PERIOD_US: u64 = 100_000;

/// Docker refuses memory limits under 6 MiB: below that a container cannot even start.
pub const MIN_MEMORY: u64 = 6 * 1024 * 1024;

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
    /// The limits of `run`'s flags, or one clear line about the first bad value.
    pub fn from_args(args: &RunArgs) -> Result<Self, Failure> {
        Ok(Limits {
            memory: args.memory.as_deref().map(parse_memory).transpose()?,
            cpu_quota_us: args
                .cpus
                .as_deref()
                .map(|cpus| parse_cpus(cpus, online_cpus()))
                .transpose()?,
            pids: args.pids_limit.as_deref().map(parse_pids).transpose()?,
        })
    }
}

/// `64m` → 67108864. Suffixes b, k, m, g (either case) are powers of 1024, as in Docker.
pub fn parse_memory(text: &str) -> Result<u64, Failure> {
    let bad = |why: &str| {
        Failure::new(format!("invalid --memory {text:?}: {why}"))
            .hint("give a size like 64m or 1g (suffixes b, k, m, g), at least 6m")
    };
    let lower = text.trim().to_ascii_lowercase();
    if lower.starts_with('-') {
        return Err(bad("a size cannot be negative"));
    }
    let (number, unit) = match lower.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => lower.split_at(at),
        None => (lower.as_str(), "b"),
    };
    let shift = match unit {
        "b" => 0,
        "k" | "kb" => 10,
        "m" | "mb" => 20,
        "g" | "gb" => 30,
        _ => return Err(bad("unknown unit")),
    };
    let value: u64 = number.parse().map_err(|_| bad("not a whole number"))?;
    let bytes = value
        .checked_mul(1 << shift)
        .ok_or_else(|| bad("too large"))?;
    if bytes < MIN_MEMORY {
        return Err(bad("below the 6 MiB a container needs to start"));
    }
    if bytes > 1 << 50 {
        return Err(bad("more than a pebibyte: surely a typo"));
    }
    Ok(bytes)
}

/// `0.5` → 50000 µs of CPU time every 100000 µs. At least 0.01 CPU; at most the CPUs this
/// machine has (`available`).
pub fn parse_cpus(text: &str, available: u64) -> Result<u64, Failure> {
    let bad = |why: String| {
        Failure::new(format!("invalid --cpus {text:?}: {why}")).hint(format!(
            "give a number of CPUs like 0.5 or 2, between 0.01 and {available}"
        ))
    };
    let cpus: f64 = text
        .trim()
        .parse()
        .map_err(|_| bad("not a number".into()))?;
    if !cpus.is_finite() || cpus < 0.01 {
        return Err(bad("must be at least 0.01".into()));
    }
    if cpus > available as f64 {
        return Err(bad(format!("this machine has {available} CPUs")));
    }
    Ok((cpus * CPU_PERIOD_US as f64).round() as u64)
}

/// `64` → 64 processes. Zero would stop even the command itself from starting.
pub fn parse_pids(text: &str) -> Result<u64, Failure> {
    let bad = |why: &str| {
        Failure::new(format!("invalid --pids-limit {text:?}: {why}"))
            .hint("give a whole number of processes, at least 1, e.g. 64")
    };
    if text.trim().starts_with('-') {
        return Err(bad(
            "it cannot be negative (for no limit, leave the flag out)",
        ));
    }
    let pids: u64 = text.trim().parse().map_err(|_| bad("not a whole number"))?;
    if pids == 0 {
        return Err(bad("the command itself is a process, so at least 1"));
    }
    if pids > 4_194_304 {
        return Err(bad("more than the kernel's pid_max can ever allow"));
    }
    Ok(pids)
}

/// The CPUs online (sysconf(3), _SC_NPROCESSORS_ONLN).
fn online_cpus() -> u64 {
    std::thread::available_parallelism()
        .map(|n| n.get() as u64)
        .unwrap_or(1)
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

    #[test]
    fn memory_sizes_use_docker_suffixes() {
        assert_eq!(parse_memory("64m").unwrap(), 64 << 20);
        assert_eq!(parse_memory("1G").unwrap(), 1 << 30);
        assert_eq!(parse_memory("8192k").unwrap(), 8 << 20);
        assert_eq!(parse_memory("7340032").unwrap(), 7 << 20);
    }

    #[test]
    fn bad_memory_sizes_are_refused() {
        for bad in ["12x", "0", "-5m", "m", "", "1m", "99999999999g", "1.5g"] {
            let failure = parse_memory(bad).unwrap_err();
            assert!(failure.to_string().contains("64m"), "{bad}: {failure}");
        }
    }

    #[test]
    fn cpus_become_a_quota_per_period() {
        assert_eq!(parse_cpus("0.5", 2).unwrap(), 50_000);
        assert_eq!(parse_cpus("2", 2).unwrap(), 200_000);
        assert_eq!(parse_cpus("0.01", 2).unwrap(), 1_000);
        for bad in ["0", "-1", "abc", "3", "NaN", "inf", "0.001"] {
            assert!(parse_cpus(bad, 2).is_err(), "{bad}");
        }
    }

    #[test]
    fn pids_limits_are_whole_and_positive() {
        assert_eq!(parse_pids("32").unwrap(), 32);
        for bad in ["0", "-1", "ten", "1.5", "99999999"] {
            assert!(parse_pids(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bytes_read_like_a_person_writes_them() {
        assert_eq!(human_bytes(32 << 20), "32 MiB");
        assert_eq!(human_bytes(1536 << 20), "1.5 GiB");
        assert_eq!(human_bytes(100), "100 B");
    }
}
