"""The one I/O driver: runs any mix of sans-IO sessions (`net/session.py`) together.

`drive(sessions, reactor)` is one coroutine, written once.  It opens the channels each session
declares, performs the actions each `poll()` returns, reads every socket (through
`net.sockets.receive`: kernel timestamps, reply TTLs, the error queue) and hands what arrived to
the session it belongs to, then sleeps until the earliest wake-up any session asked for or until
input arrives.  It awaits nothing but `reactor.sleep()`, so it runs under asyncio
(`await run(sessions)`: the API, diagnose, serve — many drivers share one loop) and under a plain
selector (`run_sync(sessions)`: the one-shot CLI, which must not pay asyncio's import).

Ctrl-C (or cancellation) interrupts every unfinished session — each then reports what it
gathered — closes every socket and re-raises, so the caller can print the partial results.
"""

from __future__ import annotations

import errno
import socket
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from netladder.errors import from_oserror
from netladder.net.reactor import Reactor, SelectReactor
from netladder.net.session import (
    ChannelSpec,
    Close,
    Connect,
    ConnectOutcome,
    Opened,
    Send,
    Session,
    StartTls,
    TlsOutcome,
    Write,
)
from netladder.net.sockets import (
    IcmpSocket,
    close_with_reset,
    kernel_rtt_ns,
    open_icmp,
    open_packet,
    open_raw_tcp,
    open_stream,
    open_udp,
    receive,
    set_dont_fragment,
    set_ttl,
)

if TYPE_CHECKING:
    import ssl

__all__ = ["OnEvent", "drive", "run", "run_sync"]

OnEvent = Callable[[Session[Any], Any], None]

IDLE_NS = 3600 * 1_000_000_000  # no wake-up asked for: sleep until input arrives
# A raw socket fails the next send once with the error the last ICMP message left on it
# (sk_err); that error belongs to an earlier probe, so the send is simply repeated.
_PENDING_ERRNOS = frozenset(
    {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ECONNREFUSED, errno.EPROTO, errno.EHOSTDOWN}
)
# Sends that fail for want of local buffers: the probe is lost, as on the wire.
_TRANSIENT_ERRNOS = frozenset({errno.ENOBUFS, errno.EAGAIN})
_READ_BATCH = 4096  # datagrams read per readable event before others get a turn


class _Channel:
    __slots__ = ("error_queue", "sock", "ttl", "version")

    def __init__(
        self, sock: socket.socket, version: int, error_queue: bool, ttl: int | None
    ) -> None:
        self.sock = sock
        self.version = version
        self.error_queue = error_queue
        self.ttl = ttl


def _open(spec: ChannelSpec) -> tuple[_Channel, Opened]:
    if spec.kind == "icmp":
        icmp: IcmpSocket = open_icmp(
            spec.version, spec.prefer, ttl=spec.ttl, device=spec.device, source=spec.source
        )
        sock = icmp.sock
        try:
            _tune(sock, spec)
        except BaseException:
            sock.close()
            raise
        opened = Opened(
            icmp.kind, spec.version, icmp.identifier, sock.getsockname(), icmp.includes_ip_header
        )
        return _Channel(sock, spec.version, icmp.kind == "dgram", spec.ttl), opened
    if spec.kind == "udp":
        sock = open_udp(
            spec.version, connect=spec.connect, source=spec.source, device=spec.device, ttl=spec.ttl
        )
        try:
            _tune(sock, spec)
        except BaseException:
            sock.close()
            raise
        return (
            _Channel(sock, spec.version, True, spec.ttl),
            Opened("udp", spec.version, None, sock.getsockname(), False),
        )
    if spec.kind == "raw_tcp":
        sock = open_raw_tcp(spec.version)
        return (
            _Channel(sock, spec.version, False, None),
            Opened("raw_tcp", spec.version, None, None, False),
        )
    if spec.kind == "packet":
        if spec.device is None:
            raise ValueError("a packet channel needs a device")
        sock = open_packet(spec.device, spec.ethertype or 0x0806)
        return (
            _Channel(sock, spec.version, False, None),
            Opened("packet", spec.version, None, sock.getsockname(), False),
        )
    raise ValueError(f"unknown channel kind {spec.kind!r}")


def _tune(sock: socket.socket, spec: ChannelSpec) -> None:
    if spec.dont_fragment:
        set_dont_fragment(sock, spec.version)
    if spec.rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, spec.rcvbuf)


