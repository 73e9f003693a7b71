"""`netladder trace` beside traceroute and mtr on the chain lab (issue 9).

* trace_one_shot: same hops as `traceroute -n`; wall time with interpreter start-up ≤ 150 ms
  median, and the probing time (first probe to verdict, `elapsed_ms` in --json) ≤ 1.5×
  traceroute's whole run.
* trace_report_loss: 20 % loss (ICMP) on r1→r2; Loss% per hop within 15 points of
  `mtr -r -n -c 50` on the same lab.

The server's ICMP rate limit (a host's default: 1 port-unreachable per second per peer) is
lifted for the one-shot case: back-to-back runs of either tool would otherwise see their last
hop's answers rate-limited and wait for them.
"""

from __future__ import annotations

import json
import re
import statistics
import sys
from collections.abc import Callable

from bench.harness import Case, Measurement
from netladder.lab import Lab
from netladder.lab.faults import Loss

SERVER = "198.51.100.10"
HOP = re.compile(r"^\s*\d+\s+(\S+)")
MTR_LINE = re.compile(r"^\s*(\d+)\.\|--\s+(\S+)\s+([\d.]+)%")
LOSS_TOLERANCE = 15.0


def _no_rate_limit(lab: Lab) -> Callable[[], None]:
    lab.exec("server", ["sysctl", "-qw", "net.ipv4.icmp_ratelimit=0"])

    def undo() -> None:
        lab.exec("server", ["sysctl", "-qw", "net.ipv4.icmp_ratelimit=1000"])

    return undo


def _hops_of(text: str) -> list[str]:
    hops = []
    for line in text.splitlines():
        match = HOP.match(line)
        if match:
            hops.append(match[1])
    return hops


def _ours_hops(m: Measurement) -> list[str]:
    doc = json.loads(m.stdout)
    return [h["responders"][0] if h["responders"] else "*" for h in doc["hops"]]


def _elapsed(ours: list[Measurement]) -> float:
    return statistics.median(float(json.loads(m.stdout)["elapsed_ms"]) for m in ours)


def _one_shot_notes(ours: list[Measurement], anchor: list[Measurement]) -> list[str]:
    theirs = {tuple(_hops_of(m.stdout)) for m in anchor}
    mine = {tuple(_ours_hops(m)) for m in ours}
    probing = _elapsed(ours)
    anchor_wall = statistics.median(m.wall_ms for m in anchor)
    return [
        f"hops: ours {sorted(mine)} / traceroute {sorted(theirs)}: "
        f"{'same' if mine == theirs else 'DIFFERENT'}",
        f"probing (elapsed_ms) median {probing:.1f} ms vs traceroute whole run "
        f"{anchor_wall:.1f} ms: {probing / anchor_wall:.2f}x (target <= 1.5x)",
    ]


def _one_shot_ok(ours: list[Measurement], anchor: list[Measurement]) -> bool:
    same = {tuple(_ours_hops(m)) for m in ours} == {tuple(_hops_of(m.stdout)) for m in anchor}
    anchor_wall = statistics.median(m.wall_ms for m in anchor)
    return same and _elapsed(ours) <= 1.5 * anchor_wall


def _mtr_loss(text: str) -> dict[int, float]:
    doc = json.loads(text)
    return {int(h["count"]): float(h["Loss%"]) for h in doc["report"]["hubs"]}


def _our_loss(text: str) -> dict[int, float]:
    doc = json.loads(text)
    return {h["ttl"]: h["stats"]["loss_pct"] for h in doc["hops"]}


def _loss_table(
    ours: list[Measurement], anchor: list[Measurement]
) -> list[tuple[int, float, float]]:
    mine = [_our_loss(m.stdout) for m in ours]
    theirs = [_mtr_loss(m.stdout) for m in anchor]
    rows = []
    for ttl in sorted(mine[0]):
        a = statistics.median(d.get(ttl, 100.0) for d in mine)
        b = statistics.median(d.get(ttl, 100.0) for d in theirs)
        rows.append((ttl, a, b))
    return rows


def _loss_notes(ours: list[Measurement], anchor: list[Measurement]) -> list[str]:
    return [
        f"hop {t}: Loss% ours {a:.1f} / mtr {b:.1f} (median of runs)"
        for t, a, b in _loss_table(ours, anchor)
    ]


def _loss_ok(ours: list[Measurement], anchor: list[Measurement]) -> bool:
    return all(abs(a - b) <= LOSS_TOLERANCE for _, a, b in _loss_table(ours, anchor))


def _loss_setup(lab: Lab) -> Callable[[], None]:
    return Loss("r1", "r2", 20, proto="icmp").apply(lab)


CASES = [
    Case(
        name="trace_one_shot",
        topology="chain",
        ours=lambda lab: [sys.executable, "-m", "netladder", "trace", SERVER, "--json"],
        anchor=lambda lab: ["traceroute", "-n", SERVER],
        runs=20,
        max_ms=150.0,
        setup=_no_rate_limit,
        compare=_one_shot_notes,
        check=_one_shot_ok,
        note="wall with start-up <= 150 ms; probing time <= 1.5x traceroute's whole run",
    ),
    Case(
        name="trace_report_loss",
        topology="chain",
        ours=lambda lab: [
            sys.executable,
            "-m",
            "netladder",
            "trace",
            SERVER,
            "--proto",
            "icmp",
            "--cycles",
            "50",
            "-i",
            "0.01",
            "-w",
            "1",
            "--json",
        ],
        anchor=lambda lab: ["mtr", "-r", "-n", "-j", "-c", "50", "-i", "0.01", "-G", "1", SERVER],
        runs=3,
        setup=_loss_setup,
        compare=_loss_notes,
        check=_loss_ok,
        note=f"20% ICMP loss r1->r2; Loss% per hop within {LOSS_TOLERANCE:g} points of mtr",
    ),
]
