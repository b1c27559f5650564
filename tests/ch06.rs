//! Chapter 06's behaviour: overlayfs copy-on-write, shared layers, ps --size, diff, commit
//! and rm.
//!
//! Run: `cargo test --test ch06` (every solution from chapter 06 on), or
//! `cargo boxcar verify 6` (your chapters/ch06, with explanations).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{ensure, Context, Result};
use boxcar::image::Store;
use ch04_solution::import::rootfs_config;
use sha2::{Digest, Sha256};
use workshop::testing::{self, Check, Ctx};

fn main() {
    testing::main(6, checks())
}

fn checks() -> Vec<Check> {
    vec![
        Check::pillar(
            "containers_share_the_image_at_zero_bytes",
            "20 containers of one image use 0 bytes each until they write; a write stays in its container; the image's layers never change",
            "the layers are one read-only lowerdir for all; each container writes only into its own upperdir",
            "overlay::mount_overlay: the overlay's options — which directory takes the writes, and the layers' order",
            containers_share_the_image_at_zero_bytes,
        ),
        Check::pillar(
            "diff_lists_added_changed_deleted",
            "diff lists what a container added (A), changed (C) and deleted (D)",
            "the upper layer is the container's diff: copied-up files were changed, whiteouts are deletions",
            "changes::diff: how each path of upper/ is classified, and in which order the questions are asked",
            diff_lists_added_changed_deleted,
        ),
        Check::pillar(
            "commit_makes_a_new_image",
            "commit makes an image of the container: its added file is there and its deleted one is gone",
            "the upper layer written as a tar (whiteouts back to .wh. files) is one more layer on the image",
            "changes::write_layer, then chapter 04's import::store_layer and write_image",
            commit_makes_a_new_image,
        ),
        Check::pillar(
            "commit_writes_an_oci_image_skopeo_reads",
            "commit writes an OCI image: skopeo sees the base's layers (the same blobs, not copies) plus one, and a config with the container's command, env and working directory; config.json shows the merged process",
            "an image is a manifest (config + layers) named in index.json: docker commit's shape, readable by every OCI tool",
            "commands::commit: base.layers + the new layer, committed_runtime from the container's config.json",
            commit_writes_an_oci_image_skopeo_reads,
        ),
        Check::pillar(
            "whiteouts_and_opaque_directories",
            "in a two-layer image, a whiteout hides a file and an opaque directory hides the lower layer's contents",
            "the OCI .wh.NAME and .wh..wh..opq entries become overlayfs's 0/0 device and opaque xattr",
            "layers::convert_whiteout (the whiteout's form and name), or overlay::mount_overlay's layer order",
            whiteouts_and_opaque_directories,
        ),
        Check::pillar(
            "a_whiteout_may_come_without_its_directory",
            "a layer whose whiteout and opaque marker come with no entry for their directory imports, runs, and hides what they say",
            "a layer need not list a directory before what is in it; the whiteout hook runs before the extractor makes parent directories",
            "layers::convert_whiteout: is the whiteout's directory there before the whiteout is made in it?",
            a_whiteout_may_come_without_its_directory,
        ),
        Check::pillar(
            "rm_removes_the_container",
            "rm removes a container's record and layers; run --rm leaves nothing at all",
            "a stopped container keeps its upper layer only until it is removed",
            "the Kept guard removes the container at exit under --rm",
            rm_removes_the_container,
        ),
        Check::pillar(
            "the_spec_is_kept_as_config_json",
            "a container keeps the spec it ran with as config.json (args, env, cwd, hostname, limits, volumes), and ps shows its command",
            "config.json is what docker hands runc; kept beside the record, it is what ps, diff, commit (and later start) read back",
            "Kept::new saves the spec with Containers::save_config before the container starts",
            the_spec_is_kept_as_config_json,
        ),
        Check::pillar(
            "mount_points_are_made_in_the_upper_layer",
            "a volume on a path the image lacks, under a directory the image has, works and leaves the image's directory as it was",
            "the parent makes mount points in the container's upper layer, looking through the layers as overlayfs would",
            "Dirs::prepare_mount_point creates what is missing in upper/, with the lower directory's mode",
            mount_points_are_made_in_the_upper_layer,
        ),
        Check::pillar(
            "no_other_user_can_reach_a_layer_or_a_container",
            "user nobody can neither run a setuid-root file from an extracted layer or from a container's upper layer, nor read a container's file",
            "layers keep setuid bits and a container writes what it likes: a store others can walk into makes every local user root",
            "the kit's state::secure makes layers/ and containers/ 0700; Containers::write makes containers/<id> 0700",
            no_other_user_can_reach_a_layer_or_a_container,
        ),
        Check::pillar(
            "one_name_one_container_under_concurrency",
            "of 50 runs started at once with the same --name, exactly one runs; the others get one line, exit 125, and leave nothing",
            "a name is claimed atomically: checked and taken under one lock, as docker refuses the second with a conflict",
            "Kept::new checks the name and writes the record under Containers::lock",
            one_name_one_container_under_concurrency,
        ),
        Check::pillar(
            "leftovers_are_cleaned_and_deep_trees_removed",
            "a half-extracted layer of a killed runtime is swept by the next run, and rm removes a 3,000-level tree under ulimit -n 1024",
            "a killed runtime cleans nothing, so the next one must; removal must not need one open directory per level",
            "layers::lowerdirs sweeps layers/; Containers::remove uses boxcar::tree::remove_tree",
            leftovers_are_cleaned_and_deep_trees_removed,
        ),
        Check::pillar(
            "a_failed_removal_under_rm_is_reported",
            "when run --rm cannot remove the container (an immutable file in it), it says so in one line, keeps the command's exit code, and rm can finish later",
            "a removal that fails silently leaves a container no one knows about",
            "Kept's Drop reports a failed Containers::remove; remove writes the record back",
            a_failed_removal_under_rm_is_reported,
        ),
        Check::baseline(
            "output_into_a_closed_pipe_ends_quietly",
            "ps -a and images into a pipe already closed (ps -a | head) end with exit 0 and nothing on stderr",
            "a reader that stops reading is the end of the output, not an error (Rust ignores SIGPIPE, so writes fail with EPIPE)",
            "the kit's cli::print_lines",
            output_into_a_closed_pipe_ends_quietly,
        ),
        Check::pillar(
            "commit_keeps_fifos_and_refuses_devices",
            "commit and export keep a container's named pipe; a device node it made is refused with one line naming it",
            "an image may hold fifos but never device nodes; the tar crate cannot write a fifo by path, so we write its header",
            "changes::write_layer and export::append_fifo",
            commit_keeps_fifos_and_refuses_devices,
        ),
        Check::pillar(
            "too_many_layers_is_one_clear_line",
            "an image of 80 layers, whose overlay options outgrow the page mount(2) copies, is refused with one line before anything is mounted",
            "mount(2) cuts its options at one page; overlayfs then misses the cut lowerdir and says ENOENT, which misleads",
            "overlay::check_options_fit before the record is written",
            too_many_layers_is_one_clear_line,
        ),
        Check::pillar(
            "a_full_disk_keeps_the_exit_code",
            "a container that fills the disk still has its exit code in its record, and an import onto a full disk blames the disk, not the archive",
            "the last record's space is reserved at start; a failed write of the copy is told apart from a failed read",
            "Kept's reserved last record (Containers::save_reserved); import's Tee::copy_error",
            a_full_disk_keeps_the_exit_code,
        ),
        Check::pillar(
            "a_recycled_pid_does_not_look_up",
            "a running record whose runtime pid now belongs to another process is Dead, not Up, and rm removes it",
            "the kernel reuses pids: only the pid with its start time (field 22 of /proc/PID/stat) names the runtime",
            "Record::is_stale compares runtime_pid and runtime_start",
            a_recycled_pid_does_not_look_up,
        ),
        Check::baseline(
            "unknown_containers_and_taken_names_are_one_line",
            "diff or rm of an unknown container, or run with a name in use, is refused with one line",
            "a record is looked up before anything is created or removed",
            "Containers::find and Containers::check_name_free",
            unknown_containers_and_taken_names,
        ),
    ]
}

