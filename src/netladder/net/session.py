"""The sans-IO contract between a prober and the driver.

A session holds the whole logic of one probe run — what to send and when, how to match what
comes back, when it is finished — and no I/O at all: it never touches a socket, the clock or an
event loop.  The driver (`net/driver.py`) opens the channels the session declares, performs the
actions it returns, and hands back what arrived, each with its own timestamp:

    session.bind(opened)              the channels as opened (datagram or raw, identifier, …)
    session.start(now)
    loop:
        step = session.poll(now)      actions due now, the next wake-up, events, done
        … perform step.actions; on_sent / on_packet(s) / on_connect / on_data / on_tls /
          on_opened / on_lookup …
    session.result()

The shape follows h11's `Connection` (bytes in, events out, bytes to send back), widened to
datagrams and to connects whose handshake the kernel does.  Every time is a monotonic clock
reading in nanoseconds; every RTT comes from the stamps the driver gives (the time right before
each send syscall, the kernel's receive timestamp), never from one `now` shared by a batch.

What a session may ask for (each action below says what comes back):

    Send / SendBurst            datagrams on a channel; on_sent (Send) or burst.sent (SendBurst)
    OpenChannel / CloseChannel  channels opened and closed while the session runs; on_opened
    Connect / Write / StartTls / Close    TCP connects and kept streams; on_connect, on_data,
                                on_tls, on_error
    ScanConnects                a whole connect scan, handed to the driver's strategy; the
                                session's `ConnectPlan` hears every answer
    Lookup                      a name through the system resolver; on_lookup

Tests drive a session with fabricated `Received` values and a fake clock
(`tests/sessions.py`), without root or a lab.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Generic, Literal, NamedTuple, Protocol, TypeVar

from netladder.net.sockets import Received, SockError

if TYPE_CHECKING:
    from netladder.net.targets import ResolveError, Target
    from netladder.net.tls import TlsInfo

__all__ = [
    "Action",
    "Burst",
    "ChannelSpec",
    "Close",
    "CloseChannel",
    "Connect",
    "ConnectOutcome",
    "ConnectPlan",
    "Lookup",
    "OpenChannel",
    "Opened",
    "Packet",
    "ScanConnects",
    "Send",
    "SendBurst",
    "Session",
    "StartTls",
    "Step",
    "TlsOutcome",
    "Write",
]

R = TypeVar("R")

ChannelKind = Literal["icmp", "udp", "raw_tcp", "packet", "hold"]


class ChannelSpec(NamedTuple):
    """A socket a session needs; the driver opens it (net.sockets) and owns it.

    icmp: an ICMP/ICMPv6 echo socket (datagram when ping_group_range allows, else raw; `prefer`
    forces one).  udp: a UDP socket with the error queue on (`connect` to fix the peer).
    raw_tcp: a raw IPPROTO_TCP socket (SYN probes; CAP_NET_RAW).  packet: an AF_PACKET socket
    on `device` for `ethertype` (ARP, NDP); each frame's `Received.pkttype` says whom it was
    for, and frames the kernel dropped (the buffer full) come as a Received whose error is
    ENOBUFS with `info` = how many, after reads and once more at the close.  hold: a TCP
    socket bound to `source` (any address when None) and never used, so the kernel hands its
    port to nobody else while a session forges segments from it (SYN scans, Paris TCP
    traces); `Opened.local` says which port.

    fast: datagrams arrive in batches through `on_packets` — (data, kernel stamp, source) each,
    no `Received` object per datagram — while the error queue still comes through `on_packet`.
    rcvbuf: SO_RCVBUF; with `rcvbuf_force`, SO_RCVBUFFORCE first (beyond net.core.rmem_max,
    needs CAP_NET_ADMIN).  recv_ttl: ask the kernel for each reply's TTL / hop limit.
    netns: create the socket inside that network namespace (a path, /run/netns/NAME)."""

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
    fast: bool = False
    rcvbuf_force: bool = False
    netns: str | None = None


class Opened(NamedTuple):
    """What the driver opened for a ChannelSpec."""

    kind: str  # "dgram" | "raw" (icmp), "udp", "raw_tcp", "packet", "hold"
    version: int
    identifier: int | None  # datagram ICMP: the kernel's echo identifier (the bound "port")
    local: tuple[Any, ...] | None  # getsockname()
    includes_ip_header: bool  # raw IPv4 sockets hand over the IP header too


Packet = tuple[bytes, int, str]  # (data, kernel receive stamp in monotonic ns, source address)


class Send(NamedTuple):
    """Send one datagram on a channel; `on_sent(token, at, errno)` follows — the time right
    before the syscall, and the errno when it failed (the probe is then lost, as on a wire)."""

    channel: int
    data: bytes
    address: tuple[Any, ...]
    token: int
    ttl: int | None = None


class Burst(Protocol):
    """Datagrams a session sends many at a time (a sweep's round, a SYN scan's ports).  The
    driver reads the clock right before each one and hands it to `build`, so a probe may carry
    its own send time while the session stays clock-free."""

    def build(self, k: int, now_ns: int, ip_header: bool) -> tuple[bytes, tuple[Any, ...]]:
        """Datagram k of the burst and where it goes; with `ip_header` (an IP_HDRINCL sender)
        the datagram starts with its IPv4 header."""
        ...

    def sent(self, k: int, at_ns: int, error: int | None) -> None:
        """Datagram k left at `at_ns` (or failed with `error`)."""
        ...


class SendBurst(NamedTuple):
    """Send `burst.build(k, …)` for k in range(start, stop) on a channel.  `parallel` allows
    the driver's helper strategy to send part of the range from another process."""

    channel: int
    burst: Burst
    start: int
    stop: int
    parallel: bool = False


