//! Chapter 07's behaviour: the network namespace, the bridge, veth pairs, addresses, NAT and
//! published ports.
//!
//! Every check runs in a network namespace of its own that plays the host (the harness makes
//! it, see `testing::OwnNetwork`): the bridge, the nft tables and the sysctls the runtime
//! makes live and die there, and nothing is sent anywhere else. "The outside world" is one
//! more namespace a check makes, joined to its host by a veth pair.
//!
//! Run: `cargo test --test ch07` (every solution from chapter 07 on), or
//! `cargo boxcar verify 7` (your chapters/ch07, with explanations).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use nix::sys::signal::Signal;
use serde_json::Value;
use workshop::testing::{self, Check, Ctx, PROBE_IN_IMAGE};

fn main() {
    testing::main(7, checks())
}

fn checks() -> Vec<Check> {
    vec![
        Check::pillar(
            "net_none_has_only_lo_up",
            "with --net none the container sees one link, lo, and it is up (127.0.0.1 answers)",
            "a new network namespace has only a loopback link, down: the runtime brings it up and adds nothing",
            "network::connect: lo is set up through a netlink socket opened inside the container's namespace (Netlink::open_in)",
            net_none_has_only_lo_up,
        ),
        Check::pillar(
            "bridge_gives_an_address_a_route_and_the_mtu",
            "with --net bridge (the default) the container has lo and eth0, up, with an address in 10.88.0.0/16, a default route via 10.88.0.1, and the MTU of the host's way out (1400 here, 1500 without a default route)",
            "the veth pair's container end is made in the container's namespace and configured from the host through a socket opened there",
            "Netlink::add_veth (the peer's namespace and MTU), network::configure_inside (address, up, route), bridge::ensure (the MTU)",
            bridge_gives_an_address_a_route_and_the_mtu,
        ),
        Check::pillar(
            "containers_reach_each_other_and_the_host",
            "a container reaches another one by its address, the host reaches a container, and a container reaches the host at 10.88.0.1",
            "both veth host ends are ports of one bridge, which has the containers' gateway address",
            "Netlink::add_veth: the host end's controller (the bridge) and its state (up)",
            containers_reach_each_other_and_the_host,
        ),
        Check::pillar(
            "a_published_port_answers",
            "-p 127.0.0.1:H:C answers on the host's 127.0.0.1:H; -p H:C answers on the host's own address and from another container through the host, and a container reaches its own published port (hairpin)",
            "DNAT in output and prerouting sends the host's port to the container; masquerade makes the replies come back the same way",
            "nat::port_table_commands (which chains), nat::bridge_table (masquerade), sysctl route_localnet, Netlink::set_hairpin",
            a_published_port_answers,
        ),
        Check::pillar(
            "outbound_traffic_is_masqueraded",
            "a container reaches a namespace playing the outside world, which sees the host's address, not the container's",
            "ip_forward on and a masquerade rule for the bridge's subnet: the outside knows no route to 10.88.0.0/16",
            "sysctl::enable_forwarding and nat::bridge_table's first postrouting rule",
            outbound_traffic_is_masqueraded,
        ),
        Check::pillar(
            "nothing_is_left_after_exit_or_sigkill",
            "after a container exits, and after its runtime is SIGKILLed and another run starts, no veth, port table, reservation or port marker is left (the bridge and its table stay, as docker0), while a live container's network is untouched",
            "a runtime undoes what it made; what a killed one left is found by the next one (network::clean_stale), which leaves alone what a live runtime holds",
            "Network's Drop (disconnect) and network::clean_stale: the owner lock tells a dead runtime from a live one",
            nothing_is_left_after_exit_or_sigkill,
        ),
        Check::pillar(
            "network_errors_are_one_line",
            "-p with --net none, a malformed -p, a host port in use, no nft, and no free address: each is one line, exit 125, nothing left",
            "a bad request is refused before anything is made, or what was made is undone",
            "network::Plan::of, ports::parse and ports::hold, addresses::Pool::reserve",
            network_errors_are_one_line,
        ),
        Check::pillar(
            "parallel_containers_get_distinct_addresses",
            "8 containers started at once get 8 different addresses and all run",
            "a reservation is a file created with O_EXCL under the pool's lock: two runtimes never get the same one",
            "addresses::Pool::reserve and try_take",
            parallel_containers_get_distinct_addresses,
        ),
    ]
}

