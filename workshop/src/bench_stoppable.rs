//! `bench --stoppable`: chapter 08's claims, measured side by side in one run.
//!
//! For two images — busybox running `/bin/true`, and a Debian-sized one (debootstrap's
//! minbase bookworm plus python3-minimal and libpython3.11-stdlib) running
//! `python3 -c 'import json, http.server'` — one hyperfine run each times, with `--net none`
//! and `--net bridge`:
//!
//! - **cold**: the first run of a freshly imported image (its layer extracted on the clock);
//! - **warm**: `start -a` of a stopped container (a new instance over its kept upper layer);
//! - **hot**: `start -a` of a created one (its init already waits at the exec fifo);
//! - `exec ID -- /bin/true` into a running container, and stop with and without `--init`;
//! - beside `crun run` and `crun exec` on the same root filesystem, the floor (`unshare` +
//!   `chroot`), and GNU tar extracting the same archive.
//!
//! Then density: N detached `sleep` containers over busybox, their start rate and memory
//! per container, beside N crun containers. Everything lives in a fresh
//! `/tmp/boxcar-bench-<random>` (see [`bench::Workdir`]) and a network namespace of the
//! bench's own. The reference runtimes' cgroups are under `boxcar/`, each held by an owner
//! lock (chapter 03) so that boxcar's sweep of stale cgroups leaves them alone.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use boxcar::cgroupfs::{self, Layout};
use boxcar::image::Store;
use ch03_solution::owner::Owner;

use crate::bench::{
    self, choose_crun, choose_runtime, command_line, on_path, own_network_namespace, quote,
    run_quietly, Contender, Timing, Workdir, CRUN, FLOOR,
};
use crate::build;
use crate::images::build_busybox;

/// Timed runs per command, unless `--runs` says otherwise (a cold Debian run takes seconds).
pub const DEFAULT_RUNS: u32 = 10;
/// Containers in the density run, unless `--density` says otherwise.
pub const DEFAULT_DENSITY: usize = 200;
/// The chapter that brings create, start, stop and exec.
const STOPPABLE_CHAPTER: u8 = 8;
/// Untimed runs per command first.
const WARMUP: u32 = 2;
/// What the page is, beside the book's chapter 08 page.
const PAGE: &str = "benchmarks-ch08.md";

/// What `cargo boxcar bench --stoppable` was asked for.
#[derive(Debug, Clone)]
pub struct Options {
    pub runtime: Option<String>,
    pub runs: u32,
    pub density: usize,
    pub write_book: bool,
}

/// One image of the comparison and what runs in it.
struct Image {
    name: &'static str,
    workload: Vec<String>,
    /// Unpacked, for crun and the floor.
    rootfs: PathBuf,
    /// The archive imported, for GNU tar (the Debian image only).
    archive: Option<PathBuf>,
}

/// A timed command, with what must run before each of its runs (a shell script, or none).
struct Row {
    contender: Contender,
    prepare: Option<String>,
}

/// The results of one image.
struct Measured {
    image: &'static str,
    workload: String,
    rows: Vec<(String, String)>,
    timings: Vec<Timing>,
    crun_notes: Vec<String>,
}

/// Density: start rate and memory per container.
struct Density {
    name: String,
    count: usize,
    seconds: f64,
    /// Bytes: the containers' memory cgroups, kernel slab and page tables, and (boxcar) the
    /// monitors' proportional set size.
    memcg: u64,
    kernel: u64,
    monitors: u64,
}

