"""The lab itself: build, services, faults, teardown — with real namespaces and real tools."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys

import pytest

from netladder.lab import (
    BlockEcho,
    Delay,
    DropPort,
    Lab,
    Link,
    Loss,
    Node,
    NoTimeExceeded,
    RejectPort,
    Service,
    Topology,
    WrongArp,
    core,
)
from netladder.lab.sh import LabError
from netladder.lab.topologies import SSH_BANNER
from waiting import unlimited_icmp, wait_until


def ping(
    lab: Lab, node: str, target: str, count: int = 3, interval: float = 0.05, wait: float = 1.0
) -> subprocess.CompletedProcess[str]:
    return lab.exec(
        node,
        ["ping", "-n", "-c", str(count), "-i", str(interval), "-W", str(wait), target],
        check=False,
    )


def avg_rtt(output: str) -> float:
    match = re.search(r"= [\d.]+/([\d.]+)/", output)
    assert match, output
    return float(match.group(1))


def test_every_node_reaches_every_other_over_v4_and_v6(chain_lab: Lab) -> None:
    for target in ("server", "lan3", "r2"):
        for version in (4, 6):
            result = ping(chain_lab, "client", chain_lab.addr(target, version), count=1)
            assert result.returncode == 0, result.stdout


def test_the_path_goes_through_both_routers(chain_lab: Lab) -> None:
    with unlimited_icmp(chain_lab, "server"):
        out = chain_lab.exec(
            "client", ["traceroute", "-n", "-q", "1", "-w", "1", chain_lab.addr("server")]
        ).stdout
    hops = re.findall(r"^\s*\d+\s+(\S+)", out, re.M)
    assert hops == ["203.0.113.1", "203.0.113.6", "198.51.100.10"]


def test_services_answer_tcp_banner_http_and_udp_echo(chain_lab: Lab) -> None:
    server = chain_lab.addr("server")
    banner = chain_lab.exec(
        "client", ["socat", "-T", "2", "-", f"TCP:{server}:22"], input="", timeout=10
    ).stdout
    assert banner.strip() == SSH_BANNER
    head = chain_lab.exec(
        "client",
        ["curl", "-sI", "--max-time", "5", f"http://[{chain_lab.addr('server', 6)}]/status/503"],
    ).stdout
    assert head.startswith("HTTP/1.1 503 Service Unavailable")
    echo = chain_lab.exec(
        "client", ["socat", "-T", "2", "-", f"UDP:{server}:7"], input="hello\n"
    ).stdout
    assert echo == "hello\n"


def test_http_delay_is_scripted(chain_lab: Lab) -> None:
    out = chain_lab.exec(
        "client",
        [
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{time_total}",
            f"http://{chain_lab.addr('server')}/delay/300",
        ],
    ).stdout
    assert 0.3 <= float(out) < 1.5


def test_loss_on_a_link_drops_about_that_share(chain_lab: Lab) -> None:
    with chain_lab.fault(Loss("r1", "r2", 50, proto="icmp")):
        out = ping(
            chain_lab, "client", chain_lab.addr("server"), count=100, interval=0.01, wait=0.5
        ).stdout
    loss = float(re.search(r"([\d.]+)% packet loss", out).group(1))  # type: ignore[union-attr]
    assert 25 <= loss <= 75, out
    assert ping(chain_lab, "client", chain_lab.addr("server")).returncode == 0  # reverted


def test_delay_without_netem_is_added_by_the_relay(chain_lab: Lab) -> None:
    server = chain_lab.addr("server")
    base = avg_rtt(ping(chain_lab, "client", server, count=5).stdout)
    with chain_lab.fault(Delay("r1", "r2", 40)):  # in force once fault() returns
        slow = avg_rtt(ping(chain_lab, "client", server, count=5, interval=0.1).stdout)
        # Only paths across r1-r2 slow down: the LAN behind r1 does not.
        lan = avg_rtt(ping(chain_lab, "client", chain_lab.addr("lan1"), count=3).stdout)
    assert 38 <= slow - base <= 55, (base, slow)
    assert lan < 20
    assert avg_rtt(ping(chain_lab, "client", server, count=3).stdout) < base + 10


def test_tcp_traffic_crosses_the_relay_intact(chain_lab: Lab) -> None:
    # A large transfer across the relayed link, byte-exact (checksums and segmentation right).
    payload = "".join(f"{i:06d}" + "x" * 94 + "\n" for i in range(3000))
    out = chain_lab.exec(
        "client",
        ["socat", "-t", "3", "-T", "5", "-", f"TCP:{chain_lab.addr('server')}:22"],
        input=payload,
        timeout=20,
    ).stdout
    assert out.endswith(payload)


def test_dropped_and_rejected_ports(chain_lab: Lab) -> None:
    server = chain_lab.addr("server")
    with chain_lab.fault(DropPort("server", 22), RejectPort("server", 25)):
        dropped = chain_lab.exec(
            "client", ["curl", "-s", "--connect-timeout", "1", f"telnet://{server}:22"], check=False
        )
        # -sS sees the ICMP code itself (a connect() only sees EHOSTUNREACH).
        rejected = chain_lab.exec(
            "client", ["nmap", "-n", "-Pn", "-sS", "-p", "25", "--reason", server], check=False
        )
    assert dropped.returncode == 28  # curl: operation timed out (no answer at all)
    assert re.search(r"25/tcp\s+filtered\s+\S+\s+admin-prohibited", rejected.stdout), (
        rejected.stdout
    )


def test_blocked_echo_leaves_services_working(chain_lab: Lab) -> None:
    server = chain_lab.addr("server")
    with chain_lab.fault(BlockEcho("server")):
        assert ping(chain_lab, "client", server, count=2, wait=0.3).returncode == 1
        assert chain_lab.exec("client", ["curl", "-sI", f"http://{server}/"]).returncode == 0
    assert ping(chain_lab, "client", server, count=1).returncode == 0


def test_a_router_without_time_exceeded_is_a_star(chain_lab: Lab) -> None:
    with chain_lab.fault(NoTimeExceeded("r2")), unlimited_icmp(chain_lab, "server"):
        out = chain_lab.exec(
            "client", ["traceroute", "-n", "-q", "1", "-w", "0.5", chain_lab.addr("server")]
        ).stdout
    assert re.search(r"^\s*2\s+\*", out, re.M), out
    assert "198.51.100.10" in out


def test_a_wrong_static_arp_entry_for_the_gateway_cuts_off_link_traffic(chain_lab: Lab) -> None:
    server = chain_lab.addr("server")
    with chain_lab.fault(WrongArp("client", "r1")):
        neigh = chain_lab.exec("client", ["ip", "-j", "neigh", "show", "203.0.113.1"]).stdout
        assert json.loads(neigh)[0]["lladdr"] == "02:00:5e:00:53:01"
        assert ping(chain_lab, "client", server, count=2, wait=0.3).returncode == 1
    assert ping(chain_lab, "client", server, count=1).returncode == 0


def test_up_twice_is_harmless(chain_lab: Lab) -> None:
    again = Lab(chain_lab.topology, chain_lab.name).up()
    assert again.state.namespaces == chain_lab.state.namespaces
    assert ping(chain_lab, "client", chain_lab.addr("server"), count=1).returncode == 0


def test_down_removes_everything_and_twice_is_harmless(lab_ok: None) -> None:
    topo = Topology(
        "tiny",
        (Node("a"), Node("b")),
        (Link("a", "b", "198.51.100.0/30"),),
        services=(Service("b", "tcp", 22),),
    )
    lab = Lab(topo).up()
    assert {lab.ns("a"), lab.ns("b")} <= set(core.existing_namespaces())
    pids = list(lab.state.pids)
    lab.down()
    lab.down()
    assert not [ns for ns in core.existing_namespaces() if ns.startswith("nl-tiny-")]
    assert core.load_state("tiny") is None
    wait_until("the lab's processes to end", lambda: not any(core._exists(p) for p in pids))


def test_a_build_that_fails_half_way_removes_what_it_made(lab_ok: None) -> None:
    # The second service cannot bind (same port twice): the lab must vanish entirely.
    topo = Topology(
        "broken",
        (Node("a"), Node("b")),
        (Link("a", "b", "198.51.100.0/30"),),
        services=(Service("b", "tcp", 22), Service("b", "udp-echo", 7), Service("b", "http", 22)),
    )
    with pytest.raises(LabError, match="failed to start"):
        Lab(topo).up()
    assert not [ns for ns in core.existing_namespaces() if ns.startswith("nl-broken-")]
    assert core.load_state("broken") is None


def test_lab_namespaces_never_touch_the_test_namespace(chain_lab: Lab) -> None:
    # Every veth end lives inside a lab namespace: the caller's namespace still has only lo.
    assert socket.if_nameindex() == [(1, "lo")]


def test_lab_cli_status_and_exec(chain_lab: Lab) -> None:
    status = subprocess.run(
        [sys.executable, "-m", "netladder", "lab", "status", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    labs = json.loads(status.stdout)["labs"]
    assert [lab["name"] for lab in labs] == ["chain"] and labs[0]["healthy"]
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "netladder",
            "lab",
            "exec",
            "client",
            "--",
            "ip",
            "-br",
            "-4",
            "addr",
            "show",
            "to-r1",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "203.0.113.2/30" in out


def test_lab_status_shows_each_lab_with_its_own_topology(chain_lab: Lab) -> None:
    # A topology only its test knows has no plan to show: its JSON has no "nodes", its lines
    # only its health — and the built-in lab beside it still shows its nodes.
    topo = Topology("tiny", (Node("a"), Node("b")), (Link("a", "b", "198.51.100.0/30"),))
    tiny = Lab(topo).up()
    try:
        argv = [sys.executable, "-m", "netladder", "lab", "status"]
        labs = json.loads(
            subprocess.run([*argv, "--json"], capture_output=True, text=True, check=True).stdout
        )["labs"]
        assert [lab["name"] for lab in labs] == ["chain", "tiny"]
        assert "nodes" in labs[0] and "nodes" not in labs[1]
        assert labs[1]["healthy"] and tiny.ns("a") in labs[1]["namespaces"]
        lines = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
        assert "lab tiny (tiny): up\n" in lines and "lab chain (chain): up\n" in lines
        assert f"netns {chain_lab.ns('client')})" in lines and tiny.ns("a") not in lines
    finally:
        tiny.down()
