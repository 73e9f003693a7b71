"""The shared output layer: human text (colour only on a tty, never with NO_COLOR) and JSON.

Renderers live at the edge: commands build result objects and hand them to a renderer here or
in their own module.  rich is imported only for progress bars and live tables, so that one-shot
commands start fast.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Iterator, Mapping
from typing import IO, Any, Protocol

__all__ = [
    "Progress",
    "color_enabled",
    "dump_json",
    "emit_json",
    "escape_controls",
    "fmt_ms",
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


def to_jsonable(value: Any) -> Any:
    """Turn result objects (dataclasses, enums, addresses, tuples) into JSON values.

    The one path to JSON: a dataclass field may rename itself, convert seconds to ms or stay
    out (`netladder.model`), and `__json_extra__` adds properties after the fields.
    """
    import dataclasses
    import enum
    import ipaddress

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        from netladder.model import JSON_KEY

        out: dict[str, Any] = {}
        for f in dataclasses.fields(value):
            declared = f.metadata.get(JSON_KEY, (f.name, 1.0, None))
            if declared is None:
                continue
            key, scale, digits = declared
            item = getattr(value, f.name)
            if isinstance(item, int | float) and not isinstance(item, bool):
                if scale != 1.0:
                    item = item * scale
                if digits is not None:
                    item = round(item, digits)
            out[key] = to_jsonable(item)
        for name in getattr(value, "__json_extra__", ()):
            out[name] = to_jsonable(getattr(value, name))
        return out
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return str(value)
    if isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bytes):
        return value.hex()
    return value


def dump_json(document: Any) -> str:
    import json  # here, not at the top: one-shot human output should not pay for it

    return json.dumps(to_jsonable(document), indent=2, ensure_ascii=False)


def emit_json(document: Any, stream: IO[str] | None = None) -> None:
    """`--json` prints exactly one JSON document on stdout."""
    out = stream if stream is not None else sys.stdout
    out.write(dump_json(document) + "\n")
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


def escape_controls(text: str, keep: str = "") -> str:
    """Text a peer sent, safe to print on a terminal: each character that is not printable
    (C0 and C1 controls such as ESC and CSI, DEL, line and paragraph separators) becomes its
    Python escape (ESC → \\x1b), as `port --banner` shows a greeting; characters in `keep`
    (e.g. "\\n\\t" for content) stay as they are."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c in keep else repr(c)[1:-1] for c in text)