/// sha256 of every file (path, mode, content or link target) under `dir`.
fn tree_digest(dir: &Path) -> Result<BTreeMap<PathBuf, String>> {
    use std::os::unix::fs::MetadataExt;
    let mut digests = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current)? {
            let path = entry?.path();
            let metadata = path.symlink_metadata()?;
            let mut hasher = Sha256::new();
            hasher.update(metadata.mode().to_le_bytes());
            if metadata.is_dir() {
                pending.push(path.clone());
            } else if metadata.file_type().is_symlink() {
                hasher.update(std::fs::read_link(&path)?.as_os_str().as_encoded_bytes());
            } else if metadata.is_file() {
                hasher.update(std::fs::read(&path)?);
            }
            let relative = path.strip_prefix(dir)?.to_path_buf();
            digests.insert(relative, format!("{:x}", hasher.finalize()));
        }
    }
    Ok(digests)
}

fn ps_sizes(ctx: &Ctx) -> Result<Vec<(String, String)>> {
    let outcome = ctx.run(&["ps", "-a", "--size"])?;
    outcome.expect_code(0)?;
    Ok(outcome
        .stdout
        .lines()
        .skip(1)
        .filter_map(|line| {
            let name = line.split_whitespace().nth(1)?;
            let size = line.split_whitespace().last()?;
            Some((name.to_string(), size.to_string()))
        })
        .collect())
}

