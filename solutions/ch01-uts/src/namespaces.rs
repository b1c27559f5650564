//! Which namespaces the container gets: the spec lists them, clone(2) creates them.
//!
//! A runtime does not decide the namespaces itself: `linux.namespaces` in the container's
//! spec lists them (docker and podman write the list; our kit writes one per chapter), and
//! the runtime turns each into the clone(2) flag that creates it (namespaces(7) names the
//! flag of each kind). A namespace with a `path` is one to *join* (setns(2)), not to create:
//! that arrives with `exec` and the OCI runtime, so it is refused here.

use boxcar::Failure;
use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType};

// ANCHOR: clone_flags
/// The clone(2) flags that create the namespaces `namespaces` lists.
pub fn clone_flags(namespaces: &[LinuxNamespace]) -> Result<CloneFlags, Failure> {
    let mut flags = CloneFlags::empty();
    for namespace in namespaces {
        if let Some(path) = namespace.path() {
            return Err(Failure::new(format!(
                "joining the {:?} namespace at {} is not supported by this runtime",
                namespace.typ(),
                path.display()
            ))
            .hint("this runtime only creates namespaces; remove the path from the spec"));
        }
        if namespace.typ() == LinuxNamespaceType::Time {
            // CLONE_NEWTIME is 0x80, inside the byte where clone(2) takes the exit signal:
            // only unshare(2) and clone3(2) can create a time namespace.
            return Err(
                Failure::new("a time namespace is not supported by this runtime")
                    .hint("remove the time namespace from the spec"),
            );
        }
        flags |= flag_of(namespace.typ());
    }
    Ok(flags)
}

/// The flag of one kind of namespace (namespaces(7), the table of kinds).
fn flag_of(typ: LinuxNamespaceType) -> CloneFlags {
    // EXERCISE(ch01-1): Return the clone(2) flag that creates a new namespace of kind `typ`,
    // for every kind the spec can list. namespaces(7) names the flag of each kind.
    // HINT(1): Each kind of namespace isolates one resource (the hostname, the IPC objects,
    //   the process IDs, the mount table, …) and clone(2) has one flag per kind that asks for
    //   a new one. The spec says "uts"; clone(2) wants a bit.
    // HINT(2): namespaces(7), the table under "Namespace types": each row gives the flag.
    //   The mount namespace's flag is not CLONE_NEWMOUNT: it was the first kind Linux had,
    //   and its flag is called CLONE_NEWNS. Time is handled in clone_flags, not here.
    // HINT(3): A `match typ { LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS, … }` with
    //   one arm per kind; nix::sched::CloneFlags has a constant for each flag.
    match typ {
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Time => CloneFlags::empty(),
    }
    // END EXERCISE
}
// ANCHOR_END: clone_flags

#[cfg(test)]
mod tests {
    use super::*;

    fn namespace(typ: LinuxNamespaceType) -> LinuxNamespace {
        let mut namespace = LinuxNamespace::default();
        namespace.set_typ(typ);
        namespace
    }

    #[test]
    fn each_kind_has_its_own_flag() {
        let flags = clone_flags(&[
            namespace(LinuxNamespaceType::Uts),
            namespace(LinuxNamespaceType::Ipc),
        ])
        .unwrap();
        assert_eq!(flags, CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWIPC);
        let mount = clone_flags(&[namespace(LinuxNamespaceType::Mount)]).unwrap();
        assert_eq!(mount, CloneFlags::CLONE_NEWNS);
    }

    #[test]
    fn joining_by_path_is_refused() {
        let mut joined = namespace(LinuxNamespaceType::Pid);
        joined.set_path(Some("/proc/1/ns/pid".into()));
        assert!(clone_flags(&[joined]).is_err());
    }
}
