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
            "pivot::pivot_into: pivot_root(\".\", \".\") then umount2(\".\", MNT_DETACH)",
            the_chroot_escape_fails,
        ),
        Check::pillar(
            "only_the_containers_mounts_are_visible",
            "the container sees only its own mounts: /, /proc, /sys, /dev and what is under /dev",
            "the old root and every host mount under it were detached with it",
            "bind the rootfs onto itself, pivot into it, detach the old root",
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
            "with --read-only the root filesystem refuses writes; without it, writes work",
            "a bind remount with MS_RDONLY changes only the root mount's flags",
            "pivot::make_root_read_only remounts / with MS_REMOUNT | MS_BIND | MS_RDONLY",
            read_only_root,
        ),
        Check::pillar(
            "volumes_bind_host_directories",
            "-v HOST:CTR shows a host directory inside; :ro makes it read-only",
            "a bind mount made before pivot_root survives it: the container keeps it, and only it",
            "volumes::bind mounts with MS_BIND | MS_REC, then remounts read-only for :ro",
            volumes_bind_host_directories,
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

fn read_only_root(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    let writable = ctx.run(&["run", "--image", "busybox", "--", "touch", "/written"])?;
    writable.expect_code(0)?;
    let read_only = ctx.run(&[
        "run",
        "--image",
        "busybox",
        "--read-only",
        "--",
        "touch",
        "/written",
    ])?;
    ensure!(
        read_only.code != Some(0),
        "touch succeeded on a --read-only root"
    );
    ensure!(
        read_only.stderr.contains("Read-only file system"),
        "unexpected error: {}",
        read_only.stderr
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
    let ro = format!("{}:/data:ro", host.display());
    let outcome = ctx.run(&[
        "run",
        "--image",
        "busybox",
        "-v",
        &ro,
        "--",
        "touch",
        "/data/nope",
    ])?;
    ensure!(
        outcome.code != Some(0) && !host.join("nope").exists(),
        "a write to a :ro volume succeeded"
    );
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
