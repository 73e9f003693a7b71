"""The HTTP check: one request (or a redirect chain) with curl's timing points, TLS details
and a response lint.

The public API, for `netladder http` and `netladder diagnose`:

    check = await http_check("https://www.example.test/", HttpOptions(resolve=...))
    check.ok, check.final.status, check.final.timings.server_ms, check.final.tls, check.findings

`fetch()` does one request without following redirects.  Failures never raise: they are a
`Failure` (phase + message) inside the result, so a caller always gets the evidence gathered up
to the failure.  Bad input (`parse_url`, `parse_expect`, …) raises ValueError.

Timing points (cumulative from the start of each request, as curl's -w reports them):
namelookup, connect, appconnect (0 without TLS, like curl), pretransfer, starttransfer (first
byte of the response), total.  Phases as httpstat derives them: dns, tcp, tls, server, transfer.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from netladder.l7.lint import Exchange, Finding, lint
from netladder.l7.tlsinfo import TlsInfo, is_ip, tls_info
from netladder.proto import http1

if TYPE_CHECKING:
    import ssl
    from typing import Protocol

    class _Conn(Protocol):
        """The few operations the exchanges need from a connection (the I/O boundary)."""

        async def read(self, n: int) -> bytes: ...
        async def send(self, data: bytes) -> None: ...
        def close(self) -> None: ...


__all__ = [
    "DEFAULT_EXPECT",
    "SLO_KEYS",
    "Failure",
    "HttpCheck",
    "HttpOptions",
    "Hop",
    "SloViolation",
    "Timings",
    "TlsInfo",
    "Url",
    "fetch",
    "http_check",
    "parse_expect",
    "parse_header",
    "parse_resolve",
    "parse_slo",
    "parse_url",
]

MAX_BODY = 10 * 1024 * 1024  # read at most this much content, then stop (reported)
KEEP_BODY = 1024 * 1024  # keep this much of it for --body
READ_SIZE = 65536
MAX_INTERIM = 10  # 1xx responses before the final one

DEFAULT_EXPECT: tuple[tuple[int, int], ...] = ((200, 399),)
# --slo keys → the Timings attribute each one limits (httpstat's phases plus ttfb and total).
SLO_KEYS: dict[str, str] = {
    "dns": "dns_ms",
    "connect": "tcp_ms",
    "tls": "tls_ms",
    "server": "server_ms",
    "processing": "server_ms",
    "transfer": "transfer_ms",
    "ttfb": "starttransfer_ms",
    "total": "total_ms",
}


# -- input ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
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


def parse_slo(text: str) -> dict[str, float]:
    """--slo total=500,ttfb=200 (milliseconds); a phase given twice is an error."""
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
    return limits


@dataclass(frozen=True, slots=True)
class HttpOptions:
    method: str = "HEAD"
    headers: tuple[tuple[str, str], ...] = ()
    follow: bool = False
    max_redirs: int = 20
    http2: bool = False
    insecure: bool = False
    cacert: str | None = None
    resolve: Mapping[tuple[str, int], str] = field(default_factory=dict)
    timeout: float = 10.0  # the whole check, every hop included
    expect: tuple[tuple[int, int], ...] = DEFAULT_EXPECT
    slo: Mapping[str, float] = field(default_factory=dict)
    # --lint: GET the final URL too to compare with HEAD, and fail on MUST-level findings
    strict_lint: bool = False
    max_body: int = MAX_BODY
    keep_body: int = 0  # bytes of content to keep (for printing)
    body: bytes = b""  # request content (sent with a Content-Length; serve's webhooks)


# -- results --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Timings:
    """Cumulative points in ms from the start of the request (curl -w) and httpstat's phases.
    A point the request never reached is None."""

    namelookup_ms: float | None = None
    connect_ms: float | None = None
    appconnect_ms: float | None = None  # 0.0 without TLS, as curl reports it
    pretransfer_ms: float | None = None
    starttransfer_ms: float | None = None
    total_ms: float | None = None
    dns_ms: float | None = None
    tcp_ms: float | None = None
    tls_ms: float | None = None
    server_ms: float | None = None
    transfer_ms: float | None = None

    @classmethod
    def from_points(
        cls,
        namelookup: float | None,
        connect: float | None,
        appconnect: float | None,
        pretransfer: float | None,
        starttransfer: float | None,
        total: float | None,
    ) -> Timings:
        def diff(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else max(a - b, 0.0)

        return cls(
            namelookup,
            connect,
            appconnect,
            pretransfer,
            starttransfer,
            total,
            namelookup,
            diff(connect, namelookup),
            diff(pretransfer, connect),
            diff(starttransfer, pretransfer),
            diff(total, starttransfer),
        )


@dataclass(frozen=True, slots=True)
class Failure:
    phase: str  # dns | connect | tls | request | response | body | redirect | timeout
    message: str


@dataclass(frozen=True, slots=True)
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
    body: bytes = b""
    timings: Timings = field(default_factory=Timings)
    tls: TlsInfo | None = None
    lint: tuple[Finding, ...] = ()
    error: Failure | None = None

    def header(self, name: str) -> str | None:
        lname = name.lower()
        for k, v in self.headers:
            if k.lower() == lname:
                return v
        return None


@dataclass(frozen=True, slots=True)
class SloViolation:
    key: str
    limit_ms: float
    actual_ms: float


@dataclass(frozen=True, slots=True)
class HttpCheck:
    url: str
    method: str
    hops: tuple[Hop, ...]
    expect: tuple[tuple[int, int], ...]
    status_expected: bool
    slo_violations: tuple[SloViolation, ...]
    error: Failure | None  # the failure that stopped the check (also on its hop)
    total_ms: float  # every hop, as curl adds redirected requests together
    redirect_ms: float  # the hops before the last (curl's time_redirect)
    ok: bool
    # --lint: why the HEAD-vs-GET comparison (rule head-like-get) could not be made, if so
    lint_unchecked: str | None = None

    @property
    def final(self) -> Hop:
        return self.hops[-1]

    @property
    def status(self) -> int | None:
        return self.final.status

    @property
    def findings(self) -> tuple[Finding, ...]:
        return self.final.lint


# -- one request ----------------------------------------------------------------------------------


class _Failed(Exception):
    def __init__(self, phase: str, message: str) -> None:
        super().__init__(message)
        self.failure = Failure(phase, message)


class _Clock:
    """The points of one request as they happen, and the phase we are in (for errors)."""

    __slots__ = ("phase", "points", "received", "start")

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.phase = "dns"
        self.points: dict[str, float] = {}
        self.received = 0

    def mark(self, name: str) -> None:
        self.points[name] = (time.monotonic() - self.start) * 1000

    def timings(self) -> Timings:
        p = self.points
        return Timings.from_points(
            p.get("namelookup"),
            p.get("connect"),
            p.get("appconnect"),
            p.get("pretransfer"),
            p.get("starttransfer"),
            p.get("total"),
        )


class _Response:
    """The response as it is being read (plain slots: it is mutated on the way)."""

    __slots__ = (
        "address",
        "alpn",
        "body",
        "body_bytes",
        "headers",
        "http_version",
        "interim",
        "reason",
        "status",
        "tls",
        "truncated",
    )

    def __init__(self) -> None:
        self.http_version = ""
        self.status: int | None = None
        self.reason = ""
        self.headers: tuple[tuple[str, str], ...] = ()
        self.interim: tuple[int, ...] = ()
        self.body_bytes = 0
        self.truncated = False
        self.body = bytearray()
        self.tls: TlsInfo | None = None
        self.alpn: str | None = None
        self.address: str | None = None


_PHASE_WORDS = {
    "dns": "resolving the name",
    "connect": "connecting",
    "tls": "in the TLS handshake",
    "request": "sending the request",
    "response": "waiting for the response head",
    "body": "reading the content",
}


async def fetch(
    url: Url | str, options: HttpOptions | None = None, *, deadline: float | None = None
) -> Hop:
    """One request, no redirects followed.  `deadline` is a loop.time() value; by default the
    options' timeout from now."""
    opts = options or HttpOptions()
    target = parse_url(url) if isinstance(url, str) else url
    loop = asyncio.get_running_loop()
    if deadline is None:
        deadline = loop.time() + opts.timeout
    # Local set-up before the clock starts, so that the phases measure the network and the
    # handshake rather than loading the CA store or the h2 modules.
    tls_ctx = None
    if target.scheme == "https":
        try:
            tls_ctx = _tls_context(opts)
        except (OSError, ValueError) as exc:
            return Hop(
                url=target.text,
                method=opts.method,
                error=Failure("tls", f"cannot set up TLS: {exc}"),
            )
        if opts.http2:
            import h2.connection  # noqa: F401
    clock = _Clock()
    resp = _Response()
    failure: Failure | None = None
    conn: _Conn | None = None
    try:
        async with asyncio.timeout_at(deadline):
            conn = await _exchange(target, opts, clock, resp, tls_ctx)
    except _Failed as exc:
        failure = exc.failure
    except TimeoutError:
        seen = f" ({clock.received} bytes received)" if clock.phase in ("response", "body") else ""
        failure = Failure(
            "timeout",
            f"timed out {_PHASE_WORDS.get(clock.phase, clock.phase)}"
            f" after {opts.timeout:g} s{seen}",
        )
    except (ConnectionResetError, BrokenPipeError) as exc:
        failure = Failure(clock.phase, _reset_message(clock, exc))
    except OSError as exc:
        tls = _tls_failure(exc, clock.phase) if target.scheme == "https" else None
        failure = tls.failure if tls else Failure(clock.phase, _oserror_message(clock.phase, exc))
    except ValueError as exc:  # e.g. undecodable HTTP/2 header bytes
        failure = Failure(clock.phase, f"invalid response: {exc}")
    finally:
        if conn is not None:
            conn.close()
    clock.mark("end")
    if failure is None:
        clock.points["total"] = clock.points.get("total", clock.points["end"])
    location = None
    if resp.status is not None and 300 <= resp.status < 400:
        loc = _header(resp.headers, "Location")
        if loc and loc.strip():
            # None when unreadable: following it is then a failed redirect (http_check).
            location = join_location(target.text, _wire_text(loc))
    hop = Hop(
        url=target.text,
        method=opts.method,
        address=resp.address,
        http_version=resp.http_version or None,
        status=resp.status,
        reason=resp.reason,
        headers=resp.headers,
        interim=resp.interim,
        location=location,
        body_bytes=resp.body_bytes,
        body_truncated=resp.truncated,
        body=bytes(resp.body),
        timings=clock.timings(),
        tls=resp.tls,
        error=failure,
    )
    if failure is None and resp.status is not None:
        hop = replace(
            hop, lint=lint(Exchange(opts.method, resp.status, resp.headers, resp.body_bytes))
        )
    return hop


