"""TCP connect scan: unprivileged, many non-blocking connects in flight over one epoll set.

The kernel does the handshake; a completed connect is open (syn-ack), ECONNREFUSED is closed
(the port answered RST), an ICMP unreachable surfaces as EHOSTUNREACH/ENETUNREACH (filtered)
and silence past the adaptive timeout is retried, then filtered (no-response).  A socket that
timed out is closed in SYN_SENT, which sends nothing; a late SYN/ACK then meets the kernel's
RST.  Open connections are closed with SO_LINGER 0 (an RST), leaving no TIME_WAIT behind.

Every socket has IP_RECVERR on, so an ICMP error behind a failed connect is read from the error
queue with its type and sender: a port unreachable from a router (not the target) is filtered,
as nmap's SYN scan says, not closed; a time exceeded (a routing loop) is named as such, not
as the kernel's EHOSTUNREACH.  Otherwise the reasons are the ones nmap -sT gives.

An ICMP error that arrives while connect() itself holds the socket (a near path answers that
fast) is only a *soft* error: connect() returns EINPROGRESS, SO_ERROR hands over the error, and
the socket stays in SYN_SENT, retransmitting (tcp_v4_err).  Such a socket is never reused: a
connect on it would say EALREADY about a port it was never asked about.

Speed: on a near path the peer's RST is processed before connect() returns, so most ports need
no epoll round at all; sockets refused by a RST are reused (half the cost of socket() + close());
and a large scan forks one worker per core, since the kernel's part of each connect dominates
and threads would only queue on the GIL at every syscall.
"""

from __future__ import annotations

import array
import contextlib
import errno
import os
import pickle
import resource
import select
import signal
import socket
import time
import warnings
from collections import deque
from collections.abc import Sequence

from netladder.errors import NetladderError
from netladder.l4.engine import CODE, ProgressFn, Scanner, Window
from netladder.l4.model import PortState
from netladder.net.linux import SO_EE_ORIGIN_ICMP6, TCP_STATE_SYN_SENT
from netladder.net.sockets import (
    SockError,
    close_with_reset,
    enable_recverr,
    error_queued,
    kernel_rtt_ns,
    receive,
)
from netladder.proto.tcp import icmp_reason

__all__ = ["ConnectScan", "connect_outcome", "raise_fd_limit"]

# errno after a failed connect -> (state, nmap's reason)
CONNECT_ERRORS: dict[int, tuple[PortState, str]] = {
    errno.ECONNREFUSED: (PortState.CLOSED, "conn-refused"),  # RST (or ICMP port unreachable)
    errno.EHOSTUNREACH: (PortState.FILTERED, "host-unreach"),  # ICMP 3/1,3/10,3/13 or no ARP
    errno.ENETUNREACH: (PortState.FILTERED, "net-unreach"),  # ICMP 3/0, 3/9
    errno.EHOSTDOWN: (PortState.FILTERED, "host-unreach"),
    errno.ETIMEDOUT: (PortState.FILTERED, "no-response"),
    errno.ENOPROTOOPT: (PortState.FILTERED, "proto-unreach"),  # ICMP 3/2 (as nmap -sT)
    errno.EACCES: (PortState.FILTERED, "local-prohibited"),  # this host's own firewall
    errno.EPERM: (PortState.FILTERED, "local-prohibited"),
}
# What a reused socket's first connect() may say about its previous connect: a fresh socket
# is needed (EALREADY: still in SYN_SENT; 0/EISCONN: a late SYN/ACK connected it;
# EINPROGRESS: it was not connecting after all, and has just sent a SYN of its own).
_NOT_REUSABLE = frozenset({errno.EALREADY, errno.EISCONN, errno.EINPROGRESS, 0})
# Out of local resources: put the port back and try again with fewer in flight.
RETRY_LOCALLY = {
    errno.EADDRNOTAVAIL,
    errno.EAGAIN,
    errno.ENOBUFS,
    errno.EMFILE,
    errno.ENFILE,
    errno.EADDRINUSE,
}

DEFAULT_WINDOW = 2048
MAX_WORKERS = 4
SPARE_SOCKETS = 64
# Connects per round before looking at answers: answers that are not processed inside connect()
# are seen promptly, so their RTT samples stay true.
SEND_BURST = 64
FORK_OVER = 4096  # ports; below this one process is quicker than forking


