"""Text a peer sent, made safe to store and print: pure, so engines may sanitize what they keep
(banners, HTTP reason phrases and headers) without importing the output layer."""

from __future__ import annotations

__all__ = ["escape_controls"]


def escape_controls(text: str, keep: str = "") -> str:
    """Text a peer sent, safe to print on a terminal: each character that is not printable
    (C0 and C1 controls such as ESC and CSI, DEL, line and paragraph separators) becomes its
    Python escape (ESC → \\x1b), as `port --banner` shows a greeting; characters in `keep`
    (e.g. "\\n\\t" for content) stay as they are."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c in keep else repr(c)[1:-1] for c in text)
