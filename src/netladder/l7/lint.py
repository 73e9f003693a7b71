"""A response lint: RFC 9110 (and RFC 9112 framing) rules as data (REFERENCE.md), each with
its level and section.  Levels, strongest first: MUST / MUST NOT, syntax (the field's grammar),
SHOULD / SHOULD NOT, hint (a MAY worth doing), info.  Only MUST-level and syntax findings fail
`--lint`.

`lint(exchange)` returns the findings for one response.  Pure: it looks only at the method,
the status, the header fields, how many content bytes arrived, and (for the HEAD rule) the
matching GET response when one was fetched.  A finding is typed — its rule, the case of the
rule it met, and the values it saw — and `render/http.py` words it (one template per case).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, ClassVar

from netladder.model import field, json_skip, record
from netladder.proto.http1 import field_value

__all__ = ["RULES", "Exchange", "Finding", "Rule", "lint"]


@record
class Rule:
    id: str
    level: str  # MUST, MUST NOT, syntax, SHOULD, SHOULD NOT, hint, info
    section: str
    text: str


@record
class Finding:
    """A rule the response broke: `case` names which of the rule's messages applies ("" for
    its only one) and `params` the values it saw.  JSON: rule, level, section, message."""

    __json_order__: ClassVar[tuple[str, ...]] = ("rule", "level", "section")
    __json_text__: ClassVar[str] = "message"

    rule: str
    case: str = field(default="", metadata=json_skip())
    params: tuple[tuple[str, Any], ...] = field(default=(), metadata=json_skip())

    @property
    def level(self) -> str:
        return RULES[self.rule].level

    @property
    def section(self) -> str:
        return RULES[self.rule].section

    @property
    def failing(self) -> bool:
        """A MUST/MUST NOT breach (or equivalent): `--lint` fails the check on these."""
        return self.level.startswith("MUST") or self.level == "syntax"

    def param(self, name: str) -> Any:
        return dict(self.params)[name]


@record
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
        return field_value(self.headers, name)


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


_Hit = tuple[str, dict[str, Any]]  # (case, the values its message names)


def _hit(case: str = "", **params: Any) -> _Hit:
    return case, params


def _www_authenticate(x: Exchange) -> _Hit | None:
    if x.status == 401 and not (x.get("WWW-Authenticate") or "").strip():
        return _hit()
    return None


def _proxy_authenticate(x: Exchange) -> _Hit | None:
    if x.status == 407 and not (x.get("Proxy-Authenticate") or "").strip():
        return _hit()
    return None


def _allow(x: Exchange) -> _Hit | None:
    if x.status == 405 and x.get("Allow") is None:
        return _hit()
    return None


def _upgrade(x: Exchange) -> _Hit | None:
    if x.status in (101, 426) and not (x.get("Upgrade") or "").strip():
        return _hit(status=x.status)
    return None


def _redirect_location(x: Exchange) -> _Hit | None:
    if x.status in (301, 302, 307, 308) and not (x.get("Location") or "").strip():
        return _hit(status=x.status)
    return None


def _see_other(x: Exchange) -> _Hit | None:
    if x.status == 303 and not (x.get("Location") or "").strip():
        return _hit()
    return None


def _created(x: Exchange) -> _Hit | None:
    if x.status == 201 and not (x.get("Location") or "").strip():
        return _hit()
    return None


def _no_content(x: Exchange) -> _Hit | None:
    if x.status in (204, 304) and x.content_bytes:
        return _hit(status=x.status, bytes=x.content_bytes)
    return None


def _no_content_length(x: Exchange) -> _Hit | None:
    if (x.status < 200 or x.status == 204) and x.get("Content-Length") is not None:
        return _hit(status=x.status, value=x.get("Content-Length"))
    return None


def _reset_content(x: Exchange) -> _Hit | None:
    if x.status == 205 and x.content_bytes:
        return _hit(bytes=x.content_bytes)
    return None


def _head_content(x: Exchange) -> _Hit | None:
    if x.method == "HEAD" and x.content_bytes:
        return _hit(bytes=x.content_bytes)
    return None


def _head_like_get(x: Exchange) -> _Hit | None:
    if x.method != "HEAD" or x.get_status is None or x.get_headers is None:
        return None
    if x.get_status != x.status:
        return _hit("status", head=x.status, get=x.get_status)
    head = {k.lower() for k, _ in x.headers} - _VOLATILE
    get = {k.lower() for k, _ in x.get_headers} - _VOLATILE
    missing, extra = tuple(sorted(get - head)), tuple(sorted(head - get))
    get_values = {k.lower(): v for k, v in x.get_headers}
    differ = []
    for name in ("content-type", "content-length"):
        hv = x.get(name)
        if hv is not None and name in get_values and get_values[name] != hv:
            differ.append((name, hv, get_values[name]))
    if missing or extra or differ:
        return _hit("fields", missing=missing, extra=extra, differ=tuple(differ))
    return None


def _content_range(x: Exchange) -> _Hit | None:
    if x.status != 206 or x.get("Content-Range") is not None:
        return None
    if (x.get("Content-Type") or "").lower().startswith("multipart/byteranges"):
        return None  # each part carries its own Content-Range
    return _hit()


def _unsatisfied_range(x: Exchange) -> _Hit | None:
    if x.status != 416:
        return None
    value = x.get("Content-Range")
    if value is None:
        return _hit("missing")
    if not _UNSATISFIED.match(value.strip()):
        return _hit("form", value=value)
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


def _retry_after(x: Exchange) -> _Hit | None:
    value = x.get("Retry-After")
    if value is not None and not valid_retry_after(value):
        return _hit(value=value)
    return None


def _date(x: Exchange) -> _Hit | None:
    if 200 <= x.status < 500 and x.get("Date") is None:
        return _hit(status=x.status)
    return None


def _error_explained(x: Exchange) -> _Hit | None:
    if x.status >= 400 and x.method != "HEAD" and x.content_bytes == 0:
        return _hit(status=x.status)
    return None


def _retry_after_missing(x: Exchange) -> _Hit | None:
    if x.status in (429, 503) and x.get("Retry-After") is None:
        return _hit(status=x.status)
    return None


def _te_and_content_length(x: Exchange) -> _Hit | None:
    te, cl = x.get("Transfer-Encoding"), x.get("Content-Length")
    if te is not None and cl is not None:
        return _hit(te=te, cl=cl)
    return None


_DECIMAL = re.compile(r"^[0-9]+\Z")


def _content_length(x: Exchange) -> _Hit | None:
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
        return _hit("invalid", value=bad[:40])
    if len({v.lstrip("0") for v in values}) > 1:  # not int(): 5000 digits would raise
        return _hit("conflicting", values=tuple(sorted(set(values))[:4]))
    return None


def _location(x: Exchange) -> _Hit | None:
    value = x.get("Location")
    if value is None:
        return None
    value = value.strip()
    odd = next((c for c in value if not (c.isascii() and c.isprintable()) or c == " "), None)
    if odd is not None:
        return _hit("character", value=value[:80], char=odd)
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  # reading it checks it
    except ValueError as exc:
        return _hit("reference", value=value[:80], reason=str(exc))
    return None


_CHECKS: dict[str, Callable[[Exchange], _Hit | None]] = {
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
        hit = check(exchange)
        if hit is not None:
            case, params = hit
            findings.append(Finding(rule_id, case, tuple(params.items())))
    return tuple(findings)
