"""`netladder port` in the lab: every nmap state with its reason, equal to nmap's own scans of the
same host, banners, IPv6, and a lossy path."""

from __future__ import annotations

import asyncio
import json
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import pytest

from netladder.lab import DropPort, Lab, Link, Loss, Node, RejectPort, Service, Topology
from netladder.lab.topologies import SMTP_BANNER, SSH_BANNER
from waiting import unlimited_icmp

# On the chain's server: 22, 25 (banners), 80, 8080 (http) open; 81 dropped; 82 rejected with
# ICMP admin-prohibited; the rest closed.  UDP: 7 echo, 9 dropped, 10 closed.
TCP_PORTS = "20-26,79-83,8080"
UDP_PORTS = "7,9,10"
OPEN = {22, 25, 80, 8080}


@pytest.fixture(scope="module")
def lab(chain_lab: Lab) -> Iterator[Lab]:
    with chain_lab.fault(
        DropPort("server", 81), RejectPort("server", 82), DropPort("server", 9, "udp")
    ):
        yield chain_lab


@pytest.fixture()
def unlimited(lab: Lab) -> Iterator[None]:
    """The REJECT and port-unreachable answers compared with nmap's, whatever an earlier test
    spent of the server's ICMP rate limit."""
    with unlimited_icmp(lab, "server"):
        yield


def expand(ranges: str) -> list[int]:
    ports: list[int] = []
    for part in ranges.split(","):
        low, _, high = part.partition("-")
        ports.extend(range(int(low), int(high or low) + 1))
    return ports


def ours(
    lab: Lab, target: str, ports: str, *flags: str
) -> tuple[dict[int, tuple[str, str]], dict[str, Any]]:
    result = lab.netladder("client", "port", target, ports, *flags, "--json", timeout=60)
    assert result.returncode in (0, 1), result.stderr
    doc = json.loads(result.stdout)
    states = {row["port"]: (row["state"], row["reason"]) for row in doc["ports"]}
    for group in doc["not_shown"]:
        for port in expand(group["ports"]):
            states[port] = (group["state"], group["reason"])
    return states, doc


def nmap(lab: Lab, target: str, ports: str, *flags: str) -> dict[int, tuple[str, str]]:
    out = lab.exec(
        "client",
        ["nmap", "-n", "-Pn", *flags, "--reason", "-p", ports, "-oX", "-", target],
        timeout=120,
    ).stdout
    root = ET.fromstring(out)
    states: dict[int, tuple[str, str]] = {}
    for port in root.iter("port"):
        state = port.find("state")
        assert state is not None
        states[int(port.get("portid", "0"))] = (state.get("state", ""), state.get("reason", ""))
    for extra in root.iter("extraports"):
        for reasons in extra.iter("extrareasons"):
            for p in expand(reasons.get("ports", "")):
                states[p] = (extra.get("state", ""), reasons.get("reason", ""))
    return states


@pytest.mark.lab
@pytest.mark.usefixtures("unlimited")
def test_syn_scan_states_and_reasons_equal_nmap_syn_scan(lab: Lab) -> None:
    server = lab.addr("server")
    mine, doc = ours(lab, server, TCP_PORTS, "--syn")
    theirs = nmap(lab, server, TCP_PORTS, "-sS")
    assert doc["method"] == "syn"
    assert mine == theirs
    assert mine[22] == ("open", "syn-ack")
    assert mine[23] == ("closed", "reset")
    assert mine[81] == ("filtered", "no-response")
    assert mine[82] == ("filtered", "admin-prohibited")
    assert {p for p, (s, _) in mine.items() if s == "open"} == OPEN


