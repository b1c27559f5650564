//! `doctor`: is this machine ready for the workshop? Each check says what to do if not.

use std::path::Path;

use boxcar::cgroupfs::{self, Layout};

/// How a check came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Ok(String),
    /// Works, with a caveat.
    Warn(String, String),
    /// Must be fixed: (what is wrong, what to do).
    Fail(String, String),
}

/// Run every check and return (name, verdict) pairs.
pub fn checks() -> Vec<(&'static str, Verdict)> {
    vec![
        ("root", root()),
        ("kernel", kernel()),
        ("namespaces", namespaces()),
        ("cgroups", cgroups()),
        ("overlayfs", overlayfs()),
        ("busybox-static", busybox()),
        ("cgroup v2 VM", v2_vm()),
        ("ps (procps)", tool("ps", "apt-get install procps")),
        (
            "unshare (util-linux)",
            tool("unshare", "apt-get install util-linux"),
        ),
        (
            "skopeo",
            tool("skopeo", "apt-get install skopeo (./setup.sh does it)"),
        ),
        (
            "umoci",
            tool("umoci", "apt-get install umoci (./setup.sh does it)"),
        ),
        (
            "nft (nftables)",
            tool(
                "nft",
                "apt-get install nftables (./setup.sh does it): chapter 07's NAT and -p",
            ),
        ),
        ("net.ipv4.ip_forward", ip_forward()),
        (
            "mdbook",
            tool(
                "mdbook",
                "cargo install --locked mdbook (./setup.sh does it)",
            ),
        ),
        (
            "mdbook-mermaid",
            tool(
                "mdbook-mermaid",
                "cargo install --locked mdbook-mermaid (./setup.sh does it)",
            ),
        ),
    ]
}

fn root() -> Verdict {
    if nix::unistd::geteuid().is_root() {
        Verdict::Ok("running as root".into())
    } else {
        Verdict::Fail(
            "not running as root: a runtime needs CAP_SYS_ADMIN".into(),
            "run through cargo (its runner uses sudo: cargo boxcar doctor) or with sudo".into(),
        )
    }
}

fn kernel() -> Verdict {
    match nix::sys::utsname::uname() {
        Ok(uts) => Verdict::Ok(format!("Linux {}", uts.release().to_string_lossy())),
        Err(errno) => Verdict::Fail(format!("uname failed: {errno}"), "is this Linux?".into()),
    }
}

/// Really create every kind of namespace, in a child that exits at once.
fn namespaces() -> Verdict {
    use nix::sched::{unshare, CloneFlags};
    use nix::sys::wait::{waitpid, WaitStatus};
    let all = CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWNET
        | CloneFlags::CLONE_NEWCGROUP
        | CloneFlags::CLONE_NEWUSER;
    // SAFETY: the child only calls unshare(2) and _exit(2), both async-signal-safe.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => {
            let code = if unshare(all).is_ok() { 0 } else { 1 };
            unsafe { libc::_exit(code) }
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, 0)) => Verdict::Ok("uts, ipc, pid, mount, net, cgroup and user namespaces can be created".into()),
            _ => Verdict::Fail(
                "cannot create namespaces".into(),
                "run as root on a VM or host, not inside an unprivileged container; check sysctl user.max_*_namespaces".into(),
            ),
        },
        Err(errno) => Verdict::Fail(format!("fork failed: {errno}"), "the machine is out of processes".into()),
    }
}

fn cgroups() -> Verdict {
    let root = Path::new("/sys/fs/cgroup");
    match cgroupfs::layout(root) {
        Layout::V2 => {
            let controllers =
                std::fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
            Verdict::Ok(format!(
                "cgroup v2 (unified); controllers: {}",
                controllers.trim()
            ))
        }
        Layout::Hybrid => Verdict::Ok(format!(
            "cgroup v1 + v2 hybrid; v1 controllers: {}",
            v1_controllers()
        )),
        Layout::V1 => Verdict::Ok(format!("cgroup v1; controllers: {}", v1_controllers())),
        Layout::Unknown => Verdict::Fail(
            "no cgroup filesystem at /sys/fs/cgroup".into(),
            "mount cgroup2 on /sys/fs/cgroup (chapter 03 needs it)".into(),
        ),
    }
}

fn v1_controllers() -> String {
    let mounts = cgroupfs::host_v1_mounts();
    let found: Vec<&str> = cgroupfs::V1_CONTROLLERS
        .iter()
        .filter(|c| mounts.contains_key(**c))
        .copied()
        .collect();
    found.join(", ")
}

