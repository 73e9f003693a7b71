"""Follow neighbour changes live (rtnetlink RTMGRP_NEIGH) and name them as arpwatch does."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from netladder.l2.netlink import RTMGRP_NEIGH, Msg, Neigh, Netlink, parse_neigh
from netladder.l2.route import ifindex, ifname

__all__ = ["Event", "EventKind", "Tracker", "watch"]


class EventKind(StrEnum):
    """arpwatch's report names (arpwatch(8), "REPORT MESSAGES")."""

    NEW_STATION = "new station"  # an address never seen before
    CHANGED = "changed ethernet address"  # a known address now has a new MAC
    FLIP_FLOP = "flip flop"  # back to the MAC it had just before
    REUSED = "reused old ethernet address"  # back to a MAC it had before the previous one


@dataclass(frozen=True, slots=True)
class Event:
    kind: EventKind
    address: str
    mac: str
    old_mac: str | None
    iface: str
    state: str
    time: float  # wall clock (seconds since the epoch), for printing when


@dataclass
class Tracker:
    """arpwatch's memory: for each (address, interface), the MACs it has had, newest last."""

    history: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    def seed(self, address: str, iface: str, mac: str) -> None:
        self.history.setdefault((address, iface), []).append(mac)

    def update(
        self, address: str, iface: str, mac: str, state: str, now: float | None = None
    ) -> Event | None:
        when = time.time() if now is None else now
        seen = self.history.get((address, iface))
        if seen is None:
            self.history[(address, iface)] = [mac]
            return Event(EventKind.NEW_STATION, address, mac, None, iface, state, when)
        current = seen[-1]
        if mac == current:
            return None
        if len(seen) >= 2 and mac == seen[-2]:
            kind = EventKind.FLIP_FLOP
        elif mac in seen:
            kind = EventKind.REUSED
        else:
            kind = EventKind.CHANGED
        if mac in seen:
            seen.remove(mac)
        seen.append(mac)
        return Event(kind, address, mac, current, iface, state, when)


def _usable(n: Neigh, index: int | None) -> bool:
    return (
        n.family in (socket.AF_INET, socket.AF_INET6)
        and n.mac is not None
        and (index is None or n.ifindex == index)
        and not n.address.startswith(("ff", "224.", "239."))
    )


async def watch(
    on_event: Callable[[Event], None],
    iface: str | None = None,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Report every neighbour MAC change until cancelled.  Entries already in the table are
    known stations, not new ones (arpwatch starts from its database the same way)."""
    index = ifindex(iface) if iface else None
    tracker = Tracker()
    with Netlink(groups=RTMGRP_NEIGH) as events:
        # Join the group before the dump, so no change falls between the two.
        with Netlink() as nl:
            for n in nl.neighbours():
                if _usable(n, index) and n.mac is not None:
                    tracker.seed(n.address, ifname(n.ifindex) or str(n.ifindex), n.mac)
        if on_ready is not None:
            on_ready()
        async for message in events.events():
            if message.type != Msg.NEWNEIGH:
                continue
            got = parse_neigh(message.body)
            if got is None or got.mac is None or not _usable(got, index):
                continue
            event = tracker.update(
                got.address, ifname(got.ifindex) or str(got.ifindex), got.mac, "|".join(got.states)
            )
            if event is not None:
                on_event(event)