fn containers_share_the_image_at_zero_bytes(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    ctx.run(&["run", "--name", "c0", "--image", "busybox", "--", "true"])?
        .expect_code(0)?;
    let layers = ctx.root().join("layers");
    let before = tree_digest(&layers)?;
    ensure!(
        !before.is_empty(),
        "no layer was extracted under {}",
        layers.display()
    );
    for n in 1..20 {
        let name = format!("c{n}");
        ctx.run(&["run", "--name", &name, "--image", "busybox", "--", "true"])?
            .expect_code(0)?;
    }
    let sizes = ps_sizes(ctx)?;
    ensure!(
        sizes.len() == 20,
        "ps -a lists {} containers, not 20",
        sizes.len()
    );
    ensure!(
        sizes.iter().all(|(_, size)| size == "0B"),
        "untouched containers use space: {sizes:?}"
    );
    let script = "echo hello > /written-here && cat /written-here";
    ctx.run(&[
        "run", "--name", "writer", "--image", "busybox", "--", "/bin/sh", "-c", script,
    ])?
    .expect_code(0)?;
    let sizes = ps_sizes(ctx)?;
    let writer = sizes
        .iter()
        .find(|(name, _)| name == "writer")
        .context("no writer in ps")?;
    ensure!(writer.1 != "0B", "the writer's layer is empty: {sizes:?}");
    ensure!(
        sizes.iter().filter(|(_, size)| size == "0B").count() == 20,
        "a write showed in other containers: {sizes:?}"
    );
    let other = ctx.run(&[
        "run",
        "--rm",
        "--image",
        "busybox",
        "--",
        "cat",
        "/written-here",
    ])?;
    ensure!(
        other.code == Some(1),
        "another container sees the writer's file: {}",
        other.stdout
    );
    ensure!(
        tree_digest(&layers)? == before,
        "the image's layer directories changed"
    );
    ensure!(
        ch04_solution::unpack::unpack(
            &Store::new(ctx.root()),
            "busybox",
            &ctx.root().join("check")
        )
        .is_ok(),
        "the image's blob changed"
    );
    Ok(())
}

fn diff_lists_added_changed_deleted(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    let script = "echo new > /added && echo me >> /etc/passwd && rm /etc/group";
    ctx.run(&[
        "run", "--name", "changer", "--image", "busybox", "--", "/bin/sh", "-c", script,
    ])?
    .expect_code(0)?;
    let outcome = ctx.run(&["diff", "changer"])?;
    outcome.expect_code(0)?;
    workshop::assert_snapshot!("diff", outcome.stdout);
    // ps, as a person reads it: one untouched container beside the changed one.
    ctx.run(&["run", "--name", "idle", "--image", "busybox", "--", "true"])?
        .expect_code(0)?;
    let outcome = ctx.run(&["ps", "-a", "--size"])?;
    outcome.expect_code(0)?;
    workshop::assert_snapshot!("ps_size", redact_ids(&outcome.stdout));
    Ok(())
}

/// `ps` with each container id (the first column, 12 random hex digits) as `[ID]`.
fn redact_ids(text: &str) -> String {
    let mut lines = text.lines();
    let mut redacted: Vec<String> = lines.next().map(str::to_string).into_iter().collect();
    for line in lines {
        let id = line.split_whitespace().next().unwrap_or_default();
        redacted.push(line.replacen(id, &format!("{:<12}", "[ID]"), 1));
    }
    redacted.join("\n")
}

fn commit_makes_a_new_image(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    let script = "echo new > /added && rm /etc/group";
    ctx.run(&[
        "run", "--name", "base", "--image", "busybox", "--", "/bin/sh", "-c", script,
    ])?
    .expect_code(0)?;
    ctx.run(&["commit", "base", "committed"])?.expect_code(0)?;
    let check = "cat /added && test ! -e /etc/group && echo group-gone";
    let outcome = ctx.run(&[
        "run",
        "--rm",
        "--image",
        "committed",
        "--",
        "/bin/sh",
        "-c",
        check,
    ])?;
    outcome.expect_code(0)?;
    ensure!(
        outcome.stdout == "new\ngroup-gone\n",
        "the committed image shows:\n{}",
        outcome.stdout
    );
    Ok(())
}

