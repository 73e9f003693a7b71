"""The shared output layer: human text (colour only on a tty, never with NO_COLOR) and JSON.

Renderers live at the edge: commands build result objects and hand them to a renderer here or
in their own module.  rich is imported only for progress bars and live tables, so that one-shot
commands start fast.
"""

from __future__ import annotations

import contextlib
import enum
import math
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any, Protocol

from netladder.proto.text import escape_controls

__all__ = [
    "Progress",
    "color_enabled",
    "columns",
    "dump_json",
    "emit_json",
    "escape_controls",
    "fmt_ms",
    "ljust",
    "paint",
    "progress",
    "to_jsonable",
]

_STYLES = {
    "bold": "1",
    "dim": "2",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "blue": "34",
    "magenta": "35",
    "cyan": "36",
}


def color_enabled(stream: IO[str] | None = None) -> bool:
    """Colour only on a terminal, never when NO_COLOR is set (https://no-color.org)."""
    stream = stream if stream is not None else sys.stdout
    if os.environ.get("NO_COLOR", "") != "":
        return False
    if os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def paint(text: str, *styles: str, stream: IO[str] | None = None) -> str:
    """Wrap text in ANSI styles when the stream gets colour; plain text otherwise."""
    if not styles or not color_enabled(stream):
        return text
    codes = ";".join(_STYLES[s] for s in styles)
    return f"\x1b[{codes}m{text}\x1b[0m"


def fmt_ms(value: float) -> str:
    """Print a time in ms the way iputils ping does: fewer decimals as the value grows."""
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def columns(text: str) -> int:
    """The columns a terminal gives the text: a Korean syllable takes two (East Asian Wide)."""
    if text.isascii():
        return len(text)
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def ljust(text: str, width: int) -> str:
    """`f"{text:<{width}}"` by terminal columns, so translated labels keep their alignment."""
    return text + " " * max(0, width - columns(text))


def to_jsonable(value: Any, sentence: Callable[[Any], str] | None = None) -> Any:
    """Turn result objects (records, dataclasses, enums, addresses, tuples) into JSON values.

    The one path to JSON: a field may rename itself, convert seconds to ms, stay out, splice
    its value's attributes into the parent or show only some of them; the class may order its
    keys, add properties and ask for a sentence (`netladder.model`).  `sentence(obj)` renders
    that sentence for each record with `__json_text__`, always in English (JSON never changes
    with the language).
    """
    cls = value.__class__
    specs = getattr(cls, "__record_fields__", None)
    if specs is not None and not isinstance(value, type):
        return _object(value, {f.name: f.metadata for f in specs}, sentence)
    # Lab and test objects may still be dataclasses; product code never imports the module.
    dataclasses = sys.modules.get("dataclasses")
    if dataclasses is not None and dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _object(value, {f.name: f.metadata for f in dataclasses.fields(value)}, sentence)
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value, sentence)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v, sentence) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v, sentence) for v in value]
    ipaddress = sys.modules.get("ipaddress")  # no address object exists unless it is loaded
    if ipaddress is not None and isinstance(
        value,
        ipaddress.IPv4Address
        | ipaddress.IPv6Address
        | ipaddress.IPv4Network
        | ipaddress.IPv6Network,
    ):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bytes):
        return value.hex()
    return value


_PLAIN: Any = object()  # a field without JSON metadata: its own name, its own value