fn overlayfs() -> Verdict {
    let filesystems = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
    if filesystems
        .lines()
        .any(|line| line.trim_end().ends_with("overlay"))
    {
        Verdict::Ok("overlay is in /proc/filesystems".into())
    } else {
        Verdict::Warn(
            "overlay is not loaded yet (chapter 06 needs it)".into(),
            "modprobe overlay".into(),
        )
    }
}

fn busybox() -> Verdict {
    let path = Path::new("/bin/busybox");
    match std::fs::read(path) {
        Ok(bytes) if !has_interpreter(&bytes) => {
            Verdict::Ok("/bin/busybox is statically linked".into())
        }
        Ok(_) => Verdict::Fail(
            "/bin/busybox is dynamically linked: it cannot run inside an image".into(),
            "apt-get install busybox-static (./setup.sh does it)".into(),
        ),
        Err(_) => Verdict::Fail(
            "no /bin/busybox".into(),
            "apt-get install busybox-static (./setup.sh does it)".into(),
        ),
    }
}

/// Whether an ELF64 file asks for a dynamic loader (has a PT_INTERP program header, elf(5)).
pub fn has_interpreter(elf: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    let read_u16 = |at: usize| {
        elf.get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
    };
    let read_u64 = |at: usize| {
        elf.get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    if elf.get(..4) != Some(b"\x7fELF") {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) =
        (read_u64(0x20), read_u16(0x36), read_u16(0x38))
    else {
        return false;
    };
    (0..phnum).any(|i| {
        let at = phoff as usize + i * phentsize;
        elf.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            == Some(PT_INTERP)
    })
}

/// Whether scripts/v2-vm.sh has prepared the VM that runs the tests on a pure cgroup v2
/// kernel. Optional, so never a failure: it reads the marker `prepare` writes.
fn v2_vm() -> Verdict {
    let cache = std::env::var_os("BOXCAR_V2VM_CACHE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| super::build::workspace_dir().join(".cache/v2vm"));
    match std::fs::read_to_string(cache.join("prepared")) {
        Ok(text) => Verdict::Ok(format!(
            "prepared ({}); scripts/v2-vm.sh run runs the tests on it",
            text.lines().next().unwrap_or_default()
        )),
        Err(_) => Verdict::Ok(
            "not prepared (optional: scripts/v2-vm.sh prepare, then run, tests on pure cgroup v2)"
                .into(),
        ),
    }
}

/// Chapter 07's bridge needs IPv4 forwarding; the runtime turns it on in its network
/// namespace when it makes the bridge (as docker does), and never off. Said here, out loud.
fn ip_forward() -> Verdict {
    match std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").map(|v| v.trim().to_string()) {
        Ok(on) if on == "1" => Verdict::Ok("1: this host routes IPv4".into()),
        Ok(_) => Verdict::Warn(
            "0: this host does not route IPv4".into(),
            "nothing to do: `run --net bridge` (chapter 07) turns it on when it makes its bridge, \
             and leaves it on (sysctl net.ipv4.ip_forward=0 turns it off again)"
                .into(),
        ),
        Err(e) => Verdict::Warn(
            format!("cannot read /proc/sys/net/ipv4/ip_forward: {e}"),
            "is /proc mounted?".into(),
        ),
    }
}

fn tool(name: &str, fix: &str) -> Verdict {
    let found = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
        .unwrap_or(false);
    let in_cargo_home = home_cargo_bin()
        .map(|dir| dir.join(name).is_file())
        .unwrap_or(false);
    if found || in_cargo_home {
        Verdict::Ok(format!("{name} found"))
    } else {
        Verdict::Fail(format!("{name} not found"), fix.into())
    }
}

/// ~/.cargo/bin of the user behind sudo, whose PATH sudo may have replaced.
fn home_cargo_bin() -> Option<std::path::PathBuf> {
    let uid: u32 = std::env::var("SUDO_UID").ok()?.parse().ok()?;
    let user = nix::unistd::User::from_uid(uid.into()).ok()??;
    Some(user.dir.join(".cargo/bin"))
}

/// Print every check; return whether none failed.
pub fn report() -> bool {
    let mut healthy = true;
    for (name, verdict) in checks() {
        match verdict {
            Verdict::Ok(detail) => println!("✓ {name}: {detail}"),
            Verdict::Warn(detail, fix) => println!("! {name}: {detail}\n    fix: {fix}"),
            Verdict::Fail(detail, fix) => {
                healthy = false;
                println!("✗ {name}: {detail}\n    fix: {fix}");
            }
        }
    }
    healthy
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dynamic_elf_has_an_interpreter_and_a_static_one_not() {
        // /bin/sh on Debian and Ubuntu is dynamically linked.
        let sh = std::fs::read("/bin/sh").expect("/bin/sh");
        assert!(has_interpreter(&sh));
        assert!(!has_interpreter(b"not an elf"));
    }
}