/// What a command in a busybox container prints, which must exit 0.
fn in_busybox(ctx: &Ctx, flags: &[&str], script: &str) -> Result<String> {
    let mut args = vec!["run", "--rm", "--image", "busybox"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["--", "sh", "-c", script]);
    let outcome = ctx.run(&args)?;
    outcome.expect_code(0)?;
    Ok(outcome.stdout)
}

/// The probe's `--connect` report, from a container with `flags`.
fn connect_from_container(ctx: &Ctx, flags: &[&str], target: &str) -> Result<Value> {
    let probe = ctx.probe_arg();
    let mut args = vec!["run"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["--", &probe, "--connect", target]);
    let outcome = ctx.run(&args)?;
    serde_json::from_str(outcome.stdout.trim())
        .with_context(|| format!("--connect printed no JSON: {outcome:?}"))
}

/// Connect from the check's host and return the listener's line.
fn connect_from_host(target: &str) -> Result<String> {
    let address = target
        .parse()
        .with_context(|| format!("bad address {target}"))?;
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(3))
        .with_context(|| format!("the host cannot connect to {target}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(3)))?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply)?;
    Ok(reply.trim().to_string())
}

/// A container listening on `port` (the probe's `--listen`, answering `count` connections),
/// started with `flags`; returns once it listens, with its address on the bridge.
fn listener(
    ctx: &Ctx,
    flags: &[&str],
    port: u16,
    count: usize,
) -> Result<(testing::Running, Option<Ipv4Addr>)> {
    let probe = ctx.probe_arg();
    let (port, count) = (port.to_string(), count.to_string());
    let before = ctx.reservations();
    let mut args = vec!["run"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["--", &probe, "--listen", &port, &count]);
    let mut running = ctx.spawn(&args)?;
    running.wait_for_line(
        &format!("{{\"listening\":{port}}}"),
        Duration::from_secs(20),
    )?;
    let address = ctx
        .reservations()
        .into_iter()
        .find(|address| !before.contains(address));
    Ok((running, address))
}

/// The boxcar links of the check's host, as `ip -o link` names them.
fn boxcar_links(ctx: &Ctx) -> Result<Vec<String>> {
    let out = ctx.host_sh("ip -o link show")?.stdout;
    Ok(out
        .lines()
        .filter_map(|line| line.split(": ").nth(1))
        .map(|name| name.split('@').next().unwrap_or(name).to_string())
        .filter(|name| name.starts_with("bx"))
        .collect())
}

fn net_none_has_only_lo_up(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    let out = in_busybox(
        ctx,
        &["--net", "none"],
        "ls /sys/class/net; cat /sys/class/net/lo/flags; ping -c1 -W1 127.0.0.1 >/dev/null && echo pong",
    )?;
    let lines: Vec<&str> = out.lines().collect();
    ensure!(
        lines.first() == Some(&"lo"),
        "the container sees more than lo: {out}"
    );
    let flags = lines
        .get(1)
        .and_then(|f| u32::from_str_radix(f.trim_start_matches("0x"), 16).ok())
        .context("no flags for lo")?;
    ensure!(
        flags & 1 == 1,
        "lo is down in the container (flags {flags:#x})"
    );
    ensure!(out.contains("pong"), "127.0.0.1 does not answer: {out}");
    Ok(())
}

fn bridge_gives_an_address_a_route_and_the_mtu(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    let script = "ls /sys/class/net | tr '\\n' ' '; echo; cat /sys/class/net/eth0/mtu \
                  /sys/class/net/eth0/operstate; ip -4 -o addr show eth0; ip route";
    // No default route on the check's host yet: Ethernet's 1500.
    let out = in_busybox(ctx, &[], script)?;
    ensure!(out.starts_with("eth0 lo"), "expected eth0 and lo: {out}");
    let lines: Vec<&str> = out.lines().collect();
    ensure!(
        lines.get(1) == Some(&"1500"),
        "eth0's MTU is not 1500: {out}"
    );
    ensure!(lines.get(2) == Some(&"up"), "eth0 is not up: {out}");
    ensure!(
        out.contains("inet 10.88."),
        "eth0 has no 10.88.0.0/16 address: {out}"
    );
    ensure!(out.contains("/16"), "the address is not a /16: {out}");
    ensure!(
        out.contains("default via 10.88.0.1 dev eth0"),
        "no default route via the bridge: {out}"
    );
    // A way out with a smaller MTU, as this machine's (1400): the bridge must copy it when it
    // is made. It is kept between containers (as docker0), so remove it first, as the book
    // says to by hand.
    ctx.host_sh(
        "ip link del bx0 && nft delete table ip boxcar \
         && ip link add up0 mtu 1400 type veth peer name up1 && ip addr add 192.0.2.2/24 dev up0 \
         && ip link set up0 up && ip link set up1 up && ip route add default via 192.0.2.1",
    )?;
    let out = in_busybox(ctx, &[], "cat /sys/class/net/eth0/mtu")?;
    ensure!(
        out.trim() == "1400",
        "with a 1400-byte uplink, eth0's MTU is {out}"
    );
    ctx.host_sh("ip link del up0")?;
    Ok(())
}

fn containers_reach_each_other_and_the_host(ctx: &Ctx) -> Result<()> {
    let (a, address) = listener(ctx, &[], 8000, 2)?;
    let address = address.context("the listening container has no reservation")?;
    let report = connect_from_container(ctx, &[], &format!("{address}:8000"))?;
    ensure!(
        report["connected"] == true,
        "a container cannot reach another at {address}: {report}"
    );
    let reply = report["reply"].as_str().unwrap_or_default();
    ensure!(
        reply.starts_with("peer 10.88.")
            && !reply.starts_with("peer 10.88.0.1:")
            && !reply.contains(&format!("{address}:")),
        "the other container's own address is not the one seen (no NAT between containers): {reply}"
    );
    let reply = connect_from_host(&format!("{address}:8000"))?;
    ensure!(
        reply.starts_with("peer 10.88.0.1:"),
        "the host is not seen as 10.88.0.1: {reply}"
    );
    a.wait(Duration::from_secs(10))?.expect_code(0)?;
    // The host, from a container: a listener on the check's host.
    let host = TcpListener::bind("10.88.0.1:0").or_else(|_| TcpListener::bind("0.0.0.0:0"))?;
    let port = host.local_addr()?.port();
    let accept = std::thread::spawn(move || -> Result<String> {
        host.set_nonblocking(false)?;
        let (mut stream, peer) = host.accept()?;
        writeln!(stream, "host")?;
        Ok(peer.ip().to_string())
    });
    let report = connect_from_container(ctx, &[], &format!("10.88.0.1:{port}"))?;
    ensure!(
        report["reply"] == "host",
        "a container cannot reach the host: {report}"
    );
    let peer = accept
        .join()
        .map_err(|_| anyhow::anyhow!("accept panicked"))??;
    ensure!(
        peer.starts_with("10.88."),
        "the host saw {peer}, not a container's address"
    );
    Ok(())
}

fn a_published_port_answers(ctx: &Ctx) -> Result<()> {
    ctx.build_images()?;
    // Loopback only: from the host's 127.0.0.1, the container sees the bridge's address.
    let (a, _) = listener(ctx, &["-p", "127.0.0.1:8080:8000"], 8000, 1)?;
    let reply = connect_from_host("127.0.0.1:8080")?;
    ensure!(
        reply.starts_with("peer 10.88.0.1:"),
        "127.0.0.1:8080 did not reach the container through NAT: {reply}"
    );
    a.wait(Duration::from_secs(10))?.expect_code(0)?;
    // On every host address: from the host's own uplink address, and from a container
    // through the host (hairpin through the host's routing).
    ctx.host_sh(
        "ip link add up0 type veth peer name up1 && ip addr add 192.0.2.2/24 dev up0 \
         && ip link set up0 up && ip link set up1 up",
    )?;
    let (b, _) = listener(ctx, &["-p", "8081:8000"], 8000, 2)?;
    let reply = connect_from_host("192.0.2.2:8081")?;
    ensure!(
        reply.starts_with("peer "),
        "192.0.2.2:8081 did not answer: {reply}"
    );
    let report = connect_from_container(ctx, &[], "192.0.2.2:8081")?;
    ensure!(
        report["connected"] == true,
        "another container cannot reach the published port: {report}"
    );
    b.wait(Duration::from_secs(10))?.expect_code(0)?;
    // Its own published port, through the host: out of its bridge port and back in (hairpin).
    let script = format!(
        "{PROBE_IN_IMAGE} --listen 8000 >/dev/null & sleep 0.5; {PROBE_IN_IMAGE} --connect 192.0.2.2:8082"
    );
    let outcome = ctx.run(&[
        "run",
        "--rm",
        "--image",
        "probe",
        "-p",
        "8082:8000",
        "--",
        "sh",
        "-c",
        &script,
    ])?;
    ensure!(
        outcome.stdout.contains("\"connected\":true"),
        "a container cannot reach its own published port: {outcome:?}"
    );
    ctx.host_sh("ip link del up0")?;
    Ok(())
}

fn outbound_traffic_is_masqueraded(ctx: &Ctx) -> Result<()> {
    // "The outside": a namespace of its own, with a listener, joined by a veth pair.
    let probe = ctx.probe_arg();
    let mut outside = Command::new("unshare");
    outside.args(["--net", "/bin/sh", "-c"]).arg(format!(
        "ip link set lo up; while ! ip link show out1 >/dev/null 2>&1; do sleep 0.02; done; \
         ip addr add 198.51.100.2/24 dev out1 && ip link set out1 up && exec {probe} --listen 9000"
    ));
    let mut outside = ctx.spawn_command(outside)?;
    let pid = outside.pid();
    ctx.host_sh(&format!(
        "ip link add out0 type veth peer name out1 netns {pid} && \
             ip addr add 198.51.100.1/24 dev out0 && ip link set out0 up"
    ))?;
    outside.wait_for_line("{\"listening\":9000}", Duration::from_secs(10))?;
    let report = connect_from_container(ctx, &[], "198.51.100.2:9000")?;
    ensure!(
        report["connected"] == true,
        "a container cannot reach the outside: {report}"
    );
    let reply = report["reply"].as_str().unwrap_or_default();
    ensure!(
        reply.starts_with("peer 198.51.100.1:"),
        "the outside saw {reply}, not the host's address: no masquerade"
    );
    outside.wait(Duration::from_secs(10))?.expect_code(0)?;
    Ok(())
}

fn nothing_is_left_after_exit_or_sigkill(ctx: &Ctx) -> Result<()> {
    let nft_tables = |ctx: &Ctx| -> Result<String> { Ok(ctx.host_sh("nft list tables")?.stdout) };
    // A live container whose network a later run must not touch.
    let (live, live_address) = listener(ctx, &["-p", "8090:8000"], 8000, 1)?;
    let live_address = live_address.context("no reservation for the live container")?;
    // One that exits.
    ctx.run(&[
        "run",
        "-p",
        "8091:8000",
        "--",
        &ctx.probe_arg(),
        "--only",
        "pid",
    ])?
    .expect_code(0)?;
    // One whose runtime is killed.
    let (killed, _) = listener(ctx, &["-p", "8092:8000"], 8000, 1)?;
    killed.signal(Signal::SIGKILL)?;
    let outcome = killed.wait(Duration::from_secs(10))?;
    ensure!(
        outcome.code == Some(137),
        "the runtime was not killed: {outcome:?}"
    );
    // The next run cleans what the killed one left, and nothing of the live one.
    ctx.run(&["run", "--net", "none", "--", "true"])?
        .expect_code(0)?;
    let tables = nft_tables(ctx)?;
    ensure!(
        tables.lines().count() == 2,
        "expected the bridge's table and the live container's, found: {tables}"
    );
    ensure!(
        ctx.reservations() == [live_address],
        "expected only the live container's address reserved, found {:?}",
        ctx.reservations()
    );
    let reply = connect_from_host("127.0.0.1:8090")?;
    ensure!(
        reply.starts_with("peer "),
        "the live container's port is gone: {reply}"
    );
    live.wait(Duration::from_secs(10))?.expect_code(0)?;
    // The veths go with their namespaces, which the kernel frees in the background; the
    // bridge and its table stay for the next container, as docker0 does.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut links = boxcar_links(ctx)?;
    while links != ["bx0"] && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        links = boxcar_links(ctx)?;
    }
    ensure!(
        links == ["bx0"],
        "expected only the bridge bx0, found links {links:?}"
    );
    let tables = nft_tables(ctx)?;
    ensure!(
        tables.trim() == "table ip boxcar",
        "expected only the bridge's table, found: {tables}"
    );
    ensure!(
        ctx.reservations().is_empty(),
        "reservations left: {:?}",
        ctx.reservations()
    );
    Ok(())
}

