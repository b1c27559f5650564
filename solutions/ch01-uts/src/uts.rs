//! The UTS namespace: a hostname of the container's own.
//!
//! "UTS" is the `struct utsname` that uname(2) fills in: the hostname and NIS domain name
//! live in it, and CLONE_NEWUTS gives the child a copy it may change without the host
//! noticing (see uts_namespaces(7)). The spec also asks for a new IPC namespace: System V
//! message queues, semaphores and shared memory then belong to the container alone
//! (ipc_namespaces(7)).

use boxcar::Failure;

/// The longest hostname the kernel accepts (HOST_NAME_MAX in sethostname(2)).
pub const HOST_NAME_MAX: usize = 64;

/// Refuse a hostname the kernel would refuse, before anything is created.
pub fn check_hostname(name: &str) -> Result<(), Failure> {
    let valid_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.';
    if name.is_empty() || name.len() > HOST_NAME_MAX || !name.chars().all(valid_char) {
        return Err(
            Failure::new(format!("invalid hostname {name:?}")).hint(format!(
            "use 1 to {HOST_NAME_MAX} letters, digits, '-' or '.' (RFC 1123), e.g. --hostname box"
        )),
        );
    }
    Ok(())
}

// ANCHOR: set_hostname
/// In the child: set the hostname of its new UTS namespace. The host's is untouched.
pub fn set_hostname(name: &str) -> Result<(), Failure> {
    // EXERCISE(ch01-2): Set the hostname of the new UTS namespace with sethostname(2)
    // (nix::unistd::sethostname), and turn an error into a Failure with
    // Failure::syscall("cannot set the hostname", errno).
    // HINT(1): This runs in the child, which clone(2) already put in a new UTS namespace: the
    //          hostname it sets is the container's alone, and the host keeps its own.
    // HINT(2): sethostname(2) takes the name and its length; it fails with EPERM without
    //          CAP_SYS_ADMIN in the namespace and EINVAL for a name too long. Keep the errno:
    //          it is what the learner reading the error needs.
    // HINT(3): nix::unistd::sethostname(name) returns a nix::Result<()>; map its Errno into
    //          the Failure the TODO names, and return that Result.
    nix::unistd::sethostname(name)
        .map_err(|errno| Failure::syscall("cannot set the hostname", errno))
    // END EXERCISE
}
// ANCHOR_END: set_hostname

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames_the_kernel_accepts_are_accepted() {
        for name in ["box", "web-1", "a.b.c", &"x".repeat(HOST_NAME_MAX)] {
            assert_eq!(check_hostname(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn bad_hostnames_are_refused_with_a_hint() {
        for name in ["", "with space", "slash/y", &"x".repeat(HOST_NAME_MAX + 1)] {
            let failure = check_hostname(name).unwrap_err();
            assert!(failure.to_string().contains("--hostname box"), "{failure}");
        }
    }
}
