//! Chapter 05's behaviour: pivot_root, a minimal /dev, read-only roots and volumes.
//!
//! Run: `cargo test --test ch05` (every solution from chapter 05 on), or
//! `cargo boxcar verify 5` (your chapters/ch05, with explanations).

use anyhow::{ensure, Context, Result};
use serde_json::Value;
use workshop::testing::{self, Check, Ctx, PROBE_IN_IMAGE};

fn main() {
    testing::main(5, checks())
}

fn checks() -> Vec<Check> {
    vec![
        Check::pillar(
            "the_chroot_escape_fails",
            "the chroot escape that worked in chapter 04 no longer reaches the host",
            "after pivot_root and detaching the old root, the host's tree is in no mount of the namespace",
            "pivot::pivot_into: is the old root detached after pivot_root?",
            the_chroot_escape_fails,
        ),
        Check::pillar(
            "only_the_containers_mounts_are_visible",
            "the container sees only its own mounts: /, /proc, /sys, /dev and what is under /dev",
            "the old root and every host mount under it were detached with it",
            "pivot::pivot_into: the rootfs must be a mount point before pivot_root, and the old root must be gone after it",
            only_the_containers_mounts_are_visible,
        ),
        Check::pillar(
            "dev_is_minimal",
            "/dev holds null, zero, full, random, urandom, tty, pts, shm and the usual links — no host disks",
            "a tmpfs with a few mknod(2)ed devices gives programs what they need and nothing more",
            "dev::mount_minimal_dev creates each device of DEVICES with mknod",
            dev_is_minimal,
        ),
        Check::pillar(
            "sys_is_read_only",
            "/sys is mounted read-only",
            "the container may read the kernel's view of devices, not change it",
            "pivot::mount_sys_readonly mounts sysfs with MS_RDONLY",
            sys_is_read_only,
        ),
        Check::pillar(
            "read_only_root",
            "with --read-only the container's root mount refuses writes and keeps its nosuid and nodev, while the filesystem under it stays writable on the host; without it, writes work",
            "a bind remount changes one mount's flags, and sets all of them anew; a remount of the filesystem would change it for the host too",
            "pivot::make_root_read_only: which remount changes one mount only, and which flags it must repeat",
            read_only_root,
        ),
        Check::pillar(
            "volumes_bind_host_directories",
            "-v HOST:CTR shows a host directory inside, and the container's writes reach the host",
            "a bind mount made before pivot_root survives it: the container keeps it, and only it",
            "volumes::bind, and pivot::pivot_into's bind of the rootfs, which must take the volumes along",
            volumes_bind_host_directories,
        ),
        Check::pillar(
            "devices_are_usable_and_dev_runs_nothing",
            "each device in /dev is the right character device, readable and writable by everyone; /dev itself is nosuid and noexec",
            "programs open /dev/null as any user; a device node is known by its type and number, not its name; nothing on /dev may run or gain privileges",
            "dev::mount_minimal_dev: the device type, number and mode of each node (the umask filters mknod's mode), and the tmpfs's mount flags",
            devices_are_usable_and_dev_runs_nothing,
        ),
        Check::pillar(
            "read_only_volumes_are_this_mount_only",
            "a :ro volume refuses the container's writes, keeps its nosuid, nodev and noexec, shows what is mounted below it on the host, and leaves the host's side writable",
            "the bind is recursive; read-only is a remount of that one bind mount, with the flags it had",
            "volumes::bind: the bind's recursion, and the read-only remount's flags",
            read_only_volumes_are_this_mount_only,
        ),
        Check::baseline(
            "bad_volumes_are_refused",
            "malformed or dangerous -v values are refused with one line and exit 125",
            "a volume through a symlink of the image could mount over any host path",
            "Volume::parse and Volume::prepare check before anything is created",
            bad_volumes_are_refused,
        ),
    ]
}

