"""The one I/O driver: runs any mix of sans-IO sessions (`net/session.py`) together.

`drive(sessions, reactor)` is one coroutine, written once.  It opens the channels each session
declares, performs the actions each `poll()` returns, reads every socket (through
`net.sockets.receive` / `receive_many`: kernel timestamps, reply TTLs, the error queue) and
hands what arrived to the session it belongs to, then sleeps until the earliest wake-up any
session (or the driver's own deadlines: lookups, connect scans) asks for, or until input
arrives.  It awaits nothing but `reactor.sleep()`, so it runs under asyncio and under a plain
selector alike.

Callers use three functions, and API functions and engine coroutines await nothing else:

    interrupted = await run(sessions, on_event)   the reactor driving the caller: the
                                                  SelectReactor of `blocking`, else asyncio's
    target = await lookup("www.lab")              the one resolver, under either reactor
    result = blocking(api.ping(options))          the one-shot CLI: no asyncio imported

Ctrl-C (thrown in by `SelectReactor`) interrupts every unfinished session — each then reports
what it gathered — closes every socket, and `run` returns True.  Under asyncio, cancellation
interrupts and closes the same way and propagates as CancelledError.

The implementations here are the plain, correct ones; the speed strategies (batched sends, the
sweep's helper sender, bulk receive) replace them behind the same actions (plan of issue 14,
§1.7).  A connect scan (`ScanConnects`) is always the epoll strategy of net/connectscan.py.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from netladder.net.linux import SO_EE_ORIGIN_LOCAL
from netladder.net.reactor import Reactor, SelectReactor, current
from netladder.net.session import (
    Burst,
    ChannelSpec,
    OpenChannel,
    Opened,
    Send,
    SendBurst,
    Session,
    Step,
)
from netladder.net.sockets import (
    IcmpSocket,
    Received,
    SockError,
    close_with_reset,
    enable_recvttl,
    kernel_rtt_ns,
    netns_entered,
    open_hold,
    open_icmp,
    open_packet,
    open_raw_tcp,
    open_stream,
    open_udp,
    packet_drops,
    receive,
    receive_many,
    send_each,
    set_dont_fragment,
    set_rcvbuf,
    set_ttl,
)
from netladder.net.targets import ResolveError, Target, literal_target, start_lookup

if TYPE_CHECKING:
    import ssl

    from netladder.net.actions import Connect, Lookup, StartTls
    from netladder.net.connectscan import ConnectScan
    from netladder.net.helper import Helper
    from netladder.net.tls import TlsInfo

__all__ = ["OnEvent", "blocking", "drive", "lookup", "prepare_tls", "run"]

T = TypeVar("T")
OnEvent = Callable[[Session[Any], Any], None]

IDLE_NS = 3600 * 1_000_000_000  # no wake-up asked for: sleep until input arrives
# A socket fails the next send once with the error the last ICMP message left on it (sk_err,
# set by every ICMP error about our datagrams, with IP_RECVERR on datagram sockets too); that
# error belongs to an earlier probe, so the send is simply repeated.  The errnos are what the
# kernel makes of ICMP errors (net/ipv4/icmp.c icmp_err_convert, net/ipv6/icmp.c
# icmpv6_err_convert: prohibited is EACCES for IPv6, protocol unreachable ENOPROTOOPT, too big
# EMSGSIZE).  While answers pour in (a trace's first hops answer within microseconds), another
# one may land between two tries: up to _SEND_TRIES, as the trace's probers always did.
_PENDING_ERRNOS = frozenset(
    {
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ECONNREFUSED,
        errno.EPROTO,
        errno.EHOSTDOWN,
        errno.EACCES,
        errno.EMSGSIZE,
        errno.ENOPROTOOPT,
    }
)
_SEND_TRIES = 4
_READ_BATCH = 4096  # datagrams read per readable event before others get a turn
_BATCH = 128  # datagrams of a paced burst per turn: the sockets are read between two
_HELPER_POLL_NS = 10_000_000  # how often a helper's sends are replayed while it runs


# -- the three entry points -----------------------------------------------------------------


async def run(sessions: Sequence[Session[Any]], on_event: OnEvent | None = None) -> bool:
    """Drive `sessions` to their end on the reactor that drives the caller: the SelectReactor
    of `blocking()`, else the running asyncio loop.  True when Ctrl-C interrupted them."""
    reactor: Reactor | None = current()
    if reactor is None:
        import asyncio  # only here: the one-shot CLI never pays for it

        from netladder.net.reactor import AsyncioReactor

        reactor = AsyncioReactor(asyncio.get_running_loop())
    return await drive(sessions, reactor, on_event)


def blocking(coro: Coroutine[Any, Any, T]) -> T:
    """Run an API or engine coroutine to its end without asyncio (the one-shot CLI)."""
    return SelectReactor().drive(coro)


async def lookup(
    text: str,
    version: int | None = None,
    *,
    prefer: int | None = None,
    fallback: bool = True,
    wait: float = 10.0,
) -> Target:
    """The target to probe: a literal at once; a name through the system resolver in a daemon
    thread whose answer wakes the current reactor, so a hung lookup ends after `wait` seconds
    in the CLI too.  ResolveError (a UsageError) when it does not resolve."""
    target = literal_target(text, version)
    if target is not None:
        return target
    from netladder.net.actions import Lookup

    session = _LookupSession(Lookup(0, text, version, prefer, fallback, wait))
    if await run([session]):
        raise KeyboardInterrupt
    return session.result()


class _LookupSession(Session[Target]):
    def __init__(self, action: Lookup) -> None:
        self.action: Lookup | None = action
        self.answer: Target | ResolveError | None = None

    def poll(self, now: int) -> Step:
        action, self.action = self.action, None
        return Step((action,) if action else (), None, (), self.answer is not None)

    def on_lookup(self, token: int, answer: Target | ResolveError, at: int) -> None:
        self.answer = answer

    def interrupt(self) -> None:
        self.answer = ResolveError(self.action.host if self.action else "", "interrupted")

    def result(self) -> Target:
        if isinstance(self.answer, ResolveError):
            raise self.answer
        assert self.answer is not None
        return self.answer


# -- channels ---------------------------------------------------------------------------------


class _Channel:
    __slots__ = ("error_queue", "fast", "ip_header", "packet", "sock", "ttl", "version")

    def __init__(
        self,
        sock: socket.socket,
        version: int,
        error_queue: bool,
        ttl: int | None,
        fast: bool,
        packet: bool = False,
    ) -> None:
        self.sock = sock
        self.version = version
        self.error_queue = error_queue
        self.ttl = ttl
        self.fast = fast
        self.packet = packet  # AF_PACKET: the kernel's drops are reported (PACKET_STATISTICS)
        self.ip_header = False  # IP_HDRINCL set (the helper sender): datagrams carry it


def _open(spec: ChannelSpec) -> tuple[_Channel, Opened]:
    if spec.netns is not None:
        with netns_entered(spec.netns):
            return _open_here(spec)
    return _open_here(spec)


def _open_here(spec: ChannelSpec) -> tuple[_Channel, Opened]:
    if spec.kind == "icmp":
        icmp: IcmpSocket = open_icmp(
            spec.version, spec.prefer, ttl=spec.ttl, device=spec.device, source=spec.source
        )
        sock = icmp.sock
        _tuned(sock, spec)
        opened = Opened(
            icmp.kind, spec.version, icmp.identifier, sock.getsockname(), icmp.includes_ip_header
        )
        return _Channel(sock, spec.version, icmp.kind == "dgram", spec.ttl, spec.fast), opened
    if spec.kind == "udp":
        sock = open_udp(
            spec.version, connect=spec.connect, source=spec.source, device=spec.device, ttl=spec.ttl
        )
        _tuned(sock, spec)
        return (
            _Channel(sock, spec.version, True, spec.ttl, spec.fast),
            Opened("udp", spec.version, None, sock.getsockname(), False),
        )
    if spec.kind == "raw_tcp":
        sock = open_raw_tcp(spec.version)
        _tuned(sock, spec)
        return (
            _Channel(sock, spec.version, False, None, spec.fast),
            Opened("raw_tcp", spec.version, None, None, False),
        )
    if spec.kind == "packet":
        if spec.device is None:
            raise ValueError("a packet channel needs a device")
        sock = open_packet(spec.device, spec.ethertype or 0x0806)
        _tuned(sock, spec)
        return (
            _Channel(sock, spec.version, False, None, spec.fast, packet=True),
            Opened("packet", spec.version, None, sock.getsockname(), False),
        )
    if spec.kind == "hold":
        sock = open_hold(spec.version, spec.source)
        return (
            _Channel(sock, spec.version, False, None, False),
            Opened("hold", spec.version, None, sock.getsockname(), False),
        )
    raise ValueError(f"unknown channel kind {spec.kind!r}")


def _tuned(sock: socket.socket, spec: ChannelSpec) -> None:
    try:
        if spec.dont_fragment:
            set_dont_fragment(sock, spec.version)
        if spec.rcvbuf is not None:
            set_rcvbuf(sock, spec.rcvbuf, spec.rcvbuf_force)
        if not spec.recv_ttl and spec.kind in ("icmp", "udp", "raw_tcp"):
            enable_recvttl(sock, spec.version, False)
        if spec.broadcast:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    except BaseException:
        sock.close()
        raise


# -- the shared echo socket -------------------------------------------------------------------


class _EchoShare:
    """One raw ICMP socket for every ping session running at once on a loop (or SelectReactor)
    with the same socket options (ChannelSpec.echo_id).  Every raw ICMP socket is handed every
    ICMP message that arrives, so N sockets for N concurrent pings would wake N times for each
    reply, and each ping would pay a socket's opening, registration and closing; here a reply
    wakes this reader once and goes to the session whose identifier it carries.  Everything
    else (an ICMP error quoting someone's probe) goes to every session, which matches it as
    it did on a socket of its own."""

    __slots__ = ("channel", "key", "reactor", "reply_type", "skip_header", "users")

    def __init__(self, key: Any, reactor: Reactor, channel: _Channel, opened: Opened) -> None:
        self.key = key
        self.reactor = reactor
        self.channel = channel
        self.skip_header = opened.includes_ip_header
        self.reply_type = 0 if opened.version == 4 else 129  # echo reply
        self.users: dict[int, tuple[_Run, int]] = {}  # identifier -> (run, its channel index)
        channel.ttl = -1  # the kernel's default TTL / hop limit, until a send sets another
        reactor.add_reader(channel.sock.fileno(), self.readable)

    def join(self, run: _Run, index: int, wanted: int) -> int:
        """The identifier `run` uses here: `wanted`, or the next one free."""
        identifier = wanted & 0xFFFF
        while identifier in self.users:
            identifier = (identifier + 1) & 0xFFFF
        self.users[identifier] = (run, index)
        return identifier

    def leave(self, identifier: int) -> None:
        self.users.pop(identifier, None)
        if not self.users:
            _ECHO_SHARES.pop(self.key, None)
            with contextlib.suppress(ValueError, KeyError, OSError):
                self.reactor.remove_reader(self.channel.sock.fileno())
            self.channel.sock.close()

    def readable(self) -> None:
        woken: set[_Run] = set()
        for r in _waiting(self.channel.sock):
            data = r.data
            at = (data[0] & 0x0F) * 4 if self.skip_header and data else 0
            users: list[tuple[_Run, int]]
            if len(data) >= at + 6 and data[at] == self.reply_type:
                user = self.users.get((data[at + 4] << 8) | data[at + 5])
                users = [user] if user is not None else []
            else:
                users = list(self.users.values())
            for run_, index in users:
                run_.session.on_packet(index, r)
                woken.add(run_)
        for run_ in woken:
            run_.input()


def _waiting(sock: socket.socket) -> Iterator[Received]:
    """What is waiting on `sock`, up to _READ_BATCH datagrams before others get a turn."""
    for _ in range(_READ_BATCH):
        try:
            r = receive(sock)
        except OSError:
            continue  # a raw socket reports a pending ICMP error once (sk_err); read on
        if r is None:
            return
        yield r


_ECHO_SHARES: dict[Any, _EchoShare] = {}
_MAX_SHARED = 60000  # identifiers in use on one socket; a session beyond opens its own


def _share_key(reactor: Reactor, spec: ChannelSpec) -> Any:
    # Every AsyncioReactor of one loop registers readers on that loop: the loop is the key.
    return (getattr(reactor, "loop", reactor), spec._replace(ttl=None, echo_id=None))


# -- connections ------------------------------------------------------------------------------


class _Conn:
    __slots__ = (
        "address",
        "connected",
        "keep",
        "out",
        "sock",
        "started",
        "tls",
        "tls_in",
        "tls_out",
        "tls_pending",
        "writing",
    )

    def __init__(self, sock: socket.socket, address: str, keep: bool, started: int) -> None:
        self.sock = sock
        self.address = address
        self.keep = keep
        self.started = started
        self.connected = False
        self.out = bytearray()  # bytes waiting for the socket to accept them
        self.writing = False
        self.tls: ssl.SSLObject | None = None
        self.tls_in: ssl.MemoryBIO | None = None
        self.tls_out: ssl.MemoryBIO | None = None
        self.tls_pending: StartTls | None = None  # a handshake in progress
        # (a plain slotted class: thousands of these exist during a connect scan)


# -- what one drive shares between its sessions: the lookup threads' way back -----------------


class _Lookups:
    """Answers from getaddrinfo threads, handed to the reactor through a pipe (both reactors
    wait on file descriptors; asyncio's call_soon_threadsafe would not wake a selector)."""

    def __init__(self, reactor: Reactor) -> None:
        self.reactor = reactor
        self.answers: deque[tuple[_Run, int, Target | ResolveError, int]] = deque()
        self.pipe: tuple[int, int] | None = None
        self.lock: Any = None

    def start(self, run_: _Run, action: Lookup) -> None:
        import threading

        if self.pipe is None:
            self.lock = threading.Lock()
            self.pipe = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
            self.reactor.add_reader(self.pipe[0], self._readable)
        answers, lock, pipe = self.answers, self.lock, self.pipe

        def deliver(outcome: Target | ResolveError) -> None:
            at = time.monotonic_ns()
            # Under the lock: once close() ran, the pipe's descriptors may belong to another
            # file, and a late thread must not write into it.
            with lock:
                if self.pipe is pipe:
                    answers.append((run_, action.token, outcome, at))
                    try:
                        os.write(pipe[1], b"\0")
                    except BlockingIOError:
                        pass  # the pipe is full of wake-ups already

        start_lookup(
            action.host, action.version, action.prefer, action.fallback, deliver, action.every
        )

    def _readable(self) -> None:
        if self.pipe is None:
            return
        try:
            while os.read(self.pipe[0], 4096):
                pass
        except BlockingIOError:
            pass
        while self.answers:
            run_, token, outcome, at = self.answers.popleft()
            run_.looked_up(token, outcome, at)

    def close(self) -> None:
        if self.pipe is None:
            return
        with self.lock:
            self.reactor.remove_reader(self.pipe[0])
            os.close(self.pipe[0])
            os.close(self.pipe[1])
            self.pipe = None


# -- one session inside a drive ---------------------------------------------------------------


class _Run:
    """One session's channels, connections, lookups, scans and schedule inside a driver."""

    def __init__(
        self, session: Session[Any], reactor: Reactor, lookups: _Lookups, on_event: OnEvent | None
    ) -> None:
        self.session = session
        self.reactor = reactor
        self.lookups = lookups
        self.on_event = on_event
        self.channels: list[_Channel | None] = []
        # channel index -> (its shared echo socket, the identifier there, the TTL to send with)
        self.shared: dict[int, tuple[_EchoShare, int, int]] = {}
        self.conns: dict[int, _Conn] = {}
        self.pending: dict[int, tuple[int, Lookup]] = {}  # token -> (deadline, action)
        self.scans: list[ConnectScan] = []
        self.paced: deque[_Paced] = deque()  # speed strategies: parallel bursts sent here
        self.helpers: list[Helper] = []  # ... and sent by helper processes
        self.helper_due = 0
        self.wake_at: int | None = 0
        self.dirty = True
        self.done = False

    # -- life cycle ---------------------------------------------------------------------------

    def open(self) -> None:
        opened: list[Opened] = []
        try:
            for spec in self.session.channels:
                opened.append(self._add_channel(spec))
        except BaseException:
            self.close()
            raise
        self.session.bind(opened)

    def _add_channel(self, spec: ChannelSpec) -> Opened:
        if spec.kind == "icmp" and spec.echo_id is not None and spec.prefer != "dgram":
            shared = self._join_share(spec)
            if isinstance(shared, Opened):
                return shared
            channel, info = shared  # a datagram socket: this session's own
        else:
            channel, info = _open(spec)
        self.channels.append(channel)
        if spec.kind != "hold":
            index = len(self.channels) - 1
            self.reactor.add_reader(channel.sock.fileno(), lambda: self._readable(index))
        return info

    def _join_share(self, spec: ChannelSpec) -> Opened | tuple[_Channel, Opened]:
        """The shared echo socket for `spec` (opened when nobody uses one yet); or, when the
        socket cannot be shared (a datagram socket: its kernel owns the identifier), a socket
        of the session's own."""
        assert spec.echo_id is not None
        key = _share_key(self.reactor, spec)
        share = _ECHO_SHARES.get(key)
        if share is None:
            channel, info = _open(key[1])
            if info.kind != "raw":
                if spec.ttl is not None:  # opened without it, as a shared socket would be
                    try:
                        set_ttl(channel.sock, spec.version, spec.ttl)
                    except BaseException:
                        channel.sock.close()
                        raise
                    channel.ttl = spec.ttl
                return channel, info
            share = _ECHO_SHARES[key] = _EchoShare(key, self.reactor, channel, info)
        elif len(share.users) >= _MAX_SHARED:
            return _open(spec)
        index = len(self.channels)
        identifier = share.join(self, index, spec.echo_id)
        self.channels.append(share.channel)
        self.shared[index] = (share, identifier, -1 if spec.ttl is None else spec.ttl)
        return Opened(
            "raw",
            spec.version,
            identifier,
            share.channel.sock.getsockname(),
            share.skip_header,
        )

    def close(self) -> None:
        self._close_strategies()
        for index in range(len(self.channels)):
            self._close_channel(index)
        for token in list(self.conns):
            self._drop(token, reset=True)
        for scan in self.scans:
            scan.close()
        self.scans.clear()
        self.pending.clear()

    def _close_channel(self, index: int) -> None:
        channel = self.channels[index] if index < len(self.channels) else None
        if channel is None:
            return
        self.channels[index] = None
        shared = self.shared.pop(index, None)
        if shared is not None:
            shared[0].leave(shared[1])
            return
        try:
            self.reactor.remove_reader(channel.sock.fileno())
        except (ValueError, KeyError, OSError):
            pass
        if channel.packet:
            self._dropped(index, channel)  # up to the close: the session's result counts them
        channel.sock.close()

    def deadline(self) -> int | None:
        """The earliest time this run must be turned: the session's wake-up, a lookup that
        may time out, a connect that may turn silent."""
        wake = self.wake_at
        for due, _action in self.pending.values():
            wake = due if wake is None else min(wake, due)
        for scan in self.scans:
            due_scan = scan.deadline()
            if due_scan is not None:
                wake = due_scan if wake is None else min(wake, due_scan)
        if self.helpers:
            due_helper = self.helper_due
            wake = due_helper if wake is None else min(wake, due_helper)
        return wake

    # -- one turn -----------------------------------------------------------------------------

    def turn(self, now: int) -> None:
        self.dirty = False
        self._expire(now)
        if self.helpers or self.paced:
            self._strategies(now)
        step = self.session.poll(now)
        for action in step.actions:
            if isinstance(action, Send):
                self._send(action)
            elif isinstance(action, SendBurst):
                self._burst(action)
            else:
                self._act(action, now)
        for scan in self.scans:
            scan.pump(now)
        if self.on_event is not None:
            for event in step.events:
                self.on_event(self.session, event)
        self.wake_at = step.wake_at
        if step.done:
            self.done = True
            self.close()
        elif self.paced:
            self.dirty = True  # more of a paced burst goes out next turn, after a read

    def _act(self, action: object, now: int) -> None:
        """Every action but datagrams (their types load with net/actions.py, when a session
        first uses one)."""
        from netladder.net.actions import (
            Close,
            CloseChannel,
            Connect,
            Lookup,
            ScanConnects,
            StartTls,
            Write,
        )

        if isinstance(action, Connect):
            self._connect(action)
        elif isinstance(action, Write):
            self._write(action.token, action.data)
        elif isinstance(action, StartTls):
            self._start_tls(action)
        elif isinstance(action, Close):
            self._drop(action.token, action.reset)
        elif isinstance(action, OpenChannel):
            self._open_channel(action)
        elif isinstance(action, CloseChannel):
            self._close_channel(action.channel)
        elif isinstance(action, Lookup):
            self._lookup(action, now)
        elif isinstance(action, ScanConnects):
            from netladder.net.connectscan import ConnectScan

            scan = ConnectScan(action.plan, action.workers, self.reactor, self.input)
            self.scans.append(scan)
        else:
            raise TypeError(f"unknown action {action!r}")

    def _expire(self, now: int) -> None:
        for token, (due, action) in list(self.pending.items()):
            if due <= now:
                del self.pending[token]
                reason = f"no answer from the resolver within {action.wait:g} s"
                self.session.on_lookup(token, ResolveError(action.host, reason), now)
        for scan in self.scans:
            scan.expire(now)
        if self.scans:
            finished = [scan for scan in self.scans if scan.finished]
            for scan in finished:
                self.scans.remove(scan)
                scan.close()  # its spare sockets, its epoll set

    def input(self) -> None:
        self.dirty = True
        self.reactor.wake()

    # -- datagrams ----------------------------------------------------------------------------

    def _sendto(self, channel: _Channel, data: bytes, address: tuple[Any, ...]) -> int | None:
        for _ in range(_SEND_TRIES - 1):
            try:
                channel.sock.sendto(data, address)
            except OSError as exc:
                if exc.errno not in _PENDING_ERRNOS:
                    return exc.errno
                continue
            return None
        try:
            channel.sock.sendto(data, address)
        except OSError as again:
            return again.errno
        return None

    def _channel(self, index: int) -> _Channel:
        channel = self.channels[index]
        if channel is None:
            raise ValueError(f"channel {index} is closed")
        return channel

    def _send(self, action: Send) -> None:
        channel = self._channel(action.channel)
        ttl = action.ttl
        if ttl is None and self.shared:
            shared = self.shared.get(action.channel)
            ttl = shared[2] if shared is not None else None  # the session's, on a shared socket
        if ttl is not None and ttl != channel.ttl:
            set_ttl(channel.sock, channel.version, ttl)
            channel.ttl = ttl
        at = time.monotonic_ns()
        error = self._sendto(channel, action.data, action.address)
        self.session.on_sent(action.token, at, error)
        if error is not None:
            # A refused send may end the session (UdpExchange): the next turn says so now,
            # not at the deadline it gave before the send.
            self.dirty = True

    def _burst(self, action: SendBurst) -> None:
        channel = self._channel(action.channel)
        if action.parallel:
            self._parallel(channel, action)
        else:
            _send_burst(channel, action.burst, action.start, action.stop)

    # -- speed strategies (issue 14 §1.7): batched sends, the helper sender -------------------

    def _parallel(self, channel: _Channel, action: SendBurst) -> None:
        """A burst the driver may split off: a helper process sends it when forking is safe
        (the one-shot CLI's SelectReactor, net/helper.py's conditions); else this process
        sends it BATCH datagrams per turn, reading the sockets between."""
        from netladder.net.helper import Helper, may_fork

        sock = channel.sock
        if isinstance(self.reactor, SelectReactor) and may_fork(sock, action.stop - action.start):
            if not channel.ip_header:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
                channel.ip_header = True  # from now on every datagram carries its header
            # Ctrl-C waits until the helper is on the list close() stops: a KeyboardInterrupt
            # between the fork and the append would leave it sending, reparented, after exit.
            # (The CLI has no other thread then — may_fork — so the signal stays pending.)
            import signal

            held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            try:
                self.helpers.append(Helper(sock, action.burst, action.start, action.stop))
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, held)
            self.helper_due = time.monotonic_ns() + _HELPER_POLL_NS
        else:
            self.paced.append(_Paced(channel, action))

    def _strategies(self, now: int) -> None:
        """Before the session's poll: what the helpers sent, and the next share of a paced
        burst — so the session sees every probe's stamp when it decides."""
        for helper in self.helpers:
            helper.replay()
        if self.helpers:
            self.helpers = [h for h in self.helpers if h.running]
            self.helper_due = now + _HELPER_POLL_NS
        if self.paced:
            paced = self.paced[0]
            stop = min(paced.next + _BATCH, paced.action.stop)
            _send_burst(paced.channel, paced.action.burst, paced.next, stop)
            paced.next = stop
            if stop >= paced.action.stop:
                self.paced.popleft()

    def _close_strategies(self) -> None:
        """The run ends: stop the helpers, each datagram they sent told to its burst."""
        for helper in self.helpers:
            helper.close()
        self.helpers.clear()
        self.paced.clear()

    def _readable(self, index: int) -> None:
        channel = self.channels[index] if index < len(self.channels) else None
        if channel is None:
            return
        sock = channel.sock
        on_packet = self.session.on_packet
        if channel.error_queue:
            while (r := receive(sock, errqueue=True)) is not None:
                on_packet(index, r)
        if channel.fast:
            packets = receive_many(sock, _READ_BATCH)
            if packets:
                self.session.on_packets(index, packets)
        else:
            for r in _waiting(sock):
                on_packet(index, r)
        if channel.packet:
            self._dropped(index, channel)
        self.input()

    def _dropped(self, index: int, channel: _Channel) -> None:
        """Frames the kernel dropped on a packet channel, its buffer full (a flood), told to
        the session as a local ENOBUFS error whose `info` is how many."""
        drops = packet_drops(channel.sock)
        if drops:
            error = SockError(errno.ENOBUFS, SO_EE_ORIGIN_LOCAL, 0, 0, drops, None)
            self.session.on_packet(index, Received(b"", "", 0, time.monotonic_ns(), None, error))

    def _open_channel(self, action: OpenChannel) -> None:
        try:
            opened: Opened | int = self._add_channel(action.spec)
            index = len(self.channels) - 1
        except OSError as exc:
            opened, index = exc.errno or errno.EIO, -1
        self.session.on_opened(action.token, index, opened)
        self.input()

    # -- lookups ------------------------------------------------------------------------------

    def _lookup(self, action: Lookup, now: int) -> None:
        try:
            target = literal_target(action.host, action.version)
        except ResolveError as exc:
            self.session.on_lookup(action.token, exc, now)
            self.input()
            return
        except Exception as exc:  # a UsageError: not a valid name or address
            bad = ResolveError(action.host, "not a valid host name or address")
            bad.__cause__ = exc
            self.session.on_lookup(action.token, bad, now)
            self.input()
            return
        if target is not None:
            # Stamped now, not at the turn's start: the dns phase of a literal is the little
            # time it took (as curl's time_namelookup), never zero.
            self.session.on_lookup(action.token, target, time.monotonic_ns())
            self.input()
            return
        self.pending[action.token] = (now + round(action.wait * 1e9), action)
        self.lookups.start(self, action)

    def looked_up(self, token: int, outcome: Target | ResolveError, at: int) -> None:
        if self.done or self.pending.pop(token, None) is None:
            return  # timed out already, or the session ended
        self.session.on_lookup(token, outcome, at)
        self.input()

    # -- connections --------------------------------------------------------------------------

    def _connect(self, action: Connect) -> None:
        from netladder.net.actions import ConnectOutcome

        at = time.monotonic_ns()
        try:
            if action.netns is not None:
                with netns_entered(action.netns):
                    sock, err = open_stream(
                        action.address, action.port, ttl=action.ttl, source=action.source
                    )
            else:
                sock, err = open_stream(
                    action.address, action.port, ttl=action.ttl, source=action.source
                )
        except OSError as exc:
            outcome = ConnectOutcome(exc.errno or errno.EIO, at, sent=at, immediate=True)
            self.session.on_connect(action.token, outcome)
            self.input()
            return
        conn = _Conn(sock, action.address, action.keep, at)
        self.conns[action.token] = conn
        if err == 0:
            self._connected(action.token, conn)
        elif err in (errno.EINPROGRESS, errno.EAGAIN):
            self.reactor.add_writer(sock.fileno(), lambda: self._connect_done(action.token))
            conn.writing = True
        else:
            self._failed(action.token, conn, err, immediate=True)

    def _connect_done(self, token: int) -> None:
        conn = self.conns.get(token)
        if conn is None:
            return
        self.reactor.remove_writer(conn.sock.fileno())
        conn.writing = False
        err = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self._failed(token, conn, err)
        else:
            self._connected(token, conn)

    def _connected(self, token: int, conn: _Conn) -> None:
        from netladder.net.actions import ConnectOutcome

        at = time.monotonic_ns()
        conn.connected = True
        outcome = ConnectOutcome(
            0, at, kernel_rtt_ns(conn.sock), None, conn.sock.getsockname(), conn.started
        )
        if conn.keep:
            self.reactor.add_reader(conn.sock.fileno(), lambda: self._stream_readable(token))
        else:
            self._drop(token, reset=True)
        self.session.on_connect(token, outcome)
        self.input()

    def _failed(self, token: int, conn: _Conn, err: int, immediate: bool = False) -> None:
        from netladder.net.actions import ConnectOutcome

        at = time.monotonic_ns()
        icmp = None
        queued = receive(conn.sock, errqueue=True)
        if queued is not None and queued.error is not None and queued.error.is_icmp:
            icmp = queued.error
        self._drop(token)
        outcome = ConnectOutcome(err, at, None, icmp, None, conn.started, immediate)
        self.session.on_connect(token, outcome)
        self.input()

    def _drop(self, token: int, reset: bool = False) -> None:
        conn = self.conns.pop(token, None)
        if conn is None:
            return
        fd = conn.sock.fileno()
        if fd >= 0:
            if conn.writing:
                self.reactor.remove_writer(fd)
            if conn.keep and conn.connected:
                self.reactor.remove_reader(fd)
        if reset and conn.connected:
            close_with_reset(conn.sock)
        else:
            conn.sock.close()

    # -- streams ------------------------------------------------------------------------------

    def _write(self, token: int, data: bytes) -> None:
        conn = self.conns.get(token)
        if conn is None:
            return
        if conn.tls is not None:
            conn.tls.write(data)
            self._flush_tls(conn)
        else:
            conn.out += data
        self._flush(token, conn)

    def _flush(self, token: int, conn: _Conn) -> None:
        while conn.out:
            try:
                sent = conn.sock.send(conn.out)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                self._stream_failed(token, exc.errno or errno.EIO)
                return
            del conn.out[:sent]
        want = bool(conn.out)
        if want and not conn.writing:
            self.reactor.add_writer(conn.sock.fileno(), lambda: self._writable(token))
            conn.writing = True
        elif not want and conn.writing:
            self.reactor.remove_writer(conn.sock.fileno())
            conn.writing = False

    def _writable(self, token: int) -> None:
        conn = self.conns.get(token)
        if conn is not None:
            self._flush(token, conn)

    def _stream_readable(self, token: int) -> None:
        conn = self.conns.get(token)
        if conn is None:
            return
        try:
            data = conn.sock.recv(1 << 16)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._stream_failed(token, exc.errno or errno.EIO)
            return
        at = time.monotonic_ns()
        if conn.tls_in is not None:
            self._tls_received(token, conn, data, at)
        else:
            if not data:
                self._drop(token)
            self.session.on_data(token, data, at)
        self.input()

    def _stream_failed(self, token: int, err: int) -> None:
        at = time.monotonic_ns()
        self._drop(token)
        self.session.on_error(token, err, at)
        self.input()

    # -- TLS over a kept connection (memory BIOs: the same code under either reactor) --------

    def _start_tls(self, action: StartTls) -> None:
        import ssl

        from netladder.net.actions import TlsOutcome

        conn = self.conns.get(action.token)
        if conn is None:
            return
        try:
            context = _tls_context(action.verify, action.cafile, action.alpn)
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError: a bad cafile
            outcome = TlsOutcome(time.monotonic_ns(), str(exc), None, False, "setup")
            self.session.on_tls(action.token, outcome)
            self.input()
            return
        conn.tls_in, conn.tls_out = ssl.MemoryBIO(), ssl.MemoryBIO()
        conn.tls = context.wrap_bio(
            conn.tls_in, conn.tls_out, server_hostname=action.server_name or None
        )
        conn.tls_pending = action
        self._handshake(action.token, conn)

    def _handshake(self, token: int, conn: _Conn) -> None:
        import ssl

        from netladder.net.actions import TlsOutcome

        assert conn.tls is not None and conn.tls_pending is not None
        action = conn.tls_pending
        try:
            conn.tls.do_handshake()
        except ssl.SSLWantReadError:
            self._flush_tls(conn)
            self._flush(token, conn)
            return
        except (ssl.SSLError, ssl.CertificateError) as exc:
            conn.tls_pending = None
            self._flush_tls(conn)  # the alert, if any, goes out before the session closes
            self._flush(token, conn)
            cause = "certificate" if isinstance(exc, ssl.CertificateError) else "handshake"
            outcome = TlsOutcome(
                time.monotonic_ns(),
                _tls_reason(exc),
                _tls_info(conn, action, False),
                False,
                cause,
                getattr(exc, "reason", None),
            )
            self.session.on_tls(token, outcome)
            self.input()
            return
        conn.tls_pending = None
        self._flush_tls(conn)
        self._flush(token, conn)
        info = _tls_info(conn, action, action.verify)
        self.session.on_tls(token, TlsOutcome(time.monotonic_ns(), None, info, action.verify))
        self.input()

    def _flush_tls(self, conn: _Conn) -> None:
        if conn.tls_out is not None and conn.tls_out.pending:
            conn.out += conn.tls_out.read()

    def _tls_received(self, token: int, conn: _Conn, data: bytes, at: int) -> None:
        import ssl

        from netladder.net.actions import TlsOutcome

        assert conn.tls_in is not None and conn.tls is not None
        if data:
            conn.tls_in.write(data)
        else:
            conn.tls_in.write_eof()
        if conn.tls_pending is not None:
            if not data:
                conn.tls_pending = None
                self._drop(token)
                self.session.on_tls(
                    token,
                    TlsOutcome(
                        at,
                        "the server closed the connection during the TLS handshake",
                        cause="closed",
                    ),
                )
                return
            self._handshake(token, conn)
            if conn.tls_pending is not None or token not in self.conns:
                return
        chunks = []
        closed = not data
        while True:
            try:
                chunk = conn.tls.read(1 << 16)
            except ssl.SSLWantReadError:
                break
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                closed = True
                break
            except ssl.SSLError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            chunks.append(chunk)
        self._flush_tls(conn)
        if chunks:
            self.session.on_data(token, b"".join(chunks), at)
        if closed:
            self._drop(token)
            self.session.on_data(token, b"", at)


def _tls_info(conn: _Conn, action: StartTls, verified: bool) -> TlsInfo | None:
    """What the handshake showed (net/tls.py); None when the peer sent no certificate, or the
    handshake ended before it did."""
    import ssl

    from netladder.net.tls import tls_info

    if conn.tls is None:
        return None
    try:
        if conn.tls.getpeercert(binary_form=True) is None:
            return None
        return tls_info(conn.tls, action.server_name or conn.address, verified)
    except (ValueError, ssl.SSLError):
        return None


_CONTEXTS: dict[
    tuple[bool, str | None, tuple[int, int, int] | None, tuple[str, ...]], ssl.SSLContext
] = {}


def prepare_tls(verify: bool, cafile: str | None, alpn: tuple[str, ...]) -> None:
    """Make (and keep) the context a later StartTls with these settings uses, so that loading
    the CA store is not timed as part of the handshake (curl loads it before connecting too).
    A context that cannot be made (an unreadable cafile) is left for that StartTls to report."""
    try:
        _tls_context(verify, cafile, alpn)
    except (OSError, ValueError):
        pass


def _tls_context(verify: bool, cafile: str | None, alpn: tuple[str, ...]) -> ssl.SSLContext:
    import ssl

    # One context per settings and version of the cafile on disk: loading a CA store costs
    # tens of milliseconds, yet a replaced file is read again (blackbox reads it every probe).
    stamp = None
    if cafile:
        try:
            st = os.stat(cafile)
            stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        except OSError:
            pass  # then loading it reports the error
    key = (verify, cafile, stamp, alpn)
    context = _CONTEXTS.get(key)
    if context is None:
        if verify:
            context = ssl.create_default_context(cafile=cafile)
        else:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if alpn:
            context.set_alpn_protocols(list(alpn))
        _CONTEXTS[key] = context
    return context


def _tls_reason(exc: BaseException) -> str:
    reason = getattr(exc, "verify_message", None) or getattr(exc, "reason", None)
    return str(reason or exc)


# -- speed strategies: paced bursts ---------------------------------------------------------


def _send_burst(channel: _Channel, burst: Burst, start: int, stop: int) -> None:
    send_each(channel.sock, burst.build, burst.sent, start, stop, channel.ip_header)


class _Paced:
    """A parallel burst this process sends itself, BATCH datagrams per turn."""

    __slots__ = ("action", "channel", "next")

    def __init__(self, channel: _Channel, action: SendBurst) -> None:
        self.channel = channel
        self.action = action
        self.next = action.start


# -- the loop ---------------------------------------------------------------------------------


async def drive(
    sessions: Sequence[Session[Any]], reactor: Reactor, on_event: OnEvent | None = None
) -> bool:
    """Run `sessions` until each is done (see the module docstring); True when Ctrl-C
    interrupted them."""
    lookups = _Lookups(reactor)
    runs = [_Run(s, reactor, lookups, on_event) for s in sessions]
    try:
        for run_ in runs:
            run_.open()
    except BaseException:
        for run_ in runs:
            run_.close()
        raise
    try:
        now = time.monotonic_ns()
        for run_ in runs:
            run_.session.start(now)
        while True:
            now = time.monotonic_ns()
            earliest: int | None = None
            active = False
            for run_ in runs:
                if run_.done:
                    continue
                due = run_.deadline()
                if run_.dirty or (due is not None and due <= now):
                    run_.turn(now)
                    if run_.done:
                        continue
                    due = run_.deadline()
                active = True
                if run_.dirty:
                    due = now
                if due is not None and (earliest is None or due < earliest):
                    earliest = due
            if not active:
                return False
            timeout = IDLE_NS if earliest is None else earliest - time.monotonic_ns()
            # Always through the reactor, even when something is due now: the selector reads
            # what arrived meanwhile, and asyncio runs the loop's other tasks.
            await reactor.sleep(max(timeout, 0))
    except KeyboardInterrupt:
        _interrupt(runs)
        return True
    except BaseException:
        _interrupt(runs)
        raise
    finally:
        for run_ in runs:
            run_.close()
        lookups.close()


def _interrupt(runs: list[_Run]) -> None:
    for run_ in runs:
        if not run_.done:
            run_.session.interrupt()
