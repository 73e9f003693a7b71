"""`netladder trace` in a three-router lab, against traceroute and mtr on the same lab."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from netladder.lab import Lab
from netladder.lab.faults import Delay, DropPort, Loss, NoTimeExceeded, RejectPort
from netladder.lab.topologies import chain3
from waiting import Counters, restore_sigint, wait_idle, wait_until

HOPS4 = ["203.0.113.1", "203.0.113.6", "203.0.113.10", "198.51.100.10"]
HOPS6 = ["2001:db8:1::1", "2001:db8:2::2", "2001:db8:4::2", "2001:db8:3::2"]
SERVER = {4: "198.51.100.10", 6: "2001:db8:3::2"}
ANCHOR_FLAGS = {"udp": [], "icmp": ["-I"], "tcp": ["-T", "-p", "22"]}


@pytest.fixture(scope="module")
def lab(lab_ok: None) -> Iterator[Lab]:
    with Lab(chain3(), name="trace3") as built:
        yield built


def trace(lab: Lab, *args: str, code: int | None = 0) -> dict[str, Any]:
    result = lab.netladder("client", "trace", *args, "--json")
    if code is not None:
        assert result.returncode == code, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def addresses(doc: dict[str, Any]) -> list[str | None]:
    return [h["responders"][0] if h["responders"] else None for h in doc["hops"]]


def traceroute_hops(lab: Lab, *args: str) -> list[str | None]:
    out = lab.exec("client", ["traceroute", "-n", "-w", "1", *args]).stdout
    hops: list[str | None] = []
    for line in out.splitlines()[1:]:
        found = re.findall(r"\s(\d+\.\d+\.\d+\.\d+|[0-9a-f:]+:[0-9a-f:]*)\s", line + " ")
        hops.append(found[0] if found else None)
    return hops


@pytest.mark.parametrize("version", [4, 6])
@pytest.mark.parametrize("proto", ["udp", "icmp", "tcp"])
def test_three_routers_in_order_as_traceroute_sees_them(lab: Lab, proto: str, version: int) -> None:
    extra = ["-p", "22"] if proto == "tcp" else []
    doc = trace(lab, SERVER[version], "--proto", proto, *extra)
    expected = HOPS4 if version == 4 else HOPS6
    assert addresses(doc) == expected
    assert doc["reached"] and doc["destination_hop"] == 4
    assert all(len(h["probes"]) == 3 and h["stats"]["received"] == 3 for h in doc["hops"])
    assert [p["kind"] for p in doc["hops"][-1]["probes"]] == ["reply"] * 3
    # (No verdict here: the lab's userspace relays stall for tens of ms on a busy machine,
    # which the verdict rightly reports as latency; test_hops pins the verdict rules.)
    assert doc["flow_constant"] is True  # root: TCP from a raw socket, constant ports
    assert doc["socket"] == {"udp": "dgram", "icmp": "dgram", "tcp": "raw"}[proto]
    # The anchor, on the same lab, sees the same hops.
    assert traceroute_hops(lab, *ANCHOR_FLAGS[proto], SERVER[version]) == expected


FLOWS = """table inet paris {
  set f_udp { typeof udp sport . udp dport; flags dynamic; }
  set f_icmp { typeof icmp id . icmp checksum; flags dynamic; }
  set f_icmp6 { typeof icmpv6 id . icmpv6 checksum; flags dynamic; }
  set f_tcp { typeof tcp sport . tcp dport; flags dynamic; }
  chain c {
    type filter hook prerouting priority 0; policy accept;
    udp dport 1-65535 add @f_udp { udp sport . udp dport }
    icmp type echo-request add @f_icmp { icmp id . icmp checksum }
    icmpv6 type echo-request add @f_icmp6 { icmpv6 id . icmpv6 checksum }
    tcp flags == syn add @f_tcp { tcp sport . tcp dport }
  }
}
"""


def flows_seen_by_r1(lab: Lab, run: list[str]) -> dict[str, Any]:
    """Run `run` in the client while r1 records every distinct flow key it forwards."""
    lab.exec("r1", ["nft", "-f", "-"], input=FLOWS)
    try:
        traced = lab.exec("client", run, check=False)
        doc = json.loads(lab.exec("r1", ["nft", "-j", "list", "table", "inet", "paris"]).stdout)
    finally:
        lab.exec("r1", ["nft", "delete", "table", "inet", "paris"], check=False)
    seen: dict[str, Any] = {
        item["set"]["name"][2:]: len(item["set"].get("elem", ()))
        for item in doc["nftables"]
        if "set" in item
    }
    # the run's own words beside the counts, for a run that sent nothing through r1
    seen["exit"] = traced.returncode
    seen["said"] = (traced.stdout + traced.stderr)[-400:]
    return seen


@pytest.mark.parametrize(
    "proto, version", [("udp", 4), ("icmp", 4), ("tcp", 4), ("udp", 6), ("icmp", 6), ("tcp", 6)]
)
def test_every_probe_of_a_trace_keeps_one_flow(lab: Lab, proto: str, version: int) -> None:
    run = [sys.executable, "-m", "netladder", "trace", SERVER[version], "--proto", proto]
    seen = flows_seen_by_r1(lab, run)
    key = "icmp6" if (proto, version) == ("icmp", 6) else proto
    assert seen[key] == 1, seen  # ports (ICMP: identifier and checksum) never change


def test_classic_traceroute_changes_the_flow_which_the_check_sees(lab: Lab) -> None:
    assert flows_seen_by_r1(lab, ["traceroute", "-n", SERVER[4]])["udp"] > 1


def test_human_output_is_traceroute_shaped(lab: Lab) -> None:
    result = lab.netladder("client", "trace", SERVER[4])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("trace to 198.51.100.10, 30 hops max, udp port 33434")
    assert re.match(r" 1  203\.0\.113\.1  [\d.]+ ms  [\d.]+ ms  [\d.]+ ms$", lines[1])
    assert lines[4].startswith(" 4  198.51.100.10 ")
    assert lines[5].startswith("verdict: no hop adds latency or loss")


def test_unprivileged_trace_uses_datagram_sockets(lab: Lab) -> None:
    for proto, kind in (("udp", "dgram"), ("icmp", "dgram"), ("tcp", "connect")):
        result = lab.exec(
            "client",
            [
                "setpriv",
                "--inh-caps=-all",
                "--bounding-set=-all",
                sys.executable,
                "-m",
                "netladder",
                "trace",
                SERVER[4],
                "--proto",
                proto,
                "--json",
            ],
            check=False,
        )
        assert result.returncode == 0, result.stderr
        doc = json.loads(result.stdout)
        assert doc["socket"] == kind and addresses(doc) == HOPS4


@pytest.mark.parametrize("version", [4, 6])
def test_raw_icmp_where_datagram_sockets_are_not_allowed(lab: Lab, version: int) -> None:
    lab.exec("client", ["sysctl", "-qw", "net.ipv4.ping_group_range=1 0"])
    try:
        doc = trace(lab, SERVER[version], "--proto", "icmp")
    finally:
        lab.exec("client", ["sysctl", "-qw", "net.ipv4.ping_group_range=0 2147483647"])
    assert doc["socket"] == "raw" and doc["flow_constant"]
    assert addresses(doc) == (HOPS4 if version == 4 else HOPS6)
    assert all(h["stats"]["received"] == 3 for h in doc["hops"])


def test_delay_on_one_link_is_named_with_a_figure_close_to_it(lab: Lab) -> None:
    # One probe in flight at a time, ten per hop: the verdict compares medians, and the lab's
    # relays (userspace, no netem here) queue a burst of probes behind each other and stall
    # one now and then on a busy machine; alone and ten times over, the median is the link's.
    with lab.fault(Delay("r2", "r3", 40)):
        doc = trace(lab, SERVER[4], "--proto", "icmp", "-q", "10", "-N", "1")
    verdict = doc["verdict"]
    assert verdict["kind"] == "latency"
    assert (verdict["from_hop"], verdict["hop"]) == (2, 3)
    assert 30 <= verdict["added_ms"] <= 75  # 40 ms, plus what a busy machine adds
    assert "between hop 2 (203.0.113.6) and hop 3 (203.0.113.10)" in verdict["text"]


MTR_LINE = re.compile(r"^\s*(\d+)\.\|--\s+(\S+)\s+([\d.]+)%")


def test_loss_on_one_link_persists_to_the_destination_as_mtr_sees_it(lab: Lab) -> None:
    with lab.fault(Loss("r2", "r3", 30, proto="icmp")):
        doc = trace(lab, SERVER[4], "--proto", "icmp", "--cycles", "80", "-i", "0.01", "-w", "1")
        mtr = lab.exec(
            "client", ["mtr", "-r", "-n", "-c", "80", "-i", "0.01", "-G", "1", SERVER[4]]
        ).stdout
    loss = [h["stats"]["loss_pct"] for h in doc["hops"]]
    assert addresses(doc) == HOPS4
    assert loss[0] < 10 and loss[1] < 10
    assert 10 <= loss[2] <= 55 and 10 <= loss[3] <= 55
    assert all(h["stats"]["sent"] == 80 for h in doc["hops"][:3])
    verdict = doc["verdict"]
    assert verdict["kind"] == "loss" and verdict["hop"] == 3
    assert verdict["quiet_hops"] == []  # no router is blamed for not answering
    assert "between hop 2 (203.0.113.6) and hop 3 (203.0.113.10)" in verdict["text"]
    theirs = {int(m[1]): (m[2], float(m[3])) for m in map(MTR_LINE.match, mtr.splitlines()) if m}
    for hop, pct in zip(doc["hops"], loss, strict=True):
        address, mtr_loss = theirs[hop["ttl"]]
        assert address == hop["responders"][0]
        assert abs(pct - mtr_loss) <= 20, (hop["ttl"], pct, mtr_loss)


def test_router_without_time_exceeded_is_a_star_and_not_blamed(lab: Lab) -> None:
    with lab.fault(NoTimeExceeded("r2")):
        doc = trace(lab, SERVER[4])
        result = lab.netladder("client", "trace", SERVER[4])
    assert addresses(doc) == [HOPS4[0], None, HOPS4[2], HOPS4[3]]
    assert [p["kind"] for p in doc["hops"][1]["probes"]] == ["timeout"] * 3
    assert doc["reached"] and doc["verdict"]["kind"] == "ok"
    assert doc["verdict"]["quiet_hops"] == [2]
    assert " 2  * * *" in result.stdout.splitlines()


def test_tcp_to_an_open_port_ends_with_the_destination_answering(lab: Lab) -> None:
    doc = trace(lab, SERVER[4], "--proto", "tcp", "-p", "22")
    last = doc["hops"][-1]["probes"]
    assert [p["kind"] for p in last] == ["reply"] * 3 and doc["reached"]
    # One flow: a SYN that lands on the half-open connection of an earlier one is answered
    # with RST (RFC 9293 §3.10.7.4), so not every probe sees the SYN-ACK; the first one does.
    assert last[0]["detail"] == "SYN-ACK (open)"
    closed = trace(lab, SERVER[4], "--proto", "tcp", "-p", "23")
    assert closed["reached"]
    assert [p["detail"] for p in closed["hops"][-1]["probes"]] == ["RST (closed)"] * 3


def test_tcp_to_a_dropped_port_says_so(lab: Lab) -> None:
    with lab.fault(DropPort("server", 80)):
        doc = trace(lab, SERVER[4], "--proto", "tcp", "-p", "80", "-w", "0.5", code=1)
    assert not doc["reached"]
    assert addresses(doc)[:3] == HOPS4[:3]
    assert all(a is None for a in addresses(doc)[3:])
    assert len(doc["hops"]) == 8  # five silent hops after the last answer, as mtr stops
    verdict = doc["verdict"]
    assert verdict["kind"] == "no-answer" and verdict["hop"] == 4
    assert "tcp port 80" in verdict["text"] and "dropped" in verdict["text"]


def test_a_router_that_forwards_nothing_is_not_called_a_firewall(lab: Lab) -> None:
    lab.exec("r3", ["sysctl", "-qw", "net.ipv4.ip_forward=0"])
    try:
        doc = trace(lab, SERVER[4], "--proto", "tcp", "-p", "22", "-w", "0.5", code=1)
        theirs = traceroute_hops(lab, "-T", "-p", "22", "-m", "8", SERVER[4])
    finally:
        lab.exec("r3", ["sysctl", "-qw", "net.ipv4.ip_forward=1"])
    # r3 neither forwards nor says Time Exceeded (ip_error sends nothing when forwarding is
    # off): silence from hop 3, for traceroute too.
    assert (
        addresses(doc)
        == theirs[: len(addresses(doc))]
        == [*HOPS4[:2], None, None, None, None, None]
    )
    text = doc["verdict"]["text"]
    assert "silence from hop 3 on" in text and "a router that does not forward" in text
    assert "probably" not in text


def test_an_administrative_reject_is_annotated_and_ends_the_trace(lab: Lab) -> None:
    with lab.fault(RejectPort("server", 33434, "udp")):
        doc = trace(lab, SERVER[4], code=1)
        text = lab.netladder("client", "trace", SERVER[4]).stdout
    assert addresses(doc) == HOPS4 and not doc["reached"]
    assert [p["annotation"] for p in doc["hops"][-1]["probes"]] == ["!X"] * 3
    assert doc["verdict"]["kind"] == "unreachable" and "!X" in doc["verdict"]["text"]
    assert " !X" in text.splitlines()[4]


@contextmanager
def routing_loop(lab: Lab) -> Iterator[None]:
    """r2 routes the server back to r1, which sends it to r2 again, until the TTL runs out."""
    routes = [("-4", SERVER[4], "203.0.113.5"), ("-6", SERVER[6], "2001:db8:2::1")]
    for family, dest, via in routes:
        lab.exec("r2", ["ip", family, "route", "replace", dest, "via", via])
    try:
        yield
    finally:
        for family, dest, _ in routes:
            lab.exec("r2", ["ip", family, "route", "del", dest], check=False)


# (hop where the loop starts, its routers): IPv6's r1 answers from the address of the link the
# looping packet came in on, so from hop 3 on it is 2001:db8:2::1, not hop 1's 2001:db8:1::1.
LOOPS = {4: (1, ["203.0.113.1", "203.0.113.6"]), 6: (2, ["2001:db8:2::2", "2001:db8:2::1"])}


@pytest.mark.parametrize("version", [4, 6])
def test_a_routing_loop_is_named_with_the_hops_traceroute_shows(lab: Lab, version: int) -> None:
    start, loop = LOOPS[version]
    with routing_loop(lab):
        doc = trace(lab, SERVER[version], "-m", "10", code=1)
        text = lab.netladder("client", "trace", SERVER[version], "-m", "10").stdout
        theirs = traceroute_hops(lab, "-m", "10", SERVER[version])
    assert addresses(doc) == theirs and len(theirs) == 10
    assert addresses(doc)[start - 1 :] == (loop * 5)[: 11 - start]
    verdict = doc["verdict"]
    assert verdict["kind"] == "no-answer" and not doc["reached"]
    assert verdict["loop"] == loop and verdict["hop"] == start
    named = f"routing loop between {loop[0]} and {loop[1]}"
    assert named in verdict["text"]
    assert f"verdict: {named}" in text


def test_a_path_without_a_loop_names_none(lab: Lab) -> None:
    doc = trace(lab, SERVER[4], "-m", "3", code=1)
    assert doc["verdict"]["loop"] == []


def traceroute_annotations(lab: Lab, *args: str) -> list[tuple[str | None, list[str]]]:
    """traceroute's hops as (responder, the annotation after each probe's time)."""
    out = lab.exec("client", ["traceroute", "-n", "-w", "1", *args]).stdout
    return [
        (hop, re.findall(r" ms(?: (!\S+))?", line))
        for hop, line in zip(traceroute_hops(lab, *args), out.splitlines()[1:], strict=True)
    ]


@contextmanager
def rejected_at_r3(lab: Lab, family: str, reject: str) -> Iterator[None]:
    """r3 rejects the probes it would forward to the server, with `reject` (nft's words)."""
    table = (
        f"table {family} nlreject {{\n  chain f {{\n"
        "    type filter hook forward priority 0; policy accept;\n"
        f"    udp dport 33434-33534 reject with {reject}\n  }}\n}}\n"
    )
    lab.exec("r3", ["nft", "-f", "-"], input=table)
    try:
        yield
    finally:
        lab.exec("r3", ["nft", "delete", "table", family, "nlreject"], check=False)


# Every Destination Unreachable a Linux firewall can send, from a router (r3): traceroute's
# annotation, which netladder must print too.  Port unreachable has none: it is the normal end
# of a UDP trace, and from a router it means a firewall, which the verdict says.
@pytest.mark.parametrize(
    "version, reject, annotation",
    [
        (4, "icmp type port-unreachable", ""),
        (4, "icmp type net-unreachable", "!N"),
        (4, "icmp type host-unreachable", "!H"),
        (4, "icmp type prot-unreachable", "!P"),
        (4, "icmp type net-prohibited", "!X"),
        (4, "icmp type host-prohibited", "!X"),
        (4, "icmp type admin-prohibited", "!X"),
        (6, "icmpv6 type port-unreachable", ""),
        (6, "icmpv6 type no-route", "!N"),
        (6, "icmpv6 type admin-prohibited", "!X"),
        (6, "icmpv6 type addr-unreachable", "!H"),
        (6, "icmpv6 type policy-fail", "!<5>"),
        (6, "icmpv6 type reject-route", "!<6>"),
    ],
)
def test_an_icmp_error_from_a_router_is_annotated_as_traceroute_does(
    lab: Lab, version: int, reject: str, annotation: str
) -> None:
    with rejected_at_r3(lab, "ip" if version == 4 else "ip6", reject):
        doc = trace(lab, SERVER[version], code=1)
        text = lab.netladder("client", "trace", SERVER[version]).stdout
        theirs = traceroute_annotations(lab, SERVER[version])
    r3 = (HOPS4 if version == 4 else HOPS6)[2]
    assert (
        [hop for hop, _ in theirs]
        == addresses(doc)
        == [*(HOPS4 if version == 4 else HOPS6)[:3], r3]
    )
    assert theirs[-1][1] == [annotation] * 3
    last = doc["hops"][-1]["probes"]
    assert [p["annotation"] for p in last] == [annotation] * 3
    assert all(p["kind"] == "unreachable" for p in last) and not doc["reached"]
    assert text.splitlines()[4].count(" !") == (3 if annotation else 0)
    verdict = doc["verdict"]
    assert verdict["kind"] == "unreachable" and verdict["hop"] == 4
    if not annotation:
        assert (
            f"hop 4 ({r3}) answered port unreachable from a router, not the target"
            in verdict["text"]
        )


def test_max_ttl_below_the_destination_says_so(lab: Lab) -> None:
    doc = trace(lab, SERVER[4], "-m", "2", code=1)
    assert addresses(doc) == HOPS4[:2]
    assert doc["verdict"]["text"].startswith("the destination was not reached within 2 hops")


@pytest.mark.parametrize("proto", ["udp", "icmp", "tcp"])
def test_no_route_is_one_line_and_exit_1(lab: Lab, proto: str) -> None:
    lab.exec("client", ["ip", "route", "del", "default"])
    try:
        result = lab.netladder("client", "trace", SERVER[4], "--proto", proto)
    finally:
        lab.exec("client", ["ip", "route", "add", "default", "via", HOPS4[0]])
    assert result.returncode == 1 and result.stdout == ""
    assert (
        result.stderr.strip() == "netladder: cannot send to 198.51.100.10: Network is unreachable"
    )


def test_a_name_is_resolved_and_kept(lab: Lab) -> None:
    doc = trace(lab, "localhost", "-4")
    assert doc["target"] == "localhost" and doc["address"] == "127.0.0.1"
    assert doc["reached"] and doc["destination_hop"] == 1
    async_doc = json.loads(
        lab.exec("client", [sys.executable, "-c", ASYNC_API, "localhost"]).stdout
    )
    assert async_doc["target"] == "localhost" and async_doc["reached"]


def test_one_shot_does_not_wait_when_every_answer_is_in(lab: Lab) -> None:
    doc = trace(lab, SERVER[4])
    assert doc["elapsed_ms"] < 500  # the wait is 5 s; nothing was missing


@pytest.mark.parametrize(
    "args, needle",
    [
        (["300.1.2.3"], "invalid target"),
        (["bad host!"], "invalid target"),
        (["198.51.100.10", "-f", "10", "-m", "5"], "below first TTL"),
        (["198.51.100.10", "-m", "300"], "TTL out of range"),
        (["198.51.100.10", "--proto", "sctp"], "invalid choice"),
        (["198.51.100.10", "-p", "70000"], "port out of range"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], needle: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "netladder", "trace", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and needle in result.stderr


ASYNC_API = """
import asyncio, sys
from netladder import api
from netladder.api._trace import TraceOptions
from netladder.output import dump_json
from netladder.render.trace import sentence
result = asyncio.run(api.trace(TraceOptions(sys.argv[1], "icmp", queries=2)))
print(dump_json(result, sentence))
"""


def test_async_api_for_in_process_callers(lab: Lab) -> None:
    result = lab.exec("client", [sys.executable, "-c", ASYNC_API, SERVER[6]])
    doc = json.loads(result.stdout)
    assert addresses(doc) == HOPS6 and doc["reached"] and doc["queries"] == 2


def test_ctrl_c_prints_what_was_gathered(lab: Lab) -> None:
    counters = Counters(lab, "client")
    proc = lab.popen(
        "client",
        [sys.executable, "-m", "netladder", "trace", SERVER[4], "--cycles", "100", "-i", "0.05"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=restore_sigint,
    )
    # A cycle has reached the server (its port unreachable is in) and been read.
    wait_until("the server's answer", counters.grown(proc.pid, Icmp__InDestUnreachs=1))
    wait_idle(proc.pid)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert "Loss%" in out and "198.51.100.10" in out and "verdict:" in out


def test_ctrl_c_in_a_one_shot_trace_prints_the_hops_so_far(lab: Lab) -> None:
    with lab.fault(DropPort("server", 33434, "udp")):
        counters = Counters(lab, "client")
        proc = lab.popen(
            "client",
            [sys.executable, "-m", "netladder", "trace", SERVER[4], "-q", "1", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=restore_sigint,
        )
        # Hops 1-3 have answered (one time exceeded each) and been read; the silent ones
        # wait up to 5 s.
        wait_until("hops 1-3", counters.grown(proc.pid, Icmp__InTimeExcds=3))
        wait_idle(proc.pid)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    doc = json.loads(out)
    assert doc["interrupted"] and addresses(doc)[:3] == HOPS4[:3]
