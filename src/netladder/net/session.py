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

from netladder.net.sockets import Received

if TYPE_CHECKING:
    from netladder.net.actions import (
        Close,
        CloseChannel,
        Connect,
        ConnectOutcome,
        ConnectPlan,
        Lookup,
        ScanConnects,
        StartTls,
        TlsOutcome,
        Write,
    )
    from netladder.net.targets import ResolveError, Target

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


def __getattr__(name: str) -> Any:
    """The contract's connection, TLS, scan and lookup types (net/actions.py), loaded on first
    use: a one-shot ping pays for none of their NamedTuples."""
    if name.startswith("_"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from netladder.net import actions

    if name == "Action":
        value: Any = (
            Send
            | SendBurst
            | OpenChannel
            | actions.CloseChannel
            | actions.Connect
            | actions.Write
            | actions.StartTls
            | actions.Close
            | actions.ScanConnects
            | actions.Lookup
        )
    elif name in actions.__all__:
        value = getattr(actions, name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


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
    netns: create the socket inside that network namespace (a path, /run/netns/NAME).
    broadcast: SO_BROADCAST, so datagrams may go to a broadcast address (ping -b).
    echo_id: icmp — the session's echo identifier.  With it, every session on the same loop
    (or SelectReactor) whose channel has the same options shares one raw socket: echo replies
    go to the session whose identifier they carry, every other message to all of them, and
    each send carries its session's TTL.  `Opened.identifier` is the identifier to use —
    another when this one is taken, the kernel's on a datagram socket (never shared)."""

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
    broadcast: bool = False
    echo_id: int | None = None


class Opened(NamedTuple):
    """What the driver opened for a ChannelSpec."""

    kind: str  # "dgram" | "raw" (icmp), "udp", "raw_tcp", "packet", "hold"
    version: int
    # ICMP: the echo identifier to use — a datagram socket's (the bound "port"), or on a shared
    # raw socket (ChannelSpec.echo_id) one no other session there uses; else None
    identifier: int | None
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

    def build(
        self, k: int, now_ns: int, ip_header: bool
    ) -> tuple[bytes | bytearray, tuple[Any, ...]]:
        """Datagram k of the burst and where it goes; with `ip_header` (an IP_HDRINCL sender)
        the datagram starts with its IPv4 header.  The driver sends it before asking for the
        next one, so one buffer rebuilt in place per datagram will do."""
        ...

    def sent(self, k: int, at_ns: int, error: int | None) -> None:
        """Datagram k left at `at_ns` (or failed with `error`).  ECANCELED: it never left —
        a helper sender (net/helper.py) ended before it."""
        ...


class SendBurst(NamedTuple):
    """Send `burst.build(k, …)` for k in range(start, stop) on a channel, in that order.
    `parallel`: the driver may send the range from a helper process (net/helper.py: `sent`
    then comes later, in batches, still in k order) or, where it may not fork, itself a share
    per turn, reading the sockets between; a parallel burst is one sender's, so give the rest
    of a round its own burst."""

    channel: int
    burst: Burst
    start: int
    stop: int
    parallel: bool = False


class OpenChannel(NamedTuple):
    """Open one more channel while running; `on_opened(token, channel, Opened | errno)`."""

    token: int
    spec: ChannelSpec


if TYPE_CHECKING:
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
