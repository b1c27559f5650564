//! Extracting a layer safely: nothing is ever written outside the destination.
//!
//! A tar archive is a list of entries, each a name, a type and some bytes (tar(5)), and the
//! name can be anything. A hostile layer tries `../../etc/cron.d/x` or `/etc/shadow`; a
//! symlink `lib -> /usr/lib` followed by a file `lib/libc.so.6` that a naive extractor writes
//! *through* the symlink, onto the host; a hard link to `/etc/shadow` that makes the host's
//! file part of the image; a device node that hands the container the host's disk. Every
//! extractor that forgot one of these has had a CVE ("Zip Slip" is the family's name).
//!
//! So every entry passes [`check`] before anything is written, and the error names it:
//!
//! - its name is relative, has no `..`, and fits Linux's limits (NAME_MAX 255 bytes for a
//!   component, PATH_MAX 4096 for the whole, see path_resolution(7));
//! - no directory on the way to it is a symlink: we never write through one;
//! - a hard link points to a regular file already in the image, not through a symlink;
//! - it is a directory, a regular file, a symlink, a hard link or a fifo. Device nodes are
//!   refused: a container's devices come from the runtime (mknod(2)). Fifos are allowed:
//!   a named pipe carries no data and reaches nothing outside.
//!
//! - a whiteout (`.wh.NAME`, see [`whiteout_target`]) names exactly one entry of its
//!   directory: `.wh.`, `.wh..` and `.wh...` name none (or the directory itself, or its
//!   parent) and are refused, since applying them would remove what is not the layer's.
//!
//! Symlinks themselves may point anywhere, `/etc/passwd` included: a symlink is only
//! dangerous when followed, and we never follow one while extracting; inside the container
//! an absolute target resolves against the container's root (symlink(7)).
//!
//! We check with lstat(2) (`symlink_metadata`) on each parent instead of opening with
//! openat2(2) and `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`. The check is sound because no one
//! else writes into the destination while we extract (unpack extracts into a fresh private
//! directory), so what we checked is still true when we write; and a learner reads the
//! rule in a loop of ten lines. openat2 would make the kernel enforce it even against a
//! concurrent writer, at the price of a file descriptor threaded through every step and
//! Linux 5.6 or later.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use filetime::FileTime;
use flate2::read::MultiGzDecoder;
use tar::EntryType;

use boxcar::image::Compression;
use boxcar::Failure;

use crate::import::Tee;

/// Names longer than this cannot be created (PATH_MAX counts the closing NUL).
const PATH_MAX: usize = libc::PATH_MAX as usize;
/// The longest name of one path component (NAME_MAX).
const NAME_MAX: usize = libc::NAME_MAX as usize;

/// The first two bytes of every gzip stream (RFC 1952, section 2.3.1).
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

const UNSAFE_HINT: &str = "this archive is not a safe image, so it is refused and nothing was \
     written outside the destination; make images from a directory with `tar -C DIR -cf FILE .`";

const TOO_LONG_HINT: &str = "Linux cannot create such a name (see path_resolution(7)), so \
     this archive cannot be an image";

/// A layer entry that passed the safety rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerEntry {
    /// Where it goes, relative to the destination, with only normal components.
    pub path: PathBuf,
    pub kind: EntryKind,
    /// Permission bits, setuid, setgid and sticky included (they are kept, as Docker does).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Modification time, in seconds since the epoch.
    pub mtime: i64,
}

/// What a layer entry creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    Directory,
    File,
    /// A symbolic link and its target, which may point anywhere.
    Symlink(PathBuf),
    /// A hard link to a regular file earlier in the image, relative to the destination.
    HardLink(PathBuf),
    Fifo,
}

/// What a hook did with an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hooked {
    /// Nothing: extract the entry as usual.
    Extract,
    /// The hook dealt with the entry; write nothing for it.
    Done,
}

/// Sees each checked entry and the destination before it is written.
/// [`unpack`](crate::unpack::unpack) uses one to apply OCI whiteouts (`.wh.NAME`) as
/// removals; chapter 06 uses one to turn them into overlayfs's own whiteouts.
pub type Hook<'a> = dyn FnMut(&LayerEntry, &Path) -> Result<Hooked, Failure> + 'a;

