"""`forward proxy` beside socat (issue 6): a 1 GiB transfer through each, alternating runs, and
connections per second; CPU per GiB of each forwarder from its own accounting (/proc/PID/stat,
children included for socat, which forks per connection).

Everything runs on the loopback of lab node `a` (pair topology): a sink counts what it gets and
says the count back, so every run also proves the transfer was complete.  The harness times the
client process; the client is the same for both forwarders, so the ratio is the forwarders'.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable

from bench.harness import Case, Measurement
from netladder.lab import Lab

SINK_PORT, OURS_PORT, SOCAT_PORT = 9100, 9101, 9102
GIB = 1 << 30
CONNECTIONS = 2000

# Counts bytes until EOF, answers the count, closes; a thread per connection.
SINK = r"""
import socket, socketserver, sys
class H(socketserver.BaseRequestHandler):
    def handle(self):
        buf = bytearray(1 << 20); n = 0
        while True:
            k = self.request.recv_into(buf)
            if not k: break
            n += k
        self.request.sendall(str(n).encode())
class S(socketserver.ThreadingTCPServer):
    allow_reuse_address = True; daemon_threads = True; request_queue_size = 1024
S(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""

# Pushes N bytes, half-closes, checks the sink's count; prints the transfer time in ms.
PUSH = r"""
import socket, sys, time
port, total = int(sys.argv[1]), int(sys.argv[2])
chunk = memoryview(bytes(4 << 20))
s = socket.create_connection(("127.0.0.1", port))
t = time.perf_counter(); left = total
while left:
    n = min(left, len(chunk)); s.sendall(chunk[:n]); left -= n
s.shutdown(socket.SHUT_WR)
got = int(s.recv(64) or b"-1")
print(f"{(time.perf_counter() - t) * 1000:.1f}")
sys.exit(0 if got == total else 1)
"""

# N short connections (16 at a time): connect, one byte, half-close, read the count, close.
CONNS = r"""
import asyncio, sys, time
port, total = int(sys.argv[1]), int(sys.argv[2])
async def one():
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"x"); w.write_eof(); got = await r.read(); w.close()
    return got == b"1"
async def main():
    left = [total]; ok = [0]
    async def worker():
        while left[0] > 0:
            left[0] -= 1
            ok[0] += await one()
    t = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(16)))
    print(f"{total / (time.perf_counter() - t):.0f}")
    sys.exit(0 if ok[0] == total else 1)
asyncio.run(main())
"""

_PROCS: dict[str, subprocess.Popen[bytes]] = {}
_LAB: list[Lab] = []
_CPU0: dict[str, float] = {}


def _cpu_seconds(pid: int) -> float:
    """utime + stime + children's (reaped) utime + stime, from /proc/PID/stat."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))
    return ticks / os.sysconf("SC_CLK_TCK")


def _wait_port(lab: Lab, port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        probe = lab.exec(
            "a",
            [
                sys.executable,
                "-c",
                f"import socket; socket.create_connection(('127.0.0.1', {port}), 1).close()",
            ],
            check=False,
        )
        if probe.returncode == 0:
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def _setup(lab: Lab) -> Callable[[], None]:
    _LAB[:] = [lab]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    _PROCS["sink"] = lab.popen("a", [sys.executable, "-c", SINK, str(SINK_PORT)], **quiet)
    _PROCS["ours"] = lab.popen(
        "a",
        [
            sys.executable,
            "-m",
            "netladder",
            "forward",
            "proxy",
            f"127.0.0.1:{OURS_PORT}",
            f"127.0.0.1:{SINK_PORT}",
        ],
        **quiet,
    )
    _PROCS["socat"] = lab.popen(
        "a",
        [
            "socat",
            f"TCP-LISTEN:{SOCAT_PORT},fork,reuseaddr,bind=127.0.0.1,backlog=1024",
            f"TCP:127.0.0.1:{SINK_PORT}",
        ],
        **quiet,
    )
    for port in (SINK_PORT, OURS_PORT, SOCAT_PORT):
        _wait_port(lab, port)
    for name in ("ours", "socat"):
        _CPU0[name] = _cpu_seconds(_PROCS[name].pid)

    def undo() -> None:
        for proc in _PROCS.values():
            proc.terminate()
        for proc in _PROCS.values():
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        _PROCS.clear()

    return undo


def _throughput_notes(ours: list[Measurement], anchor: list[Measurement]) -> list[str]:
    lines = []
    transfers = len(ours) + 1  # the harness's warm-up run too
    for name, runs in (("ours", ours), ("socat", anchor)):
        ok = sum(m.returncode == 0 for m in runs)
        inner = sorted(float(m.stdout.strip() or "nan") for m in runs)
        median = inner[len(inner) // 2]
        cpu = _cpu_seconds(_PROCS[name].pid) - _CPU0[name]
        lines.append(
            f"{name:>5}: transfer {median:.0f} ms = {GIB / median / 1000 / 1e3:.2f} "
            f"GB/s (median), CPU {cpu / transfers:.2f} s per GiB, "
            f"{ok}/{len(runs)} byte-exact"
        )
    return lines


def _conns_notes(ours: list[Measurement], anchor: list[Measurement]) -> list[str]:
    lines = []
    for name, runs in (("ours", ours), ("socat", anchor)):
        rates = sorted(float(m.stdout.strip() or "nan") for m in runs)
        lines.append(
            f"{name:>5}: {rates[len(rates) // 2]:.0f} connections/s (median, "
            f"16 concurrent, {CONNECTIONS} per run)"
        )
    # The same client straight to the sink: the ceiling this machine allows for both.
    direct = (
        _LAB[0]
        .exec("a", [sys.executable, "-c", CONNS, str(SINK_PORT), str(CONNECTIONS)], check=False)
        .stdout.strip()
    )
    lines.append(f"direct (no forwarder): {direct} connections/s")
    return lines


CASES = [
    Case(
        name="forward_proxy_1gib",
        ours=lambda lab: [sys.executable, "-c", PUSH, str(OURS_PORT), str(GIB)],
        anchor=lambda lab: [sys.executable, "-c", PUSH, str(SOCAT_PORT), str(GIB)],
        topology="pair",
        node="a",
        runs=5,
        max_ratio=1.0,
        setup=_setup,
        compare=_throughput_notes,
        note="anchor: socat TCP-LISTEN:...,fork,reuseaddr TCP:... on the same loopback; "
        "time = the client pushing 1 GiB and reading the sink's byte count",
    ),
    Case(
        name="forward_proxy_connections",
        ours=lambda lab: [sys.executable, "-c", CONNS, str(OURS_PORT), str(CONNECTIONS)],
        anchor=lambda lab: [sys.executable, "-c", CONNS, str(SOCAT_PORT), str(CONNECTIONS)],
        topology="pair",
        node="a",
        runs=3,
        setup=_setup,
        compare=_conns_notes,
        note="connections per second through each forwarder (reported, no target)",
    ),
]
