"""`forward proxy`: a userspace forwarder for when NAT is not possible or not permitted.

TCP bytes move with splice(2) through a pipe per direction — socket → pipe → socket — so they
never enter userspace (zero copy); where the kernel refuses splice for a socket the pump falls
back to recv_into/send on one buffer.  Each direction is a small state machine on the event
loop's readiness callbacks: read while the pipe is empty, write until it is empty again, and
while the destination is full stop reading (back-pressure), so memory stays bounded whatever the
peers do.  A half-close is passed on (shutdown SHUT_WR), a reset closes both sides.

UDP keeps one connected socket per client (a session) towards the target, so replies find their
client; sessions idle for longer than the idle timeout are closed.

SIGTERM and Ctrl-C stop accepting, give open connections a grace period, then close them.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import signal
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from netladder.errors import UsageError
from netladder.nat.model import ProxyCounters, ProxyStats
from netladder.net.targets import ResolveError, Target, check_host, resolve, scope_index

__all__ = [
    "Endpoint",
    "ProxyCounters",
    "ProxyStats",
    "TcpProxy",
    "UdpProxy",
    "bind_listener",
    "parse_endpoint",
    "run_proxy",
]

PIPE_SIZE = 1 << 20  # F_SETPIPE_SZ; 1 MiB is the unprivileged maximum by default
CHUNK = 1 << 20
COPY_BUFFER = 256 * 1024
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
_SPLICE = getattr(os, "splice", None)
_SPLICE_FLAGS = getattr(os, "SPLICE_F_MOVE", 1) | getattr(os, "SPLICE_F_NONBLOCK", 2)
_EAGAIN = (errno.EAGAIN, errno.EWOULDBLOCK)
_NO_SPLICE = (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP)


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_endpoint(text: str, *, listen: bool) -> Endpoint:
    """`PORT`, `:PORT`, `HOST:PORT` or `[V6]:PORT`; a listener defaults to all addresses."""
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = "", text
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise UsageError(
            "{text!r}: write an IPv6 address in brackets, e.g. [2001:db8::1]:80", text=text
        )
    try:
        port = int(port_text)
    except ValueError:
        raise UsageError("{text!r}: the port must be a number", text=text) from None
    if not 1 <= port <= 65535:
        raise UsageError("{text!r}: the port must be between 1 and 65535", text=text)
    if not host and not listen:
        raise UsageError(
            "{text!r}: the target needs a host, e.g. 198.51.100.10:{port}", text=text, port=port
        )
    return Endpoint(host, port)  # a listener without a host: every address, IPv4 and IPv6


def bind_listener(endpoint: Endpoint, kind: int) -> socket.socket:
    """Bind the listening socket; a port in use is the user's to fix (exit 2).  Without a host
    it is one dual-stack socket (IPv4 arrives as v4-mapped), or IPv4 only where the machine has
    no IPv6."""
    family: int
    address: tuple[Any, ...]
    if not endpoint.host and socket.has_ipv6:
        family, address = socket.AF_INET6, ("::", endpoint.port)
    elif not endpoint.host:
        family, address = socket.AF_INET, ("0.0.0.0", endpoint.port)
    else:
        found = _listen_address(endpoint)
        family, address = found.family, (found.address, endpoint.port)
        if found.scope is not None:  # a link-local address names its interface
            address = (*address, 0, scope_index(found.scope))
    try:
        sock = socket.socket(family, kind)
    except OSError:
        if family != socket.AF_INET6 or endpoint.host:
            raise
        family, address = socket.AF_INET, ("0.0.0.0", endpoint.port)  # IPv6 disabled
        sock = socket.socket(family, kind)
    try:
        if family == socket.AF_INET6 and not endpoint.host:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        if kind == socket.SOCK_STREAM:
            sock.listen(4096)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(
                "cannot listen on {endpoint}: the port is in use", endpoint=str(endpoint)
            ) from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise UsageError(
                "cannot listen on {endpoint}: not an address of this machine",
                endpoint=str(endpoint),
            ) from None
        if exc.errno == errno.EACCES:
            from netladder.errors import EnvError

            raise EnvError(
                "cannot listen on {endpoint}: permission denied",
                "ports below 1024 need root or CAP_NET_BIND_SERVICE",
                endpoint=str(endpoint),
            ) from None
        raise UsageError(
            "cannot listen on {endpoint}: {reason}", endpoint=str(endpoint), reason=exc.strerror
        ) from None
    sock.setblocking(False)
    return sock


def _listen_address(endpoint: Endpoint) -> Target:
    """The listener's host through the one resolver (net/targets.py)."""
    where = f"cannot listen on {endpoint}"
    check_host(endpoint.host, where)
    try:
        return resolve(endpoint.host)
    except ResolveError as exc:
        raise UsageError(
            "cannot listen on {endpoint}: {reason}", endpoint=str(endpoint), reason=exc.reason
        ) from None


