//! The container spec: `run`'s docker-style flags turned, once, into an OCI runtime spec —
//! the same `config.json` that docker and podman hand runc.
//!
//! ```text
//!   run --name web --hostname box --memory 64m -e A=1 -v /srv:/data:ro --image busybox -- sh
//!        │                                                                         │
//!        ▼                                                                         ▼
//!   Container { id, spec: config.json (process, hostname, root, mounts,   host: name, image,
//!                        linux.namespaces, linux.resources, cgroupsPath),       init, rm, stats }
//! ```
//!
//! Each pillar takes the part of the spec it needs (the process, the hostname,
//! `&LinuxResources`, the mounts), never clap's types. What the runtime spec has no field for
//! — the name, the image, `--rm`, `--init`, `--stats` — goes in [`HostConfig`], kept beside
//! the spec as docker keeps its `hostconfig.json` beside `config.json`.
//!
//! Flag values are checked here, before anything is created: a typo in `--memory` costs one
//! line and exit 125. What only the kernel can check (does the image exist, is the host path
//! a directory) is checked by the pillar that uses it.

use std::path::{Component, Path, PathBuf};

use oci_spec::runtime::{
    Linux, LinuxCpu, LinuxMemory, LinuxNamespace, LinuxNamespaceType, LinuxPids, LinuxResources,
    Mount, Process, Root, Spec,
};
use serde::{Deserialize, Serialize};

use crate::cli::RunArgs;
use crate::Failure;

/// The runtime spec version we write (the one oci-spec implements).
pub const OCI_VERSION: &str = "1.2.0";

/// The `PATH` a container gets unless `-e PATH=…` says otherwise (the same as Docker's).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The CFS period the CPU limit is expressed in: 100 ms, the kernel's default
/// (sched-bwc.rst: a cgroup may run `quota` microseconds every `period`). Docker's too.
pub const CPU_PERIOD_US: u64 = 100_000;

/// Docker refuses memory limits under 6 MiB: below that a container cannot even start.
pub const MIN_MEMORY: u64 = 6 * 1024 * 1024;

/// The namespaces each chapter's runtime creates, with the chapter that brings them. A
/// chapter's spec lists those of its chapter and every earlier one.
pub const NAMESPACES: &[(LinuxNamespaceType, u8)] = &[
    (LinuxNamespaceType::Uts, 1),
    (LinuxNamespaceType::Ipc, 1),
    (LinuxNamespaceType::Pid, 2),
    (LinuxNamespaceType::Mount, 2),
    (LinuxNamespaceType::Network, 7),
];

/// A container as `run` asks for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Container {
    /// 12 hex digits, generated: what names the container's cgroup and state directory.
    pub id: String,
    /// The OCI runtime spec: `config.json`.
    pub spec: Spec,
    /// What the runtime spec has no field for.
    pub host: HostConfig,
}

/// What docker keeps in `hostconfig.json` rather than in the runtime spec: how the
/// container is run and kept, not what runs in it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostConfig {
    /// `--name`, or the id. The default hostname too.
    pub name: String,
    /// `--image`: the image the root filesystem comes from (`spec.root` then names where
    /// the runtime assembles it).
    pub image: Option<String>,
    /// `--init`: PID 1 is a small init that reaps and forwards, the command PID 2.
    pub init: bool,
    /// `--rm`: remove the container when it exits.
    pub remove: bool,
    /// `--stats`: print peak memory and CPU time at exit.
    pub stats: bool,
    /// `-d`: start in the background and print the id (chapter 08).
    #[serde(default)]
    pub detach: bool,
    /// What the flags asked of the process, kept beside the spec's process (which they
    /// made): chapter 04 merges an image's config under them, a flag winning over the
    /// image as in docker.
    #[serde(default)]
    pub asked: Asked,
    /// `--net`: `none` or `bridge` (the default from chapter 07, which brings the network
    /// namespace); none before chapter 07, where the container shares the host's network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// `-p [IP:]HOST:CTR[/tcp|udp]`, as given; the network pillar parses and checks them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub publish: Vec<String>,
}

/// The process as `run`'s flags asked for it, before an image's config fills the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asked {
    /// The command after the flags; empty: the image's.
    pub command: Vec<String>,
    /// `--entrypoint`.
    pub entrypoint: Option<String>,
    /// `-e`, each as `K=V`, in order.
    pub env: Vec<String>,
    /// `-w`.
    pub workdir: Option<String>,
    /// `--user`.
    pub user: Option<String>,
}

