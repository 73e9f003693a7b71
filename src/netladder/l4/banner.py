"""What a service says: its greeting, or its answer to a probe (a HEAD on an HTTP port), as a
user sees it in telnet; the TLS handshake it offers; a datagram's answer.  Three sans-IO
sessions (net/session.py) over the driver's kept connections and channels:

    BannerSession   connect (TLS inside when asked), wait for a greeting, else send the probe,
                    read until a line ends (port --banner) or the peer goes quiet (forward
                    verify) — never more than `limit` bytes, never longer than the waits
    TlsSession      a handshake that reports and does not judge: TlsInfo, or why it failed
    UdpExchange     one datagram out, the first datagram or ICMP error back, timed from its
                    send (forward verify, serve's udp prober through api._udp)

Hostile services never hang or flood a caller: every phase has a deadline, every read a cap,
and how a read ended (a line end, the cap, the deadline, quiet, a close, a reset) is part of
the answer.
"""

from __future__ import annotations

import errno
from typing import Any

from netladder.l4.model import Banner
from netladder.net.session import (
    ChannelSpec,
    Close,
    Connect,
    ConnectOutcome,
    Opened,
    Send,
    Session,
    StartTls,
    Step,
    TlsOutcome,
    Write,
)
from netladder.net.sockets import Received, SockError
from netladder.net.tls import TlsInfo
from netladder.proto.http1 import build_request
from netladder.proto.record import record
from netladder.proto.text import escape_controls

__all__ = [
    "GREETING_WAIT",
    "HTTP_PORTS",
    "MAX_READ",
    "TLS_PORTS",
    "BannerSession",
    "Datagram",
    "StreamAnswer",
    "TlsSession",
    "UdpExchange",
    "banner_of",
    "head_probe",
    "printable",
]

# Ports where the client speaks first with HTTP (IANA registry names in comments).
HTTP_PORTS = frozenset({80, 591, 3000, 5000, 8000, 8008, 8080, 8081, 8888})  # http, http-alt
TLS_PORTS = frozenset({443, 465, 636, 853, 993, 995, 8443})  # https, smtps, ldaps, ...
HTTPS_PORTS = frozenset({443, 8443})
MAX_READ = 1024
GREETING_WAIT = 2.0  # how long a silent service gets to speak first
NS = 1_000_000_000


def printable(data: bytes, limit: int = 200) -> str:
    """The first line(s) of what a service said, with control bytes escaped."""
    text = data.decode("utf-8", "backslashreplace")
    lines = [line for line in text.replace("\r\n", "\n").split("\n") if line.strip()]
    out = escape_controls(" | ".join(lines[:3]) if lines else "")
    return out[:limit] + ("..." if len(out) > limit else "")


def head_probe(host: str) -> bytes:
    """`HEAD / HTTP/1.0` with Host and netladder's User-Agent: what an HTTP port answers."""
    return build_request("HEAD", "/", host, [("Accept", "")], version="HTTP/1.0")


@record
class StreamAnswer:
    """How a BannerSession went.  `error`: the connect's errno (0 once connected), with the
    ICMP error behind it; `timed_out`: no connection (and handshake) within the wait."""

    error: int
    icmp: SockError | None
    timed_out: bool
    tls_error: str | None  # the TLS handshake failed: why (OpenSSL's words)
    tls_cause: str | None  # "certificate", "handshake", "closed", "setup"
    data: bytes  # what the service said (at most `limit` bytes)
    # How the read ended: "line", "limit", "timeout" (the wait passed), "quiet" (nothing more
    # for a while), "closed", "reset", "error" (read_error says which); "" when not connected.
    end: str
    read_error: int | None
    spoke_first: bool  # it said something before the probe was sent
    probed: bool  # the probe was sent
    connect_time: float | None  # seconds from the start to the connection (and handshake)
    elapsed: float  # seconds from the start to the end

    @property
    def connected(self) -> bool:
        return self.error == 0 and not self.timed_out and self.tls_error is None


