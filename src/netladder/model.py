"""How results declare their JSON form: one path to JSON for every result type.

Results are frozen dataclasses that carry seconds (the API's unit for every duration) and their
evidence.  `netladder.output.to_jsonable` turns any of them into the documented JSON, reading
what a field declares here:

    rtt: float = field(metadata=json_ms("rtt_ms"))   # seconds in the API, ms in JSON
    target: Target = field(metadata=json_skip())      # not part of the JSON document
    __json_extra__ = ("loss_percent",)                # properties that are part of it

A field without metadata appears under its own name.  The order of keys is the order of the
fields, then the extras — which is how pinned schemas stay byte-for-byte stable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["JSON_KEY", "json_ms", "json_name", "json_skip", "ms", "seconds"]

JSON_KEY = "netladder.json"


def json_name(name: str) -> Mapping[str, Any]:
    """Field metadata: appear in JSON under `name`."""
    return {JSON_KEY: (name, 1.0, None)}


def json_ms(name: str, digits: int | None = None) -> Mapping[str, Any]:
    """Field metadata: a duration in seconds, shown in JSON as milliseconds under `name`
    (rounded to `digits` decimals when given: 3 is the microsecond)."""
    return {JSON_KEY: (name, 1000.0, digits)}


def json_skip() -> Mapping[str, Any]:
    """Field metadata: not part of the JSON document (e.g. an object the JSON names elsewhere)."""
    return {JSON_KEY: None}


def ms(seconds_value: float | None) -> float | None:
    """Seconds to milliseconds, keeping None (for renderers and JSON of derived values)."""
    return None if seconds_value is None else seconds_value * 1000.0


def seconds(ms_value: float | None) -> float | None:
    """Milliseconds (a command-line unit: --timeout MS) to the API's seconds."""
    return None if ms_value is None else ms_value / 1000.0
