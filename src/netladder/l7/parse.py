"""The HTTP check's input, pure: URLs (as curl reads them, and as a server's Location may
write them), -H fields, --resolve, --expect and --slo.  Each raises ValueError saying what is
wrong; `api.http` and the command turn that into a UsageError."""

from __future__ import annotations

import functools
import ipaddress
from urllib.parse import urljoin, urlsplit

from netladder.l7.model import SLO_KEYS, Url
from netladder.model import replace
from netladder.proto import http1

__all__ = [
    "join_location",
    "parse_expect",
    "parse_header",
    "parse_resolve",
    "parse_slo",
    "parse_url",
    "wire_text",
]


@functools.lru_cache(maxsize=1024)  # serve parses the same few URLs probe after probe
def parse_url(text: str) -> Url:
    """An http(s) URL; no scheme means http:// as in curl.  ValueError says what is wrong.

    A URL a server sent (Location) goes through here too, so nothing in it may raise anything
    but ValueError: a non-ASCII host becomes its IDNA form, and non-ASCII or control characters
    in the path and query are percent-encoded as their UTF-8 bytes (RFC 3987 §3.1)."""
    raw = text.strip()
    if not raw or any(c.isspace() for c in raw):
        raise ValueError(f"malformed URL {text!r}")
    if "://" not in raw:
        raw = "http://" + raw
    try:
        parts = urlsplit(raw)
        scheme = parts.scheme.lower()
        host = parts.hostname
        port_text = _port_text(parts.netloc)
    except ValueError as exc:  # "Invalid IPv6 URL" from urlsplit itself
        raise ValueError(f"malformed URL {text!r}: {_url_problem(exc)}") from None
    if scheme not in ("http", "https"):
        raise ValueError(f"unsupported scheme {parts.scheme!r} in {text!r} (http or https)")
    if not host:
        raise ValueError(f"malformed URL {text!r}: no host")
    if "[" in parts.netloc:
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            raise ValueError(f"malformed URL {text!r}: bad IPv6 address") from None
    else:
        if not host.isascii():
            try:
                host = host.encode("idna").decode("ascii")
            except UnicodeError:
                raise ValueError(f"malformed URL {text!r}: bad host {host!r}") from None
        if not all(c.isascii() and (c.isalnum() or c in "-._~") for c in host):
            raise ValueError(f"malformed URL {text!r}: bad host {host!r}")
        labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
        if len(host) > 253 or not all(0 < len(label) <= 63 for label in labels):
            # RFC 1035 §2.3.4 (getaddrinfo would raise UnicodeError from its IDNA step)
            raise ValueError(
                f"malformed URL {text!r}: bad host name {host[:80]!r} (empty or too long label)"
            )
    if not port_text:  # RFC 3986 §3.2.3: an empty port is the scheme's default
        port = 443 if scheme == "https" else 80
    elif port_text.isascii() and port_text.isdigit() and len(port_text) <= 5:
        port = int(port_text)
    else:
        raise ValueError(f"malformed URL {text!r}: bad port {port_text!r}")
    if not 0 < port < 65536:
        raise ValueError(f"malformed URL {text!r}: port out of range")
    target = _quote_unsafe(parts.path or "/")
    if parts.query:
        target += "?" + _quote_unsafe(parts.query)
    url = Url(scheme, host.lower(), port, target, "")
    return replace(url, text=f"{scheme}://{url.authority}{target}")


def _port_text(netloc: str) -> str | None:
    """The port as written after the host (urlsplit's .port would take '٢٢' or '+80')."""
    hostport = netloc.rpartition("@")[2]
    if hostport.startswith("["):
        rest = hostport.partition("]")[2]
        return rest[1:] if rest.startswith(":") else None
    host, sep, port = hostport.rpartition(":")
    return port if sep else None


def _url_problem(exc: ValueError) -> str:
    text = str(exc)
    return "bad IPv6 address" if "IPv6" in text else text


def _quote_unsafe(part: str) -> str:
    """Percent-encode what may not appear in a request target as it is: non-ASCII characters
    (as UTF-8; a lone surrogate from undecodable input as its original byte) and controls."""
    if part.isascii() and part.isprintable():
        return part
    out = []
    for c in part:
        if c.isascii() and c.isprintable():
            out.append(c)
        else:
            out.extend(f"%{b:02X}" for b in c.encode("utf-8", "surrogateescape"))
    return "".join(out)


def join_location(base: str, location: str) -> str | None:
    """The absolute URL a Location field value points to (RFC 9110 §10.2.2: a URI reference,
    relative to the request's URL), or None when it cannot be read as one."""
    try:
        return urljoin(base, location.strip())
    except ValueError:  # e.g. "http://[::1": an unclosed IPv6 literal
        return None


