//! Chapter 04's behaviour: images as tarballs, a root filesystem per container, chroot — and
//! the escape that shows chroot is not a jail.
//!
//! Run: `cargo test --test ch04` (every solution from chapter 04 on), or
//! `cargo boxcar verify 4` (your chapters/ch04, with explanations).

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{ensure, Context, Result};
use boxcar::image::Store;
use workshop::testing::{self, Check, Ctx, PROBE_IN_IMAGE};

fn main() {
    testing::main(4, checks())
}

fn checks() -> Vec<Check> {
    vec![
        Check::pillar(
            "busybox_runs_from_the_image",
            "busybox runs from the image, and the container sees the image's files, not the host's",
            "after chroot(2), paths starting with / resolve inside the unpacked image",
            "Rootfs::prepare unpacks the image; chroot::enter chroots into it and chdirs to / (chroot alone leaves the working directory on the host)",
            busybox_runs_from_the_image,
        ),
        Check::pillar(
            "a_rootfs_directory_works_too",
            "--rootfs DIR runs the command with DIR as its root",
            "a root filesystem is only a directory tree; an image is one way to make it",
            "Source::Dir is used as it is, without copying",
            a_rootfs_directory_works_too,
        ),
        Check::pillar(
            "the_chroot_escape",
            "the textbook chroot escape reaches the host under chroot (chapter 04) and fails from chapter 05 on",
            "chroot changes only how / resolves; a root process can chroot again with its working directory outside",
            "in chapter 04 the escape must work: is the container really chrooted (chroot::enter)?",
            the_chroot_escape,
        ),
        Check::pillar(
            "the_command_in_the_image_has_only_stdio",
            "the command in the image starts with fds 0, 1 and 2 only, and /proc shows only the container",
            "a leaked fd of the host's filesystem is a way out of any root (runc's CVE-2024-21626)",
            "mount /proc after chroot, so it lands on the container's /proc",
            the_command_in_the_image_has_only_stdio,
        ),
        Check::pillar(
            "a_command_missing_from_the_image_is_127",
            "a command that is not in the image gives 127 and one clear line",
            "after chroot, PATH is searched in the image, not on the host",
            "chroot must happen before exec searches PATH",
            a_command_missing_from_the_image_is_127,
        ),
        Check::baseline(
            "a_missing_image_is_one_clear_line",
            "--image with an unknown name is refused with one line and exit 125, leaving nothing",
            "the image is looked up before any cgroup or directory is created",
            "Source::of reads the manifest first",
            a_missing_image_is_one_clear_line,
        ),
        Check::baseline(
            "an_empty_rootfs_is_one_clear_line",
            "--rootfs with an empty directory is refused with one line and exit 125",
            "an empty root has no command to run; saying so beats a puzzling 127",
            "Source::of checks the directory has entries",
            an_empty_rootfs_is_one_clear_line,
        ),
        Check::pillar(
            "hostile_tarballs_are_refused",
            "importing a tarball that climbs out with .., is absolute, writes through a symlink or hard-links outside is refused, naming the entry",
            "an image is untrusted input: extraction must never write outside its destination",
            "every entry passes extract::check before anything is written: the name (clean), the directories on its way (check_parents), a hard link's target (check_link_target)",
            hostile_tarballs_are_refused,
        ),
        Check::pillar(
            "entries_linux_cannot_make_are_refused_by_name",
            "an entry under a symlink deeper down or under a file, one with an overlong name, a hard link to nothing, to a directory or to itself is refused before anything is written, naming the entry",
            "the rules decide before extraction; an entry that fails later, half-written, leaves the learner an errno instead of the reason",
            "extract::clean (the limits of path_resolution(7)), check_parents (what may stand on the way), check_link_target (what link(2) can link)",
            entries_linux_cannot_make_are_refused_by_name,
        ),
                Check::baseline(
            "the_store_is_closed_to_other_users",
            "the state root is 0711 and images/, layers/, containers/ are 0700, a store from before tightened: no other user can list or read them",
            "an image keeps its setuid-root files; a store others can walk into lets any local user run one and become root",
            "the kit's state::secure, called before any command (chapters 04 on)",
            the_store_is_closed_to_other_users,
        ),
        Check::pillar(
            "a_killed_runtimes_rootfs_is_cleaned_by_the_next_run",
            "the root filesystem copy of a runtime killed with SIGKILL is removed by the next run (from chapter 06: its record says Dead and rm removes it)",
            "a killed runtime cleans nothing; the next one must, telling a dead runtime's copy from a live one's by pid and start time",
            "Rootfs::prepare creates containers/<id> with own_container_dir, which writes the owner file and sweeps dead runtimes' copies",
            a_killed_runtimes_rootfs_is_cleaned_by_the_next_run,
        ),
        Check::pillar(
            "a_tree_deeper_than_ulimit_n_is_removed",
            "a container that made 3,000 nested directories is removed at exit under `ulimit -n 1024`",
            "removal must not depend on depth: one open directory per level runs out of file descriptors (EMFILE), a path per entry out of PATH_MAX",
            "remove containers' directories with boxcar::tree::remove_tree, not std::fs::remove_dir_all",
            a_tree_deeper_than_ulimit_n_is_removed,
        ),
                Check::pillar(
            "images_import_and_export",
            "images lists the store; export writes an OCI archive that import reads back",
            "an image is tar layers, a config and a manifest, each named by its sha256 digest",
            "import checks each entry with the same rules as extraction (extract::check); export writes the image's blobs as they are",
            images_import_and_export,
        ),
        Check::pillar(
            "skopeo_and_umoci_read_the_store",
            "skopeo copies an image of the store to oci-archive: and dir: and back, and umoci unpacks it into the same tree as ours",
            "the store is an OCI image layout: index.json names each image, blobs/sha256 holds manifests, configs and layers by digest",
            "Store writes oci-layout, index.json (ref.name annotation) and blobs; export writes the layout in a tar; import keeps blobs byte for byte",
            skopeo_and_umoci_read_the_store,
        ),
        Check::pillar(
            "an_images_config_runs_and_flags_override_it",
            "an image made by umoci with Entrypoint, Cmd, Env, WorkingDir and User runs with them, and -e, -w, --user, --entrypoint and a command override them; a missing working directory is made inside the container; a docker-archive imports and runs",
            "an image is files and a config: docker runs the image's own command, in its directory, as its user, with its environment",
            "image_config::merge under the flags; user::resolve in the image's /etc/passwd; user::switch setgroups, setgid, setuid in the child",
            an_images_config_runs_and_flags_override_it,
        ),
        Check::baseline(
            "bad_images_are_one_clear_line",
            "a blob that does not match its digest, an unknown media type, an index with no image for this platform, a zstd layer, two images of one name: one line, exit 125, no image and no blob left",
            "an image comes from outside: every digest is checked before anything is named",
            "archive::import_oci checks each blob (layout_blob, store_layer's Expected); Store::find refuses two entries of one name",
            bad_images_are_one_clear_line,
        ),
        Check::pillar(
            "a_layer_changed_after_import_is_refused",
            "a layer whose bytes changed after import is refused when it is extracted, in one line, exit 125",
            "the digest names the layer: a blob that no longer matches it is not the image that was imported",
            "extract_checked compares the sha256 of the bytes it extracted with the manifest's digest",
            a_layer_changed_after_import_is_refused,
        ),
    ]
}

