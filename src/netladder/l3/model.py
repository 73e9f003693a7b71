"""The records of ping: its options, events and results (the sweep's are in
`l3/sweep_model.py`: a one-shot ping does not pay for building them).

Durations are seconds (float) in options and properties; the kernel's stamps stay integers in
nanoseconds where iputils' integer arithmetic needs them exact (`Sample.rtt_ns`,
`PingResult.time_ns`), and the JSON keeps its `_ms` keys with the values the command always
printed.  Sentences are not here: `render/ping.py` says what a result means.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Literal

from netladder.errors import OsCause, os_cause
from netladder.l3.stats import (
    IputilsRtt,
    RttStats,
    iputils_rtt,
    loss_percent,
    rtt_stats,
)
from netladder.model import field, json_flatten, json_name, json_skip, record, replace

__all__ = [
    "MAX_PAYLOAD",
    "NS",
    "TIMING_MIN_SIZE",
    "Corrupted",
    "PingEvent",
    "PingOptions",
    "PingResult",
    "PingStarted",
    "ProbeError",
    "Sample",
    "SocketKind",
    "Target",
]

NS = 1_000_000_000
# iputils times a probe only when its data can hold a struct timeval (16 bytes on 64-bit Linux);
# below that it prints no time= and no rtt line (ping.c: `rts->timing`).
TIMING_MIN_SIZE = 16
MAX_PAYLOAD = {4: 65507, 6: 65527}  # 65535 − IPv4 header (20) − ICMP header (8); IPv6: − 8

SocketKind = Literal["dgram", "raw"]

if TYPE_CHECKING:
    from typing import Protocol

    class Target(Protocol):
        """What a result keeps of its target: `net.targets.Target` is one (declared here, so
        that renderers reading results need nothing of the socket layer)."""

        @property
        def name(self) -> str: ...  # as typed
        @property
        def address(self) -> str: ...
        @property
        def version(self) -> int: ...
        @property
        def scope(self) -> str | None: ...  # the zone a link-local literal was typed with
        @property
        def is_literal(self) -> bool: ...


# -- ping -------------------------------------------------------------------------------------


@record
class PingOptions:
    """iputils ping's options that netladder keeps, with their meaning there.

    `count` (-c): stop after this many probes and their answers; with `deadline`, after this
    many answers (iputils keeps sending until then).  `interval` (-i): seconds between probes.
    `wait` (-W): after the last probe, how long to wait while nothing came back.  `deadline`
    (-w): stop after this many seconds whatever happens.  `size` (-s): data bytes.  `ttl` (-t).
    `version`: 4 or 6 only (-4/-6).  `device` / `source` (-I): the interface or the address
    the probes leave from.  `socket`: force the datagram ("dgram") or the raw socket.
    `broadcast` (-b): a broadcast address may be pinged; every host that answers counts."""

    targets: tuple[str, ...]
    count: int | None = None
    interval: float = 1.0
    wait: float = 10.0
    deadline: float | None = None
    size: int = 56
    ttl: int | None = None
    version: int | None = None
    device: str | None = None
    source: str | None = None
    socket: SocketKind | None = None
    broadcast: bool = False


@record
class PingStarted:
    """A target's run begins: the first event, before any reply (the command's header).

    `source`: the local address the probes leave from, as the route says; `broadcast`: the
    target is a broadcast address (-b allowed it); `scope_name`: the interface a link-local
    IPv6 target is reached on (printed with every address of it, as iputils does)."""

    target: Target
    socket_kind: str
    identifier: int
    size: int
    source: str | None
    device: str | None
    bound: bool  # -I was given (an interface or an address)
    broadcast: bool
    allow_broadcast: bool  # -b: answers from other hosts are expected
    scope_name: str | None = None

    @property
    def timed(self) -> bool:
        """Whether iputils would time these probes (data of at least 16 bytes)."""
        return self.size >= TIMING_MIN_SIZE


@record
class Sample:
    """One echo reply (or duplicate) that was ours.  `rtt_ns` is the kernel's receive stamp
    minus the send stamp; iputils keeps whole microseconds (`rtt_us`)."""

    seq: int
    rtt_ns: int = field(metadata=json_skip())
    ttl: int | None
    size: int  # ICMP bytes (header + data), as ping prints them
    duplicate: bool = False
    truncated: bool = False
    source: str | None = field(default=None, metadata=json_skip())  # who, when not the target

    __json_order__ = ("seq", "rtt_ms", "ttl", "size", "duplicate", "truncated")

    @property
    def rtt(self) -> float:
        """Seconds."""
        return self.rtt_ns / NS

    @property
    def rtt_us(self) -> int:
        return self.rtt_ns // 1000

    @property
    def rtt_ms(self) -> float:
        return self.rtt_ns / 1e6


@record
class Corrupted:
    """An echo reply to one of our probes whose ICMP checksum is wrong (not counted as a reply)."""

    seq: int
    size: int


@record
class ProbeError:
    """A probe that failed: an ICMP error about it (naming the router that sent it), or a send
    the kernel refused (`source` "local", `errno` set).  `text` is what iputils prints after
    the sequence number: the ICMP message's name (proto/icmp.py's table), or its own
    `sendmsg: <strerror>` for a refused send."""

    seq: int
    source: str = field(metadata=json_name("from"))
    icmp_type: int = field(metadata=json_name("type"))
    icmp_code: int = field(metadata=json_name("code"))
    text: str
    errno: int | None = field(default=None, metadata=json_skip())

    @property
    def kind(self) -> str:
        """ "icmp" (an ICMP error came back) or "send" (the kernel refused the send)."""
        return "icmp" if self.errno is None else "send"

    @property
    def os_cause(self) -> OsCause | None:
        return None if self.errno is None else os_cause(self.errno)

    @classmethod
    def refused(cls, seq: int, errno: int) -> ProbeError:
        """A send the kernel refused, as iputils reports it (perror("sendmsg"))."""
        return cls(seq, "local", 0, 0, f"sendmsg: {os.strerror(errno)}", errno)


PingEvent = PingStarted | Sample | Corrupted | ProbeError


@record
class PingResult:
    """Everything one target's run produced; statistics are derived, the evidence is kept."""

    target: Target = field(
        metadata=json_flatten(target="name", address="address", version="version")
    )
    socket_kind: str = field(metadata=json_name("socket"))
    identifier: int
    size: int
    transmitted: int
    received: int
    duplicates: int
    corrupted: int
    errors: int
    # From the start to the last probe sent, as iputils' summary "time".
    time_ns: int = field(metadata=json_skip())
    pipe: int
    samples: tuple[Sample, ...] = ()
    error_events: tuple[ProbeError, ...] = ()
    interrupted: bool = False
    count: int | None = field(default=None, metadata=json_skip())
    deadline: float | None = field(default=None, metadata=json_skip())
    interval: float = field(default=1.0, metadata=json_skip())
    # A send failed in a way that is no probe's fault (the errno): the run stopped there.
    send_error: int | None = field(default=None, metadata=json_skip())

    __json_order__ = (
        "target",
        "socket_kind",
        "identifier",
        "size",
        "transmitted",
        "received",
        "duplicates",
        "corrupted",
        "errors",
        "loss_percent",
        "time_ms",
        "pipe",
        "verdict",
        "interrupted",
        "rtt",
        "reply_ttls",
        "samples",
        "error_events",
    )

    @property
    def loss_percent(self) -> float:
        return loss_percent(self.transmitted, self.received)

    @property
    def time(self) -> float:
        """Seconds from the start to the last probe sent."""
        return self.time_ns / NS

    @property
    def time_ms(self) -> float:
        return self.time_ns / 1e6

    @property
    def timed(self) -> bool:
        """Whether iputils would time these probes (data of at least 16 bytes)."""
        return self.size >= TIMING_MIN_SIZE

    @property
    def iputils(self) -> IputilsRtt | None:
        """min/avg/max/mdev exactly as iputils prints them (replies and duplicates)."""
        return iputils_rtt([s.rtt_ns // 1000 for s in self.samples])

    @property
    def rtt(self) -> RttStats | None:
        """Figures in ms over every sample (iputils counts duplicates too), with iputils'."""
        stats = rtt_stats([s.rtt_ns / 1e6 for s in self.samples])
        return None if stats is None else replace(stats, iputils=self.iputils)

    @property
    def reply_rtt(self) -> RttStats | None:
        """The same figures over the first reply to each probe (duplicates left out)."""
        return rtt_stats([s.rtt_ns / 1e6 for s in self.samples if not s.duplicate])

    @property
    def reply_ttls(self) -> tuple[int, ...]:
        return tuple(sorted({s.ttl for s in self.samples if s.ttl is not None}))

    @property
    def success(self) -> bool:
        """iputils' exit status: a reply came, and with -c and -w, all of them did."""
        if not self.received:
            return False
        return not (
            self.deadline is not None and self.count is not None and self.received < self.count
        )

    @property
    def verdict(self) -> str:
        """What the evidence says about reachability.

        "reachable": echo replies came back.  "prohibited": a filter answered for it (ICMP
        administratively prohibited).  "unreachable": a router said there is no way there.
        "ttl-exceeded": the probes died on the way.  "silent": nothing at all came back — the
        host may be down *or* a firewall drops ICMP; echo alone cannot tell these apart.
        """
        if self.received:
            return "reachable"
        kinds = {(e.icmp_type, e.icmp_code) for e in self.error_events}
        version = self.target.version
        prohibited = {(3, 9), (3, 10), (3, 13)} if version == 4 else {(1, 1), (1, 5), (1, 6)}
        if kinds & prohibited:
            return "prohibited"
        if any(t == (11 if version == 4 else 3) for t, _ in kinds):
            return "ttl-exceeded"
        if kinds:
            return "unreachable"
        return "silent"