class OpenChannel(NamedTuple):
    """Open one more channel while running; `on_opened(token, channel, Opened | errno)`."""

    token: int
    spec: ChannelSpec


class CloseChannel(NamedTuple):
    """Close a channel; its index is never reused within the run."""

    channel: int


class Connect(NamedTuple):
    """A non-blocking TCP connect; `on_connect(token, outcome)` follows.  With `keep` the
    connection stays open as a stream (Write / on_data / StartTls / Close).  `netns`: connect
    from inside that network namespace (a path)."""

    token: int
    address: str
    port: int
    ttl: int | None = None
    source: str | None = None
    keep: bool = False
    netns: str | None = None


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


class ConnectPlan(Protocol):
    """A connect scan as pure state (owned by the prober, l4): which port to try next, how
    many may be in flight, when one counts as silent — and every answer.  The driver's
    strategy does the connects; indices `i` name attempts (a port and its try)."""

    address: str  # the target address every connect goes to

    def next(self, now_ns: int) -> int | None:
        """The next attempt to start now, or None (nothing due: all sent, or paced)."""
        ...

    def port(self, i: int) -> int: ...

    def window(self) -> int:
        """How many connects may be in flight now."""
        ...

    def timeout_ns(self) -> int:
        """How long an attempt may stay unanswered before it is `silent`."""
        ...

    def answered(
        self, i: int, error: int, sent_ns: int, at_ns: int, icmp: SockError | None
    ) -> None:
        """Attempt i ended: `error` 0 (connected) or its errno, the ICMP error behind it."""
        ...

    def silent(self, i: int, sent_ns: int, now_ns: int) -> None:
        """Attempt i got no answer within `timeout_ns()`; the driver closed it."""
        ...

    def done(self) -> bool: ...

    def share(self, k: int, n: int) -> ConnectPlan:
        """Worker k of n's part of the scan (forked workers, A3's strategy)."""
        ...

    def export(self) -> bytes:
        """What a worker learnt, to hand to the parent's plan."""
        ...

    def absorb(self, k: int, n: int, data: bytes) -> None:
        """Take worker k of n's `export()`."""
        ...


class ScanConnects(NamedTuple):
    """Hand a connect scan to the driver's strategy (net/connectscan.py: epoll, forked
    workers).  The scan has ended when `plan.done()` and nothing is in flight; the driver
    then wakes the session once more."""

    plan: ConnectPlan
    workers: int = 1


class Lookup(NamedTuple):
    """Resolve `host` with the system resolver (net.targets' one validation, getaddrinfo in a
    daemon thread, never more than `wait` seconds); `on_lookup(token, Target | ResolveError,
    at)` follows.  A literal address answers at once.  `every`: the target also carries
    every address getaddrinfo gave and the canonical name (`Target.addresses`, `.canonical`)."""

    token: int
    host: str
    version: int | None = None
    prefer: int | None = None
    fallback: bool = True
    wait: float = 10.0
    every: bool = False


Action = (
    Send
    | SendBurst
    | OpenChannel
    | CloseChannel
    | Connect
    | Write
    | StartTls
    | Close
    | ScanConnects
    | Lookup
)


class ConnectOutcome(NamedTuple):
    """How a connect ended: `error` 0 when connected, else the errno (ECONNREFUSED, …)."""

    error: int
    at: int  # monotonic ns when the driver saw the outcome
    rtt_ns: int | None = None  # the kernel's handshake RTT (tcpi_rtt), when connected
    icmp: SockError | None = None  # the ICMP error behind `error`, from the error queue
    local: tuple[Any, ...] | None = None
    sent: int | None = None  # monotonic ns right before connect() (the probe's send time)


class TlsOutcome(NamedTuple):
    at: int
    error: str | None  # None: the handshake completed
    info: TlsInfo | None = None  # what the handshake showed (net/tls.py); None when it failed
    verified: bool = False
    # Why it failed, beside `error` (OpenSSL's words): "certificate" (the chain or the name
    # did not verify), "handshake" (the peer broke the protocol or sent an alert), "closed"
    # (the peer ended the connection first), "setup" (no context: an unreadable cafile).
    cause: str | None = None


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

    def on_packets(self, channel: int, packets: list[Packet]) -> None:
        """Datagrams of a `fast` channel, as many as were waiting."""

    def on_sent(self, token: int, at: int, error: int | None) -> None:
        """A Send left (at: monotonic ns right before the syscall); error: the errno when the
        send failed."""

    def on_opened(self, token: int, channel: int, opened: Opened | int) -> None:
        """An OpenChannel finished: its channel index and what was opened, or the errno."""

    def on_connect(self, token: int, outcome: ConnectOutcome) -> None:
        """A Connect finished."""

    def on_data(self, token: int, data: bytes, at: int) -> None:
        """Bytes from a kept connection (after TLS: decrypted); b"" is the end of stream."""

    def on_tls(self, token: int, outcome: TlsOutcome) -> None:
        """A StartTls finished."""

    def on_error(self, token: int, error: int, at: int) -> None:
        """A kept connection failed after it was made (ECONNRESET, ETIMEDOUT, …); it is closed."""

    def on_lookup(self, token: int, answer: Target | ResolveError, at: int) -> None:
        """A Lookup finished: the target, or why the name does not resolve."""

    def interrupt(self) -> None:
        """Ctrl-C or cancellation: finish now with what was gathered."""

    def result(self) -> R:
        raise NotImplementedError
