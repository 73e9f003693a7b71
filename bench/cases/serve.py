"""`netladder serve` against `prometheus-blackbox-exporter` (issue 15's benchmark): probes
per second for the tcp, http and icmp modules against a lab target, both exporters driven by
the same load (bench/serve_load.py: 4000 probes from 16 kept-alive connections, start-up
excluded).  Ours must serve at least as many probes per second; the p99 is printed beside, and
each exporter's CPU time per probe, the figure a shared machine disturbs least.

Both use every core: blackbox's Go runtime does by itself, ours with `--workers` = the cores.
The target is lan2, one link past the client's router and clear of the lab's userspace delay
relay (between r1 and r2: a Python process that every packet of the path would cross), served
by bench/serve_target.py, whose cost per connection is a fraction of the lab agent's — so what
sets the pace is the exporters, not the path or the peer."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from bench.harness import Case, Measurement

PROBES, CONCURRENCY = "4000", "16"
TARGETS = {
    "tcp_connect": "198.51.100.67:22",
    "http_2xx": "http://198.51.100.67/",
    "icmp": "198.51.100.67",
}
WORKERS = str(os.cpu_count() or 1)


def _figures(runs: list[Measurement]) -> tuple[float, float, int]:
    docs = [json.loads(m.stdout) for m in runs if m.returncode == 0 and m.stdout.strip()]
    if not docs:
        return 0.0, 0.0, 0
    return (
        statistics.median(d["per_second"] for d in docs),
        statistics.median(d["p99_ms"] for d in docs),
        min(d["success"] for d in docs),
    )


def _docs(runs: list[Measurement]) -> list[dict[str, float] | None]:
    return [json.loads(m.stdout) if m.returncode == 0 and m.stdout.strip() else None for m in runs]


def _compare(ours: list[Measurement], anchor: list[Measurement]) -> list[str]:
    (o_rate, o_p99, o_ok), (a_rate, a_p99, a_ok) = _figures(ours), _figures(anchor)
    ratio = o_rate / a_rate if a_rate else float("nan")
    lines = [
        f"probes/s ours {o_rate:.0f} blackbox {a_rate:.0f} ({ratio:.2f}x); "
        f"p99 ours {o_p99:.1f} ms blackbox {a_p99:.1f} ms; "
        f"succeeded ours {o_ok} blackbox {a_ok} of {PROBES}"
    ]
    # Each of our runs is paired with the anchor's run right after it: the ratios of pairs
    # share the machine's load of that moment, which the two medians above do not.
    pairs = [(o, a) for o, a in zip(_docs(ours), _docs(anchor), strict=False) if o and a]
    if pairs:
        ratios = sorted(o["per_second"] / a["per_second"] for o, a in pairs)
        o_cpu = statistics.median(o["cpu_ms_per_probe"] for o, _ in pairs)
        a_cpu = statistics.median(a["cpu_ms_per_probe"] for _, a in pairs)
        lines.append(
            f"paired runs: ratios {' '.join(f'{r:.2f}' for r in ratios)} (median "
            f"{statistics.median(ratios):.2f}x); exporter CPU per probe ours {o_cpu:.3f} ms "
            f"blackbox {a_cpu:.3f} ms ({o_cpu / a_cpu if a_cpu else float('nan'):.2f}x)"
        )
    return lines


def _check(ours: list[Measurement], anchor: list[Measurement]) -> bool:
    (o_rate, _, o_ok), (a_rate, _, a_ok) = _figures(ours), _figures(anchor)
    return o_ok == a_ok == int(PROBES) and o_rate >= a_rate


def _setup(lab: Any) -> Callable[[], None]:
    _ports(lab)
    target = lab.popen("lan2", [sys.executable, "-m", "bench.serve_target"], stdout=subprocess.PIPE)
    assert target.stdout is not None
    target.stdout.readline()  # "ready"

    def undo() -> None:
        target.terminate()
        target.wait(5)

    return undo


def _ports(lab: object) -> None:
    # 5 paired runs of 4,000 probes open 40,000 connections from the client in about a minute:
    # with Linux's defaults (28,232 ephemeral ports, TIME_WAIT for 60 s) the later runs pay a
    # growing search for a free port in connect(), whichever exporter they belong to.  Every
    # port and the reuse of a TIME_WAIT one (the client namespace only) take that out.
    for key, value in (("ip_local_port_range", "1024 65535"), ("tcp_tw_reuse", "1")):
        lab.exec("client", ["sysctl", "-qw", f"net.ipv4.{key}={value}"])  # type: ignore[attr-defined]


def _case(module: str) -> Case:
    def argv(exporter: str) -> list[str]:
        return [sys.executable, "-m", "bench.serve_load", exporter, module, TARGETS[module]]

    return Case(
        name=f"serve-{module}",
        topology="chain",
        ours=lambda lab: [*argv("netladder"), PROBES, CONCURRENCY, WORKERS],
        anchor=lambda lab: [*argv("blackbox"), PROBES, CONCURRENCY],
        runs=5,
        setup=_setup,
        compare=_compare,
        check=_check,
        note="probes per second at the same concurrency, start-up excluded",
    )


CASES = [_case(m) for m in TARGETS]


# -- the memory of 1,000 monitors beside prometheus-smokeping-prober -------------------------------


def _mem(runs: list[Measurement]) -> tuple[int, int]:
    docs = [json.loads(m.stdout) for m in runs if m.returncode == 0 and m.stdout.strip()]
    if not docs:
        return 0, 0
    return int(statistics.median(d["rss_kib"] for d in docs)), max(d["hwm_kib"] for d in docs)


def _mem_compare(ours: list[Measurement], anchor: list[Measurement]) -> list[str]:
    (o_rss, o_hwm), (a_rss, a_hwm) = _mem(ours), _mem(anchor)
    return [
        f"1000 monitors × 20 pings/300 s: RSS ours {o_rss / 1024:.1f} MiB (peak "
        f"{o_hwm / 1024:.1f}), smokeping_prober {a_rss / 1024:.1f} MiB (peak {a_hwm / 1024:.1f})"
    ]


def _local_block(lab: object) -> None:
    # The server node answers 198.18.0.0/22 itself: every echo stays inside it.
    lab.exec("server", ["ip", "route", "add", "local", "198.18.0.0/22", "dev", "lo"])  # type: ignore[attr-defined]


CASES.append(
    Case(
        name="serve-monitors-memory",
        topology="chain",
        node="server",
        ours=lambda lab: [sys.executable, "-m", "bench.serve_monitors", "netladder"],
        anchor=lambda lab: [sys.executable, "-m", "bench.serve_monitors", "smokeping"],
        runs=1,
        setup=lambda lab: _local_block(lab),
        compare=_mem_compare,
        note="resident memory after 45 s, 1,000 targets in a local 198.18.0.0/22 block",
    )
)
