"""`netladder sweep` in the sweep lab (half of 198.18.0.0/16 answers), beside fping."""

from __future__ import annotations

import json
import re
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bench.cases.sweep import sweep_argv
from bench.harness import measure

from netladder.lab import Lab, Link, Node, Topology
from netladder.lab.topologies import sweep
from waiting import Counters, restore_sigint, wait_idle, wait_until

ALIVE_BLOCK = "198.18.127.0/24"  # inside the target's local /17
SILENT_BLOCK = "198.18.128.0/24"  # the other half: dropped without a word


@pytest.fixture(scope="module")
def sweep_lab(lab_ok: None) -> Iterator[Lab]:
    with Lab(sweep(), name="tsweep") as lab:
        yield lab


def test_alive_set_equals_fpings_over_a_lab_block(sweep_lab: Lab) -> None:
    mine = sweep_lab.netladder(
        "client",
        "sweep",
        "--alive",
        "--rate",
        "0",
        "--retries",
        "0",
        "--timeout",
        "800",
        ALIVE_BLOCK,
        SILENT_BLOCK,
    )
    theirs = sweep_lab.exec(
        "client", ["fping", "-a", "-i", "0", "-r", "0", "-t", "800", "-g", ALIVE_BLOCK], check=False
    )
    theirs2 = sweep_lab.exec(
        "client",
        ["fping", "-a", "-i", "0", "-r", "0", "-t", "800", "-g", SILENT_BLOCK],
        check=False,
    )
    fping_alive = theirs.stdout.split() + theirs2.stdout.split()
    assert mine.returncode == 1  # some unreachable, like fping
    assert mine.stdout.split() == fping_alive
    assert len(fping_alive) == 254
    assert "254 alive" in mine.stderr and "254 unreachable" in mine.stderr


def test_default_output_retries_and_totals_like_fping(sweep_lab: Lab) -> None:
    targets = ["198.18.0.1", "198.18.200.1", sweep_lab.addr("target")]
    result = sweep_lab.netladder("client", "sweep", "--timeout", "100", "--retries", "2", *targets)
    theirs = sweep_lab.exec("client", ["fping", "-t", "100", "-r", "2", *targets], check=False)
    # fping's default (verbose) output: the alive, then the unreachable.
    assert (
        result.stdout
        == theirs.stdout
        == (f"198.18.0.1 is alive\n{targets[2]} is alive\n198.18.200.1 is unreachable\n")
    )
    assert result.returncode == theirs.returncode == 1
    # The totals (fping -s) on stderr: a silent target costs the first probe and two retries.
    assert "        3 targets" in result.stderr and "        2 alive" in result.stderr
    assert "        5 ICMP Echos sent" in result.stderr


def test_count_mode_prints_fpings_per_target_summary(sweep_lab: Lab) -> None:
    result = sweep_lab.netladder(
        "client", "sweep", "--count", "2", "--period", "50", "198.18.0.1", "198.18.200.1"
    )
    lines = result.stdout.splitlines()
    assert lines[0].startswith("198.18.0.1   : xmt/rcv/%loss = 2/2/0%, min/avg/max = ")
    assert lines[1] == "198.18.200.1 : xmt/rcv/%loss = 2/0/100%"
    assert result.returncode == 1


def test_count_mode_json(sweep_lab: Lab) -> None:
    result = sweep_lab.netladder(
        "client",
        "sweep",
        "--json",
        "--count",
        "3",
        "--period",
        "50",
        "198.18.5.0/30",
        "198.18.129.1",
    )
    doc: dict[str, Any] = json.loads(result.stdout)
    by_address = {t["address"]: t for t in doc["targets"]}
    assert set(by_address) == {"198.18.5.1", "198.18.5.2", "198.18.129.1"}
    assert by_address["198.18.5.1"]["sent"] == by_address["198.18.5.1"]["received"] == 3
    assert by_address["198.18.5.1"]["min_ms"] <= by_address["198.18.5.1"]["avg_ms"]
    assert by_address["198.18.129.1"]["received"] == 0
    assert by_address["198.18.129.1"]["loss_percent"] == 100.0
    assert doc["totals"]["alive"] == 2 and doc["totals"]["sent"] == 9


def test_ipv6_list(sweep_lab: Lab) -> None:
    result = sweep_lab.netladder(
        "client",
        "sweep",
        "--alive",
        "--retries",
        "0",
        # The first echo waits for neighbour discovery on the way; on a busy machine that
        # alone can take longer than fping's 500 ms default.
        "--timeout",
        "3000",
        sweep_lab.addr("target", 6),
        "2001:db8:200::99",
    )
    assert result.stdout.split() == [sweep_lab.addr("target", 6)]


