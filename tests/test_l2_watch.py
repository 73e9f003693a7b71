"""arpwatch's event names from a sequence of neighbour updates (no kernel needed)."""

from __future__ import annotations

from netladder.l2.watch import EventKind, Tracker

A, B, C = "02:00:00:00:00:0a", "02:00:00:00:00:0b", "02:00:00:00:00:0c"


def kinds(tracker: Tracker, macs: list[str]) -> list[str | None]:
    out: list[str | None] = []
    for mac in macs:
        event = tracker.update("198.51.100.67", "lan", mac, "STALE", now=0.0)
        out.append(None if event is None else str(event.kind))
    return out


def test_new_station_then_change_then_flip_flop_then_reuse() -> None:
    assert kinds(Tracker(), [A, A, B, A, B, C, A]) == [
        EventKind.NEW_STATION,
        None,
        EventKind.CHANGED,
        EventKind.FLIP_FLOP,
        EventKind.FLIP_FLOP,
        EventKind.CHANGED,
        EventKind.REUSED,
    ]


def test_a_seeded_station_is_known_and_its_change_names_the_old_mac() -> None:
    tracker = Tracker()
    tracker.seed("198.51.100.67", "lan", A)
    event = tracker.update("198.51.100.67", "lan", B, "REACHABLE", now=0.0)
    assert event is not None and event.kind == EventKind.CHANGED
    assert (event.mac, event.old_mac) == (B, A)
    # The same address on another interface is another station.
    other = tracker.update("198.51.100.67", "other", B, "REACHABLE", now=0.0)
    assert other is not None and other.kind == EventKind.NEW_STATION