/// Extract the layer `layer` (tar or tar.gz) into the existing directory `dest`.
///
/// Entries are applied in order over what `dest` holds, so a later layer replaces files of
/// an earlier one. A refused entry stops the extraction with a failure that names it;
/// what was extracted before it stays (extract into a scratch directory, as
/// [`unpack`](crate::unpack::unpack) does, to keep nothing).
pub fn extract_layer(layer: &Path, dest: &Path) -> Result<(), Failure> {
    extract_layer_with(layer, dest, &mut |_, _| Ok(Hooked::Extract))
}

/// [`extract_layer`], showing every entry that passed the safety rules to `hook` first.
pub fn extract_layer_with(layer: &Path, dest: &Path, hook: &mut Hook<'_>) -> Result<(), Failure> {
    extract_hashing(layer, dest, hook).map(|_digest| ())
}

/// Extract the layer blob `layer` into `dest`, checking on the way that its bytes still
/// hash to `expected` (the digest's hex digits, as the manifest names the blob).
///
/// This is where a layer's digest is verified: once, when it is extracted. From then on the
/// extracted directory is trusted, as Docker trusts its own, so a warm start never hashes
/// again. A blob changed since import is refused — after its entries were written, so
/// extract into a scratch directory that is dropped on failure.
pub fn extract_checked(
    layer: &Path,
    expected: &str,
    dest: &Path,
    hook: &mut Hook<'_>,
) -> Result<(), Failure> {
    let digest = extract_hashing(layer, dest, hook)?;
    if digest != expected {
        return Err(Failure::new(format!(
            "layer {} is damaged: its sha256 is {digest}, not the {expected} it was imported as",
            layer.display()
        ))
        .hint("the file changed since it was imported: remove the image and import it again"));
    }
    Ok(())
}

/// Extract `layer` into `dest` and return the sha256 of the layer file, in hex.
fn extract_hashing(layer: &Path, dest: &Path, hook: &mut Hook<'_>) -> Result<String, Failure> {
    let file = File::open(layer)
        .map_err(|error| Failure::io(format!("cannot open layer {}", layer.display()), error))?;
    let mut source = Tee::new(file, io::sink());
    let mut directories = BTreeMap::new();
    for_each_entry(&mut source, layer, |entry| {
        let Some(checked) = check(entry, &Disk(dest))? else {
            return Ok(());
        };
        if hook(&checked, dest)? == Hooked::Done {
            return Ok(());
        }
        apply(&checked, entry, dest)?;
        if checked.kind == EntryKind::Directory {
            directories.insert(checked.path.clone(), checked);
        }
        Ok(())
    })?;
    finish_directories(dest, directories)?;
    let (digest, _size, _sink) = source.finish(layer)?;
    Ok(digest)
}

/// Check every entry of a layer stream against `model` (what earlier layers of the same
/// image made), without writing anything; returns how the stream is compressed.
pub fn check_stream(
    reader: impl Read,
    label: &Path,
    model: &mut Model,
) -> Result<Checked, Failure> {
    for_each_entry(reader, label, |entry| {
        if let Some(checked) = check(entry, model)? {
            model.record(&checked);
        }
        Ok(())
    })
}

/// What reading a whole layer tells: how it is compressed, and the sha256 of the tar once
/// uncompressed (in hex) — the OCI image spec's *diff id*, which the config lists in
/// `rootfs.diff_ids` and which names the layer whatever its compression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub compression: Compression,
    pub diff_hex: String,
}

