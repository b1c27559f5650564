//! Who the command runs as: `--user` or the image's `User`, as a uid, a gid and groups.
//!
//! A name means what the *image* says it means: it is looked up in the image's /etc/passwd
//! and /etc/group (passwd(5), group(5)), never the host's, where `nginx` may be another uid
//! or not exist. Those files are opened with openat2(2) and `RESOLVE_IN_ROOT`, so an
//! image whose /etc/passwd is a symlink to /etc/shadow resolves it inside the image, as the
//! container would, and never reads the host's file.
//!
//! The ids are applied in the child, just before exec: setgroups(2), setgid(2), then
//! setuid(2), in that order. The first two need CAP_SETGID; setuid(2) to a non-zero uid
//! drops every capability (capabilities(7), "Effect of user ID changes on capabilities"),
//! so done first it would leave the process unable to change its groups — still in root's
//! group 0 and root's supplementary groups, a classic privilege leak.

use std::io::Read;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::unistd::{Gid, Uid};
use oci_spec::runtime::User;

use boxcar::Failure;

/// The ids a user spec resolved to, and the user's home directory when passwd gives one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ids {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups: those of /etc/group that list the user as a member.
    pub groups: Vec<u32>,
    pub home: Option<String>,
}

/// One line of /etc/passwd: `name:password:uid:gid:gecos:home:shell`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

/// Resolve `spec` (`NAME`, `UID`, `NAME:GROUP`, `UID:GID`…) with the image's files, which
/// `roots` hold (its root filesystem, or its layers topmost first). No roots: only numbers.
pub fn resolve(spec: &str, roots: &[PathBuf]) -> Result<Ids, Failure> {
    let (user, group) = match spec.split_once(':') {
        Some((user, group)) => (user, Some(group)),
        None => (spec, None),
    };
    if user.is_empty() || group.is_some_and(str::is_empty) {
        return Err(Failure::new(format!("invalid --user {spec:?}")).hint(
            "give NAME, UID, NAME:GROUP or UID:GID, e.g. --user 1000:1000 or --user nobody",
        ));
    }
    let passwd = read_image_file(roots, "etc/passwd")?.unwrap_or_default();
    let users = parse_passwd(&passwd);
    let entry = match user.parse::<u32>() {
        Ok(uid) => users
            .into_iter()
            .find(|e| e.uid == uid)
            .or(Some(PasswdEntry {
                name: String::new(),
                uid,
                gid: 0,
                home: String::new(),
            })),
        Err(_) => users.into_iter().find(|e| e.name == user),
    };
    let Some(entry) = entry else {
        return Err(missing(spec, "user", user, "etc/passwd", roots));
    };
    let groups_text = read_image_file(roots, "etc/group")?.unwrap_or_default();
    let groups = parse_group(&groups_text);
    let gid = match group {
        None => entry.gid,
        Some(group) => match group.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => match groups.iter().find(|(name, _, _)| name == group) {
                Some((_, gid, _)) => *gid,
                None => return Err(missing(spec, "group", group, "etc/group", roots)),
            },
        },
    };
    let supplementary = groups
        .iter()
        .filter(|(_, _, members)| !entry.name.is_empty() && members.contains(&entry.name))
        .map(|(_, gid, _)| *gid)
        .collect();
    Ok(Ids {
        uid: entry.uid,
        gid,
        groups: supplementary,
        home: Some(entry.home).filter(|home| !home.is_empty()),
    })
}

fn missing(spec: &str, what: &str, name: &str, file: &str, roots: &[PathBuf]) -> Failure {
    let why = match roots.is_empty() {
        true => "the container has no root filesystem of its own to look it up in".to_string(),
        false => format!("the image's /{file} has no {what} {name:?}"),
    };
    Failure::new(format!("cannot run as --user {spec}: {why}"))
        .hint("give a numeric UID[:GID], or a name the image defines (see its /etc/passwd)")
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            let [name, _, uid, gid, _, home, ..] = fields.as_slice() else {
                return None;
            };
            Some(PasswdEntry {
                name: name.to_string(),
                uid: uid.parse().ok()?,
                gid: gid.parse().ok()?,
                home: home.to_string(),
            })
        })
        .collect()
}

/// /etc/group's lines as (name, gid, members): `name:password:gid:member,member`.
fn parse_group(text: &str) -> Vec<(String, u32, Vec<String>)> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            let [name, _, gid, members, ..] = fields.as_slice() else {
                return None;
            };
            let members = members
                .split(',')
                .filter(|m| !m.is_empty())
                .map(String::from)
                .collect();
            Some((name.to_string(), gid.parse().ok()?, members))
        })
        .collect()
}

