//! NAT and published ports with nftables: rules written as nft's JSON (libnftables-json(5)),
//! checked against the `nftables` crate's schema (the crate netavark, podman's network
//! stack, uses), and applied by one `nft -j` run.
//!
//! One table, `ip boxcar`, made with the bridge: masquerade for what leaves the host from a
//! container, and for what reaches a container from 127.0.0.1 or from a container through
//! the host (hairpin). Each container that publishes ports gets a table of its own,
//! `ip boxcar-<id>`, with its DNAT rules: its teardown is one atomic `delete table`, and one
//! a killed runtime left behind is plain to see in `nft list ruleset`.
//!
//! Chain priorities are numbers: nft 1.0.6 refuses the name `dstnat` in an output chain.

use std::net::Ipv4Addr;

use boxcar::Failure;
use nftables::schema::Nftables;
use serde_json::{json, Value};

use crate::bridge::BRIDGE;
use crate::ports::{Port, Protocol};

/// The bridge's table.
pub const TABLE: &str = "boxcar";
/// nat prerouting/output run at -100 (NF_IP_PRI_NAT_DST), postrouting at 100 (NAT_SRC).
const DSTNAT: i32 = -100;
const SRCNAT: i32 = 100;

/// The name of container `id`'s port table.
pub fn port_table(id: &str) -> String {
    format!("{TABLE}-{id}")
}

/// The commands that make the bridge's table.
pub fn bridge_table(subnet: Ipv4Addr, prefix: u8) -> Value {
    let net = json!({"prefix": {"addr": subnet.to_string(), "len": prefix}});
    let oif = match_(json!({"meta": {"key": "oifname"}}), "==", json!(BRIDGE));
    let iif = match_(json!({"meta": {"key": "iifname"}}), "==", json!(BRIDGE));
    let dnat_ed = match_(json!({"ct": {"key": "status"}}), "in", json!("dnat"));
    let established = match_(
        json!({"ct": {"key": "state"}}),
        "in",
        json!(["established", "related"]),
    );
    let accept = json!({"accept": null});
    let mut list = vec![
        add(json!({"table": {"family": "ip", "name": TABLE}})),
        add(chain(TABLE, "postrouting", "nat", "postrouting", SRCNAT)),
        add(chain(TABLE, "forward", "filter", "forward", 0)),
    ];
    list.extend(masquerade_rules(net).into_iter().map(add));
    // Forwarding to and from the bridge, even on a host whose forward policy drops.
    list.extend(
        [
            vec![iif, accept.clone()],
            vec![oif.clone(), dnat_ed, accept.clone()],
            vec![oif, established, accept],
        ]
        .into_iter()
        .map(|expr| add(rule(TABLE, "forward", expr))),
    );
    commands(list)
}

// ANCHOR: masquerade
/// The postrouting rules of the bridge's table: which packets leave with the source address
/// of the link they go out of (masquerade) rather than their own. `net` is the bridge's
/// subnet as an nft prefix.
fn masquerade_rules(net: Value) -> Vec<Value> {
    // EXERCISE(ch07-5): Write the three masquerade rules of chain `postrouting` in table
    // TABLE, as nft JSON (libnftables-json(5); build them with rule(), match_(), payload()):
    // 1. a container's packet leaving the host by any link but the bridge (outbound NAT:
    //    the outside knows no route back to the bridge's subnet);
    // 2. a packet from 127.0.0.0/8 going out of the bridge (a published port reached at
    //    127.0.0.1: a container cannot answer 127.0.0.1, its own loopback);
    // 3. a packet from the bridge's subnet, going out of the bridge, that was DNATed (a
    //    container reaching a published port through the host: the reply must come back
    //    through the host too). nft(8) calls the statement `masquerade`.
    // HINT(1): each rule is a list of matches followed by the statement; a match compares a
    //   left side (a packet field, the output interface's name, conntrack's status) with a
    //   right side using an operator ("==", "!=", "in").
    // HINT(2): the source address is payload("ip", "saddr"); the output interface's name is
    //   json!({"meta": {"key": "oifname"}}) compared with BRIDGE; "was DNATed" is
    //   json!({"ct": {"key": "status"}}) "in" "dnat"; the statement is
    //   json!({"masquerade": null}). 127.0.0.0/8 is json!({"prefix": {"addr": "127.0.0.0",
    //   "len": 8}}).
    // HINT(3): let outbound = vec![match_(payload("ip", "saddr"), "==", net.clone()),
    //   match_(oifname, "!=", json!(BRIDGE)), json!({"masquerade": null})]; the two others
    //   the same way ("==" the bridge; the loopback prefix; ct status), then each one
    //   wrapped by rule(TABLE, "postrouting", expr).
    let saddr = |right: Value| match_(payload("ip", "saddr"), "==", right);
    let oif = |op: &str| match_(json!({"meta": {"key": "oifname"}}), op, json!(BRIDGE));
    let dnat_ed = match_(json!({"ct": {"key": "status"}}), "in", json!("dnat"));
    let masquerade = json!({"masquerade": null});
    let loopback = json!({"prefix": {"addr": "127.0.0.0", "len": 8}});
    let outbound = vec![saddr(net.clone()), oif("!="), masquerade.clone()];
    let from_loopback = vec![saddr(loopback), oif("=="), masquerade.clone()];
    let hairpin = vec![saddr(net), oif("=="), dnat_ed, masquerade];
    [outbound, from_loopback, hairpin]
        .into_iter()
        .map(|expr| rule(TABLE, "postrouting", expr))
        .collect()
    // END EXERCISE
}
// ANCHOR_END: masquerade

