//! The image store's tests: hostile archives first (each must be refused, naming its entry,
//! with nothing written outside the destination), then the store's round trips.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tar::{EntryType, Header};
use tempfile::TempDir;

use boxcar::image::{Compression, Store};

use crate::export::{export, export_rootfs};
use crate::extract::{extract_layer, extract_layer_with, Hooked};
use crate::import::{import, import_layers, rootfs_config};
use crate::unpack::unpack;

// ---------------------------------------------------------------------------------------
// Building archives, good and hostile.

/// A tar made by `fill`.
fn tar_of(fill: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    fill(&mut builder);
    builder.into_inner().expect("finish tar")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

fn header(kind: EntryType, mode: u32, size: u64) -> Header {
    let mut header = Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_mtime(1_700_000_000);
    header.set_uid(0);
    header.set_gid(0);
    header
}

fn dir(builder: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32) {
    let mut header = header(EntryType::Directory, mode, 0);
    builder
        .append_data(&mut header, path, std::io::empty())
        .expect("dir");
}

fn file(builder: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32, data: &[u8]) {
    let mut header = header(EntryType::Regular, mode, data.len() as u64);
    builder.append_data(&mut header, path, data).expect("file");
}

fn link(builder: &mut tar::Builder<Vec<u8>>, kind: EntryType, path: &str, target: &str) {
    let mut header = header(kind, 0o777, 0);
    builder
        .append_link(&mut header, path, target)
        .expect("link");
}

/// An entry whose name and link name are written as raw bytes into the header: the tar
/// crate's own setters refuse `..` and absolute paths, which is what a hostile archive has.
fn raw(
    builder: &mut tar::Builder<Vec<u8>>,
    kind: EntryType,
    name: &str,
    target: &str,
    data: &[u8],
) {
    let mut header = header(kind, 0o644, data.len() as u64);
    let old = header.as_old_mut();
    old.name = [0; 100];
    old.name[..name.len()].copy_from_slice(name.as_bytes());
    old.linkname = [0; 100];
    old.linkname[..target.len()].copy_from_slice(target.as_bytes());
    header.set_cksum();
    builder.append(&header, data).expect("raw entry");
}

/// A place to extract into, with neighbours a hostile archive would like to reach:
/// `sandbox/dest` (the destination), `sandbox/outside-file`, and a separate directory
/// `outside` elsewhere in /tmp.
struct Scene {
    sandbox: TempDir,
    outside: TempDir,
}

impl Scene {
    fn new() -> Scene {
        let sandbox = tempfile::tempdir().expect("sandbox");
        let outside = tempfile::tempdir().expect("outside");
        fs::create_dir(sandbox.path().join("dest")).expect("dest");
        fs::write(sandbox.path().join("outside-file"), "precious\n").expect("outside file");
        fs::write(outside.path().join("keep"), "precious\n").expect("outside keep");
        Scene { sandbox, outside }
    }

    fn dest(&self) -> PathBuf {
        self.sandbox.path().join("dest")
    }

    fn outside(&self) -> &Path {
        self.outside.path()
    }

    /// Write `bytes` as a layer file next to the destination.
    fn layer(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.sandbox.path().join(name);
        fs::write(&path, bytes).expect("layer file");
        path
    }

    /// Everything around the destination (not in it), and /etc/passwd's link count.
    fn around(&self) -> (BTreeMap<PathBuf, String>, BTreeMap<PathBuf, String>, u64) {
        let mut sandbox = snapshot(self.sandbox.path());
        sandbox.retain(|path, _| !path.starts_with("dest/") && !path.starts_with("dest"));
        let passwd = fs::metadata("/etc/passwd")
            .map(|meta| meta.nlink())
            .unwrap_or(0);
        (sandbox, snapshot(self.outside()), passwd)
    }
}

/// Every path under `root` and what it is: type, mode, owner, and content or target.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut found = BTreeMap::new();
    walk(root, Path::new(""), &mut found);
    found
}

