"""`netladder ping` (issue 3): cold start of a one-shot ping, and RTT accuracy against iputils
on a link with added delay."""

from __future__ import annotations

import re
import statistics
import sys
from collections.abc import Callable

from bench.harness import Case, Measurement
from netladder.lab import Delay, Lab

TARGET = "198.51.100.17"  # the `sweep` topology's target, one hop from the client
DELAY_MS = 20.0


def _avg(output: str) -> float | None:
    m = re.search(r"= [\d.]+/([\d.]+)/", output)
    return float(m.group(1)) if m else None


def rtt_within_2_percent(ours: list[Measurement], anchor: list[Measurement]) -> list[str]:
    mine = [a for m in ours if (a := _avg(m.stdout)) is not None]
    theirs = [a for m in anchor if (a := _avg(m.stdout)) is not None]
    if not mine or not theirs:
        return ["RTT accuracy: FAIL (no rtt line)"]
    a, b = statistics.median(mine), statistics.median(theirs)
    diff = abs(a - b) / b * 100
    verdict = "PASS" if diff <= 2.0 else "FAIL"
    return [
        f"RTT accuracy: netladder avg {a:.3f} ms, iputils avg {b:.3f} ms, "
        f"difference {diff:.2f} % (target <= 2 %): {verdict}"
    ]


def bytecode(lab: Lab) -> None:
    """Byte-compile netladder first, as any installation does (pip compiles at install time);
    an editable checkout under PYTHONDONTWRITEBYTECODE=1 would otherwise recompile every
    module at every start and measure the compiler instead of the command."""
    import compileall
    from pathlib import Path

    import netladder

    compileall.compile_dir(str(Path(netladder.__file__).parent), quiet=1)


def delayed(lab: Lab) -> Callable[[], None]:
    # r1 -> r2 goes through the chain's frame relay; 20 ms one way.
    with_delay = lab.fault(Delay("r1", "r2", DELAY_MS))
    with_delay.__enter__()

    def undo() -> None:
        with_delay.__exit__(None, None, None)

    return undo


CASES = [
    Case(
        name="ping_cold_start",
        topology="sweep",
        ours=lambda lab: [sys.executable, "-m", "netladder", "ping", "-c", "1", TARGET],
        anchor=lambda lab: ["ping", "-c", "1", TARGET],
        runs=20,
        max_ms=100.0,
        setup=bytecode,
        note="anchor: iputils ping -c 1 (C, no interpreter); netladder byte-compiled first",
    ),
    Case(
        name="ping_rtt_accuracy_delay",
        topology="chain",
        ours=lambda lab: [
            sys.executable,
            "-m",
            "netladder",
            "ping",
            "-c",
            "20",
            "-i",
            "0.05",
            "198.51.100.10",
        ],
        anchor=lambda lab: ["ping", "-c", "20", "-i", "0.05", "198.51.100.10"],
        runs=3,
        setup=delayed,
        max_ratio=1.5,
        compare=rtt_within_2_percent,
        note=f"{DELAY_MS:g} ms added on r1->r2 by the lab relay; wall ratio only sanity",
    ),
]
