"""The records of the sweep: its options, events and results.

Durations are seconds (float) in options and properties; the kernel's stamps stay integers in
nanoseconds where fping's arithmetic needs them exact (`SweepTarget.rtt_min_ns`), and the JSON
keeps its `_ms` keys with the values the command always printed.  Sentences are not here:
`render/sweep.py` says what a result means.
"""

from __future__ import annotations

import os
import socket
from array import array
from collections.abc import Iterable, Iterator

from netladder.l3.model import NS, SocketKind
from netladder.l3.stats import loss_percent
from netladder.model import field, json_skip, record
from netladder.proto.icmp import error_text

__all__ = [
    "Sweep",
    "SweepOptions",
    "SweepProgress",
    "SweepResult",
    "SweepStarted",
    "SweepTarget",
    "SweepTotals",
    "TargetList",
    "Unresolved",
]

NS_PER_MS = 1_000_000


@record
class SweepOptions:
    """fping's options that netladder keeps, with their meaning there; seconds everywhere.

    `count` (-c): probes per target, `period` (-p) seconds apart; None: stop at each target's
    first reply, retrying a silent one `retries` (-r) times, each `timeout` (-t) `backoff`
    (-B) times longer than the one before.  `rate`: probes per second over all targets, never
    in bursts (fping -i as a rate; 0: no limit; None: 1000/s, or fping's 10 ms spacing with
    `count`).  `size`: echo data bytes (at least 22 are sent: the matching fields)."""

    targets: tuple[str, ...]
    count: int | None = None
    timeout: float = 0.5
    retries: int = 3
    backoff: float = 1.5
    rate: float | None = None
    period: float = 1.0
    size: int = 56
    version: int | None = None
    socket: SocketKind | None = None


class TargetList:
    """Targets of one IP version, compactly: IPv4 as 32-bit integers, IPv6 as 16-byte strings;
    names only for the targets the user typed as names (or with a scope), and the interface
    index of a link-local target typed with one (`fe80::1%eth0`).  (Mutable while it is built;
    a plain class: a /16 must not cost an object per address.)"""

    __slots__ = ("names", "scopes", "v4", "v6", "version")

    def __init__(self, version: int) -> None:
        self.version = version
        self.v4: array[int] = array("I")
        self.v6: list[bytes] = []
        self.names: dict[int, str] = {}
        self.scopes: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.v4) if self.version == 4 else len(self.v6)

    def add(self, address: int | bytes, name: str | None = None, scope: int = 0) -> None:
        if name is not None:
            self.names[len(self)] = name
        if scope:
            self.scopes[len(self)] = scope
        if self.version == 4:
            assert isinstance(address, int)
            self.v4.append(address)
        else:
            assert isinstance(address, bytes)
            self.v6.append(address)

    def extend(self, addresses: Iterable[int]) -> None:
        """Addresses as integers (a CIDR block, a range)."""
        if self.version == 4:
            self.v4.extend(addresses)
        else:
            self.v6.extend(a.to_bytes(16, "big") for a in addresses)

    def address(self, i: int) -> str:
        if self.version == 4:
            return socket.inet_ntoa(self.v4[i].to_bytes(4, "big"))
        return socket.inet_ntop(socket.AF_INET6, self.v6[i])

    def label(self, i: int) -> str:
        return self.names.get(i) or self.address(i)


@record
class SweepStarted:
    """An event: the targets are read (names that did not resolve were told as Unresolved
    before it); probing begins."""

    targets: int  # how many, over every IP version


@record
class SweepProgress:
    """An event: this many more targets have their verdict."""

    targets: int


