"""Cold start of the CLI (issue: foundation): `netladder --version` median <= 60 ms."""

from __future__ import annotations

import sys

from bench.harness import Case

CASES = [
    Case(
        name="cold_start_version",
        ours=lambda lab: [sys.executable, "-m", "netladder", "--version"],
        anchor=lambda lab: [sys.executable, "-c", "pass"],
        runs=30,
        max_ms=60.0,
        note="anchor: the bare interpreter start-up, the floor for any Python CLI",
    ),
]
