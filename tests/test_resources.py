"""Bounded resources (issue 17 item 6): the largest jobs keep peak RSS and open descriptors
under fixed bounds, whatever their size.  The same measurements, beside nmap, fping and curl,
are the `resources_*` bench cases (bench/cases/resources.py), which hold the bounds.

RSS is the kernel's maxrss of the process and the children it waited for (wait4); open
descriptors are sampled every few milliseconds over the process tree (bench.harness.measure).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from bench.cases.resources import (
    BIG_PORT,
    FDS_BOUND,
    GIB,
    RSS_BOUND_KIB,
    SCAN_TARGETS,
    SCAN_THREE,
    start_big_server,
)
from bench.cases.sweep import sweep_argv
from bench.harness import Measurement, measure

from netladder.lab import Lab
from netladder.lab.topologies import sweep

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab(lab_ok: None) -> Iterator[Lab]:
    with Lab(sweep(), name="tres") as lab:
        yield lab


def run(lab: Lab, *argv: str) -> Measurement:
    return measure(["ip", "netns", "exec", lab.ns("client"), *argv])


def netladder(lab: Lab, *args: str) -> Measurement:
    return run(lab, sys.executable, "-m", "netladder", *args)


def test_three_full_range_scans_at_once_stay_bounded(lab: Lab) -> None:
    got = run(lab, sys.executable, "-c", SCAN_THREE, *SCAN_TARGETS)
    assert got.returncode == 0
    # Every port of the three addresses was answered: closed (the host has no listener).
    assert got.stdout.splitlines() == [f"{t} [('closed', 65535)]" for t in SCAN_TARGETS]
    assert got.maxrss_kib <= RSS_BOUND_KIB["scan"], got.maxrss_kib
    assert 0 < got.peak_fds <= FDS_BOUND["scan"], got.peak_fds


def test_a_slash_16_sweep_with_retries_stays_bounded(lab: Lab) -> None:
    got = run(lab, *sweep_argv(retries=1, timeout_ms=200, block="198.18.0.0/16"))
    assert got.returncode == 1  # the silent half
    assert len(got.stdout.split()) == 32767  # 198.18.0.1 .. 198.18.127.255 answer
    assert got.maxrss_kib <= RSS_BOUND_KIB["sweep"], got.maxrss_kib
    assert 0 < got.peak_fds <= FDS_BOUND["sweep"], got.peak_fds


def test_a_1_gib_get_is_read_to_its_end_in_the_memory_of_a_small_one(lab: Lab) -> None:
    url = f"http://{lab.addr('target')}:{BIG_PORT}/"
    stop = start_big_server(lab, size=GIB)
    try:
        big = netladder(
            lab, "http", "--get", "--json", "--max-body", str(2 * GIB), "--timeout", "120", url
        )
    finally:
        stop()
    stop = start_big_server(lab, size=1024)
    try:
        small = netladder(lab, "http", "--get", "--json", url)
    finally:
        stop()
    assert big.returncode == 0 and small.returncode == 0
    assert f'"body_bytes": {GIB}' in big.stdout and '"body_bytes": 1024' in small.stdout
    # The body's size is not in the memory: a 1 GiB body costs what a 1 KiB one does.
    assert big.maxrss_kib <= small.maxrss_kib + 8 * 1024, (big.maxrss_kib, small.maxrss_kib)
    assert big.maxrss_kib <= RSS_BOUND_KIB["http"], big.maxrss_kib
    assert 0 < big.peak_fds <= FDS_BOUND["http"], big.peak_fds