@record
class SweepTarget:
    """One target's line of a sweep, as the JSON shows it."""

    target: str
    address: str
    sent: int
    received: int
    rtt_min_ns: int = field(metadata=json_skip())
    rtt_max_ns: int = field(metadata=json_skip())
    rtt_sum_ns: int = field(metadata=json_skip())
    errors: int  # ICMP errors about its probes
    version: int = field(metadata=json_skip())
    last_error_code: int | None = field(metadata=json_skip())  # type << 8 | code
    last_error_from: str | None
    send_errors: int  # sends the kernel refused (EACCES: a broadcast address)
    last_send_errno: int | None = field(metadata=json_skip())

    __json_order__ = (
        "target",
        "address",
        "alive",
        "sent",
        "received",
        "loss_percent",
        "min_ms",
        "avg_ms",
        "max_ms",
        "errors",
        "last_error",
        "last_error_from",
        "send_errors",
        "last_send_error",
    )

    @property
    def alive(self) -> bool:
        return self.received > 0

    @property
    def loss_percent(self) -> float:
        return loss_percent(self.sent, self.received)

    @property
    def rtt(self) -> tuple[float, float, float] | None:
        """min, avg, max in seconds over its replies."""
        n = self.received
        if not n:
            return None
        return (self.rtt_min_ns / NS, self.rtt_sum_ns / n / NS, self.rtt_max_ns / NS)

    @property
    def min_ms(self) -> float | None:
        return self.rtt_min_ns / NS_PER_MS if self.received else None

    @property
    def avg_ms(self) -> float | None:
        return self.rtt_sum_ns / self.received / NS_PER_MS if self.received else None

    @property
    def max_ms(self) -> float | None:
        return self.rtt_max_ns / NS_PER_MS if self.received else None

    @property
    def last_error(self) -> str | None:
        """The last ICMP error's name (proto/icmp.py's table)."""
        code = self.last_error_code
        return None if code is None else error_text(self.version, code >> 8, code & 0xFF)

    @property
    def last_send_error(self) -> str | None:
        """Why the kernel refused the last send (strerror)."""
        return None if self.last_send_errno is None else os.strerror(self.last_send_errno)


@record
class SweepResult:
    """One IP version's sweep: per-target counters in arrays (index = position in the target
    list) and run totals.  A /16 costs arrays, not an object per host; `target(i)` is one
    target's record."""

    targets: TargetList
    count: int | None
    sent: array[int]
    received: array[int]
    errors: array[int]  # ICMP errors about the target's probes
    last_error: array[int]  # ICMP type << 8 | code of the last error, 0xFFFF: none
    # Every ICMP error about a probe, in arrival order: the target, type << 8 | code, and the
    # sender's packed address (4 or 16 bytes each).
    error_index: array[int]
    error_code: array[int]
    error_from: bytes
    # Probes the kernel refused to send (a broadcast address, no route), in order: the target
    # and the errno.
    send_error_index: array[int]
    send_error_errno: array[int]
    rtt_min_ns: array[int]
    rtt_max_ns: array[int]
    rtt_sum_ns: array[int]
    packets_sent: int
    packets_received: int
    duplicates: int
    corrupted: int
    other_icmp: int
    elapsed_ns: int
    socket_kind: str
    interrupted: bool = False

    @property
    def elapsed(self) -> float:
        return self.elapsed_ns / NS

    def alive(self, i: int) -> bool:
        return self.received[i] > 0

    def alive_indices(self) -> list[int]:
        return [i for i, r in enumerate(self.received) if r]

    def unreachable_indices(self) -> list[int]:
        return [i for i, r in enumerate(self.received) if not r]

    def rtt(self, i: int) -> tuple[float, float, float] | None:
        """min, avg, max in seconds over target i's replies."""
        return self._rtt(i, NS)

    def rtt_ms(self, i: int) -> tuple[float, float, float] | None:
        """min, avg, max in ms over target i's replies, as fping prints them (divided from the
        integer ns, not from the seconds: the printed digits stay fping's)."""
        return self._rtt(i, NS_PER_MS)

    def _rtt(self, i: int, unit: int) -> tuple[float, float, float] | None:
        n = self.received[i]
        if not n:
            return None
        return (
            self.rtt_min_ns[i] / unit,
            self.rtt_sum_ns[i] / n / unit,
            self.rtt_max_ns[i] / unit,
        )

    @property
    def alive_count(self) -> int:
        return sum(1 for r in self.received if r)

    @property
    def with_errors(self) -> int:
        """Targets an ICMP error came back about."""
        return sum(1 for e in self.errors if e)

    def _sender(self, k: int) -> str:
        if self.targets.version == 4:
            return socket.inet_ntop(socket.AF_INET, self.error_from[4 * k : 4 * k + 4])
        return socket.inet_ntop(socket.AF_INET6, self.error_from[16 * k : 16 * k + 16])

    def error_events(self) -> Iterator[tuple[int, int, int, str]]:
        """(target index, ICMP type, code, sender) for every error, in arrival order."""
        for k, i in enumerate(self.error_index):
            code = self.error_code[k]
            yield i, code >> 8, code & 0xFF, self._sender(k)

    def send_errors(self) -> dict[int, tuple[int, int]]:
        """Target index -> (sends refused, the errno of the last one)."""
        found: dict[int, tuple[int, int]] = {}
        for i, err in zip(self.send_error_index, self.send_error_errno, strict=True):
            found[i] = (found.get(i, (0, 0))[0] + 1, err)
        return found

    def last_error_senders(self) -> dict[int, str]:
        """Target index -> who sent its last ICMP error."""
        last = {i: k for k, i in enumerate(self.error_index)}
        return {i: self._sender(k) for i, k in last.items()}

    def target(
        self,
        i: int,
        senders: dict[int, str] | None = None,
        refused: dict[int, tuple[int, int]] | None = None,
    ) -> SweepTarget:
        """Target i's record (`senders` and `refused`: `last_error_senders()` and
        `send_errors()`, computed once when many targets are asked for)."""
        senders = self.last_error_senders() if senders is None else senders
        refused = self.send_errors() if refused is None else refused
        code = self.last_error[i]
        t = self.targets
        return SweepTarget(
            target=t.label(i),
            address=t.address(i),
            sent=self.sent[i],
            received=self.received[i],
            rtt_min_ns=self.rtt_min_ns[i],
            rtt_max_ns=self.rtt_max_ns[i],
            rtt_sum_ns=self.rtt_sum_ns[i],
            errors=self.errors[i],
            version=t.version,
            last_error_code=None if code == 0xFFFF else code,
            last_error_from=senders.get(i),
            send_errors=refused[i][0] if i in refused else 0,
            last_send_errno=refused[i][1] if i in refused else None,
        )

    def every_target(self) -> Iterator[SweepTarget]:
        senders = self.last_error_senders()
        refused = self.send_errors()
        for i in range(len(self.targets)):
            yield self.target(i, senders, refused)


