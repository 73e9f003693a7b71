"""The HTTP check's options and results (issue 14): one frozen options record, typed results
that carry their evidence, seconds for every duration, and the JSON `netladder http --json`
has always written (`output.to_jsonable`; sentences come from `render/http.py`).

    HttpOptions(url, method="HEAD", …, timeout=10.0)   → api.http(options) → HttpCheck
    HttpCheck.hops[i]: Hop (status, headers, Timings, TlsInfo, lint Findings, Failure)

Timing points are curl's (-w: namelookup, connect, appconnect, pretransfer, starttransfer,
total; cumulative from the start of each request) and the phases httpstat derives from them
(dns, tcp, tls, server, transfer).  A failure is a `Failure(phase, cause, errno, params)`: the
phase it happened in, a stable cause, and what the renderer needs to say it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from netladder.l7.lint import Finding
from netladder.model import (
    field,
    json_decoded,
    json_ms,
    json_pick,
    json_skip,
    json_text,
    record,
    replace,
)
from netladder.net.tls import TlsInfo
from netladder.proto.http1 import field_value

__all__ = [
    "DEFAULT_EXPECT",
    "KEEP_BODY",
    "MAX_BODY",
    "MAX_INTERIM",
    "SLO_KEYS",
    "Failure",
    "Hop",
    "HttpCheck",
    "HttpOptions",
    "LintUnchecked",
    "PartialCheck",
    "SloViolation",
    "Timings",
    "Url",
]

MAX_BODY = 10 * 1024 * 1024  # read at most this much content, then stop (reported)
KEEP_BODY = 1024 * 1024  # keep this much of it for --body
MAX_INTERIM = 10  # 1xx responses before the final one

DEFAULT_EXPECT: tuple[tuple[int, int], ...] = ((200, 399),)
# --slo keys → the Timings attribute each one limits (httpstat's phases plus ttfb and total).
SLO_KEYS: dict[str, str] = {
    "dns": "dns",
    "connect": "tcp",
    "tls": "tls",
    "server": "server",
    "processing": "server",
    "transfer": "transfer",
    "ttfb": "starttransfer",
    "total": "total",
}


@record
class Url:
    scheme: str  # http | https
    host: str  # without brackets
    port: int
    target: str  # path and query
    text: str  # the whole URL, normalised

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


@record
class HttpOptions:
    """One HTTP check.  `resolve` pins (host, port) to an address (curl --resolve); `slo`
    limits phases in seconds (keys of SLO_KEYS); `expect` is inclusive status ranges."""

    url: str
    method: str = "HEAD"
    headers: tuple[tuple[str, str], ...] = ()  # an empty value removes a default field
    follow: bool = False
    max_redirs: int = 20
    http2: bool = False
    insecure: bool = False
    cacert: str | None = None
    resolve: tuple[tuple[tuple[str, int], str], ...] = ()
    timeout: float = 10.0  # the whole check, every hop included
    expect: tuple[tuple[int, int], ...] = DEFAULT_EXPECT
    slo: tuple[tuple[str, float], ...] = ()
    # --lint: GET the final URL too to compare with HEAD, and fail on MUST-level findings
    strict_lint: bool = False
    # each hop's lint findings (Hop.lint): the http command shows them; serve's prober does not
    lint: bool = True
    max_body: int = MAX_BODY
    keep_body: int = 0  # bytes of content to keep (Hop.body); 0 keeps none (body None)
    body: bytes = b""  # request content (sent with a Content-Length; serve's webhooks)

    def pinned(self, host: str, port: int) -> str | None:
        """The address --resolve gives for host:port, if any."""
        for key, address in self.resolve:
            if key == (host, port):
                return address
        return None


def _ms(name: str) -> Any:
    return field(default=None, metadata=json_ms(name, 6))


@record
class Timings:
    """Seconds from the start of the request (curl -w's points) and httpstat's phases.  A
    point the request never reached is None; appconnect is 0.0 without TLS, as curl says."""

    namelookup: float | None = _ms("namelookup_ms")
    connect: float | None = _ms("connect_ms")
    appconnect: float | None = _ms("appconnect_ms")
    pretransfer: float | None = _ms("pretransfer_ms")
    starttransfer: float | None = _ms("starttransfer_ms")
    total: float | None = _ms("total_ms")
    dns: float | None = _ms("dns_ms")
    tcp: float | None = _ms("tcp_ms")
    tls: float | None = _ms("tls_ms")
    server: float | None = _ms("server_ms")
    transfer: float | None = _ms("transfer_ms")

    @classmethod
    def from_ns(cls, points: dict[str, int]) -> Timings:
        """From the points a request reached, in ns since its start."""

        def at(name: str) -> float | None:
            value = points.get(name)
            return None if value is None else value / 1e9

        def diff(a: str, b: str) -> float | None:
            if a not in points or b not in points:
                return None
            return max(points[a] - points[b], 0) / 1e9

        return cls(
            at("namelookup"),
            at("connect"),
            at("appconnect"),
            at("pretransfer"),
            at("starttransfer"),
            at("total"),
            at("namelookup"),
            diff("connect", "namelookup"),
            diff("pretransfer", "connect"),
            diff("starttransfer", "pretransfer"),
            diff("total", "starttransfer"),
        )


@record
class Failure:
    """What stopped a request or the check: the phase (dns, connect, tls, request, response,
    body, redirect, timeout), a stable cause (the renderer's template key), the errno when an
    OSError said it, and the named values its sentence needs."""

    __json_text__: ClassVar[str] = "message"

    phase: str
    cause: str = field(metadata=json_skip())
    errno: int | None = field(default=None, metadata=json_skip())
    params: tuple[tuple[str, Any], ...] = field(default=(), metadata=json_skip())

    def param(self, name: str, default: Any = None) -> Any:
        for key, value in self.params:
            if key == name:
                return value
        return default


# What `http --json` shows of the TLS details (net/tls.py's one type).
_TLS_VIEW = json_pick(
    version="version",
    cipher="cipher",
    alpn="alpn",
    subject="subject",
    issuer="issuer",
    sans="sans",
    not_before="not_before",
    not_after="not_after",
    days_to_expiry="days_to_expiry",
    hostname_match="hostname_match",
    verified="verified",
    validity="validity",
)


@record
class Hop:
    """One request and its response (or the failure that ended it)."""

    url: str
    method: str
    address: str | None = None  # "ip:port" that was connected
    http_version: str | None = None  # "HTTP/1.1" | "HTTP/2"
    status: int | None = None
    reason: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    interim: tuple[int, ...] = ()  # 1xx responses seen before the final one
    location: str | None = None  # the absolute URL a redirect points to
    body_bytes: int = 0
    body_truncated: bool = False
    timings: Timings = field(default_factory=Timings)
    tls: TlsInfo | None = field(default=None, metadata=_TLS_VIEW)
    lint: tuple[Finding, ...] = ()
    error: Failure | None = None
    body: bytes | None = field(default=None, metadata=json_decoded())  # None: not kept
    local: tuple[str, int] | None = field(default=None, metadata=json_skip())  # our end

    def header(self, name: str) -> str | None:
        return field_value(self.headers, name)


@record
class SloViolation:
    key: str
    limit: float = field(metadata=json_ms("limit_ms", 6))
    actual: float = field(metadata=json_ms("actual_ms", 6))


@record
class LintUnchecked:
    """Why --lint's HEAD-vs-GET comparison (rule head-like-get) was not made: the GET failed
    ("get-failed", with its failure; None: no response), or the check stopped first."""

    cause: str  # "get-failed" | "stopped"
    failure: Failure | None = None


@record
class HttpCheck:
    __json_order__: ClassVar[tuple[str, ...]] = (
        "url",
        "method",
        "ok",
        "status",
        "status_expected",
        "expect",
        "final_url",
        "redirects",
        "total",
        "redirect_ms",
        "error",
        "slo_violations",
        "findings",
        "lint_unchecked",
        "hops",
    )

    url: str
    method: str
    hops: tuple[Hop, ...]
    expect_ranges: tuple[tuple[int, int], ...] = field(metadata=json_skip())
    status_expected: bool
    slo_violations: tuple[SloViolation, ...]
    error: Failure | None  # the failure that stopped the check (also on its hop)
    total: float = field(metadata=json_ms("total_ms", 6))  # every hop, as curl adds them
    redirect: float = field(metadata=json_skip())  # the hops before the last (time_redirect)
    ok: bool
    lint_unchecked: LintUnchecked | None = field(default=None, metadata=json_text())
    interrupted: bool = field(default=False, metadata=json_skip())  # Ctrl-C: hops so far

    @property
    def final(self) -> Hop:
        return self.hops[-1]

    @property
    def status(self) -> int | None:
        return self.final.status

    @property
    def findings(self) -> tuple[Finding, ...]:
        return self.final.lint

    @property
    def final_url(self) -> str:
        return self.final.url

    @property
    def redirects(self) -> int:
        return len(self.hops) - 1

    @property
    def expect(self) -> tuple[str, ...]:
        """The expected codes as --expect takes them: 2xx, 404, 400-404."""
        return tuple(_fmt_range(lo, hi) for lo, hi in self.expect_ranges)

    @property
    def redirect_ms(self) -> float:
        """JSON's redirect_ms: curl's time_redirect, as the sum of the hops' totals in ms (the
        integer 0 without a redirect, as it always was)."""
        return sum(round((h.timings.total or 0.0) * 1000, 6) for h in self.hops[:-1])

    def partial(self) -> PartialCheck:
        """What Ctrl-C's document shows: the hops completed so far, without content."""
        return PartialCheck(self.url, tuple(replace(h, body=None) for h in self.hops))


@record
class PartialCheck:
    __json_order__: ClassVar[tuple[str, ...]] = ("url", "interrupted", "hops")

    url: str
    hops: tuple[Hop, ...]
    interrupted: bool = True


def _fmt_range(lo: int, hi: int) -> str:
    if lo % 100 == 0 and hi == lo + 99:
        return f"{lo // 100}xx"
    return str(lo) if lo == hi else f"{lo}-{hi}"