class _Conn:
    __slots__ = (
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

    def __init__(self, sock: socket.socket, keep: bool, started: int) -> None:
        self.sock = sock
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


class _Run:
    """One session's channels, connections and schedule inside a driver."""

    def __init__(self, session: Session[Any], reactor: Reactor, on_event: OnEvent | None) -> None:
        self.session = session
        self.reactor = reactor
        self.on_event = on_event
        self.channels: list[_Channel] = []
        self.conns: dict[int, _Conn] = {}
        self.wake_at: int | None = 0
        self.dirty = True
        self.done = False

    # -- life cycle ---------------------------------------------------------------------------

    def open(self) -> None:
        opened: list[Opened] = []
        try:
            for spec in self.session.channels:
                channel, info = _open(spec)
                self.channels.append(channel)
                opened.append(info)
                self.reactor.add_reader(channel.sock.fileno(), self._reader(len(self.channels) - 1))
        except BaseException:
            self.close()
            raise
        self.session.bind(opened)

    def _reader(self, index: int) -> Callable[[], None]:
        return lambda: self._readable(index)

    def close(self) -> None:
        for channel in self.channels:
            try:
                self.reactor.remove_reader(channel.sock.fileno())
            except (ValueError, KeyError, OSError):
                pass
            channel.sock.close()
        self.channels.clear()
        for token in list(self.conns):
            self._drop(token, reset=True)

    # -- one turn -----------------------------------------------------------------------------

    def turn(self, now: int) -> None:
        self.dirty = False
        step = self.session.poll(now)
        for action in step.actions:
            if isinstance(action, Send):
                self._send(action)
            elif isinstance(action, Connect):
                self._connect(action)
            elif isinstance(action, Write):
                self._write(action.token, action.data)
            elif isinstance(action, StartTls):
                self._start_tls(action)
            elif isinstance(action, Close):
                self._drop(action.token, action.reset)
        if self.on_event is not None:
            for event in step.events:
                self.on_event(self.session, event)
        self.wake_at = step.wake_at
        if step.done:
            self.done = True
            self.close()

    def _input(self) -> None:
        self.dirty = True
        self.reactor.wake()

    # -- datagrams ----------------------------------------------------------------------------

    def _send(self, action: Send) -> None:
        channel = self.channels[action.channel]
        sock = channel.sock
        if action.ttl is not None and action.ttl != channel.ttl:
            set_ttl(sock, channel.version, action.ttl)
            channel.ttl = action.ttl
        error: int | None = None
        at = time.monotonic_ns()
        try:
            sock.sendto(action.data, action.address)
        except OSError as exc:
            if exc.errno in _PENDING_ERRNOS:
                at = time.monotonic_ns()
                try:
                    sock.sendto(action.data, action.address)
                except OSError as again:
                    error = again.errno
            else:
                error = exc.errno
        if action.token is not None:
            self.session.on_sent(action.token, at, error)
        elif error is not None and error not in _TRANSIENT_ERRNOS | _PENDING_ERRNOS:
            raise from_oserror(
                OSError(error, _strerror(error)), f"cannot send to {action.address[0]}"
            )

    def _readable(self, index: int) -> None:
        if index >= len(self.channels):
            return
        channel = self.channels[index]
        sock = channel.sock
        on_packet = self.session.on_packet
        if channel.error_queue:
            while (r := receive(sock, errqueue=True)) is not None:
                on_packet(index, r)
        for _ in range(_READ_BATCH):
            try:
                r = receive(sock)
            except OSError:
                continue  # a raw socket reports a pending ICMP error once (sk_err); read on
            if r is None:
                break
            on_packet(index, r)
        self._input()

    # -- connections --------------------------------------------------------------------------

    def _connect(self, action: Connect) -> None:
        at = time.monotonic_ns()
        try:
            sock, err = open_stream(
                action.address, action.port, ttl=action.ttl, source=action.source
            )
        except OSError as exc:
            self.session.on_connect(action.token, ConnectOutcome(exc.errno or errno.EIO, at))
            self._input()
            return
        conn = _Conn(sock, action.keep, at)
        self.conns[action.token] = conn
        if err == 0:
            self._connected(action.token, conn)
        elif err in (errno.EINPROGRESS, errno.EAGAIN):
            self.reactor.add_writer(sock.fileno(), lambda: self._connect_done(action.token))
            conn.writing = True
        else:
            self._failed(action.token, conn, err)

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
        at = time.monotonic_ns()
        conn.connected = True
        outcome = ConnectOutcome(0, at, kernel_rtt_ns(conn.sock), None, conn.sock.getsockname())
        if conn.keep:
            self.reactor.add_reader(conn.sock.fileno(), lambda: self._stream_readable(token))
        else:
            self._drop(token, reset=True)
        self.session.on_connect(token, outcome)
        self._input()

    def _failed(self, token: int, conn: _Conn, err: int) -> None:
        at = time.monotonic_ns()
        icmp = None
        queued = receive(conn.sock, errqueue=True)
        if queued is not None and queued.error is not None and queued.error.is_icmp:
            icmp = queued.error
        self._drop(token)
        self.session.on_connect(token, ConnectOutcome(err, at, None, icmp))
        self._input()

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
        self._input()

    def _stream_failed(self, token: int, err: int) -> None:
        at = time.monotonic_ns()
        self._drop(token)
        self.session.on_error(token, err, at)
        self._input()

    # -- TLS over a kept connection (memory BIOs: the same code under either reactor) --------

    def _start_tls(self, action: StartTls) -> None:
        import ssl

        conn = self.conns.get(action.token)
        if conn is None:
            return
        context = _tls_context(action.verify, action.cafile, action.alpn)
        conn.tls_in, conn.tls_out = ssl.MemoryBIO(), ssl.MemoryBIO()
        conn.tls = context.wrap_bio(
            conn.tls_in, conn.tls_out, server_hostname=action.server_name or None
        )
        conn.tls_pending = action
        self._handshake(action.token, conn)

    def _handshake(self, token: int, conn: _Conn) -> None:
        import ssl

        assert conn.tls is not None and conn.tls_pending is not None
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
            self.session.on_tls(
                token, TlsOutcome(time.monotonic_ns(), _tls_reason(exc), conn.tls, False)
            )
            self._input()
            return
        verify = conn.tls_pending.verify
        conn.tls_pending = None
        self._flush_tls(conn)
        self._flush(token, conn)
        self.session.on_tls(token, TlsOutcome(time.monotonic_ns(), None, conn.tls, verify))
        self._input()

    def _flush_tls(self, conn: _Conn) -> None:
        if conn.tls_out is not None and conn.tls_out.pending:
            conn.out += conn.tls_out.read()

    def _tls_received(self, token: int, conn: _Conn, data: bytes, at: int) -> None:
        import ssl

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
                    TlsOutcome(at, "the server closed the connection during the TLS handshake"),
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


_CONTEXTS: dict[tuple[bool, str | None, tuple[str, ...]], ssl.SSLContext] = {}


def _tls_context(verify: bool, cafile: str | None, alpn: tuple[str, ...]) -> ssl.SSLContext:
    import ssl

    key = (verify, cafile, alpn)
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


def _strerror(code: int) -> str:
    import os

    return os.strerror(code)


async def drive(
    sessions: Sequence[Session[Any]], reactor: Reactor, on_event: OnEvent | None = None
) -> None:
    """Run `sessions` until each is done (see the module docstring)."""
    runs = [_Run(s, reactor, on_event) for s in sessions]
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
                if run_.dirty or (run_.wake_at is not None and run_.wake_at <= now):
                    run_.turn(now)
                    if run_.done:
                        continue
                active = True
                wake = run_.wake_at
                if run_.dirty:
                    wake = now
                if wake is not None and (earliest is None or wake < earliest):
                    earliest = wake
            if not active:
                return
            timeout = IDLE_NS if earliest is None else earliest - time.monotonic_ns()
            # Always through the reactor, even when something is due now: the selector reads
            # what arrived meanwhile, and asyncio runs the loop's other tasks.
            await reactor.sleep(max(timeout, 0))
    except BaseException:
        for run_ in runs:
            if not run_.done:
                run_.session.interrupt()
        raise
    finally:
        for run_ in runs:
            run_.close()


def run_sync(sessions: Sequence[Session[Any]], on_event: OnEvent | None = None) -> None:
    """Drive sessions to their end without asyncio (the one-shot CLI)."""
    reactor = SelectReactor()
    reactor.drive(drive(sessions, reactor, on_event))


async def run(sessions: Sequence[Session[Any]], on_event: OnEvent | None = None) -> None:
    """Drive sessions on the running asyncio loop, beside whatever else runs on it."""
    import asyncio

    from netladder.net.reactor import AsyncioReactor

    await drive(sessions, AsyncioReactor(asyncio.get_running_loop()), on_event)
