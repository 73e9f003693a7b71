"""The sans-IO contract between a prober and the driver.

A session holds the whole logic of one probe run — what to send and when, how to match what
comes back, when it is finished — and no I/O at all: it never touches a socket, the clock or an
event loop.  The driver (`net/driver.py`) opens the channels the session declares, performs the
actions it returns, and hands back what arrived, each with its own timestamp:

    session.bind(opened)              the channels as opened (datagram or raw, identifier, …)
    session.start(now)
    loop:
        step = session.poll(now)      actions due now, the next wake-up, events, done
        … perform step.actions; on_sent / on_packet / on_connect / on_data / on_tls …
    session.result()

The shape follows h11's `Connection` (bytes in, events out, bytes to send back), widened to
datagrams and to connects whose handshake the kernel does.  Every time is a monotonic clock
reading in nanoseconds; every RTT comes from the stamps the driver gives (the time right before
each send syscall, the kernel's receive timestamp), never from one `now` shared by a batch.

Tests drive a session with fabricated `Received` values and a fake clock
(`tests/sessions.py`), without root or a lab.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, Literal, NamedTuple, TypeVar

from netladder.net.sockets import Received, SockError

__all__ = [
    "Action",
    "ChannelSpec",
    "Close",
    "Connect",
    "ConnectOutcome",
    "Opened",
    "Send",
    "Session",
    "StartTls",
    "Step",
    "TlsOutcome",
    "Write",
]

R = TypeVar("R")

ChannelKind = Literal["icmp", "udp", "raw_tcp", "packet"]


class ChannelSpec(NamedTuple):
    """A datagram socket a session needs; the driver opens it (net.sockets) and owns it.

    icmp: an ICMP/ICMPv6 echo socket (datagram when ping_group_range allows, else raw; `prefer`
    forces one).  udp: a UDP socket with the error queue on (`connect` to fix the peer).
    raw_tcp: a raw IPPROTO_TCP socket (SYN probes; CAP_NET_RAW).  packet: an AF_PACKET socket
    on `device` for `ethertype` (ARP)."""

    kind: ChannelKind
    version: int = 4
    prefer: Literal["dgram", "raw"] | None = None
    ttl: int | None = None
    device: str | None = None
    source: str | None = None
    connect: tuple[str, int] | None = None
    dont_fragment: bool = False
    recv_ttl: bool = True
    rcvbuf: int | None = None
    ethertype: int | None = None


class Opened(NamedTuple):
    """What the driver opened for a ChannelSpec."""

    kind: str  # "dgram" | "raw" (icmp), "udp", "raw_tcp", "packet"
    version: int
    identifier: int | None  # datagram ICMP: the kernel's echo identifier (the bound "port")
    local: tuple[Any, ...] | None  # getsockname()
    includes_ip_header: bool  # raw IPv4 sockets hand over the IP header too


class Send(NamedTuple):
    """Send one datagram on a channel; with a token, `on_sent(token, at, errno)` follows."""

    channel: int
    data: bytes
    address: tuple[Any, ...]
    ttl: int | None = None
    token: int | None = None


class Connect(NamedTuple):
    """A non-blocking TCP connect; `on_connect(token, outcome)` follows.  With `keep` the
    connection stays open as a stream (Write / on_data / StartTls / Close)."""

    token: int
    address: str
    port: int
    ttl: int | None = None
    source: str | None = None
    keep: bool = False


class Write(NamedTuple):
    token: int
    data: bytes


class StartTls(NamedTuple):
    """Run a TLS handshake on a kept connection; `on_tls(token, outcome)` follows."""

    token: int
    server_name: str | None
    verify: bool = True
    cafile: str | None = None
    alpn: tuple[str, ...] = ()


class Close(NamedTuple):
    token: int
    reset: bool = False  # SO_LINGER 0: an RST, no TIME_WAIT


Action = Send | Connect | Write | StartTls | Close


class ConnectOutcome(NamedTuple):
    """How a connect ended: `error` 0 when connected, else the errno (ECONNREFUSED, …)."""

    error: int
    at: int  # monotonic ns when the driver saw the outcome
    rtt_ns: int | None = None  # the kernel's handshake RTT (tcpi_rtt), when connected
    icmp: SockError | None = None  # the ICMP error behind `error`, from the error queue
    local: tuple[Any, ...] | None = None


class TlsOutcome(NamedTuple):
    at: int
    error: str | None  # None: the handshake completed
    info: Any = None  # the ssl.SSLObject after a handshake (read it with l7.tlsinfo)
    verified: bool = False


class Step(NamedTuple):
    actions: Sequence[Action] = ()
    wake_at: int | None = None  # monotonic ns; None: only input wakes it
    events: Sequence[Any] = ()
    done: bool = False


class Session(Generic[R]):
    """The base of every prober.  Override what the prober uses; the rest ignore input."""

    channels: tuple[ChannelSpec, ...] = ()

    def bind(self, opened: Sequence[Opened]) -> None:
        """The channels as the driver opened them, in the order of `channels`."""

    def start(self, now: int) -> None:
        """The run begins (before the first poll)."""

    def poll(self, now: int) -> Step:
        raise NotImplementedError

    def on_packet(self, channel: int, packet: Received) -> None:
        """A datagram, or a message from the error queue (packet.error set)."""

    def on_sent(self, token: int, at: int, error: int | None) -> None:
        """A Send with a token left (at: monotonic ns right before the syscall); error: the
        errno when the send failed."""

    def on_connect(self, token: int, outcome: ConnectOutcome) -> None:
        """A Connect finished."""

    def on_data(self, token: int, data: bytes, at: int) -> None:
        """Bytes from a kept connection (after TLS: decrypted); b"" is the end of stream."""

    def on_tls(self, token: int, outcome: TlsOutcome) -> None:
        """A StartTls finished."""

    def on_error(self, token: int, error: int, at: int) -> None:
        """A kept connection failed after it was made (ECONNRESET, ETIMEDOUT, …); it is closed."""

    def interrupt(self) -> None:
        """Ctrl-C or cancellation: finish now with what was gathered."""

    def result(self) -> R:
        raise NotImplementedError
