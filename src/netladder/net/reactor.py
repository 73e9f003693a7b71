"""What the probe driver needs from an event loop, twice: over asyncio and over a selector.

The driver (`net/driver.py`) is one coroutine (`async def`), written once.  It only ever awaits
`reactor.sleep()`, so it runs unchanged under asyncio (`AsyncioReactor`, for in-process callers:
the API, `diagnose`, `serve` — many drivers on one loop) and under `SelectReactor.drive`, a few
lines over `selectors` that the one-shot CLI uses: importing asyncio (ssl, concurrent.futures,
logging) costs more start-up time than a whole ping or traceroute run takes.
"""

from __future__ import annotations

import selectors
import time
from collections.abc import Awaitable, Callable, Coroutine, Generator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, overload

if TYPE_CHECKING:
    import asyncio

__all__ = ["AsyncioReactor", "Reactor", "SelectReactor", "current", "gather", "interrupted"]

T = TypeVar("T")
A = TypeVar("A")
B = TypeVar("B")
Callback = Callable[[], None]
# The SelectReactor driving the current coroutine, so that `net.driver.run` uses it rather
# than asyncio's; unset (None) under asyncio.
_current: ContextVar[SelectReactor | None] = ContextVar("netladder_reactor", default=None)


def current() -> SelectReactor | None:
    """The SelectReactor whose `drive` runs the caller, None under asyncio (or outside any)."""
    return _current.get()


def interrupted() -> bool:
    """True once Ctrl-C reached the coroutine the current SelectReactor drives.  The driver
    ends the sessions it runs with what they have and returns; a caller that runs several
    stages in turn (the ladder) asks this to stop rather than start the next one.  Under
    asyncio, Ctrl-C cancels the task instead, so this is always False there."""
    reactor = _current.get()
    return reactor is not None and reactor.interrupted


@overload
async def gather(a: Awaitable[A], b: Awaitable[B], /) -> tuple[A, B]: ...
@overload
async def gather(*aws: Awaitable[T]) -> tuple[T, ...]: ...


async def gather(*aws: Awaitable[Any]) -> tuple[Any, ...]:
    """Await every one of `aws` concurrently on the reactor that drives the caller: asyncio's
    gather on a loop, else each is stepped in turn on the SelectReactor (every wake-up resumes
    all of them: a driver resumed early only finds nothing due).  The first exception is
    raised and the others are closed; Ctrl-C is thrown into each, so each ends with what it
    has, as the driver does."""
    if _current.get() is None:
        import asyncio

        return tuple(await asyncio.gather(*aws))
    return await _Gather([aw.__await__() for aw in aws])


class _Gather:
    __slots__ = ("_steps",)

    def __init__(self, steps: list[Generator[Any, None, Any]]) -> None:
        self._steps = steps

    def __await__(self) -> Generator[Any, None, tuple[Any, ...]]:
        steps = self._steps
        results: list[Any] = [None] * len(steps)
        waiting: dict[int, Any] = {}  # index -> the _Sleep it asked for

        def step(i: int, exc: BaseException | None = None) -> None:
            try:
                waiting[i] = steps[i].throw(exc) if exc is not None else steps[i].send(None)
            except StopIteration as stop:
                waiting.pop(i, None)
                results[i] = stop.value

        try:
            for i in range(len(steps)):
                step(i)
            while waiting:
                try:
                    yield min(waiting.values(), key=lambda request: request.timeout_ns)
                except KeyboardInterrupt as exc:
                    for i in list(waiting):
                        step(i, exc)
                    continue
                for i in list(waiting):
                    step(i)
            return tuple(results)
        finally:
            for i in waiting:
                steps[i].close()


class Reactor(Protocol):
    def add_reader(self, fd: int, callback: Callback) -> None: ...
    def remove_reader(self, fd: int) -> None: ...
    def add_writer(self, fd: int, callback: Callback) -> None: ...
    def remove_writer(self, fd: int) -> None: ...
    def sleep(self, timeout_ns: int) -> Awaitable[None]:
        """Until `timeout_ns` passed or `wake()` was called."""
        ...

    def wake(self) -> None: ...


class AsyncioReactor:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._waiter: asyncio.Future[None] | None = None

    def add_reader(self, fd: int, callback: Callback) -> None:
        self.loop.add_reader(fd, callback)

    def remove_reader(self, fd: int) -> None:
        self.loop.remove_reader(fd)

    def add_writer(self, fd: int, callback: Callback) -> None:
        self.loop.add_writer(fd, callback)

    def remove_writer(self, fd: int) -> None:
        self.loop.remove_writer(fd)

    async def sleep(self, timeout_ns: int) -> None:
        self._waiter = self.loop.create_future()
        handle = self.loop.call_later(max(0, timeout_ns) / 1e9, self.wake)
        try:
            await self._waiter
        finally:
            handle.cancel()
            self._waiter = None

    def wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class _Sleep:
    __slots__ = ("timeout_ns",)

    def __init__(self, timeout_ns: int) -> None:
        self.timeout_ns = timeout_ns

    def __await__(self) -> Generator[_Sleep, None, None]:
        yield self


class SelectReactor:
    """Drives one engine coroutine to completion over a selector, without asyncio."""

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._readers: dict[int, Callback] = {}
        self._writers: dict[int, Callback] = {}
        self._woken = False
        self.interrupted = False  # Ctrl-C was thrown into the coroutine (`interrupted()`)

    def _update(self, fd: int) -> None:
        events = (selectors.EVENT_READ if fd in self._readers else 0) | (
            selectors.EVENT_WRITE if fd in self._writers else 0
        )
        try:
            registered = self._selector.get_key(fd).events
        except KeyError:
            registered = 0
        if events and registered:
            self._selector.modify(fd, events)
        elif events:
            self._selector.register(fd, events)
        elif registered:
            self._selector.unregister(fd)

    def add_reader(self, fd: int, callback: Callback) -> None:
        self._readers[fd] = callback
        self._update(fd)

    def remove_reader(self, fd: int) -> None:
        if self._readers.pop(fd, None) is not None:
            self._update(fd)

    def add_writer(self, fd: int, callback: Callback) -> None:
        self._writers[fd] = callback
        self._update(fd)

    def remove_writer(self, fd: int) -> None:
        if self._writers.pop(fd, None) is not None:
            self._update(fd)

    def sleep(self, timeout_ns: int) -> Awaitable[None]:
        return _Sleep(timeout_ns)

    def wake(self) -> None:
        self._woken = True

    def _poll(self, timeout_ns: int) -> None:
        self._woken = False
        deadline = time.monotonic_ns() + max(0, timeout_ns)
        while True:
            remaining = max(0, deadline - time.monotonic_ns()) / 1e9
            for key, events in self._selector.select(remaining):
                fd = key.fd
                if events & selectors.EVENT_READ and fd in self._readers:
                    self._readers[fd]()
                if events & selectors.EVENT_WRITE and fd in self._writers:
                    self._writers[fd]()
            if self._woken or time.monotonic_ns() >= deadline:
                return

    def drive(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` to its end.  Ctrl-C is thrown into it, so it can return what it has."""
        token = _current.set(self)
        try:
            request: Any = coro.send(None)
            while True:
                try:
                    self._poll(request.timeout_ns)
                except KeyboardInterrupt as exc:
                    self.interrupted = True
                    request = coro.throw(exc)
                    continue
                request = coro.send(None)
        except StopIteration as stop:
            result: T = stop.value
            return result
        finally:
            _current.reset(token)
            coro.close()
            self._selector.close()
