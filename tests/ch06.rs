//! Chapter 06's behaviour: overlayfs copy-on-write, shared layers, ps --size, diff, commit
//! and rm.
//!
//! Run: `cargo test --test ch06` (every solution from chapter 06 on), or
//! `cargo boxcar verify 6` (your chapters/ch06, with explanations).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{ensure, Context, Result};
use boxcar::image::Store;
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
            "changes::write_layer, then chapter 04's import::import_layers",
            commit_makes_a_new_image,
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
    let busybox = store.manifest("busybox")?;
    let mut layers: Vec<PathBuf> = busybox
        .layers
        .iter()
        .map(|l| store.layer_path("busybox", l))
        .collect();
    layers.extend([lower, upper]);
    ch04_solution::import::import_layers(&store, "layered", &layers)?;
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
    let busybox = store.manifest("busybox")?;
    let mut layers: Vec<PathBuf> = busybox
        .layers
        .iter()
        .map(|l| store.layer_path("busybox", l))
        .collect();
    layers.extend([lower, upper]);
    ch04_solution::import::import_layers(&store, "bare", &layers)?;
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