fn busybox_runs_from_the_image(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    let outcome = ctx.run(&["run", "--image", "busybox", "--", "cat", "/etc/os-release"])?;
    outcome.expect_code(0)?;
    ensure!(
        outcome.stdout.contains("boxcar busybox"),
        "not the image's os-release:\n{}",
        outcome.stdout
    );
    // chroot does not move the working directory: one left on the host is a way out.
    let outcome = ctx.run(&["run", "--image", "busybox", "--", "pwd"])?;
    outcome.expect_code(0)?;
    ensure!(
        outcome.out() == "/",
        "the command starts in {:?}, not in the image's /",
        outcome.out()
    );
    // Under --init, PID 1 is the runtime itself and never execs: its working directory is
    // the one chroot::enter left it in (the command's own is set again before exec).
    // /proc/1/cwd leads there wherever it is, even outside the container's root.
    let outcome = ctx.run(&[
        "run",
        "--init",
        "--image",
        "busybox",
        "--",
        "cat",
        "/proc/1/cwd/etc/os-release",
    ])?;
    ensure!(
        outcome.code == Some(0) && outcome.stdout.contains("boxcar busybox"),
        "the container's init does not stand in the image's /: its working directory is \
         still on the host\n{}",
        outcome.stdout
    );
    let marker = ctx.root().join("host-only");
    std::fs::write(&marker, "")?;
    let script = format!("test -e {} && echo host || echo image", marker.display());
    let outcome = ctx.run(&["run", "--image", "busybox", "--", "/bin/sh", "-c", &script])?;
    ensure!(
        outcome.out() == "image",
        "the container sees the host's files ({})",
        outcome.out()
    );
    // The unpacked copy is the container's alone: it goes when the container ends (from
    // chapter 06 on a container is kept until rm, and tested there).
    if ctx.chapter() < 6 {
        let left = listing(&ctx.root().join("containers"));
        ensure!(
            left.is_empty(),
            "the container's unpacked root filesystem was left behind: {left:?}"
        );
    }
    Ok(())
}

fn a_rootfs_directory_works_too(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    let dir = ctx.root().join("a-rootfs");
    ch04_solution::unpack::unpack(&Store::new(ctx.root()), "busybox", &dir)?;
    std::fs::write(dir.join("etc/hostname"), "from-a-directory\n")?;
    let outcome = ctx.run(&[
        "run",
        "--rootfs",
        &dir.display().to_string(),
        "--",
        "cat",
        "/etc/hostname",
    ])?;
    outcome.expect_code(0)?;
    ensure!(
        outcome.out() == "from-a-directory",
        "read {:?}",
        outcome.out()
    );
    ensure!(
        dir.join("bin/busybox").exists(),
        "the --rootfs directory was removed or changed"
    );
    Ok(())
}

