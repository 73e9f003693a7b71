"""TCP connect scan (unprivileged) as a session: the plan (l4/plan.py) handed to the driver's
connect strategy (net/connectscan.py: epoll, reused sockets, forked workers for large scans).
"""

from __future__ import annotations

from typing import Any

from netladder.l4.engine import summarize
from netladder.l4.model import Note, ScanProgress, ScanResult
from netladder.l4.plan import DEFAULT_WINDOW, ConnectScanPlan, connect_outcome
from netladder.net import connectscan  # noqa: F401  (imported before the scan is timed)
from netladder.net.session import ScanConnects, Session, Step

__all__ = ["FORK_OVER", "MAX_WORKERS", "ConnectScanSession", "connect_outcome"]

MAX_WORKERS = 4
FORK_OVER = 4096  # ports; below this one process is quicker than forking
NS = 1_000_000_000
_PROGRESS_STEP = 256


class ConnectScanSession(Session[ScanResult]):
    """A connect scan of `ports` at `address`.  A scan of FORK_OVER ports or more asks for
    forked workers (one per core, at most MAX_WORKERS), which the driver grants only where
    forking is safe."""

    def __init__(
        self,
        target: str,
        address: str,
        ports: tuple[int, ...],
        *,
        timeout: float | None = None,
        window: int = DEFAULT_WINDOW,
        notes: tuple[Note, ...] = (),
    ) -> None:
        self.target = target
        self.plan = ConnectScanPlan(address, ports, timeout, window)
        self.notes = notes
        self.workers = MAX_WORKERS if len(ports) >= FORK_OVER else 1
        self.handed = False
        self.started = self.ended = self.now = self.reported = 0
        self.interrupted = False

    def start(self, now: int) -> None:
        self.started = self.now = now

    def poll(self, now: int) -> Step:
        self.now = now
        actions: tuple[Any, ...] = ()
        if not self.handed:
            self.handed = True
            actions = (ScanConnects(self.plan, self.workers),)
        done = self.handed and self.plan.done()
        events: tuple[Any, ...] = ()
        decided = self.plan.decided
        if decided - self.reported >= _PROGRESS_STEP or (done and decided > self.reported):
            events = (ScanProgress(decided - self.reported),)
            self.reported = decided
        if done and not self.ended:
            self.ended = now
        return Step(actions, None, events, done)

    def interrupt(self) -> None:
        self.interrupted = True
        self.plan.stop()
        self.ended = self.now

    def result(self) -> ScanResult:
        plan = self.plan
        return summarize(
            plan.tally,
            target=self.target,
            address=plan.address,
            proto="tcp",
            method="connect",
            timing=plan.timing,
            elapsed=max(0, (self.ended or self.now) - self.started) / NS,
            probes_sent=plan.probes_sent,
            notes=self.notes,
            interrupted=self.interrupted,
        )
