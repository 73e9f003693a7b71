"""Bounded resources (issue 17 item 6): peak RSS and open descriptors of the largest jobs —
full-range scans of three targets at once, a /16 sweep with retries, a 1 GiB GET — beside
nmap, fping and curl doing the same.  tests/test_resources.py asserts upper bounds on the
same measurements.

Every case passes when ours stays under its bounds (RSS_BOUND_KIB, FDS_BOUND); the anchors'
figures are printed beside for scale.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from bench.cases.sweep import sweep_argv
from bench.harness import Case, Measurement
from netladder.lab import Lab

# Three addresses of the sweep topology's target (it answers for 198.18.0.0/17 with a local
# route, so every address is the same host with every port closed).
SCAN_TARGETS = ("198.18.0.1", "198.18.0.2", "198.18.0.3")
SCAN_THREE = """
import asyncio, sys
from netladder.api import scan
from netladder.l4.model import ScanOptions
async def main():
    return await asyncio.gather(*(scan(ScanOptions(t, "1-65535")) for t in sys.argv[1:]))
for result in asyncio.run(main()):
    states = {}
    for group in result.not_shown:
        states[str(group.state)] = states.get(str(group.state), 0) + group.count
    for row in result.ports:
        states[str(row.state)] = states.get(str(row.state), 0) + 1
    print(result.target, sorted(states.items()))
"""
SWEEP_BLOCK = "198.18.0.0/16"  # half answers, half is silent: every silent one is retried

# A server for the 1 GiB GET: a sparse file on tmpfs sent with sendfile(2), so the server
# costs neither memory nor much CPU and the client's side is what is measured.
GIB = 1 << 30
BIG_PORT = 8080
BIG_SERVER = r"""
import os, socket, sys, tempfile
size, port = int(sys.argv[1]), int(sys.argv[2])
with tempfile.TemporaryFile(dir="/dev/shm") as body:
    body.truncate(size)
    listener = socket.create_server(("0.0.0.0", port), reuse_port=True)
    print("listening", flush=True)
    while True:
        conn, _ = listener.accept()
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                got = conn.recv(4096)
                if not got:
                    break
                request += got
            if not got:
                continue
            head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n" % size
            conn.sendall(head + b"Content-Type: application/octet-stream\r\n\r\n")
            if not request.startswith(b"HEAD "):
                offset = 0
                while offset < size:
                    offset += conn.sendfile(body, offset, size - offset) or 0
"""

# Upper bounds for ours: what tests/test_resources.py asserts and these cases check.
# Measured: scan 55 MiB / 18 fds, sweep 21 MiB / 8 fds, http 21 MiB (44 MiB with --json) / 7 fds.
RSS_BOUND_KIB = {"scan": 96 * 1024, "sweep": 48 * 1024, "http": 64 * 1024}
FDS_BOUND = {"scan": 64, "sweep": 32, "http": 32}


def start_big_server(lab: Lab, node: str = "target", size: int = GIB) -> Callable[[], None]:
    """Run BIG_SERVER on `node`; returns the function that stops it."""
    import subprocess

    proc = lab.popen(
        node,
        [sys.executable, "-c", BIG_SERVER, str(size), str(BIG_PORT)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "listening\n"

    def stop() -> None:
        proc.kill()
        proc.communicate()

    return stop


def _within(kind: str) -> Callable[[list[Measurement], list[Measurement]], bool]:
    def check(ours: list[Measurement], anchor: list[Measurement]) -> bool:
        return all(
            m.returncode in (0, 1)
            and m.maxrss_kib <= RSS_BOUND_KIB[kind]
            and m.peak_fds <= FDS_BOUND[kind]
            for m in ours
        )

    return check


def _figures(ours: list[Measurement], anchor: list[Measurement]) -> list[str]:
    def mib(ms: list[Measurement]) -> str:
        return f"{max(m.maxrss_kib for m in ms) / 1024:.1f} MiB" if ms else "-"

    def fds(ms: list[Measurement]) -> str:
        return str(max(m.peak_fds for m in ms)) if ms else "-"

    return [
        f"peak RSS ours {mib(ours)}, anchor {mib(anchor)}; peak fds ours {fds(ours)}, "
        f"anchor {fds(anchor)}"
    ]


def _big_url(lab: Lab | None) -> str:
    assert lab is not None
    return f"http://{lab.addr('target')}:{BIG_PORT}/"


CASES = [
    Case(
        name="resources_scan_3_full",
        topology="sweep",
        ours=lambda lab: [sys.executable, "-c", SCAN_THREE, *SCAN_TARGETS],
        anchor=lambda lab: ["nmap", "-n", "-Pn", "-sS", "-p-", *SCAN_TARGETS],
        runs=3,
        compare=_figures,
        check=_within("scan"),
        note="three full-range SYN scans at once in one process (netladder.api.scan), "
        "beside nmap -sS -p- over the same three addresses",
    ),
    Case(
        name="resources_sweep_16_retries",
        topology="sweep",
        ours=lambda lab: sweep_argv(retries=2, timeout_ms=300, block=SWEEP_BLOCK),
        anchor=lambda lab: [
            "fping",
            "-a",
            "-q",
            "-i",
            "0",
            "-r",
            "2",
            "-t",
            "300",
            "-g",
            SWEEP_BLOCK,
        ],
        runs=3,
        compare=_figures,
        check=_within("sweep"),
        note="a /16, half of it silent and retried twice, beside fping -r 2",
    ),
    Case(
        name="resources_http_1gib_get",
        topology="sweep",
        ours=lambda lab: [
            sys.executable,
            "-m",
            "netladder",
            "http",
            "--get",
            "--max-body",
            str(2 * GIB),
            "--timeout",
            "120",
            _big_url(lab),
        ],
        anchor=lambda lab: ["curl", "-s", "-o", "/dev/null", _big_url(lab)],
        runs=3,
        setup=start_big_server,
        compare=_figures,
        check=_within("http"),
        note="a 1 GiB body (Content-Length) read to its end, beside curl -o /dev/null",
    ),
]
