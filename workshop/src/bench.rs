//! `bench`: how long a container that runs `/bin/true` takes, from the runtime's exec to its
//! exit, for boxcar, runc, crun and the floor (`unshare` + `chroot`), side by side.
//!
//! One hyperfine run times every command (`-N`: no shell, so a time is one whole process);
//! the medians, with the machine they were measured on, are printed and, with `--write-book`,
//! written into the book's Benchmarks page, with a plot of every run (`benchmarks.svg`) and
//! hyperfine's own export (`benchmarks.json`) beside it. Everything it creates lives in a fresh
//! `/tmp/boxcar-bench-<random>` that is removed at the end, on error, on Ctrl-C, and (after a
//! SIGKILL) by the next `bench`.

use std::fmt::Write as _;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::build;
use boxcar::cgroupfs::{self, Layout};
use boxcar::image::Store;

use crate::images::build_busybox;

/// Timed runs per command, unless `--runs` says otherwise.
pub const DEFAULT_RUNS: u32 = 50;
/// Untimed runs per command first: page cache, dentries and (chapter 06) the image's layer
/// extracted once into the state root.
pub const WARMUP: u32 = 5;
/// The chapter that brings `--image` (an image unpacked and chrooted into).
const IMAGE_CHAPTER: u8 = 4;
/// The chapter that brings `run --rm`; earlier runtimes refuse the flag.
const RM_CHAPTER: u8 = 6;
/// The chapter that brings the network namespace.
const NET_CHAPTER: u8 = 7;

/// The names hyperfine and the table give the reference commands.
pub const RUNC: &str = "runc";
pub const CRUN_HIDDEN: &str = "crun (unified hidden)";
pub const CRUN: &str = "crun";
pub const FLOOR: &str = "floor: unshare+chroot";
/// The floor's twin without a network namespace: like for like with a runtime from before
/// chapter 07, which creates none.
pub const FLOOR_NO_NET: &str = "floor without --net";

/// Where the scratch directories go, and what they are called.
const SCRATCH_PARENT: &str = "/tmp";
const SCRATCH_PREFIX: &str = "boxcar-bench-";

/// What `cargo boxcar bench` was asked for.
#[derive(Debug, Clone)]
pub struct Options {
    /// The runtime's package, e.g. `ch06-solution`; by default the newest solution.
    pub runtime: Option<String>,
    pub runs: u32,
    pub write_book: bool,
}

/// Times of one command, in milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    pub name: String,
    pub median: f64,
    pub mean: f64,
    pub stddev: f64,
    pub min: f64,
    pub runs: usize,
    /// Every timed run, in milliseconds, for the plot.
    pub times: Vec<f64>,
}

/// One command of the comparison.
#[derive(Debug, Clone)]
pub(crate) struct Contender {
    pub(crate) name: String,
    /// The program and its arguments, as run.
    pub(crate) args: Vec<String>,
    /// The command as the page shows it: temporary paths replaced by placeholders.
    pub(crate) shown: String,
}