fn the_chroot_escape(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    let marker = ctx.root().join("only-on-the-host");
    std::fs::write(&marker, "")?;
    let marker = marker.display().to_string();
    let outcome = ctx.run(&[
        "run",
        "--image",
        "probe",
        "--",
        PROBE_IN_IMAGE,
        "--escape-chroot",
        &marker,
    ])?;
    outcome.expect_code(0)?;
    let seen: serde_json::Value =
        serde_json::from_str(&outcome.stdout).context("the probe printed no JSON")?;
    let escaped = seen["escaped"] == true;
    if ctx.chapter() == 4 {
        ensure!(
            escaped,
            "the escape did not reach the host: {seen} — under plain chroot it should"
        );
    } else {
        ensure!(
            !escaped,
            "the escape reached the host's {marker}: the old root is still reachable"
        );
    }
    Ok(())
}

fn the_command_in_the_image_has_only_stdio(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    let outcome = ctx.run(&[
        "run",
        "--image",
        "probe",
        "--",
        PROBE_IN_IMAGE,
        "--only",
        "fds,processes",
    ])?;
    outcome.expect_code(0)?;
    let seen: serde_json::Value =
        serde_json::from_str(&outcome.stdout).context("the probe printed no JSON")?;
    let fds: Vec<u64> = seen["fds"]
        .as_array()
        .context("no fds")?
        .iter()
        .filter_map(|f| f["fd"].as_u64())
        .collect();
    ensure!(
        fds == [0, 1, 2],
        "fds open in the container: {}",
        seen["fds"]
    );
    let pids: Vec<u64> = seen["processes"]
        .as_array()
        .context("no processes")?
        .iter()
        .filter_map(|p| p["pid"].as_u64())
        .collect();
    ensure!(pids == [1], "/proc in the container lists {pids:?}");
    Ok(())
}

fn a_command_missing_from_the_image_is_127(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    let outcome = ctx.run(&["run", "--image", "busybox", "--", "bash"])?;
    outcome.expect_code(127)?;
    workshop::assert_snapshot!("missing_in_image", ctx.redact(outcome.one_error_line()?));
    Ok(())
}

fn a_missing_image_is_one_clear_line(ctx: &Ctx) -> Result<()> {
    let outcome = ctx.run(&["run", "--image", "no-such-image", "--", "true"])?;
    outcome.expect_code(125)?;
    workshop::assert_snapshot!("missing_image", ctx.redact(outcome.one_error_line()?));
    Ok(())
}

fn an_empty_rootfs_is_one_clear_line(ctx: &Ctx) -> Result<()> {
    let empty = ctx.root().join("empty");
    std::fs::create_dir_all(&empty)?;
    let outcome = ctx.run(&[
        "run",
        "--rootfs",
        &empty.display().to_string(),
        "--",
        "true",
    ])?;
    outcome.expect_code(125)?;
    let line = outcome.one_error_line()?;
    ensure!(line.contains("is empty"), "unclear: {line}");
    Ok(())
}

/// A tar entry: (name, kind, link target or "").
type RawEntry<'a> = (&'a str, tar::EntryType, &'a str);

/// A tar whose entry names are written raw, so `..` and `/` survive.
fn tar_with_raw_entries(path: &Path, entries: &[RawEntry]) -> Result<()> {
    let mut builder = tar::Builder::new(std::fs::File::create(path)?);
    for (name, kind, link) in entries {
        let mut header = tar::Header::new_gnu();
        header.as_gnu_mut().context("gnu header")?.name[..name.len()]
            .copy_from_slice(name.as_bytes());
        header.set_entry_type(*kind);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        if !link.is_empty() {
            header.set_link_name_literal(link)?;
        }
        let data: &[u8] = if *kind == tar::EntryType::Regular {
            b"pwned\n"
        } else {
            b""
        };
        header.set_size(data.len() as u64);
        header.set_cksum();
        builder.append(&header, data)?;
    }
    builder.finish()?;
    Ok(())
}

/// Every path under `dir`, to prove nothing appeared.
fn listing(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            found.push(entry.path().display().to_string());
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                pending.push(entry.path());
            }
        }
    }
    found.sort();
    found
}

