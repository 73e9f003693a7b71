"""Driving sans-IO sessions in tests: a fake clock and fabricated packets, no socket, no root.

    clock = FakeClock()
    session = make_session(...)
    actions = start(session, clock, opened=[opened_icmp(identifier=7)])
    clock.advance(0.010)
    session.on_packet(0, received(reply_bytes, "198.51.100.10", clock))
    step = session.poll(clock.now)

`sent(step)` collects the datagrams a step asks for and acknowledges them (on_sent) at the
clock's time, the way the driver stamps each send right before its syscall.
"""

from __future__ import annotations

from typing import Any

from netladder.net.session import Opened, Send, Session, Step
from netladder.net.sockets import Received, SockError

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