fn walk(root: &Path, dir: &Path, found: &mut BTreeMap<PathBuf, String>) {
    let mut names: Vec<_> = fs::read_dir(root.join(dir))
        .expect("read_dir")
        .map(|entry| entry.expect("entry").file_name())
        .collect();
    names.sort();
    for name in names {
        let relative = dir.join(name);
        let path = root.join(&relative);
        let meta = fs::symlink_metadata(&path).expect("lstat");
        let what = if meta.file_type().is_symlink() {
            format!(
                "symlink -> {}",
                fs::read_link(&path).expect("readlink").display()
            )
        } else if meta.is_dir() {
            "dir".to_string()
        } else if meta.is_file() {
            format!("file {}", hex(&fs::read(&path).expect("read")))
        } else {
            format!("special {:?}", meta.file_type())
        };
        let mode = meta.mode() & 0o7777;
        found.insert(
            relative.clone(),
            format!("{what} mode={mode:o} owner={}:{}", meta.uid(), meta.gid()),
        );
        if meta.is_dir() {
            walk(root, &relative, found);
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Extract `bytes` in a fresh scene, and also import them into a store there: both must
/// refuse with a message naming `entry`, and leave everything around unchanged.
fn assert_refused(bytes: Vec<u8>, entry: &str) -> String {
    let scene = Scene::new();
    let before = scene.around();
    let layer = scene.layer("hostile.tar", &bytes);

    let failure = extract_layer(&layer, &scene.dest()).expect_err("extraction must refuse");
    let message = failure.to_string();
    assert!(message.starts_with("refusing layer entry"), "{message}");
    assert!(
        message.contains(entry),
        "the message names the entry {entry}: {message}"
    );
    assert!(!message.contains('\n'), "{message}");

    let store_root = tempfile::tempdir().expect("store");
    let store = Store::new(store_root.path());
    let refused = import(&store, &layer, "hostile").expect_err("import must refuse");
    assert_eq!(
        refused.what, failure.what,
        "import refuses as extraction does"
    );
    assert!(store.list().expect("list").is_empty());
    // The layout's skeleton may be there; no blob, no index entry, no partial file.
    let leftovers: Vec<_> = fs::read_dir(store.root())
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.file_name())
        .filter(|name| !["oci-layout", "blobs"].contains(&name.to_str().unwrap_or("")))
        .collect();
    assert!(leftovers.is_empty(), "import left {leftovers:?}");
    let blobs: Vec<_> = fs::read_dir(store.root().join("blobs/sha256"))
        .into_iter()
        .flatten()
        .collect();
    assert!(blobs.is_empty(), "import left blobs {blobs:?}");

    let gzipped = scene.layer("hostile.tar.gz", &gzip(&bytes));
    let refused = import(&store, &gzipped, "hostile").expect_err("gzip import must refuse");
    assert_eq!(refused.what, failure.what);

    fs::remove_file(&layer).expect("rm layer");
    fs::remove_file(&gzipped).expect("rm layer");
    assert_eq!(
        scene.around(),
        before,
        "something around the destination changed"
    );
    message
}

// ---------------------------------------------------------------------------------------
// Hostile archives.

#[test]
fn an_entry_climbing_out_with_dotdot_is_refused() {
    let bytes = tar_of(|b| raw(b, EntryType::Regular, "../evil", "", b"pwned\n"));
    let message = assert_refused(bytes, "\"../evil\"");
    assert!(
        message.contains("climbs out of the image with .."),
        "{message}"
    );
}

#[test]
fn a_deeper_dotdot_is_refused_too() {
    let bytes = tar_of(|b| {
        dir(b, "etc", 0o755);
        raw(b, EntryType::Regular, "etc/../../evil", "", b"pwned\n");
    });
    assert_refused(bytes, "\"etc/../../evil\"");
}

#[test]
fn an_absolute_entry_is_refused() {
    // Absolute, and aimed at a real directory: were it honoured, it would land there.
    let outside = tempfile::tempdir().expect("target");
    let name = format!("{}/evil", outside.path().display());
    let bytes = tar_of(|b| raw(b, EntryType::Regular, &name, "", b"pwned\n"));
    let message = assert_refused(bytes, &format!("{name:?}"));
    assert!(message.contains("is an absolute path"), "{message}");
    assert!(!outside.path().join("evil").exists());
}

#[test]
fn a_write_through_a_symlink_is_refused_and_nothing_lands_outside() {
    let scene = Scene::new();
    let target = scene.outside().display().to_string();
    let bytes = tar_of(|b| {
        link(b, EntryType::Symlink, "link", &target);
        file(b, "link/evil", 0o644, b"pwned\n");
    });
    let before = scene.around();
    let layer = scene.layer("hostile.tar", &bytes);
    let failure = extract_layer(&layer, &scene.dest()).expect_err("must refuse");
    assert!(failure.to_string().contains("\"link/evil\""), "{failure}");
    assert!(
        failure.to_string().contains("through the symlink link"),
        "{failure}"
    );
    assert!(!scene.outside().join("evil").exists());
    fs::remove_file(&layer).expect("rm");
    assert_eq!(scene.around(), before);
    // The same archive, on its own scene: import refuses it too.
    assert_refused(bytes, "\"link/evil\"");
}

#[test]
fn a_symlink_from_an_earlier_layer_is_not_written_through_either() {
    let scene = Scene::new();
    let target = scene.outside().display().to_string();
    let lower = scene.layer(
        "lower.tar",
        &tar_of(|b| link(b, EntryType::Symlink, "lib", &target)),
    );
    let upper = scene.layer(
        "upper.tar",
        &tar_of(|b| file(b, "lib/libc.so.6", 0o755, b"pwned\n")),
    );
    let outside_before = snapshot(scene.outside());

    extract_layer(&lower, &scene.dest()).expect("a symlink alone is fine");
    let failure = extract_layer(&upper, &scene.dest()).expect_err("must refuse");
    assert!(
        failure.to_string().contains("\"lib/libc.so.6\""),
        "{failure}"
    );

    let store_root = tempfile::tempdir().expect("store");
    let store = Store::new(store_root.path());
    let refused = import_layers(&store, "layered", &[lower, upper], rootfs_config())
        .expect_err("must refuse");
    assert_eq!(refused.what, failure.what);
    assert!(store.list().expect("list").is_empty());
    assert_eq!(snapshot(scene.outside()), outside_before);
}

#[test]
fn a_hard_link_to_a_file_outside_is_refused() {
    let bytes = tar_of(|b| raw(b, EntryType::Link, "stolen", "../outside-file", b""));
    let message = assert_refused(bytes, "\"stolen\"");
    assert!(
        message.contains("hard link to \"../outside-file\", which climbs out"),
        "{message}"
    );
}

#[test]
fn a_hard_link_to_etc_passwd_is_refused() {
    let bytes = tar_of(|b| raw(b, EntryType::Link, "passwd", "/etc/passwd", b""));
    let message = assert_refused(bytes, "\"passwd\"");
    assert!(message.contains("which is an absolute path"), "{message}");
}

#[test]
fn a_hard_link_through_a_symlink_is_refused() {
    let bytes = tar_of(|b| {
        link(b, EntryType::Symlink, "etc", "/etc");
        raw(b, EntryType::Link, "passwd", "etc/passwd", b"");
    });
    let message = assert_refused(bytes, "\"passwd\"");
    assert!(message.contains("through the symlink etc"), "{message}");
}

#[test]
fn a_hard_link_to_something_not_in_the_image_is_refused() {
    let bytes = tar_of(|b| raw(b, EntryType::Link, "ghost", "nowhere", b""));
    assert_refused(bytes, "\"ghost\"");
}

#[test]
fn device_nodes_are_refused() {
    for (kind, name) in [(EntryType::Char, "dev/mem"), (EntryType::Block, "dev/sda")] {
        let bytes = tar_of(|b| {
            let mut header = header(kind, 0o666, 0);
            header.set_device_major(1).expect("major");
            header.set_device_minor(1).expect("minor");
            b.append_data(&mut header, name, std::io::empty())
                .expect("device");
        });
        let message = assert_refused(bytes, &format!("{name:?}"));
        assert!(message.contains("device node"), "{message}");
    }
}

#[test]
fn a_component_over_name_max_is_refused() {
    let long = "x".repeat(300);
    let name = format!("dir/{long}");
    let bytes = tar_of(|b| file(b, &name, 0o644, b"data"));
    let message = assert_refused(bytes, "dir/xxxx");
    assert!(message.contains("300-byte component"), "{message}");
    assert!(message.contains("NAME_MAX"), "{message}");
    assert!(
        message.len() < 400,
        "a long name is shortened in the message: {message}"
    );
}

#[test]
fn a_name_over_path_max_is_refused() {
    let name = vec!["y".repeat(100); 50].join("/");
    let bytes = tar_of(|b| file(b, &name, 0o644, b"data"));
    let message = assert_refused(bytes, "yyyy");
    assert!(message.contains("PATH_MAX"), "{message}");
}

#[test]
fn a_file_named_as_the_root_is_refused() {
    let bytes = tar_of(|b| raw(b, EntryType::Regular, "./", "", b"x"));
    assert_refused(bytes, "\"./\"");
}

#[test]
fn a_directory_replaced_by_a_symlink_does_not_get_its_mode_set_through_it() {
    // The directory's mode is set after the layer (see finish_directories); by then a later
    // entry has made `d` a symlink to outside. chmod must not follow it.
    let scene = Scene::new();
    let target = scene.outside().display().to_string();
    let mode_before = fs::metadata(scene.outside()).expect("stat").mode();
    let layer = scene.layer(
        "tricky.tar",
        &tar_of(|b| {
            dir(b, "d", 0o777);
            link(b, EntryType::Symlink, "d", &target);
        }),
    );
    extract_layer(&layer, &scene.dest()).expect("replacing a directory is allowed");
    assert!(fs::symlink_metadata(scene.dest().join("d"))
        .expect("d")
        .is_symlink());
    assert_eq!(
        fs::metadata(scene.outside()).expect("stat").mode(),
        mode_before
    );
}

// ---------------------------------------------------------------------------------------
// Extracting a normal layer.

#[test]
fn a_normal_layer_extracts_with_its_types_modes_and_times() {
    let scene = Scene::new();
    let layer = scene.layer(
        "good.tar",
        &tar_of(|b| {
            dir(b, "./", 0o755);
            dir(b, "bin", 0o755);
            file(b, "bin/tool", 0o4755, b"#!/bin/sh\necho hi\n");
            link(b, EntryType::Symlink, "bin/alias", "tool");
            link(b, EntryType::Symlink, "etc-link", "/etc");
            link(b, EntryType::Link, "bin/same", "bin/tool");
            dir(b, "private", 0o700);
            dir(b, "tmp", 0o1777);
            file(b, "deep/er/file", 0o600, b"implicit parents\n");
            let mut fifo = header(EntryType::Fifo, 0o620, 0);
            b.append_data(&mut fifo, "pipe", std::io::empty())
                .expect("fifo");
            let mut owned = header(EntryType::Regular, 0o640, 5);
            owned.set_uid(1000);
            owned.set_gid(1001);
            b.append_data(&mut owned, "owned", &b"mine\n"[..])
                .expect("owned");
        }),
    );
    let dest = scene.dest();
    extract_layer(&layer, &dest).expect("extract");

    let mode = |path: &str| fs::symlink_metadata(dest.join(path)).expect(path).mode() & 0o7777;
    assert_eq!(
        fs::read_to_string(dest.join("bin/tool")).expect("tool"),
        "#!/bin/sh\necho hi\n"
    );
    assert_eq!(mode("bin/tool"), 0o4755, "setuid is kept");
    assert_eq!(mode("private"), 0o700);
    assert_eq!(mode("tmp"), 0o1777);
    assert_eq!(mode("deep"), 0o755, "implicit parents are 0755");
    assert_eq!(mode("deep/er/file"), 0o600);
    assert_eq!(
        fs::read_link(dest.join("bin/alias")).expect("alias"),
        Path::new("tool")
    );
    assert_eq!(
        fs::read_link(dest.join("etc-link")).expect("etc"),
        Path::new("/etc")
    );
    let tool = fs::metadata(dest.join("bin/tool")).expect("tool");
    let same = fs::metadata(dest.join("bin/same")).expect("same");
    assert_eq!(
        (tool.ino(), tool.nlink()),
        (same.ino(), 2),
        "a hard link is the same file"
    );
    let pipe = fs::symlink_metadata(dest.join("pipe")).expect("pipe");
    assert!(pipe.file_type().is_fifo());
    assert_eq!(pipe.mode() & 0o7777, 0o620);
    assert_eq!(tool.mtime(), 1_700_000_000);
    assert_eq!(
        fs::metadata(dest.join("bin")).expect("bin").mtime(),
        1_700_000_000
    );
    if nix::unistd::geteuid().is_root() {
        let owned = fs::metadata(dest.join("owned")).expect("owned");
        assert_eq!((owned.uid(), owned.gid()), (1000, 1001));
    }
}

#[test]
fn a_later_layer_replaces_files_of_an_earlier_one() {
    let scene = Scene::new();
    let lower = scene.layer(
        "lower.tar",
        &tar_of(|b| {
            file(b, "etc/motd", 0o644, b"old\n");
            file(b, "was-a-file", 0o644, b"file\n");
            file(b, "was-a-dir/inner", 0o644, b"inner\n");
        }),
    );
    let upper = scene.layer(
        "upper.tar.gz",
        &gzip(&tar_of(|b| {
            file(b, "etc/motd", 0o644, b"new\n");
            dir(b, "was-a-file", 0o755);
            link(b, EntryType::Symlink, "was-a-dir", "/nowhere");
        })),
    );
    extract_layer(&lower, &scene.dest()).expect("lower");
    extract_layer(&upper, &scene.dest()).expect("upper");
    let dest = scene.dest();
    assert_eq!(
        fs::read_to_string(dest.join("etc/motd")).expect("motd"),
        "new\n"
    );
    assert!(dest.join("was-a-file").is_dir());
    assert!(fs::symlink_metadata(dest.join("was-a-dir"))
        .expect("link")
        .is_symlink());
}

#[test]
fn a_hook_sees_every_entry_and_can_take_one_over() {
    let scene = Scene::new();
    let layer = scene.layer(
        "hooked.tar",
        &tar_of(|b| {
            file(b, "keep", 0o644, b"k");
            file(b, ".wh.gone", 0o644, b"");
        }),
    );
    let mut seen = Vec::new();
    extract_layer_with(&layer, &scene.dest(), &mut |entry, _dest| {
        seen.push(entry.path.clone());
        Ok(if entry.path.starts_with(".wh.gone") {
            Hooked::Done
        } else {
            Hooked::Extract
        })
    })
    .expect("extract");
    assert_eq!(seen, [PathBuf::from("keep"), PathBuf::from(".wh.gone")]);
    assert!(scene.dest().join("keep").exists());
    assert!(!scene.dest().join(".wh.gone").exists());
}

// ---------------------------------------------------------------------------------------
// The store.

fn sample_tar() -> Vec<u8> {
    tar_of(|b| {
        dir(b, "bin", 0o755);
        file(b, "bin/hello", 0o755, b"#!/bin/sh\necho hello\n");
        link(b, EntryType::Symlink, "bin/hi", "hello");
        link(b, EntryType::Link, "bin/hey", "bin/hello");
        dir(b, "tmp", 0o1777);
        file(b, "etc/hostname", 0o644, b"sample\n");
    })
}

fn store() -> (TempDir, Store) {
    let root = tempfile::tempdir().expect("state root");
    let store = Store::new(root.path());
    (root, store)
}

#[test]
fn import_stores_plain_and_gzip_layers_under_their_digest() {
    let (root, store) = store();
    let plain = root.path().join("plain.tar");
    fs::write(&plain, sample_tar()).expect("write");
    let gzipped = root.path().join("sample.tgz");
    fs::write(&gzipped, gzip(&sample_tar())).expect("write");

    for (file, name, compression) in [
        (&plain, "plain", Compression::None),
        (&gzipped, "zipped", Compression::Gzip),
    ] {
        let image = import(&store, file, name).expect("import");
        assert_eq!(image.name, name);
        assert_eq!(image.layers.len(), 1);
        let layer = &image.layers[0];
        assert_eq!(layer.compression, compression);
        let blob = store.blob_path(&layer.digest);
        assert!(
            blob.starts_with(store.root().join("blobs/sha256")),
            "{}",
            blob.display()
        );
        let stored = fs::read(&blob).expect("blob");
        assert_eq!(
            stored,
            fs::read(file).expect("source"),
            "stored as imported"
        );
        assert_eq!(layer.digest, format!("sha256:{}", hex(&stored)));
        assert_eq!(layer.size, stored.len() as u64);
        // The diff id is the uncompressed tar's digest, whatever the compression.
        assert_eq!(layer.diff_id, format!("sha256:{}", hex(&sample_tar())));
        assert_eq!(store.image(name).expect("image"), image);
        let text = fs::read_to_string(store.root().join("index.json")).expect("index.json");
        let json: serde_json::Value = serde_json::from_str(&text).expect("json");
        let named = json["manifests"]
            .as_array()
            .expect("manifests")
            .iter()
            .any(|m| m["annotations"]["org.opencontainers.image.ref.name"] == name);
        assert!(named, "{text}");
        assert!(
            image
                .config
                .created()
                .as_deref()
                .is_some_and(|t| t.ends_with('Z')),
            "{:?}",
            image.config
        );
    }
    assert_eq!(
        fs::read_to_string(store.root().join("oci-layout")).expect("oci-layout"),
        "{\"imageLayoutVersion\":\"1.0.0\"}\n"
    );
    let dest = root.path().join("unpacked");
    unpack(&store, "zipped", &dest).expect("unpack");
    assert_eq!(
        fs::read_to_string(dest.join("etc/hostname")).expect("hostname"),
        "sample\n"
    );
}

#[test]
fn list_remove_and_names() {
    let (root, store) = store();
    assert!(
        store.list().expect("list").is_empty(),
        "no images dir yet is an empty list"
    );
    let file = root.path().join("sample.tar");
    fs::write(&file, sample_tar()).expect("write");
    import(&store, &file, "zeta").expect("zeta");
    import(&store, &file, "alpha-1.0").expect("alpha");
    let listed: Vec<String> = store
        .list()
        .expect("list")
        .into_iter()
        .map(|image| image.name)
        .collect();
    assert_eq!(listed, ["alpha-1.0", "zeta"]);
    // Same layer, same blob: the two images share it.
    let blobs = fs::read_dir(store.root().join("blobs/sha256"))
        .expect("blobs")
        .count();
    let (a, z) = (
        store.image("alpha-1.0").unwrap(),
        store.image("zeta").unwrap(),
    );
    assert_eq!(a.layers[0].digest, z.layers[0].digest);
    assert!(blobs <= 5, "layer shared, not copied: {blobs} blobs");

    let again = import(&store, &file, "zeta").expect_err("an existing name is refused");
    assert!(again.to_string().contains("already exists"), "{again}");
    store.remove("zeta").expect("remove");
    assert_eq!(store.list().expect("list").len(), 1);
    import(&store, &file, "zeta").expect("after remove, the name is free");

    for bad in [
        "",
        "Upper",
        "-dash",
        ".hidden",
        "a/b",
        "..",
        &"x".repeat(65),
    ] {
        let failure = import(&store, &file, bad).expect_err(bad);
        assert!(
            failure.to_string().starts_with("invalid image name"),
            "{failure}"
        );
    }
    let missing = store.image("nothing").expect_err("missing");
    assert!(missing
        .to_string()
        .starts_with("no image named nothing — list images with `images`"));
    assert!(store.remove("nothing").is_err());
    assert!(import(&store, &root.path().join("absent.tar"), "absent").is_err());
    let empty = root.path().join("empty.tar");
    fs::write(&empty, b"").expect("empty");
    assert!(import(&store, &empty, "empty")
        .expect_err("empty")
        .to_string()
        .contains("empty"));
    let junk = root.path().join("junk.tar");
    fs::write(&junk, vec![b'j'; 2048]).expect("junk");
    let failure = import(&store, &junk, "junk").expect_err("junk");
    assert!(
        failure.to_string().contains("not a readable tar archive"),
        "{failure}"
    );
    let mut names: Vec<String> = fs::read_dir(store.root())
        .expect("images")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["blobs", "index.json", "index.json.lock", "oci-layout"],
        "nothing but the layout is left"
    );
}

#[test]
fn a_store_in_the_old_format_is_one_clear_line() {
    let (_root, store) = store();
    fs::create_dir_all(store.root().join("busybox/layers")).expect("old");
    fs::write(store.root().join("busybox/manifest.json"), "{}").expect("old manifest");
    let failure = store.image("busybox").expect_err("old format");
    assert!(failure.to_string().contains("old format"), "{failure}");
    assert!(store.list().is_err());
}

#[test]
fn two_images_of_one_name_in_the_index_are_refused() {
    let (root, store) = store();
    let file = root.path().join("sample.tar");
    fs::write(&file, sample_tar()).expect("write");
    import(&store, &file, "twin").expect("import");
    let path = store.root().join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    let entry = index["manifests"][0].clone();
    index["manifests"].as_array_mut().unwrap().push(entry);
    fs::write(&path, index.to_string()).unwrap();
    let failure = store.image("twin").expect_err("ambiguous");
    assert!(failure.to_string().contains("ambiguous"), "{failure}");
}

#[test]
fn a_leftover_of_a_dead_import_is_swept_by_the_next_one() {
    let (root, store) = store();
    // pid 2^22+1 is above the kernel's pid_max limit, so no process has it.
    let leftover = store.root().join(".partial-4194305-abc-old");
    fs::create_dir_all(leftover.join("layers")).expect("leftover");
    let mine = store
        .root()
        .join(format!(".partial-{}-abc-live", std::process::id()));
    fs::create_dir_all(&mine).expect("live");
    let file = root.path().join("sample.tar");
    fs::write(&file, sample_tar()).expect("write");
    import(&store, &file, "fresh").expect("import");
    assert!(!leftover.exists());
    assert!(mine.exists(), "a live process's work is left alone");
}

#[test]
fn a_multi_layer_image_unpacks_in_order() {
    let (root, store) = store();
    let lower = root.path().join("lower.tar");
    fs::write(&lower, sample_tar()).expect("lower");
    let upper = root.path().join("upper.tar.gz");
    fs::write(
        &upper,
        gzip(&tar_of(|b| {
            file(b, "etc/hostname", 0o644, b"upper\n");
            file(b, "added", 0o600, b"added\n");
        })),
    )
    .expect("upper");
    let manifest =
        import_layers(&store, "stack", &[lower, upper], rootfs_config()).expect("import");
    assert_eq!(manifest.layers.len(), 2);
    assert_eq!(manifest.layers[1].compression, Compression::Gzip);
    let dest = root.path().join("rootfs");
    unpack(&store, "stack", &dest).expect("unpack");
    assert_eq!(
        fs::read_to_string(dest.join("etc/hostname")).expect("hostname"),
        "upper\n"
    );
    assert_eq!(
        fs::read_to_string(dest.join("bin/hello")).expect("hello"),
        "#!/bin/sh\necho hello\n"
    );
    assert_eq!(
        fs::metadata(dest.join("added")).expect("added").mode() & 0o7777,
        0o600
    );
    assert_eq!(fs::metadata(&dest).expect("dest").mode() & 0o7777, 0o755);
}

/// The names in `dir` that start with `prefix`.
fn siblings(dir: &Path, prefix: &str) -> Vec<String> {
    fs::read_dir(dir)
        .expect("read_dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.starts_with(prefix))
        .collect()
}

#[test]
fn a_failed_unpack_leaves_neither_dest_nor_a_temporary_directory() {
    let (root, store) = store();
    let sample = root.path().join("sample.tar");
    fs::write(&sample, sample_tar()).expect("write");
    let manifest = import(&store, &sample, "tampered").expect("import");
    let blob = store.blob_path(&manifest.layers[0].digest);

    // A blob changed after import: the digest no longer matches.
    fs::write(&blob, tar_of(|b| file(b, "other", 0o644, b"changed\n"))).expect("tamper");
    let dest = root.path().join("rootfs");
    let failure = unpack(&store, "tampered", &dest).expect_err("digest mismatch");
    assert!(failure.to_string().contains("is damaged"), "{failure}");
    assert!(!dest.exists());
    assert!(siblings(root.path(), "rootfs").is_empty());

    // A hostile blob slipped in behind the store's back: refused half-way, nothing kept.
    fs::write(
        &blob,
        tar_of(|b| {
            file(b, "first", 0o644, b"written before the bad entry\n");
            raw(b, EntryType::Regular, "../escape", "", b"pwned\n");
        }),
    )
    .expect("tamper");
    let failure = unpack(&store, "tampered", &dest).expect_err("hostile");
    assert!(failure.to_string().contains("\"../escape\""), "{failure}");
    assert!(!dest.exists());
    assert!(!root.path().join("escape").exists());
    assert!(siblings(root.path(), "rootfs").is_empty());

    // And an existing dest is refused, untouched.
    fs::create_dir(&dest).expect("dest");
    let failure = unpack(&store, "tampered", &dest).expect_err("exists");
    assert!(failure.to_string().contains("already exists"), "{failure}");
    assert!(dest.exists());
}

#[test]
fn export_then_import_gives_the_same_files() {
    let (root, store) = store();
    let lower = root.path().join("lower.tar");
    fs::write(&lower, sample_tar()).expect("lower");
    let upper = root.path().join("upper.tar");
    fs::write(
        &upper,
        tar_of(|b| file(b, "etc/hostname", 0o600, b"exported\n")),
    )
    .expect("upper");
    import_layers(&store, "original", &[lower, upper], rootfs_config()).expect("import");

    let exported = root.path().join("out/original.tar");
    fs::create_dir(root.path().join("out")).expect("out");
    export(&store, "original", &exported).expect("export");
    assert_eq!(
        siblings(&root.path().join("out"), "original"),
        ["original.tar"],
        "only the tar is left"
    );
    let manifest = import(&store, &exported, "copy").expect("import the export");
    assert_eq!(manifest.layers[0].compression, Compression::None);
    // An OCI archive keeps the blobs as they are: the same manifest, the same digests.
    let original_image = store.image("original").expect("original");
    assert_eq!(
        manifest.descriptor.digest(),
        original_image.descriptor.digest()
    );
    let flat = root.path().join("out/flat.tar");
    export_rootfs(&store, "original", &flat).expect("export --rootfs");
    let flat_image = import(&store, &flat, "flat").expect("import the flat tar");
    assert_eq!(flat_image.layers.len(), 1);
    let flat_dir = root.path().join("flat");
    unpack(&store, "flat", &flat_dir).expect("unpack flat");

    let original = root.path().join("original");
    let copy = root.path().join("copy");
    unpack(&store, "original", &original).expect("unpack original");
    unpack(&store, "copy", &copy).expect("unpack copy");
    assert_eq!(snapshot(&copy), snapshot(&original));
    assert_eq!(snapshot(&flat_dir), snapshot(&original));
    let hello = fs::metadata(copy.join("bin/hello")).expect("hello");
    assert_eq!(hello.nlink(), 2, "the hard link survives the round trip");
    assert_eq!(
        fs::read_link(copy.join("bin/hi")).expect("hi"),
        Path::new("hello")
    );

    assert!(export(&store, "missing", &root.path().join("x.tar")).is_err());
    assert!(!root.path().join("x.tar").exists());
    let leftovers: Vec<_> = siblings(store.root(), ".");
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn the_rfc3339_dates_are_right() {
    use std::time::{Duration, UNIX_EPOCH};
    let at = |seconds| boxcar::image::rfc3339(UNIX_EPOCH + Duration::from_secs(seconds));
    assert_eq!(at(0), "1970-01-01T00:00:00Z");
    assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
    assert_eq!(at(1_700_000_000), "2023-11-14T22:13:20Z");
}

#[test]
fn unpack_applies_whiteouts_and_opaque_directories_between_layers() {
    let scene = Scene::new();
    let lower = scene.layer(
        "lower.tar",
        &tar_of(|b| {
            dir(b, "a", 0o755);
            file(b, "a/keep", 0o644, b"k");
            file(b, "a/gone", 0o644, b"g");
            dir(b, "d", 0o755);
            file(b, "d/old", 0o644, b"o");
        }),
    );
    let upper = scene.layer(
        "upper.tar",
        &tar_of(|b| {
            file(b, "a/.wh.gone", 0o644, b"");
            dir(b, "d", 0o755);
            file(b, "d/new", 0o644, b"n");
            file(b, "d/.wh..wh..opq", 0o644, b"");
        }),
    );
    let store = Store::new(&scene.sandbox.path().join("state"));
    import_layers(&store, "layered", &[lower, upper], rootfs_config()).unwrap();
    let dest = scene.sandbox.path().join("unpacked");
    unpack(&store, "layered", &dest).unwrap();
    let mut found: Vec<String> = snapshot(&dest)
        .keys()
        .map(|p| p.display().to_string())
        .collect();
    found.sort();
    assert_eq!(found, ["a", "a/keep", "d", "d/new"]);
}

#[test]
fn whiteouts_that_name_no_file_are_refused() {
    for name in [".wh.", ".wh..", ".wh...", "a/.wh...", "a/.wh."] {
        let bytes = tar_of(|b| {
            dir(b, "a", 0o755);
            file(b, "a/keep", 0o644, b"k");
            raw(b, EntryType::Regular, name, "", b"");
        });
        let message = assert_refused(bytes, &format!("{name:?}"));
        assert!(message.contains("whiteout that names no file"), "{message}");
    }
}

#[test]
fn applying_a_whiteout_never_leaves_its_directory() {
    // As if a `.wh...` had got past import (a store changed by hand): flattening must not
    // remove `a/..`, the destination itself, nor anything beside it.
    let scene = Scene::new();
    let dest = scene.dest();
    fs::create_dir(dest.join("a")).unwrap();
    fs::write(dest.join("a/keep"), "k").unwrap();
    fs::write(dest.join("top"), "t").unwrap();
    let before = scene.around();
    for name in ["a/.wh...", "a/.wh..", "a/.wh.", ".wh..."] {
        let entry = crate::extract::LayerEntry {
            path: PathBuf::from(name),
            kind: crate::extract::EntryKind::File,
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 0,
        };
        let refused = crate::unpack::flatten_whiteout(&entry, &dest, &mut Default::default());
        assert!(refused.is_err(), "{name} was applied");
    }
    assert!(dest.join("a/keep").exists() && dest.join("top").exists());
    assert_eq!(scene.around(), before);
}