fn commit_writes_an_oci_image_skopeo_reads(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    let store = Store::new(ctx.root());
    let blobs = || std::fs::read_dir(store.root().join("blobs/sha256")).map(|d| d.count());
    let before = blobs()?;
    let script = "echo made > made; echo ran";
    ctx.run(&[
        "run",
        "--name",
        "maker",
        "--image",
        "busybox",
        "-e",
        "COLOR=blue",
        "-w",
        "/tmp",
        "--",
        "/bin/sh",
        "-c",
        script,
    ])?
    .expect_code(0)?;
    // config.json is the merged process: the image's PATH, the flag's env and directory.
    let config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
        ctx.root()
            .join("containers")
            .join(id_of(ctx, "maker")?)
            .join("config.json"),
    )?)?;
    let env = config["process"]["env"].to_string();
    ensure!(
        env.contains("COLOR=blue") && env.contains("PATH=") && config["process"]["cwd"] == "/tmp",
        "config.json's process: {}",
        config["process"]
    );
    ctx.run(&["commit", "maker", "made"])?.expect_code(0)?;
    ensure!(
        blobs()? == before + 3,
        "commit should add three blobs (layer, config, manifest), not copy the base's: {before} -> {}",
        blobs()?
    );
    let layout = format!("oci:{}:made", store.root().display());
    let mut command = std::process::Command::new("skopeo");
    command.args(["inspect", &layout]);
    let inspect = ctx
        .run_command(command)
        .context("skopeo: apt-get install skopeo (./setup.sh does it)")?;
    inspect.expect_code(0)?;
    let inspected: serde_json::Value = serde_json::from_str(&inspect.stdout)?;
    let busybox = store.image("busybox")?;
    let layers: Vec<String> = inspected["Layers"]
        .as_array()
        .context("Layers")?
        .iter()
        .filter_map(|l| l.as_str().map(String::from))
        .collect();
    ensure!(
        layers.len() == busybox.layers.len() + 1 && layers[0] == busybox.layers[0].digest,
        "skopeo sees layers {layers:?}"
    );
    let mut command = std::process::Command::new("skopeo");
    command.args(["inspect", "--config", &layout]);
    let config = ctx.run_command(command)?;
    config.expect_code(0)?;
    let config: serde_json::Value = serde_json::from_str(&config.stdout)?;
    let runtime = &config["config"];
    ensure!(
        runtime["Cmd"] == serde_json::json!(["/bin/sh", "-c", script])
            && runtime["WorkingDir"] == "/tmp"
            && runtime["Env"].to_string().contains("COLOR=blue"),
        "the committed config: {runtime}"
    );
    // And the committed image runs its command by default, where it ran.
    let outcome = ctx.run(&["run", "--rm", "--image", "made", "--", "cat", "made"])?;
    outcome.expect_code(0)?;
    ensure!(outcome.stdout == "made\n", "{}", outcome.printed());
    let outcome = ctx.run(&["run", "--rm", "--image", "made"])?;
    outcome.expect_code(0)?;
    ensure!(outcome.stdout == "ran\n", "{}", outcome.printed());
    Ok(())
}

/// A plain tar layer of (path, contents) files; a path ending in / is a directory.
fn layer(path: &Path, files: &[&str]) -> Result<()> {
    let mut builder = tar::Builder::new(std::fs::File::create(path)?);
    for name in files {
        let mut header = tar::Header::new_gnu();
        let directory = name.ends_with('/');
        header.set_entry_type(if directory {
            tar::EntryType::Directory
        } else {
            tar::EntryType::Regular
        });
        header.set_mode(if directory { 0o755 } else { 0o644 });
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_size(0);
        builder.append_data(&mut header, name, std::io::empty())?;
    }
    builder.finish()?;
    Ok(())
}

fn whiteouts_and_opaque_directories(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    let store = Store::new(ctx.root());
    let (lower, upper) = (ctx.root().join("lower.tar"), ctx.root().join("upper.tar"));
    layer(&lower, &["a/", "a/keep", "a/gone", "dir/", "dir/old"])?;
    layer(
        &upper,
        &["a/", "a/.wh.gone", "dir/", "dir/.wh..wh..opq", "dir/new"],
    )?;
    let busybox = store.image("busybox")?;
    let mut layers: Vec<PathBuf> = busybox
        .layers
        .iter()
        .map(|l| store.blob_path(&l.digest))
        .collect();
    layers.extend([lower, upper]);
    ch04_solution::import::import_layers(&store, "layered", &layers, rootfs_config())?;
    let outcome = ctx.run(&[
        "run", "--rm", "--image", "layered", "--", "find", "/a", "/dir",
    ])?;
    outcome.expect_code(0)?;
    let mut found: Vec<&str> = outcome.stdout.lines().collect();
    found.sort();
    ensure!(
        found == ["/a", "/a/keep", "/dir", "/dir/new"],
        "the container sees {found:?}"
    );
    // A file the image whited out and the container writes again is added, not changed.
    let script = "echo back > /a/gone && echo new > /dir/old";
    ctx.run(&[
        "run", "--name", "rewriter", "--image", "layered", "--", "/bin/sh", "-c", script,
    ])?
    .expect_code(0)?;
    let outcome = ctx.run(&["diff", "rewriter"])?;
    outcome.expect_code(0)?;
    let lines: Vec<&str> = outcome.stdout.lines().collect();
    ensure!(
        lines == ["C /a", "A /a/gone", "C /dir", "A /dir/old"],
        "diff says {lines:?}"
    );
    Ok(())
}