def _object(
    value: Any, metadata: Mapping[str, Mapping[str, Any]], sentence: Callable[[Any], str] | None
) -> dict[str, Any]:
    from netladder.model import JSON_KEY, JsonDecoded, JsonFlatten, JsonPick, JsonText

    cls = value.__class__
    text_key: str | None = getattr(cls, "__json_text__", None)
    order: tuple[str, ...] | None = getattr(cls, "__json_order__", None)
    extra: tuple[str, ...] = getattr(cls, "__json_extra__", ())
    if order is None:
        names = [*metadata, *extra]
    else:
        names = [*order, *(n for n in (*metadata, *extra) if n not in order)]
    if text_key is not None and text_key not in names:
        names.append(text_key)
    out: dict[str, Any] = {}
    for name in names:
        if name == text_key:
            out[name] = _sentence(value, sentence)
            continue
        declared = metadata[name].get(JSON_KEY, _PLAIN) if name in metadata else _PLAIN
        if declared is None:
            continue
        item = getattr(value, name)
        if declared is _PLAIN:
            out[name] = to_jsonable(item, sentence)
        elif isinstance(declared, JsonFlatten):
            if item is not None:
                for key, attribute in declared.keys:
                    out[key] = _attribute(item, attribute, sentence)
        elif isinstance(declared, JsonPick):
            out[declared.name or name] = _pick(item, declared.keys, sentence)
        elif isinstance(declared, JsonText):
            if item is None:
                out[declared.name or name] = None
            elif isinstance(item, list | tuple):
                out[declared.name or name] = [_sentence(one, sentence) for one in item]
            else:
                out[declared.name or name] = _sentence(item, sentence)
        elif isinstance(declared, JsonDecoded):
            if item is not None:
                out[declared.name or name] = bytes(item).decode("utf-8", "replace")
        else:
            key, scale, digits = declared
            out[key] = to_jsonable(_scaled(item, scale, digits), sentence)
    return out


def _scaled(item: Any, scale: float, digits: int | None) -> Any:
    if isinstance(item, int | float) and not isinstance(item, bool):
        if scale != 1.0:
            item = item * scale
        if digits is not None:
            item = round(item, digits)
    return item


def _attribute(obj: Any, attribute: str, sentence: Callable[[Any], str] | None) -> Any:
    """One attribute of `obj` as JSON: a field keeps its own json_ms conversion.  A dotted
    path (`spec.port`) reads an attribute of an attribute."""
    from netladder.model import JSON_KEY

    *path, attribute = attribute.split(".")
    for step in path:
        obj = getattr(obj, step)
    if attribute == getattr(obj.__class__, "__json_text__", None):
        return _sentence(obj, sentence)  # the sentence a renderer says, not an attribute
    item = getattr(obj, attribute)
    for spec in getattr(obj.__class__, "__record_fields__", ()):
        if spec.name == attribute:
            declared = spec.metadata.get(JSON_KEY)
            if isinstance(declared, tuple) and len(declared) == 3 and declared[1] != 1.0:
                item = _scaled(item, declared[1], declared[2])
            break
    return to_jsonable(item, sentence)


def _pick(
    item: Any, keys: tuple[tuple[str, str], ...], sentence: Callable[[Any], str] | None
) -> Any:
    if item is None:
        return None
    if isinstance(item, list | tuple):
        return [_pick(one, keys, sentence) for one in item]
    return {key: _attribute(item, attribute, sentence) for key, attribute in keys}


def _sentence(value: Any, sentence: Callable[[Any], str] | None) -> str:
    if sentence is None:
        raise ValueError(f"{type(value).__name__} has a JSON sentence: pass sentence=")
    from netladder.i18n import english

    with english():
        return sentence(value)


def dump_json(document: Any, sentence: Callable[[Any], str] | None = None) -> str:
    import json  # here, not at the top: one-shot human output should not pay for it

    return json.dumps(to_jsonable(document, sentence), indent=2, ensure_ascii=False)


def emit_json(
    document: Any, stream: IO[str] | None = None, *, sentence: Callable[[Any], str] | None = None
) -> None:
    """`--json` prints exactly one JSON document on stdout; `sentence` renders the records'
    JSON sentences (`__json_text__`)."""
    out = stream if stream is not None else sys.stdout
    out.write(dump_json(document, sentence) + "\n")
    out.flush()


class Progress(Protocol):
    def advance(self, n: int = 1) -> None: ...


class _NoProgress:
    def advance(self, n: int = 1) -> None:
        pass


class _RichProgress:
    def __init__(self, bar: Any, task: Any) -> None:
        self._bar = bar
        self._task = task

    def advance(self, n: int = 1) -> None:
        self._bar.advance(self._task, n)


@contextlib.contextmanager
def progress(description: str, total: int | None, enabled: bool = True) -> Iterator[Progress]:
    """A progress bar on stderr when it is a terminal; nothing at all when piped."""
    if not enabled or not _stderr_is_tty():
        yield _NoProgress()
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as RichProgress

    console = Console(stderr=True, no_color="NO_COLOR" in os.environ)
    with RichProgress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield _RichProgress(bar, task)


def _stderr_is_tty() -> bool:
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())
