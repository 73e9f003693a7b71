"""The helper sender: a forked process that sends part of a `parallel` SendBurst (a sweep's
first round over a large block) on the same raw IPv4 socket, while the driver's process sends
the rest and reads every reply (plan of issue 14, §1.7).

Why a process: with IP_HDRINCL the kernel sends a raw datagram without the socket lock, so two
senders run the per-probe kernel work (ours, and the replies it causes) on two CPUs at once; a
thread would share one interpreter lock.  The helper writes each datagram's send time — the
clock read right before the syscall — and the errno of a send that failed into shared memory;
the driver replays them as `burst.sent(k, at, error)` every turn, in k order, and a range the
helper never sent (it died) as `sent(k, at, ECANCELED)`.

Forking is safe only in the one-shot CLI: under `SelectReactor` (asyncio's loop must never be
forked), from the main thread, with no other thread but daemons and no getaddrinfo thread
(its glibc resolver locks would be held in the child).  `may_fork` says so; elsewhere the
driver sends the whole burst itself.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import sys
import time
from typing import Any

from netladder.net.session import Burst
from netladder.net.sockets import send_each

__all__ = ["MIN_RANGE", "Helper", "may_fork"]

MIN_RANGE = 1024  # below this a process costs more than it saves


def _single_threaded() -> bool:
    """No thread but daemons besides this main thread, and no name lookup in flight."""
    threading: Any = sys.modules.get("threading")
    if threading is None:
        return True  # never imported: no thread was ever started from Python
    current = threading.current_thread()
    if current is not threading.main_thread():
        return False
    return all(
        t.daemon and t.name != "getaddrinfo" for t in threading.enumerate() if t is not current
    )


def may_fork(sock: socket.socket, size: int) -> bool:
    """Whether a helper may send `size` datagrams of a burst on `sock`: a raw IPv4 socket, two
    CPUs to run on, and a process that forks safely (see the module docstring; the caller
    checks the reactor)."""
    return (
        size >= MIN_RANGE
        and sock.family == socket.AF_INET
        and sock.type == socket.SOCK_RAW
        and len(os.sched_getaffinity(0)) >= 2
        and _single_threaded()
    )


class Helper:
    """Burst datagrams k in [start, stop) sent from a child process; `replay()` hands what it
    sent to the burst.  The socket must already have IP_HDRINCL: `build` is asked for
    datagrams with their IPv4 header."""

    __slots__ = ("burst", "errors", "pid", "read", "shared", "stamps", "start", "stop")

    def __init__(self, sock: socket.socket, burst: Burst, start: int, stop: int) -> None:
        import mmap

        self.burst = burst
        self.start = start
        self.stop = stop
        size = stop - start
        # stamps[0]: how many were sent; stamps[1 + j]: when datagram start + j left.
        # errors[j]: its errno (0: none).  Anonymous shared memory survives the fork.
        self.shared = mmap.mmap(-1, 8 * (1 + size) + 4 * size)
        view = memoryview(self.shared)
        self.stamps = view[: 8 * (1 + size)].cast("q")
        self.errors = view[8 * (1 + size) :].cast("i")
        self.read = 0
        self.pid = os.fork()
        if self.pid == 0:
            _child(sock, burst, start, stop, self.stamps, self.errors)

    @property
    def running(self) -> bool:
        return self.pid != 0

    def replay(self) -> None:
        """Hand every datagram the helper sent since the last call to `burst.sent`; once it
        has exited, what it never sent as ECANCELED."""
        done = self.stamps[0]  # read first: the stamps below it are written
        self._replay(done)
        if self.pid:
            pid, _status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.pid = 0
                self._finish()

    def close(self) -> None:
        """Stop the helper (the run is over or interrupted) and account for every datagram."""
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass  # replay() reaped it and was interrupted before it could say so
            self.pid = 0
            self._finish()

    def _finish(self) -> None:
        done = self.stamps[0]
        self._replay(done)
        if self.read < self.stop - self.start:
            at = time.monotonic_ns()
            sent = self.burst.sent
            for k in range(self.start + self.read, self.stop):
                sent(k, at, errno.ECANCELED)
            self.read = self.stop - self.start
        self.stamps.release()
        self.errors.release()
        self.shared.close()

    def _replay(self, done: int) -> None:
        sent = self.burst.sent
        stamps, errors, start = self.stamps, self.errors, self.start
        for j in range(self.read, done):
            sent(start + j, stamps[1 + j], errors[j] or None)
        self.read = max(self.read, done)


def _child(
    sock: socket.socket, burst: Burst, start: int, stop: int, stamps: Any, errors: Any
) -> None:
    """The helper process: send, stamp, exit — nothing else of the parent's is touched (no
    flush of its buffers, no handler, no cleanup: os._exit)."""
    code = 0

    def record(k: int, at: int, error: int | None) -> None:
        j = k - start
        if error is not None:
            errors[j] = error
        stamps[1 + j] = at
        stamps[0] = j + 1  # after the stamp: the reader trusts stamps below this count

    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent reports the interruption
        send_each(sock, burst.build, record, start, stop, ip_header=True)
    except BaseException:
        code = 1
    finally:
        os._exit(code)
