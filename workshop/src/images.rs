//! The default image, `busybox`, built offline from the host's busybox-static.
//!
//! BusyBox is one static binary that is every usual command ("applet"): it looks at the
//! name it was run as (argv[0]), so `/bin/sh -> /bin/busybox` is a shell and
//! `/bin/ls -> /bin/busybox` is ls. A root filesystem needs little more: the binary, a
//! symlink per applet, /etc/passwd and /etc/group so user names resolve, and the empty
//! directories the runtime mounts onto (/proc, /sys, /dev, /tmp).
//!
//! The binary must be statically linked: the image has no C library and no dynamic loader,
//! and exec(2) of a program that asks for one fails with ENOENT (see `has_interpreter`).
//!
//! The layer is built deterministically (entries sorted, owner 0, mtime 0), so the same
//! busybox always gives the same digest.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::process::Command;

use flate2::write::GzEncoder;
use tar::{EntryType, Header};

use boxcar::image::scratch::Scratch;
use boxcar::image::{check_name, Image, Store};
use boxcar::Failure;
use ch04_solution::import::{import_layers, rootfs_config};

use crate::doctor::has_interpreter;

/// Where busybox-static puts the binary on Debian and Ubuntu.
pub const HOST_BUSYBOX: &str = "/bin/busybox";

/// Where the image has it, and where every applet link points.
const IMAGE_BUSYBOX: &str = "/bin/busybox";

const INSTALL_HINT: &str = "apt-get install busybox-static (./setup.sh does it)";

/// One thing in the image being built.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Dir(u32),
    File(Vec<u8>, u32),
    Symlink(PathBuf),
}

/// Build the one-layer gzip image `name` from the host's /bin/busybox, plus `extra` host
/// files copied in at the given image paths with mode 0755 (e.g. the tests' probe).
pub fn build_busybox(
    store: &Store,
    name: &str,
    extra: &[(PathBuf, String)],
) -> Result<Image, Failure> {
    build_busybox_from(store, name, Path::new(HOST_BUSYBOX), extra)
}

/// [`build_busybox`] with the busybox binary at `busybox`.
pub fn build_busybox_from(
    store: &Store,
    name: &str,
    busybox: &Path,
    extra: &[(PathBuf, String)],
) -> Result<Image, Failure> {
    check_name(name)?;
    let tree = busybox_tree(busybox, extra)?;
    std::fs::create_dir_all(store.root()).map_err(|error| {
        Failure::io(
            format!("cannot create the image store {}", store.root().display()),
            error,
        )
    })?;
    let work = Scratch::dir_in(store.root(), "busybox", 0o700)?;
    let layer = work.path().join("busybox.tar.gz");
    write_layer(&layer, &tree)
        .map_err(|error| Failure::io(format!("cannot write {}", layer.display()), error))?;
    // Its config: a shell when no command is given, as docker's busybox image has.
    let mut config = rootfs_config();
    config.set_cmd(Some(vec!["/bin/sh".to_string()]));
    import_layers(store, name, &[layer], config)
}

/// Every path of the image and what it is, sorted (a BTreeMap of paths sorts each
/// directory before what it holds).
fn busybox_tree(
    busybox: &Path,
    extra: &[(PathBuf, String)],
) -> Result<BTreeMap<PathBuf, Node>, Failure> {
    let binary = std::fs::read(busybox).map_err(|error| {
        Failure::io(format!("cannot read {}", busybox.display()), error).hint(INSTALL_HINT)
    })?;
    if has_interpreter(&binary) {
        return Err(Failure::new(format!(
            "{} is dynamically linked: it would not run in an image without a C library",
            busybox.display()
        ))
        .hint(INSTALL_HINT));
    }
    let mut tree = BTreeMap::new();
    for dir in ["proc", "sys", "dev", "etc", "home", "var", "run", "mnt"] {
        tree.insert(PathBuf::from(dir), Node::Dir(0o755));
    }
    tree.insert("root".into(), Node::Dir(0o700));
    // Everyone may create files in /tmp; the sticky bit stops them removing each other's.
    tree.insert("tmp".into(), Node::Dir(0o1777));
    let version = busybox_version(busybox)?;
    for (path, text) in etc_files(&version) {
        tree.insert(path.into(), Node::File(text.into_bytes(), 0o644));
    }
    insert(&mut tree, "bin/busybox".into(), Node::File(binary, 0o755));
    for applet in applets(busybox)? {
        // `bin/busybox` is in the list too: linking it would replace the binary with a
        // symlink to itself. Any other taken path keeps what it has.
        if applet.file_name().is_some_and(|name| name == "busybox") || tree.contains_key(&applet) {
            continue;
        }
        insert(&mut tree, applet, Node::Symlink(IMAGE_BUSYBOX.into()));
    }
    for (host, image_path) in extra {
        add_extra(&mut tree, host, image_path)?;
    }
    Ok(tree)
}

