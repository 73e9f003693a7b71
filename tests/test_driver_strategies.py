"""The driver's speed strategies on loopback (issue 14 §1.7; root: a raw ICMP socket): a
parallel SendBurst forks one helper under the CLI's SelectReactor and none under asyncio, every
datagram carries the clock reading taken right before its own send, and bulk receive stamps
nothing later than the moment it was read.

Each case runs in a fresh interpreter: whether forking is safe depends on the threads alive in
the process (the test runner's own may hold lookups), and the count of forks must be its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="a raw ICMP socket needs root")

FLOOD = r"""
import asyncio, json, os, signal, struct, sys, time
from netladder.net.driver import blocking, run
from netladder.net.session import ChannelSpec, SendBurst, Session, Step
from netladder.proto.icmp import EchoTemplate

N = int(sys.argv[2])
INTERRUPT = sys.argv[3:] == ["interrupt"]
forks = []
real_fork = os.fork
def fork():
    pid = real_fork()
    if pid:
        forks.append(pid)
        if INTERRUPT:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C the moment the helper exists
    return pid
os.fork = fork

class Flood(Session):
    # Echo requests to 127.0.0.0/8 (every address there is this host's), k's index and send
    # time in its data; the kernel answers each.
    channels = (ChannelSpec("icmp", 4, prefer="raw", fast=True, recv_ttl=False,
                            rcvbuf=16 << 20, rcvbuf_force=True),)

    def __init__(self):
        self.stamps = [0] * N
        self.errors = 0
        self.told = 0
        self.seen = {}
        self.late = 0  # replies stamped after the moment they were handed over
        self.asked = False
        self.ends = None
        self.templates = {}

    def bind(self, opened):
        self.ident = 0x5151

    def build(self, k, now, ip_header):
        t = self.templates.get(ip_header)
        if t is None:
            t = self.templates[ip_header] = EchoTemplate(
                4, self.ident, b"STRATEGY", 24, ip_header=ip_header)
        dst = 0x7F000001 + 256 + k
        struct.pack_into("!Iq", t.packet, t.data_offset + 8, k, now)
        return t.fill(k, dst), (f"127.{dst >> 16 & 255}.{dst >> 8 & 255}.{dst & 255}", 0)

    def sent(self, k, at, error):
        self.stamps[k] = at
        self.told += 1
        self.errors += error is not None

    def poll(self, now):
        if not self.asked:
            self.asked = True
            return Step((SendBurst(0, self, 0, N, parallel=True),), now)
        if self.told == N and self.ends is None:
            self.ends = now + 2_000_000_000
        if self.told == N and (len(self.seen) == N or now >= self.ends):
            return Step((), None, (), True)
        return Step((), now + 10_000_000)

    def on_packets(self, channel, packets):
        now = time.monotonic_ns()
        for data, stamp, source in packets:
            off = (data[0] & 15) * 4
            if data[off] != 0 or data[off + 8: off + 16] != b"STRATEGY":
                continue
            k, sent_at = struct.unpack_from("!Iq", data, off + 16)
            self.seen[k] = (sent_at, stamp)
            self.late += stamp > now

    def result(self):
        return self

def reaped(pid):
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True  # the driver stopped and reaped it
    return False  # still this process's child: nobody stopped it

flood = Flood()
if sys.argv[1] == "select":
    interrupted = blocking(run([flood]))
else:
    interrupted = asyncio.run(run([flood]))
print(json.dumps({
    "forks": len(forks), "interrupted": interrupted, "reaped": all(map(reaped, forks)),
    "told": flood.told, "errors": flood.errors, "late": flood.late,
    "distinct": len(set(flood.stamps)), "replies": len(flood.seen),
    "own": sum(flood.stamps[k] == sent for k, (sent, _) in flood.seen.items()),
    "after": sum(stamp >= sent for sent, stamp in flood.seen.values()),
}))
"""


def flood(reactor: str, n: int, *how: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", FLOOD, reactor, str(n), *how],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    found: dict[str, Any] = json.loads(proc.stdout)
    return found


@pytest.mark.parametrize(("reactor", "forks"), [("select", 1), ("asyncio", 0)])
def test_a_parallel_burst_forks_one_helper_under_the_cli_reactor_only(
    reactor: str, forks: int
) -> None:
    if forks and len(os.sched_getaffinity(0)) < 2:
        pytest.skip("a helper sender needs a second CPU")
    got = flood(reactor, 8192)
    assert got["forks"] == forks
    # Every datagram told to its burst once, each with a stamp of its own ...
    assert got["told"] == 8192 and got["errors"] == 0 and got["distinct"] == 8192
    # ... the one it carried (the helper's too), and the kernel answered them, each reply
    # stamped no later than when it was read.
    assert got["replies"] == got["own"] == got["after"] > 8192 * 0.9
    assert got["late"] == 0


def test_a_small_burst_is_not_worth_a_process() -> None:
    got = flood("select", 200)
    assert got["forks"] == 0 and got["told"] == 200 and got["distinct"] == 200


def test_ctrl_c_the_moment_the_helper_is_forked_still_stops_and_reaps_it() -> None:
    # The interrupt lands between the fork and the driver's note of the helper: it must wait
    # until the helper is on the list that close() stops, or the helper outlives the run.
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("a helper sender needs a second CPU")
    got = flood("select", 8192, "interrupt")
    assert got["forks"] == 1 and got["interrupted"] and got["reaped"]
    assert got["told"] == 8192  # what the helper never sent is told too (ECANCELED)