def test_a_slash_16_needs_no_task_per_host(sweep_lab: Lab) -> None:
    # 65534 targets, half silent, at full speed: flat memory (maxrss of the run).  Measured as
    # the bench does: a maxrss read inside the command would include the test runner's size,
    # which the command inherits until its exec.
    got = measure(
        ["ip", "netns", "exec", sweep_lab.ns("client"), *sweep_argv(retries=0, timeout_ms=500)]
    )
    assert len(got.stdout.split()) == 32767
    assert got.maxrss_kib < 80_000


def _interrupted(lab: Lab, proc: subprocess.Popen[str]) -> tuple[str, str, dict[str, int]]:
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    totals = {
        " ".join(line.split()[1:]): int(line.split()[0])
        for line in err.splitlines()
        if line.strip() and line.split()[0].isdigit()
    }
    return out, err, totals


def _start_block_sweep(lab: Lab) -> subprocess.Popen[str]:
    # A long timeout: the run is still waiting for its last answers when it is interrupted.
    argv = sweep_argv(retries=0, timeout_ms=20_000)
    return lab.popen(
        "client", argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=restore_sigint,
    )  # fmt: skip


def test_ctrl_c_while_the_helper_sends_stops_it_and_prints_what_was_gathered(
    sweep_lab: Lab,
) -> None:
    proc = _start_block_sweep(sweep_lab)
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    helpers: list[str] = []

    def helper_runs() -> bool:
        helpers.extend(children.read_text().split())
        return bool(helpers)

    wait_until("the helper sender runs", helper_runs)
    out, _err, totals = _interrupted(sweep_lab, proc)
    assert not any(Path(f"/proc/{pid}").exists() for pid in helpers)  # stopped and reaped
    assert totals["targets"] == 65534
    assert totals["alive"] == len(out.split()) == totals["ICMP Echo Replies received"]
    assert totals["alive"] <= totals["ICMP Echos sent"] <= 65534


def test_ctrl_c_while_waiting_for_the_last_timeouts_keeps_every_answer(sweep_lab: Lab) -> None:
    counters = Counters(sweep_lab, "client")
    proc = _start_block_sweep(sweep_lab)
    wait_until("every alive host answered", counters.grown(proc.pid, Icmp__InEchoReps=32767))
    wait_idle(proc.pid)
    started = time.monotonic()
    out, _err, totals = _interrupted(sweep_lab, proc)
    assert len(out.split()) == totals["alive"] == 32767
    assert totals["ICMP Echos sent"] == 65534 and totals["unreachable"] == 32767
    assert time.monotonic() - started < 10  # it did not wait out the 20 s timeouts