impl Container {
    /// The container that `run`'s flags describe, for chapter `chapter`'s runtime (which
    /// creates the namespaces of [`NAMESPACES`] up to that chapter).
    pub fn from_run_args(args: &RunArgs, chapter: u8) -> Result<Container, Failure> {
        let id = crate::state::new_container_id();
        let name = match &args.name {
            Some(name) => check_name(name)?,
            None => id.clone(),
        };
        let hostname = args.hostname.clone().unwrap_or_else(|| name.clone());
        let mut spec = Spec::default();
        spec.set_version(OCI_VERSION.into())
            .set_process(Some(process(args, &hostname)?))
            .set_hostname(Some(hostname))
            .set_root(root(args)?)
            .set_mounts(Some(volumes(&args.volumes)?).filter(|mounts| !mounts.is_empty()))
            .set_annotations(None)
            .set_linux(Some(linux(args, chapter, &id)?));
        Ok(Container {
            host: HostConfig {
                name,
                image: args.image.clone(),
                init: args.init,
                remove: args.rm,
                stats: args.stats,
                detach: args.detach,
                asked: Asked {
                    command: args.command.clone(),
                    entrypoint: args.entrypoint.clone(),
                    env: flag_env(args)?
                        .into_iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect(),
                    workdir: args.workdir.clone(),
                    user: args.user.clone(),
                },
                network: network_mode(args, chapter)?,
                publish: args.publish.clone(),
            },
            id,
            spec,
        })
    }

    /// The process to run (always set by [`Container::from_run_args`]).
    pub fn process(&self) -> &Process {
        static NONE: std::sync::OnceLock<Process> = std::sync::OnceLock::new();
        self.spec
            .process()
            .as_ref()
            .unwrap_or_else(|| NONE.get_or_init(Process::default))
    }

    /// The hostname (always set by [`Container::from_run_args`]).
    pub fn hostname(&self) -> &str {
        self.spec.hostname().as_deref().unwrap_or(&self.host.name)
    }

    /// The resource limits; empty when none were asked for.
    pub fn resources(&self) -> LinuxResources {
        self.spec
            .linux()
            .as_ref()
            .and_then(|linux| linux.resources().clone())
            .unwrap_or_default()
    }

    /// The namespaces to create.
    pub fn namespaces(&self) -> Vec<LinuxNamespace> {
        self.spec
            .linux()
            .as_ref()
            .and_then(|linux| linux.namespaces().clone())
            .unwrap_or_default()
    }

    /// The extra mounts (`-v` volumes), in order.
    pub fn mounts(&self) -> &[Mount] {
        self.spec.mounts().as_deref().unwrap_or_default()
    }

    /// Whether the root filesystem is mounted read-only (`--read-only`).
    pub fn read_only(&self) -> bool {
        self.spec
            .root()
            .as_ref()
            .and_then(|root| root.readonly())
            .unwrap_or(false)
    }

    /// The directory given with `--rootfs`, if any (an image's root is assembled by the
    /// runtime, so it is not a directory the user named).
    pub fn rootfs_dir(&self) -> Option<&Path> {
        if self.host.image.is_some() {
            return None;
        }
        self.spec.root().as_ref().map(|root| root.path().as_path())
    }

    /// Whether the container has a root filesystem of its own (`--image` or `--rootfs`).
    pub fn has_own_root(&self) -> bool {
        self.spec.root().is_some()
    }

    /// The spec as `config.json` text, pretty-printed as runc writes it.
    pub fn config_json(&self) -> Result<String, Failure> {
        serde_json::to_string_pretty(&self.spec)
            .map(|mut text| {
                text.push('\n');
                text
            })
            .map_err(|error| Failure::new(format!("cannot encode the spec: {error}")))
    }
}

/// `--name`: the same rules as Docker's (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`), since a name is
/// also the default hostname, a directory-safe word and what `ps` shows.
fn check_name(name: &str) -> Result<String, Failure> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if first_ok && rest_ok && name.len() <= 64 {
        return Ok(name.to_string());
    }
    Err(Failure::new(format!("invalid --name {name:?}")).hint(
        "use 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit, \
         e.g. --name web-1",
    ))
}

/// `--net none|bridge`, Docker's names; `bridge` unless told otherwise from chapter 07 on.
fn network_mode(args: &RunArgs, chapter: u8) -> Result<Option<String>, Failure> {
    if chapter < 7 {
        return Ok(None);
    }
    match args.net.as_deref().unwrap_or("bridge") {
        mode @ ("none" | "bridge") => Ok(Some(mode.to_string())),
        other => Err(Failure::new(format!("invalid --net {other:?}"))
            .hint("use --net bridge (the default: an address on the boxcar bridge) or --net none (only lo)")),
    }
}

