"""kill -9 `lab up` at random points (issue 17 item 5): `lab down --all` recovers everything.

The runs happen in tests/lab_crash.py, inside nested `scripts/isolated` sessions: each has its
own /run/netns, /run/netladder and /etc/netns, so its `lab down --all` touches only its own
labs, and two workers run side by side.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[1]
WORKERS = (25, 25)  # runs per worker: 50 kills in all


def test_lab_down_all_recovers_from_kill_9_anywhere_in_lab_up(lab_ok: None) -> None:
    workers = [
        subprocess.Popen(
            [
                str(ROOT / "scripts" / "isolated"),
                sys.executable,
                str(ROOT / "tests" / "lab_crash.py"),
            ]
            + [str(runs), str(seed)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed, runs in enumerate(WORKERS, start=1)
    ]
    runs: list[dict[str, Any]] = []
    for worker in workers:
        out, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err
        runs.extend(json.loads(out)["runs"])
    assert len(runs) == sum(WORKERS)
    assert [r for r in runs if r["left"] or r["down_rc"]] == []
    # Where the kills landed: before anything was made (interpreter start), while namespaces
    # and links were being made, once agents ran (before `lab up` returned), after it returned.
    before = sum(1 for r in runs if not r["finished_first"] and not r["at_kill"]["namespaces"])
    building = sum(
        1
        for r in runs
        if not r["finished_first"] and r["at_kill"]["namespaces"] and not r["at_kill"]["agents"]
    )
    agents = sum(1 for r in runs if not r["finished_first"] and r["at_kill"]["agents"])
    after = sum(1 for r in runs if r["finished_first"])
    print(
        f"lab up kills: {before} before, {building} building, {agents} with agents, {after} after"
    )
    assert building + agents >= len(runs) // 2, (before, building, agents, after)