class BannerSession(Session[StreamAnswer]):
    """Connect to `address`:`port` (from inside `netns`, from `source`), TLS first when `tls`;
    give the service `greeting` seconds to speak first (0: send the probe at once), else send
    `probe` and wait `wait` seconds for its answer.  `until="line"` reads until a line ends;
    `until="quiet"` until nothing more came for `quiet` seconds (at most `wait` after the
    first bytes).  Connecting (and the handshake) gets `wait` seconds too."""

    def __init__(
        self,
        address: str,
        port: int,
        probe: bytes,
        wait: float,
        *,
        greeting: float = GREETING_WAIT,
        until: str = "line",
        quiet: float = 0.2,
        limit: int = MAX_READ,
        tls: bool = False,
        server_name: str | None = None,
        netns: str | None = None,
        source: str | None = None,
    ) -> None:
        self.connect = Connect(0, address, port, source=source, keep=True, netns=netns)
        self.probe = probe
        self.wait = round(wait * NS)
        self.greeting = round(greeting * NS)
        self.until = until
        self.quiet = round(quiet * NS)
        self.limit = limit
        self.tls = StartTls(0, server_name, verify=False) if tls else None
        self.phase = "connect"  # connect, tls, greeting, answer, done
        self.started = 0
        self.due = 0  # when the current phase ends
        self.last = 0  # the last time anything arrived (quiet reading)
        self.first_by = 0  # quiet reading: the whole answer's deadline, from its first bytes
        self.pending: list[Any] = []
        self.error = 0
        self.icmp: SockError | None = None
        self.timed_out = False
        self.tls_error: str | None = None
        self.tls_cause: str | None = None
        self.data = bytearray()
        self.end = ""
        self.read_error: int | None = None
        self.spoke_first = False
        self.probed = False
        self.connected_at: int | None = None
        self.ended = 0

    def start(self, now: int) -> None:
        self.started = now
        self.due = now + self.wait
        self.pending.append(self.connect)

    def poll(self, now: int) -> Step:
        if self.phase in ("connect", "tls") and now >= self.due:
            self.timed_out = True
            self._finish("", now)
        elif self.phase == "greeting" and now >= self.due:
            if self.data and self.until == "line":
                self._finish("timeout", now)  # it spoke, and did not end its line in time
            else:
                self._send_probe(now)
        elif self.phase == "answer":
            if self.until == "quiet" and self.data:
                if now >= self.last + self.quiet or now >= self.first_by:
                    self._finish("quiet", now)
            elif now >= self.due:
                self._finish("timeout", now)
        actions, self.pending = self.pending, []
        if self.phase == "done":
            return Step(actions, None, (), True)
        wake = self.due
        if self.phase == "answer" and self.until == "quiet" and self.data:
            wake = min(self.last + self.quiet, self.first_by)
        return Step(actions, wake)

    def on_connect(self, token: int, outcome: ConnectOutcome) -> None:
        if self.phase != "connect":
            return
        if outcome.error:
            self.error, self.icmp = outcome.error, outcome.icmp
            self._finish("", outcome.at, close=False)
        elif self.tls is not None:
            self.phase = "tls"
            self.pending.append(self.tls)
        else:
            self._connected(outcome.at)

    def on_tls(self, token: int, outcome: TlsOutcome) -> None:
        if self.phase != "tls":
            return
        if outcome.error is not None:
            self.tls_error, self.tls_cause = outcome.error, outcome.cause
            self._finish("", outcome.at)
        else:
            self._connected(outcome.at)

    def _connected(self, at: int) -> None:
        self.connected_at = at
        if self.greeting > 0:
            self.phase, self.due = "greeting", at + self.greeting
        else:
            self._send_probe(at)

    def _send_probe(self, now: int) -> None:
        self.phase, self.due = "answer", now + self.wait
        self.probed = True
        if self.probe:
            self.pending.append(Write(0, self.probe))

    def on_data(self, token: int, data: bytes, at: int) -> None:
        if self.phase not in ("greeting", "answer"):
            return
        if not data:
            self._finish("closed", at, close=False)
            return
        chunk = data[: self.limit - len(self.data)]
        self.data += chunk
        if self.phase == "greeting":
            self.spoke_first = True
        if self.until == "line":
            if b"\n" in chunk:
                self._finish("line", at)
            elif len(self.data) >= self.limit:
                self._finish("limit", at)
            return
        if len(self.data) >= self.limit:
            self._finish("limit", at)
            return
        if self.phase == "greeting":
            self.phase = "answer"  # it spoke first: no probe, read the rest
        if not self.first_by:
            self.first_by = at + self.wait
        self.last = at

    def on_error(self, token: int, error: int, at: int) -> None:
        if self.phase in ("greeting", "answer"):
            self.read_error = error
            self._finish("reset" if error == errno.ECONNRESET else "error", at, close=False)

    def interrupt(self) -> None:
        if self.phase != "done":
            self._finish("timeout" if self.connected_at else "", self.started)

    def _finish(self, end: str, at: int, close: bool = True) -> None:
        self.end = end
        self.ended = max(at, self.started)
        if close:
            self.pending.append(Close(0))
        self.phase = "done"

    def result(self) -> StreamAnswer:
        return StreamAnswer(
            self.error,
            self.icmp,
            self.timed_out,
            self.tls_error,
            self.tls_cause,
            bytes(self.data),
            self.end,
            self.read_error,
            self.spoke_first,
            self.probed,
            None if self.connected_at is None else (self.connected_at - self.started) / NS,
            (self.ended - self.started) / NS,
        )


