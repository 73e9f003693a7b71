"""Load for the serve benchmark: start an exporter (netladder serve or blackbox_exporter) on
one module file, send it PROBES /probe requests from CONCURRENCY kept-alive connections (as
Prometheus scrapes), and print one JSON line: probes per second over the probing alone (the
exporter's start-up excluded), the p99 probe duration, how many probes succeeded, and the
exporter's CPU time per probe.

    python -m bench.serve_load EXPORTER MODULE TARGET PROBES CONCURRENCY [WORKERS]

WORKERS: netladder's --workers (blackbox runs its probes on every core by itself).  The CPU
time per probe counts every process of the exporter.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from urllib.parse import quote

from netladder.proto import http1

MODULES = """\
modules:
  http_2xx: {prober: http, timeout: 5s}
  tcp_connect: {prober: tcp, timeout: 5s}
  icmp: {prober: icmp, timeout: 5s}
"""


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads) and of its children (the workers of
    netladder serve --workers), from /proc."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = [int(c) for c in f.read().split()]
    except OSError:
        children = []
    total = 0
    for each in (pid, *children):
        try:
            with open(f"/proc/{each}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # a worker that ended meanwhile
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _one(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str
) -> tuple[float, bool]:
    started = time.perf_counter()
    writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
    buf = bytearray()
    scanner = http1.HeadScanner()
    while (end := scanner.feed(buf)) is None:
        chunk = await reader.read(65536)
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    head = http1.parse_head(buf[:end])
    length = http1.content_length(head)
    body = bytes(buf[end:])
    if length is None:  # chunked (Go): read to the terminating chunk
        decoder = http1.ChunkedDecoder()
        data = decoder.feed(body)
        while not decoder.done:
            data += decoder.feed(await reader.read(65536))
        body = data
    else:
        while len(body) < length:
            body += await reader.read(length - len(body))
    return time.perf_counter() - started, b"\nprobe_success 1\n" in body


async def _load(port: int, path: str, probes: int, concurrency: int) -> dict[str, float]:
    durations: list[float] = []
    ok = 0
    left = probes

    async def worker() -> None:
        nonlocal left, ok
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while left > 0:
            left -= 1
            took, success = await _one(reader, writer, path)
            durations.append(took)
            ok += success
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    durations.sort()
    return {
        "probes": len(durations),
        "seconds": elapsed,
        "per_second": len(durations) / elapsed,
        "p99_ms": durations[int(len(durations) * 0.99) - 1] * 1000,
        "success": ok,
    }


def main(argv: list[str]) -> int:
    exporter, module, target, probes, concurrency = argv[:5]
    workers = argv[5] if len(argv) > 5 else "1"
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "modules.yml")
        with open(config, "w") as f:
            f.write(MODULES)
        if exporter == "netladder":
            cmd = [sys.executable, "-m", "netladder", "serve", "--config", config]
            cmd += ["--listen", f"127.0.0.1:{port}", "--workers", workers]
        else:
            binary = shutil.which("prometheus-blackbox-exporter") or "blackbox_exporter"
            cmd = [binary, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}"]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            if exporter == "netladder":
                # Ready when it says it listens: after every worker of --workers answers.
                assert proc.stderr is not None
                for line in proc.stderr:
                    if b"listening on" in line:
                        break
                else:
                    raise SystemExit(f"{exporter} did not start")
                # Its later lines are read (and dropped) so that it never blocks on them.
                threading.Thread(target=proc.stderr.read, daemon=True).start()
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), 0.5).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise SystemExit(f"{exporter} did not start") from None
                    time.sleep(0.02)
            path = f"/probe?module={module}&target={quote(target, safe='')}"
            cpu = _cpu_seconds(proc.pid)
            result = asyncio.run(_load(port, path, int(probes), int(concurrency)))
            # The exporter's own CPU per probe (every thread, user and system): on a shared
            # machine this moves far less than probes per second do.
            cpu = _cpu_seconds(proc.pid) - cpu
            result["cpu_ms_per_probe"] = cpu * 1000 / result["probes"]
        finally:
            proc.terminate()
            proc.wait(10)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