/// What the machine is, for the page.
#[derive(Debug, Clone)]
pub(crate) struct Machine {
    cpus: usize,
    model: String,
    virtual_machine: bool,
    kernel: String,
    cgroups: &'static str,
    scratch_fs: String,
    date: String,
    /// (tool, version) of hyperfine, runc and crun.
    versions: Vec<(&'static str, String)>,
}

/// Everything the page and the summary are made of.
#[derive(Debug, Clone)]
struct Report {
    package: String,
    chapter: u8,
    runs: u32,
    contenders: Vec<Contender>,
    timings: Vec<Timing>,
    /// What crun's time includes, or why it is not in the table.
    crun_notes: Vec<String>,
    runc_namespaces: Vec<String>,
    machine: Machine,
}

/// Run the benchmark; print the table; with `write_book`, write the Benchmarks page.
pub fn bench(options: &Options) -> Result<bool> {
    if !nix::unistd::geteuid().is_root() {
        bail!(
            "bench must run as root, it starts containers: run it through cargo \
             (cargo boxcar bench; its runner uses sudo) or with sudo"
        );
    }
    let missing: Vec<&str> = ["hyperfine", "runc"]
        .into_iter()
        .filter(|tool| !on_path(tool))
        .collect();
    if !missing.is_empty() {
        bail!(
            "bench needs {}: sudo apt-get install {}",
            missing.join(" and "),
            missing.join(" ")
        );
    }
    reclaim_stale();
    let (package, chapter) =
        choose_runtime(options.runtime.as_deref(), &build::solution_chapters())?;
    if chapter < IMAGE_CHAPTER {
        bail!(
            "chapter {chapter:02}'s runtime has no --image (it arrives in chapter 04): \
             bench a chapter from 04 on"
        );
    }
    catch_interrupts();

    eprintln!("building {package} (release)…");
    let binary = build::build_binary_release(&package)?;
    check_interrupted()?;

    let work = Workdir::create()?;
    let Prepared {
        state_root,
        rootfs,
        bundle,
        runc_namespaces,
    } = prepare(&work)?;
    check_interrupted()?;

    let layout = cgroupfs::layout(Path::new(cgroupfs::CGROUP_ROOT));
    let runc_id = work.container_id(RUNC);
    let crun_id = work.container_id(CRUN);
    let mut contenders = vec![
        boxcar_contender(&package, chapter, &binary),
        Contender {
            name: RUNC.into(),
            args: words(&["runc", "run", "--bundle"], &bundle, &runc_id),
            shown: "runc run --bundle BUNDLE ID".into(),
        },
    ];
    let (crun, crun_notes) = choose_crun(layout, &bundle, &crun_id, &state_root);
    contenders.extend(crun);
    contenders.push(Contender {
        name: FLOOR.into(),
        args: words(
            &[
                "unshare", "--fork", "--pid", "--mount", "--uts", "--ipc", "--net", "chroot",
            ],
            &rootfs,
            "/bin/true",
        ),
        shown: "unshare --fork --pid --mount --uts --ipc --net chroot ROOTFS /bin/true".into(),
    });
    contenders.push(Contender {
        name: FLOOR_NO_NET.into(),
        args: words(
            &[
                "unshare", "--fork", "--pid", "--mount", "--uts", "--ipc", "chroot",
            ],
            &rootfs,
            "/bin/true",
        ),
        shown: "unshare --fork --pid --mount --uts --ipc chroot ROOTFS /bin/true".into(),
    });
    if chapter >= NET_CHAPTER {
        // From chapter 07 the runtime makes a bridge, nft tables and sets sysctls: all of
        // it in a network namespace of the bench's own, never on this machine's network.
        own_network_namespace()?;
        contenders.extend(network_contenders(&package, &binary));
    }
    // Every command must work before hyperfine times it (crun was tried above); runc twice,
    // which proves that a fixed container id can be reused once `runc run` has returned.
    for contender in contenders.iter().filter(|c| !c.name.starts_with(CRUN)) {
        preflight(contender, &state_root)?;
        if contender.name == RUNC {
            preflight(contender, &state_root)?;
        }
    }
    check_interrupted()?;

    let export = work.path().join("hyperfine.json");
    let mut hyperfine = Command::new("hyperfine");
    hyperfine
        .args(["-N", "--warmup", &WARMUP.to_string()])
        .args(["--runs", &options.runs.to_string()])
        .arg("--export-json")
        .arg(&export)
        .env("BOXCAR_ROOT", &state_root);
    for contender in &contenders {
        hyperfine
            .arg("-n")
            .arg(&contender.name)
            .arg(command_line(&contender.args));
    }
    let status = hyperfine.status().context("cannot run hyperfine")?;
    check_interrupted()?;
    if !status.success() {
        bail!("hyperfine failed ({status}); its messages are above");
    }
    let json = std::fs::read_to_string(&export)
        .with_context(|| format!("cannot read {}", export.display()))?;
    let timings = parse_export(&json)?;

    let left = work.leftover_containers(&state_root);
    if left > 0 {
        eprintln!("warning: {package} left {left} container(s) in its state root (removed now)");
    }

    let report = Report {
        package,
        chapter,
        runs: options.runs,
        contenders,
        timings,
        crun_notes,
        runc_namespaces,
        machine: machine(layout),
    };
    println!("\n{}", render_table(&report.timings));
    for note in notes(&report) {
        println!("{note}");
    }
    println!("\n{}", machine_line(&report.machine));
    drop(work);

    if options.write_book {
        write_book_files(vec![
            (RESULTS.to_string(), render_page(&report)),
            (PLOT.to_string(), render_svg(&report.timings)),
            (RAW.to_string(), json),
        ])?;
    }
    Ok(true)
}

/// Write each (file name, text) into book/src, owned by whoever ran the bench through sudo.
pub(crate) fn write_book_files(files: Vec<(String, String)>) -> Result<()> {
    let src = build::workspace_dir().join("book/src");
    for (file, text) in files {
        let path = src.join(file);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        if let Some((uid, gid, _)) = build::invoking_user() {
            // Written as root under sudo: give it back to whoever edits the book.
            let _ = std::os::unix::fs::chown(&path, Some(uid), Some(gid));
        }
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// What the commands run on, inside the [`Workdir`].
struct Prepared {
    /// `$BOXCAR_ROOT` for boxcar: a store holding only busybox.
    state_root: PathBuf,
    /// busybox unpacked, for runc, crun and the floor.
    rootfs: PathBuf,
    /// An OCI bundle whose config.json runs `/bin/true` in `rootfs`.
    bundle: PathBuf,
    /// The namespaces that config asks for.
    runc_namespaces: Vec<String>,
}

fn prepare(work: &Workdir) -> Result<Prepared> {
    let state_root = work.path().join("state");
    let rootfs = work.path().join("rootfs");
    let bundle = work.path().join("bundle");
    eprintln!(
        "preparing the busybox image, its root filesystem and an OCI bundle in {}…",
        work.path().display()
    );
    let store = Store::new(&state_root);
    build_busybox(&store, "busybox", &[])?;
    ch04_solution::unpack::unpack(&store, "busybox", &rootfs)?;
    std::fs::create_dir(&bundle).with_context(|| format!("cannot create {}", bundle.display()))?;
    run_quietly(
        Command::new("runc").arg("spec").current_dir(&bundle),
        "runc spec",
    )?;
    let config_path = bundle.join("config.json");
    let spec = std::fs::read_to_string(&config_path)
        .with_context(|| format!("cannot read {}", config_path.display()))?;
    let config = bundle_config(&spec, &rootfs)?;
    std::fs::write(&config_path, &config.text)
        .with_context(|| format!("cannot write {}", config_path.display()))?;
    Ok(Prepared {
        state_root,
        rootfs,
        bundle,
        runc_namespaces: config.namespaces,
    })
}

/// The runtime's package and chapter: `requested` (`chNN` or `chNN-solution`), or the
/// newest of `solutions`.
pub(crate) fn choose_runtime(
    requested: Option<&str>,
    solutions: &[(u8, PathBuf)],
) -> Result<(String, u8)> {
    match requested {
        Some(package) => {
            let chapter = package
                .strip_prefix("ch")
                .and_then(|rest| rest.get(..2))
                .and_then(|digits| digits.parse().ok());
            match chapter {
                Some(chapter) => Ok((package.to_string(), chapter)),
                None => bail!(
                    "--runtime takes a chapter's package, e.g. ch06-solution or your ch06, \
                     not {package:?}"
                ),
            }
        }
        None => match solutions.last() {
            Some((chapter, _)) => Ok((format!("ch{chapter:02}-solution"), *chapter)),
            None => bail!("there is no solution chapter to benchmark in solutions/"),
        },
    }
}

fn boxcar_contender(package: &str, chapter: u8, binary: &Path) -> Contender {
    // The runtime with an image: what a user runs. --rm (chapter 06) removes the container's
    // record and upper layer afterwards, as runc removes its container; before chapter 06
    // nothing is kept, and the flag is refused.
    let mut tail = vec!["run", "--image", "busybox"];
    if chapter >= RM_CHAPTER {
        tail.push("--rm");
    }
    tail.extend(["--", "/bin/true"]);
    let mut args = vec![binary.to_string_lossy().into_owned()];
    args.extend(tail.iter().map(|s| s.to_string()));
    let name = if package == format!("ch{chapter:02}-solution") {
        format!("boxcar ch{chapter:02}")
    } else {
        format!("boxcar {package}")
    };
    Contender {
        name,
        args,
        shown: format!("target/release/{package} {}", tail.join(" ")),
    }
}

/// The network's cost side by side (chapter 07 on): the runtime with `--net none` and with
/// `--net bridge -p` beside its default (`--net bridge`, the first contender), and seven `ip`
/// commands doing a comparable setup and teardown of a veth pair, the price of doing it
/// with processes rather than netlink.
fn network_contenders(package: &str, binary: &Path) -> Vec<Contender> {
    let run = |name: &str, flags: &[&str]| {
        let mut tail = vec!["run", "--image", "busybox", "--rm"];
        tail.extend_from_slice(flags);
        tail.extend(["--", "/bin/true"]);
        let mut args = vec![binary.to_string_lossy().into_owned()];
        args.extend(tail.iter().map(|s| s.to_string()));
        Contender {
            name: name.into(),
            args,
            shown: format!("target/release/{package} {}", tail.join(" ")),
        }
    };
    let script = IP_SCRIPT.join("; ");
    vec![
        run("boxcar --net none", &["--net", "none"]),
        run("boxcar --net bridge -p", &["-p", "127.0.0.1:18080:80"]),
        Contender {
            name: "7 ip commands".into(),
            args: vec!["sh".into(), "-c".into(), script.clone()],
            shown: format!("sh -c '{script}'"),
        },
    ]
}

/// A veth pair made, addressed, set up, routed through and removed: seven `ip` processes.
const IP_SCRIPT: [&str; 7] = [
    "ip link add bxb0 type veth peer name bxb1",
    "ip addr add 10.89.0.1/16 dev bxb0",
    "ip link set bxb0 up",
    "ip addr add 10.89.0.2/16 dev bxb1",
    "ip link set bxb1 up",
    "ip route add 10.90.0.0/16 via 10.89.0.2",
    "ip link del bxb0",
];

/// Move the bench into a network namespace of its own, with lo up (unshare(2) changes this
/// thread only; everything it starts from now on is born there).
pub(crate) fn own_network_namespace() -> Result<()> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
        .context("cannot give the bench a network namespace of its own")?;
    run_quietly(
        Command::new("ip").args(["link", "set", "lo", "up"]),
        "ip link set lo up",
    )
}

/// crun as it runs on this host, if it does, and the notes for the page: what its time
/// includes, or why it is left out.
///
/// crun on a hybrid host refuses to start ("cgroups in hybrid mode not supported, drop all
/// controllers from cgroupv2") when the cgroup2 tree at /sys/fs/cgroup/unified has
/// controllers. Hiding that tree in a private mount namespace of crun's own makes the host
/// look like v1 to it; the time then includes one unshare and one sh.
pub(crate) fn choose_crun(
    layout: Layout,
    bundle: &Path,
    id: &str,
    state_root: &Path,
) -> (Option<Contender>, Vec<String>) {
    if !on_path(CRUN) {
        return (
            None,
            vec![
                "crun is not in the table: it is not installed (sudo apt-get install crun).".into(),
            ],
        );
    }
    // Each twice with one id: the first run must have removed its container.
    let works = |c: &Contender| run_once(c, state_root).and_then(|()| run_once(c, state_root));
    let plain = Contender {
        name: CRUN.into(),
        args: words(&["crun", "run", "--bundle"], bundle, id),
        shown: "crun run --bundle BUNDLE ID".into(),
    };
    let plain_failure = match works(&plain) {
        Ok(()) => return (Some(plain), Vec::new()),
        Err(why) => why,
    };
    if layout != Layout::Hybrid {
        return (
            None,
            vec![format!(
                "crun is not in the table: `crun run` fails: {plain_failure}."
            )],
        );
    }
    let hidden = crun_unified_hidden(bundle, id);
    match works(&hidden) {
        Ok(()) => (
            Some(hidden),
            vec![format!(
                "{CRUN_HIDDEN}: `crun run` alone fails on this hybrid cgroup host ({plain_failure}), \
                 so it runs in a private mount namespace where /sys/fs/cgroup/unified is \
                 unmounted; its time includes one unshare and one sh."
            )],
        ),
        Err(why) => (
            None,
            vec![format!(
                "crun is not in the table: alone it fails on this hybrid cgroup host \
                 ({plain_failure}), and with /sys/fs/cgroup/unified hidden too ({why})."
            )],
        ),
    }
}

fn crun_unified_hidden(bundle: &Path, id: &str) -> Contender {
    let run = |bundle: &str, id: &str| format!("crun run --bundle {} {}", quote(bundle), quote(id));
    let hidden = |bundle: &str, id: &str| {
        format!(
            "umount -l {}/unified && exec {}",
            cgroupfs::CGROUP_ROOT,
            run(bundle, id)
        )
    };
    let unshare = ["unshare", "--mount", "--propagation", "private", "sh", "-c"];
    let mut args: Vec<String> = unshare.iter().map(|s| s.to_string()).collect();
    args.push(hidden(&bundle.to_string_lossy(), id));
    Contender {
        name: CRUN_HIDDEN.into(),
        args,
        shown: format!("{} {}", unshare.join(" "), quote(&hidden("BUNDLE", "ID"))),
    }
}

/// `program`, then `path`, then `last`, as owned words.
pub(crate) fn words(program: &[&str], path: &Path, last: &str) -> Vec<String> {
    let mut words: Vec<String> = program.iter().map(|s| s.to_string()).collect();
    words.push(path.to_string_lossy().into_owned());
    words.push(last.to_string());
    words
}

/// Run `contender` once; it must exit 0.
pub(crate) fn preflight(contender: &Contender, state_root: &Path) -> Result<()> {
    run_once(contender, state_root)
        .map_err(|why| anyhow::anyhow!("{} does not run: {why}", contender.name))
}

/// Run `contender` once; on failure, the last line it wrote to stderr (or its exit status).
pub(crate) fn run_once(contender: &Contender, state_root: &Path) -> Result<(), String> {
    let output = Command::new(&contender.args[0])
        .args(&contender.args[1..])
        .env("BOXCAR_ROOT", state_root)
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("cannot run {}: {error}", contender.args[0]))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(match stderr.trim().lines().last() {
        Some(line) => format!("\"{}\"", line.trim()),
        None => format!("{}, no message", output.status),
    })
}

pub(crate) fn run_quietly(command: &mut Command, what: &str) -> Result<()> {
    let output = command
        .output()
        .with_context(|| format!("cannot run {what}"))?;
    if !output.status.success() {
        bail!(
            "{what} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// `config.json` of the bundle, as `runc spec` wrote it, made to run `/bin/true` without a
/// terminal in `rootfs`, read-only; with the namespaces it asks for.
pub(crate) struct BundleConfig {
    pub(crate) text: String,
    pub(crate) namespaces: Vec<String>,
}

pub(crate) fn bundle_config(spec: &str, rootfs: &Path) -> Result<BundleConfig> {
    let mut config: serde_json::Value =
        serde_json::from_str(spec).context("runc spec wrote no JSON")?;
    config["process"]["args"] = serde_json::json!(["/bin/true"]);
    config["process"]["terminal"] = serde_json::json!(false);
    config["root"]["path"] = serde_json::json!(rootfs.to_string_lossy());
    config["root"]["readonly"] = serde_json::json!(true);
    let namespaces = config["linux"]["namespaces"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|ns| ns["type"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    Ok(BundleConfig {
        text: serde_json::to_string_pretty(&config)?,
        namespaces,
    })
}

/// `args` as one line hyperfine splits back into the same words (it splits like a POSIX
/// shell, without running one).
pub(crate) fn command_line(args: &[String]) -> String {
    args.iter()
        .map(|arg| quote(arg))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `word` as a POSIX shell reads it back: as is when it is safe, else single-quoted.
pub(crate) fn quote(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "/._-+=:,@%".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// The results of a `hyperfine --export-json` file, in milliseconds.
pub fn parse_export(json: &str) -> Result<Vec<Timing>> {
    #[derive(Deserialize)]
    struct Export {
        results: Vec<Entry>,
    }
    #[derive(Deserialize)]
    struct Entry {
        command: String,
        mean: f64,
        /// null with a single run.
        stddev: Option<f64>,
        median: f64,
        min: f64,
        #[serde(default)]
        times: Vec<f64>,
    }
    let export: Export =
        serde_json::from_str(json).context("hyperfine's export is not the JSON expected")?;
    Ok(export
        .results
        .into_iter()
        .map(|entry| Timing {
            name: entry.command,
            median: entry.median * 1000.0,
            mean: entry.mean * 1000.0,
            stddev: entry.stddev.unwrap_or(0.0) * 1000.0,
            min: entry.min * 1000.0,
            runs: entry.times.len(),
            times: entry.times.iter().map(|t| t * 1000.0).collect(),
        })
        .collect())
}

/// The timings as a Markdown table, with each median as a multiple of runc's and the floor's.
pub fn render_table(timings: &[Timing]) -> String {
    let median_of = |name: &str| timings.iter().find(|t| t.name == name).map(|t| t.median);
    let ratio = |value: f64, base: Option<f64>| match base {
        Some(base) if base > 0.0 => format!("{:.2}×", value / base),
        _ => "–".to_string(),
    };
    let (runc, floor) = (median_of(RUNC), median_of(FLOOR));
    let mut table = String::from(
        "| command | median | mean ± σ | min | median ÷ runc | median ÷ floor |\n\
         |---|---:|---:|---:|---:|---:|\n",
    );
    for t in timings {
        let _ = writeln!(
            table,
            "| {} | {:.1} ms | {:.1} ± {:.1} ms | {:.1} ms | {} | {} |",
            t.name,
            t.median,
            t.mean,
            t.stddev,
            t.min,
            ratio(t.median, runc),
            ratio(t.median, floor)
        );
    }
    table
}

/// The plot's and the raw export's file names, beside the page in book/src.
const PLOT: &str = "benchmarks.svg";
const RAW: &str = "benchmarks.json";

/// Every run of every command as an SVG strip plot: a row per command, a dot per run, a bar
/// at the median, on one millisecond axis from 0.
pub fn render_svg(timings: &[Timing]) -> String {
    const LEFT: f64 = 210.0;
    const WIDTH: f64 = 720.0;
    const ROW: f64 = 36.0;
    const TOP: f64 = 12.0;
    let plot = WIDTH - LEFT - 20.0;
    let slowest = timings
        .iter()
        .flat_map(|t| t.times.iter().copied().chain([t.median]))
        .fold(0.0, f64::max);
    // A round step (1, 2 or 5 × 10^k) that gives at most 8 ticks, and an axis to a whole step.
    let step = [1.0, 2.0, 5.0]
        .iter()
        .flat_map(|m| (-1..4).map(move |e| m * 10f64.powi(e)))
        .filter(|step| slowest / step <= 8.0)
        .fold(f64::INFINITY, f64::min);
    let ticks = (slowest / step).ceil().max(1.0) as u32;
    let end = step * f64::from(ticks);
    let x = |ms: f64| LEFT + plot * ms / end;
    let axis_y = TOP + ROW * timings.len() as f64 + 6.0;
    let height = axis_y + 40.0;
    let escape = |text: &str| {
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\" font-family=\"sans-serif\" font-size=\"14\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    for i in 0..=ticks {
        let ms = step * f64::from(i);
        let label = if step < 1.0 {
            format!("{ms:.1}")
        } else {
            format!("{ms:.0}")
        };
        let _ = writeln!(
            svg,
            "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{TOP}\" y2=\"{axis_y}\" stroke=\"#ddd\"/>\
             <text x=\"{0:.1}\" y=\"{1}\" text-anchor=\"middle\">{label}</text>",
            x(ms),
            axis_y + 18.0,
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">milliseconds, from exec to exit \
         (a dot per run, a bar at the median)</text>",
        LEFT + plot / 2.0,
        axis_y + 36.0
    );
    for (row, t) in timings.iter().enumerate() {
        let y = TOP + ROW * row as f64 + ROW / 2.0;
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{} · {:.1} ms</text>",
            LEFT - 10.0,
            y + 5.0,
            escape(&t.name),
            t.median
        );
        for (i, ms) in t.times.iter().enumerate() {
            // A fixed vertical spread, so that equal times stay visible as a cluster.
            let dy = (i * 7 % 13) as f64 - 6.0;
            let _ = writeln!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"#1f77b4\" fill-opacity=\"0.4\"/>",
                x(*ms),
                y + dy
            );
        }
        let _ = writeln!(
            svg,
            "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{1:.1}\" y2=\"{2:.1}\" stroke=\"black\" \
             stroke-width=\"2.5\"/>",
            x(t.median),
            y - 12.0,
            y + 12.0
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// The lines under the table: what crun's time includes, or why it is missing.
fn notes(report: &Report) -> &[String] {
    &report.crun_notes
}

pub(crate) fn machine(layout: Layout) -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |key: &str| {
        cpuinfo.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            (name.trim() == key).then(|| value.trim().to_string())
        })
    };
    let kernel = nix::sys::utsname::uname()
        .map(|uts| uts.release().to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown".into());
    let mut versions = vec![
        ("hyperfine", version("hyperfine")),
        ("runc", version("runc")),
    ];
    if on_path("crun") {
        versions.push(("crun", version("crun")));
    }
    Machine {
        cpus: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        model: field("model name").unwrap_or_else(|| "unknown CPU".into()),
        virtual_machine: field("flags")
            .is_some_and(|flags| flags.split(' ').any(|f| f == "hypervisor")),
        kernel,
        cgroups: match layout {
            Layout::V2 => "v2 (unified)",
            Layout::Hybrid => "v1 + v2 hybrid",
            Layout::V1 => "v1",
            Layout::Unknown => "none found",
        },
        scratch_fs: filesystem_of(Path::new(SCRATCH_PARENT)),
        date: boxcar::image::rfc3339(std::time::SystemTime::now())
            .get(..10)
            .unwrap_or_default()
            .to_string(),
        versions,
    }
}

pub(crate) fn machine_line(machine: &Machine) -> String {
    let versions: Vec<String> = machine
        .versions
        .iter()
        .map(|(tool, version)| format!("{tool} {version}"))
        .collect();
    format!(
        "{} × {}{}, Linux {}, cgroups {}, {} on {}; {}; {}",
        machine.cpus,
        machine.model,
        if machine.virtual_machine {
            " (virtual machine)"
        } else {
            ""
        },
        machine.kernel,
        machine.cgroups,
        SCRATCH_PARENT,
        machine.scratch_fs,
        versions.join(", "),
        machine.date
    )
}

/// The version a tool prints first (`runc version 1.1.5` → `1.1.5`).
fn version(tool: &str) -> String {
    Command::new(tool)
        .arg("--version")
        .output()
        .ok()
        .and_then(|output| {
            let text = String::from_utf8_lossy(&output.stdout).into_owned();
            let first = text.lines().next()?;
            first.split_whitespace().last().map(String::from)
        })
        .unwrap_or_else(|| "unknown".into())
}

/// The type of the filesystem `path` is on, from the longest mount point above it.
fn filesystem_of(path: &Path) -> String {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    mountinfo
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let dash = fields.iter().position(|f| *f == "-")?;
            let mount_point = Path::new(fields.get(4)?);
            let fstype = fields.get(dash + 1)?;
            path.starts_with(mount_point)
                .then(|| (mount_point.as_os_str().len(), fstype.to_string()))
        })
        // The longest mount point; of equal ones the last, which is mounted on top.
        .max_by_key(|(len, _)| *len)
        .map(|(_, fstype)| fstype)
        .unwrap_or_else(|| "an unknown filesystem".into())
}

pub(crate) fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
}

/// The Benchmarks page of the book.
fn render_page(report: &Report) -> String {
    let m = &report.machine;
    let mut page = String::new();
    // The page's prose is book/src/benchmarks.md; this is only what one run measured.
    let _ = write!(
        page,
        "<!-- Written by `cargo boxcar bench --write-book` (workshop/src/bench.rs) and included \
         by benchmarks.md: run it again rather than editing the numbers. -->\n\n\
         ## This run\n\n\
         `cargo boxcar bench --runs {runs}` built `{package}` with the release profile and ran \
         `hyperfine -N --warmup {WARMUP} --runs {runs}` once with these commands. The spec \
         `runc spec` wrote asks for {namespaces} namespaces.\n\n",
        runs = report.runs,
        package = report.package,
        namespaces = and_list(&report.runc_namespaces),
    );
    page.push_str("| name | command |\n|---|---|\n");
    for contender in &report.contenders {
        let _ = writeln!(
            page,
            "| {} | `{}` |",
            contender.name,
            contender.shown.replace('|', "\\|")
        );
    }
    let _ = write!(
        page,
        "\n`$BOXCAR_ROOT` is a fresh state directory holding only the busybox image; `ROOTFS`, \
         `BUNDLE` and the state directory are under {SCRATCH_PARENT}, on {fs}.\n\n",
        fs = m.scratch_fs
    );

    page.push_str("## The machine\n\n| | |\n|---|---|\n");
    let _ = writeln!(
        page,
        "| CPU | {} × {}{} |",
        m.cpus,
        m.model,
        if m.virtual_machine {
            " (a virtual machine: the hypervisor flag is set)"
        } else {
            ""
        }
    );
    let _ = writeln!(page, "| kernel | Linux {} |", m.kernel);
    let _ = writeln!(page, "| cgroups | {} |", m.cgroups);
    for (tool, version) in &m.versions {
        let _ = writeln!(page, "| {tool} | {version} |");
    }
    let _ = writeln!(page, "| measured on | {} |", m.date);

    page.push_str("\n## Results\n\n");
    page.push_str(&render_table(&report.timings));
    for note in notes(report) {
        let _ = write!(page, "\n{note}\n");
    }
    let _ = write!(
        page,
        "\n![Every run of every command: a dot per run, a bar at the median]({PLOT})\n\n\
         Every timed run, one dot each; the bar is the median. hyperfine's own export, with \
         every time and exit code, is [{RAW}]({RAW}).\n"
    );

    page.push_str("\n## Reading the numbers\n\n");
    for line in reading(report) {
        let _ = writeln!(page, "- {line}");
    }
    page
}

/// `a, b and c`.
fn and_list(items: &[String]) -> String {
    match items {
        [] => "no".into(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// The part of the Benchmarks page a run writes; book/src/benchmarks.md includes it.
const RESULTS: &str = "benchmarks-results.md";

/// What the numbers say, in sentences computed from them.
fn reading(report: &Report) -> Vec<String> {
    let find = |name: &str| report.timings.iter().find(|t| t.name == name);
    let ours = report
        .contenders
        .first()
        .and_then(|c| find(&c.name))
        .cloned();
    let (Some(ours), Some(runc), Some(floor)) = (ours, find(RUNC), find(FLOOR)) else {
        return vec!["Not every command has a time: rerun the benchmark.".into()];
    };
    let mut lines = Vec::new();
    lines.push(format!(
        "{}'s median is {:.1} ms, {:.2}× runc's {:.1} ms.",
        ours.name,
        ours.median,
        ours.median / runc.median,
        runc.median,
    ));
    // Like for like: a runtime without a network namespace against the floor without one.
    match find(FLOOR_NO_NET).filter(|_| report.chapter < NET_CHAPTER) {
        Some(twin) => lines.push(format!(
            "Like for like: {} creates no network namespace, so it compares with the floor \
             without --net, {:.1} ms, and spends {:.1} ms more; runc, which creates one, \
             compares with the floor, {:.1} ms, and spends {:.1} ms more. {}",
            ours.name,
            twin.median,
            ours.median - twin.median,
            floor.median,
            runc.median - floor.median,
            if floor.median > twin.median {
                format!(
                    "The network namespace alone costs the floor {:.1} ms.",
                    floor.median - twin.median
                )
            } else {
                "Here the two floors are within the noise of each other.".to_string()
            }
        )),
        None => lines.push(format!(
            "Over the floor's {:.1} ms, {} spends {:.1} ms more, runc {:.1} ms more.",
            floor.median,
            ours.name,
            ours.median - floor.median,
            runc.median - floor.median
        )),
    }
    if let Some(crun) = find(CRUN) {
        lines.push(format!(
            "crun's median is {:.1} ms, {:.2}× runc's.",
            crun.median,
            crun.median / runc.median
        ));
    }
    if let Some(crun) = find(CRUN_HIDDEN) {
        lines.push(format!(
            "crun's median, with its unshare and sh, is {:.1} ms, {:.2}× runc's.",
            crun.median,
            crun.median / runc.median
        ));
    }
    lines.push(beyond_the_floor(report.chapter));
    lines.push(
        "runc and crun do the same kinds of work and more: the default spec also sets \
         capabilities, rlimits, no_new_privs and masked and read-only paths, and mounts \
         /dev/pts, /dev/shm and /dev/mqueue. runc, written in Go, starts a second copy of \
         itself (`runc init`) inside the new namespaces to finish the setup."
            .into(),
    );
    let spread = report
        .timings
        .iter()
        .filter(|t| t.mean > 0.0)
        .map(|t| t.stddev / t.mean)
        .fold(0.0, f64::max);
    lines.push(format!(
        "σ reaches {:.0}% of a mean here{}: compare medians, and rerun before trusting a \
         small difference.",
        spread * 100.0,
        if report.machine.virtual_machine {
            ", on a virtual machine"
        } else {
            ""
        }
    ));
    lines
}

/// What chapter `chapter`'s runtime does for `run --image busybox` that the floor does not.
fn beyond_the_floor(chapter: u8) -> String {
    let mut work = String::from(
        "What boxcar does that the floor does not: it creates a cgroup (on a v1 or hybrid \
         host, a directory in each controller it uses) and removes it after;",
    );
    if chapter >= 5 {
        work.push_str(
            " it bind-mounts the root filesystem onto itself, pivot_roots into it, and mounts \
             /proc, a read-only /sys and a minimal /dev.",
        );
    } else {
        work.push_str(" it chroots into the root filesystem and mounts /proc.");
    }
    if chapter < RM_CHAPTER {
        let _ = write!(
            work,
            " Chapter {chapter:02} also unpacks the whole image into a fresh directory for \
             every container and deletes it after: chapter 06's overlay removes that copy."
        );
    } else {
        work.push_str(
            " Instead of copying the image, it writes a container record and mounts an \
             overlay of the image's layer (extracted once, before the timed runs) and an empty \
             upper layer; `--rm` removes both after.",
        );
    }
    if chapter < NET_CHAPTER {
        work.push_str(
            " Unlike runc, crun and the floor (but like the floor's twin), it creates no \
             network namespace: that arrives in chapter 07.",
        );
    }
    work
}

// --- the scratch directory and interrupts ---

/// `/tmp/boxcar-bench-<random>`: the state root, root filesystem, bundle and export of one
/// run. Dropping it deletes the runc and crun containers it named, unmounts anything left
/// mounted below it, and removes it.
pub(crate) struct Workdir {
    path: PathBuf,
}

impl Workdir {
    pub(crate) fn create() -> Result<Workdir> {
        let path = Path::new(SCRATCH_PARENT).join(format!(
            "{SCRATCH_PREFIX}{}",
            boxcar::state::new_container_id()
        ));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let work = Workdir { path };
        // Who owns it: a later bench removes it if this process died without doing so.
        std::fs::write(work.path.join("pid"), std::process::id().to_string())
            .with_context(|| format!("cannot write into {}", work.path.display()))?;
        Ok(work)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The container id `runtime` uses in this run. `runc run` and `crun run` delete their
    /// container when it exits, so one id serves every run (preflight proves it).
    pub(crate) fn container_id(&self, runtime: &str) -> String {
        let name = self.path.file_name().unwrap_or_default().to_string_lossy();
        format!("{name}-{runtime}")
    }

    /// How many containers the boxcar runtime left in `state_root/containers/`.
    fn leftover_containers(&self, state_root: &Path) -> usize {
        std::fs::read_dir(state_root.join("containers"))
            .map(|entries| entries.count())
            .unwrap_or(0)
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        for runtime in [RUNC, CRUN] {
            if !on_path(runtime) {
                continue;
            }
            let id = self.container_id(runtime);
            let _ = Command::new(runtime)
                .args(["delete", "-f", &id])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let still_there = Command::new(runtime)
                .args(["state", &id])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success());
            if still_there {
                eprintln!(
                    "warning: {runtime} still has container {id}: run {runtime} delete -f {id}"
                );
            }
        }
        // Nothing should be mounted below: the runtimes mounted in namespaces that are gone.
        // If something is, detach it rather than delete files through it.
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut below: Vec<&str> = mountinfo
            .lines()
            .filter_map(|line| line.split(' ').nth(4))
            .filter(|point| Path::new(point).starts_with(&self.path))
            .collect();
        below.reverse();
        for point in below {
            let _ = nix::mount::umount2(point, nix::mount::MntFlags::MNT_DETACH);
        }
        if let Err(error) = std::fs::remove_dir_all(&self.path) {
            eprintln!("warning: cannot remove {}: {error}", self.path.display());
        }
    }
}

/// Remove the scratch directories of benches that died without cleaning up (SIGKILL): those
/// whose `pid` names no running process.
pub(crate) fn reclaim_stale() {
    let Ok(entries) = std::fs::read_dir(SCRATCH_PARENT) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(meta) = std::fs::symlink_metadata(entry.path()) else {
            continue;
        };
        if !name.starts_with(SCRATCH_PREFIX) || !meta.is_dir() || meta.uid() != 0 {
            continue;
        }
        let Ok(pid) = std::fs::read_to_string(entry.path().join("pid")) else {
            continue;
        };
        if Path::new("/proc").join(pid.trim()).exists() {
            continue;
        }
        eprintln!(
            "removing {}, left by an interrupted bench",
            entry.path().display()
        );
        drop(Workdir { path: entry.path() });
    }
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn note_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Ctrl-C and SIGTERM stop the children (hyperfine, cargo: they get the default action back
/// when they exec), while this process only notes it, so it can clean up before exiting.
pub(crate) fn catch_interrupts() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let action = SigAction::new(
        SigHandler::Handler(note_interrupt),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        let _ = unsafe { sigaction(signal, &action) };
    }
}

pub(crate) fn check_interrupted() -> Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        bail!("interrupted; everything bench created is removed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cut from a real `hyperfine -N --export-json` (1.15), times shortened.
    const EXPORT: &str = r#"{
  "results": [
    {
      "command": "runc",
      "mean": 0.0296900109,
      "stddev": 0.007090437371201211,
      "median": 0.0287204415,
      "user": 0.00776715,
      "system": 0.0152623,
      "min": 0.018337608,
      "max": 0.044932331,
      "times": [0.031350257, 0.027075217, 0.018337608],
      "exit_codes": [0, 0, 0]
    },
    {
      "command": "floor: unshare+chroot",
      "mean": 0.0064,
      "stddev": null,
      "median": 0.0032,
      "user": 0.0024,
      "system": 0.0003,
      "min": 0.0025,
      "max": 0.0136,
      "times": [0.0032],
      "exit_codes": [0]
    }
  ]
}"#;

    fn timing(name: &str, median: f64) -> Timing {
        Timing {
            name: name.into(),
            median,
            mean: median + 1.0,
            stddev: 0.5,
            min: median - 1.0,
            runs: 50,
            times: vec![median - 1.0, median, median + 2.0],
        }
    }

    #[test]
    fn an_export_is_read_in_milliseconds() {
        let timings = parse_export(EXPORT).unwrap();
        assert_eq!(timings.len(), 2);
        let runc = &timings[0];
        assert_eq!(runc.name, "runc");
        assert!((runc.median - 28.7204415).abs() < 1e-9);
        assert!((runc.mean - 29.6900109).abs() < 1e-9);
        assert!((runc.stddev - 7.090437371201211).abs() < 1e-9);
        assert!((runc.min - 18.337608).abs() < 1e-9);
        assert_eq!(runc.runs, 3);
        // One run has no standard deviation: hyperfine writes null.
        assert_eq!(timings[1].stddev, 0.0);
    }

    #[test]
    fn an_export_of_another_shape_is_refused() {
        assert!(parse_export(r#"{"results": [{"command": "x"}]}"#).is_err());
        assert!(parse_export("not json").is_err());
    }

    #[test]
    fn the_table_gives_each_median_against_runc_and_the_floor() {
        let table = render_table(&[
            timing("boxcar ch06", 12.0),
            timing(RUNC, 24.0),
            timing(FLOOR, 3.0),
        ]);
        assert_eq!(
            table,
            "| command | median | mean ± σ | min | median ÷ runc | median ÷ floor |\n\
             |---|---:|---:|---:|---:|---:|\n\
             | boxcar ch06 | 12.0 ms | 13.0 ± 0.5 ms | 11.0 ms | 0.50× | 4.00× |\n\
             | runc | 24.0 ms | 25.0 ± 0.5 ms | 23.0 ms | 1.00× | 8.00× |\n\
             | floor: unshare+chroot | 3.0 ms | 4.0 ± 0.5 ms | 2.0 ms | 0.12× | 1.00× |\n"
        );
    }

    #[test]
    fn without_runc_the_ratio_is_a_dash() {
        let table = render_table(&[timing("boxcar ch06", 12.0), timing(FLOOR, 3.0)]);
        assert!(table.contains("| boxcar ch06 | 12.0 ms | 13.0 ± 0.5 ms | 11.0 ms | – | 4.00× |"));
    }

    #[test]
    fn the_runtime_is_the_newest_solution_unless_asked() {
        let solutions = vec![(4, PathBuf::from("a")), (5, PathBuf::from("b"))];
        assert_eq!(
            choose_runtime(None, &solutions).unwrap(),
            ("ch05-solution".to_string(), 5)
        );
        assert_eq!(
            choose_runtime(Some("ch06"), &solutions).unwrap(),
            ("ch06".to_string(), 6)
        );
        assert!(choose_runtime(Some("runc"), &solutions).is_err());
        assert!(choose_runtime(None, &[]).is_err());
    }

    #[test]
    fn rm_is_passed_from_chapter_06_only() {
        let five = boxcar_contender("ch05-solution", 5, Path::new("/t/ch05-solution"));
        assert_eq!(five.name, "boxcar ch05");
        assert_eq!(
            five.args,
            [
                "/t/ch05-solution",
                "run",
                "--image",
                "busybox",
                "--",
                "/bin/true"
            ]
        );
        let six = boxcar_contender("ch06", 6, Path::new("/t/ch06"));
        assert_eq!(six.name, "boxcar ch06");
        assert_eq!(
            six.shown,
            "target/release/ch06 run --image busybox --rm -- /bin/true"
        );
    }

    #[test]
    fn the_bundle_runs_true_read_only_in_the_rootfs() {
        let spec = r#"{"process": {"terminal": true, "args": ["sh"]}, "root": {"path": "rootfs",
            "readonly": false}, "linux": {"namespaces": [{"type": "pid"}, {"type": "network"}]}}"#;
        let config = bundle_config(spec, Path::new("/tmp/x/rootfs")).unwrap();
        let value: serde_json::Value = serde_json::from_str(&config.text).unwrap();
        assert_eq!(value["process"]["args"], serde_json::json!(["/bin/true"]));
        assert_eq!(value["process"]["terminal"], false);
        assert_eq!(value["root"]["path"], "/tmp/x/rootfs");
        assert_eq!(value["root"]["readonly"], true);
        assert_eq!(config.namespaces, ["pid", "network"]);
    }

    #[test]
    fn the_page_reads_its_verdict_from_the_numbers() {
        let contender = |name: &str| Contender {
            name: name.into(),
            args: vec![name.into()],
            shown: name.into(),
        };
        let mut report = Report {
            package: "ch06-solution".into(),
            chapter: 6,
            runs: 50,
            contenders: vec![contender("boxcar ch06"), contender(RUNC), contender(FLOOR)],
            timings: vec![
                timing("boxcar ch06", 12.0),
                timing(RUNC, 24.0),
                timing(FLOOR, 3.0),
            ],
            crun_notes: vec!["crun is not in the table: it is not installed.".into()],
            runc_namespaces: vec!["pid".into(), "network".into(), "mount".into()],
            machine: Machine {
                cpus: 2,
                model: "Some CPU".into(),
                virtual_machine: false,
                kernel: "6.1.0".into(),
                cgroups: "v2 (unified)",
                scratch_fs: "ext4".into(),
                date: "2024-05-01".into(),
                versions: vec![("runc", "1.1.5".into())],
            },
        };
        let page = render_page(&report);
        assert!(page.contains("## This run\n"));
        assert!(
            !page.contains("# Benchmarks"),
            "the page's title and prose are the book's"
        );
        assert!(page.contains("asks for pid, network and mount namespaces"));
        assert!(page.contains("| boxcar ch06 | 12.0 ms |"));
        assert!(page.contains("| CPU | 2 × Some CPU |"));
        assert!(page.contains("crun is not in the table: it is not installed."));
        assert!(page.contains("0.50× runc's 24.0 ms."));
        assert!(page.contains("Over the floor's 3.0 ms, boxcar ch06 spends 9.0 ms more"));
        assert!(page.contains("![Every run of every command"));
        assert!(page.contains("[benchmarks.json](benchmarks.json)"));
        assert!(!page.contains("goal"), "chapter 06 states no speed goal");
        assert!(page.contains("it creates no network namespace"));
        report.timings.push(timing(FLOOR_NO_NET, 2.0));
        let page = render_page(&report);
        assert!(page.contains(
            "compares with the floor without --net, 2.0 ms, and spends 10.0 ms more; runc, \
             which creates one, compares with the floor, 3.0 ms, and spends 21.0 ms more. The \
             network namespace alone costs the floor 1.0 ms."
        ));
        report.timings.last_mut().unwrap().median = 4.0;
        assert!(render_page(&report).contains("the two floors are within the noise"));
        report.chapter = 5;
        let page = render_page(&report);
        assert!(page.contains("chapter 06's overlay removes that copy"));
    }

    #[test]
    fn the_plot_has_a_row_per_command_and_a_dot_per_run() {
        let svg = render_svg(&[timing("boxcar ch06", 12.0), timing("a <b> & c", 3.0)]);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<circle ").count(), 6);
        assert!(svg.contains(">boxcar ch06 · 12.0 ms</text>"));
        assert!(svg.contains(">a &lt;b&gt; &amp; c · 3.0 ms</text>"));
        // The slowest run is 14 ms: ticks every 2 ms, up to 14.
        assert!(svg.contains(">14</text>") && !svg.contains(">16</text>"));
        let fast = render_svg(&[Timing {
            times: vec![0.31, 0.35],
            ..timing("fast", 0.33)
        }]);
        assert!(fast.contains(">0.4</text>") && !fast.contains("0.30000"));
    }

    #[test]
    fn a_command_line_splits_back_into_its_words() {
        let args: Vec<String> = [
            "sh",
            "-c",
            "umount -l /x && exec crun run --bundle '/a b' id",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            command_line(&args),
            r#"sh -c 'umount -l /x && exec crun run --bundle '\''/a b'\'' id'"#
        );
        assert_eq!(
            quote("/tmp/boxcar-bench-1a/rootfs"),
            "/tmp/boxcar-bench-1a/rootfs"
        );
        assert_eq!(quote(""), "''");
    }
}