/// Insert `node` at `path` and a directory for each missing parent. Returns false, and
/// inserts nothing, if a parent is already something else than a directory.
fn insert(tree: &mut BTreeMap<PathBuf, Node>, path: PathBuf, node: Node) -> bool {
    let parents: Vec<PathBuf> = path
        .ancestors()
        .skip(1)
        .filter(|parent| !parent.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .collect();
    if parents.iter().any(|parent| {
        tree.get(parent)
            .is_some_and(|node| !matches!(node, Node::Dir(_)))
    }) {
        return false;
    }
    for parent in parents {
        tree.entry(parent).or_insert(Node::Dir(0o755));
    }
    tree.insert(path, node);
    true
}

/// Add the host file `host` at `image_path`, mode 0755, over an applet link if one is
/// there, but never over busybox itself, /etc's files or a directory.
fn add_extra(
    tree: &mut BTreeMap<PathBuf, Node>,
    host: &Path,
    image_path: &str,
) -> Result<(), Failure> {
    let relative: PathBuf = Path::new(image_path)
        .components()
        .filter_map(|component| match component {
            std::path::Component::Normal(name) => Some(Ok(name)),
            std::path::Component::ParentDir => Some(Err(())),
            _ => None,
        })
        .collect::<Result<_, ()>>()
        .map_err(|()| Failure::new(format!("cannot add {image_path:?} to the image: it has ..")))?;
    let taken = |why: &str| {
        Failure::new(format!(
            "cannot add {} as {image_path:?}: {why}",
            host.display()
        ))
        .hint("choose another path in the image, e.g. /usr/local/bin/NAME")
    };
    if relative.as_os_str().is_empty() {
        return Err(taken("that is the image's root"));
    }
    if matches!(tree.get(&relative), Some(Node::Dir(_) | Node::File(..))) {
        return Err(taken("the image already has a file or directory there"));
    }
    let bytes = std::fs::read(host)
        .map_err(|error| Failure::io(format!("cannot read {}", host.display()), error))?;
    if !insert(tree, relative, Node::File(bytes, 0o755)) {
        return Err(taken("a directory on its way is a file in the image"));
    }
    Ok(())
}

/// The applets' paths, from `busybox --list-full` (`usr/bin/awk`, `sbin/ip`, …). Anything
/// else it prints (a build without --list-full complains in words) is not a path.
fn applets(busybox: &Path) -> Result<Vec<PathBuf>, Failure> {
    let output = run(busybox, "--list-full")?;
    let applets: Vec<PathBuf> = output
        .lines()
        .map(str::trim)
        .filter(|line| line.contains('/') && !line.contains(char::is_whitespace))
        .filter(|line| !line.starts_with('/') && !line.split('/').any(|part| part == ".."))
        .map(PathBuf::from)
        .collect();
    if applets.is_empty() {
        return Err(Failure::new(format!(
            "{} --list-full printed no applets",
            busybox.display()
        ))
        .hint(INSTALL_HINT));
    }
    Ok(applets)
}

/// The version, e.g. `1.35.0` from `BusyBox v1.35.0 (Debian 1:1.35.0-4) multi-call binary.`
fn busybox_version(busybox: &Path) -> Result<String, Failure> {
    let help = run(busybox, "--help")?;
    let version = help
        .lines()
        .next()
        .and_then(|first| {
            first
                .split_whitespace()
                .find_map(|word| word.strip_prefix('v'))
        })
        .filter(|version| version.starts_with(|c: char| c.is_ascii_digit()))
        .unwrap_or("unknown");
    Ok(version.to_string())
}

/// Run `busybox ARG` and return what it printed (busybox prints --help on stderr, and
/// exits 0 or 1 depending on the build; either is fine).
fn run(busybox: &Path, arg: &str) -> Result<String, Failure> {
    let output = Command::new(busybox)
        .arg(arg)
        .output()
        .map_err(|error| Failure::io(format!("cannot run {} {arg}", busybox.display()), error))?;
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    Ok(text)
}

/// The files of /etc, as (path, text).
fn etc_files(version: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\n\
             nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
                .to_string(),
        ),
        ("etc/group", "root:x:0:\nnogroup:x:65534:\n".to_string()),
        ("etc/hostname", "boxcar\n".to_string()),
        // os-release(5): what `cat /etc/os-release` tells a learner inside.
        (
            "etc/os-release",
            format!(
                "NAME=\"boxcar busybox\"\nID=boxcar-busybox\nVERSION_ID={version}\n\
                 PRETTY_NAME=\"boxcar busybox {version}\"\n"
            ),
        ),
    ]
}