def parse_header(text: str) -> tuple[str, str]:
    """-H 'Name: value' (an empty value removes a default header, as in curl)."""
    name, sep, value = text.partition(":")
    if not sep or not http1.is_token(name):
        raise ValueError(f"bad header {text!r} (expected 'Name: value')")
    if "\r" in value or "\n" in value:
        raise ValueError(f"bad header {text!r}: line breaks are not allowed")
    if any(not c.isprintable() and c != "\t" for c in value):
        # RFC 9110 §5.5: no NUL or other control characters in a field value.
        raise ValueError(f"bad header {text!r}: control characters are not allowed")
    return name, value.strip()


def parse_resolve(text: str) -> tuple[tuple[str, int], str]:
    """--resolve HOST:PORT:ADDR (ADDR may be [v6]) → ((host, port), addr)."""
    host, sep1, rest = text.partition(":")
    port_text, sep2, addr = rest.partition(":")
    if not (sep1 and sep2 and host and _ascii_digits(port_text) and addr):
        raise ValueError(f"bad --resolve {text!r} (expected HOST:PORT:ADDRESS)")
    addr = addr[1:-1] if addr.startswith("[") and addr.endswith("]") else addr
    try:
        ipaddress.ip_address(addr)
    except ValueError:
        raise ValueError(f"bad --resolve {text!r}: {addr!r} is not an IP address") from None
    port = int(port_text)
    if not 0 < port < 65536:
        raise ValueError(f"bad --resolve {text!r}: port out of range")
    return (host.lower(), port), addr


def _ascii_digits(text: str, most: int = 5) -> bool:
    """0-9 only: str.isdigit() also takes '²' (which int() refuses) and '٢٢' (which it reads
    as 22)."""
    return 0 < len(text) <= most and text.isascii() and text.isdigit()


def parse_expect(text: str) -> tuple[tuple[int, int], ...]:
    """--expect '200,3xx,400-404' → inclusive ranges."""
    ranges: list[tuple[int, int]] = []
    for item in text.split(","):
        item = item.strip().lower()
        if len(item) == 3 and item[0] in "12345" and item[1:] == "xx":
            base = int(item[0]) * 100
            ranges.append((base, base + 99))
            continue
        lo, sep, hi = item.partition("-")
        lo, hi = lo.strip(), hi.strip()
        if not _ascii_digits(lo) or (sep and not _ascii_digits(hi)):
            raise ValueError(f"bad --expect item {item!r} (use e.g. 200,3xx,400-404)")
        low, high = int(lo), int(hi) if sep else int(lo)
        for code in (low, high):
            if not 100 <= code <= 599:
                raise ValueError(
                    f"bad --expect item {item!r}: {code} is not a status code (100..599)"
                )
        if low > high:
            raise ValueError(
                f"bad --expect item {item!r}: the range is reversed (did you mean {high}-{low}?)"
            )
        ranges.append((low, high))
    return tuple(ranges)


def parse_slo(text: str) -> tuple[tuple[str, float], ...]:
    """--slo total=500,ttfb=200 (milliseconds) as (key, seconds) pairs; a phase given twice is
    an error."""
    limits: dict[str, float] = {}
    for item in text.split(","):
        key, sep, value = item.strip().partition("=")
        key = key.strip().lower()
        if not sep or key not in SLO_KEYS:
            raise ValueError(f"bad --slo item {item!r} (keys: {', '.join(SLO_KEYS)})")
        value = value.strip()
        try:
            if not value.isascii():  # float() reads '١٠٠' as 100
                raise ValueError(value)
            limit = float(value)
        except ValueError:
            raise ValueError(f"bad --slo item {item!r}: {value!r} is not a number") from None
        if not limit > 0 or limit == float("inf"):
            raise ValueError(f"bad --slo item {item!r}: must be a positive number of ms")
        same = next((k for k in limits if SLO_KEYS[k] == SLO_KEYS[key]), None)
        if same is not None:
            also = "" if same == key else f" ({same} and {key} are the same phase)"
            raise ValueError(f"bad --slo: {key} is given twice{also}")
        limits[key] = limit
    return tuple((key, ms / 1000) for key, ms in limits.items())


def wire_text(value: str) -> str:
    """A field value as read (each byte one latin-1 character) back to the text it most
    likely is: UTF-8 where its bytes are UTF-8, the undecodable bytes kept as surrogates, so
    that percent-encoding (parse_url) restores exactly the bytes the server sent."""
    if value.isascii():
        return value
    try:
        return value.encode("latin-1").decode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # not latin-1: already text
        return value
