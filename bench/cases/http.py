"""`netladder http` (issue 7): cold start beside `curl -I`, and per-phase agreement with
`curl -w` over 20 runs against the chain lab's HTTP server."""

from __future__ import annotations

import json
import statistics
import sys

from bench.harness import Case, Measurement
from netladder.lab import Lab

SERVER = "198.51.100.10"
PHASES = ("dns", "tcp", "tls", "server", "transfer")
CURL_W = (
    '{"namelookup": %{time_namelookup}, "connect": %{time_connect}, '
    '"pretransfer": %{time_pretransfer}, "starttransfer": %{time_starttransfer}, '
    '"total": %{time_total}}'
)


def _phases(p: dict[str, float]) -> dict[str, float]:
    """httpstat's phases from curl's cumulative points (ms)."""
    return {
        "dns": p["namelookup"],
        "tcp": p["connect"] - p["namelookup"],
        "tls": p["pretransfer"] - p["connect"],
        "server": p["starttransfer"] - p["pretransfer"],
        "transfer": p["total"] - p["starttransfer"],
    }


def _ours(m: Measurement) -> dict[str, float]:
    t = json.loads(m.stdout)["hops"][0]["timings"]
    return {
        "dns": t["dns_ms"],
        "tcp": t["tcp_ms"],
        "tls": t["tls_ms"],
        "server": t["server_ms"],
        "transfer": t["transfer_ms"],
    }


def _curl(m: Measurement) -> dict[str, float]:
    return _phases({k: v * 1000 for k, v in json.loads(m.stdout).items()})


def _agreement(ours: list[Measurement], anchor: list[Measurement]) -> list[str]:
    pairs = [(_ours(o), _curl(a)) for o, a in zip(ours, anchor, strict=True)]
    parts = []
    for phase in PHASES:
        diff = statistics.median(o[phase] - c[phase] for o, c in pairs)
        ours_med = statistics.median(o[phase] for o, _ in pairs)
        curl_med = statistics.median(c[phase] for _, c in pairs)
        parts.append(f"{phase} {ours_med:.2f}/{curl_med:.2f} (Δ {diff:+.2f})")
    return ["phase medians ms, ours/curl (median of per-run differences): " + ", ".join(parts)]


def _compiled(lab: Lab) -> None:
    """Byte-compile the package first, as a pip install does: in an editable install with
    PYTHONDONTWRITEBYTECODE set, every run would otherwise compile the modules again."""
    import compileall
    from pathlib import Path

    import netladder

    compileall.compile_dir(str(Path(netladder.__file__).parent), quiet=1)


CASES = [
    Case(
        name="http_cold_start",
        topology="chain",
        ours=lambda lab: [sys.executable, "-m", "netladder", "http", f"http://{SERVER}/"],
        anchor=lambda lab: ["curl", "-sI", f"http://{SERVER}/"],
        runs=20,
        max_ms=250.0,
        setup=_compiled,
        note="anchor: curl -I against the same lab server (HEAD, headers printed)",
    ),
    Case(
        name="http_phase_agreement",
        topology="chain",
        ours=lambda lab: [
            sys.executable,
            "-m",
            "netladder",
            "http",
            "--json",
            "--get",
            f"http://{SERVER}/delay/50",
        ],
        anchor=lambda lab: [
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            CURL_W,
            f"http://{SERVER}/delay/50",
        ],
        runs=20,
        compare=_agreement,
        note="per-phase agreement with curl -w (GET /delay/50 across the chain lab)",
    ),
]