fn network_errors_are_one_line(ctx: &Ctx) -> Result<()> {
    let probe = ctx.probe_arg();
    let refused = |args: &[&str], says: &str| -> Result<()> {
        let outcome = ctx.run(args)?;
        outcome.expect_code(125)?;
        let line = outcome.one_error_line()?;
        ensure!(line.contains(says), "expected {says:?} in: {line}");
        Ok(())
    };
    refused(
        &["run", "--net", "none", "-p", "80:80", "--", "true"],
        "--net none",
    )?;
    refused(&["run", "--net", "host", "--", "true"], "invalid --net")?;
    for bad in ["80", "x:80", "8080:0", "8080:80/sctp", "1.2.3:80:80"] {
        refused(&["run", "-p", bad, "--", "true"], "invalid -p")?;
    }
    // A host port some program uses already.
    let taken = TcpListener::bind("0.0.0.0:0")?;
    let port = taken.local_addr()?.port();
    let flag = format!("{port}:80");
    refused(
        &["run", "-p", &flag, "--", &probe],
        "cannot publish host port",
    )?;
    drop(taken);
    // No nft on the PATH.
    let mut command = ctx.command(&["run", "--", "true"]);
    command.env("PATH", "/usr/bin:/bin");
    let outcome = ctx.run_command(command)?;
    outcome.expect_code(125)?;
    ensure!(
        outcome.one_error_line()?.contains("nft"),
        "a missing nft is not named: {outcome:?}"
    );
    // No free address: every one of the /16 reserved (by containers long gone, whose records
    // say they exited: the reservations are theirs to keep).
    fill_the_pool(ctx)?;
    refused(&["run", "--", "true"], "no free address")?;
    std::fs::remove_dir_all(ctx.root().join("network"))?;
    std::fs::remove_dir_all(ctx.root().join("containers"))?;
    Ok(())
}