/// The commands that make container `id`'s port table: for each port, DNAT to
/// `address:container_port` in prerouting (from elsewhere) and output (from the host
/// itself), or in output only for a loopback-only publish.
pub fn port_table_commands(id: &str, address: Ipv4Addr, ports: &[Port]) -> Value {
    let table = port_table(id);
    let mut list = vec![
        add(json!({"table": {"family": "ip", "name": table}})),
        add(chain(&table, "prerouting", "nat", "prerouting", DSTNAT)),
        add(chain(&table, "output", "nat", "output", DSTNAT)),
    ];
    for port in ports {
        list.extend(port_rules(&table, port, address).into_iter().map(add));
    }
    commands(list)
}

// ANCHOR: port_rules
/// The rules, in table `table` (which has chains `prerouting` and `output`), that send what
/// arrives for host port `port` to `address:port.container_port`.
fn port_rules(table: &str, port: &Port, address: Ipv4Addr) -> Vec<Value> {
    // EXERCISE(ch07-4): Return the DNAT rules of one published port, as nft JSON
    // (libnftables-json(5)). A packet to the host's port must be sent to the container's
    // address and port whether it comes from elsewhere (it passes the prerouting hook) or
    // from the host itself (the output hook). It is for the host when its destination is
    // one of the host's own addresses, or exactly port.host_ip when one was given; a
    // loopback-only publish (-p 127.0.0.1:H:C) must be reachable from the host alone.
    // nft(8): "FIB EXPRESSIONS", "NAT STATEMENTS".
    // HINT(1): the same rule in one or two chains: which hooks can see a packet sent to
    //   127.0.0.1? Only the host itself can send one, so only one chain may have it.
    // HINT(2): "to one of the host's addresses" is fib daddr type local:
    //   match_(json!({"fib": {"result": "type", "flags": ["daddr"]}}), "==", json!("local"));
    //   an exact address is match_(payload("ip", "daddr"), "==", json!(ip.to_string())); the
    //   port is payload("tcp" or "udp", "dport"); the statement is
    //   json!({"dnat": {"addr": …, "port": port.container_port}}).
    // HINT(3): let chains: &[&str] = if loopback_only { &["output"] } else { &["prerouting",
    //   "output"] }; build the three-element expression once and return
    //   chains.iter().map(|chain| rule(table, chain, expr.clone())).collect().
    let loopback_only = port.host_ip.is_some_and(|ip| ip.is_loopback());
    let chains: &[&str] = if loopback_only {
        &["output"]
    } else {
        &["prerouting", "output"]
    };
    let protocol = match port.protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
    };
    let destination = match port.host_ip {
        None => match_(
            json!({"fib": {"result": "type", "flags": ["daddr"]}}),
            "==",
            json!("local"),
        ),
        Some(ip) => match_(payload("ip", "daddr"), "==", json!(ip.to_string())),
    };
    let expr = vec![
        destination,
        match_(payload(protocol, "dport"), "==", json!(port.host_port)),
        json!({"dnat": {"addr": address.to_string(), "port": port.container_port}}),
    ];
    chains
        .iter()
        .map(|chain| rule(table, chain, expr.clone()))
        .collect()
    // END EXERCISE
}
// ANCHOR_END: port_rules

/// Make the bridge's table.
pub fn add_bridge_table(subnet: Ipv4Addr, prefix: u8) -> Result<(), Failure> {
    apply(
        &bridge_table(subnet, prefix),
        "cannot add the bridge's NAT rules",
    )
}

/// Delete the bridge's table, if it is there.
pub fn delete_bridge_table() -> Result<(), Failure> {
    delete_table(TABLE)
}

/// Make container `id`'s port table.
pub fn add_port_table(id: &str, address: Ipv4Addr, ports: &[Port]) -> Result<(), Failure> {
    let commands = port_table_commands(id, address, ports);
    apply(&commands, "cannot add the published ports' rules")
}

