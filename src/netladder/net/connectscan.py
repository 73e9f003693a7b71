"""The driver's connect-scan strategy: a `ConnectPlan` (net/session.py) run over one epoll set.

Thousands of non-blocking connects are in flight at once, and the kernel's part of each
(socket, SYN, the peer's answer, close) is most of the cost, so every syscall is counted:

- Sockets are created non-blocking (SOCK_NONBLOCK: no fcntl) with IP_RECVERR on, so the ICMP
  error behind a failed connect is read from the error queue with its type and sender.
- On a near path the peer's RST is processed before connect() returns: SO_ERROR says
  ECONNREFUSED at once and the port needs no epoll round at all.
- A socket refused by a RST is reused: its next connect() first returns ECONNABORTED (or a
  late error of its last connect), which disconnects it without sending anything, and is then a
  fresh connect — half the cost of socket() + close().  A socket an ICMP error answered is never
  reused: the error is only *soft* while connect() holds the socket (tcp_v4_err), which stays in
  SYN_SENT retransmitting, and a connect on it would say EALREADY about a port it was never
  asked about.  A reused socket that is still in SYN_SENT may be woken without an answer: that
  wake is ignored (edge-triggered, it does not repeat).
- Sockets are registered edge-triggered (EPOLLET: one wake per answer); one that timed out is
  closed in SYN_SENT, which sends nothing (a late SYN/ACK then meets the kernel's RST); an open
  one is closed with SO_LINGER 0, an RST, leaving no TIME_WAIT behind.
- A large scan forks one worker per core, each running the plan's `share(k, n)` in a tight
  loop and handing back `export()` through a pipe (threads would only queue on the GIL at
  every syscall).  Only under the CLI's SelectReactor with no other thread alive (a glibc
  resolver lock held by a lookup thread would stay locked in the child); under asyncio the
  scan runs in this process, its epoll descriptor registered with the loop, and gives the loop
  a turn every SEND_BURST connects.
"""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import select
import signal
import socket
import sys
import time
from collections.abc import Callable

from netladder.errors import NetladderError
from netladder.net.linux import TCP_STATE_SYN_SENT
from netladder.net.reactor import Reactor, SelectReactor
from netladder.net.session import ConnectPlan
from netladder.net.sockets import (
    close_with_reset,
    enable_recverr,
    error_queued,
    family_of,
    kernel_rtt_ns,
    receive,
)

__all__ = ["ConnectScan", "raise_fd_limit"]

# Connects per round before looking at answers: answers that are not processed inside
# connect() are seen promptly, so their RTT samples stay true; under asyncio, the loop's turn.
SEND_BURST = 64
SPARE_SOCKETS = 64
MAX_WAIT_NS = 50_000_000  # a worker looks at its timeouts at least this often
FD_RESERVE = 128  # descriptors left for everything else
COLLECT_WAIT_S = 5.0  # after Ctrl-C, how long the workers get to hand back what they have
# What a reused socket's first connect() may say about its previous connect: a fresh socket
# is needed (EALREADY: still in SYN_SENT; 0/EISCONN: a late SYN/ACK connected it;
# EINPROGRESS: it was not connecting after all, and has just sent a SYN of its own).
_NOT_REUSABLE = frozenset({errno.EALREADY, errno.EISCONN, errno.EINPROGRESS, 0})
# Out of local resources: the plan puts the port back (and halves its window).
_LOCAL = frozenset(
    {errno.EADDRNOTAVAIL, errno.EAGAIN, errno.ENOBUFS, errno.EMFILE, errno.ENFILE, errno.EADDRINUSE}
)


def raise_fd_limit(want: int) -> int:
    """Raise the soft open-files limit towards `want` (up to the hard limit); the new soft."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
    return int(soft) if soft != resource.RLIM_INFINITY else want


def _tcp_state(sock: socket.socket) -> int:
    """The kernel's TCP state of a socket (the first byte of struct tcp_info)."""
    try:
        return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]
    except OSError:
        return 0


