"""How results declare their JSON form: one path to JSON for every result type.

Results are records (`@record`, re-exported here from `netladder.proto.record`) that carry
seconds (the API's unit for every duration) and their evidence.  `netladder.output.to_jsonable`
turns any of them into the documented JSON, reading what a field declares here:

    rtt: float = field(metadata=json_ms("rtt_ms"))   # seconds in the API, ms in JSON
    rtt_ns: int = field(metadata=json_skip())         # not part of the JSON document
    target: Target = field(metadata=json_flatten(target="name", address="address"))
    tls: TlsInfo | None = field(default=None, metadata=json_pick(subject="subject",
                                                                 days_left="days_left"))

and what the class declares:

    __json_order__ = ("count", "errors", "loss_percent", "time")  # fields and properties
    __json_extra__ = ("loss_percent",)   # properties after the fields (without an order)
    __json_text__ = "text"               # a key the renderer's sentence(obj) fills, in English

A field without metadata appears under its own name.  Without `__json_order__` the keys come in
field order, then `__json_extra__`, then the `__json_text__` key; with it, the attributes it
names (fields, properties, the text key) come first in its order and any field it does not name
follows in field order — which is how pinned schemas stay byte-for-byte stable.

- `json_flatten(**keys)`: the field's value is not a nested object; its attributes are spliced
  into the parent, `json key=attribute` (None splices nothing).
- `json_pick(name=None, /, **keys)`: the field stays one key (renamed when `name` is given) whose
  value shows only these attributes of the value, `json key=attribute` — fields or properties;
  a picked field keeps its own json_ms conversion.  On a tuple, each item is picked.  An
  attribute may be a dotted path (`port="spec.port"`), in json_flatten too.
- `json_text(name=None)`: the value is a typed finding (or a tuple of them, or None) and JSON
  shows the renderer's sentence for it, `sentence(value)` in English: a string, a list of
  strings, or null — for keys that were sentences before their records were typed.
- `json_decoded(name=None)`: bytes shown as text (UTF-8, undecodable bytes replaced); the key
  is left out when the value is None (content a caller did not ask to keep).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from netladder.proto.record import (
    Field,
    FrozenInstanceError,
    field,
    fields,
    is_record,
    record,
    replace,
)

__all__ = [
    "JSON_KEY",
    "Field",
    "FrozenInstanceError",
    "JsonFlatten",
    "JsonDecoded",
    "JsonPick",
    "JsonText",
    "field",
    "fields",
    "is_record",
    "json_decoded",
    "json_flatten",
    "json_ms",
    "json_name",
    "json_pick",
    "json_skip",
    "json_text",
    "ms",
    "record",
    "replace",
    "seconds",
]

JSON_KEY = "netladder.json"


class JsonFlatten(NamedTuple):
    """Field metadata value: splice these attributes of the value into the parent."""

    keys: tuple[tuple[str, str], ...]  # (json key, attribute)


class JsonPick(NamedTuple):
    """Field metadata value: one key, showing only these attributes of the value."""

    name: str | None
    keys: tuple[tuple[str, str], ...]  # (json key, attribute)


class JsonText(NamedTuple):
    """Field metadata value: the value's sentence (the renderer's), under `name` or the field's."""

    name: str | None


class JsonDecoded(NamedTuple):
    """Field metadata value: bytes as UTF-8 text, the key left out when the value is None."""

    name: str | None


def json_name(name: str) -> Mapping[str, Any]:
    """Field metadata: appear in JSON under `name`."""
    return {JSON_KEY: (name, 1.0, None)}


def json_ms(name: str, digits: int | None = None) -> Mapping[str, Any]:
    """Field metadata: a duration in seconds, shown in JSON as milliseconds under `name`
    (rounded to `digits` decimals when given: 3 is the microsecond; 6 reproduces `ns / 1e6`
    exactly for a duration that was a whole number of nanoseconds)."""
    return {JSON_KEY: (name, 1000.0, digits)}


def json_skip() -> Mapping[str, Any]:
    """Field metadata: not part of the JSON document (e.g. an object the JSON names elsewhere)."""
    return {JSON_KEY: None}


def json_flatten(**keys: str) -> Mapping[str, Any]:
    """Field metadata: splice the value's attributes into the parent object, `key=attribute`."""
    return {JSON_KEY: JsonFlatten(tuple(keys.items()))}


def json_pick(name: str | None = None, /, **keys: str) -> Mapping[str, Any]:
    """Field metadata: one key (`name`, else the field's) showing only these attributes of the
    value — fields or properties — renamed `key=attribute`: the JSON view a command pinned."""
    return {JSON_KEY: JsonPick(name, tuple(keys.items()))}


def json_text(name: str | None = None) -> Mapping[str, Any]:
    """Field metadata: the value is a typed finding (a tuple of them, or None); JSON shows
    `sentence(value)` in English — a string, a list of strings, or null."""
    return {JSON_KEY: JsonText(name)}


def json_decoded(name: str | None = None) -> Mapping[str, Any]:
    """Field metadata: bytes shown as text (UTF-8, undecodable bytes replaced); no key at all
    when the value is None."""
    return {JSON_KEY: JsonDecoded(name)}


def ms(seconds_value: float | None) -> float | None:
    """Seconds to milliseconds, keeping None (for renderers and JSON of derived values)."""
    return None if seconds_value is None else seconds_value * 1000.0


def seconds(ms_value: float | None) -> float | None:
    """Milliseconds (a command-line unit: --timeout MS) to the API's seconds."""
    return None if ms_value is None else ms_value / 1000.0
