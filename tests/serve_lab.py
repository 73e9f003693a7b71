"""Helpers for the serve tests that run exporters inside a lab node."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from netladder.lab import Lab

__all__ = ["spawn", "stop", "wait_ready"]


def wait_ready(lab: Lab, url: str, proc: subprocess.Popen[bytes], what: str) -> None:
    """Until `url` answers (the process is listening), or the process has died."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited with {proc.returncode}")
        done = lab.exec("client", ["curl", "-s", "-o", "/dev/null", url], check=False)
        if done.returncode == 0:
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} did not start listening within 60 s")


def spawn(lab: Lab, argv: list[str], log: Path, node: str = "client") -> subprocess.Popen[bytes]:
    """Start argv in the lab node, its stderr to `log`."""
    with log.open("wb") as err:  # the child keeps its own copy of the descriptor
        return lab.popen(node, argv, stdout=subprocess.DEVNULL, stderr=err)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
