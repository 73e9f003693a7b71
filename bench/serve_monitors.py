"""The memory of 1,000 monitors at 20 pings per round (SmokePing's 20 per 300 s): `netladder
serve` with 1,000 icmp monitors, or `prometheus-smokeping-prober` pinging the same 1,000
addresses every 15 s (the same rate), each for SETTLE seconds; then the resident set size
(VmRSS) and its peak (VmHWM) from /proc.  The targets are a 198.18.0.0/15 block that the node
answers itself (a `local` route on its loopback): every echo stays inside the lab node.

    python -m bench.serve_monitors netladder|smokeping [N] [SETTLE]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request


def _targets(n: int) -> list[str]:
    return [f"198.18.{i // 250}.{i % 250 + 1}" for i in range(n)]


def _status(pid: int) -> dict[str, int]:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


def main() -> int:
    which = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    settle = float(sys.argv[3]) if len(sys.argv) > 3 else 45.0
    targets = _targets(n)
    tmp = tempfile.mkdtemp(prefix="bench-monitors-")
    port = 19380
    if which == "netladder":
        config = os.path.join(tmp, "serve.yml")
        with open(config, "w") as f:
            f.write("modules: {icmp: {prober: icmp, timeout: 1s}}\nmonitors:\n")
            for i, t in enumerate(targets):
                f.write(f"  - {{name: m{i}, target: {t}, interval: 5m, pings: 20}}\n")
        netladder = os.path.join(os.path.dirname(sys.executable), "netladder")
        argv = [netladder, "serve", "--config", config, "--db", os.path.join(tmp, "h.db")]
        argv += ["--listen", f"127.0.0.1:{port}"]
        metric = "netladder_monitor_rounds_total"
    else:
        prober = shutil.which("prometheus-smokeping-prober")
        if prober is None:
            print("prometheus-smokeping-prober is missing", file=sys.stderr)
            return 3
        argv = [prober, f"--web.listen-address=127.0.0.1:{port}", "--ping.interval=15s"]
        argv += targets
        metric = "smokeping_requests_total"
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(settle)
        assert proc.poll() is None, f"{which} exited with {proc.returncode}"
        mem = _status(proc.pid)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
            text = r.read().decode()
        series = sum(1 for line in text.splitlines() if line.startswith(metric))
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        json.dumps(
            {
                "which": which,
                "n": n,
                "rss_kib": mem["VmRSS"],
                "hwm_kib": mem["VmHWM"],
                "series": series,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