/// The first four bytes of a zstd frame (RFC 8878, section 3.1.1).
pub const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Visit every entry of a tar stream, plain or gzip, in order; then read the stream to its
/// end (so a hash of it covers every byte) and say how it was compressed and what the
/// uncompressed tar hashes to.
fn for_each_entry<'r>(
    reader: impl Read + 'r,
    label: &Path,
    mut visit: impl FnMut(&mut tar::Entry<'_, Tee<Box<dyn Read + 'r>, io::Sink>>) -> Result<(), Failure>,
) -> Result<Checked, Failure> {
    let not_tar = |error: io::Error| {
        Failure::new(format!(
            "{} is not a readable tar archive: {error}",
            label.display()
        ))
        .hint("give a tar or tar.gz file, e.g. one made with `tar -C DIR -czf FILE .`")
    };
    let mut buffered = BufReader::with_capacity(64 * 1024, reader);
    let head = buffered.fill_buf().map_err(not_tar)?;
    if head.starts_with(&ZSTD_MAGIC) {
        return Err(Failure::new(format!(
            "{} is compressed with zstd, which boxcar does not read",
            label.display()
        ))
        .hint("decompress it first (zstd -d), or convert an image with `skopeo copy --dest-compress-format gzip`"));
    }
    let (compression, stream): (Compression, Box<dyn Read + 'r>) = if head.starts_with(&GZIP_MAGIC)
    {
        // Multi-member, as pigz and `cat a.gz b.gz` make them (RFC 1952, section 2.2).
        (Compression::Gzip, Box::new(MultiGzDecoder::new(buffered)))
    } else {
        (Compression::None, Box::new(buffered))
    };
    // The uncompressed bytes are hashed on their way into the tar reader: the diff id.
    let mut archive = tar::Archive::new(Tee::new(stream, io::sink()));
    for entry in archive.entries().map_err(not_tar)? {
        visit(&mut entry.map_err(not_tar)?)?;
    }
    let (diff_hex, _size, _sink) = archive.into_inner().finish(label)?;
    Ok(Checked {
        compression,
        diff_hex,
    })
}

/// What is at a path, as far as the rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    Nothing,
    Directory,
    File,
    Symlink,
    Other,
}

/// Where the rules look up what earlier entries made: the destination itself while
/// extracting, a model of it while only checking.
pub trait Tree {
    fn found(&self, path: &Path) -> Result<Found, Failure>;
}

/// The destination on disk.
struct Disk<'a>(&'a Path);

impl Tree for Disk<'_> {
    fn found(&self, path: &Path) -> Result<Found, Failure> {
        let full = self.0.join(path);
        match fs::symlink_metadata(&full) {
            Ok(meta) => Ok(classify(meta.file_type())),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(Found::Nothing),
            Err(error) => Err(Failure::io(
                format!("cannot look at {}", full.display()),
                error,
            )),
        }
    }
}

fn classify(file_type: fs::FileType) -> Found {
    if file_type.is_symlink() {
        Found::Symlink
    } else if file_type.is_dir() {
        Found::Directory
    } else if file_type.is_file() {
        Found::File
    } else {
        Found::Other
    }
}

/// What the entries checked so far would have made, for checking an archive at import
/// without extracting it.
#[derive(Debug, Default)]
pub struct Model(BTreeMap<PathBuf, Found>);

impl Tree for Model {
    fn found(&self, path: &Path) -> Result<Found, Failure> {
        Ok(self.0.get(path).copied().unwrap_or(Found::Nothing))
    }
}

impl Model {
    /// Record what extracting `entry` makes, as [`apply`] does it on disk.
    fn record(&mut self, entry: &LayerEntry) {
        let mut parent = PathBuf::new();
        for component in entry.path.parent().into_iter().flat_map(Path::components) {
            parent.push(component);
            self.0.entry(parent.clone()).or_insert(Found::Directory);
        }
        let found = match entry.kind {
            EntryKind::Directory => Found::Directory,
            EntryKind::File | EntryKind::HardLink(_) => Found::File,
            EntryKind::Symlink(_) => Found::Symlink,
            EntryKind::Fifo => Found::Other,
        };
        let replaced = self.0.insert(entry.path.clone(), found);
        if replaced == Some(Found::Directory) && found != Found::Directory {
            self.0
                .retain(|path, _| path == &entry.path || !path.starts_with(&entry.path));
        }
    }
}

