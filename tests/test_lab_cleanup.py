"""`lab down --all` removes every lab, so it runs in a module of its own with no lab up."""

from __future__ import annotations

import subprocess
import sys

from netladder.lab import core, sh


def test_down_all_removes_what_a_crashed_run_left(lab_ok: None) -> None:
    # A crashed run: namespaces with the prefix and no state file.
    sh.run(["ip", "netns", "add", "nl-crashed-x"])
    result = subprocess.run(
        [sys.executable, "-m", "netladder", "lab", "down", "--all"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "nl-crashed-x" not in core.existing_namespaces()
