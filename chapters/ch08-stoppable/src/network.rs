//! The seam where chapter 07's network goes.
//!
//! An instance owns its network: the veth pair (its host end on the bridge, its other end in
//! the init's network namespace) and the port rules, made after create has cloned the init
//! and removed in the teardown. The container owns its address: reserved once, kept across
//! stop and start, released by `rm`. Until chapter 07 is merged, only `--net none` (the
//! default: no network namespace of its own beyond the spec's) is accepted.

use boxcar::spec::Container;
use boxcar::state::Runtime;
use boxcar::Failure;

/// Until chapter 07 is merged the kit's spec has no field for `--net` and `-p`: refuse them
/// from the command line (the flags before `--`), so they are never silently ignored.
pub fn refuse_network_flags(args: &[String]) -> Result<(), Failure> {
    let mut flags = args.iter().take_while(|arg| *arg != "--");
    while let Some(arg) = flags.next() {
        let net = match arg.as_str() {
            "--net" => flags.next().map(String::as_str),
            other => other.strip_prefix("--net="),
        };
        let publish = arg.starts_with("--publish") || arg.starts_with("-p");
        let what = match net {
            Some(mode) if mode != "none" => format!("--net {mode}"),
            _ if publish => arg.clone(),
            _ => continue,
        };
        return Err(Failure::new(format!(
            "{what} is not available in chapter 08's runtime yet"
        ))
        .hint("chapter 08 is being built on chapter 07's network; use --net none"));
    }
    Ok(())
}

/// What an instance's network is made of, for the teardown to undo (nothing yet).
#[derive(Debug, Default)]
pub struct Attachment;

/// Refuse, before anything is created, a network this runtime cannot give yet.
pub fn check(container: &Container) -> Result<(), Failure> {
    let wants_network = container.spec.linux().as_ref().is_some_and(|linux| {
        linux
            .namespaces()
            .iter()
            .flatten()
            .any(|namespace| namespace.typ() == oci_spec::runtime::LinuxNamespaceType::Network)
    });
    if wants_network {
        return Err(
            Failure::new("--net bridge is not available in this runtime yet")
                .hint("chapter 08 is being built on chapter 07's network; use --net none"),
        );
    }
    Ok(())
}

/// After create, before start: connect the init's network namespace (chapter 07's attach).
pub fn attach(_container: &Container, _init: Runtime) -> Result<Attachment, Failure> {
    Ok(Attachment)
}

/// In the teardown: undo [`attach`] (chapter 07's detach).
pub fn detach(_attachment: Attachment) {}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn only_no_network_is_accepted_and_the_command_is_not_read() {
        assert!(refuse_network_flags(&args("ch08 run --net none -- x")).is_ok());
        assert!(refuse_network_flags(&args("ch08 run -- ping --net bridge -p 1")).is_ok());
        assert!(refuse_network_flags(&args("ch08 run --net bridge -- x")).is_err());
        assert!(refuse_network_flags(&args("ch08 create --net=bridge -- x")).is_err());
        assert!(refuse_network_flags(&args("ch08 run -p 8080:80 -- x")).is_err());
    }
}