@pytest.mark.lab
@pytest.mark.usefixtures("unlimited")
def test_connect_scan_states_equal_nmap_connect_scan(lab: Lab) -> None:
    server = lab.addr("server")
    mine, doc = ours(lab, server, TCP_PORTS, "--connect")
    theirs = nmap(lab, server, TCP_PORTS, "-sT")
    assert doc["method"] == "connect"
    assert mine == theirs
    assert mine[23] == ("closed", "conn-refused")
    assert mine[81] == ("filtered", "no-response")
    # A connect() only learns EHOSTUNREACH from the admin-prohibited ICMP, as nmap -sT does.
    assert mine[82] == ("filtered", "host-unreach")


@pytest.mark.lab
@pytest.mark.usefixtures("unlimited")
def test_udp_scan_states_equal_nmap_udp_scan(lab: Lab) -> None:
    server = lab.addr("server")
    mine, doc = ours(lab, server, UDP_PORTS, "--udp")
    theirs = nmap(lab, server, UDP_PORTS, "-sU")
    assert mine == theirs
    assert mine == {
        7: ("open", "udp-response"),
        9: ("open|filtered", "no-response"),
        10: ("closed", "port-unreach"),
    }
    assert doc["proto"] == "udp"


@pytest.mark.lab
@pytest.mark.usefixtures("unlimited")
def test_ipv6_syn_and_connect_scans_agree_with_nmap(lab: Lab) -> None:
    server6 = lab.addr("server", 6)
    for ours_flag, nmap_flag in (("--syn", "-sS"), ("--connect", "-sT")):
        mine, _ = ours(lab, server6, "22,23,80,81,82", ours_flag)
        theirs = nmap(lab, server6, "22,23,80,81,82", "-6", nmap_flag)
        assert {p: s for p, (s, _) in mine.items()} == {p: s for p, (s, _) in theirs.items()}
        assert mine[22][0] == "open" and mine[23][0] == "closed"
        assert mine[81] == ("filtered", "no-response") and mine[82][0] == "filtered"


@pytest.mark.lab
def test_banners_show_what_a_user_sees_in_telnet(lab: Lab) -> None:
    _, doc = ours(lab, lab.addr("server"), "22,25,80,23", "--banner")
    rows = {row["port"]: row for row in doc["ports"]}
    assert rows[22]["banner"]["text"] == SSH_BANNER
    assert rows[22]["banner"]["probe"] == "greeting"
    assert rows[25]["banner"]["text"] == SMTP_BANNER
    assert rows[80]["banner"] == {
        **rows[80]["banner"],
        "text": "HTTP/1.1 200 OK",
        "probe": "http-head",
    }
    assert rows[23]["banner"] is None  # closed: nothing to read
    text = lab.netladder("client", "port", lab.addr("server"), "22,25", "--banner").stdout
    assert SSH_BANNER in text and SMTP_BANNER in text


@pytest.mark.lab
def test_exit_status_says_whether_a_port_is_open(lab: Lab) -> None:
    server = lab.addr("server")
    assert lab.netladder("client", "port", server, "22").returncode == 0
    closed = lab.netladder("client", "port", server, "23")
    assert closed.returncode == 1
    assert "23/tcp" in closed.stdout and "closed" in closed.stdout
    assert lab.netladder("client", "port", server, "81").returncode == 1


@pytest.mark.lab
def test_the_summary_collapses_the_many_closed_ports_like_nmap(lab: Lab) -> None:
    out = lab.netladder("client", "port", lab.addr("server"), "1-1000", "--syn").stdout
    assert "Not shown: 995 closed tcp ports (reset)" in out
    for line in ("22/tcp", "81/tcp", "82/tcp"):
        assert line in out


@pytest.mark.lab
def test_a_lossy_path_still_finds_open_ports_and_never_calls_filtered_closed(lab: Lab) -> None:
    server = lab.addr("server")
    with lab.fault(Loss("r1", "r2", 30, proto="tcp")):
        for flag in ("--syn", "--connect"):
            mine, doc = ours(lab, server, TCP_PORTS, flag)
            assert {p for p, (s, _) in mine.items() if s == "open"} == OPEN, (flag, mine)
            assert mine[81] == ("filtered", "no-response")
            assert mine[82][0] == "filtered"
            assert doc["max_tries"] > 1  # it did retransmit