pub fn bench(options: &Options) -> Result<bool> {
    if !nix::unistd::geteuid().is_root() {
        bail!("bench must run as root, it starts containers: run it as cargo boxcar bench --stoppable (its runner uses sudo) or with sudo");
    }
    let missing: Vec<&str> = ["hyperfine", "crun", "tar", "debootstrap"]
        .into_iter()
        .filter(|tool| !on_path(tool))
        .collect();
    if !missing.is_empty() {
        bail!(
            "bench --stoppable needs {}: sudo apt-get install {}",
            missing.join(" and "),
            missing.join(" ")
        );
    }
    bench::reclaim_stale();
    let (package, chapter) =
        choose_runtime(options.runtime.as_deref(), &build::solution_chapters())?;
    if chapter < STOPPABLE_CHAPTER {
        bail!("bench --stoppable times create, start and exec, which arrive in chapter 08: bench a chapter from 08 on");
    }
    bench::catch_interrupts();
    let archive = debian_archive()?;
    eprintln!("building {package} (release)…");
    let binary = build::build_binary_release(&package)?;
    bench::check_interrupted()?;

    let work = Workdir::create()?;
    own_network_namespace()?;
    let layout = cgroupfs::layout(Path::new(cgroupfs::CGROUP_ROOT));
    let state = work.path().join("state");
    let cold = work.path().join("cold");
    for root in [&state, &cold] {
        build_busybox(&Store::new(root), "busybox", &[])?;
        boxcar_quietly(
            &binary,
            root,
            &["import", &archive.to_string_lossy(), "debian"],
        )?;
    }
    let images = [
        Image {
            name: "busybox",
            workload: vec!["/bin/true".into()],
            rootfs: work.path().join("rootfs-busybox"),
            archive: None,
        },
        Image {
            name: "debian",
            workload: ["python3", "-c", "import json, http.server"]
                .map(String::from)
                .to_vec(),
            rootfs: work.path().join("rootfs-debian"),
            archive: Some(archive.clone()),
        },
    ];
    let cleanup = RemoveAll {
        binary: binary.clone(),
        roots: vec![state.clone(), cold.clone()],
    };
    let mut measured = Vec::new();
    for image in &images {
        eprintln!("unpacking {} for crun and the floor…", image.name);
        ch04_solution::unpack::unpack(&Store::new(&state), image.name, &image.rootfs)?;
        bench::check_interrupted()?;
        measured.push(time_image(
            &binary,
            &work,
            layout,
            &state,
            &cold,
            image,
            options.runs,
        )?);
        bench::check_interrupted()?;
    }
    let density = vec![
        boxcar_density(&binary, &state, options.density)?,
        crun_density(&work, layout, &images[0].rootfs, options.density)?,
    ];
    let machine = bench::machine(layout);
    let page = render_page(&package, options, &measured, &density, &machine);
    println!("{page}");
    drop(cleanup);
    drop(work);
    if options.write_book {
        let mut files = vec![(PAGE.to_string(), page)];
        for m in &measured {
            files.push((plot_name(m.image), bench::render_svg(&m.timings)));
        }
        bench::write_book_files(files)?;
    }
    Ok(true)
}

fn plot_name(image: &str) -> String {
    format!("benchmarks-ch08-{image}.svg")
}

/// The Debian-sized archive, made once with debootstrap (minbase bookworm plus python3,
/// from Debian's mirror) and cached under target/.
fn debian_archive() -> Result<PathBuf> {
    let cache = build::workspace_dir().join("target/bench-cache");
    let archive = cache.join("debian-bookworm-python3-stdlib.tar.gz");
    if archive.is_file() {
        return Ok(archive);
    }
    std::fs::create_dir_all(&cache)
        .with_context(|| format!("cannot create {}", cache.display()))?;
    let root = cache.join("debian-root");
    if root.exists() {
        std::fs::remove_dir_all(&root)
            .with_context(|| format!("cannot remove {}", root.display()))?;
    }
    eprintln!("making the Debian-sized image with debootstrap (once; a few minutes)…");
    run_quietly(
        Command::new("debootstrap").args([
            "--variant=minbase",
            // python3-minimal alone has no json: libpython3.11-stdlib brings it and http.server.
            "--include=python3-minimal,libpython3.11-stdlib",
            "bookworm",
            &root.to_string_lossy(),
            "http://deb.debian.org/debian",
        ]),
        "debootstrap",
    )?;
    // Device nodes, /proc and /sys are the runtime's to provide, not the image's.
    let partial = cache.join("debian.tar.gz.partial");
    run_quietly(
        Command::new("tar")
            .args(["--numeric-owner", "--exclude=./dev/*", "--exclude=./proc/*"])
            .args(["--exclude=./sys/*", "-czf"])
            .arg(&partial)
            .arg("-C")
            .arg(&root)
            .arg("."),
        "tar",
    )?;
    std::fs::rename(&partial, &archive)
        .with_context(|| format!("cannot create {}", archive.display()))?;
    let _ = std::fs::remove_dir_all(&root);
    Ok(archive)
}