fn hostile_tarballs_are_refused(ctx: &Ctx) -> Result<()> {
    use tar::EntryType::{Link, Regular, Symlink};
    let outside = ctx.root().join("outside");
    std::fs::create_dir_all(&outside)?;
    let outside_text = outside.display().to_string();
    let cases: Vec<(&str, Vec<RawEntry>)> = vec![
        ("dotdot", vec![("../../../../evil", Regular, "")]),
        ("hardlink", vec![("passwd", Link, "/etc/passwd")]),
        (
            "hardlink-through-symlink",
            vec![("etc", Symlink, "/etc"), ("shadow", Link, "etc/shadow")],
        ),
        // Whiteouts that name no file: flattening `a/.wh...` would remove `a/..`.
        (
            "whiteout-dotdot",
            vec![("a/keep", Regular, ""), ("a/.wh...", Regular, "")],
        ),
        ("whiteout-dot", vec![(".wh..", Regular, "")]),
        ("whiteout-empty", vec![(".wh.", Regular, "")]),
        ("absolute", vec![("/tmp/boxcar-evil", Regular, "")]),
        (
            "symlink",
            vec![
                ("link", Symlink, outside_text.as_str()),
                ("link/evil", Regular, ""),
            ],
        ),
    ];
    let mut lines = Vec::new();
    for (name, entries) in cases {
        let tarball = ctx.root().join(format!("{name}.tar"));
        tar_with_raw_entries(&tarball, &entries)?;
        let outcome = ctx.run(&["import", &tarball.display().to_string(), name])?;
        outcome.expect_code(125)?;
        lines.push(
            ctx.redact(outcome.one_error_line()?)
                .replace(&outside_text, "[OUTSIDE]"),
        );
        std::fs::remove_file(&tarball)?;
    }
    ensure!(
        listing(&outside).is_empty(),
        "something was written through the symlink: {:?}",
        listing(&outside)
    );
    ensure!(
        !Path::new("/tmp/boxcar-evil").exists(),
        "an absolute entry was written on the host"
    );
    // Where the climbing entry would land, from anywhere in the store: somewhere above it.
    let evil: Vec<String> = listing(Path::new(testing::TEST_ROOTS))
        .into_iter()
        .filter(|p| p.ends_with("/evil"))
        .collect();
    ensure!(
        evil.is_empty() && !Path::new("/tmp/evil").exists(),
        "a file climbed out with ..: {evil:?}"
    );
    ensure!(
        Store::new(ctx.root()).list()?.is_empty(),
        "a refused image was listed"
    );
    workshop::assert_snapshot!("hostile_tarballs", lines.join("\n"));
    Ok(())
}

fn images_import_and_export(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    let exported = ctx.root().join("busybox.tar");
    ctx.run(&["export", "busybox", &exported.display().to_string()])?
        .expect_code(0)?;
    ctx.run(&["import", &exported.display().to_string(), "copy"])?
        .expect_code(0)?;
    let outcome = ctx.run(&["images"])?;
    outcome.expect_code(0)?;
    let names: Vec<&str> = outcome
        .stdout
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    ensure!(
        names == ["busybox", "copy", "probe"],
        "images listed {names:?}\n{}",
        outcome.stdout
    );
    Ok(())
}

fn a_layer_changed_after_import_is_refused(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    // A copy of busybox's files in a layer of its own (an OCI export would share busybox's
    // blob); then one byte of its blob flipped.
    let exported = ctx.root().join("busybox.tar");
    ctx.run(&[
        "export",
        "--rootfs",
        "busybox",
        &exported.display().to_string(),
    ])?
    .expect_code(0)?;
    ctx.run(&["import", &exported.display().to_string(), "tampered"])?
        .expect_code(0)?;
    let store = Store::new(ctx.root());
    let image = store.image("tampered")?;
    let blob = store.blob_path(&image.layers[0].digest);
    let mut bytes = std::fs::read(&blob)?;
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&blob, bytes)?;
    let outcome = ctx.run(&["run", "--image", "tampered", "--", "true"])?;
    outcome.expect_code(125)?;
    let line = outcome.one_error_line()?;
    ensure!(
        line.contains("damaged") || line.contains("sha256") || line.contains("refusing"),
        "the refusal does not say the layer changed: {line}"
    );
    let left = listing(&ctx.root().join("containers"));
    ensure!(
        left.is_empty(),
        "the refused run left its half-unpacked root filesystem behind: {left:?}"
    );
    Ok(())
}

fn entries_linux_cannot_make_are_refused_by_name(ctx: &Ctx) -> Result<()> {
    use tar::EntryType::{Directory, Link, Regular};
    let component = "c".repeat(300);
    let long_name = vec!["d".repeat(250); 17].join("/");
    // 17 × 240 bytes and 16 slashes: 4096 bytes, one more than a name can have (PATH_MAX
    // counts the closing NUL).
    let path_max_name = vec!["e".repeat(240); 17].join("/");
    // (case, entries, the entry to be named); names over 100 bytes go in as GNU long names.
    let outside = ctx.root().display().to_string();
    let cases: Vec<(&str, Vec<RawEntry>, &str)> = vec![
        (
            "symlink-below-a-directory",
            vec![
                ("d", Directory, ""),
                ("d/link", tar::EntryType::Symlink, outside.as_str()),
                ("d/link/evil", Regular, ""),
            ],
            "\"d/link/evil\"",
        ),
        (
            "under-a-file",
            vec![("f", Regular, ""), ("f/x", Regular, "")],
            "\"f/x\"",
        ),
        ("link-to-nothing", vec![("l", Link, "nothere")], "\"l\""),
        (
            "link-to-a-directory",
            vec![("d", Directory, ""), ("l", Link, "d")],
            "\"l\"",
        ),
        (
            "link-to-itself",
            vec![("l", Regular, ""), ("l", Link, "l")],
            "\"l\"",
        ),
        (
            "long-component",
            vec![(component.as_str(), Regular, "")],
            "…",
        ),
        ("long-name", vec![(long_name.as_str(), Regular, "")], "…"),
        (
            "name-of-path-max-bytes",
            vec![(path_max_name.as_str(), Regular, "")],
            "…",
        ),
    ];
    for (name, entries, named) in cases {
        let tarball = ctx.root().join(format!("{name}.tar"));
        tar_with_long_names(&tarball, &entries)?;
        let outcome = ctx.run(&["import", &tarball.display().to_string(), name])?;
        outcome.expect_code(125)?;
        let line = outcome.one_error_line()?;
        ensure!(
            line.contains("refusing layer entry") && line.contains(named),
            "case {name}: the entry was not refused by the rules, but failed: {line}"
        );
        std::fs::remove_file(&tarball)?;
    }
    ensure!(
        Store::new(ctx.root()).list()?.is_empty(),
        "a refused image was listed"
    );
    Ok(())
}