@pytest.mark.lab
def test_the_library_api_checks_a_few_ports_in_process(lab: Lab) -> None:
    # diagnose calls this in-process; run it inside the client's namespace via the CLI's
    # interpreter to keep the test process out of the lab.
    code = (
        "import asyncio, json; from netladder.l4.api import check_ports;"
        f"r = asyncio.run(check_ports('{lab.addr('server')}', '22,81', method='connect',"
        " banner=True));"
        "print(json.dumps({p.port: [p.state.value, p.reason, p.banner.text if p.banner else None]"
        " for p in r.ports}))"
    )
    out = lab.exec("client", [sys.executable, "-c", code], timeout=60).stdout
    assert json.loads(out) == {
        "22": ["open", "syn-ack", SSH_BANNER],
        "81": ["filtered", "no-response", None],
    }


def test_check_ports_refuses_an_empty_list() -> None:
    from netladder.errors import UsageError
    from netladder.l4.api import check_ports

    with pytest.raises(UsageError):
        asyncio.run(check_ports("127.0.0.1", []))


TLS_TOPOLOGY = Topology(
    "porttls",
    (Node("client"), Node("b")),
    (Link("client", "b", "198.51.100.20/30"),),
    services=(
        Service("b", "tls", 443, {"cn": "tls.lab", "days": 30}),
        Service("b", "tcp", 22, {"banner": SSH_BANNER}),
    ),
)


@pytest.mark.lab
def test_tls_shows_version_subject_and_days_to_expiry(lab_ok: None) -> None:
    with Lab(TLS_TOPOLOGY) as tls_lab:
        _, doc = ours(tls_lab, tls_lab.addr("b"), "443,22", "--tls", "--banner", "--connect")
        rows = {row["port"]: row for row in doc["ports"]}
        # The banner of an HTTPS port is its answer to HEAD inside TLS.
        assert rows[443]["banner"]["text"] == "HTTP/1.1 200 OK"
        tls = rows[443]["tls"]
        assert tls["error"] is None and tls["version"].startswith("TLSv1.")
        assert tls["subject"] == "CN=tls.lab, O=netladder lab"
        assert tls["issuer"] == tls["subject"]  # self-signed
        assert tls["days_left"] in (29, 30)
        assert tls["alpn"] == "http/1.1"
        assert rows[22]["tls"]["error"]  # SSH does not speak TLS: the reason, not a crash
        text = tls_lab.netladder("client", "port", tls_lab.addr("b"), "443", "--tls").stdout
        assert "certificate: CN=tls.lab" in text and "days)" in text


@pytest.mark.lab
def test_rate_spaces_the_syn_probes(lab: Lab) -> None:
    # 40 probes at 100 per second cannot take less than ~0.39 s.
    _, doc = ours(lab, lab.addr("server"), "1000-1039", "--syn", "--rate", "100")
    assert doc["probes_sent"] == 40
    assert doc["elapsed_ms"] >= 380
    _, fast = ours(lab, lab.addr("server"), "1000-1039", "--syn")
    assert fast["elapsed_ms"] < doc["elapsed_ms"]


@pytest.mark.lab
def test_udp_closed_ports_beyond_the_icmp_rate_limit_are_still_closed(lab: Lab) -> None:
    # The server sends at most a burst of 6 port-unreachables, then 1/s
    # (net.ipv4.icmp_ratelimit): the 10 closed ports must not end up open|filtered.
    mine, doc = ours(lab, lab.addr("server"), "7,30-39", "--udp")
    assert mine[7] == ("open", "udp-response")
    assert {p: s for p, (s, _) in mine.items() if p != 7} == {p: "closed" for p in range(30, 40)}, (
        doc
    )
    assert doc["max_tries"] > 2  # the late ones answered only a later retry