/// Apply the safety rules to one entry. `None` for entries that create nothing: PAX global
/// headers, and the root directory itself (`./`), whose mode is the runtime's to choose.
pub fn check<R: Read>(
    entry: &tar::Entry<'_, R>,
    tree: &impl Tree,
) -> Result<Option<LayerEntry>, Failure> {
    let header = entry.header();
    if header.entry_type() == EntryType::XGlobalHeader {
        return Ok(None);
    }
    let raw = entry.path_bytes();
    let path = clean(&raw).map_err(|bad| refuse(&raw, &format!("it {bad}"), bad.hint()))?;
    let kind = kind(entry, &raw)?;
    if path.as_os_str().is_empty() {
        if kind == EntryKind::Directory {
            return Ok(None);
        }
        return Err(refuse(
            &raw,
            "it names the image's root itself",
            UNSAFE_HINT,
        ));
    }
    check_whiteout(&raw, &path)?;
    check_parents(&raw, &path, tree)?;
    if let EntryKind::HardLink(target) = &kind {
        check_link_target(&raw, &path, target, tree)?;
    }
    let (mode, uid, gid, mtime) = numbers(entry.header(), &raw)?;
    Ok(Some(LayerEntry {
        path,
        kind,
        mode,
        uid,
        gid,
        mtime,
    }))
}

/// The header's mode (permission bits only), owner and mtime. A header whose numbers
/// cannot be read is damaged or crafted: refused.
fn numbers(header: &tar::Header, raw: &[u8]) -> Result<(u32, u32, u32, i64), Failure> {
    let damaged = |what: &str, why: String| {
        refuse(
            raw,
            &format!("its {what} is unreadable: {why}"),
            UNSAFE_HINT,
        )
    };
    let id = |value: io::Result<u64>, what: &str| {
        let value = value.map_err(|error| damaged(what, error.to_string()))?;
        u32::try_from(value).map_err(|_| damaged(what, format!("{value} is out of range")))
    };
    let mode = header
        .mode()
        .map_err(|error| damaged("mode", error.to_string()))?;
    let mtime = header
        .mtime()
        .map_err(|error| damaged("mtime", error.to_string()))?;
    Ok((
        mode & 0o7777,
        id(header.uid(), "uid")?,
        id(header.gid(), "gid")?,
        i64::try_from(mtime).unwrap_or(i64::MAX),
    ))
}

/// What the entry creates; device nodes and unknown types are refused.
fn kind<R: Read>(entry: &tar::Entry<'_, R>, raw: &[u8]) -> Result<EntryKind, Failure> {
    let link = || entry.link_name_bytes().unwrap_or_default().into_owned();
    Ok(match entry.header().entry_type() {
        EntryType::Directory => EntryKind::Directory,
        // Contiguous and GNU sparse files read back as plain files.
        EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => EntryKind::File,
        EntryType::Symlink => {
            let target = link();
            if target.is_empty() || target.len() >= PATH_MAX {
                let why = format!("it is a symlink with a {}-byte target", target.len());
                return Err(refuse(raw, &why, TOO_LONG_HINT));
            }
            EntryKind::Symlink(PathBuf::from(OsStr::from_bytes(&target)))
        }
        EntryType::Link => {
            let target = link();
            let clean_target = clean(&target).map_err(|bad| {
                let why = format!("it is a hard link to {}, which {bad}", shown(&target));
                refuse(raw, &why, bad.hint())
            })?;
            EntryKind::HardLink(clean_target)
        }
        EntryType::Fifo => EntryKind::Fifo,
        EntryType::Char | EntryType::Block => {
            let kind = if entry.header().entry_type() == EntryType::Char {
                "character"
            } else {
                "block"
            };
            return Err(refuse(
                raw,
                &format!("it is a {kind} device node"),
                "an image must not carry device nodes: a container gets its devices from the \
                 runtime; leave /dev out of the archive (`tar --exclude=./dev/* …`)",
            ));
        }
        other => {
            let why = format!(
                "its type {:?} is not one an image can hold",
                other.as_byte() as char
            );
            return Err(refuse(raw, &why, UNSAFE_HINT));
        }
    })
}