/// The permission bits of `path`.
fn mode_of(path: &Path) -> Result<u32> {
    use std::os::unix::fs::MetadataExt;
    Ok(std::fs::metadata(path)
        .with_context(|| format!("no {}", path.display()))?
        .mode()
        & 0o7777)
}

fn the_store_is_closed_to_other_users(ctx: &Ctx) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    ctx.build_images()?;
    // A store as runtimes made it before: everything 0755.
    let root = ctx.root();
    std::fs::create_dir_all(root.join("containers"))?;
    for dir in [
        root.to_path_buf(),
        root.join("images"),
        root.join("containers"),
    ] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
    }
    ctx.run(&["images"])?.expect_code(0)?;
    let root_mode = mode_of(root)?;
    ensure!(
        root_mode & 0o066 == 0,
        "the state root is {root_mode:o}: other users can list it (want 0711 or 0700)"
    );
    for name in ["images", "layers", "containers"] {
        let mode = mode_of(&root.join(name))?;
        ensure!(mode & 0o077 == 0, "{name}/ is {mode:o}, not 0700");
    }
    let listing = ctx.run_as_nobody(&["ls", &root.join("images").display().to_string()])?;
    ensure!(
        listing.code != Some(0),
        "user nobody can list the images:\n{}",
        listing.stdout
    );
    Ok(())
}

/// A tar of (name, kind, link target or "") entries, long names as GNU long-name records.
fn tar_with_long_names(path: &Path, entries: &[RawEntry]) -> Result<()> {
    let mut builder = tar::Builder::new(std::fs::File::create(path)?);
    for (name, kind, link) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(*kind);
        header.set_mode(if *kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_size(0);
        if link.is_empty() {
            builder.append_data(&mut header, name, std::io::empty())?;
        } else {
            builder.append_link(&mut header, name, link)?;
        }
    }
    builder.finish()?;
    Ok(())
}

/// The container directories in `root/containers`.
fn container_dirs(root: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(root.join("containers"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .collect()
}

fn a_killed_runtimes_rootfs_is_cleaned_by_the_next_run(ctx: &Ctx) -> Result<()> {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    use std::time::Duration;
    ctx.build_images()?;
    let wait = [
        "run",
        "--image",
        "busybox",
        "--",
        "/bin/sh",
        "-c",
        "echo ready; exec sleep 30",
    ];
    let mut killed = ctx.spawn(&wait)?;
    killed.wait_for_line("ready", Duration::from_secs(20))?;
    // A second runtime, alive throughout: its copy must survive the cleaning.
    let mut alive = ctx.spawn(&wait)?;
    alive.wait_for_line("ready", Duration::from_secs(20))?;
    let dirs = container_dirs(ctx.root());
    ensure!(dirs.len() == 2, "expected two containers, found {dirs:?}");
    killed.signal(Signal::SIGKILL)?;
    killed.wait(Duration::from_secs(10))?;
    ensure!(
        container_dirs(ctx.root()).len() == 2,
        "the killed runtime's directory vanished by itself?"
    );
    // The next run cleans up (its cgroup too: any run cleans stale cgroups).
    let next: &[&str] = if ctx.chapter() < 6 {
        &["run", "--image", "busybox", "--", "true"]
    } else {
        &["run", "--rm", "--image", "busybox", "--", "true"]
    };
    ctx.run(next)?.expect_code(0)?;
    if ctx.chapter() >= 6 {
        // Chapter 06 keeps a container until rm: the dead one is listed as Dead, and rm
        // removes it.
        let ps = ctx.run(&["ps", "-a"])?;
        let dead: Vec<&str> = ps
            .stdout
            .lines()
            .filter(|line| line.contains("Dead"))
            .filter_map(|line| line.split_whitespace().next())
            .collect();
        ensure!(
            dead.len() == 1,
            "ps -a does not show one Dead container:\n{}",
            ps.stdout
        );
        ctx.run(&["rm", dead[0]])?.expect_code(0)?;
    }
    let after = container_dirs(ctx.root());
    ensure!(
        after.len() == 1,
        "the killed runtime's copy is still there, or the live one's is gone: {after:?}"
    );
    // End the live one the ordinary way: its command dies, its runtime cleans up.
    let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", alive.pid()))?;
    let child: i32 = children
        .split_whitespace()
        .next()
        .context("the live runtime has no child")?
        .parse()?;
    kill(Pid::from_raw(child), Signal::SIGKILL)?;
    alive.wait(Duration::from_secs(10))?.expect_code(137)?;
    if ctx.chapter() >= 6 {
        for dir in container_dirs(ctx.root()) {
            let id = dir
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            ctx.run(&["rm", &id])?.expect_code(0)?;
        }
    }
    ensure!(
        container_dirs(ctx.root()).is_empty(),
        "left: {:?}",
        container_dirs(ctx.root())
    );
    Ok(())
}

fn a_tree_deeper_than_ulimit_n_is_removed(ctx: &Ctx) -> Result<()> {
    use std::os::unix::process::CommandExt;
    ctx.build_images()?;
    let mut args = vec!["run", "--image", "probe"];
    if ctx.chapter() >= 6 {
        args.push("--rm");
    }
    args.extend(["--", PROBE_IN_IMAGE, "--deep-tree", "3000", "/deep"]);
    let mut command = ctx.command(&args);
    // SAFETY: setrlimit(2) is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(|| {
            nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, 1024, 1024)
                .map_err(std::io::Error::from)
        });
    }
    let outcome = ctx.run_command(command)?;
    outcome.expect_code(0)?;
    ensure!(
        outcome.stdout.contains("\"depth\":3000"),
        "the probe did not make the tree: {}",
        outcome.stdout
    );
    ensure!(
        outcome.stderr.trim().is_empty(),
        "the runtime complained: {}",
        outcome.stderr
    );
    let left = container_dirs(ctx.root());
    ensure!(left.is_empty(), "the container was not removed: {left:?}");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The OCI image format, with the ecosystem's own tools.