/// `process`: the command, a clean environment with Docker's defaults, the working
/// directory. The host's environment is not the container's.
fn process(args: &RunArgs, hostname: &str) -> Result<Process, Failure> {
    if let Some(arg) = args.command.iter().find(|arg| arg.contains('\0')) {
        return Err(nul_byte("an argument", arg));
    }
    for (flag, value) in [("--entrypoint", &args.entrypoint), ("--user", &args.user)] {
        if let Some(value) = value.as_ref().filter(|value| value.contains('\0')) {
            return Err(nul_byte(flag, value));
        }
    }
    // An image brings its own command (chapter 04 merges it in); without one, it is ours.
    if args.command.is_empty() && args.image.is_none() && args.entrypoint.is_none() {
        return Err(Failure::new("no command to run").hint(
            "give it after the flags, e.g. run -- sh -c 'echo hi'; with --image, the \
             image's own command runs when none is given",
        ));
    }
    let mut vars = vec![
        ("PATH".to_string(), DEFAULT_PATH.to_string()),
        ("HOSTNAME".to_string(), hostname.to_string()),
        ("HOME".to_string(), "/root".to_string()),
    ];
    for (key, value) in flag_env(args)? {
        vars.retain(|(k, _)| *k != key);
        vars.push((key, value));
    }
    let cwd = match &args.workdir {
        Some(dir) if dir.contains('\0') => return Err(nul_byte("-w", dir)),
        Some(dir) if !dir.starts_with('/') => {
            return Err(
                Failure::new(format!("invalid -w {dir:?}: not an absolute path"))
                    .hint("give the working directory as seen inside the container, e.g. -w /tmp"),
            )
        }
        Some(dir) => dir.clone(),
        None => "/".to_string(),
    };
    let mut process = Process::default();
    process
        .set_args(Some(
            args.entrypoint
                .iter()
                .chain(&args.command)
                .cloned()
                .collect(),
        ))
        .set_env(Some(vars.iter().map(|(k, v)| format!("{k}={v}")).collect()))
        .set_cwd(cwd.into())
        // Until chapter 09 the container's root keeps every capability and may gain
        // privileges: the spec says so rather than promising what the runtime does not do.
        .set_capabilities(None)
        .set_rlimits(None)
        .set_no_new_privileges(None);
    Ok(process)
}

/// The `-e` flags, in order, as (name, value); a `-e K` whose K is unset here is dropped.
fn flag_env(args: &RunArgs) -> Result<Vec<(String, String)>, Failure> {
    let mut vars = Vec::new();
    for entry in &args.env {
        vars.extend(parse_env(entry)?);
    }
    Ok(vars)
}

/// `-e K=V` sets a variable; `-e K` copies K from the runtime's environment if it is set.
pub fn parse_env(entry: &str) -> Result<Option<(String, String)>, Failure> {
    if entry.contains('\0') {
        return Err(nul_byte("-e", entry));
    }
    let (key, value) = match entry.split_once('=') {
        Some((key, value)) => (key, Some(value.to_string())),
        None => (entry, std::env::var(entry).ok()),
    };
    if key.is_empty() {
        return Err(
            Failure::new(format!("invalid -e {entry:?}: the variable has no name"))
                .hint("write -e NAME=value, or -e NAME to copy NAME from your environment"),
        );
    }
    Ok(value.map(|value| (key.to_string(), value)))
}

fn nul_byte(what: &str, text: &str) -> Failure {
    Failure::new(format!("invalid {what} {text:?}: it contains a NUL byte"))
        .hint("the kernel takes C strings, which end at the first NUL; remove it")
}

/// `root`: a `--rootfs` directory as given, or where the runtime assembles an `--image`
/// (`rootfs`, relative to the container's directory, as in a bundle); none without either.
fn root(args: &RunArgs) -> Result<Option<Root>, Failure> {
    let path = match (&args.image, &args.rootfs) {
        (Some(_), _) => PathBuf::from("rootfs"),
        (None, Some(dir)) => PathBuf::from(dir),
        (None, None) if args.read_only || !args.volumes.is_empty() || args.rm => {
            return Err(Failure::new(
                "-v, --read-only and --rm need a root filesystem of the container's own",
            )
            .hint("add --image busybox (or --rootfs DIR)"))
        }
        (None, None) => return Ok(None),
    };
    let mut root = Root::default();
    root.set_path(path).set_readonly(Some(args.read_only));
    Ok(Some(root))
}