@pytest.mark.usefixtures("lab_ok")
@pytest.mark.parametrize(
    "args",
    [
        ["198.18.0.0/33"],
        ["not-a-cidr/8"],
        ["--count", "0", "198.18.0.1"],
        ["--timeout", "-5", "198.18.0.1"],
        ["--rate", "nan", "198.18.0.1"],
        ["no-such-host.invalid"],
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "netladder", "sweep", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_programmatic_api(sweep_lab: Lab) -> None:
    code = (
        "import asyncio\nfrom netladder import api\n"
        "from netladder.l3.sweep_model import SweepOptions\n"
        "found = asyncio.run(api.sweep(SweepOptions(('198.18.127.252/30', '198.18.130.1'),"
        " retries=0, timeout=0.2)))\n"
        "[r] = found.results\n"
        "print(r.alive_count, len(r.targets), r.packets_sent, r.rtt(0) is not None)\n"
    )
    result = sweep_lab.exec("client", [sys.executable, "-c", code], check=False)
    assert result.stdout.split() == ["2", "3", "3", "True"], result.stderr


def test_unprivileged_sweep_uses_the_datagram_socket_or_exits_3(sweep_lab: Lab) -> None:
    argv = [
        "setpriv",
        "--inh-caps=-all",
        "--bounding-set=-all",
        sys.executable,
        "-m",
        "netladder",
        "sweep",
        "--json",
        "--retries",
        "0",
        "--timeout",
        "200",
        "198.18.3.0/30",
        "198.18.140.1",
    ]
    denied = sweep_lab.exec("client", argv, check=False)
    assert denied.returncode == 3 and "ping_group_range" in denied.stderr
    sweep_lab.exec("client", ["sysctl", "-qw", "net.ipv4.ping_group_range=0 2147483647"])
    try:
        allowed = sweep_lab.exec("client", argv, check=False)
    finally:
        sweep_lab.exec("client", ["sysctl", "-qw", "net.ipv4.ping_group_range=1 0"])
    doc = json.loads(allowed.stdout)
    assert doc["totals"]["alive"] == 2 and doc["totals"]["unreachable"] == 1


ROUTER_ERRORS_SPENT: list[float] = []  # when each case below last drew on r1's error bucket


@pytest.mark.parametrize("socket_kind", ["raw", "dgram"])
def test_router_errors_are_counted_per_target(chain_lab: Lab, socket_kind: str) -> None:
    # r1 has no route to 198.51.100.200/.201: each probe comes back as Net Unreachable — but
    # r1 allows a source 5 such errors at once, then 1 per second (ip_error): whichever case
    # runs second (the order is random) waits for the bucket the first one drew from.
    if ROUTER_ERRORS_SPENT:
        time.sleep(max(0.0, ROUTER_ERRORS_SPENT[-1] + 2.5 - time.monotonic()))
    chain_lab.exec("client", ["sysctl", "-qw", "net.ipv4.ping_group_range=0 2147483647"])
    try:
        result = chain_lab.netladder(
            "client",
            "sweep",
            "--json",
            "--socket",
            socket_kind,
            "--retries",
            "0",
            "--timeout",
            "200",
            "198.51.100.200",
            "198.51.100.201",
            "198.51.100.10",
        )
    finally:
        ROUTER_ERRORS_SPENT.append(time.monotonic())
        chain_lab.exec("client", ["sysctl", "-qw", "net.ipv4.ping_group_range=1 0"])
    doc: dict[str, Any] = json.loads(result.stdout)
    by_address = {t["address"]: t for t in doc["targets"]}
    for dead in ("198.51.100.200", "198.51.100.201"):
        assert by_address[dead]["alive"] is False and by_address[dead]["errors"] >= 1
        assert by_address[dead]["last_error"] == "Destination Net Unreachable"
    assert by_address["198.51.100.10"]["alive"] and by_address["198.51.100.10"]["errors"] == 0


# -- fping exactness (issue 13, items 19 and 27) ---------------------------------------------

FAR = "198.51.100.10"  # three hops from the client: r1, r2, far
NO_ROUTE = "198.51.100.200"  # r1 has no route: Destination Net Unreachable from r1


def three_hops() -> Topology:
    """client — r1 — r2 — far, with no relay on the way (a userspace relay's hop would swamp
    RTTs of a few tens of µs); the client knows far as far.lab from its hosts file only."""
    return Topology(
        "l3sweep",
        nodes=(
            Node(
                "client",
                etc={
                    "hosts": f"127.0.0.1 localhost\n{FAR} far.lab\n",
                    "nsswitch.conf": "hosts: files\n",  # no DNS: an unknown name fails at once
                },
            ),
            Node("r1", "router"),
            Node("r2", "router"),
            Node("far"),
        ),
        links=(
            Link("r1", "client", "203.0.113.0/30"),
            Link("r1", "r2", "203.0.113.4/30"),
            Link("r2", "far", "198.51.100.8/30"),
        ),
    )


@pytest.fixture(scope="module")
def hops_lab(lab_ok: None) -> Iterator[Lab]:
    with Lab(three_hops(), name="l3sweep") as lab:
        yield lab


def _fping_samples(stderr: str, host: str) -> list[float]:
    """`fping -C`'s last block: `host : 0.071 0.068 -`."""
    for line in stderr.splitlines():
        name, _, values = line.partition(" : ")
        if name.strip() == host:
            return [float(v) for v in values.split() if v != "-"]
    raise AssertionError(stderr)


def test_a_host_three_hops_away_listed_second_reads_what_fping_and_ping_read(
    hops_lab: Lab,
) -> None:
    """Each probe's RTT is its own and does not depend on where the target is listed.  A probe
    sent right behind another finds the kernel's path warm and reads several times faster
    (the far host at 0.02 ms behind another target, 0.07 alone), so probes are spaced as
    fping spaces them (10 ms)."""
    first = "203.0.113.1"
    mine = hops_lab.netladder(
        "client", "sweep", "--json", "--count", "20", "--period", "100", first, FAR, FAR
    )
    doc: dict[str, Any] = json.loads(mine.stdout)
    second, third = doc["targets"][1], doc["targets"][2]
    assert second["address"] == third["address"] == FAR
    assert second["received"] == third["received"] == 20
    fping = hops_lab.exec(
        "client", ["fping", "-q", "-C", "20", "-p", "100", first, FAR], check=False
    )
    ping = hops_lab.exec("client", ["ping", "-n", "-c", "20", "-i", "0.1", FAR], check=False)
    ping_avg = float(re.search(r"= [\d.]+/([\d.]+)/", ping.stdout)[1])  # type: ignore[index]
    fping_median = statistics.median(_fping_samples(fping.stderr, FAR))
    evidence = (second, third, fping.stderr, ping.stdout)
    # The same host listed twice reads the same (when sent back to back, the copy behind
    # read ~5x less) ...
    assert 0.6 < third["avg_ms"] / second["avg_ms"] < 1 / 0.6, evidence
    # ... and about what the anchors read (load inflates RTTs; the mistake deflated them).
    assert second["avg_ms"] >= 0.5 * min(fping_median, ping_avg), evidence


SNIFFER = r"""
import socket, struct, sys, select
iface, want = sys.argv[1], int(sys.argv[2])
# ETH_P_ALL: outgoing frames reach only the taps that take every protocol.
s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(3))
s.bind((iface, 3))
s.setsockopt(socket.SOL_SOCKET, 35, 1)  # SO_TIMESTAMPNS: the kernel's time for each frame
print("ready", flush=True)
stamps = []
while len(stamps) < want and select.select([s], [], [], 30)[0]:
    data, ancillary, _flags, address = s.recvmsg(2048, 64)
    # Outgoing (PACKET_OUTGOING) IPv4 ICMP echo requests only.
    if address[1] != 0x0800 or address[2] != 4 or data[9] != 1:
        continue
    if data[(data[0] & 15) * 4] != 8:
        continue
    seconds, nanos = struct.unpack("=qq", ancillary[0][2][:16])
    stamps.append(seconds * 10**9 + nanos)
print(" ".join(map(str, stamps)))
"""


def test_rate_spaces_every_probe_even_after_waiting_for_the_period(hops_lab: Lab) -> None:
    """--rate 50 is a probe every 20 ms at most, as fping -i 20: when a round waits for the
    period, the next one must not go out in a burst to catch up."""
    targets = ["203.0.113.1", "203.0.113.5", "203.0.113.6", FAR]
    count = 3
    sniffer = hops_lab.popen(
        "client",
        [
            sys.executable,
            "-c",
            SNIFFER,
            hops_lab.iface("client", "r1"),
            str(count * len(targets)),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sniffer.stdout is not None and sniffer.stdout.readline() == "ready\n"
        result = hops_lab.netladder(
            "client",
            "sweep",
            "--count",
            str(count),
            "--period",
            "100",
            "--rate",
            "50",
            *targets,
        )
        assert result.returncode == 0, result.stderr
        out, _ = sniffer.communicate(timeout=60)
    finally:
        sniffer.kill()
    stamps = [int(v) for v in out.split()]
    assert len(stamps) == count * len(targets)
    gaps_ms = [(b - a) / 1e6 for a, b in zip(stamps, stamps[1:], strict=False)]
    # 20 ms apart at least (half of it allowed for a preempted sender on a loaded machine).
    assert min(gaps_ms) >= 10, gaps_ms


def test_an_unresolvable_name_is_named_and_the_others_probed_then_exit_2_like_fping(
    hops_lab: Lab,
) -> None:
    targets = ["far.lab", "nosuch.lab", "203.0.113.1"]
    mine = hops_lab.netladder("client", "sweep", *targets)
    theirs = hops_lab.exec("client", ["fping", *targets], check=False)
    assert mine.returncode == theirs.returncode == 2
    assert mine.stdout == theirs.stdout == "far.lab is alive\n203.0.113.1 is alive\n"
    assert theirs.stderr == "nosuch.lab: Name or service not known\n"
    assert mine.stderr.splitlines()[0] == "nosuch.lab: Name or service not known"
    doc = json.loads(hops_lab.netladder("client", "sweep", "--json", *targets).stdout)
    assert doc["unresolved"] == [{"target": "nosuch.lab", "reason": "Name or service not known"}]
    assert [t["target"] for t in doc["targets"]] == ["far.lab", "203.0.113.1"]
    # Nothing left to probe: exit 2 at once, as fping.
    alone = hops_lab.netladder("client", "sweep", "nosuch.lab")
    assert alone.returncode == 2 and alone.stdout == ""


def test_a_range_is_every_address_from_a_to_b_like_fping_g_start_end(hops_lab: Lab) -> None:
    # r1's far side (.5) and r2 (.6) answer; .7 is that link's broadcast: nobody answers.
    mine = hops_lab.netladder(
        "client", "sweep", "--retries", "0", "--timeout", "300", "203.0.113.5-203.0.113.7"
    )
    theirs = hops_lab.exec(
        "client",
        ["fping", "-r", "0", "-t", "300", "-g", "203.0.113.5", "203.0.113.7"],
        check=False,
    )
    assert (
        mine.stdout
        == theirs.stdout
        == ("203.0.113.5 is alive\n203.0.113.6 is alive\n203.0.113.7 is unreachable\n")
    )
    assert mine.returncode == theirs.returncode == 1


def test_icmp_errors_are_shown_per_target_like_fping(hops_lab: Lab) -> None:
    """One line per ICMP error on stderr, in fping's words.  (r1 sends "no route" errors to a
    source 5 at once, then 1/s: these two runs need 2.)"""
    args = ["-r", "0", "-t", "300"]
    mine = hops_lab.netladder(
        "client", "sweep", "--retries", "0", "--timeout", "300", NO_ROUTE, "203.0.113.1"
    )
    theirs = hops_lab.exec("client", ["fping", *args, NO_ROUTE, "203.0.113.1"], check=False)
    line = f"ICMP Network Unreachable from 203.0.113.1 for ICMP Echo sent to {NO_ROUTE}"
    assert theirs.stderr.splitlines() == [line]
    assert [s for s in mine.stderr.splitlines() if s.startswith("ICMP ")] == [line]
    assert mine.stdout == theirs.stdout
    assert mine.returncode == theirs.returncode == 1


def test_a_probe_the_kernel_refuses_to_send_is_named_like_fping(hops_lab: Lab) -> None:
    """The client link's broadcast address: the kernel refuses the send (EACCES).  That is
    no ICMP error, and fping says which it is."""
    broadcast = "203.0.113.3"
    mine = hops_lab.netladder(
        "client", "sweep", "--retries", "0", "--timeout", "300", broadcast, "203.0.113.1"
    )
    theirs = hops_lab.exec(
        "client", ["fping", "-r", "0", "-t", "300", broadcast, "203.0.113.1"], check=False
    )
    line = f"{broadcast}: error while sending ping: Permission denied"
    assert theirs.stderr.splitlines() == [line]
    assert mine.stderr.splitlines()[0] == line
    assert "        0 targets with ICMP errors" in mine.stderr
    assert mine.stdout == theirs.stdout
    assert mine.returncode == theirs.returncode == 1


def test_a_scoped_link_local_target_keeps_its_scope_like_fping(chain_lab: Lab) -> None:
    iface = chain_lab.iface("client", "r1")
    link = chain_lab.iface("r1", "client")
    out = chain_lab.exec("r1", ["ip", "-6", "-j", "addr", "show", "dev", link]).stdout
    router = next(
        a["local"] for a in json.loads(out)[0]["addr_info"] if a["local"].startswith("fe80")
    )
    target = f"{router}%{iface}"
    mine = chain_lab.netladder("client", "sweep", "--retries", "0", target)
    theirs = chain_lab.exec("client", ["fping", "-r", "0", target], check=False)
    assert mine.stdout == theirs.stdout == f"{target} is alive\n"
    assert mine.returncode == theirs.returncode == 0


@pytest.mark.parametrize("size", [57, 21, 1401])
def test_an_odd_size_reads_the_same_hosts_alive_as_fping(sweep_lab: Lab, size: int) -> None:
    # An odd echo size ends the ICMP checksum on a padded half word (RFC 1071): once computed
    # without the pad, every request went out with a checksum the host's kernel drops.
    targets = ["198.18.0.1", sweep_lab.addr("target"), "198.18.200.1"]
    mine = sweep_lab.netladder(
        "client", "sweep", "--alive", "--size", str(size), "--timeout", "300", *targets
    )
    theirs = sweep_lab.exec(
        "client", ["fping", "-a", "-b", str(size), "-t", "300", *targets], check=False
    )
    assert mine.stdout.split() == theirs.stdout.split() == targets[:2]
    assert mine.returncode == theirs.returncode == 1