fn probe_in_image(ctx: &Ctx, flags: &[&str], probe_args: &[&str]) -> Result<Value> {
    ctx.build_images()?;
    let mut args = vec!["run", "--image", "probe"];
    args.extend_from_slice(flags);
    args.extend(["--", PROBE_IN_IMAGE]);
    args.extend_from_slice(probe_args);
    let outcome = ctx.run(&args)?;
    outcome.expect_code(0)?;
    serde_json::from_str(&outcome.stdout).context("the probe printed no JSON")
}

fn the_chroot_escape_fails(ctx: &Ctx) -> Result<()> {
    let marker = ctx.root().join("only-on-the-host");
    std::fs::write(&marker, "")?;
    let seen = probe_in_image(
        ctx,
        &[],
        &["--escape-chroot", &marker.display().to_string()],
    )?;
    ensure!(
        seen["escaped"] == false,
        "the escape reached the host: {seen}"
    );
    ensure!(
        seen.get("errors").is_none(),
        "the escape could not even be tried: {seen}"
    );
    Ok(())
}

fn only_the_containers_mounts_are_visible(ctx: &Ctx) -> Result<()> {
    let seen = probe_in_image(ctx, &[], &["--only", "mounts"])?;
    let mounts: Vec<String> = seen["mounts"]
        .as_array()
        .context("no mounts")?
        .iter()
        .map(|m| {
            format!(
                "{} {}",
                m["mount_point"].as_str().unwrap_or("?"),
                m["fstype"].as_str().unwrap_or("?")
            )
        })
        .collect();
    // The root's filesystem type is the host's (ext4, xfs, …): name it generically.
    let mounts: Vec<String> = mounts
        .into_iter()
        .map(|m| {
            if m.starts_with("/ ") {
                "/ [HOST FS]".to_string()
            } else {
                m
            }
        })
        .collect();
    workshop::assert_snapshot!("mounts_inside", mounts.join("\n"));
    Ok(())
}

fn dev_is_minimal(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    let outcome = ctx.run(&["run", "--image", "busybox", "--", "ls", "-A", "/dev"])?;
    outcome.expect_code(0)?;
    workshop::assert_snapshot!("dev_inside", outcome.stdout);
    let outcome = ctx.run(&[
        "run",
        "--image",
        "busybox",
        "--",
        "/bin/sh",
        "-c",
        "echo hi > /dev/null && head -c 4 /dev/zero | wc -c",
    ])?;
    outcome.expect_code(0)?;
    ensure!(
        outcome.out() == "4",
        "/dev/null or /dev/zero do not work: {}",
        outcome.out()
    );
    Ok(())
}