def raise_fd_limit(want: int) -> int:
    """Raise the soft open-files limit towards `want` (up to the hard limit); the new soft."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
    return int(soft) if soft != resource.RLIM_INFINITY else want


def _tcp_state(s: socket.socket) -> int:
    """The kernel's TCP state of a socket (the first byte of struct tcp_info)."""
    try:
        return s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]
    except OSError:
        return 0


class ConnectScan(Scanner):
    method = "connect"

    def __init__(
        self,
        target: str,
        address: str,
        ports: Sequence[int],
        timeout_ms: float | None = None,
        progress: ProgressFn | None = None,
        window: int = DEFAULT_WINDOW,
    ) -> None:
        super().__init__(target, address, ports, timeout_ms, progress)
        self.family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self.version = 6 if self.family == socket.AF_INET6 else 4
        self.window = max(1, min(window, raise_fd_limit(window + 256) - 128))

    def _scan(self) -> None:
        # The kernel's share of a connect (socket, SYN, the peer's RST, close) is most of the
        # cost.  Threads would fight over the GIL at every syscall, so a large scan forks one
        # worker process per core, each scanning an interleaved share of the ports.
        n = len(self.tally.ports)
        workers = min(MAX_WORKERS, os.cpu_count() or 1) if n >= FORK_OVER else 1
        if workers == 1:
            self._worker(range(n), self.window)
            return
        children: dict[int, tuple[int, int]] = {}  # read fd -> (pid, share start)
        try:
            for k in range(workers):
                rfd, wfd = os.pipe()
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", DeprecationWarning)  # fork + threads
                        pid = os.fork()
                except OSError:  # no processes left: scan everything here instead
                    os.close(rfd)
                    os.close(wfd)
                    for fd, (child, _k) in children.items():
                        with contextlib.suppress(OSError):
                            os.kill(child, signal.SIGKILL)
                        os.close(fd)
                        with contextlib.suppress(ChildProcessError, OSError):
                            os.waitpid(child, 0)
                    children.clear()
                    self._worker(range(n), self.window)
                    return
                if pid == 0:  # pragma: no cover - the child process
                    os.close(rfd)
                    code = 0
                    try:
                        self._child(range(k, n, workers), self.window // workers, wfd)
                    except BaseException:
                        code = 1
                    os._exit(code)
                os.close(wfd)
                children[rfd] = (pid, k)
            self._collect(children, workers)
        finally:
            for rfd, (pid, _k) in children.items():
                with contextlib.suppress(OSError):
                    os.close(rfd)
                with contextlib.suppress(ChildProcessError, OSError):
                    os.waitpid(pid, 0)

    def _child(self, share: range, window: int, wfd: int) -> None:  # pragma: no cover
        # A caller's event loop may have set a signal wakeup fd: it is the parent's.
        with contextlib.suppress(ValueError, OSError):
            signal.set_wakeup_fd(-1)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self.stop())

        def report(count: int) -> None:
            os.write(wfd, b"P" + count.to_bytes(4, "big"))

        self.progress = report if self.progress is not None else None
        error = ""
        try:
            self._worker(share, window)
        except NetladderError as exc:
            error = str(exc)
        t, step = self.tally, share.step
        timing = self.timing
        payload = pickle.dumps(
            (
                bytes(t.state[share.start :: step]),
                bytes(t.tries[share.start :: step]),
                t.rtt[share.start :: step].tobytes(),
                t.reason[share.start :: step],
                t.reporter,
                t.loss_seen,
                self.probes_sent,
                (timing.srtt, timing.rttvar, timing.samples),
                error,
            )
        )
        data = b"R" + len(payload).to_bytes(4, "big") + payload
        view = memoryview(data)
        while view:
            view = view[os.write(wfd, view) :]
        os.close(wfd)

    def _collect(self, children: dict[int, tuple[int, int]], step: int) -> None:
        """Read each worker's progress and final tallies; on stop(), ask them to finish."""
        t = self.tally
        buffers = {fd: bytearray() for fd in children}
        open_fds = set(children)
        signalled = False
        srtts: list[tuple[float | None, float, int]] = []
        errors: list[str] = []
        while open_fds:
            if self.stopped and not signalled:
                for fd in open_fds:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(children[fd][0], signal.SIGTERM)
                signalled = True
            readable, _, _ = select.select(list(open_fds), [], [], 0.05)
            for fd in readable:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    open_fds.discard(fd)
                buf = buffers[fd]
                buf += chunk
                while buf[:1] == b"P" and len(buf) >= 5:
                    if self.progress is not None:
                        self.progress(int.from_bytes(buf[1:5], "big"))
                    del buf[:5]
        for fd, buf in buffers.items():
            if buf[:1] != b"R" or len(buf) < 5:
                errors.append("a scan worker died")
                continue
            k = children[fd][1]
            (states, tries, rtts, reasons, reporter, loss, sent, timing, error) = pickle.loads(
                bytes(buf[5:])
            )
            t.state[k::step] = states
            t.tries[k::step] = tries
            t.rtt[k::step] = array.array("d", rtts)
            t.reason[k::step] = reasons
            t.reporter.update(reporter)
            t.loss_seen |= loss
            self.probes_sent += sent
            srtts.append(timing)
            if error:
                errors.append(error)
        known = [s for s in srtts if s[0] is not None]
        if known:
            best = max(known, key=lambda s: s[2])
            self.timing.srtt, self.timing.rttvar, self.timing.samples = best
        if errors:
            raise NetladderError(errors[0])

    def _socket(self) -> socket.socket:
        s = socket.socket(self.family, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
        try:
            enable_recverr(s, self.version)
        except OSError:
            s.close()
            raise
        return s

    def _worker(self, share: range, limit: int) -> None:
        t = self.tally
        ports = t.ports
        address = self.address
        ep = select.epoll()
        pending: deque[int] = deque(share)
        # fd -> (socket, port index, send time); insertion order is send order
        inflight: dict[int, tuple[socket.socket, int, float]] = {}
        # Sockets refused by a RST are reused: the next connect() on one first returns
        # ECONNABORTED (or a late error of its last connect), which disconnects it without
        # sending anything, and is then a fresh connect.  Half the cost of socket() + close().
        spare: list[socket.socket] = []
        parked: list[int] = []  # silent after the tries allowed so far
        clock = time.monotonic
        progress = self.progress
        reported = decided = 0
        window = Window(limit)
        sol, so_error = socket.SOL_SOCKET, socket.SO_ERROR
        inprogress = errno.EINPROGRESS
        not_reusable = _NOT_REUSABLE
        stop = self._stop
        refused = errno.ECONNREFUSED
        state, reason, rtts = t.state, t.reason, t.rtt
        closed = CODE[PortState.CLOSED]
        sample = self.timing.sample
        new_socket = self._socket
        queued = error_queued
        try:
            while (pending or inflight) and not self.stopped:
                burst = SEND_BURST
                while pending and len(inflight) < window.size and burst and not stop.is_set():
                    burst -= 1
                    i = pending.popleft()
                    target = (address, ports[i])
                    s = None
                    if spare:
                        s = spare.pop()
                        # Its first connect() ends the last one: ECONNABORTED, or an error
                        # that arrived since — which belongs to that port, not to this one.
                        err = s.connect_ex(target)
                        if err in not_reusable:
                            close_with_reset(s)
                            s = None
                    if s is None:
                        try:
                            s = new_socket()
                        except OSError as exc:
                            if exc.errno in RETRY_LOCALLY and inflight:
                                pending.appendleft(i)
                                window.shrink(len(inflight))
                                break
                            raise NetladderError(f"cannot open a socket: {exc.strerror}") from None
                    t.tries[i] += 1
                    self.probes_sent += 1
                    sent = clock()
                    err = s.connect_ex(target)
                    if err == inprogress:
                        # On a near path the answer is often processed before connect()
                        # returns: no need to wait for it.
                        err = s.getsockopt(sol, so_error)
                        if err == 0:
                            fd = s.fileno()
                            ep.register(fd, select.EPOLLOUT | select.EPOLLET)
                            inflight[fd] = (s, i, sent)
                            continue
                    if err == refused and not queued(s):
                        # The common case, inlined: a closed port's RST, processed inside
                        # connect() (no ICMP error queued, so it was not one).
                        rtt = clock() - sent
                        if not state[i]:
                            state[i] = closed
                            reason[i] = "conn-refused"
                            rtts[i] = rtt
                            decided += 1
                            if t.tries[i] > 1:
                                t.loss_seen = True
                                window.dropped(sent, self.timing.timeout)
                        window.answered()
                        sample(rtt)
                        if len(spare) < SPARE_SOCKETS:
                            spare.append(s)
                        else:
                            s.close()
                        continue
                    if err in RETRY_LOCALLY and inflight:
                        s.close()
                        t.tries[i] -= 1
                        pending.appendleft(i)
                        window.shrink(len(inflight))
                        break
                    decided += self._finish(s, i, err, clock() - sent, window, sent, spare)
                now = clock()
                timeout = self.timing.timeout
                wait = 0.0
                if inflight and not (pending and len(inflight) < window.size) and burst:
                    oldest = next(iter(inflight.values()))[2]
                    wait = max(0.0, oldest + timeout - now)
                events = ep.poll(min(wait, 0.05) if wait else 0, 4096) if inflight else ()
                for fd, _ev in events:
                    entry = inflight.get(fd)
                    if entry is None:
                        continue
                    s, i, sent = entry
                    err = s.getsockopt(sol, so_error)
                    if err == 0 and _tcp_state(s) == TCP_STATE_SYN_SENT:
                        # A reused socket can be woken while its SYN is still unanswered:
                        # not an answer (the edge-triggered registration will not repeat it).
                        continue
                    del inflight[fd]
                    ep.unregister(fd)
                    # Each answer's own time: several may be read after one wake-up.
                    now = clock()
                    decided += self._finish(s, i, err, now - sent, window, now, spare)
                now = clock()
                allowed = self.allowed_tries()
                while inflight:
                    fd, (s, i, sent) = next(iter(inflight.items()))
                    if now - sent < timeout:
                        break
                    del inflight[fd]
                    s.close()  # in SYN_SENT: closing sends nothing
                    if t.tries[i] < allowed:
                        pending.appendleft(i)  # retransmit soon: keeps the tail short
                    else:
                        parked.append(i)
                if not (pending or inflight) and parked:
                    # Silent after the base tries: filtered, unless the path was seen losing
                    # packets meanwhile — then they get nmap's full retries first.
                    limit = self.allowed_tries()
                    for i in parked:
                        if t.tries[i] < limit:
                            pending.append(i)
                        else:
                            decided += t.decide(i, PortState.FILTERED, "no-response")
                    parked.clear()
                if progress is not None and decided - reported >= 256:
                    progress(decided - reported)
                    reported = decided
        finally:
            for s, _i, _sent in inflight.values():
                s.close()
            for s in spare:
                s.close()
            ep.close()
            if progress is not None and decided > reported:
                progress(decided - reported)

    def _finish(
        self,
        s: socket.socket,
        i: int,
        err: int,
        rtt: float,
        window: Window,
        now: float,
        spare: list[socket.socket],
    ) -> bool:
        t = self.tally
        window.answered()
        if t.tries[i] > 1:
            window.dropped(now, self.timing.timeout)
        if err in (0, errno.ECONNRESET):
            # Connected.  ECONNRESET is the same answer, reset since: a RST in SYN_SENT is
            # ECONNREFUSED, so the handshake was done and the service accepted, then reset
            # (nmap -sT reads the connect's success before the reset: open).
            # The kernel's own measure of the handshake, when it has one.
            kernel = kernel_rtt_ns(s)
            if kernel is not None:
                rtt = kernel / 1e9
            close_with_reset(s)
            self.timing.sample(rtt)
            return t.decide(i, PortState.OPEN, "syn-ack", rtt)
        icmp = None
        if err != errno.ECONNREFUSED or error_queued(s):
            got = receive(s, 512, errqueue=True)
            icmp = got.error if got is not None else None
        if icmp is None and err == errno.ECONNREFUSED and len(spare) < SPARE_SOCKETS:
            spare.append(s)  # refused by a RST: the socket is closed and can be reused
        else:
            s.close()  # an ICMP error may have left it in SYN_SENT (a soft error)
        state, reason, reporter = connect_outcome(err, icmp, self.address)
        if state is PortState.CLOSED:
            self.timing.sample(rtt)
        return t.decide(i, state, reason, rtt, reporter)


def connect_outcome(
    err: int, icmp: SockError | None, target: str
) -> tuple[PortState, str, str | None]:
    """(state, reason, who said so) for a failed connect: nmap -sT's reading of the errno,
    except where the ICMP error behind it says more — a time exceeded names the loop or the
    too-long path, not an unreachable host; a port unreachable sent by a router says that
    router filters the port (nmap -sS: filtered), not that the target's port is closed."""
    reporter = None
    if icmp is not None and icmp.is_icmp:
        reporter = icmp.offender
        version = 6 if icmp.origin == SO_EE_ORIGIN_ICMP6 else 4
        why = icmp_reason(version, icmp.icmp_type, icmp.icmp_code)
        if why == "time-exceeded" or (why == "port-unreach" and reporter not in (None, target)):
            return PortState.FILTERED, why, reporter
    state, reason = CONNECT_ERRORS.get(
        err, (PortState.FILTERED, errno.errorcode.get(err, str(err)).lower())
    )
    return state, reason, reporter
