"""kill -9 `netladder lab up` at random points, then `lab down --all`, and look for anything left.

Run inside `scripts/isolated` (tests/test_lab_crash.py does), which gives this script a private
/run/netns, /run/netladder and /etc/netns: `lab down --all` here removes only what these runs
made.  Prints one JSON document: the measured duration of an uninterrupted `lab up` and one
record per run.

    python tests/lab_crash.py RUNS SEED

Each run starts `lab up demo` (a relay, a LAN bridge, two agents, /etc files), waits a random
time drawn from the measured duration (past the interpreter's start, which makes nothing), and
kills it: every other run the process alone (its
`ip` children finish on their own), the others its whole process group (they die with it).
What was made by then is counted (namespaces, /etc/netns directories, agents) so the record
says where the kill landed.  Then `lab down --all` (its function, `core.down_all`, called here
to spare an interpreter start per run) must leave nothing: no namespace, no file
under /run/netladder or /etc/netns, no interface here but lo, and no process of the run alive
anywhere (every process the run started carries a marker in its environment).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from netladder.errors import NetladderError
from netladder.lab import core

PYTHON = sys.executable
ETC_NETNS = Path("/etc/netns")
RUN_DIR = Path("/run/netladder")
MARK = "NETLADDER_CRASH_RUN"


def netladder(*args: str, mark: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, MARK: mark} if mark else None
    return subprocess.run(
        [PYTHON, "-m", "netladder", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def marked_processes(mark: str, running: str = "") -> list[int]:
    """Live processes (zombies hold nothing) whose environment carries `mark` and whose command
    line contains `running`."""
    needle = f"{MARK}={mark}".encode()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            environ = Path(f"/proc/{entry.name}/environ").read_bytes()
            cmdline = Path(f"/proc/{entry.name}/cmdline").read_bytes().replace(b"\0", b" ")
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        if (
            needle in environ.split(b"\0")
            and running.encode() in cmdline
            and stat.rsplit(")", 1)[1].split()[0] != "Z"
        ):
            found.append(int(entry.name))
    return found


def made() -> dict[str, int]:
    """What exists now: lab namespaces, /etc/netns directories, state files."""
    return {
        "namespaces": len(os.listdir("/run/netns")),
        "etc": len(list(ETC_NETNS.glob("nl-*"))) if ETC_NETNS.is_dir() else 0,
        "state_files": len(list(RUN_DIR.glob("*"))) if RUN_DIR.is_dir() else 0,
    }


def leftovers(mark: str) -> list[str]:
    left = [f"namespace {n}" for n in os.listdir("/run/netns")]
    if RUN_DIR.is_dir():
        left += [f"file {p}" for p in RUN_DIR.iterdir()]
    if ETC_NETNS.is_dir():
        left += [f"file {p}" for p in ETC_NETNS.iterdir()]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True)
    left += [
        f"interface {line.split(':')[1].strip()}"
        for line in links.stdout.splitlines()
        if line.split(":")[1].strip() != "lo"
    ]
    left += [f"process {pid}" for pid in marked_processes(mark)]
    return left


def wait_group_gone(pgid: int, deadline_s: float = 60.0) -> None:
    """Until no process of the killed run's group is left (its orphaned `ip` children)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.01)
    raise TimeoutError(f"process group {pgid} still alive")


def measure() -> tuple[float, float]:
    """(seconds to start the CLI and make nothing, seconds for a whole `lab up demo`)."""
    started = time.monotonic()
    netladder("lab", "status")
    idle = time.monotonic() - started
    started = time.monotonic()
    up = netladder("lab", "up", "demo")
    took = time.monotonic() - started
    assert up.returncode == 0, up.stderr
    down = netladder("lab", "down", "--all")
    assert down.returncode == 0, down.stderr
    return idle, took


def one_run(i: int, start: float, duration: float, rng: random.Random) -> dict[str, Any]:
    mark = f"{os.getpid()}-{i}"
    delay = rng.uniform(min(start, duration) * 0.8, duration)
    started = time.monotonic()
    whole_group = i % 2 == 1
    proc = subprocess.Popen(
        [PYTHON, "-m", "netladder", "lab", "up", "demo"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, MARK: mark},
    )
    try:
        proc.wait(timeout=delay)
        finished = True
    except subprocess.TimeoutExpired:
        finished = False
    took = time.monotonic() - started
    at_kill = made()
    at_kill["agents"] = len(marked_processes(mark, "netladder.lab."))
    with contextlib.suppress(ProcessLookupError):  # a run that finished: its group is gone
        if whole_group:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.send_signal(signal.SIGKILL)
    proc.wait()
    wait_group_gone(proc.pid)
    try:
        core.down_all()
        down_rc, down_err = 0, ""
    except NetladderError as exc:
        down_rc, down_err = 1, str(exc)
    return {
        "took_s": round(took, 3) if finished else None,
        "delay_s": round(delay, 3),
        "killed": "group" if whole_group else "process",
        "finished_first": finished,
        "at_kill": at_kill,
        "down_rc": down_rc,
        "down_err": down_err,
        "left": leftovers(mark),
    }


def main() -> None:
    runs, seed = int(sys.argv[1]), int(sys.argv[2])
    rng = random.Random(seed)
    (idle1, took1), (idle2, took2) = measure(), measure()
    start, duration = min(idle1, idle2), max(took1, took2)
    records = []
    for i in range(runs):
        record = one_run(i, start, duration, rng)
        if record["took_s"] is not None:
            # The machine got quicker than measured: draw the next delays from this run's time.
            duration = record["took_s"]
        records.append(record)
    print(json.dumps({"start_s": start, "duration_s": duration, "runs": records}))


if __name__ == "__main__":
    main()
