//! The two kernel settings the bridge needs, written under /proc/sys/net (proc(5)). Both
//! belong to the network namespace of the process that writes them: the runtime's, which
//! is the host's in normal use and a throwaway one in the behaviour tests.

use boxcar::Failure;

const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

/// Turn on IPv4 forwarding, as docker does when it makes its bridge. Never turned off: other
/// software on the host may rely on it by then (`doctor` reports it).
pub fn enable_forwarding() -> Result<(), Failure> {
    set(IP_FORWARD, "1")
}

/// Whether IPv4 forwarding is on in this network namespace.
pub fn forwarding() -> Option<bool> {
    let value = std::fs::read_to_string(IP_FORWARD).ok()?;
    Some(value.trim() == "1")
}

/// Let packets from 127.0.0.0/8 be routed out of `link` (ip-sysctl.rst, route_localnet):
/// only on the bridge, so the loopback addresses stay unreachable from the host's LAN.
pub fn set_route_localnet(link: &str) -> Result<(), Failure> {
    set(
        &format!("/proc/sys/net/ipv4/conf/{link}/route_localnet"),
        "1",
    )
}

fn set(path: &str, value: &str) -> Result<(), Failure> {
    if std::fs::read_to_string(path).is_ok_and(|now| now.trim() == value) {
        return Ok(());
    }
    std::fs::write(path, value)
        .map_err(|e| Failure::io(format!("cannot write {value} to {path}"), e))
}
