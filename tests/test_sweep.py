"""`netladder sweep` in the sweep lab (half of 198.18.0.0/16 answers), beside fping."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from bench.cases.sweep import sweep_argv
from bench.harness import measure

from netladder.lab import Lab
from netladder.lab.topologies import sweep

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


def test_per_target_summary_retries_and_totals_like_fping(sweep_lab: Lab) -> None:
    result = sweep_lab.netladder(
        "client",
        "sweep",
        "--timeout",
        "100",
        "--retries",
        "2",
        "198.18.0.1",
        "198.18.200.1",
        sweep_lab.addr("target"),
    )
    lines = result.stdout.splitlines()
    assert (
        lines[0].startswith("198.18.0.1")
        and " : xmt/rcv/%loss = 1/1/0%, min/avg/max = " in lines[0]
    )
    # A silent target: the first probe and two retries, then given up.
    assert lines[1].startswith("198.18.200.1") and lines[1].endswith(": xmt/rcv/%loss = 3/0/100%")
    assert "        3 targets" in result.stdout and "        2 alive" in result.stdout
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
        "import asyncio\nfrom netladder.l3.sweep import SweepOptions, sweep\n"
        "[r] = asyncio.run(sweep(['198.18.127.252/30', '198.18.130.1'],"
        " SweepOptions(retries=0, timeout_ms=200)))\n"
        "print(r.alive_count, len(r.targets), r.packets_sent, r.rtt_ms(0) is not None)\n"
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