def _wire_text(value: str) -> str:
    """A field value as read (each byte one latin-1 character) back to the text it most
    likely is: UTF-8 where its bytes are UTF-8, the undecodable bytes kept as surrogates, so
    that percent-encoding (parse_url) restores exactly the bytes the server sent."""
    if value.isascii():
        return value
    try:
        return value.encode("latin-1").decode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # not latin-1: already text
        return value


def _header(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    lname = name.lower()
    for k, v in headers:
        if k.lower() == lname:
            return v
    return None


def _reset_message(clock: _Clock, exc: OSError) -> str:
    where = {
        "response": "in the middle of the response head",
        "body": "in the middle of the content",
    }.get(clock.phase, _PHASE_WORDS.get(clock.phase, ""))
    return f"connection reset by the server {where} ({clock.received} bytes received)"


def _oserror_message(phase: str, exc: OSError) -> str:
    import errno

    name = errno.errorcode.get(exc.errno or 0, "")
    reason = exc.strerror or str(exc) or type(exc).__name__
    words = {"connect": "connect failed", "tls": "TLS handshake failed"}.get(phase, phase)
    return f"{words}: {reason}" + (f" ({name})" if name and phase == "connect" else "")


async def _exchange(
    url: Url, opts: HttpOptions, clock: _Clock, resp: _Response, tls_ctx: ssl.SSLContext | None
) -> _Conn:
    loop = asyncio.get_running_loop()
    # Name lookup: --resolve, an address literal, or getaddrinfo (in a thread, as curl does).
    clock.phase = "dns"
    addrs = await _resolve(loop, url, opts)
    clock.mark("namelookup")

    clock.phase = "connect"
    sock, resp.address = await _connect(loop, addrs)
    clock.mark("connect")

    conn: _Conn
    ssl_object: ssl.SSLObject | None = None
    if tls_ctx is not None:
        clock.phase = "tls"
        try:
            # An address literal goes in server_hostname too: ssl then checks the IP SANs
            # and sends no SNI.
            reader, writer = await asyncio.open_connection(
                sock=sock,
                ssl=tls_ctx,
                server_hostname=url.host,
                ssl_handshake_timeout=max(opts.timeout, 0.1),
                limit=READ_SIZE,
            )
        except BaseException:
            sock.close()
            raise
        conn = _StreamConn(reader, writer)
        clock.mark("appconnect")
        ssl_object = writer.get_extra_info("ssl_object")
        resp.alpn = ssl_object.selected_alpn_protocol()
    else:
        # Plain HTTP works on the socket itself: no transport set-up between the connect and
        # the request, so pretransfer - connect is as small as curl's.
        conn = _SockConn(loop, sock)
        clock.points["appconnect"] = 0.0
    try:
        if resp.alpn == "h2":
            await _h2_exchange(url, opts, clock, resp, conn)
        else:
            await _h1_exchange(url, opts, clock, resp, conn)
    except BaseException:
        _describe_tls(resp, ssl_object, url, opts)
        conn.close()
        raise
    _describe_tls(resp, ssl_object, url, opts)
    return conn


def _describe_tls(
    resp: _Response, ssl_object: ssl.SSLObject | None, url: Url, opts: HttpOptions
) -> None:
    """The certificate details, read after the timed part of the exchange."""
    if ssl_object is not None and resp.tls is None:
        resp.tls = tls_info(ssl_object, url.host, verified=not opts.insecure)


class _SockConn:
    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
        self._loop, self._sock = loop, sock

    async def read(self, n: int) -> bytes:
        return await self._loop.sock_recv(self._sock, n)

    async def send(self, data: bytes) -> None:
        await self._loop.sock_sendall(self._sock, data)

    def close(self) -> None:
        self._sock.close()


class _StreamConn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer

    async def read(self, n: int) -> bytes:
        return await self._reader.read(n)

    async def send(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()

    def close(self) -> None:
        self._writer.close()


async def _resolve(
    loop: asyncio.AbstractEventLoop, url: Url, opts: HttpOptions
) -> list[tuple[int, tuple[Any, ...]]]:
    forced = opts.resolve.get((url.host, url.port))
    host = forced or url.host
    if is_ip(host):
        ip = ipaddress.ip_address(host.split("%", 1)[0])
        family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        return [(family, (host, url.port))]
    try:
        # As bytes: a str goes through the idna codec, which raises UnicodeError on a name
        # parse_url let through (--resolve maps names, not addresses).
        infos = await loop.getaddrinfo(
            host.encode("ascii", "replace"), url.port, type=socket.SOCK_STREAM
        )
    except socket.gaierror as exc:
        raise _Failed("dns", f"could not resolve {host!r}: {exc.strerror}") from None
    return [(info[0], info[4]) for info in infos]


async def _connect(
    loop: asyncio.AbstractEventLoop, addrs: list[tuple[int, tuple[Any, ...]]]
) -> tuple[socket.socket, str]:
    last: OSError | None = None
    for family, sockaddr in addrs:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            await loop.sock_connect(sock, sockaddr)
        except OSError as exc:
            sock.close()
            last = exc
            continue
        except BaseException:
            sock.close()
            raise
        host = f"[{sockaddr[0]}]" if family == socket.AF_INET6 else sockaddr[0]
        return sock, f"{host}:{sockaddr[1]}"
    assert last is not None
    import errno
    import os

    # asyncio puts "Connect call failed (addr)" in strerror; the errno says it better.
    reason = os.strerror(last.errno) if last.errno else str(last)
    name = errno.errorcode.get(last.errno or 0, "")
    where = ", ".join(str(a[1][0]) for a in addrs)
    raise _Failed(
        "connect",
        f"connect to {where} port {addrs[0][1][1]} failed: {reason}"
        + (f" ({name})" if name else ""),
    )


_CONTEXTS: dict[tuple[str | None, bool, bool], ssl.SSLContext] = {}


def _tls_context(opts: HttpOptions) -> ssl.SSLContext:
    key = (opts.cacert, opts.insecure, opts.http2)
    if key not in _CONTEXTS:
        _CONTEXTS[key] = _new_tls_context(opts)
    return _CONTEXTS[key]


def _new_tls_context(opts: HttpOptions) -> ssl.SSLContext:
    import ssl

    ctx = ssl.create_default_context(cafile=opts.cacert)
    if opts.insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2", "http/1.1"] if opts.http2 else ["http/1.1"])
    return ctx


def _tls_failure(exc: BaseException, phase: str = "tls") -> _Failed | None:
    import ssl

    if isinstance(exc, ssl.SSLCertVerificationError):
        return _Failed("tls", f"certificate verify failed: {exc.verify_message}")
    if isinstance(exc, ssl.SSLError):
        if phase != "tls":  # after the handshake: a bad record, an alert, an unclean end
            where = _PHASE_WORDS.get(phase, phase)
            return _Failed(phase, f"TLS error {where}: {exc.reason or exc}")
        return _Failed("tls", f"TLS handshake failed: {exc.reason or exc}")
    return None


async def _send(conn: _Conn, data: bytes, clock: _Clock) -> None:
    clock.phase = "request"
    await conn.send(data)


async def _h1_exchange(
    url: Url, opts: HttpOptions, clock: _Clock, resp: _Response, conn: _Conn
) -> None:
    headers = opts.headers
    if opts.body:
        headers = (*headers, ("Content-Length", str(len(opts.body))))
    request = (
        http1.build_request(
            opts.method, url.target, url.authority, headers, user_agent=_user_agent()
        )
        + opts.body
    )
    clock.mark("pretransfer")
    await _send(conn, request, clock)
    clock.phase = "response"
    buf = bytearray()
    interim: list[int] = []
    scanner = http1.HeadScanner()
    while True:
        try:
            end = scanner.feed(buf)
        except http1.ProtocolError as exc:
            raise _Failed("response", str(exc)) from None
        if end is not None:
            try:
                head = http1.parse_head(buf[:end])
            except http1.ProtocolError as exc:
                raise _Failed("response", str(exc)) from None
            del buf[:end]
            scanner = http1.HeadScanner()
            if 100 <= head.status < 200 and head.status != 101:
                interim.append(head.status)  # informational: the final response follows
                if len(interim) > MAX_INTERIM:
                    raise _Failed(
                        "response", f"more than {MAX_INTERIM} informational (1xx) responses"
                    )
                continue
            break
        chunk = await conn.read(READ_SIZE)
        if not chunk:
            what = (
                "before sending anything"
                if not clock.received
                else f"after {clock.received} bytes, in the middle of the response head"
            )
            raise _Failed("response", f"the server closed the connection {what}")
        if "starttransfer" not in clock.points:
            clock.mark("starttransfer")
        clock.received += len(chunk)
        buf += chunk
    resp.http_version = head.version
    resp.status, resp.reason, resp.headers = head.status, head.reason, head.headers
    resp.interim = tuple(interim)
    clock.phase = "body"
    try:
        framing = http1.body_framing(opts.method, head)
    except http1.ProtocolError as exc:
        raise _Failed("response", str(exc)) from None
    if framing.kind == "none":
        # Bytes after a head that has no content are content the server should not have sent
        # (RFC 9110 §9.3.2, §15.3.5, §15.4.5); count what arrived with the head.
        resp.body_bytes = len(buf)
        clock.mark("total")
        return
    if opts.max_body <= 0:  # only the head was wanted
        resp.truncated = not (framing.kind == "length" and framing.length == 0)
        clock.mark("total")
        return
    decoder = http1.ChunkedDecoder() if framing.kind == "chunked" else None
    remaining = framing.length if framing.kind == "length" else None
    pending = bytes(buf)
    while True:
        if pending:
            try:
                data = decoder.feed(pending) if decoder else pending
            except http1.ProtocolError as exc:
                raise _Failed("body", f"invalid chunked content: {exc}") from None
            if remaining is not None:
                data = data[:remaining]
                remaining -= len(data)
            _take(resp, data, opts)
            if resp.truncated:
                break
        if (decoder and decoder.done) or remaining == 0:
            break
        pending = await conn.read(READ_SIZE)
        clock.received += len(pending)
        if not pending:
            if framing.kind == "close":
                break
            raise _Failed(
                "body",
                f"the server closed the connection after {resp.body_bytes} "
                "bytes of content, before its end",
            )
    clock.mark("total")


def _take(resp: _Response, data: bytes, opts: HttpOptions) -> None:
    room = opts.max_body - resp.body_bytes
    if len(data) > room:
        data = data[: max(room, 0)]
        resp.truncated = True
    resp.body_bytes += len(data)
    keep = opts.keep_body - len(resp.body)
    if keep > 0:
        resp.body += data[:keep]


async def _h2_exchange(
    url: Url, opts: HttpOptions, clock: _Clock, resp: _Response, sock: _Conn
) -> None:
    import h2.config
    import h2.connection
    import h2.events
    import h2.exceptions

    # Header bytes as bytes (no header_encoding): decoded as latin-1 below, as HTTP/1.1
    # fields are, so that no byte a server sends can fail to decode.
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    request_headers = [
        (":method", opts.method),
        (":scheme", url.scheme),
        (":authority", url.authority),
        (":path", url.target),
        ("user-agent", _user_agent()),
        ("accept", "*/*"),
    ]
    for name, value in opts.headers:
        lname = name.lower()
        request_headers = [(k, v) for k, v in request_headers if k != lname]
        if value != "":
            request_headers.append((lname, value))
    clock.mark("pretransfer")
    conn.send_headers(
        1,
        [(k.encode(), v.encode("utf-8", "surrogateescape")) for k, v in request_headers],
        end_stream=not opts.body,
    )
    if opts.body:
        conn.send_data(1, opts.body, end_stream=True)
    await _send(sock, conn.data_to_send(), clock)
    clock.phase = "response"
    head_bytes = 0
    preface = bytearray()
    done = False
    while not done:
        data = await sock.read(READ_SIZE)
        if not data:
            raise _Failed(
                clock.phase,
                "the server closed the connection "
                + (
                    "before the response" if resp.status is None else "in the middle of the content"
                ),
            )
        clock.received += len(data)
        if len(preface) < 9:
            preface += data[: 9 - len(preface)]
            if len(preface) == 9:
                _check_h2_preface(bytes(preface))
        if resp.status is None:
            head_bytes += len(data)
            if head_bytes > http1.MAX_HEAD_BYTES:
                raise _Failed(
                    "response", f"no response head within {http1.MAX_HEAD_BYTES // 1024} KiB"
                )
        try:
            events = conn.receive_data(data)
        except h2.exceptions.H2Error as exc:
            raise _Failed(clock.phase, f"HTTP/2 protocol error: {exc}") from None
        for event in events:
            if isinstance(event, h2.events.ResponseReceived) and event.stream_id == 1:
                clock.mark("starttransfer")
                headers = _h2_fields(event.headers)
                resp.http_version = "HTTP/2"
                resp.status = _h2_status(headers)
                resp.headers = tuple((k, v) for k, v in headers if not k.startswith(":"))
                clock.phase = "body"
                if opts.max_body <= 0:  # only the head was wanted
                    resp.truncated = not event.stream_ended
                    done = True
            elif isinstance(event, h2.events.InformationalResponseReceived):
                resp.interim += (_h2_status(_h2_fields(event.headers)),)
                if len(resp.interim) > MAX_INTERIM:
                    raise _Failed(
                        "response", f"more than {MAX_INTERIM} informational (1xx) responses"
                    )
            elif isinstance(event, h2.events.DataReceived) and event.stream_id == 1:
                _take(resp, event.data or b"", opts)
                conn.acknowledge_received_data(event.flow_controlled_length, 1)
                if resp.truncated:
                    done = True
            elif isinstance(event, h2.events.StreamEnded) and event.stream_id == 1:
                done = True
            elif isinstance(event, h2.events.StreamReset) and event.stream_id == 1:
                raise _Failed(
                    clock.phase, f"the server reset the stream (error code {event.error_code})"
                )
            elif isinstance(event, h2.events.ConnectionTerminated):
                if not done:
                    raise _Failed(
                        clock.phase,
                        f"the server ended the connection (GOAWAY, error code {event.error_code})",
                    )
        outgoing = conn.data_to_send()
        if outgoing:
            await sock.send(outgoing)
    clock.mark("total")


def _h2_fields(headers: Any) -> list[tuple[str, str]]:
    def text(value: Any) -> str:
        return value.decode("latin-1") if isinstance(value, bytes) else str(value)

    return [(text(k), text(v)) for k, v in headers or ()]


def _h2_status(headers: Sequence[tuple[str, str]]) -> int:
    """RFC 9113 §8.3.2: :status is the three-digit code (ASCII digits; 100..599 as in 1.1)."""
    status = next((v for k, v in headers if k == ":status"), "")
    if not (
        len(status) == 3 and status.isascii() and status.isdigit() and 100 <= int(status) <= 599
    ):
        raise _Failed("response", f"invalid :status {status[:20]!r}")
    return int(status)


def _check_h2_preface(first: bytes) -> None:
    """RFC 9113 §3.4: the server's preface is a SETTINGS frame (type 0x4) of a sane length.

    h2 waits for a whole frame before it checks its length, so bytes that are not HTTP/2 would
    otherwise leave us waiting for a multi-megabyte "frame" until the timeout."""
    length, kind = int.from_bytes(first[:3], "big"), first[3]
    if kind != 0x4 or length > 16384 or length % 6:
        raise _Failed(
            "response",
            "HTTP/2 protocol error: the server's first frame is not "
            f"SETTINGS (RFC 9113 §3.4); it starts with {first!r}",
        )


def _user_agent() -> str:
    from netladder import __version__

    return f"netladder/{__version__}"


# -- the check: redirects, expectations, thresholds -----------------------------------------------


async def http_check(
    url: Url | str,
    options: HttpOptions | None = None,
    *,
    on_hop: Callable[[Hop], None] | None = None,
) -> HttpCheck:
    """Fetch a URL (following redirects with options.follow), then judge the final response
    against options.expect and options.slo.  Never raises for network trouble.

    `on_hop` sees each hop as it completes (so an interrupted run can show what it has)."""
    opts = options or HttpOptions()
    target = parse_url(url) if isinstance(url, str) else url
    loop = asyncio.get_running_loop()
    deadline = loop.time() + opts.timeout
    hops: list[Hop] = []
    seen: list[str] = []
    error: Failure | None = None
    method = opts.method
    while True:
        # A request turned into GET by a redirect leaves its content behind.
        body = opts.body if method == opts.method else b""
        hop = await fetch(target, replace(opts, method=method, body=body), deadline=deadline)
        hops.append(hop)
        if on_hop is not None:
            on_hop(hop)
        seen.append(target.text)
        if hop.error is not None:
            error = hop.error
            break
        raw_location = (hop.header("Location") or "").strip()
        if not (opts.follow and raw_location and hop.status in (301, 302, 303, 307, 308)):
            break
        if len(hops) > opts.max_redirs:
            error = Failure("redirect", f"more than {opts.max_redirs} redirects")
            break
        try:
            # A Location that would not even join (hop.location None) fails here the same
            # way, with parse_url's reason.
            nxt = parse_url(hop.location or _wire_text(raw_location))
        except ValueError as exc:
            # A bad redirect target is the server's fault, a result of the check (curl:
            # "The redirect target URL could not be parsed", exit 3).
            error = Failure("redirect", f"cannot follow the redirect: {exc}")
            break
        if nxt.text in seen:
            chain = " → ".join([*seen[seen.index(nxt.text) :], nxt.text])
            error = Failure("redirect", f"redirect loop: {chain}")
            break
        # RFC 9110 §15.4.4: 303 turns anything but HEAD into GET; 301/302 turn POST into GET
        # (what browsers and curl do).
        if (hop.status == 303 and method != "HEAD") or (
            hop.status in (301, 302) and method == "POST"
        ):
            method = "GET"
        target = nxt
    final = hops[-1]
    unchecked: str | None = None
    if error is None and opts.strict_lint and final.method == "HEAD" and final.status is not None:
        # Only the GET's head is compared: max_body=0 stops after it, so an endless or slow
        # body cannot keep the comparison from finishing.
        get = await fetch(
            parse_url(final.url),
            replace(opts, method="GET", keep_body=0, max_body=0),
            deadline=max(deadline, loop.time() + 1.0),
        )
        if get.error is None and get.status is not None:
            findings = lint(
                Exchange(
                    "HEAD", final.status, final.headers, final.body_bytes, get.status, get.headers
                )
            )
            hops[-1] = final = replace(final, lint=findings)
        else:
            why = get.error.message if get.error is not None else "no response"
            unchecked = f"the GET to compare with HEAD failed: {why}"
    elif (
        error is not None
        and opts.strict_lint
        and final.method == "HEAD"
        and final.status is not None
        and final.error is None
    ):
        unchecked = f"the check stopped before the GET to compare with HEAD ({error.message})"
    total = (
        sum(h.timings.total_ms or 0.0 for h in hops)
        if error is None
        else (loop.time() - (deadline - opts.timeout)) * 1000
    )
    redirect = sum(h.timings.total_ms or 0.0 for h in hops[:-1])
    status_ok = final.status is not None and any(lo <= final.status <= hi for lo, hi in opts.expect)
    violations = _slo_violations(opts.slo, final.timings, total) if error is None else []
    lint_failed = opts.strict_lint and any(f.failing for f in final.lint)
    ok = error is None and status_ok and not violations and not lint_failed
    return HttpCheck(
        url=hops[0].url,
        method=opts.method,
        hops=tuple(hops),
        expect=opts.expect,
        status_expected=status_ok,
        slo_violations=tuple(violations),
        error=error,
        total_ms=total,
        redirect_ms=redirect,
        ok=ok,
        lint_unchecked=unchecked,
    )


def _slo_violations(slo: Mapping[str, float], timings: Timings, total: float) -> list[SloViolation]:
    out = []
    for key, limit in slo.items():
        actual = total if key == "total" else getattr(timings, SLO_KEYS[key])
        if actual is not None and actual > limit:
            out.append(SloViolation(key, limit, actual))
    return out
