"""`netladder serve` against `prometheus-blackbox-exporter` (issue 15's benchmark): probes
per second for the tcp, http and icmp modules against a lab target, both exporters driven by
the same load (bench/serve_load.py: 1000 probes from 16 kept-alive connections, start-up
excluded).  Ours must serve at least as many probes per second; the p99 is printed beside."""

from __future__ import annotations

import json
import statistics
import sys

from bench.harness import Case, Measurement

PROBES, CONCURRENCY = "1000", "16"
TARGETS = {
    "tcp_connect": "198.51.100.10:22",
    "http_2xx": "http://198.51.100.10/",
    "icmp": "198.51.100.10",
}


def _figures(runs: list[Measurement]) -> tuple[float, float, int]:
    docs = [json.loads(m.stdout) for m in runs if m.returncode == 0 and m.stdout.strip()]
    if not docs:
        return 0.0, 0.0, 0
    return (
        statistics.median(d["per_second"] for d in docs),
        statistics.median(d["p99_ms"] for d in docs),
        min(d["success"] for d in docs),
    )


def _compare(ours: list[Measurement], anchor: list[Measurement]) -> list[str]:
    (o_rate, o_p99, o_ok), (a_rate, a_p99, a_ok) = _figures(ours), _figures(anchor)
    ratio = o_rate / a_rate if a_rate else float("nan")
    return [
        f"probes/s ours {o_rate:.0f} blackbox {a_rate:.0f} ({ratio:.2f}x); "
        f"p99 ours {o_p99:.1f} ms blackbox {a_p99:.1f} ms; "
        f"succeeded ours {o_ok} blackbox {a_ok} of {PROBES}"
    ]


def _check(ours: list[Measurement], anchor: list[Measurement]) -> bool:
    (o_rate, _, o_ok), (a_rate, _, a_ok) = _figures(ours), _figures(anchor)
    return o_ok == a_ok == int(PROBES) and o_rate >= a_rate


def _case(module: str) -> Case:
    def argv(exporter: str) -> list[str]:
        return [sys.executable, "-m", "bench.serve_load", exporter, module, TARGETS[module]]

    return Case(
        name=f"serve-{module}",
        topology="chain",
        ours=lambda lab: [*argv("netladder"), PROBES, CONCURRENCY],
        anchor=lambda lab: [*argv("blackbox"), PROBES, CONCURRENCY],
        runs=3,
        compare=_compare,
        check=_check,
        note="probes per second at the same concurrency, start-up excluded",
    )


CASES = [_case(m) for m in TARGETS]