/// Delete container `id`'s port table, if it is there: one atomic change.
pub fn delete_port_table(id: &str) -> Result<(), Failure> {
    delete_table(&port_table(id))
}

/// `add` then `delete` in one transaction: no error when the table was already gone.
fn delete_table(name: &str) -> Result<(), Failure> {
    let table = json!({"table": {"family": "ip", "name": name}});
    let commands = commands(vec![add(table.clone()), json!({"delete": table})]);
    apply(&commands, &format!("cannot delete nft table {name}"))
}

fn apply(commands: &Value, what: &str) -> Result<(), Failure> {
    // Checked against the nftables crate's schema of nft's JSON before nft sees it.
    let ruleset: Nftables = serde_json::from_value(commands.clone())
        .map_err(|e| Failure::new(format!("{what}: the rules do not parse as nft JSON: {e}")))?;
    let json = serde_json::to_string(&ruleset)
        .map_err(|e| Failure::new(format!("{what}: cannot encode the rules: {e}")))?;
    // With -j, nft reads a command line as JSON (nft(8)): one argument, no pipe, and no need
    // for /dev/stdin, which a minimal system may lack. Its stderr is ours to summarise.
    let output = std::process::Command::new("nft")
        .arg("-j")
        .arg(&json)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output();
    match output {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(missing_nft()),
        Err(e) => Err(Failure::io(format!("{what}: cannot run nft"), e)),
        Ok(output) if output.status.success() => Ok(()),
        Ok(output) => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let said = stderr
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("nothing");
            Err(Failure::new(format!("{what}: nft said: {}", said.trim()))
                .hint("is nf_tables available (modprobe nf_tables nft_chain_nat nft_masq)?"))
        }
    }
}

/// The one line for a host without nft.
pub fn missing_nft() -> Failure {
    Failure::new("the nft command is missing: --net bridge needs it for NAT and published ports")
        .hint(
        "install it (Debian/Ubuntu: apt-get install nftables; setup.sh does), or use --net none",
    )
}

/// Whether `nft` is on the PATH: checked before anything is created.
pub fn check_nft_present() -> Result<(), Failure> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path).any(|dir| dir.join("nft").is_file());
    if found {
        Ok(())
    } else {
        Err(missing_nft())
    }
}

fn commands(list: Vec<Value>) -> Value {
    json!({"nftables": list})
}

fn add(object: Value) -> Value {
    json!({"add": object})
}

fn chain(table: &str, name: &str, typ: &str, hook: &str, priority: i32) -> Value {
    json!({"chain": {
        "family": "ip", "table": table, "name": name,
        "type": typ, "hook": hook, "prio": priority, "policy": "accept"
    }})
}

fn rule(table: &str, chain: &str, expr: Vec<Value>) -> Value {
    json!({"rule": {"family": "ip", "table": table, "chain": chain, "expr": expr}})
}

fn match_(left: Value, op: &str, right: Value) -> Value {
    json!({"match": {"op": op, "left": left, "right": right}})
}

fn payload(protocol: &str, field: &str) -> Value {
    json!({"payload": {"protocol": protocol, "field": field}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_parse_as_nft_json() {
        let ports =
            crate::ports::parse_all(&["8080:80".into(), "127.0.0.1:53:53/udp".into()]).unwrap();
        for commands in [
            bridge_table(Ipv4Addr::new(10, 88, 0, 0), 16),
            port_table_commands("0123456789ab", Ipv4Addr::new(10, 88, 0, 2), &ports),
        ] {
            let parsed: Result<Nftables, _> = serde_json::from_value(commands);
            assert!(parsed.is_ok(), "{parsed:?}");
        }
    }

    #[test]
    fn the_generated_ruleset() {
        let ports =
            crate::ports::parse_all(&["8080:80".into(), "127.0.0.1:5353:53/udp".into()]).unwrap();
        // One nft command per line: a change to any rule shows as a one-line diff.
        let lines: Vec<String> = [
            bridge_table(Ipv4Addr::new(10, 88, 0, 0), 16),
            port_table_commands("0123456789ab", Ipv4Addr::new(10, 88, 0, 2), &ports),
        ]
        .iter()
        .flat_map(|commands| commands["nftables"].as_array().cloned().unwrap_or_default())
        .map(|command| command.to_string())
        .collect();
        // Named without the crate's name, so the learner's starter (package ch07) finds it.
        let mut settings = insta::Settings::clone_current();
        settings.set_prepend_module_to_snapshot(false);
        settings.bind(|| insta::assert_snapshot!("nat_ruleset", lines.join("\n")));
    }
}