/// Run a host tool (skopeo, umoci) to the end; it must exist: ./setup.sh installs both.
fn tool(ctx: &Ctx, program: &str, args: &[&str]) -> Result<testing::Outcome> {
    let mut command = std::process::Command::new(program);
    command.args(args).current_dir(ctx.root());
    let outcome = ctx.run_command(command).with_context(|| {
        format!("cannot run {program}: apt-get install skopeo umoci (./setup.sh does it)")
    })?;
    ensure!(
        outcome.code == Some(0),
        "{program} {args:?} failed\n{}",
        outcome.printed()
    );
    Ok(outcome)
}

fn arg(path: &Path) -> String {
    path.display().to_string()
}

/// One path of a tree: (type, mode, uid, gid, content).
type Node = (String, u32, u32, u32, Vec<u8>);

/// What a tree holds, path by path: type, mode, owner, size, and the content (a file's
/// bytes, a symlink's target). mtimes are left out: tools set directories' differently.
fn tree(root: &Path) -> Result<BTreeMap<PathBuf, Node>> {
    let mut found = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            let meta = std::fs::symlink_metadata(&path)?;
            let (kind, content) = if meta.is_symlink() {
                (
                    "symlink",
                    std::fs::read_link(&path)?
                        .into_os_string()
                        .into_encoded_bytes(),
                )
            } else if meta.is_dir() {
                pending.push(path.clone());
                ("dir", Vec::new())
            } else if meta.is_file() {
                ("file", std::fs::read(&path)?)
            } else {
                ("other", Vec::new())
            };
            let relative = path.strip_prefix(root)?.to_path_buf();
            found.insert(
                relative,
                (
                    kind.to_string(),
                    meta.mode() & 0o7777,
                    meta.uid(),
                    meta.gid(),
                    content,
                ),
            );
        }
    }
    Ok(found)
}

