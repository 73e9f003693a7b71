"""The rest of the session contract (net/session.py): channels closed while a session runs,
TCP connects and kept streams, TLS, whole connect scans and name lookups — with what comes
back.  Loaded on first use: a one-shot ping or sweep needs none of it, and each
NamedTuple costs start-up time.  Import these names from `netladder.net.session`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from netladder.net.sockets import SockError

if TYPE_CHECKING:
    from netladder.net.tls import TlsInfo

__all__ = [
    "Close",
    "CloseChannel",
    "Connect",
    "ConnectOutcome",
    "ConnectPlan",
    "Lookup",
    "ScanConnects",
    "StartTls",
    "TlsOutcome",
    "Write",
]


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


class ConnectOutcome(NamedTuple):
    """How a connect ended: `error` 0 when connected, else the errno (ECONNREFUSED, …)."""

    error: int
    at: int  # monotonic ns when the driver saw the outcome
    rtt_ns: int | None = None  # the kernel's handshake RTT (tcpi_rtt), when connected
    icmp: SockError | None = None  # the ICMP error behind `error`, from the error queue
    local: tuple[Any, ...] | None = None
    sent: int | None = None  # monotonic ns right before connect() (the probe's send time)
    # connect() itself failed (no route, a prohibit route, no such source): nothing was sent,
    # where other errors come back later from the handshake (a RST, an ICMP error, silence).
    immediate: bool = False


class TlsOutcome(NamedTuple):
    at: int
    error: str | None  # None: the handshake completed
    info: TlsInfo | None = None  # what the handshake showed (net/tls.py); None when it failed
    verified: bool = False
    # Why it failed, beside `error` (OpenSSL's words): "certificate" (the chain or the name
    # did not verify), "handshake" (the peer broke the protocol or sent an alert), "closed"
    # (the peer ended the connection first), "setup" (no context: an unreadable cafile).
    cause: str | None = None
    # OpenSSL's short reason code ("CERTIFICATE_VERIFY_FAILED"), when it gave one: what
    # blackbox-compatible logs (serve's tcp prober) have always shown.
    reason: str | None = None