@record
class Unresolved:
    """A name that did not resolve: not probed (fping: exit 2 at the end)."""

    target: str
    reason: str


@record
class SweepTotals:
    """fping -s's totals over every IP version."""

    targets: int
    alive: int
    sent: int
    received: int
    duplicates: int
    corrupted: int
    with_errors: int = field(metadata=json_skip())
    elapsed_ms: float  # the sum of each version's run, as fping -s's "elapsed real time"
    interrupted: bool

    __json_order__ = (
        "targets",
        "alive",
        "unreachable",
        "sent",
        "received",
        "duplicates",
        "corrupted",
        "elapsed_ms",
        "interrupted",
    )

    @property
    def unreachable(self) -> int:
        return self.targets - self.alive

    @property
    def elapsed(self) -> float:
        return self.elapsed_ms / 1000


@record
class Sweep:
    """A sweep over every target given: one result per IP version, in order, and the names
    that did not resolve (fping probes the others and exits 2)."""

    results: tuple[SweepResult, ...] = field(metadata=json_skip())
    unresolved: tuple[Unresolved, ...] = ()

    __json_order__ = ("command", "targets", "unresolved", "totals")

    @property
    def command(self) -> str:
        return "sweep"

    @property
    def targets(self) -> tuple[SweepTarget, ...]:
        return tuple(t for r in self.results for t in r.every_target())

    @property
    def interrupted(self) -> bool:
        return any(r.interrupted for r in self.results)

    @property
    def all_alive(self) -> bool:
        return all(r.alive_count == len(r.targets) for r in self.results)

    @property
    def totals(self) -> SweepTotals:
        results = self.results
        return SweepTotals(
            targets=sum(len(r.targets) for r in results),
            alive=sum(r.alive_count for r in results),
            sent=sum(r.packets_sent for r in results),
            received=sum(r.packets_received for r in results),
            duplicates=sum(r.duplicates for r in results),
            corrupted=sum(r.corrupted for r in results),
            with_errors=sum(r.with_errors for r in results),
            elapsed_ms=sum(r.elapsed_ns / NS_PER_MS for r in results),
            interrupted=self.interrupted,
        )