fn skopeo_and_umoci_read_the_store(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    let store = Store::new(ctx.root());
    let layout = format!("oci:{}:busybox", arg(store.root()));
    let archive = ctx.root().join("busybox-oci.tar");
    let dir = ctx.root().join("busybox-dir");
    tool(
        ctx,
        "skopeo",
        &["copy", &layout, &format!("oci-archive:{}", arg(&archive))],
    )?;
    tool(
        ctx,
        "skopeo",
        &["copy", &layout, &format!("dir:{}", arg(&dir))],
    )?;
    // And back: skopeo's archive, and the dir: copy turned into one, import and run.
    let from_dir = ctx.root().join("from-dir.tar");
    tool(
        ctx,
        "skopeo",
        &[
            "copy",
            &format!("dir:{}", arg(&dir)),
            &format!("oci-archive:{}", arg(&from_dir)),
        ],
    )?;
    for (file, name) in [(&archive, "viaskopeo"), (&from_dir, "viadir")] {
        ctx.run(&["import", &arg(file), name])?.expect_code(0)?;
        let outcome = ctx.run(&["run", "--image", name, "--", "cat", "/etc/os-release"])?;
        outcome.expect_code(0)?;
        ensure!(
            outcome.stdout.contains("boxcar-busybox"),
            "{}",
            outcome.printed()
        );
    }
    let ours = store.image("busybox")?;
    let back = store.image("viaskopeo")?;
    ensure!(
        back.descriptor.digest() == ours.descriptor.digest(),
        "the round trip changed the manifest: {} became {}",
        ours.descriptor.digest(),
        back.descriptor.digest()
    );
    // Our export is an archive skopeo reads too.
    let exported = ctx.root().join("exported.tar");
    ctx.run(&["export", "busybox", &arg(&exported)])?
        .expect_code(0)?;
    let inspected = tool(
        ctx,
        "skopeo",
        &["inspect", &format!("oci-archive:{}", arg(&exported))],
    )?;
    ensure!(
        inspected.stdout.contains(&ours.layers[0].digest),
        "skopeo does not see our layer in the export:\n{}",
        inspected.stdout
    );
    // umoci unpacks an image of the store into the same tree as our extraction.
    let copy = ctx.root().join("layout-copy");
    copy_tree(store.root(), &copy)?;
    let bundle = ctx.root().join("bundle");
    tool(
        ctx,
        "umoci",
        &[
            "unpack",
            "--image",
            &format!("{}:probe", arg(&copy)),
            &arg(&bundle),
        ],
    )?;
    let mine = ctx.root().join("mine");
    ch04_solution::unpack::unpack(&store, "probe", &mine)?;
    let (theirs, ours) = (tree(&bundle.join("rootfs"))?, tree(&mine)?);
    ensure!(
        theirs.len() > 100,
        "umoci unpacked only {} entries",
        theirs.len()
    );
    let differ: Vec<_> = theirs
        .iter()
        .filter(|(path, what)| ours.get(*path) != Some(what))
        .map(|(path, _)| path)
        .chain(ours.keys().filter(|path| !theirs.contains_key(*path)))
        .take(5)
        .collect();
    ensure!(
        differ.is_empty(),
        "umoci's tree and ours differ at {differ:?}"
    );
    Ok(())
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

fn an_images_config_runs_and_flags_override_it(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    let store = Store::new(ctx.root());
    // umoci makes the image: busybox's files repacked, then its config set.
    let layout = ctx.root().join("umoci-layout");
    copy_tree(store.root(), &layout)?;
    let bundle = ctx.root().join("bundle");
    let at = |tag: &str| format!("{}:{tag}", arg(&layout));
    tool(
        ctx,
        "umoci",
        &["unpack", "--image", &at("busybox"), &arg(&bundle)],
    )?;
    std::fs::write(
        bundle.join("rootfs/etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:4242:4343:app:/home/app:/bin/sh\n",
    )?;
    std::fs::write(
        bundle.join("rootfs/etc/group"),
        "root:x:0:\napp:x:4343:\nextra:x:77:app\n",
    )?;
    // A symlink to / in the image: a working directory made through it must stay inside.
    std::os::unix::fs::symlink("/", bundle.join("rootfs/escape"))?;
    tool(
        ctx,
        "umoci",
        &["repack", "--image", &at("base"), &arg(&bundle)],
    )?;
    let script = "echo $GREETING; id -u; id -g; id -G; pwd; echo $HOME";
    tool(
        ctx,
        "umoci",
        &[
            "config",
            "--image",
            &at("base"),
            "--tag",
            "app",
            "--config.entrypoint",
            "/bin/sh",
            "--config.entrypoint",
            "-c",
            "--config.cmd",
            script,
            "--config.env",
            "GREETING=hello",
            "--config.workingdir",
            "/tmp",
            "--config.user",
            "app",
        ],
    )?;
    let archive = ctx.root().join("app.tar");
    tool(
        ctx,
        "skopeo",
        &[
            "copy",
            &format!("oci:{}", at("app")),
            &format!("oci-archive:{}", arg(&archive)),
        ],
    )?;
    ctx.run(&["import", &arg(&archive), "app"])?
        .expect_code(0)?;
    let lines = |args: &[&str]| -> Result<Vec<String>> {
        let outcome = ctx.run(args)?;
        outcome.expect_code(0)?;
        Ok(outcome.stdout.lines().map(String::from).collect())
    };
    let own = lines(&["run", "--image", "app"])?;
    ensure!(
        own == ["hello", "4242", "4343", "4343 77", "/tmp", "/home/app"],
        "the image's own command, env, user (groups from its /etc/group), dir and HOME: {own:?}"
    );
    let overridden = lines(&[
        "run",
        "--image",
        "app",
        "-e",
        "GREETING=bye",
        "-w",
        "/",
        "--user",
        "0:0",
    ])?;
    ensure!(
        overridden == ["bye", "0", "0", "0", "/", "/root"],
        "-e, -w and --user win over the image: {overridden:?}"
    );
    // A working directory the image lacks is made, as docker makes it, inside the container
    // even when the path crosses a symlink to /.
    // (pwd prints the path with the symlink resolved, in the container: /boxcar-workdir-N.)
    let missing = format!("/escape/boxcar-workdir-{}", std::process::id());
    let resolved = missing.trim_start_matches("/escape").to_string();
    let made = lines(&["run", "--image", "app", "-w", &missing, "--", "pwd"])?;
    ensure!(
        made == [resolved.clone()],
        "a missing -w directory is made in the container and used: {made:?}"
    );
    ensure!(
        !Path::new(&resolved).exists(),
        "the working directory was made on the host, through the image's symlink: {resolved}"
    );
    let command = lines(&["run", "--image", "app", "--", "echo replaced; id -un"])?;
    ensure!(
        command == ["replaced", "app"],
        "a command replaces Cmd only: {command:?}"
    );
    let entry = lines(&[
        "run",
        "--image",
        "app",
        "--entrypoint",
        "/bin/echo",
        "--",
        "entry",
    ])?;
    ensure!(
        entry == ["entry"],
        "--entrypoint replaces the Entrypoint: {entry:?}"
    );
    let ghost = ctx.run(&["run", "--image", "app", "--user", "ghost", "--", "true"])?;
    ghost.expect_code(125)?;
    ensure!(
        ghost.one_error_line()?.contains("ghost"),
        "{}",
        ghost.printed()
    );
    // skopeo's docker-archive (docker save's format) imports and runs too.
    let docker = ctx.root().join("docker.tar");
    tool(
        ctx,
        "skopeo",
        &[
            "copy",
            &format!("oci:{}", at("app")),
            &format!("docker-archive:{}:app:latest", arg(&docker)),
        ],
    )?;
    ctx.run(&["import", &arg(&docker), "fromdocker"])?
        .expect_code(0)?;
    let docker_run = lines(&["run", "--image", "fromdocker"])?;
    ensure!(
        docker_run == own,
        "the docker-archive runs otherwise: {docker_run:?}"
    );
    Ok(())
}

/// The blobs of a store, and anything half-written in it.
fn store_state(ctx: &Ctx) -> Vec<String> {
    let images = ctx.root().join("images");
    let mut found: Vec<String> = listing(&images.join("blobs/sha256"));
    found.extend(
        listing(&images)
            .into_iter()
            .filter(|path| path.contains(".partial-")),
    );
    found
}

fn bad_images_are_one_clear_line(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    let store = Store::new(ctx.root());
    let good = ctx.root().join("good");
    tool(
        ctx,
        "skopeo",
        &[
            "copy",
            &format!("oci:{}:busybox", arg(store.root())),
            &format!("oci:{}:busybox", arg(&good)),
        ],
    )?;
    let image = store.image("busybox")?;
    let index_of = |dir: &Path| -> Result<serde_json::Value> {
        Ok(serde_json::from_str(&std::fs::read_to_string(
            dir.join("index.json"),
        )?)?)
    };
    // Each case: a copy of the good layout, broken one way, tarred as an OCI archive.
    let case = |name: &str, breaking: &dyn Fn(&Path) -> Result<()>| -> Result<PathBuf> {
        let dir = ctx.root().join(name);
        copy_tree(&good, &dir)?;
        breaking(&dir)?;
        let file = ctx.root().join(format!("{name}.tar"));
        let mut builder = tar::Builder::new(std::fs::File::create(&file)?);
        builder.append_dir_all(".", &dir)?;
        builder.finish()?;
        Ok(file)
    };
    let layer = image.layers[0].hex().to_string();
    let cases = [
        case("mismatch", &|dir| {
            let blob = dir.join("blobs/sha256").join(&layer);
            let mut bytes = std::fs::read(&blob)?;
            let middle = bytes.len() / 2;
            bytes[middle] ^= 1;
            Ok(std::fs::write(blob, bytes)?)
        })?,
        case("unknown", &|dir| {
            let mut index = index_of(dir)?;
            index["manifests"][0]["mediaType"] = "application/x-mystery".into();
            Ok(std::fs::write(dir.join("index.json"), index.to_string())?)
        })?,
        case("otherarch", &|dir| {
            let mut index = index_of(dir)?;
            let mut entry = index["manifests"][0].clone();
            entry["platform"] = serde_json::json!({"architecture": "s390x", "os": "linux"});
            index["manifests"] = serde_json::json!([entry.clone(), entry]);
            index["manifests"][1]["platform"]["architecture"] = "riscv64".into();
            Ok(std::fs::write(dir.join("index.json"), index.to_string())?)
        })?,
    ];
    let zstd = ctx.root().join("layer.tar.zst");
    std::fs::write(&zstd, [0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0])?;
    let before = store_state(ctx);
    let expected = [
        (&cases[0], "does not match"),
        (&cases[1], "unknown media type"),
        (&cases[2], "none is for linux/"),
        (&zstd, "zstd"),
    ];
    for (file, says) in expected {
        let outcome = ctx.run(&["import", &arg(file), "bad"])?;
        outcome.expect_code(125)?;
        let line = outcome.one_error_line()?;
        ensure!(line.contains(says), "expected {says:?} in: {line}");
        ensure!(
            store.image("bad").is_err(),
            "{} made an image",
            file.display()
        );
        ensure!(
            store_state(ctx) == before,
            "{} left blobs or partial files behind",
            file.display()
        );
    }
    // Two entries of one name in our index.json: ambiguous, refused.
    let index_path = store.root().join("index.json");
    let mut index = index_of(store.root())?;
    let twin = index["manifests"][0].clone();
    index["manifests"]
        .as_array_mut()
        .context("manifests")?
        .push(twin);
    std::fs::write(&index_path, index.to_string())?;
    let name = index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"]
        .as_str()
        .context("a name")?
        .to_string();
    let outcome = ctx.run(&["run", "--image", &name, "--", "true"])?;
    outcome.expect_code(125)?;
    ensure!(
        outcome.one_error_line()?.contains("ambiguous"),
        "{}",
        outcome.printed()
    );
    Ok(())
}
