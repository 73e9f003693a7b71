"""The ladder (issue: diagnose): a healthy lab target, every layer, in under 2 s."""

from __future__ import annotations

import sys

from bench.harness import Case

CASES = [
    Case(
        name="diagnose_healthy",
        ours=lambda lab: [sys.executable, "-m", "netladder", "diagnose", "http://www.lab/"],
        topology="demo",
        runs=5,
        max_ms=2000.0,
        note="names, route, L2 (live ARP), L3 (10 echoes), L4 (SYN + banner), L7 (HEAD + lint);"
        " wall time with interpreter start-up",
    ),
]