fn rm_removes_the_container(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    ctx.run(&[
        "run", "--name", "doomed", "--image", "busybox", "--", "touch", "/x",
    ])?
    .expect_code(0)?;
    let containers = ctx.root().join("containers");
    ensure!(
        std::fs::read_dir(&containers)?.count() == 1,
        "no container was kept after exit"
    );
    ctx.run(&["rm", "doomed"])?.expect_code(0)?;
    ensure!(
        std::fs::read_dir(&containers)?.count() == 0,
        "rm left the container's directory"
    );
    ctx.run(&["run", "--rm", "--image", "busybox", "--", "touch", "/x"])?
        .expect_code(0)?;
    ensure!(
        std::fs::read_dir(&containers)?.count() == 0,
        "run --rm left the container's directory"
    );
    Ok(())
}

fn unknown_containers_and_taken_names(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    let mut lines = Vec::new();
    for args in [&["diff", "nope"][..], &["rm", "nope"][..]] {
        let outcome = ctx.run(args)?;
        outcome.expect_code(125)?;
        lines.push(ctx.redact(outcome.one_error_line()?));
    }
    ctx.run(&["run", "--name", "taken", "--image", "busybox", "--", "true"])?
        .expect_code(0)?;
    let outcome = ctx.run(&["run", "--name", "taken", "--image", "busybox", "--", "true"])?;
    outcome.expect_code(125)?;
    lines.push(ctx.redact(outcome.one_error_line()?));
    workshop::assert_snapshot!("unknown_and_taken", lines.join("\n"));
    Ok(())
}

fn the_spec_is_kept_as_config_json(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    let volume = ctx.root().join("shared");
    std::fs::create_dir_all(&volume)?;
    // Not `:ro`: a runtime that remounts a volume read-only without MS_BIND changes the whole
    // filesystem the volume is on (here, the host's); chapter 05's checks try that in a mount
    // namespace of their own.
    let mount = format!("{}:/data", volume.display());
    ctx.run(&[
        "run", "--name", "kept", "--memory", "64m", "-e", "A=1", "-w", "/tmp", "-v", &mount,
        "--image", "busybox", "--", "sh", "-c", "exit 3",
    ])?
    .expect_code(3)?;
    let dir = only_container_dir(ctx)?;
    let text = std::fs::read_to_string(dir.join("config.json")).context("no config.json")?;
    let spec: serde_json::Value = serde_json::from_str(&text).context("config.json is not JSON")?;
    ensure!(
        spec["process"]["args"] == serde_json::json!(["sh", "-c", "exit 3"]),
        "process.args: {}",
        spec["process"]["args"]
    );
    ensure!(
        spec["process"]["cwd"] == "/tmp",
        "cwd: {}",
        spec["process"]["cwd"]
    );
    let env = spec["process"]["env"].as_array().context("no env")?;
    ensure!(env.iter().any(|v| v == "A=1"), "-e A=1 is not in {env:?}");
    ensure!(spec["hostname"] == "kept", "hostname: {}", spec["hostname"]);
    ensure!(
        spec["linux"]["resources"]["memory"]["limit"] == 64 << 20,
        "memory limit: {}",
        spec["linux"]["resources"]["memory"]
    );
    ensure!(
        spec["mounts"][0]["destination"] == "/data"
            && spec["mounts"][0]["options"]
                .as_array()
                .is_some_and(|o| o.iter().any(|o| o == "rbind")),
        "mounts: {}",
        spec["mounts"]
    );
    let ps = ctx.run(&["ps", "-a"])?;
    ps.expect_code(0)?;
    ensure!(
        ps.stdout.contains("\"sh -c exit 3\""),
        "ps does not show the command from config.json:\n{}",
        ps.stdout
    );
    ctx.run(&["rm", "kept"])?.expect_code(0)?;
    Ok(())
}

fn mount_points_are_made_in_the_upper_layer(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    let volume = ctx.root().join("vol");
    std::fs::create_dir_all(&volume)?;
    std::fs::write(volume.join("hello"), "hi\n")?;
    // /tmp is in the image (mode 1777); /tmp/a/b is not.
    let mount = format!("{}:/tmp/a/b", volume.display());
    let outcome = ctx.run(&[
        "run",
        "--rm",
        "-v",
        &mount,
        "--image",
        "busybox",
        "--",
        "sh",
        "-c",
        "cat /tmp/a/b/hello; stat -c %a /tmp",
    ])?;
    outcome.expect_code(0)?;
    ensure!(
        outcome.out() == "hi\n1777",
        "expected the volume's file and /tmp still 1777, got {:?}",
        outcome.out()
    );
    Ok(())
}

/// The one container directory of the check's state root.
fn only_container_dir(ctx: &Ctx) -> Result<PathBuf> {
    let dirs: Vec<PathBuf> = std::fs::read_dir(ctx.root().join("containers"))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_dir())
        .collect();
    ensure!(dirs.len() == 1, "expected one container, found {dirs:?}");
    Ok(dirs[0].clone())
}

