"""A response lint: RFC 9110 (and RFC 9112 framing) rules as data (REFERENCE.md), each with
its level and section.  Levels, strongest first: MUST / MUST NOT, syntax (the field's grammar),
SHOULD / SHOULD NOT, hint (a MAY worth doing), info.  Only MUST-level and syntax findings fail
`--lint`.

`lint(exchange)` returns the findings for one response.  Pure: it looks only at the method,
the status, the header fields, how many content bytes arrived, and (for the HEAD rule) the
matching GET response when one was fetched.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RULES", "Exchange", "Finding", "Rule", "lint"]


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    level: str  # MUST, MUST NOT, syntax, SHOULD, SHOULD NOT, hint, info
    section: str
    text: str


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    level: str
    section: str
    message: str

    @property
    def failing(self) -> bool:
        """A MUST/MUST NOT breach (or equivalent): `--lint` fails the check on these."""
        return self.level.startswith("MUST") or self.level == "syntax"


@dataclass(frozen=True, slots=True)
class Exchange:
    """What the lint looks at: one request method and its response."""

    method: str
    status: int
    headers: tuple[tuple[str, str], ...]
    content_bytes: int  # content bytes that arrived (for HEAD/204/304: bytes that should not)
    # For a HEAD: the same URL fetched with GET, to compare (RFC 9110 §9.3.2).
    get_status: int | None = None
    get_headers: tuple[tuple[str, str], ...] | None = None

    def get(self, name: str) -> str | None:
        lname = name.lower()
        for k, v in self.headers:
            if k.lower() == lname:
                return v
        return None


_R = Rule
RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        _R(
            "www-authenticate",
            "MUST",
            "RFC 9110 §15.5.2, §11.6.1",
            "401 carries WWW-Authenticate with at least one challenge",
        ),
        _R("proxy-authenticate", "MUST", "RFC 9110 §15.5.8", "407 carries Proxy-Authenticate"),
        _R("allow", "MUST", "RFC 9110 §15.5.6, §10.2.1", "405 carries Allow"),
        _R("upgrade", "MUST", "RFC 9110 §15.2.2, §15.5.22", "101 and 426 carry Upgrade"),
        _R(
            "redirect-location",
            "SHOULD",
            "RFC 9110 §15.4.2-§15.4.9",
            "301/302/307/308 carry Location",
        ),
        _R(
            "see-other-location",
            "MUST (in effect)",
            "RFC 9110 §15.4.4",
            "303 names its target in Location",
        ),
        _R(
            "created-location",
            "info",
            "RFC 9110 §15.3.2",
            "201 identifies the new resource by Location (else the target URI)",
        ),
        _R("no-content", "MUST NOT", "RFC 9110 §15.3.5, §15.4.5", "204 and 304 have no content"),
        _R("no-content-length", "MUST NOT", "RFC 9110 §8.6", "1xx and 204 carry no Content-Length"),
        _R("reset-content", "MUST NOT", "RFC 9110 §15.3.6", "205 has no content"),
        _R("head-content", "MUST NOT", "RFC 9110 §9.3.2", "a HEAD response has no content"),
        _R(
            "head-like-get",
            "SHOULD",
            "RFC 9110 §9.3.2",
            "a HEAD response has the status and header fields a GET would",
        ),
        _R(
            "content-range",
            "MUST",
            "RFC 9110 §15.3.7.1",
            "206 with a single part carries Content-Range",
        ),
        _R(
            "unsatisfied-range",
            "SHOULD",
            "RFC 9110 §15.5.17",
            "416 carries Content-Range: bytes */LEN",
        ),
        _R(
            "retry-after",
            "syntax",
            "RFC 9110 §10.2.3; RFC 6585 §4",
            "Retry-After is an HTTP-date or a non-negative integer of seconds",
        ),
        _R(
            "date",
            "MUST",
            "RFC 9110 §6.6.1",
            "an origin with a clock sends Date on 2xx, 3xx and 4xx responses",
        ),
        _R(
            "error-explained",
            "SHOULD",
            "RFC 9110 §15.5, §15.6",
            "a 4xx/5xx response (not to HEAD) explains the error in its content",
        ),
        # Retry-After is a MAY on 503 and 429, so its absence is a hint, not a breach.
        _R(
            "retry-after-missing",
            "hint",
            "RFC 9110 §10.2.3, §15.6.4; RFC 6585 §4",
            "503 and 429 say in Retry-After when to come back",
        ),
        _R(
            "content-length-with-transfer-encoding",
            "MUST NOT",
            "RFC 9112 §6.1",
            "a response with Transfer-Encoding carries no Content-Length",
        ),
        _R(
            "content-length",
            "syntax",
            "RFC 9110 §8.6; RFC 9112 §6.3",
            "Content-Length is one non-negative decimal integer (repeated copies agree)",
        ),
        _R("location", "syntax", "RFC 9110 §10.2.2; RFC 3986 §4.1", "Location is a URI reference"),
    )
}

_UNSATISFIED = re.compile(r"^bytes \*/\d+$")
# Fields that legitimately differ between two responses to the same resource.
_VOLATILE = {
    "date",
    "age",
    "expires",
    "set-cookie",
    "x-request-id",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "last-modified",
    "etag",
}


def _www_authenticate(x: Exchange) -> str | None:
    if x.status == 401 and not (x.get("WWW-Authenticate") or "").strip():
        return "401 Unauthorized without a WWW-Authenticate challenge"
    return None


def _proxy_authenticate(x: Exchange) -> str | None:
    if x.status == 407 and not (x.get("Proxy-Authenticate") or "").strip():
        return "407 Proxy Authentication Required without Proxy-Authenticate"
    return None


def _allow(x: Exchange) -> str | None:
    if x.status == 405 and x.get("Allow") is None:
        return "405 Method Not Allowed without Allow"
    return None


def _upgrade(x: Exchange) -> str | None:
    if x.status in (101, 426) and not (x.get("Upgrade") or "").strip():
        return f"{x.status} without Upgrade"
    return None


def _redirect_location(x: Exchange) -> str | None:
    if x.status in (301, 302, 307, 308) and not (x.get("Location") or "").strip():
        return f"{x.status} redirect without Location"
    return None


def _see_other(x: Exchange) -> str | None:
    if x.status == 303 and not (x.get("Location") or "").strip():
        return "303 See Other without Location: the client has nowhere to go"
    return None


def _created(x: Exchange) -> str | None:
    if x.status == 201 and not (x.get("Location") or "").strip():
        return "201 Created without Location: the new resource is taken to be the target URI"
    return None


def _no_content(x: Exchange) -> str | None:
    if x.status in (204, 304) and x.content_bytes:
        return f"{x.status} response carried {x.content_bytes} bytes of content"
    return None


def _no_content_length(x: Exchange) -> str | None:
    if (x.status < 200 or x.status == 204) and x.get("Content-Length") is not None:
        return f"{x.status} response with Content-Length: {x.get('Content-Length')!r}"
    return None


def _reset_content(x: Exchange) -> str | None:
    if x.status == 205 and x.content_bytes:
        return f"205 Reset Content carried {x.content_bytes} bytes of content"
    return None


def _head_content(x: Exchange) -> str | None:
    if x.method == "HEAD" and x.content_bytes:
        return f"the HEAD response carried {x.content_bytes} bytes of content"
    return None


def _head_like_get(x: Exchange) -> str | None:
    if x.method != "HEAD" or x.get_status is None or x.get_headers is None:
        return None
    if x.get_status != x.status:
        return f"HEAD answered {x.status} but GET answers {x.get_status}"
    head = {k.lower() for k, _ in x.headers} - _VOLATILE
    get = {k.lower() for k, _ in x.get_headers} - _VOLATILE
    missing, extra = sorted(get - head), sorted(head - get)
    parts = []
    if missing:
        parts.append("missing " + ", ".join(missing))
    if extra:
        parts.append("extra " + ", ".join(extra))
    get_values = {k.lower(): v for k, v in x.get_headers}
    for name in ("content-type", "content-length"):
        hv = x.get(name)
        if hv is not None and name in get_values and get_values[name] != hv:
            parts.append(f"{name} {hv!r} vs GET {get_values[name]!r}")
    return "HEAD header fields differ from GET: " + "; ".join(parts) if parts else None


def _content_range(x: Exchange) -> str | None:
    if x.status != 206 or x.get("Content-Range") is not None:
        return None
    if (x.get("Content-Type") or "").lower().startswith("multipart/byteranges"):
        return None  # each part carries its own Content-Range
    return "206 Partial Content (single part) without Content-Range"


def _unsatisfied_range(x: Exchange) -> str | None:
    if x.status != 416:
        return None
    value = x.get("Content-Range")
    if value is None:
        return "416 without Content-Range: bytes */LEN"
    if not _UNSATISFIED.match(value.strip()):
        return f"416 Content-Range {value!r} is not of the form bytes */LEN"
    return None


_ASCTIME = re.compile(r"^[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}$")


def valid_retry_after(value: str) -> bool:
    """delay-seconds (1*DIGIT) or an HTTP-date: IMF-fixdate, or the obsolete RFC 850 and
    asctime forms that recipients must accept (RFC 9110 §5.6.7)."""
    value = value.strip()
    if value.isdigit() and value.isascii():
        return True
    if _ASCTIME.match(value):
        return True
    import email.utils  # only when there is a date to parse (start-up cost)

    return "," in value and email.utils.parsedate_tz(value) is not None


def _retry_after(x: Exchange) -> str | None:
    value = x.get("Retry-After")
    if value is not None and not valid_retry_after(value):
        return f"malformed Retry-After: {value!r} (neither seconds nor an HTTP-date)"
    return None


def _date(x: Exchange) -> str | None:
    if 200 <= x.status < 500 and x.get("Date") is None:
        return f"{x.status} response without Date"
    return None


def _error_explained(x: Exchange) -> str | None:
    if x.status >= 400 and x.method != "HEAD" and x.content_bytes == 0:
        return f"{x.status} error with no content to explain it"
    return None


def _retry_after_missing(x: Exchange) -> str | None:
    if x.status in (429, 503) and x.get("Retry-After") is None:
        return f"{x.status} without Retry-After: clients cannot tell when to retry"
    return None


def _te_and_content_length(x: Exchange) -> str | None:
    te, cl = x.get("Transfer-Encoding"), x.get("Content-Length")
    if te is not None and cl is not None:
        return (
            f"both Transfer-Encoding: {te!r} and Content-Length: {cl!r} (the length is "
            "ignored; a proxy that uses it can be desynchronised)"
        )
    return None


_DECIMAL = re.compile(r"^[0-9]+\Z")


def _content_length(x: Exchange) -> str | None:
    values = [
        v.strip()
        for k, value in x.headers
        if k.lower() == "content-length"
        for v in value.split(",")
    ]
    if not values:
        return None
    bad = next((v for v in values if not _DECIMAL.match(v)), None)
    if bad is not None:
        return f"invalid Content-Length: {bad[:40]!r}"
    if len({v.lstrip("0") for v in values}) > 1:  # not int(): 5000 digits would raise
        return "conflicting Content-Length values: " + ", ".join(
            repr(v) for v in sorted(set(values))[:4]
        )
    return None


def _location(x: Exchange) -> str | None:
    value = x.get("Location")
    if value is None:
        return None
    value = value.strip()
    odd = next((c for c in value if not (c.isascii() and c.isprintable()) or c == " "), None)
    if odd is not None:
        return f"Location {value[:80]!r} has a character a URI cannot contain ({odd!r})"
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  # reading it checks it
    except ValueError as exc:
        return f"Location {value[:80]!r} is not a URI reference ({exc})"
    return None


_CHECKS: dict[str, Callable[[Exchange], str | None]] = {
    "www-authenticate": _www_authenticate,
    "proxy-authenticate": _proxy_authenticate,
    "allow": _allow,
    "upgrade": _upgrade,
    "redirect-location": _redirect_location,
    "see-other-location": _see_other,
    "created-location": _created,
    "no-content": _no_content,
    "no-content-length": _no_content_length,
    "reset-content": _reset_content,
    "head-content": _head_content,
    "head-like-get": _head_like_get,
    "content-range": _content_range,
    "unsatisfied-range": _unsatisfied_range,
    "retry-after": _retry_after,
    "date": _date,
    "error-explained": _error_explained,
    "retry-after-missing": _retry_after_missing,
    "content-length-with-transfer-encoding": _te_and_content_length,
    "content-length": _content_length,
    "location": _location,
}
assert _CHECKS.keys() == RULES.keys()


def lint(exchange: Exchange) -> tuple[Finding, ...]:
    findings = []
    for rule_id, check in _CHECKS.items():
        message = check(exchange)
        if message is not None:
            rule = RULES[rule_id]
            findings.append(Finding(rule.id, rule.level, rule.section, message))
    return tuple(findings)