def banner_session(
    address: str, port: int, host: str | None, wait: float, tls: bool | None = None
) -> BannerSession:
    """`port --banner`'s session for one open port: the greeting, or on HTTP ports (and when
    the service stays silent) the answer to HEAD; inside TLS on TLS ports."""
    use_tls = port in TLS_PORTS if tls is None else tls
    speaks_http = port in HTTP_PORTS or port in HTTPS_PORTS
    return BannerSession(
        address,
        port,
        head_probe(host or address),
        wait,
        greeting=0.0 if speaks_http else min(GREETING_WAIT, wait),
        tls=use_tls,
        server_name=host or None,
    )


def banner_of(answer: StreamAnswer) -> tuple[Banner | None, str | None]:
    """What `port --banner` shows for a BannerSession's answer: the banner, or why there is
    none (the connect failed)."""
    if answer.timed_out:
        return None, "timed out"
    if answer.tls_error is not None:
        return None, answer.tls_error
    if answer.error == errno.ECONNRESET:
        # The handshake was done, and the service reset the connection before it could be
        # used — right after accepting it.
        return Banner("", "greeting", answer.elapsed, "reset"), None
    if answer.error:
        import os

        return None, os.strerror(answer.error)
    data, end = answer.data, answer.end
    if not answer.probed or answer.spoke_first:
        # It spoke first — or it ended the connection, and there is nobody to ask.
        return Banner(printable(data), "greeting", answer.elapsed, end), None
    http = data.startswith(b"HTTP/")
    first = data.split(b"\n", 1)[0].rstrip(b"\r") if http else data
    return Banner(printable(first), "http-head" if http else "none", answer.elapsed, end), None


class TlsSession(Session[TlsInfo]):
    """A TLS handshake with `address`:`port` that reports and does not judge (no verification;
    ALPN offers h2 and http/1.1), within `wait` seconds: TlsInfo, or TlsInfo.failed(why)."""

    def __init__(self, address: str, port: int, server_name: str | None, wait: float) -> None:
        self.actions: list[Any] = [Connect(0, address, port, keep=True)]
        self.handshake = StartTls(0, server_name, verify=False, alpn=("h2", "http/1.1"))
        self.wait = round(wait * NS)
        self.due = 0
        self.info: TlsInfo | None = None

    def start(self, now: int) -> None:
        self.due = now + self.wait

    def poll(self, now: int) -> Step:
        if self.info is None and now >= self.due:
            self._done(TlsInfo.failed("TimeoutError", 0.0))
        actions, self.actions = self.actions, []
        return Step(actions, self.due, (), self.info is not None)

    def on_connect(self, token: int, outcome: ConnectOutcome) -> None:
        if outcome.error:
            # The exception asyncio raised, by name, as this check has always said it.
            name = type(OSError(outcome.error, "")).__name__
            self.info = TlsInfo.failed(name, 0.0)
        else:
            self.actions.append(self.handshake)

    def on_tls(self, token: int, outcome: TlsOutcome) -> None:
        if outcome.error is None and outcome.info is not None:
            self._done(outcome.info)
        elif outcome.cause == "closed":
            self._done(TlsInfo.failed("ConnectionResetError", 0.0))
        else:
            self._done(TlsInfo.failed(outcome.error or "SSLError", 0.0))

    def on_error(self, token: int, error: int, at: int) -> None:
        self._done(TlsInfo.failed(type(OSError(error, "")).__name__, 0.0))

    def interrupt(self) -> None:
        if self.info is None:
            self.info = TlsInfo.failed("interrupted", 0.0)

    def _done(self, info: TlsInfo) -> None:
        if self.info is None:
            self.info = info
            self.actions.append(Close(0))

    def result(self) -> TlsInfo:
        assert self.info is not None
        return self.info