fn a_whiteout_may_come_without_its_directory(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    let store = Store::new(ctx.root());
    let (lower, upper) = (ctx.root().join("lower.tar"), ctx.root().join("upper.tar"));
    layer(&lower, &["a/", "a/keep", "a/gone", "dir/", "dir/old"])?;
    // No "a/" and no "dir/" entry: the whiteouts come first.
    layer(&upper, &["a/.wh.gone", "dir/.wh..wh..opq", "dir/new"])?;
    let busybox = store.image("busybox")?;
    let mut layers: Vec<PathBuf> = busybox
        .layers
        .iter()
        .map(|l| store.blob_path(&l.digest))
        .collect();
    layers.extend([lower, upper]);
    ch04_solution::import::import_layers(&store, "bare", &layers, rootfs_config())?;
    let outcome = ctx.run(&["run", "--rm", "--image", "bare", "--", "find", "/a", "/dir"])?;
    outcome.expect_code(0)?;
    let mut found: Vec<&str> = outcome.stdout.lines().collect();
    found.sort();
    ensure!(
        found == ["/a", "/a/keep", "/dir", "/dir/new"],
        "the container sees {found:?}"
    );
    Ok(())
}

/// A tar of one file `name` with `mode`, owned by root, holding `data`.
fn one_file_tar(path: &Path, name: &str, mode: u32, data: &[u8]) -> Result<()> {
    let mut builder = tar::Builder::new(std::fs::File::create(path)?);
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_size(data.len() as u64);
    builder.append_data(&mut header, name, data)?;
    builder.finish()?;
    Ok(())
}

/// The id of the container named `name`, from `ps -a`.
fn id_of(ctx: &Ctx, name: &str) -> Result<String> {
    let ps = ctx.run(&["ps", "-a"])?;
    ps.stdout
        .lines()
        .find(|line| line.split_whitespace().nth(1) == Some(name))
        .and_then(|line| line.split_whitespace().next())
        .map(str::to_string)
        .with_context(|| format!("no container {name} in ps -a:\n{}", ps.stdout))
}

fn no_other_user_can_reach_a_layer_or_a_container(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    let store = Store::new(ctx.root());
    // An image whose top layer has a setuid-root `id`, as any image may.
    let suid = ctx.root().join("suid.tar");
    one_file_tar(&suid, "id", 0o4755, &std::fs::read("/usr/bin/id")?)?;
    let mut layers: Vec<PathBuf> = store
        .image("busybox")?
        .layers
        .iter()
        .map(|l| store.blob_path(&l.digest))
        .collect();
    layers.push(suid);
    let manifest = ch04_solution::import::import_layers(&store, "suid", &layers, rootfs_config())?;
    // The container plants a setuid-root copy and a file of its own in its upper layer.
    let script =
        "cp /id /planted && chmod 4755 /planted && echo secret > /secret && chmod 644 /secret";
    ctx.run(&[
        "run", "--name", "planter", "--image", "suid", "--", "/bin/sh", "-c", script,
    ])?
    .expect_code(0)?;
    let top = manifest.layers.last().context("no layer")?;
    let in_layer = ctx.root().join("layers").join(top.diff_hex()).join("id");
    let upper = ctx
        .root()
        .join("containers")
        .join(id_of(ctx, "planter")?)
        .join("upper");
    ensure!(
        in_layer.exists() && upper.join("planted").exists(),
        "the setuid files are not where expected"
    );
    for file in [&in_layer, &upper.join("planted")] {
        let outcome = ctx.run_as_nobody(&[&file.display().to_string(), "-u"])?;
        ensure!(
            outcome.code != Some(0),
            "user nobody ran {} (euid {})",
            file.display(),
            outcome.out()
        );
    }
    let read = ctx.run_as_nobody(&["cat", &upper.join("secret").display().to_string()])?;
    ensure!(
        read.code != Some(0),
        "user nobody read a container's file: {}",
        read.out()
    );
    Ok(())
}

fn one_name_one_container_under_concurrency(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    let args = ["run", "--name", "same", "--image", "busybox", "--", "true"];
    let running: Vec<_> = (0..50).map(|_| ctx.spawn(&args)).collect::<Result<_>>()?;
    let outcomes: Vec<_> = running
        .into_iter()
        .map(|run| run.wait(std::time::Duration::from_secs(60)))
        .collect::<Result<_>>()?;
    let won = outcomes.iter().filter(|o| o.code == Some(0)).count();
    ensure!(won == 1, "{won} of 50 runs got the name");
    for outcome in outcomes.iter().filter(|o| o.code != Some(0)) {
        outcome.expect_code(125)?;
        let line = outcome.one_error_line()?;
        ensure!(
            line.contains("the name \"same\" is already in use"),
            "unclear: {line}"
        );
    }
    let records = std::fs::read_dir(ctx.root().join("containers"))?.count();
    ensure!(records == 1, "{records} containers are kept, not 1");
    ctx.run(&["rm", "same"])?.expect_code(0)?;
    ctx.run(&[
        "run", "--rm", "--name", "same", "--image", "busybox", "--", "true",
    ])?
    .expect_code(0)?;
    Ok(())
}