class _Engine:
    """One process's share of the connects: the epoll set, the sockets in flight (in the order
    they were sent), the spare sockets."""

    __slots__ = ("address", "cap", "ep", "family", "inflight", "plan", "spare", "version")

    def __init__(self, plan: ConnectPlan, cap: int) -> None:
        self.plan = plan
        self.address = plan.address
        self.family = family_of(plan.address)
        self.version = 4 if self.family == socket.AF_INET else 6
        self.cap = max(1, cap)
        self.ep = select.epoll()
        self.inflight: dict[int, tuple[socket.socket, int, int]] = {}  # fd -> (sock, i, sent)
        self.spare: list[socket.socket] = []

    def _socket(self) -> socket.socket:
        sock = socket.socket(self.family, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
        try:
            enable_recverr(sock, self.version)
        except OSError:
            sock.close()
            raise
        return sock

    def fill(self, now: int) -> int:
        """Start connects while the window allows, at most SEND_BURST: how many were started
        (some answered inside connect() already).  SEND_BURST: more may start at once."""
        plan, inflight, spare = self.plan, self.inflight, self.spare
        address = self.address
        limit = min(plan.window(), self.cap)
        clock = time.monotonic_ns
        sol, so_error = socket.SOL_SOCKET, socket.SO_ERROR
        inprogress, refused = errno.EINPROGRESS, errno.ECONNREFUSED
        register, edge = self.ep.register, select.EPOLLOUT | select.EPOLLET
        queued, answered = error_queued, plan.answered
        burst = SEND_BURST
        while burst and len(inflight) < limit:
            i = plan.next(now)
            if i is None:
                break
            burst -= 1
            target = (address, plan.port(i))
            s = None
            if spare:
                s = spare.pop()
                # Its first connect() ends the last one: ECONNABORTED, or an error that
                # arrived since — which belongs to that port, not to this one.
                if s.connect_ex(target) in _NOT_REUSABLE:
                    close_with_reset(s)
                    s = None
            if s is None:
                try:
                    s = self._socket()
                except OSError as exc:
                    if exc.errno in _LOCAL and inflight:
                        at = clock()
                        answered(i, exc.errno or errno.EMFILE, at, at, None)  # put back
                        break
                    reason = exc.strerror or str(exc)
                    raise NetladderError("cannot open a socket").because(reason) from None
            sent = clock()
            err = s.connect_ex(target)
            if err == inprogress:
                # On a near path the answer is often processed before connect() returns:
                # no need to wait for it.
                err = s.getsockopt(sol, so_error)
                if err == 0:
                    fd = s.fileno()
                    register(fd, edge)
                    inflight[fd] = (s, i, sent)
                    continue
            if err == refused and not queued(s):
                # The common case, inlined: a closed port's RST, processed inside connect()
                # (no ICMP error queued, so it was not one).
                answered(i, err, sent, clock(), None)
                if len(spare) < SPARE_SOCKETS:
                    spare.append(s)
                else:
                    s.close()
                continue
            if err in _LOCAL and inflight:
                s.close()
                answered(i, err, sent, clock(), None)  # put back, with a smaller window
                break
            self._finish(s, i, err, sent, clock())
        return SEND_BURST - burst

    def events(self, timeout: float) -> int:
        """Handle the sockets that became writable (an answer, or an error); how many."""
        inflight = self.inflight
        unregister = self.ep.unregister
        sol, so_error = socket.SOL_SOCKET, socket.SO_ERROR
        clock = time.monotonic_ns
        handled = 0
        for fd, _ev in self.ep.poll(timeout, 4096):
            entry = inflight.get(fd)
            if entry is None:
                continue
            s, i, sent = entry
            err = s.getsockopt(sol, so_error)
            if err == 0 and _tcp_state(s) == TCP_STATE_SYN_SENT:
                # A reused socket can be woken while its SYN is still unanswered: not an
                # answer (the edge-triggered registration will not repeat it).
                continue
            del inflight[fd]
            unregister(fd)
            # Each answer's own time: several may be read after one wake-up.
            self._finish(s, i, err, sent, clock())
            handled += 1
        return handled

    def _finish(self, s: socket.socket, i: int, err: int, sent: int, at: int) -> None:
        if err in (0, errno.ECONNRESET):
            # Connected (ECONNRESET: accepted, then reset).  The kernel's own measure of the
            # handshake, when it has one, is the answer's time.
            kernel = kernel_rtt_ns(s)
            if kernel is not None:
                at = sent + kernel
            close_with_reset(s)
            self.plan.answered(i, err, sent, at, None)
            return
        icmp = None
        if err != errno.ECONNREFUSED or error_queued(s):
            got = receive(s, 512, errqueue=True)
            icmp = got.error if got is not None else None
        if icmp is None and err == errno.ECONNREFUSED and len(self.spare) < SPARE_SOCKETS:
            self.spare.append(s)  # refused by a RST: the socket is closed and can be reused
        else:
            s.close()  # an ICMP error may have left it in SYN_SENT (a soft error)
        self.plan.answered(i, err, sent, at, icmp)

    def expire(self, now: int) -> None:
        """Close the connects unanswered for the plan's timeout (in SYN_SENT: nothing is
        sent) and tell the plan; oldest first, as they were sent."""
        inflight = self.inflight
        if not inflight:
            return
        timeout = self.plan.timeout_ns()
        while inflight:
            fd, (s, i, sent) = next(iter(inflight.items()))
            if now - sent < timeout:
                break
            del inflight[fd]
            self.ep.unregister(fd)
            s.close()
            self.plan.silent(i, sent, now)

    def deadline(self) -> int | None:
        if not self.inflight:
            return None
        return next(iter(self.inflight.values()))[2] + self.plan.timeout_ns()

    def close(self) -> None:
        for s, _i, _sent in self.inflight.values():
            s.close()
        self.inflight.clear()
        for s in self.spare:
            s.close()
        self.spare.clear()
        self.ep.close()

    def run_alone(self, stopped: Callable[[], bool], progress: Callable[[int], None]) -> None:
        """The tight loop of a forked worker: no reactor, nothing else to serve."""
        plan = self.plan
        clock = time.monotonic_ns
        decided = getattr(plan, "decided", None)
        reported = 0
        while not plan.done() and not stopped():
            now = clock()
            more = self.fill(now) == SEND_BURST
            wait = 0.0
            if self.inflight and not more:
                due = self.deadline()
                assert due is not None
                wait = max(0, min(due - clock(), MAX_WAIT_NS)) / 1e9
            self.events(wait)
            self.expire(clock())
            if decided is not None:
                count = plan.decided  # type: ignore[attr-defined]
                if count - reported >= 256:
                    progress(count - reported)
                    reported = count
        if decided is not None and plan.decided > reported:  # type: ignore[attr-defined]
            progress(plan.decided - reported)  # type: ignore[attr-defined]


class _Worker:
    __slots__ = ("buffer", "fd", "k", "pid")

    def __init__(self, k: int, pid: int, fd: int) -> None:
        self.k = k
        self.pid = pid
        self.fd = fd
        self.buffer = bytearray()


class ConnectScan:
    """A `ScanConnects` inside a driver run: `pump` (each turn), `expire`, `deadline`,
    `finished`, `close`.  `wake` tells the driver the session has news."""

    def __init__(
        self, plan: ConnectPlan, workers: int, reactor: Reactor, wake: Callable[[], None]
    ) -> None:
        self.plan = plan
        self.reactor = reactor
        self.wake = wake
        self.error: BaseException | None = None
        self.more = False
        self.engine: _Engine | None = None
        self.workers: dict[int, _Worker] = {}  # read fd -> worker
        self.shares = 0  # how many workers the plan was shared among
        cap = raise_fd_limit(plan.window() + 2 * SEND_BURST + 2 * FD_RESERVE) - FD_RESERVE
        workers = min(workers, os.cpu_count() or 1)
        if workers > 1 and _may_fork(reactor):
            self._fork(workers, cap // workers)
        else:
            self.engine = _Engine(plan, cap)
            reactor.add_reader(self.engine.ep.fileno(), self._ready)

    # -- the driver's side ---------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        if self.engine is not None:
            return not self.engine.inflight and self.plan.done()
        return not self.workers

    def pump(self, now: int) -> None:
        if self.error is not None:
            error, self.error = self.error, None
            raise error
        if self.engine is not None:
            started = self.engine.fill(now)
            self.more = started == SEND_BURST
            if started:
                self.wake()  # answered inside connect(), or the plan's window moved

    def expire(self, now: int) -> None:
        if self.engine is not None:
            self.engine.expire(now)

    def deadline(self) -> int | None:
        if self.error is not None or self.more:
            return 0  # due now: the next turn starts more connects (or raises)
        return self.engine.deadline() if self.engine is not None else None

    def close(self) -> None:
        if self.engine is not None:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self.reactor.remove_reader(self.engine.ep.fileno())
            self.engine.close()
            self.engine = None
        if self.workers:
            self._collect_rest()

    def _ready(self) -> None:
        # A reactor callback: an exception here would not reach the run under asyncio, so it
        # waits for the next pump.
        assert self.engine is not None
        try:
            handled = self.engine.events(0)
        except Exception as exc:
            self.error = exc
            handled = 1
        if handled:
            self.wake()

    # -- forked workers ------------------------------------------------------------------------

    def _fork(self, n: int, cap: int) -> None:
        import warnings

        self.shares = n
        for k in range(n):
            rfd, wfd = os.pipe2(os.O_CLOEXEC)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)  # fork + threads
                    pid = os.fork()
            except OSError as exc:
                os.close(rfd)
                os.close(wfd)
                self._kill_workers()
                reason = exc.strerror or str(exc)
                raise NetladderError("cannot start a scan worker").because(reason) from None
            if pid == 0:  # pragma: no cover - the child process
                os.close(rfd)
                _worker_main(self.plan, k, n, cap, wfd)
            os.close(wfd)
            os.set_blocking(rfd, False)
            self.workers[rfd] = _Worker(k, pid, rfd)
            self.reactor.add_reader(rfd, lambda fd=rfd: self._readable(fd))  # type: ignore[misc]

    def _readable(self, fd: int) -> None:
        worker = self.workers.get(fd)
        if worker is None:
            return
        try:
            chunk = os.read(fd, 1 << 20)
        except BlockingIOError:
            return
        worker.buffer += chunk
        self._progress(worker)
        if not chunk:
            self._ended(worker)

    def _progress(self, worker: _Worker) -> None:
        buf = worker.buffer
        progressed = getattr(self.plan, "progressed", None)
        while buf[:1] == b"P" and len(buf) >= 5:
            if progressed is not None:
                progressed(int.from_bytes(buf[1:5], "big"))
            del buf[:5]
            self.wake()

    def _ended(self, worker: _Worker) -> None:
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.reactor.remove_reader(worker.fd)
        del self.workers[worker.fd]
        os.close(worker.fd)
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(worker.pid, 0)
        buf = bytes(worker.buffer)
        if buf[:1] == b"R":
            self.plan.absorb(worker.k, self.shares, buf[1:])
        elif buf[:1] == b"E":
            self.error = NetladderError(buf[1:].decode("utf-8", "replace"))
        elif self.error is None:
            self.error = NetladderError("a scan worker died")
        self.wake()

    def _kill_workers(self) -> None:
        for worker in self.workers.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, signal.SIGKILL)
        self._collect_rest(wait=0.0)

    def _collect_rest(self, wait: float = COLLECT_WAIT_S) -> None:
        """Ask the workers still running to stop and hand back what they have (Ctrl-C, or a
        run that ended early), waiting at most `wait` seconds; a second Ctrl-C meanwhile
        would lose it, so it is ignored."""
        for worker in self.workers.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, signal.SIGTERM)
        previous = None
        if _main_thread():
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            deadline = time.monotonic() + wait
            while self.workers:
                left = deadline - time.monotonic()
                readable, _, _ = select.select(list(self.workers), [], [], max(0.0, left))
                for fd in readable:
                    self._readable(fd)
                if left <= 0 and not readable:
                    break
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
            for worker in list(self.workers.values()):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.pid, signal.SIGKILL)
                self._ended(worker)


