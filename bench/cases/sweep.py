"""Sweep of a /16 where half the addresses answer (issue 3): wall time <= 1.0x fping's, the
same alive set, peak memory reported."""

from __future__ import annotations

import sys

from bench.harness import Case, Measurement

BLOCK = "198.18.0.0/16"  # the `sweep` topology's target answers for 198.18.0.0/17


def sweep_argv(retries: int, timeout_ms: int, block: str = BLOCK) -> list[str]:
    """`netladder sweep --alive` over a block as fast as it goes: fping -a -i 0's peer."""
    return [
        sys.executable,
        "-m",
        "netladder",
        "sweep",
        "--alive",
        "--rate",
        "0",
        "--retries",
        str(retries),
        "--timeout",
        str(timeout_ms),
        block,
    ]


def same_alive_set(ours: list[Measurement], anchor: list[Measurement]) -> list[str]:
    mine = {frozenset(m.stdout.split()) for m in ours}
    theirs = {frozenset(m.stdout.split()) for m in anchor}
    verdict = "identical" if mine == theirs and len(mine) == 1 else "DIFFERENT"
    sizes = sorted({len(s) for s in mine | theirs})
    return [f"alive set: {verdict} across every run (sizes {sizes})"]


CASES = [
    Case(
        name="sweep_16_half_alive",
        topology="sweep",
        ours=lambda lab: sweep_argv(retries=0, timeout_ms=500),
        anchor=lambda lab: ["fping", "-a", "-i", "0", "-r", "0", "-t", "500", "-g", BLOCK],
        runs=5,
        max_ratio=1.0,
        compare=same_alive_set,
        note="anchor: fping -a -i 0 -r 0 -t 500 -g 198.18.0.0/16; peak RSS in latest.json",
    ),
]
