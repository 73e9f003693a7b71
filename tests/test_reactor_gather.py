"""`net.reactor.gather`: several driver runs at once under the CLI's SelectReactor as under
asyncio (the ladder's L2, L3 and L4 rungs), and Ctrl-C ending each with what it has."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator

import pytest

from netladder.net.driver import blocking, run
from netladder.net.reactor import gather, interrupted
from netladder.net.session import Session, Step

NS = 1_000_000_000


class Timer(Session[str]):
    """Done `seconds` after it starts, or when interrupted."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = 0
        self.how = "running"

    def start(self, now: int) -> None:
        self.end = now + int(self.seconds * NS)

    def poll(self, now: int) -> Step:
        if now >= self.end:
            self.how = "done"
        return Step((), self.end, (), self.how != "running")

    def interrupt(self) -> None:
        self.how = "interrupted"

    def result(self) -> str:
        return self.how


async def two(first: float, second: float) -> tuple[str, str, bool]:
    a, b = Timer(first), Timer(second)
    await gather(run([a]), run([b]))
    return a.result(), b.result(), interrupted()


@pytest.fixture
def ctrl_c_after() -> Iterator[None]:
    """SIGALRM raises KeyboardInterrupt, as Ctrl-C's SIGINT does."""

    def raise_interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, raise_interrupt)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_runs_overlap_under_the_selector_as_under_asyncio() -> None:
    for runner in (blocking, asyncio.run):
        started = time.monotonic()
        assert runner(two(0.3, 0.3)) == ("done", "done", False)
        took = time.monotonic() - started
        # One after the other would take 0.6 s at least.
        assert 0.3 <= took < 0.55, (runner, took)


def test_the_shorter_run_ends_first_and_the_longer_one_still_ends() -> None:
    async def timed() -> tuple[float, float]:
        started = time.monotonic()
        ends: list[float] = []

        async def one(seconds: float) -> None:
            await run([Timer(seconds)])
            ends.append(time.monotonic() - started)

        await gather(one(0.4), one(0.1))
        return ends[0], ends[1]

    short, long = blocking(timed())
    assert 0.1 <= short < 0.3 and 0.4 <= long < 0.6, (short, long)


def test_ctrl_c_under_the_selector_ends_every_run_and_is_remembered(ctrl_c_after: None) -> None:
    signal.setitimer(signal.ITIMER_REAL, 0.2)
    started = time.monotonic()
    assert blocking(two(5.0, 5.0)) == ("interrupted", "interrupted", True)
    assert time.monotonic() - started < 2.0


def test_an_exception_in_one_closes_the_others() -> None:
    async def failing() -> None:
        await run([Timer(0.05)])
        raise ValueError("boom")

    timer = Timer(5.0)
    started = time.monotonic()
    with pytest.raises(ValueError, match="boom"):
        blocking(gather(failing(), run([timer])))
    assert time.monotonic() - started < 2.0
    assert timer.result() == "interrupted"  # the driver ends a run it is closed in