async def resolve_target(endpoint: Endpoint, kind: int) -> tuple[int, tuple[str, int]]:
    """The target's host through the one resolver (net/targets.py): its validation, the first
    address; `kind` is kept for callers (a TCP and a UDP target resolve alike)."""
    from netladder.net.driver import lookup

    check_host(endpoint.host, f"target {endpoint}")
    try:
        found = await lookup(endpoint.host)
    except ResolveError as exc:
        raise UsageError(
            "target {endpoint}: {reason}", endpoint=str(endpoint), reason=exc.reason
        ) from None
    return found.family, (found.address, endpoint.port)


# -- TCP ------------------------------------------------------------------------------------------


class _Pump:
    """One direction of one connection: src socket -> dst socket."""

    __slots__ = (
        "buf",
        "conn",
        "done",
        "dst",
        "dst_sock",
        "eof",
        "loop",
        "offset",
        "pending",
        "pipe_r",
        "pipe_w",
        "reading",
        "src",
        "up",
        "view",
        "writing",
    )

    def __init__(
        self, conn: _Connection, src: socket.socket, dst: socket.socket, up: bool, zero_copy: bool
    ) -> None:
        self.conn = conn
        self.loop = conn.loop
        self.src = src.fileno()
        self.dst = dst.fileno()
        self.dst_sock = dst
        self.up = up
        self.pending = 0
        self.offset = 0
        self.eof = False
        self.done = False
        self.reading = False
        self.writing = False
        self.pipe_r = self.pipe_w = -1
        self.buf: bytearray | None = None
        self.view: memoryview | None = None
        if zero_copy:
            self.pipe_r, self.pipe_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
            with contextlib.suppress(OSError):
                fcntl.fcntl(self.pipe_w, F_SETPIPE_SZ, PIPE_SIZE)
        else:
            self._to_copy()

    def _to_copy(self) -> None:
        self.buf = bytearray(COPY_BUFFER)
        self.view = memoryview(self.buf)

    def start(self) -> None:
        self._want_read(True)

    def _want_read(self, on: bool) -> None:
        if on and not self.reading:
            self.loop.add_reader(self.src, self._readable)
        elif not on and self.reading:
            self.loop.remove_reader(self.src)
        self.reading = on

    def _want_write(self, on: bool) -> None:
        if on and not self.writing:
            self.loop.add_writer(self.dst, self._writable)
        elif not on and self.writing:
            self.loop.remove_writer(self.dst)
        self.writing = on

    def _readable(self) -> None:
        try:
            if self.view is None:
                assert _SPLICE is not None
                n = _SPLICE(self.src, self.pipe_w, CHUNK, flags=_SPLICE_FLAGS)
            else:
                n = os.readv(self.src, [self.view])
        except BlockingIOError:
            return
        except OSError as exc:
            if self.view is None and exc.errno in _NO_SPLICE:
                self._close_pipe()
                self._to_copy()  # this kernel cannot splice this socket: copy instead
                self.conn.proxy.zero_copy = False
                return
            self.conn.abort()
            return
        if n == 0:
            self.eof = True
            self._want_read(False)
        else:
            self.pending = n
            self.offset = 0
        self._flush()

    def _writable(self) -> None:
        self._flush()

    def _flush(self) -> None:
        while self.pending:
            try:
                if self.view is None:
                    assert _SPLICE is not None
                    m = _SPLICE(self.pipe_r, self.dst, self.pending, flags=_SPLICE_FLAGS)
                else:
                    m = os.write(self.dst, self.view[self.offset : self.offset + self.pending])
            except BlockingIOError:
                # The destination is full: stop reading until it drains (back-pressure).
                self._want_read(False)
                self._want_write(True)
                return
            except OSError:
                self.conn.abort()
                return
            self.pending -= m
            self.offset += m
            if self.up:
                self.conn.proxy.counters.bytes_up += m
            else:
                self.conn.proxy.counters.bytes_down += m
        self._want_write(False)
        if self.eof:
            self._finish()
        else:
            self._want_read(True)

    def _finish(self) -> None:
        if self.done:
            return
        self.done = True
        self._want_read(False)
        self._want_write(False)
        with contextlib.suppress(OSError):
            self.dst_sock.shutdown(socket.SHUT_WR)  # pass the half-close on
        self._close_pipe()
        self.conn.pump_done()

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._want_read(False)
        with contextlib.suppress(Exception):
            self._want_write(False)
        self._close_pipe()

    def _close_pipe(self) -> None:
        for fd in (self.pipe_r, self.pipe_w):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.pipe_r = self.pipe_w = -1