/// `mounts`: each `-v HOST:CTR[:ro|:rw]` as a bind mount, in the order given.
fn volumes(flags: &[String]) -> Result<Vec<Mount>, Failure> {
    flags.iter().map(|flag| volume(flag)).collect()
}

/// One `-v HOST:CTR[:ro|:rw]`: both paths absolute, no `..` inside the container, the host
/// path resolved now (so the spec names what will really be mounted).
fn volume(flag: &str) -> Result<Mount, Failure> {
    let bad = |why: &str| {
        Failure::new(format!("invalid -v {flag:?}: {why}"))
            .hint("write -v /host/dir:/dir/in/container, and add :ro to make it read-only")
    };
    let parts: Vec<&str> = flag.split(':').collect();
    let (host, container, mode) = match parts.as_slice() {
        [host, container] => (*host, *container, "rw"),
        [host, container, mode @ ("ro" | "rw")] => (*host, *container, *mode),
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
    let mut mount = Mount::default();
    mount
        .set_destination(container.into())
        .set_typ(Some("bind".into()))
        .set_source(Some(host))
        .set_options(Some(vec!["rbind".into(), mode.into()]));
    Ok(mount)
}

/// `linux`: the namespaces of this chapter, the resources, and the cgroup path. No masked
/// or read-only paths, no seccomp: those arrive with the security chapter (09).
fn linux(args: &RunArgs, chapter: u8, id: &str) -> Result<Linux, Failure> {
    let namespaces: Vec<LinuxNamespace> = NAMESPACES
        .iter()
        .filter(|(_, brought_in)| *brought_in <= chapter)
        .map(|(typ, _)| {
            let mut namespace = LinuxNamespace::default();
            namespace.set_typ(*typ);
            namespace
        })
        .collect();
    let resources = resources(args)?;
    let cgroups_path = (chapter >= 3).then(|| PathBuf::from(format!("/boxcar/{id}")));
    let mut linux = Linux::default();
    linux
        .set_namespaces(Some(namespaces))
        .set_resources((resources != LinuxResources::default()).then_some(resources))
        .set_cgroups_path(cgroups_path)
        .set_masked_paths(None)
        .set_readonly_paths(None);
    Ok(linux)
}

/// `linux.resources` from `--memory`, `--cpus` and `--pids-limit`, as docker fills them.
fn resources(args: &RunArgs) -> Result<LinuxResources, Failure> {
    let mut resources = LinuxResources::default();
    if let Some(text) = &args.memory {
        let bytes = parse_memory(text)? as i64;
        let mut memory = LinuxMemory::default();
        // swap is memory + swap in the spec: equal to the limit means no swap on top.
        memory.set_limit(Some(bytes)).set_swap(Some(bytes));
        resources.set_memory(Some(memory));
    }
    if let Some(text) = &args.cpus {
        let quota = parse_cpus(text, online_cpus())?;
        let mut cpu = LinuxCpu::default();
        cpu.set_quota(Some(quota as i64))
            .set_period(Some(CPU_PERIOD_US));
        resources.set_cpu(Some(cpu));
    }
    if let Some(text) = &args.pids_limit {
        let mut pids = LinuxPids::default();
        pids.set_limit(parse_pids(text)? as i64);
        resources.set_pids(Some(pids));
    }
    Ok(resources)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn args(command: &[&str], env: &[&str]) -> RunArgs {
        RunArgs {
            command: command.iter().map(|s| s.to_string()).collect(),
            env: env.iter().map(|s| s.to_string()).collect(),
            ..RunArgs::default()
        }
    }

    fn env_of(container: &Container) -> Vec<String> {
        container.process().env().clone().unwrap_or_default()
    }

    #[test]
    fn the_environment_is_clean_with_docker_defaults() {
        let container = Container::from_run_args(&args(&["sh"], &[]), 1).unwrap();
        let hostname = format!("HOSTNAME={}", container.id);
        assert_eq!(
            env_of(&container),
            [
                format!("PATH={DEFAULT_PATH}"),
                hostname,
                "HOME=/root".into()
            ]
        );
    }

    #[test]
    fn dash_e_overrides_and_adds() {
        let container =
            Container::from_run_args(&args(&["sh"], &["HOME=/tmp", "A=b=c"]), 1).unwrap();
        let env = env_of(&container);
        assert!(env.contains(&"HOME=/tmp".into()) && env.contains(&"A=b=c".into()));
        assert!(!env.contains(&"HOME=/root".into()));
    }

    #[test]
    fn an_unnamed_variable_is_refused() {
        assert!(Container::from_run_args(&args(&["sh"], &["=x"]), 1).is_err());
    }

    #[test]
    fn the_name_is_the_default_hostname_and_the_id_is_generated() {
        let mut run = args(&["sh"], &[]);
        run.name = Some("web".into());
        let container = Container::from_run_args(&run, 1).unwrap();
        assert_eq!(container.hostname(), "web");
        assert_eq!(container.host.name, "web");
        assert_eq!(container.id.len(), 12);
        run.hostname = Some("box".into());
        assert_eq!(Container::from_run_args(&run, 1).unwrap().hostname(), "box");
        run.name = Some("../x".into());
        assert!(Container::from_run_args(&run, 1).is_err());
    }

    #[test]
    fn each_chapter_lists_its_namespaces() {
        let types = |chapter| {
            Container::from_run_args(&args(&["sh"], &[]), chapter)
                .unwrap()
                .namespaces()
                .iter()
                .map(|ns| ns.typ())
                .collect::<Vec<_>>()
        };
        assert_eq!(types(1), [LinuxNamespaceType::Uts, LinuxNamespaceType::Ipc]);
        assert_eq!(types(2).len(), 4);
        assert!(!types(6).contains(&LinuxNamespaceType::Network));
        assert!(types(7).contains(&LinuxNamespaceType::Network));
    }

    #[test]
    fn the_network_is_bridge_by_default_from_chapter_07() {
        let mut run = args(&["sh"], &[]);
        assert_eq!(
            Container::from_run_args(&run, 6).unwrap().host.network,
            None
        );
        let network = |run: &RunArgs| Container::from_run_args(run, 7).map(|c| c.host.network);
        assert_eq!(network(&run).unwrap().as_deref(), Some("bridge"));
        run.net = Some("none".into());
        assert_eq!(network(&run).unwrap().as_deref(), Some("none"));
        run.net = Some("host".into());
        assert!(network(&run).is_err());
    }

    #[test]
    fn limits_become_linux_resources() {
        let mut run = args(&["sh"], &[]);
        run.memory = Some("64m".into());
        run.cpus = Some("0.5".into());
        run.pids_limit = Some("32".into());
        let resources = Container::from_run_args(&run, 3).unwrap().resources();
        let memory = resources.memory().unwrap();
        assert_eq!(memory.limit(), Some(64 << 20));
        assert_eq!(memory.swap(), Some(64 << 20));
        let cpu = resources.cpu().clone().unwrap();
        assert_eq!((cpu.quota(), cpu.period()), (Some(50_000), Some(100_000)));
        assert_eq!(resources.pids().unwrap().limit(), 32);
    }

    #[test]
    fn the_spec_is_runc_shaped_json() {
        let mut run = args(&["sh", "-c", "true"], &[]);
        run.image = Some("busybox".into());
        run.read_only = true;
        run.volumes = vec!["/tmp:/data:ro".into()];
        let container = Container::from_run_args(&run, 5).unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&container.config_json().unwrap()).unwrap();
        assert_eq!(json["ociVersion"], OCI_VERSION);
        assert_eq!(json["process"]["args"][2], "true");
        assert_eq!(json["process"]["cwd"], "/");
        assert_eq!(json["root"]["path"], "rootfs");
        assert_eq!(json["root"]["readonly"], true);
        assert_eq!(json["mounts"][0]["destination"], "/data");
        assert_eq!(json["mounts"][0]["options"][1], "ro");
        assert!(json["process"].get("capabilities").is_none());
        assert_eq!(
            json["linux"]["cgroupsPath"],
            format!("/boxcar/{}", container.id)
        );
    }

    #[test]
    fn volumes_and_roots_are_checked() {
        for bad in [
            "/tmp",
            "tmp:/x",
            "/tmp:x",
            "/tmp:/x:rx",
            "/tmp:/a/../b",
            "/nope-x:/x",
        ] {
            assert!(volume(bad).is_err(), "{bad}");
        }
        let mut run = args(&["sh"], &[]);
        run.read_only = true;
        assert!(Container::from_run_args(&run, 5).is_err());
    }

    #[test]
    fn memory_sizes_use_docker_suffixes() {
        assert_eq!(parse_memory("64m").unwrap(), 64 << 20);
        assert_eq!(parse_memory("1G").unwrap(), 1 << 30);
        assert_eq!(parse_memory("8192k").unwrap(), 8 << 20);
        assert_eq!(parse_memory("7340032").unwrap(), 7 << 20);
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
}