/// Why a name cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BadName {
    Absolute,
    ClimbsOut,
    TooLong(usize),
    ComponentTooLong(usize),
}

impl std::fmt::Display for BadName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadName::Absolute => write!(f, "is an absolute path"),
            BadName::ClimbsOut => write!(f, "climbs out of the image with .."),
            BadName::TooLong(len) => {
                write!(
                    f,
                    "is {len} bytes long, over Linux's {} (PATH_MAX)",
                    PATH_MAX - 1
                )
            }
            BadName::ComponentTooLong(len) => {
                write!(
                    f,
                    "has a {len}-byte component, over Linux's {NAME_MAX} (NAME_MAX)"
                )
            }
        }
    }
}

impl BadName {
    fn hint(self) -> &'static str {
        match self {
            BadName::Absolute | BadName::ClimbsOut => UNSAFE_HINT,
            BadName::TooLong(_) | BadName::ComponentTooLong(_) => TOO_LONG_HINT,
        }
    }
}

/// The name as a relative path of normal components: `./a//b/` is `a/b`, `.` is empty.
// ANCHOR: clean
fn clean(raw: &[u8]) -> Result<PathBuf, BadName> {
    // EXERCISE(ch04-3): Turn the entry's raw name into a relative path of normal components
    // ("./a//b/" is "a/b", "." is empty), refusing every name that could land outside the
    // destination, and every name Linux could not create anyway (path_resolution(7) gives
    // the limits: PATH_MAX for the whole name, NAME_MAX for one component). Path::components
    // splits a name for you; BadName has a variant for each refusal.
    // HINT(1): a name is safe when, read component by component, it never leaves the
    //   destination and never starts from /. Normalize as you go ("." and empty
    //   components add nothing) and refuse at the first bad one.
    // HINT(2): path_resolution(7): PATH_MAX (4096, the NUL included) bounds the whole name,
    //   NAME_MAX (255) each component. Component::ParentDir climbs, RootDir/Prefix are
    //   absolute; a component over NAME_MAX or a name of PATH_MAX bytes or more is refused.
    // HINT(3): check raw.len() against PATH_MAX first; then for each component of
    //   Path::new(OsStr::from_bytes(raw)).components(): match Normal (check its len, push),
    //   CurDir (skip), ParentDir => Err(BadName::ClimbsOut), RootDir | Prefix =>
    //   Err(BadName::Absolute); return Ok(path).
    if raw.len() >= PATH_MAX {
        return Err(BadName::TooLong(raw.len()));
    }
    let mut path = PathBuf::new();
    for component in Path::new(OsStr::from_bytes(raw)).components() {
        match component {
            Component::Normal(name) if name.len() > NAME_MAX => {
                return Err(BadName::ComponentTooLong(name.len()))
            }
            Component::Normal(name) => path.push(name),
            Component::CurDir => {}
            Component::ParentDir => return Err(BadName::ClimbsOut),
            Component::RootDir | Component::Prefix(_) => return Err(BadName::Absolute),
        }
    }
    Ok(path)
    // END EXERCISE
}
// ANCHOR_END: clean

/// The prefix of an OCI whiteout: `.wh.NAME` says NAME of the layers below is gone (the OCI
/// image spec, "Whiteouts").
pub const WHITEOUT_PREFIX: &str = ".wh.";

/// The one entry the whiteout named `name` hides in its directory: `.wh.NAME` hides `NAME`.
/// `None` if `name` is not a whiteout, or if what follows the prefix names no entry: empty,
/// `.` (the directory itself) or `..` (its parent). Everything that applies a whiteout asks
/// here, so a removal can never leave the directory the whiteout is in.
pub fn whiteout_target(name: &OsStr) -> Option<&OsStr> {
    let hidden = name.as_bytes().strip_prefix(WHITEOUT_PREFIX.as_bytes())?;
    let names_one_entry = !matches!(hidden, b"" | b"." | b"..") && !hidden.contains(&b'/');
    names_one_entry.then(|| OsStr::from_bytes(hidden))
}