class _Connection:
    __slots__ = ("client", "closed", "down", "loop", "proxy", "up", "upstream", "finished")

    def __init__(self, proxy: TcpProxy, client: socket.socket, upstream: socket.socket) -> None:
        self.proxy = proxy
        self.loop = proxy.loop
        self.client = client
        self.upstream = upstream
        self.closed = False
        self.finished = 0
        zero_copy = proxy.zero_copy and _SPLICE is not None
        self.up = _Pump(self, client, upstream, True, zero_copy)
        self.down = _Pump(self, upstream, client, False, zero_copy)

    def start(self) -> None:
        self.up.start()
        self.down.start()

    def pump_done(self) -> None:
        self.finished += 1
        if self.finished == 2:
            self.close()

    def abort(self) -> None:
        # A reset or error on either side: the other side gets a reset too (SO_LINGER 0).
        for sock in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.up.stop()
        self.down.stop()
        self.client.close()
        self.upstream.close()
        self.proxy.connection_closed(self)


class TcpProxy:
    def __init__(
        self,
        listener: socket.socket,
        target: tuple[int, tuple[str, int]],
        *,
        connect_timeout: float = 10.0,
        zero_copy: bool = True,
    ) -> None:
        self.listener = listener
        self.family, self.target = target
        self.connect_timeout = connect_timeout
        self.zero_copy = zero_copy and _SPLICE is not None
        self.counters = ProxyCounters()
        self.connections: set[_Connection] = set()
        self.pending: set[asyncio.Task[None]] = set()
        self.loop = asyncio.get_running_loop()
        self.idle = asyncio.Event()
        self.idle.set()

    def start(self) -> None:
        self.loop.add_reader(self.listener.fileno(), self._accept)

    def stop_accepting(self) -> None:
        with contextlib.suppress(Exception):
            self.loop.remove_reader(self.listener.fileno())
        self.listener.close()

    def _accept(self) -> None:
        for _ in range(64):
            try:
                client, _ = self.listener.accept()
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    # Out of descriptors: pause accepting briefly rather than spin.
                    self.loop.remove_reader(self.listener.fileno())
                    self.loop.call_later(0.1, self.start)
                return
            client.setblocking(False)
            self.counters.connections += 1
            self.counters.active += 1
            self.idle.clear()
            task = self.loop.create_task(self._open(client))
            self.pending.add(task)
            task.add_done_callback(self.pending.discard)

    async def _open(self, client: socket.socket) -> None:
        upstream = socket.socket(self.family, socket.SOCK_STREAM)
        upstream.setblocking(False)
        try:
            await asyncio.wait_for(
                self.loop.sock_connect(upstream, self.target), self.connect_timeout
            )
        except (OSError, TimeoutError):
            upstream.close()
            self.counters.failed += 1
            # Refuse the client the way the target refused us: a reset.
            with contextlib.suppress(OSError):
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()
            self._one_gone()
            return
        except asyncio.CancelledError:
            upstream.close()
            client.close()
            self._one_gone()
            raise
        for sock in (client, upstream):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = _Connection(self, client, upstream)
        self.connections.add(conn)
        conn.start()

    def connection_closed(self, conn: _Connection) -> None:
        self.connections.discard(conn)
        self._one_gone()

    def _one_gone(self) -> None:
        self.counters.active -= 1
        if self.counters.active == 0:
            self.idle.set()

    def abort_all(self) -> None:
        for task in list(self.pending):
            task.cancel()
        for conn in list(self.connections):
            conn.abort()


# -- UDP ------------------------------------------------------------------------------------------


class _Session:
    __slots__ = ("client", "last", "sock")

    def __init__(self, client: tuple[str, int], sock: socket.socket) -> None:
        self.client = client
        self.sock = sock
        self.last = time.monotonic()