def _main_thread() -> bool:
    threading = sys.modules.get("threading")
    return threading is None or threading.current_thread() is threading.main_thread()


def _may_fork(reactor: Reactor) -> bool:
    """Workers only under the CLI's selector, with no other thread alive: a lookup thread may
    hold glibc's resolver lock, which would stay locked in the child."""
    if not isinstance(reactor, SelectReactor):
        return False
    threading = sys.modules.get("threading")
    return threading is None or threading.active_count() == 1


def _worker_main(plan: ConnectPlan, k: int, n: int, cap: int, wfd: int) -> None:  # pragma: no cover
    """A forked worker: scan `plan.share(k, n)`, report progress, hand back its export."""
    stop = False

    def stopping(*_args: object) -> None:
        nonlocal stop
        stop = True

    code = 0
    try:
        # A caller's event loop may have set a signal wakeup fd: it is the parent's.
        with contextlib.suppress(ValueError, OSError):
            signal.set_wakeup_fd(-1)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, stopping)
        share = plan.share(k, n)
        engine = _Engine(share, cap)

        def progress(count: int) -> None:
            _write(wfd, b"P" + count.to_bytes(4, "big"))

        try:
            engine.run_alone(lambda: stop, progress)
        finally:
            engine.close()
        _write(wfd, b"R" + share.export())
    except NetladderError as exc:
        _write(wfd, b"E" + str(exc).encode())
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def _write(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except InterruptedError:
            continue