/// Refuse a whiteout that names no entry of its directory (see [`whiteout_target`]).
fn check_whiteout(raw: &[u8], path: &Path) -> Result<(), Failure> {
    let Some(name) = path.file_name() else {
        return Ok(());
    };
    if name.as_bytes().starts_with(WHITEOUT_PREFIX.as_bytes()) && whiteout_target(name).is_none() {
        return Err(refuse(
            raw,
            "it is a whiteout that names no file (.wh. must be followed by the name of one \
             entry of its directory, not nothing, . or ..)",
            UNSAFE_HINT,
        ));
    }
    Ok(())
}

/// Refuse the entry if a directory on the way to it is a symlink (writing there would
/// write through it) or not a directory at all. Missing ones are fine: they are created.
// ANCHOR: check_parents
fn check_parents(raw: &[u8], path: &Path, tree: &impl Tree) -> Result<(), Failure> {
    // EXERCISE(ch04-4): Look at each directory on the way to `path`, shortest first
    // (tree.found tells what an earlier entry or layer made there). Decide which are fine,
    // which end the walk, and which must refuse the entry: writing through a symlink writes
    // wherever it points (symlink(7)), which is how "Zip Slip" reaches the host. Refuse with
    // refuse(raw, why, UNSAFE_HINT), saying which directory was wrong.
    // HINT(1): walk the parents from the top down. A real directory is fine, go on; a
    //   missing one will be created by us, so nothing below it exists either; a symlink or
    //   a file on the way must stop the entry.
    // HINT(2): symlink(7): writing to a/b when a is a symlink writes wherever a points. Only
    //   Found::Directory lets the walk continue; Found::Nothing ends it (Ok); Found::Symlink,
    //   Found::File and Found::Other refuse, naming the directory.
    // HINT(3): let mut parent = PathBuf::new(); for component in
    //   path.parent().into_iter().flat_map(Path::components) { parent.push(component); match
    //   tree.found(&parent)? { … } } Ok(()).
    let mut parent = PathBuf::new();
    for component in path.parent().into_iter().flat_map(Path::components) {
        parent.push(component);
        match tree.found(&parent)? {
            Found::Directory => {}
            Found::Nothing => return Ok(()),
            Found::Symlink => {
                let why = format!(
                    "it would be written through the symlink {}",
                    parent.display()
                );
                return Err(refuse(raw, &why, UNSAFE_HINT));
            }
            Found::File | Found::Other => {
                let why = format!("{} on its way is not a directory", parent.display());
                return Err(refuse(raw, &why, UNSAFE_HINT));
            }
        }
    }
    Ok(())
    // END EXERCISE
}
// ANCHOR_END: check_parents

/// A hard link must name a regular file already in the image, reached without a symlink:
/// link(2) makes the two names one file, so a link to anything else would let the image
/// reach it.
// ANCHOR: check_link_target
fn check_link_target(
    raw: &[u8],
    path: &Path,
    target: &Path,
    tree: &impl Tree,
) -> Result<(), Failure> {
    let why = |what: &str| format!("it is a hard link to {}, {what}", target.display());
    // EXERCISE(ch04-5): link(2) makes the entry a second name of `target`, so decide what a
    // target may be: only something the image itself made, that gives the image no reach
    // outside its destination, and that link(2) can link. Check the directories on the way
    // to it as well as the target. Refuse with refuse(raw, &why(…), UNSAFE_HINT).
    // HINT(1): a hard link is not a pointer but a second name of the same inode: link to the
    //   host's /etc/passwd and the image owns the host's file. Only a regular file that an
    //   earlier entry of the image made, reached only through real directories, is safe.
    // HINT(2): link(2) cannot link directories (EPERM) and must have a target that exists.
    //   Refuse: a link to itself; a target whose parents include a symlink (same walk as
    //   check_parents); a target that is missing (Found::Nothing) or not a file.
    // HINT(3): if target == path refuse; walk target.parent()'s components with tree.found,
    //   refusing on Found::Symlink; then match tree.found(target)? { Found::File => Ok(()),
    //   Found::Nothing => refuse "not in the image before it", _ => refuse "not a regular
    //   file" }.
    if target == path {
        return Err(refuse(raw, &why("itself"), UNSAFE_HINT));
    }
    let mut parent = PathBuf::new();
    for component in target.parent().into_iter().flat_map(Path::components) {
        parent.push(component);
        if tree.found(&parent)? == Found::Symlink {
            let what = format!("reached through the symlink {}", parent.display());
            return Err(refuse(raw, &why(&what), UNSAFE_HINT));
        }
    }
    match tree.found(target)? {
        Found::File => Ok(()),
        Found::Nothing => Err(refuse(
            raw,
            &why("which is not in the image before it"),
            UNSAFE_HINT,
        )),
        _ => Err(refuse(
            raw,
            &why("which is not a regular file"),
            UNSAFE_HINT,
        )),
    }
    // END EXERCISE
}
// ANCHOR_END: check_link_target

