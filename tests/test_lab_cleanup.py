"""`lab down --all` removes every lab, so it runs in a module of its own with no lab up."""

from __future__ import annotations

import subprocess
import sys

from netladder.lab import core, sh


def test_down_all_removes_what_a_crashed_run_left(lab_ok: None) -> None:
    # A crashed run: namespaces with the prefix and no state file, a process still inside one,
    # a state file written but not yet renamed, /etc/netns files of a namespace already gone.
    sh.run(["ip", "netns", "add", "nl-crashed-x"])
    inside = subprocess.Popen(["ip", "netns", "exec", "nl-crashed-x", "sleep", "300"])
    (core.run_dir() / "crashed.tmp").write_text("{")
    (core.run_dir() / "crashed.d").mkdir()
    (core.ETC_NETNS / "nl-crashed-y").mkdir(parents=True)
    (core.ETC_NETNS / "nl-crashed-y" / "hosts").write_text("")
    result = subprocess.run(
        [sys.executable, "-m", "netladder", "lab", "down", "--all"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "nl-crashed-x" not in core.existing_namespaces()
    assert inside.wait(timeout=10) == -9
    assert list(core.run_dir().iterdir()) == []
    assert not (core.ETC_NETNS / "nl-crashed-y").exists()