/// The file `relative` (e.g. `etc/passwd`) as the image has it: from the first of `roots`
/// that has it (layers are given topmost first), symlinks resolved inside that root.
/// An overlayfs whiteout (a 0/0 character device, chapter 06) means a layer deleted it.
pub fn read_image_file(roots: &[PathBuf], relative: &str) -> Result<Option<String>, Failure> {
    for root in roots {
        if let Some(text) = read_in_root(root, relative)? {
            return Ok(Some(text));
        }
        let whiteout = std::fs::symlink_metadata(root.join(relative)).is_ok_and(|meta| {
            use std::os::unix::fs::{FileTypeExt, MetadataExt};
            meta.file_type().is_char_device() && meta.rdev() == 0
        });
        if whiteout {
            return Ok(None);
        }
    }
    Ok(None)
}

/// openat2(2) of `root/relative` with RESOLVE_IN_ROOT: `..` and absolute symlinks stop at
/// `root`, as they would for the container. None when it does not exist.
fn read_in_root(root: &Path, relative: &str) -> Result<Option<String>, Failure> {
    let failed = |errno| {
        Failure::syscall(
            format!("cannot read /{relative} of the image in {}", root.display()),
            errno,
        )
    };
    let dir = std::fs::File::open(root)
        .map_err(|error| Failure::io(format!("cannot open {}", root.display()), error))?;
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOCTTY | OFlag::O_NONBLOCK)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let fd = match openat2(dir.as_fd(), relative, how) {
        Ok(fd) => fd,
        Err(nix::errno::Errno::ENOENT) => return Ok(None),
        Err(errno) => return Err(failed(errno)),
    };
    let mut file = std::fs::File::from(fd);
    let meta = file
        .metadata()
        .map_err(|error| Failure::io(format!("cannot stat /{relative}"), error))?;
    if !meta.is_file() {
        return Ok(None);
    }
    let mut text = String::new();
    // 1 MiB is a very large passwd file; more is an image trying to exhaust our memory.
    (&mut file)
        .take(1 << 20)
        .read_to_string(&mut text)
        .map_err(|error| Failure::io(format!("cannot read /{relative} of the image"), error))?;
    Ok(Some(text))
}

/// The spec's `process.user` for `ids`.
pub fn to_spec(ids: &Ids) -> User {
    let mut user = User::default();
    user.set_uid(ids.uid)
        .set_gid(ids.gid)
        .set_additional_gids(Some(ids.groups.clone()).filter(|groups| !groups.is_empty()));
    user
}

/// In the child, just before exec: become the spec's user. setgroups, setgid, setuid — in
/// that order (see the module's comment). Root (0:0, no groups) changes nothing but drops
/// the supplementary groups the runtime had.
pub fn switch(user: &User) -> Result<(), Failure> {
    let groups: Vec<Gid> = user
        .additional_gids()
        .iter()
        .flatten()
        .map(|gid| Gid::from_raw(*gid))
        .collect();
    nix::unistd::setgroups(&groups)
        .map_err(|errno| Failure::syscall("cannot set the supplementary groups", errno))?;
    nix::unistd::setgid(Gid::from_raw(user.gid()))
        .map_err(|errno| Failure::syscall(format!("cannot setgid({})", user.gid()), errno))?;
    nix::unistd::setuid(Uid::from_raw(user.uid()))
        .map_err(|errno| Failure::syscall(format!("cannot setuid({})", user.uid()), errno))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(passwd: &str, group: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/passwd"), passwd).unwrap();
        std::fs::write(dir.path().join("etc/group"), group).unwrap();
        dir
    }

    #[test]
    fn names_are_the_images_not_the_hosts() {
        let dir = image(
            "root:x:0:0:root:/root:/bin/sh\napp:x:4242:4343:app:/srv/app:/bin/sh\n",
            "root:x:0:\napp:x:4343:\nextra:x:77:app,other\n",
        );
        let roots = [dir.path().to_path_buf()];
        let ids = resolve("app", &roots).unwrap();
        assert_eq!(
            (ids.uid, ids.gid, ids.groups.clone()),
            (4242, 4343, vec![77])
        );
        assert_eq!(ids.home.as_deref(), Some("/srv/app"));
        assert_eq!(resolve("app:extra", &roots).unwrap().gid, 77);
        assert_eq!(
            resolve("5:6", &roots).unwrap(),
            Ids {
                uid: 5,
                gid: 6,
                groups: vec![],
                home: None
            }
        );
        assert_eq!(resolve("4242", &roots).unwrap().gid, 4343);
        for bad in ["nobody-here", "app:nogroup", ":1", "1:"] {
            assert!(resolve(bad, &roots).is_err(), "{bad}");
        }
        assert!(resolve("app", &[]).is_err());
        assert_eq!(resolve("7", &[]).unwrap().uid, 7);
    }

    #[test]
    fn a_symlink_to_the_hosts_passwd_resolves_inside_the_image() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::os::unix::fs::symlink("/etc/shadow", dir.path().join("etc/passwd")).unwrap();
        std::fs::write(dir.path().join("etc/shadow"), "inner:x:9:9::/:/bin/sh\n").unwrap();
        let roots = [dir.path().to_path_buf()];
        assert_eq!(resolve("inner", &roots).unwrap().uid, 9);
        assert!(resolve("root", &roots).is_err());
    }
}