/// The failure for a refused entry: `refusing layer entry "../x": it climbs out …`.
fn refuse(raw: &[u8], why: &str, hint: &str) -> Failure {
    Failure::new(format!("refusing layer entry {}: {why}", shown(raw))).hint(hint)
}

/// An entry name for a message: quoted, escaped, and shortened if it is very long.
fn shown(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    if text.chars().count() <= 80 {
        return format!("{text:?}");
    }
    let head: String = text.chars().take(40).collect();
    let tail: String = text.chars().skip(text.chars().count() - 20).collect();
    format!("{:?}", format!("{head}…{tail}"))
}

/// Write one checked entry under `dest`. Directory modes and times are set later, by
/// [`finish_directories`].
fn apply(entry: &LayerEntry, data: &mut impl Read, dest: &Path) -> Result<(), Failure> {
    let target = dest.join(&entry.path);
    let failed =
        |error: io::Error| Failure::io(format!("cannot create {}", target.display()), error);
    make_parents(dest, &entry.path)?;
    make_room(&target, &entry.kind)?;
    match &entry.kind {
        EntryKind::Directory => {
            if fs::symlink_metadata(&target).is_err() {
                fs::DirBuilder::new()
                    .mode(0o700)
                    .create(&target)
                    .map_err(failed)?;
            }
            own(&target, entry)
        }
        EntryKind::File => write_file(&target, entry, data),
        EntryKind::Symlink(link) => {
            std::os::unix::fs::symlink(link, &target).map_err(failed)?;
            own(&target, entry)?;
            set_mtime(&target, entry)
        }
        // link(2) does not follow a symlink at the old path; check_link_target made sure
        // there is none anyway.
        EntryKind::HardLink(original) => {
            fs::hard_link(dest.join(original), &target).map_err(failed)
        }
        EntryKind::Fifo => {
            let mode = nix::sys::stat::Mode::from_bits_truncate(0o600);
            nix::unistd::mkfifo(&target, mode).map_err(|errno| {
                Failure::syscall(format!("cannot mkfifo {}", target.display()), errno)
            })?;
            own(&target, entry)?;
            fs::set_permissions(&target, Permissions::from_mode(entry.mode)).map_err(failed)?;
            set_mtime(&target, entry)
        }
    }
}

/// Create the missing directories on the way to `path` (mode 0755, as tar(1) does).
/// check_parents has made sure none of the existing ones is a symlink.
fn make_parents(dest: &Path, path: &Path) -> Result<(), Failure> {
    let mut parent = dest.to_path_buf();
    for component in path.parent().into_iter().flat_map(Path::components) {
        parent.push(component);
        if fs::symlink_metadata(&parent).is_ok() {
            continue;
        }
        let failed = |error| Failure::io(format!("cannot create {}", parent.display()), error);
        fs::DirBuilder::new()
            .mode(0o755)
            .create(&parent)
            .map_err(failed)?;
        fs::set_permissions(&parent, Permissions::from_mode(0o755)).map_err(failed)?;
    }
    Ok(())
}

