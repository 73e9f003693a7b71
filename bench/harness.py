"""The benchmark harness: run a netladder command and its anchor tool side by side.

A case names the lab topology it needs (or none), a command for netladder and one for the
anchor tool, how many runs, and its target: a maximum ratio ours/anchor, or a maximum median in
ms.  Runs alternate between the two commands so that drift on the machine hits both alike.
Wall time is measured around the whole process (interpreter start-up included); peak memory is
the process's maxrss (the largest of it and the children it waited for), as GNU time reports it;
peak open file descriptors are sampled every few milliseconds over the process and its
descendants.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from netladder.lab import Lab
from netladder.lab.topologies import get as get_topology

__all__ = ["Case", "Measurement", "Result", "measure", "open_fds", "run_case"]

Argv = Sequence[str]


@dataclass(frozen=True, slots=True)
class Measurement:
    wall_ms: float
    maxrss_kib: int
    returncode: int
    stdout: str
    peak_fds: int = 0  # sampled: the most descriptors the process tree held at once


@dataclass
class Case:
    name: str
    ours: Callable[[Lab | None], Argv]
    anchor: Callable[[Lab | None], Argv] | None = None
    topology: str | None = None
    node: str = "client"  # where the commands run, when there is a lab
    runs: int = 10
    max_ratio: float | None = None  # ours/anchor median must not exceed this
    max_ms: float | None = None  # ours median must not exceed this
    note: str = ""
    setup: Callable[[Lab], Callable[[], None] | None] | None = None
    # Extra checks over the outputs (e.g. same alive set); returns lines to print.
    compare: Callable[[list[Measurement], list[Measurement]], list[str]] | None = None
    # A further pass condition over the outputs (e.g. a time the command reports itself).
    check: Callable[[list[Measurement], list[Measurement]], bool] | None = None


@dataclass
class Result:
    case: Case
    ours: list[Measurement]
    anchor: list[Measurement] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ours_ms(self) -> float:
        return statistics.median(m.wall_ms for m in self.ours)

    @property
    def anchor_ms(self) -> float | None:
        return statistics.median(m.wall_ms for m in self.anchor) if self.anchor else None

    @property
    def ratio(self) -> float | None:
        anchor = self.anchor_ms
        return self.ours_ms / anchor if anchor else None

    @property
    def passed(self) -> bool:
        ok = True
        if self.case.max_ratio is not None and self.ratio is not None:
            ok = ok and self.ratio <= self.case.max_ratio
        if self.case.max_ms is not None:
            ok = ok and self.ours_ms <= self.case.max_ms
        if self.case.check is not None:
            ok = ok and self.case.check(self.ours, self.anchor)
        return ok

    def as_dict(self) -> dict[str, Any]:
        return {
            "case": self.case.name,
            "runs": self.case.runs,
            "ours_median_ms": round(self.ours_ms, 2),
            "anchor_median_ms": None if self.anchor_ms is None else round(self.anchor_ms, 2),
            "ratio": None if self.ratio is None else round(self.ratio, 3),
            "ours_peak_rss_kib": max(m.maxrss_kib for m in self.ours),
            "anchor_peak_rss_kib": max((m.maxrss_kib for m in self.anchor), default=None),
            "ours_peak_fds": max(m.peak_fds for m in self.ours),
            "anchor_peak_fds": max((m.peak_fds for m in self.anchor), default=None),
            "target": {"max_ratio": self.case.max_ratio, "max_ms": self.case.max_ms},
            "passed": self.passed,
            "notes": self.notes,
        }


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as f:
                    todo.extend(int(child) for child in f.read().split())
        except OSError:  # it ended meanwhile
            continue
    return found


def open_fds(pid: int, itself: bool = True) -> int:
    """Descriptors open in the process (unless not `itself`) and all its descendants now."""
    total = 0
    for each in _descendants(pid)[0 if itself else 1 :]:
        try:
            total += len(os.listdir(f"/proc/{each}/fd"))
        except OSError:
            continue
    return total


# A process's maxrss includes the memory of the process it was forked from, up to its exec
# (the kernel keeps the old image's high-water mark across exec): a command started from a
# large test runner would report the runner's size.  GNU time, small itself, forks the
# command and reports the command's own maxrss.
TIME = "/usr/bin/time"


def measure(argv: Argv, env: dict[str, str] | None = None) -> Measurement:
    started = time.perf_counter()
    report_r, report_w = os.pipe()
    proc = subprocess.Popen(
        [TIME, "-f", "%M", "-o", f"/dev/fd/{report_w}", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
        pass_fds=(report_w,),
    )
    os.close(report_w)
    assert proc.stdout is not None
    peak = [0]
    done = threading.Event()

    def sample() -> None:  # until the process is reaped; the pid cannot be reused before
        while not done.wait(0.003):
            peak[0] = max(peak[0], open_fds(proc.pid, itself=False))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    with proc.stdout:
        stdout = proc.stdout.read()
    # Wait for the exit without reaping it, so the pid the sampler reads stays this process's.
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
    done.set()
    sampler.join()
    _, status, _ = os.wait4(proc.pid, 0)
    wall = (time.perf_counter() - started) * 1000
    with os.fdopen(report_r) as report:
        # "Command exited with non-zero status N" comes first when it did.
        maxrss = int(report.read().split()[-1])
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Measurement(wall, maxrss, proc.returncode, stdout.decode(errors="replace"), peak[0])


def _in_lab(lab: Lab | None, node: str, argv: Argv) -> list[str]:
    return list(argv) if lab is None else ["ip", "netns", "exec", lab.ns(node), *argv]


_LABS: dict[str, Lab] = {}


def lab_for(name: str | None) -> Lab | None:
    if name is None:
        return None
    if name not in _LABS:
        _LABS[name] = Lab(get_topology(name), name=f"b{name}").up()
    return _LABS[name]


def teardown_labs() -> None:
    for lab in _LABS.values():
        lab.down()
    _LABS.clear()


def run_case(case: Case) -> Result:
    lab = lab_for(case.topology)
    undo = case.setup(lab) if case.setup and lab is not None else None
    try:
        ours_argv = _in_lab(lab, case.node, case.ours(lab))
        anchor_argv = _in_lab(lab, case.node, case.anchor(lab)) if case.anchor else None
        measure(ours_argv)  # warm the page cache: every run after this is comparable
        if anchor_argv:
            measure(anchor_argv)
        result = Result(case, [])
        for _ in range(case.runs):
            result.ours.append(measure(ours_argv))
            if anchor_argv:
                result.anchor.append(measure(anchor_argv))
        if case.compare:
            result.notes.extend(case.compare(result.ours, result.anchor))
        return result
    finally:
        if undo:
            undo()