/// Reserve every address of 10.88.0.0/16 for one container with an "exited" record.
fn fill_the_pool(ctx: &Ctx) -> Result<()> {
    let id = "0000000000ff";
    let record = ctx.root().join("containers").join(id);
    std::fs::create_dir_all(&record)?;
    std::fs::write(record.join("container.json"), r#"{"status":"exited"}"#)?;
    let dir = ctx.root().join("network").join("addresses");
    std::fs::create_dir_all(&dir)?;
    for offset in 2..0xffffu32 {
        let address = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 88, 0, 0)) + offset);
        std::fs::write(dir.join(address.to_string()), id)?;
    }
    Ok(())
}

fn parallel_containers_get_distinct_addresses(ctx: &Ctx) -> Result<()> {
    let start = Instant::now();
    let mut running = Vec::new();
    for _ in 0..8 {
        running.push(ctx.spawn(&[
            "run",
            "--",
            "/bin/sh",
            "-c",
            "sleep 0.3; ip -4 -o addr show eth0",
        ])?);
    }
    let mut addresses = Vec::new();
    for run in running {
        let outcome = run.wait(Duration::from_secs(30))?;
        outcome.expect_code(0)?;
        let address = outcome
            .stdout
            .split_whitespace()
            .skip_while(|word| *word != "inet")
            .nth(1)
            .map(str::to_string);
        match address {
            Some(address) => addresses.push(address),
            None => bail!("a container printed no address: {outcome:?}"),
        }
    }
    let mut unique = addresses.clone();
    unique.sort();
    unique.dedup();
    ensure!(
        unique.len() == 8,
        "8 containers got {} addresses: {addresses:?} (in {:?})",
        unique.len(),
        start.elapsed()
    );
    Ok(())
}