/// Remove what an earlier entry or layer left at `target`, unless it is a directory and
/// the entry is one too (the two merge). remove_file removes a symlink, not its target;
/// remove_tree does not follow the symlinks inside.
fn make_room(target: &Path, kind: &EntryKind) -> Result<(), Failure> {
    let failed = |error| Failure::io(format!("cannot replace {}", target.display()), error);
    match fs::symlink_metadata(target) {
        Err(_) => Ok(()),
        Ok(meta) if meta.is_dir() && *kind == EntryKind::Directory => Ok(()),
        Ok(meta) if meta.is_dir() => boxcar::tree::remove_tree(target).map_err(failed),
        Ok(_) => fs::remove_file(target).map_err(failed),
    }
}

/// A regular file, created with O_CREAT|O_EXCL (`create_new`), which never follows a
/// symlink (open(2)); owner, mode and mtime are then set on the open file, not the path.
fn write_file(target: &Path, entry: &LayerEntry, data: &mut impl Read) -> Result<(), Failure> {
    let failed = |error| Failure::io(format!("cannot write {}", target.display()), error);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(target)
        .map_err(failed)?;
    io::copy(data, &mut file).map_err(failed)?;
    // chown(2) clears the setuid and setgid bits, so the owner comes before the mode.
    if running_as_root() {
        std::os::unix::fs::fchown(&file, Some(entry.uid), Some(entry.gid)).map_err(failed)?;
    }
    file.set_permissions(Permissions::from_mode(entry.mode))
        .map_err(failed)?;
    let mtime = std::time::UNIX_EPOCH + std::time::Duration::from_secs(entry.mtime.max(0) as u64);
    file.set_times(fs::FileTimes::new().set_modified(mtime))
        .map_err(failed)
}

/// Give `path` (never followed if a symlink: lchown(2)) the entry's owner. Only root can;
/// like tar(1), which restores owners by default only for root, others keep their own.
fn own(path: &Path, entry: &LayerEntry) -> Result<(), Failure> {
    if !running_as_root() {
        return Ok(());
    }
    std::os::unix::fs::lchown(path, Some(entry.uid), Some(entry.gid))
        .map_err(|error| Failure::io(format!("cannot chown {}", path.display()), error))
}

fn running_as_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Set the mtime of `path` itself, never of a symlink's target (utimensat(2) with
/// AT_SYMLINK_NOFOLLOW).
fn set_mtime(path: &Path, entry: &LayerEntry) -> Result<(), Failure> {
    let time = FileTime::from_unix_time(entry.mtime, 0);
    filetime::set_symlink_file_times(path, time, time)
        .map_err(|error| Failure::io(format!("cannot set the time of {}", path.display()), error))
}

/// Set the directories' modes and mtimes once the layer is in: writing into a directory
/// changes its mtime, and a read-only mode would stop the writes that follow. Deepest
/// first. A directory a later entry replaced (by a symlink, say) is skipped: we check
/// again, and open with O_NOFOLLOW | O_DIRECTORY, so the mode never lands on a link's target.
fn finish_directories(
    dest: &Path,
    directories: BTreeMap<PathBuf, LayerEntry>,
) -> Result<(), Failure> {
    let disk = Disk(dest);
    for (path, entry) in directories.iter().rev() {
        let all_directories = path
            .ancestors()
            .filter(|ancestor| !ancestor.as_os_str().is_empty())
            .map(|ancestor| disk.found(ancestor))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .all(|found| found == Found::Directory);
        if !all_directories {
            continue;
        }
        let full = dest.join(path);
        let failed =
            |error| Failure::io(format!("cannot set the mode of {}", full.display()), error);
        let directory = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_DIRECTORY)
            .open(&full)
            .map_err(failed)?;
        directory
            .set_permissions(Permissions::from_mode(entry.mode))
            .map_err(failed)?;
        let mtime =
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(entry.mtime.max(0) as u64);
        directory
            .set_times(fs::FileTimes::new().set_modified(mtime))
            .map_err(failed)?;
    }
    Ok(())
}