/// Run the runtime with `BOXCAR_ROOT=root`; it must exit 0. Returns its stdout.
fn boxcar_quietly(binary: &Path, root: &Path, args: &[&str]) -> Result<String> {
    let output = Command::new(binary)
        .args(args)
        .env("BOXCAR_ROOT", root)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", binary.display()))?;
    if !output.status.success() {
        bail!(
            "`{} {}` failed: {}",
            binary.display(),
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// `binary ARGS` as words, and as the page shows it.
fn ours(binary: &Path, name: &str, args: &[&str], workload: &[String]) -> Contender {
    let mut words = vec![binary.to_string_lossy().into_owned()];
    words.extend(args.iter().map(|a| a.to_string()));
    words.extend(workload.iter().cloned());
    let shown_tail: Vec<String> = words[1..].iter().map(|w| quote(w)).collect();
    Contender {
        name: name.into(),
        args: words,
        shown: format!("ch08 {}", shown_tail.join(" ")),
    }
}

/// A command line of the runtime for a prepare script, output silenced.
fn script_line(binary: &Path, args: &[&str], workload: &[String]) -> String {
    let mut words = vec![binary.to_string_lossy().into_owned()];
    words.extend(args.iter().map(|a| a.to_string()));
    words.extend(workload.iter().cloned());
    format!("{} >/dev/null 2>&1", command_line(&words))
}

/// Time every row of one image in one hyperfine run.
fn time_image(
    binary: &Path,
    work: &Workdir,
    layout: Layout,
    state: &Path,
    cold: &Path,
    image: &Image,
    runs: u32,
) -> Result<Measured> {
    let mut rows = our_rows(binary, state, cold, image)?;
    let reference = reference_rows(work, layout, state, image)?;
    rows.extend(reference.rows);
    eprintln!(
        "timing {}: {} commands × {runs} runs…",
        image.name,
        rows.len()
    );
    let timings = hyperfine(work, state, &rows, runs, image.name)?;
    drop(reference.kept);
    let names = [
        "warm-none",
        "warm-bridge",
        "hot-none",
        "hot-bridge",
        "exec",
        "stop-plain",
        "stop-init",
    ];
    boxcar_quietly(
        binary,
        state,
        &with(&["rm", "-f"], &names.map(String::from)),
    )?;
    Ok(Measured {
        image: image.name,
        workload: command_line(&image.workload),
        rows: rows
            .iter()
            .map(|r| (r.contender.name.clone(), r.contender.shown.clone()))
            .collect(),
        timings,
        crun_notes: reference.notes,
    })
}

/// The reference rows, and what must live while they are timed.
struct Reference {
    rows: Vec<Row>,
    notes: Vec<String>,
    kept: (Owner, CrunContainer),
}

/// boxcar's rows: cold, warm and hot with each network, exec, stop without and with an
/// init; the containers warm, exec and stop need are made here.
fn our_rows(binary: &Path, state: &Path, cold: &Path, image: &Image) -> Result<Vec<Row>> {
    let name = image.name;
    let workload = &image.workload;
    let sleep = vec!["sleep".to_string(), "1000000".to_string()];
    let mut rows = Vec::new();
    for net in ["none", "bridge"] {
        let run = ["run", "--rm", "--net", net, "--image", name, "--"];
        let mut cold_run = ours(binary, &format!("cold --net {net}"), &run, workload);
        cold_run.args.splice(
            0..0,
            ["env".to_string(), format!("BOXCAR_ROOT={}", cold.display())],
        );
        rows.push(Row {
            contender: cold_run,
            // A fresh import: the image's layers are not extracted yet.
            prepare: Some(format!(
                "rm -rf {}",
                quote(&cold.join("layers").to_string_lossy())
            )),
        });
    }
    for net in ["none", "bridge"] {
        let warm = format!("warm-{net}");
        let create = [
            "create", "--name", &warm, "--net", net, "--image", name, "--",
        ];
        boxcar_quietly(binary, state, &with(&create, workload))?;
        boxcar_quietly(binary, state, &["start", "-a", &warm])?;
        rows.push(Row {
            contender: ours(
                binary,
                &format!("warm --net {net}"),
                &["start", "-a", &warm],
                &[],
            ),
            prepare: None,
        });
    }
    for net in ["none", "bridge"] {
        let hot = format!("hot-{net}");
        let create = [
            "create", "--name", &hot, "--net", net, "--image", name, "--",
        ];
        let prepare = format!(
            "{}; {}",
            script_line(binary, &["rm", "-f", &hot], &[]),
            script_line(binary, &create, workload)
        );
        rows.push(Row {
            contender: ours(
                binary,
                &format!("hot --net {net}"),
                &["start", "-a", &hot],
                &[],
            ),
            prepare: Some(prepare),
        });
    }
    let exec_args = [
        "run", "-d", "--name", "exec", "--net", "none", "--image", name, "--",
    ];
    boxcar_quietly(binary, state, &with(&exec_args, &sleep))?;
    rows.push(Row {
        contender: ours(binary, "exec", &["exec", "exec", "--", "/bin/true"], &[]),
        prepare: None,
    });
    for (label, init, timeout) in [("stop -t 1", false, "1"), ("stop --init", true, "10")] {
        let container = if init { "stop-init" } else { "stop-plain" };
        let mut create = vec!["create", "--name", container, "--net", "none"];
        if init {
            create.push("--init");
        }
        create.extend(["--image", name, "--"]);
        boxcar_quietly(binary, state, &with(&create, &sleep))?;
        rows.push(Row {
            contender: ours(binary, label, &["stop", "-t", timeout, container], &[]),
            prepare: Some(script_line(binary, &["start", container], &[])),
        });
    }

    Ok(rows)
}

/// The reference rows: crun run and crun exec on the same root filesystem (their cgroups
/// under boxcar/), the floor, and GNU tar extracting the same archive.
fn reference_rows(
    work: &Workdir,
    layout: Layout,
    state: &Path,
    image: &Image,
) -> Result<Reference> {
    let name = image.name;
    let workload = &image.workload;
    let mut rows = Vec::new();
    let bundle = work.path().join(format!("bundle-{name}"));
    let crun_id = work.container_id(&format!("crun-{name}"));
    let crun_owner = write_bundle(&bundle, &image.rootfs, workload, &crun_id)?;
    let (crun, crun_notes) = choose_crun(layout, &bundle, &crun_id, state);
    let crun_run = crun.map(|mut c| {
        c.name = format!("{CRUN} run");
        c
    });
    rows.extend(crun_run.map(|contender| Row {
        contender,
        prepare: None,
    }));
    let exec_target = CrunContainer::start(work, layout, &image.rootfs, &format!("exec-{name}"))?;
    rows.push(Row {
        contender: Contender {
            name: format!("{CRUN} exec"),
            args: vec![
                "crun".into(),
                "exec".into(),
                exec_target.id.clone(),
                "/bin/true".into(),
            ],
            shown: "crun exec ID /bin/true".into(),
        },
        prepare: None,
    });
    let unshare = [
        "unshare", "--fork", "--pid", "--mount", "--uts", "--ipc", "--net", "chroot",
    ];
    let mut floor: Vec<String> = unshare.iter().map(|w| w.to_string()).collect();
    floor.push(image.rootfs.to_string_lossy().into_owned());
    floor.extend(workload.iter().cloned());
    rows.push(Row {
        contender: Contender {
            name: FLOOR.into(),
            shown: format!(
                "unshare --fork --pid --mount --uts --ipc --net chroot ROOTFS {}",
                command_line(workload)
            ),
            args: floor,
        },
        prepare: None,
    });
    if let Some(archive) = &image.archive {
        let dir = work.path().join("gnu-tar");
        let dir_text = quote(&dir.to_string_lossy());
        rows.push(Row {
            contender: Contender {
                name: "GNU tar -xzf".into(),
                args: vec![
                    "tar".into(),
                    "-xzf".into(),
                    archive.to_string_lossy().into_owned(),
                    "-C".into(),
                    dir.to_string_lossy().into_owned(),
                ],
                shown: "tar -xzf ARCHIVE -C DIR".into(),
            },
            prepare: Some(format!("rm -rf {dir_text} && mkdir {dir_text}")),
        });
    }

    Ok(Reference {
        rows,
        notes: crun_notes,
        kept: (crun_owner, exec_target),
    })
}

fn with<'a>(args: &[&'a str], more: &'a [String]) -> Vec<&'a str> {
    let mut all = args.to_vec();
    all.extend(more.iter().map(String::as_str));
    all
}

/// Run hyperfine once over `rows`; each row's prepare (or `true`) before each of its runs.
fn hyperfine(
    work: &Workdir,
    state: &Path,
    rows: &[Row],
    runs: u32,
    image: &str,
) -> Result<Vec<Timing>> {
    let export = work.path().join(format!("hyperfine-{image}.json"));
    let mut command = Command::new("hyperfine");
    command
        .args(["-N", "--warmup", &WARMUP.to_string()])
        .args(["--runs", &runs.to_string()])
        .arg("--export-json")
        .arg(&export)
        .env("BOXCAR_ROOT", state);
    for row in rows {
        let prepare = match &row.prepare {
            Some(script) => command_line(&["sh".into(), "-c".into(), script.clone()]),
            None => "true".into(),
        };
        command.arg("--prepare").arg(prepare);
    }
    for row in rows {
        command
            .arg("-n")
            .arg(&row.contender.name)
            .arg(command_line(&row.contender.args));
    }
    let status = command.status().context("cannot run hyperfine")?;
    bench::check_interrupted()?;
    if !status.success() {
        bail!("hyperfine failed ({status}); its messages are above");
    }
    let json = std::fs::read_to_string(&export)
        .with_context(|| format!("cannot read {}", export.display()))?;
    bench::parse_export(&json)
}

/// A bundle running `workload` read-only in `rootfs`, its cgroup `boxcar/<id>`; the owner
/// lock returned keeps boxcar's stale-cgroup sweep away from it while it is held.
fn write_bundle(bundle: &Path, rootfs: &Path, workload: &[String], id: &str) -> Result<Owner> {
    std::fs::create_dir_all(bundle)
        .with_context(|| format!("cannot create {}", bundle.display()))?;
    run_quietly(
        Command::new("runc").args(["spec"]).current_dir(bundle),
        "runc spec",
    )?;
    let path = bundle.join("config.json");
    let spec = std::fs::read_to_string(&path)?;
    let mut config: serde_json::Value =
        serde_json::from_str(&bench::bundle_config(&spec, rootfs)?.text)?;
    config["process"]["args"] = serde_json::json!(workload);
    config["linux"]["cgroupsPath"] = serde_json::json!(format!("/boxcar/{id}"));
    std::fs::write(&path, serde_json::to_string_pretty(&config)?)?;
    Owner::try_take(id)
        .map_err(|failure| anyhow::anyhow!("{failure}"))?
        .with_context(|| format!("the owner lock of {id} is taken"))
}

/// When dropped (at the end, on error, after Ctrl-C), `rm -f` every container the runtime
/// still has in `roots`, so no monitor or container outlives the bench.
struct RemoveAll {
    binary: PathBuf,
    roots: Vec<PathBuf>,
}

impl Drop for RemoveAll {
    fn drop(&mut self) {
        for root in &self.roots {
            let ids: Vec<String> = std::fs::read_dir(root.join("containers"))
                .into_iter()
                .flatten()
                .flatten()
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect();
            if ids.is_empty() {
                continue;
            }
            let _ = Command::new(&self.binary)
                .args(["rm", "-f"])
                .args(&ids)
                .env("BOXCAR_ROOT", root)
                .stdout(Stdio::null())
                .status();
        }
    }
}

/// A detached crun container (`sleep`), deleted when dropped.
struct CrunContainer {
    id: String,
    _owner: Owner,
}

impl CrunContainer {
    fn start(work: &Workdir, layout: Layout, rootfs: &Path, name: &str) -> Result<CrunContainer> {
        let id = work.container_id(&format!("crun-{name}"));
        let bundle = work.path().join(format!("bundle-{name}"));
        let sleep = ["sleep".to_string(), "1000000".to_string()];
        let owner = write_bundle(&bundle, rootfs, &sleep, &id)?;
        let run = format!(
            "exec crun run --detach --bundle {} {}",
            quote(&bundle.to_string_lossy()),
            quote(&id)
        );
        // As in the main bench: crun refuses a hybrid host unless cgroup2 is hidden from it.
        let script = match layout {
            Layout::Hybrid => format!("umount -l {}/unified && {run}", cgroupfs::CGROUP_ROOT),
            _ => run,
        };
        // Not through a pipe: the container inherits crun's stdout and stderr, and would
        // hold a pipe open for as long as it runs. Its messages go to a file instead.
        let messages = work.path().join(format!("crun-{name}.err"));
        let stderr = std::fs::File::create(&messages)
            .with_context(|| format!("cannot create {}", messages.display()))?;
        let status = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(&script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .status()
            .context("cannot run unshare")?;
        let container = CrunContainer { id, _owner: owner };
        if !status.success() {
            let said = std::fs::read_to_string(&messages).unwrap_or_default();
            bail!("crun run --detach failed ({status}): {}", said.trim());
        }
        Ok(container)
    }
}

impl Drop for CrunContainer {
    fn drop(&mut self) {
        let _ = Command::new("crun")
            .args(["delete", "-f", &self.id])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Kernel memory that grows with containers: slab and page tables, in bytes.
fn kernel_memory() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    meminfo
        .lines()
        .filter(|line| line.starts_with("Slab:") || line.starts_with("PageTables:"))
        .filter_map(|line| line.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum::<u64>()
        * 1024
}

/// The memory charged to cgroup `boxcar/<id>`, in bytes.
fn memcg_usage(id: &str) -> u64 {
    let root = Path::new(cgroupfs::CGROUP_ROOT);
    let file = match cgroupfs::layout(root) {
        Layout::V2 => root.join("boxcar").join(id).join("memory.current"),
        _ => root
            .join("memory/boxcar")
            .join(id)
            .join("memory.usage_in_bytes"),
    };
    std::fs::read_to_string(file)
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(0)
}

/// A process's proportional set size (smaps_rollup's Pss), in bytes.
fn pss(pid: i64) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    text.lines()
        .find(|line| line.starts_with("Pss:"))
        .and_then(|line| line.split_whitespace().nth(1)?.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

fn boxcar_density(binary: &Path, state: &Path, count: usize) -> Result<Density> {
    eprintln!("density: {count} boxcar containers…");
    let before = kernel_memory();
    let started = Instant::now();
    let mut ids = Vec::new();
    for i in 0..count {
        let name = format!("density-{i}");
        let args = [
            "run", "-d", "--name", &name, "--net", "none", "--image", "busybox",
        ];
        let out = boxcar_quietly(
            binary,
            state,
            &with(&args, &["--".into(), "sleep".into(), "1000000".into()]),
        )?;
        ids.push((name, out.trim().to_string()));
        bench::check_interrupted()?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let kernel = kernel_memory().saturating_sub(before);
    let memcg = ids.iter().map(|(_, id)| memcg_usage(id)).sum();
    let mut monitors = 0;
    for (name, _) in &ids {
        let seen: serde_json::Value =
            serde_json::from_str(&boxcar_quietly(binary, state, &["inspect", name])?)?;
        monitors += seen["instance"]["monitor"]["pid"].as_i64().map_or(0, pss);
    }
    let names: Vec<String> = ids.into_iter().map(|(name, _)| name).collect();
    boxcar_quietly(binary, state, &with(&["rm", "-f"], &names))?;
    Ok(Density {
        name: "boxcar run -d".into(),
        count,
        seconds,
        memcg,
        kernel,
        monitors,
    })
}

fn crun_density(work: &Workdir, layout: Layout, rootfs: &Path, count: usize) -> Result<Density> {
    eprintln!("density: {count} crun containers…");
    let before = kernel_memory();
    let started = Instant::now();
    let mut containers = Vec::new();
    for i in 0..count {
        containers.push(CrunContainer::start(
            work,
            layout,
            rootfs,
            &format!("density-{i}"),
        )?);
        bench::check_interrupted()?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let kernel = kernel_memory().saturating_sub(before);
    let memcg = containers.iter().map(|c| memcg_usage(&c.id)).sum();
    drop(containers);
    Ok(Density {
        name: "crun run --detach".into(),
        count,
        seconds,
        memcg,
        kernel,
        monitors: 0,
    })
}

fn median_of(timings: &[Timing], name: &str) -> Option<f64> {
    timings.iter().find(|t| t.name == name).map(|t| t.median)
}

/// Whether a goal holds: a ratio of two medians at most (or at least) a limit.
#[derive(Debug, Clone, Copy)]
enum Limit {
    AtMost(f64),
    AtLeast(f64),
}

/// A goal's line: what is compared, the ratio measured, the goal, met or not.
fn goal(what: &str, medians: Option<(f64, f64)>, limit: Limit) -> String {
    let Some((top, bottom)) = medians.filter(|(_, bottom)| *bottom > 0.0) else {
        return format!("– {what}: not measured in this run");
    };
    let ratio = top / bottom;
    let (met, wanted) = match limit {
        Limit::AtMost(most) => (ratio <= most, format!("at most {most}×")),
        Limit::AtLeast(least) => (ratio >= least, format!("at least {least}×")),
    };
    format!(
        "{} {what}: {top:.1} ms ÷ {bottom:.1} ms = {ratio:.2}× (goal: {wanted})",
        if met {
            "✓ met —"
        } else {
            "✗ not met —"
        }
    )
}

/// The goals for one image, each with what this run measured.
fn goals_of(m: &Measured) -> Vec<String> {
    let t = &m.timings;
    let pair = |a: &str, b: &str| Some((median_of(t, a)?, median_of(t, b)?));
    let crun_run = format!("{CRUN} run");
    let mut goals = vec![
        goal(
            "warm start (--net none) ÷ crun run",
            pair("warm --net none", &crun_run),
            Limit::AtMost(0.6),
        ),
        goal(
            "warm start (--net bridge) ÷ crun run",
            pair("warm --net bridge", &crun_run),
            Limit::AtMost(0.6),
        ),
        goal(
            "exec ÷ crun exec",
            pair("exec", &format!("{CRUN} exec")),
            Limit::AtMost(1.0),
        ),
    ];
    if m.image == "debian" {
        goals.push(goal(
            "cold ÷ warm (--net none)",
            pair("cold --net none", "warm --net none"),
            Limit::AtLeast(50.0),
        ));
        let extraction = pair("cold --net none", "hot --net none").map(|(c, h)| c - h);
        goals.push(goal(
            "the extraction inside cold (cold − hot) ÷ GNU tar -xzf",
            extraction.zip(median_of(t, "GNU tar -xzf")),
            Limit::AtMost(1.0),
        ));
    }
    goals
}

fn render_page(
    package: &str,
    options: &Options,
    measured: &[Measured],
    density: &[Density],
    machine: &bench::Machine,
) -> String {
    let mut page = String::new();
    let _ = write!(
        page,
        "<!-- Written by `cargo boxcar bench --stoppable --write-book` \
         (workshop/src/bench_stoppable.rs): run it again rather than editing the numbers. -->\n\n\
         `cargo boxcar bench --stoppable --runs {runs} --density {n}` built `{package}` with the \
         release profile and ran `hyperfine -N --warmup {WARMUP} --runs {runs}` once per image. \
         Measured on {machine}.\n",
        runs = options.runs,
        n = options.density,
        machine = bench::machine_line(machine),
    );
    for m in measured {
        let _ = write!(
            page,
            "\n### {image}: `{workload}`\n\n| command | median | mean ± σ | min | ÷ crun run |\n\
             |---|---:|---:|---:|---:|\n",
            image = m.image,
            workload = m.workload
        );
        let crun = median_of(&m.timings, &format!("{CRUN} run"));
        for t in &m.timings {
            let ratio = crun.map_or("–".into(), |c| format!("{:.2}×", t.median / c));
            let _ = writeln!(
                page,
                "| {} | {:.1} ms | {:.1} ± {:.1} ms | {:.1} ms | {ratio} |",
                t.name, t.median, t.mean, t.stddev, t.min
            );
        }
        let _ = write!(
            page,
            "\n![Every run of every command, {image}]({plot})\n\n<details><summary>The \
             commands</summary>\n\n| name | command |\n|---|---|\n",
            image = m.image,
            plot = plot_name(m.image)
        );
        for (name, shown) in &m.rows {
            let _ = writeln!(page, "| {name} | `{}` |", shown.replace('|', "\\|"));
        }
        page.push_str("\n</details>\n");
        for note in &m.crun_notes {
            let _ = write!(page, "\n{note}\n");
        }
        let goals = goals_of(m);
        let _ = write!(page, "\nGoals, {}:\n\n", m.image);
        for line in goals {
            let _ = writeln!(page, "- {line}");
        }
    }
    page.push_str(
        "\n### Density: detached `sleep` containers over busybox\n\n\
         | runtime | containers | started in | per container | memory cgroups | kernel slab + page tables | monitors (Pss) | memory per container |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let mib = |bytes: u64| bytes as f64 / 1048576.0;
    for d in density {
        let n = d.count.max(1) as u64;
        let _ = writeln!(
            page,
            "| {} | {} | {:.1} s | {:.1} ms | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:.2} MiB |",
            d.name,
            d.count,
            d.seconds,
            d.seconds * 1000.0 / d.count.max(1) as f64,
            mib(d.memcg),
            mib(d.kernel),
            mib(d.monitors),
            mib((d.memcg + d.kernel + d.monitors) / n)
        );
    }
    page.push_str(
        "\nThe kernel's slab and page tables are the whole machine's growth during the run: \
         another process allocating meanwhile is counted too. crun has no monitor: under \
         podman, conmon (about as large as ours) would sit beside each container.\n",
    );
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(name: &str, median: f64) -> Timing {
        Timing {
            name: name.into(),
            median,
            mean: median,
            stddev: 0.0,
            min: median,
            runs: 1,
            times: vec![median],
        }
    }

    #[test]
    fn a_goal_says_the_ratio_and_whether_it_holds() {
        let met = goal("warm ÷ crun run", Some((10.0, 40.0)), Limit::AtMost(0.6));
        assert_eq!(
            met,
            "✓ met — warm ÷ crun run: 10.0 ms ÷ 40.0 ms = 0.25× (goal: at most 0.6×)"
        );
        let missed = goal("cold ÷ warm", Some((400.0, 10.0)), Limit::AtLeast(50.0));
        assert!(missed.starts_with("✗ not met — cold ÷ warm"), "{missed}");
        assert!(goal("x", None, Limit::AtMost(1.0)).starts_with("– x: not measured"));
    }

    #[test]
    fn the_debian_goals_include_cold_over_warm_and_the_extraction() {
        let measured = Measured {
            image: "debian",
            workload: "python3".into(),
            rows: Vec::new(),
            timings: vec![
                timing("cold --net none", 2000.0),
                timing("warm --net none", 30.0),
                timing("hot --net none", 20.0),
                timing("crun run", 60.0),
                timing("exec", 9.0),
                timing("crun exec", 10.0),
                timing("GNU tar -xzf", 2500.0),
            ],
            crun_notes: Vec::new(),
        };
        let goals = goals_of(&measured).join("\n");
        assert!(
            goals.contains("✓ met — warm start (--net none) ÷ crun run: 30.0 ms ÷ 60.0 ms = 0.50×"),
            "{goals}"
        );
        assert!(
            goals.contains("– warm start (--net bridge) ÷ crun run: not measured"),
            "{goals}"
        );
        assert!(goals.contains("✓ met — exec ÷ crun exec"), "{goals}");
        assert!(
            goals.contains("✓ met — cold ÷ warm (--net none): 2000.0 ms ÷ 30.0 ms = 66.67×"),
            "{goals}"
        );
        assert!(
            goals.contains("(cold − hot) ÷ GNU tar -xzf: 1980.0 ms ÷ 2500.0 ms = 0.79×"),
            "{goals}"
        );
    }
}