@record
class Datagram:
    """How a UdpExchange went: the datagram back, or the errno of the failure (opening,
    sending, or the ICMP error that came back, with that error); `timed_out`: nothing came.
    `elapsed`: seconds from the start (before the socket opened) to the end; `sent`: the
    datagram left; `rtt`: seconds from right before its send to the kernel's receive stamp of
    the datagram or ICMP error back (None when nothing came back, or nothing left); `opened`:
    the socket opened (bound and connected), so a failure with nothing sent was the send's."""

    data: bytes | None
    error: int
    icmp: SockError | None
    timed_out: bool
    elapsed: float
    sent: bool = False
    rtt: float | None = None
    opened: bool = False


class UdpExchange(Session[Datagram]):
    """Send `probe` to `address`:`port` from a connected UDP socket (inside `netns`, from
    `source`) and wait `wait` seconds for the first datagram or ICMP error back."""

    def __init__(
        self,
        address: str,
        port: int,
        probe: bytes,
        wait: float,
        *,
        netns: str | None = None,
        source: str | None = None,
    ) -> None:
        version = 6 if ":" in address else 4
        self.address = (address, port)
        self.spec = ChannelSpec(
            "udp", version, source=source, connect=self.address, recv_ttl=False, netns=netns
        )
        self.probe = probe
        self.wait = round(wait * NS)
        self.started = 0
        self.sent_at: int | None = None  # right before the send syscall, once it succeeded
        self.channel = -1
        self.actions: list[Any] = []
        self.answer: Datagram | None = None

    def start(self, now: int) -> None:
        from netladder.net.session import OpenChannel

        self.started = now
        self.actions.append(OpenChannel(0, self.spec))

    def poll(self, now: int) -> Step:
        if self.answer is None and now >= self.started + self.wait:
            self._end(None, 0, None, True, now)
        actions, self.actions = self.actions, []
        return Step(actions, self.started + self.wait, (), self.answer is not None)

    def on_opened(self, token: int, channel: int, opened: Opened | int) -> None:
        if isinstance(opened, int):
            self._end(None, opened, None, False, self.started)
            return
        self.channel = channel
        self.actions.append(Send(channel, self.probe, self.address, 0))

    def on_sent(self, token: int, at: int, error: int | None) -> None:
        if self.answer is not None:
            return
        if error is not None:
            self._end(None, error, None, False, at)
        else:
            self.sent_at = at

    def on_packet(self, channel: int, packet: Received) -> None:
        if self.answer is not None:
            return
        if packet.error is None:
            self._end(packet.data, 0, None, False, packet.monotonic_ns, back=True)
        else:
            # An ICMP error about the datagram, or a local one the kernel queued for it (its
            # own drop): either ends the exchange; waiting past it would say "timeout".
            error = packet.error
            self._end(None, error.errno, error, False, packet.monotonic_ns, back=error.is_icmp)

    def interrupt(self) -> None:
        if self.answer is None:
            sent = self.sent_at is not None
            self.answer = Datagram(None, 0, None, True, 0.0, sent, opened=self.channel >= 0)

    def _end(
        self,
        data: bytes | None,
        error: int,
        icmp: SockError | None,
        timed_out: bool,
        at: int,
        back: bool = False,
    ) -> None:
        sent = self.sent_at is not None
        rtt = None
        if back and self.sent_at is not None:
            rtt = max(0, at - self.sent_at) / NS
        elapsed = max(0, at - self.started) / NS
        opened = self.channel >= 0
        self.answer = Datagram(data, error, icmp, timed_out, elapsed, sent, rtt, opened)

    def result(self) -> Datagram:
        assert self.answer is not None
        return self.answer
