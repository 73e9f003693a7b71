"""Driving sans-IO sessions in tests: a fake clock and fabricated packets, no socket, no root.

    clock = FakeClock()
    session = make_session(...)
    actions = start(session, clock, opened=[opened_icmp(identifier=7)])
    clock.advance(0.010)
    session.on_packet(0, received(reply_bytes, "198.51.100.10", clock))
    step = session.poll(clock.now)

`sent(step)` collects the datagrams a step asks for and acknowledges them (on_sent) at the
clock's time, the way the driver stamps each send right before its syscall.  The rest of the
contract has one helper each: `ack_burst` (SendBurst), `fast` (a datagram of a fast channel),
`connected` (a Connect's outcome), `stream` + `written` (a kept connection's bytes both ways),
`tls_done` (a StartTls), `looked_up` (a Lookup).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from netladder.net.session import (
    ConnectOutcome,
    Opened,
    Packet,
    Send,
    SendBurst,
    Session,
    Step,
    TlsOutcome,
    Write,
)
from netladder.net.sockets import Received, SockError
from netladder.net.targets import ResolveError, Target, literal
from netladder.net.tls import TlsInfo

NS = 1_000_000_000


class FakeClock:
    def __init__(self, start_ns: int = 1_000 * NS) -> None:
        self.now = start_ns

    def advance(self, seconds: float) -> int:
        self.now += round(seconds * NS)
        return self.now

    def at(self, seconds: float) -> int:
        """A time `seconds` after now, without moving the clock."""
        return self.now + round(seconds * NS)


def opened_icmp(kind: str = "dgram", version: int = 4, identifier: int | None = 0x1234) -> Opened:
    return Opened(
        kind, version, identifier if kind == "dgram" else None, None, kind == "raw" and version == 4
    )


def start(session: Session[Any], clock: FakeClock, opened: list[Opened] | None = None) -> Step:
    """bind + start + the first poll, as the driver does."""
    session.bind(opened if opened is not None else [opened_icmp()])
    session.start(clock.now)
    return session.poll(clock.now)


def sent(
    session: Session[Any], step: Step, clock: FakeClock, error: int | None = None
) -> list[Send]:
    """The datagrams of a step, each acknowledged as sent now (on_sent with its token)."""
    out = [a for a in step.actions if isinstance(a, Send)]
    for action in out:
        if action.token is not None:
            session.on_sent(action.token, clock.now, error)
    return out


def received(
    data: bytes,
    source: str,
    clock: FakeClock,
    *,
    ttl: int | None = 64,
    error: SockError | None = None,
    port: int = 0,
) -> Received:
    """A datagram as net.sockets.receive() would return it, stamped with the clock's time."""
    return Received(data, source, port, clock.now, ttl, error)


# -- helpers for the rest of the contract (issue 14 §1.6) --------------------------------------


def ack_burst(
    step: Step, clock: FakeClock, error: int | None = None, spacing: float = 0.0
) -> list[tuple[int, int, bytes, tuple[Any, ...]]]:
    """Every SendBurst of a step, built and acknowledged as the driver does: the clock read
    right before each datagram (advancing `spacing` seconds between two), `build(k, now,
    False)`, then `sent(k, now, error)`.  Returns (channel, k, data, address) per datagram."""
    out: list[tuple[int, int, bytes, tuple[Any, ...]]] = []
    for action in step.actions:
        if not isinstance(action, SendBurst):
            continue
        for k in range(action.start, action.stop):
            if spacing and out:
                clock.advance(spacing)
            data, address = action.burst.build(k, clock.now, False)
            action.burst.sent(k, clock.now, error)
            # A copy: a burst may rebuild one buffer in place for every datagram.
            out.append((action.channel, k, bytes(data), address))
    return out


def fast(data: bytes, source: str, clock: FakeClock) -> Packet:
    """A datagram of a `fast` channel as `on_packets` gets it, stamped with the clock's time."""
    return (data, clock.now, source)


def connected(
    session: Session[Any],
    token: int,
    clock: FakeClock,
    *,
    error: int = 0,
    rtt: float | None = None,
    icmp: SockError | None = None,
    local: tuple[Any, ...] | None = ("198.51.100.2", 40000),
) -> ConnectOutcome:
    """Tell the session its Connect `token` ended now: connected (error 0, the kernel's
    handshake RTT `rtt` seconds) or failed with `error` and the ICMP error behind it."""
    outcome = ConnectOutcome(
        error,
        clock.now,
        None if rtt is None or error else round(rtt * NS),
        icmp,
        local if not error else None,
    )
    session.on_connect(token, outcome)
    return outcome


def stream(
    session: Session[Any],
    token: int,
    chunks: Iterable[bytes],
    clock: FakeClock,
    *,
    spacing: float = 0.0,
    eof: bool = True,
) -> list[Step]:
    """Bytes from a kept connection, chunk by chunk as the peer sent them (httpcore's
    MockStream as a function): each delivered with `on_data` at the clock's time, the clock
    advancing `spacing` seconds between two, and the session polled after each — then the end
    of the stream (b"") when `eof`.  Returns every step, so a test sees what the session
    wrote back and when it said it was done."""
    steps: list[Step] = []
    for chunk in chunks:
        if spacing and steps:
            clock.advance(spacing)
        session.on_data(token, chunk, clock.now)
        steps.append(session.poll(clock.now))
    if eof:
        session.on_data(token, b"", clock.now)
        steps.append(session.poll(clock.now))
    return steps


def written(steps: Iterable[Step], token: int | None = None) -> bytes:
    """Everything the steps asked to Write (on connection `token`, or any)."""
    return b"".join(
        a.data
        for step in steps
        for a in step.actions
        if isinstance(a, Write) and (token is None or a.token == token)
    )


def tls_done(
    session: Session[Any],
    token: int,
    clock: FakeClock,
    *,
    error: str | None = None,
    info: TlsInfo | None = None,
    alpn: str | None = None,
    verified: bool = True,
    cause: str | None = None,
) -> TlsOutcome:
    """Tell the session its StartTls `token` ended now: completed (with `info`, or a plain
    TLSv1.3 one naming `alpn`) or failed with `error` (and its `cause`: "certificate",
    "handshake", "closed", "setup")."""
    if info is None and error is None:
        info = TlsInfo(
            "TLSv1.3",
            "TLS_AES_256_GCM_SHA384",
            alpn,
            "CN=www.lab",
            "CN=lab CA",
            ("DNS:www.lab",),
            "2026-01-01T00:00:00Z",
            "2027-01-01T00:00:00Z",
            True,
            verified,
            1_780_000_000.0,
        )
    if error is not None and cause is None:
        cause = "handshake"
    outcome = TlsOutcome(clock.now, error, info, verified and error is None, cause)
    session.on_tls(token, outcome)
    return outcome


def looked_up(
    session: Session[Any], token: int, host: str, answer: str, clock: FakeClock
) -> Target | ResolveError:
    """Tell the session its Lookup `token` of `host` ended now: `answer` is the address it
    resolved to, or — when it is not an address — why it did not resolve."""
    outcome: Target | ResolveError
    if literal(answer) is not None:
        version = 6 if ":" in answer else 4
        outcome = Target(host, answer, version, None, 0.004)
    else:
        outcome = ResolveError(host, answer)
    session.on_lookup(token, outcome, clock.now)
    return outcome