/// Write `tree` as a gzip tar, every entry owned by root with mtime 0.
fn write_layer(path: &Path, tree: &BTreeMap<PathBuf, Node>) -> io::Result<()> {
    let file = BufWriter::new(File::create(path)?);
    let gzip = GzEncoder::new(file, flate2::Compression::default());
    let mut builder = tar::Builder::new(gzip);
    for (path, node) in tree {
        let mut header = Header::new_gnu();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_size(0);
        match node {
            Node::Dir(mode) => {
                header.set_entry_type(EntryType::Directory);
                header.set_mode(*mode);
                builder.append_data(&mut header, path, io::empty())?;
            }
            Node::File(bytes, mode) => {
                header.set_entry_type(EntryType::Regular);
                header.set_mode(*mode);
                header.set_size(bytes.len() as u64);
                builder.append_data(&mut header, path, bytes.as_slice())?;
            }
            Node::Symlink(target) => {
                header.set_entry_type(EntryType::Symlink);
                header.set_mode(0o777);
                builder.append_link(&mut header, path, target)?;
            }
        }
    }
    let gzip = builder.into_inner()?;
    gzip.finish()?
        .into_inner()
        .map_err(|error| error.into_error())?
        .sync_all()
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    use boxcar::image::{Compression, Store};
    use ch04_solution::unpack::unpack;
    use tempfile::TempDir;

    use super::*;

    fn store() -> (TempDir, Store) {
        let root = tempfile::tempdir().expect("tempdir");
        let store = Store::new(root.path());
        (root, store)
    }
    // ---------------------------------------------------------------------------------------
    // The busybox image.

    #[test]
    fn the_busybox_image_has_busybox_its_applets_and_etc() {
        let host = fs::metadata(HOST_BUSYBOX)
            .expect("/bin/busybox is missing: apt-get install busybox-static (./setup.sh does it)");
        let (root, store) = store();
        let probe = root.path().join("probe");
        fs::write(&probe, b"#!/bin/sh\n").expect("probe");
        let extra = [(probe, "/usr/local/bin/probe".to_string())];
        let manifest = build_busybox(&store, "busybox", &extra).expect("build");
        assert_eq!(manifest.layers[0].compression, Compression::Gzip);
        let runtime = manifest.config.config().clone().expect("a runtime config");
        assert_eq!(runtime.cmd().as_deref(), Some(&["/bin/sh".to_string()][..]));
        assert!(runtime
            .env()
            .iter()
            .flatten()
            .any(|v| v.starts_with("PATH=")));

        let rootfs = root.path().join("rootfs");
        unpack(&store, "busybox", &rootfs).expect("unpack");
        let busybox = fs::symlink_metadata(rootfs.join("bin/busybox")).expect("busybox");
        assert!(busybox.is_file(), "/bin/busybox is the binary, not a link");
        assert_eq!(
            busybox.len(),
            host.len(),
            "/bin/busybox was not overwritten"
        );
        assert_eq!(
            fs::read_link(rootfs.join("bin/sh")).expect("sh"),
            Path::new("/bin/busybox")
        );
        assert!(fs::symlink_metadata(rootfs.join("bin/ls"))
            .expect("ls")
            .is_symlink());
        let passwd = fs::read_to_string(rootfs.join("etc/passwd")).expect("passwd");
        assert!(
            passwd.starts_with("root:x:0:0:root:/root:/bin/sh\n"),
            "{passwd}"
        );
        assert!(passwd.contains("nobody:x:65534:65534:nobody:/nonexistent:/bin/false"));
        let group = fs::read_to_string(rootfs.join("etc/group")).expect("group");
        assert_eq!(group, "root:x:0:\nnogroup:x:65534:\n");
        let os_release = fs::read_to_string(rootfs.join("etc/os-release")).expect("os-release");
        assert!(os_release.contains("ID=boxcar-busybox\n"), "{os_release}");
        assert!(
            os_release.contains("NAME=\"boxcar busybox\"\n"),
            "{os_release}"
        );
        assert!(!os_release.contains("VERSION_ID=unknown"), "{os_release}");
        for dir in [
            "proc", "sys", "dev", "root", "home", "var", "run", "mnt", "etc",
        ] {
            assert!(rootfs.join(dir).is_dir(), "/{dir}");
        }
        assert_eq!(
            fs::metadata(rootfs.join("tmp"))
                .expect("tmp")
                .permissions()
                .mode()
                & 0o7777,
            0o1777
        );
        let probe = fs::metadata(rootfs.join("usr/local/bin/probe")).expect("probe");
        assert_eq!(probe.permissions().mode() & 0o7777, 0o755);

        // Deterministic: the same busybox gives the same layer.
        let again = build_busybox(&store, "busybox2", &[]).expect("build again");
        let plain = build_busybox(&store, "busybox3", &[]).expect("build a third time");
        assert_eq!(again.layers[0].digest, plain.layers[0].digest);
    }

    #[test]
    fn a_dynamic_busybox_is_refused_with_the_package_to_install() {
        let (_root, store) = store();
        // /bin/sh on Debian and Ubuntu is dynamically linked (dash or bash).
        let failure =
            build_busybox_from(&store, "busybox", Path::new("/bin/sh"), &[]).expect_err("dynamic");
        assert!(
            failure.to_string().contains("dynamically linked"),
            "{failure}"
        );
        assert!(
            failure
                .to_string()
                .contains("apt-get install busybox-static"),
            "{failure}"
        );
        assert!(store.list().expect("list").is_empty());
    }
}