/// The runtime with `args` under `ulimit -n 1024`.
fn with_few_fds(ctx: &Ctx, args: &[&str]) -> std::process::Command {
    use std::os::unix::process::CommandExt;
    let mut command = ctx.command(args);
    // SAFETY: setrlimit(2) is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(|| {
            nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, 1024, 1024)
                .map_err(std::io::Error::from)
        });
    }
    command
}

fn leftovers_are_cleaned_and_deep_trees_removed(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    ctx.run(&["run", "--rm", "--image", "busybox", "--", "true"])?
        .expect_code(0)?;
    // What a runtime killed during a first extraction leaves: a scratch directory named
    // after its pid, here one no process can have (above any pid_max).
    let partial = ctx
        .root()
        .join("layers/.partial-2147483000-0123456789ab-extracting");
    std::fs::create_dir_all(partial.join("bin"))?;
    std::fs::write(partial.join("bin/half"), "x")?;
    ctx.run(&["run", "--rm", "--image", "busybox", "--", "true"])?
        .expect_code(0)?;
    ensure!(!partial.exists(), "the next run left {}", partial.display());
    // A tree deeper than ulimit -n and PATH_MAX allow, removed by rm.
    let deep = [
        "run",
        "--name",
        "deep",
        "--image",
        "probe",
        "--",
        testing::PROBE_IN_IMAGE,
        "--deep-tree",
        "3000",
        "/deep",
    ];
    let outcome = ctx.run(&deep)?;
    outcome.expect_code(0)?;
    ensure!(
        outcome.stdout.contains("\"depth\":3000"),
        "no tree: {}",
        outcome.stdout
    );
    let removed = ctx.run_command(with_few_fds(ctx, &["rm", "deep"]))?;
    removed.expect_code(0)?;
    let left = std::fs::read_dir(ctx.root().join("containers"))?.count();
    ensure!(left == 0, "rm left {left} container(s)");
    Ok(())
}

fn a_failed_removal_under_rm_is_reported(ctx: &Ctx) -> Result<()> {
    use std::time::Duration;
    ctx.build_images()?;
    let script = "trap 'exit 3' TERM; touch /f; echo ready; while :; do sleep 0.1; done";
    let mut running = ctx.spawn(&[
        "run", "--rm", "--name", "stuck", "--image", "busybox", "--", "/bin/sh", "-c", script,
    ])?;
    running.wait_for_line("ready", Duration::from_secs(20))?;
    let upper = ctx
        .root()
        .join("containers")
        .join(id_of(ctx, "stuck")?)
        .join("upper");
    let file = upper.join("f").display().to_string();
    // An immutable file (chattr(1)) cannot be unlinked, not even by root.
    let chattr = |flag: &str| -> Result<()> {
        let mut command = std::process::Command::new("chattr");
        command.args([flag, &file]);
        ctx.run_command(command)?.expect_code(0)?;
        Ok(())
    };
    chattr("+i")?;
    running.signal(nix::sys::signal::Signal::SIGTERM)?;
    let outcome = running.wait(Duration::from_secs(20));
    chattr("-i")?;
    let outcome = outcome?;
    outcome.expect_code(3)?;
    let line = outcome.one_error_line()?;
    ensure!(
        line.contains("cannot remove") && line.contains("rm "),
        "unclear: {line}"
    );
    ctx.run(&["rm", "stuck"])?.expect_code(0)?;
    Ok(())
}

fn output_into_a_closed_pipe_ends_quietly(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    // No container is needed: the header line alone meets the closed pipe.
    for args in [&["ps", "-a"][..], &["images"][..]] {
        let outcome = ctx.run_with_stdout_closed(args)?;
        outcome.expect_code(0)?;
        ensure!(
            outcome.stderr.is_empty(),
            "{args:?} into a closed pipe said: {}",
            outcome.stderr
        );
    }
    Ok(())
}

