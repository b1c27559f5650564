//! Published ports, `-p [IP:]HOST:CTR[/tcp|udp]` in docker's syntax: parsed and checked
//! before anything is created, and each host port held open by the runtime while the
//! container runs, as podman's conmon does: no other program can take it meanwhile, and a
//! port already in use is found at once, as one clear error.

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};

use boxcar::Failure;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Udp,
}

/// One published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Port {
    /// Only this host address (e.g. 127.0.0.1), or every one of the host's addresses.
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: Protocol,
}

/// A host port held open (bind(2)) until dropped.
#[derive(Debug)]
pub enum Held {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

/// Every `-p`.
pub fn parse_all(flags: &[String]) -> Result<Vec<Port>, Failure> {
    flags.iter().map(|flag| parse(flag)).collect()
}

/// One `-p [IP:]HOST:CTR[/tcp|udp]`.
pub fn parse(flag: &str) -> Result<Port, Failure> {
    let bad = |why: &str| {
        Failure::new(format!("invalid -p {flag:?}: {why}"))
            .hint("write -p HOST:CTR (e.g. -p 8080:80), -p 127.0.0.1:8080:80 or -p 5353:53/udp")
    };
    let (addresses, protocol) = match flag.rsplit_once('/') {
        Some((rest, "tcp")) => (rest, Protocol::Tcp),
        Some((rest, "udp")) => (rest, Protocol::Udp),
        Some((_, other)) => return Err(bad(&format!("unknown protocol {other:?} (tcp or udp)"))),
        None => (flag, Protocol::Tcp),
    };
    let parts: Vec<&str> = addresses.split(':').collect();
    let (host_ip, host, container) = match parts.as_slice() {
        [host, container] => (None, *host, *container),
        [ip, host, container] => {
            let ip = ip
                .parse::<Ipv4Addr>()
                .map_err(|_| bad(&format!("{ip:?} is not an IPv4 address")))?;
            (
                Some(ip).filter(|ip| !ip.is_unspecified()),
                *host,
                *container,
            )
        }
        [_] => {
            return Err(bad(
                "a host port is needed (this runtime picks none for you)",
            ))
        }
        _ => return Err(bad("expected [IP:]HOST:CTR")),
    };
    let port = |text: &str, which: &str| match text.parse::<u16>() {
        Ok(0) | Err(_) => Err(bad(&format!(
            "{which} port {text:?} is not a number from 1 to 65535"
        ))),
        Ok(port) => Ok(port),
    };
    Ok(Port {
        host_ip,
        host_port: port(host, "the host")?,
        container_port: port(container, "the container")?,
        protocol,
    })
}

/// Bind every host port now, before the container starts: a port in use is an error here.
pub fn hold(ports: &[Port]) -> Result<Vec<Held>, Failure> {
    ports.iter().map(hold_one).collect()
}

fn hold_one(port: &Port) -> Result<Held, Failure> {
    let address = SocketAddrV4::new(
        port.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED),
        port.host_port,
    );
    let held = match port.protocol {
        Protocol::Tcp => TcpListener::bind(address).map(Held::Tcp),
        Protocol::Udp => UdpSocket::bind(address).map(Held::Udp),
    };
    held.map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
            "another program (or container) uses it: pick another host port"
        } else {
            "is the address one of this host's?"
        };
        Failure::io(format!("cannot publish host port {address}"), e).hint(hint)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_syntax() {
        let port = parse("127.0.0.1:8080:80/udp").unwrap();
        assert_eq!(port.host_ip, Some(Ipv4Addr::LOCALHOST));
        assert_eq!((port.host_port, port.container_port), (8080, 80));
        assert_eq!(port.protocol, Protocol::Udp);
        assert_eq!(parse("8080:80").unwrap().protocol, Protocol::Tcp);
        assert_eq!(parse("0.0.0.0:1:2").unwrap().host_ip, None);
    }

    #[test]
    fn malformed_ports_are_refused() {
        for bad in [
            "80",
            "a:80",
            "0:80",
            "8080:70000",
            "8080:80/sctp",
            "::1:80:80",
            "x:1:2",
        ] {
            assert!(parse(bad).is_err(), "{bad} accepted");
        }
    }
}