class UdpProxy:
    def __init__(
        self,
        listener: socket.socket,
        target: tuple[int, tuple[str, int]],
        *,
        idle_timeout: float = 60.0,
        max_sessions: int = 4096,
    ) -> None:
        self.listener = listener
        self.family, self.target = target
        self.idle_timeout = idle_timeout
        self.max_sessions = max_sessions
        self.counters = ProxyCounters()
        self.sessions: dict[tuple[str, int], _Session] = {}
        self.loop = asyncio.get_running_loop()
        self.zero_copy = False
        self.idle = asyncio.Event()
        self.idle.set()
        self._reaper: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self.loop.add_reader(self.listener.fileno(), self._from_clients)
        self._schedule_reaper()

    def _schedule_reaper(self) -> None:
        self._reaper = self.loop.call_later(max(0.05, self.idle_timeout / 4), self._reap)

    def _reap(self) -> None:
        now = time.monotonic()
        for key, session in list(self.sessions.items()):
            if now - session.last > self.idle_timeout:
                self._close(key, session)
        self._schedule_reaper()

    def _close(self, key: tuple[str, int], session: _Session) -> None:
        self.sessions.pop(key, None)
        with contextlib.suppress(Exception):
            self.loop.remove_reader(session.sock.fileno())
        session.sock.close()
        self.counters.active = len(self.sessions)

    def _from_clients(self) -> None:
        for _ in range(256):
            try:
                data, client = self.listener.recvfrom(65535)
            except BlockingIOError:
                return
            except OSError:
                return  # an ICMP error queued on the listener: nothing to do
            key = (str(client[0]), int(client[1]))
            session = self.sessions.get(key)
            if session is None:
                session = self._open(key)
                if session is None:
                    self.counters.dropped += 1
                    continue
            session.last = time.monotonic()
            try:
                session.sock.send(data)
            except OSError:
                self.counters.dropped += 1
                continue
            self.counters.datagrams_up += 1
            self.counters.bytes_up += len(data)

    def _open(self, key: tuple[str, int]) -> _Session | None:
        if len(self.sessions) >= self.max_sessions:
            return None
        sock = socket.socket(self.family, socket.SOCK_DGRAM)
        sock.setblocking(False)
        try:
            sock.connect(self.target)
        except OSError:
            sock.close()
            self.counters.failed += 1
            return None
        session = _Session(key, sock)
        self.sessions[key] = session
        self.counters.connections += 1
        self.counters.active = len(self.sessions)
        self.loop.add_reader(sock.fileno(), self._from_target, session)
        return session

    def _from_target(self, session: _Session) -> None:
        for _ in range(256):
            try:
                data = session.sock.recv(65535)
            except BlockingIOError:
                return
            except OSError:
                return  # e.g. ECONNREFUSED from an ICMP port unreachable: the client times out
            session.last = time.monotonic()
            try:
                self.listener.sendto(data, session.client)
            except OSError:
                self.counters.dropped += 1
                continue
            self.counters.datagrams_down += 1
            self.counters.bytes_down += len(data)

    def stop_accepting(self) -> None:
        with contextlib.suppress(Exception):
            self.loop.remove_reader(self.listener.fileno())
        if self._reaper is not None:
            self._reaper.cancel()
        self.listener.close()

    def abort_all(self) -> None:
        for key, session in list(self.sessions.items()):
            self._close(key, session)


# -- running ------------------------------------------------------------------------------------


async def run_proxy(
    listen: Endpoint,
    target: Endpoint,
    *,
    udp: bool = False,
    idle_timeout: float = 60.0,
    grace: float = 2.0,
    zero_copy: bool = True,
    connect_timeout: float = 10.0,
    ready: Callable[[str, str, bool], None] | None = None,
    counters: Callable[[ProxyCounters], None] | None = None,
    stop: asyncio.Event | None = None,
) -> ProxyStats:
    """Run until SIGTERM/SIGINT (or `stop` is set); returns what the proxy did.  SIGINT is
    reported as stopped_by="SIGINT" so the command can exit 130."""
    kind = socket.SOCK_DGRAM if udp else socket.SOCK_STREAM
    resolved = await resolve_target(target, kind)
    listener = bind_listener(listen, kind)
    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    stopped_by = ["stop"]

    def on_signal(name: str) -> None:
        stopped_by[0] = name
        stop.set()

    installed = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, on_signal, signal.Signals(signum).name)
            installed.append(signum)
    started = time.monotonic()
    proxy: TcpProxy | UdpProxy
    if udp:
        proxy = UdpProxy(listener, resolved, idle_timeout=idle_timeout)
    else:
        proxy = TcpProxy(listener, resolved, zero_copy=zero_copy, connect_timeout=connect_timeout)
    if counters is not None:
        # `kill -USR1 PID` shows the counters of a running proxy.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGUSR1, counters, proxy.counters)
            installed.append(signal.SIGUSR1)
    bound = listener.getsockname()
    shown = Endpoint(str(bound[0]), int(bound[1]))
    try:
        proxy.start()
        if ready is not None:
            ready(str(shown), str(Endpoint(*resolved[1])), proxy.zero_copy)
        await stop.wait()
        proxy.stop_accepting()
        active_at_stop = proxy.counters.active
        if not udp and grace > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proxy.idle.wait(), grace)
        proxy.abort_all()
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
    c = proxy.counters
    return ProxyStats(
        proto="udp" if udp else "tcp",
        listen=str(shown),
        target=str(Endpoint(*resolved[1])),
        zero_copy=proxy.zero_copy,
        connections=c.connections,
        active_at_stop=active_at_stop,
        failed=c.failed,
        bytes_up=c.bytes_up,
        bytes_down=c.bytes_down,
        datagrams_up=c.datagrams_up,
        datagrams_down=c.datagrams_down,
        dropped=c.dropped,
        duration_ms=(time.monotonic() - started) * 1000,
        stopped_by=stopped_by[0],
    )