fn commit_keeps_fifos_and_refuses_devices(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    ctx.run(&[
        "run", "--name", "piper", "--image", "busybox", "--", "mkfifo", "/pipe",
    ])?
    .expect_code(0)?;
    ctx.run(&["commit", "piper", "piped"])?.expect_code(0)?;
    ctx.run(&[
        "run", "--rm", "--image", "piped", "--", "test", "-p", "/pipe",
    ])?
    .expect_code(0)?;
    let exported = ctx.root().join("piped.tar");
    ctx.run(&["export", "piped", &exported.display().to_string()])?
        .expect_code(0)?;
    ctx.run(&["import", &exported.display().to_string(), "reimported"])?
        .expect_code(0)?;
    ctx.run(&[
        "run",
        "--rm",
        "--image",
        "reimported",
        "--",
        "test",
        "-p",
        "/pipe",
    ])?
    .expect_code(0)?;
    ctx.run(&[
        "run", "--name", "maker", "--image", "busybox", "--", "mknod", "/node", "c", "1", "3",
    ])?
    .expect_code(0)?;
    let outcome = ctx.run(&["commit", "maker", "withnode"])?;
    outcome.expect_code(125)?;
    let line = outcome.one_error_line()?;
    ensure!(
        line.contains("/node") && line.contains("device node"),
        "unclear: {line}"
    );
    ensure!(
        Store::new(ctx.root()).image("withnode").is_err(),
        "the image was made anyway"
    );
    Ok(())
}

fn too_many_layers_is_one_clear_line(ctx: &Ctx) -> Result<()> {
    let store = Store::new(ctx.root());
    let mut layers = Vec::new();
    for n in 0..80 {
        let path = ctx.root().join(format!("layer-{n}.tar"));
        one_file_tar(&path, &format!("file-{n}"), 0o644, b"x")?;
        layers.push(path);
    }
    ch04_solution::import::import_layers(&store, "tall", &layers, rootfs_config())?;
    let outcome = ctx.run(&["run", "--image", "tall", "--", "true"])?;
    outcome.expect_code(125)?;
    let line = outcome.one_error_line()?;
    ensure!(line.contains("too many layers"), "unclear: {line}");
    let left = std::fs::read_dir(ctx.root().join("containers"))
        .map(|d| d.count())
        .unwrap_or(0);
    ensure!(left == 0, "{left} container(s) left");
    Ok(())
}

/// A tmpfs mounted by a check, unmounted (lazily, so it always goes) when dropped.
struct SmallDisk(PathBuf);

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
}

fn a_full_disk_keeps_the_exit_code(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    let small = ctx.root().join("small");
    std::fs::create_dir(&small)?;
    nix::mount::mount(
        Some("tmpfs"),
        &small,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        Some("size=24m,mode=0711"),
    )?;
    let _unmount = SmallDisk(small.clone());
    copy_tree(&ctx.root().join("images"), &small.join("images"))?;
    let on_small = |args: &[&str]| -> Result<testing::Outcome> {
        let mut command = ctx.command(args);
        command.env("BOXCAR_ROOT", &small);
        ctx.run_command(command)
    };
    let fill = "cat /dev/zero > /fill; exit 7";
    on_small(&[
        "run", "--name", "filler", "--image", "busybox", "--", "/bin/sh", "-c", fill,
    ])?
    .expect_code(7)?;
    let ps = on_small(&["ps", "-a"])?;
    let line = ps
        .stdout
        .lines()
        .find(|line| line.contains("filler"))
        .context("no filler in ps -a")?;
    ensure!(
        line.contains("Exited (7)"),
        "the record lost the exit code: {line}"
    );
    let tarball = ctx.root().join("big.tar");
    one_file_tar(&tarball, "big", 0o644, &vec![0u8; 1 << 20])?;
    let outcome = on_small(&["import", &tarball.display().to_string(), "big"])?;
    outcome.expect_code(125)?;
    let line = outcome.one_error_line()?;
    ensure!(
        line.contains("No space left") && !line.contains("not a readable tar"),
        "the full disk is not named, or the archive is blamed: {line}"
    );
    on_small(&["rm", "filler"])?.expect_code(0)?;
    Ok(())
}

fn a_recycled_pid_does_not_look_up(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    ctx.run(&["run", "--name", "gone", "--image", "busybox", "--", "true"])?
        .expect_code(0)?;
    // As if its runtime had been killed and its pid given to a process that runs now (pid 1,
    // which has run all along, so it started at another time).
    let record = ctx
        .root()
        .join("containers")
        .join(id_of(ctx, "gone")?)
        .join("container.json");
    let mut json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&record)?)?;
    let init_start = boxcar::state::start_time(1).context("no start time for pid 1")?;
    json["status"] = "running".into();
    json["runtime_pid"] = 1.into();
    json["runtime_start"] = (init_start + 12345).into();
    json["exit_code"] = serde_json::Value::Null;
    std::fs::write(&record, json.to_string())?;
    let ps = ctx.run(&["ps", "-a"])?;
    let line = ps
        .stdout
        .lines()
        .find(|line| line.contains("gone"))
        .context("no container gone in ps -a")?;
    ensure!(
        line.contains("Dead") && !line.contains("Up"),
        "a recycled pid makes it look alive: {line}"
    );
    ctx.run(&["rm", "gone"])?.expect_code(0)?;
    Ok(())
}