fn sys_is_read_only(ctx: &Ctx) -> Result<()> {
    let seen = probe_in_image(ctx, &[], &["--only", "mounts"])?;
    let sys = seen["mounts"]
        .as_array()
        .context("no mounts")?
        .iter()
        .find(|m| m["mount_point"] == "/sys");
    let options = sys.context("no /sys mount")?["options"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    ensure!(
        options.split(',').any(|o| o == "ro"),
        "/sys is mounted {options}"
    );
    Ok(())
}

fn volumes_bind_host_directories(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    let host = ctx.root().join("shared");
    std::fs::create_dir_all(&host)?;
    std::fs::write(host.join("from-host"), "hello\n")?;
    let rw = format!("{}:/data", host.display());
    let outcome = ctx.run(&[
        "run",
        "--image",
        "busybox",
        "-v",
        &rw,
        "--",
        "/bin/sh",
        "-c",
        "cat /data/from-host; echo back > /data/from-container",
    ])?;
    outcome.expect_code(0)?;
    ensure!(
        outcome.out() == "hello",
        "the container read {:?} from the volume",
        outcome.out()
    );
    ensure!(
        std::fs::read_to_string(host.join("from-container"))? == "back\n",
        "the write did not reach the host"
    );
    // :ro is read_only_volumes_are_this_mount_only, on a filesystem of its own: a remount
    // done wrong would change the host's.
    Ok(())
}

fn bad_volumes_are_refused(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    let mut lines = Vec::new();
    for spec in [
        "relative:/data",
        "/tmp:relative",
        "/no/such/dir:/data",
        "/tmp:/data:rx",
        "/tmp:/etc/../..",
    ] {
        let outcome = ctx.run(&["run", "--image", "busybox", "-v", spec, "--", "true"])?;
        outcome.expect_code(125)?;
        lines.push(ctx.redact(outcome.one_error_line()?));
    }
    workshop::assert_snapshot!("bad_volumes", lines.join("\n"));
    Ok(())
}

/// The devices of a minimal /dev: (path, major, minor), as stat prints them (hex).
const DEVICES: [(&str, &str); 6] = [
    ("/dev/null", "1,3"),
    ("/dev/zero", "1,5"),
    ("/dev/full", "1,7"),
    ("/dev/random", "1,8"),
    ("/dev/urandom", "1,9"),
    ("/dev/tty", "5,0"),
];

/// The per-mount options of the mount at `point`, as the probe saw them in mountinfo.
fn mount_options(seen: &Value, point: &str) -> Result<Vec<String>> {
    let mount = seen["mounts"]
        .as_array()
        .context("no mounts")?
        .iter()
        .rev()
        .find(|m| m["mount_point"] == point)
        .with_context(|| format!("no mount at {point}: {seen}"))?;
    Ok(mount["options"]
        .as_str()
        .unwrap_or_default()
        .split(',')
        .map(str::to_string)
        .collect())
}

/// Fail unless the options have each of `wanted`.
fn ensure_options(point: &str, options: &[String], wanted: &[&str]) -> Result<()> {
    let missing: Vec<&&str> = wanted
        .iter()
        .filter(|w| !options.iter().any(|o| o == **w))
        .collect();
    ensure!(
        missing.is_empty(),
        "{point} is mounted {} — without {missing:?}",
        options.join(",")
    );
    Ok(())
}

fn devices_are_usable_and_dev_runs_nothing(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    let mut args = vec![
        "run",
        "--image",
        "busybox",
        "--",
        "stat",
        "-c",
        "%n %F %a %t,%T",
    ];
    args.extend(DEVICES.iter().map(|(path, _)| *path));
    let outcome = ctx.run(&args)?;
    outcome.expect_code(0)?;
    let expected: Vec<String> = DEVICES
        .iter()
        .map(|(path, number)| format!("{path} character special file 666 {number}"))
        .collect();
    let seen: Vec<&str> = outcome.stdout.lines().collect();
    ensure!(
        seen == expected,
        "the devices are not what programs expect:\n  expected: {expected:?}\n  found:    {seen:?}"
    );
    let seen = probe_in_image(ctx, &[], &["--only", "mounts"])?;
    let options = mount_options(&seen, "/dev")?;
    ensure_options("/dev", &options, &["nosuid", "noexec"])?;
    ensure!(
        !options.iter().any(|o| o == "nodev"),
        "/dev is mounted nodev ({}): its devices cannot be opened",
        options.join(",")
    );
    Ok(())
}

/// A script's last words: the host-side write after the run, as `HOST-WRITABLE` or
/// `HOST-READ-ONLY`.
const HOST_SIDE: &str = "if touch \"$T/host-side\" 2>/dev/null; then echo HOST-WRITABLE; \
                         else echo HOST-READ-ONLY; fi";

fn read_only_root(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    // The runtime's whole state on a tmpfs of this check's own (nosuid, nodev): a remount
    // of the filesystem instead of the mount would make that tmpfs read-only, not the host's.
    let seen_file = ctx.root().join("seen.json");
    let script = format!(
        "set -e; T=\"$BOXCAR_ROOT/private\"; mkdir -p \"$T\"
         mount -t tmpfs -o nosuid,nodev,mode=755 boxcar-check \"$T\"
         cp -a \"$BOXCAR_ROOT/images\" \"$T/images\"
         BOXCAR_ROOT=\"$T\" \"$RUNTIME\" run --image probe --read-only -- {PROBE_IN_IMAGE} \\
             --only mounts > {seen}
         BOXCAR_ROOT=\"$T\" \"$RUNTIME\" run --image busybox -- touch /written \\
             && echo WRITABLE-WITHOUT
         BOXCAR_ROOT=\"$T\" \"$RUNTIME\" run --image busybox --read-only -- touch /written \\
             2>&1 || echo REFUSED-WITH
         {HOST_SIDE}",
        seen = seen_file.display()
    );
    let outcome = ctx.run_in_own_mounts(&script)?;
    outcome.expect_code(0)?;
    let seen: Value = serde_json::from_str(&std::fs::read_to_string(&seen_file)?)
        .context("the probe printed no JSON")?;
    let lines: Vec<&str> = outcome.stdout.lines().collect();
    ensure!(
        lines.contains(&"HOST-WRITABLE"),
        "after a --read-only container the filesystem it ran from is read-only on the host \
         too: the remount changed the filesystem, not the container's mount"
    );
    ensure!(
        lines.contains(&"WRITABLE-WITHOUT"),
        "without --read-only the container could not write to /:\n{}",
        outcome.stdout
    );
    ensure!(
        lines.contains(&"REFUSED-WITH") && outcome.stdout.contains("Read-only file system"),
        "with --read-only the container could still write to /, or failed otherwise:\n{}",
        outcome.stdout
    );
    // Up to chapter 05 the root is a bind of the tmpfs, nosuid and nodev like it; from
    // chapter 06 on it is an overlay mounted anew, which has neither to keep.
    let kept: &[&str] = if ctx.chapter() < 6 {
        &["ro", "nosuid", "nodev"]
    } else {
        &["ro"]
    };
    ensure_options("/", &mount_options(&seen, "/")?, kept)
}

fn read_only_volumes_are_this_mount_only(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    // The volume on a tmpfs of this check's own (nosuid, nodev, noexec), with another
    // mounted below it; all of it goes with the check's mount namespace.
    let seen_file = ctx.root().join("seen.json");
    let script = format!(
        "set -e; T=\"$BOXCAR_ROOT/private\"; mkdir -p \"$T\"
         mount -t tmpfs -o nosuid,nodev,noexec,mode=755 boxcar-check \"$T\"
         mkdir -p \"$T/shared/below\"
         mount -t tmpfs -o mode=755 boxcar-below \"$T/shared/below\"
         echo from-below > \"$T/shared/below/file\"
         \"$RUNTIME\" run --image probe -v \"$T/shared:/data:ro\" -- {PROBE_IN_IMAGE} \\
             --only mounts > {seen}
         \"$RUNTIME\" run --image busybox -v \"$T/shared:/data:ro\" -- /bin/sh -c \\
             'cat /data/below/file; touch /data/x 2>/dev/null && echo VOLUME-WRITABLE || echo VOLUME-READ-ONLY'
         {HOST_SIDE}",
        seen = seen_file.display()
    );
    let outcome = ctx.run_in_own_mounts(&script)?;
    outcome.expect_code(0)?;
    let lines: Vec<&str> = outcome.stdout.lines().collect();
    ensure!(
        lines.contains(&"HOST-WRITABLE"),
        "the :ro volume made the host's filesystem read-only too: the remount changed the \
         filesystem, not the volume's mount"
    );
    ensure!(
        lines.contains(&"from-below"),
        "a mount below the volume's host directory is not in the container: {lines:?}"
    );
    ensure!(
        lines.contains(&"VOLUME-READ-ONLY"),
        "the container wrote to a :ro volume"
    );
    let seen: Value = serde_json::from_str(&std::fs::read_to_string(&seen_file)?)
        .context("the probe printed no JSON")?;
    ensure_options(
        "/data",
        &mount_options(&seen, "/data")?,
        &["ro", "nosuid", "nodev", "noexec"],
    )
}
