"""The HTTP check as a sans-IO session (issue 14): one request after another — the redirects
and --lint's GET — each a Lookup, a kept Connect, a StartTls for https (ALPN h2 with --http2),
then HTTP/1.1 through `proto.http1` or HTTP/2 through h2's sans-IO `H2Connection`.  No socket,
no clock: the driver (`net/driver.py`) hands back every answer with its own stamp, and the
timing points are the differences of those stamps, as curl defines them:

    namelookup      the Lookup's answer (a literal: the instant it was answered)
    connect         the connect's outcome
    appconnect      the TLS handshake's end (0 without TLS, as curl)
    pretransfer     the turn the request is written in (right after connect or handshake)
    starttransfer   the first byte of the response (HTTP/2: its HEADERS)
    total           the byte that completed the response

Everything that goes wrong after the check started is a `Failure` in the result (the phase,
a cause, the values to say it with), never an exception.  A hostile server is bounded: heads
by proto.http1's limits, content by `max_body` (counted, kept only up to `keep_body`), 1xx
responses by MAX_INTERIM, and the whole check by its deadline.
"""

from __future__ import annotations

import errno as errnos
import os
from collections.abc import Sequence
from typing import Any

from netladder.l7.lint import Exchange, Finding, lint
from netladder.l7.model import (
    MAX_INTERIM,
    SLO_KEYS,
    Failure,
    Hop,
    HttpCheck,
    HttpOptions,
    LintUnchecked,
    SloViolation,
    Timings,
    Url,
)
from netladder.l7.parse import join_location, parse_url, wire_text
from netladder.model import replace
from netladder.net.session import (
    Action,
    Close,
    Connect,
    ConnectOutcome,
    Lookup,
    Session,
    StartTls,
    Step,
    TlsOutcome,
    Write,
)
from netladder.net.targets import ResolveError, Target, literal
from netladder.net.tls import TlsInfo
from netladder.proto import http1

__all__ = ["HttpSession", "user_agent"]

NS = 1_000_000_000
LINT_GET_GRACE = NS  # --lint's GET may run this long past the deadline (HEAD was in time)
_RESET = frozenset({errnos.ECONNRESET, errnos.EPIPE, errnos.ECONNABORTED})


def user_agent() -> str:
    from netladder import __version__

    return f"netladder/{__version__}"


class _Stop(Exception):
    """Ends an exchange with its failure (raised inside the exchange only)."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.cause)
        self.failure = failure


def _fail(phase: str, cause: str, errno: int | None = None, **params: Any) -> _Stop:
    return _Stop(Failure(phase, cause, errno, tuple(params.items())))


class _Exchange:
    """One request and its response: the state a hop goes through, fed by the session."""

    def __init__(
        self,
        token: int,
        url: Url,
        options: HttpOptions,
        method: str,
        body: bytes,
        max_body: int,
        keep_body: int,
        start: int,
        deadline: int,
        version: int | None,
    ) -> None:
        self.token = token
        self.url = url
        self.options = options
        self.method = method
        self.request_body = body
        self.max_body = max_body
        self.keep_body = keep_body
        self.start = start
        self.deadline = deadline
        self.version = version
        self.phase = "dns"
        self.points: dict[str, int] = {}
        self.received = 0
        self.host = options.pinned(url.host, url.port) or url.host
        self.address: str | None = None  # "ip:port" connected
        self.server: str | None = None  # the address alone
        self.local: tuple[str, int] | None = None
        self.tls: TlsInfo | None = None
        self.alpn: str | None = None
        self.ready = False  # connected (and TLS done): the request goes out on the next poll
        self.failure: Failure | None = None
        self.done = False
        self.out: list[Action] = []
        # the response
        self.http_version = ""
        self.status: int | None = None
        self.reason = ""
        self.headers: tuple[tuple[str, str], ...] = ()
        self.interim: tuple[int, ...] = ()
        self.body_bytes = 0
        self.truncated = False
        self.kept = bytearray()
        # HTTP/1.1
        self.buf = bytearray()
        self.scanner = http1.HeadScanner()
        self.informational: list[int] = []  # 1xx statuses before the final head
        self.framing: http1.Framing | None = None
        self.decoder: http1.ChunkedDecoder | None = None
        self.remaining: int | None = None
        # HTTP/2
        self.h2: Any = None
        self.preface = bytearray()
        self.head_bytes = 0

    # -- what the driver answers -------------------------------------------------------------

    def begin(self) -> None:
        wanted = self.version
        address = literal(self.host)
        if wanted is not None and address is not None and address.version != wanted:
            self._end(_fail("dns", "family", host=self.host, version=wanted))
            return
        wait = max((self.deadline - self.start) / NS, 0.001)
        self.out.append(Lookup(self.token, self.host, version=wanted, wait=wait))

    def looked_up(self, answer: Target | ResolveError, at: int) -> None:
        if isinstance(answer, ResolveError):
            self._end(_fail("dns", "resolve", host=self.host, reason=answer.reason))
            return
        self.points["namelookup"] = at - self.start
        self.phase = "connect"
        self.server = answer.address + (f"%{answer.scope}" if answer.scope else "")
        self.out.append(Connect(self.token, self.server, self.url.port, keep=True))

    def connected(self, outcome: ConnectOutcome) -> None:
        if outcome.error:
            self._end(
                _fail(
                    "connect",
                    "connect",
                    outcome.error,
                    address=self.server,
                    port=self.url.port,
                    reason=os.strerror(outcome.error),
                    name=errnos.errorcode.get(outcome.error, f"E{outcome.error}"),
                )
            )
            return
        self.points["connect"] = outcome.at - self.start
        assert self.server is not None
        host = f"[{self.server.split('%', 1)[0]}]" if ":" in self.server else self.server
        self.address = f"{host}:{self.url.port}"
        if outcome.local is not None:
            self.local = (str(outcome.local[0]), int(outcome.local[1]))
        if self.url.scheme == "https":
            self.phase = "tls"
            o = self.options
            alpn = ("h2", "http/1.1") if o.http2 else ("http/1.1",)
            # An address literal goes in server_name too: ssl then checks the IP SANs and
            # sends no SNI.
            self.out.append(StartTls(self.token, self.url.host, not o.insecure, o.cacert, alpn))
        else:
            self.points["appconnect"] = 0  # curl's appconnect without TLS
            self.ready = True

    def handshaken(self, outcome: TlsOutcome) -> None:
        if outcome.error is not None:
            cause = {"certificate": "certificate", "setup": "setup", "closed": "closed-tls"}
            self._end(
                _fail("tls", cause.get(outcome.cause or "", "handshake"), reason=outcome.error)
            )
            return
        self.points["appconnect"] = outcome.at - self.start
        self.tls = outcome.info
        self.alpn = outcome.info.alpn if outcome.info is not None else None
        self.ready = True

    def poll(self, now: int) -> None:
        if self.done:
            return
        if now >= self.deadline:
            self._end(self._timeout())
            return
        if self.ready:
            self.ready = False
            self.points["pretransfer"] = now - self.start
            try:
                self._h2_request() if self.alpn == "h2" else self._h1_request()
            except _Stop as stop:
                self._end(stop)

    def data(self, data: bytes, at: int) -> None:
        if self.done:
            return
        try:
            if self.h2 is not None:
                self._h2_data(data, at)
            elif self.phase == "body":
                self._h1_body(data, at)
            else:
                self._h1_head(data, at)
        except _Stop as stop:
            self._end(stop)

    def failed(self, error: int) -> None:
        """The kept connection broke (a reset, most often)."""
        if error in _RESET:
            stop = _fail(self.phase, "reset", error, received=self.received)
        else:
            stop = _fail(self.phase, "os", error, reason=os.strerror(error))
        self._end(stop, close=False)

    def interrupt(self) -> None:
        self.done = True

    def _timeout(self) -> _Stop:
        return _fail(
            "timeout",
            "timeout",
            during=self.phase,
            timeout=self.options.timeout,
            received=self.received,
            host=self.host,
            address=self.server,
            port=self.url.port,
        )

    def _end(self, stop: _Stop | None = None, *, at: int | None = None, close: bool = True) -> None:
        if self.done:
            return
        self.done = True
        if stop is not None:
            self.failure = stop.failure
        elif at is not None:
            self.points["total"] = at - self.start
        if close and self.phase != "dns":
            self.out.append(Close(self.token))

    # -- HTTP/1.1 ----------------------------------------------------------------------------

    def _h1_request(self) -> None:
        headers = self.options.headers
        if self.request_body:
            headers = (*headers, ("Content-Length", str(len(self.request_body))))
        request = http1.build_request(
            self.method, self.url.target, self.url.authority, headers, user_agent=user_agent()
        )
        self.out.append(Write(self.token, request + self.request_body))
        self.phase = "response"

    def _h1_head(self, chunk: bytes, at: int) -> None:
        if not chunk:
            if self.received:
                raise _fail("response", "closed-head", received=self.received)
            raise _fail("response", "closed-head-empty")
        if "starttransfer" not in self.points:
            self.points["starttransfer"] = at - self.start
        self.received += len(chunk)
        self.buf += chunk
        interim = self.informational
        while True:
            try:
                end = self.scanner.feed(self.buf)
                if end is None:
                    return
                head = http1.parse_head(self.buf[:end])
            except http1.ProtocolError as exc:
                raise _fail("response", "protocol", detail=str(exc)) from None
            del self.buf[:end]
            self.scanner = http1.HeadScanner()
            if 100 <= head.status < 200 and head.status != 101:
                interim.append(head.status)  # informational: the final response follows
                if len(interim) > MAX_INTERIM:
                    raise _fail("response", "interim", limit=MAX_INTERIM)
                continue
            break
        self.http_version = head.version
        self.status, self.reason, self.headers = head.status, head.reason, head.headers
        self.interim = tuple(interim)  # a response that never came shows none
        self.phase = "body"
        try:
            framing = http1.body_framing(self.method, head)
        except http1.ProtocolError as exc:
            raise _fail("response", "protocol", detail=str(exc)) from None
        self.framing = framing
        if framing.kind == "none":
            # Bytes after a head that has no content are content the server should not have
            # sent (RFC 9110 §9.3.2, §15.3.5, §15.4.5); count what arrived with the head.
            self.body_bytes = len(self.buf)
            self._end(at=at)
            return
        if self.max_body <= 0:  # only the head was wanted
            self.truncated = not (framing.kind == "length" and framing.length == 0)
            self._end(at=at)
            return
        self.decoder = http1.ChunkedDecoder() if framing.kind == "chunked" else None
        self.remaining = framing.length if framing.kind == "length" else None
        pending, self.buf = bytes(self.buf), bytearray()
        self._content(pending, at)

    def _h1_body(self, chunk: bytes, at: int) -> None:
        if not chunk:
            assert self.framing is not None
            if self.framing.kind == "close":
                self._end(at=at)
                return
            raise _fail("body", "closed-body", bytes=self.body_bytes)
        self.received += len(chunk)
        self._content(chunk, at)

    def _content(self, data: bytes, at: int) -> None:
        if data:
            try:
                data = self.decoder.feed(data) if self.decoder else data
            except http1.ProtocolError as exc:
                raise _fail("body", "chunked", detail=str(exc)) from None
            if self.remaining is not None:
                data = data[: self.remaining]
                self.remaining -= len(data)
            self._take(data)
            if self.truncated:
                self._end(at=at)
                return
        if (self.decoder and self.decoder.done) or self.remaining == 0:
            self._end(at=at)

    def _take(self, data: bytes) -> None:
        room = self.max_body - self.body_bytes
        if len(data) > room:
            data = data[: max(room, 0)]
            self.truncated = True
        self.body_bytes += len(data)
        keep = self.keep_body - len(self.kept)
        if keep > 0:
            self.kept += data[:keep]

    # -- HTTP/2 ------------------------------------------------------------------------------

    def _h2_request(self) -> None:
        import h2.config
        import h2.connection

        # Header bytes as bytes (no header_encoding): decoded as latin-1 below, as HTTP/1.1
        # fields are, so that no byte a server sends can fail to decode.
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        fields = [
            (":method", self.method),
            (":scheme", self.url.scheme),
            (":authority", self.url.authority),
            (":path", self.url.target),
            ("user-agent", user_agent()),
            ("accept", "*/*"),
        ]
        for name, value in self.options.headers:
            lname = name.lower()
            fields = [(k, v) for k, v in fields if k != lname]
            if value != "":
                fields.append((lname, value))
        conn.send_headers(
            1,
            [(k.encode(), v.encode("utf-8", "surrogateescape")) for k, v in fields],
            end_stream=not self.request_body,
        )
        if self.request_body:
            conn.send_data(1, self.request_body, end_stream=True)
        self.h2 = conn
        self.out.append(Write(self.token, conn.data_to_send()))
        self.phase = "response"

    def _h2_data(self, data: bytes, at: int) -> None:
        import h2.events
        import h2.exceptions

        if not data:
            raise _fail(self.phase, "h2-closed-head" if self.status is None else "h2-closed-body")
        self.received += len(data)
        if len(self.preface) < 9:
            self.preface += data[: 9 - len(self.preface)]
            if len(self.preface) == 9:
                _check_h2_preface(bytes(self.preface))
        if self.status is None:
            self.head_bytes += len(data)
            if self.head_bytes > http1.MAX_HEAD_BYTES:
                raise _fail("response", "h2-head", limit=http1.MAX_HEAD_BYTES // 1024)
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.H2Error as exc:
            raise _fail(self.phase, "h2-protocol", detail=str(exc)) from None
        except ValueError as exc:
            raise _fail(self.phase, "invalid", detail=str(exc)) from None
        finished = False
        for event in events:
            if isinstance(event, h2.events.ResponseReceived) and event.stream_id == 1:
                self.points["starttransfer"] = at - self.start
                headers = _h2_fields(event.headers)
                self.http_version = "HTTP/2"
                self.status = _h2_status(headers)
                self.headers = tuple((k, v) for k, v in headers if not k.startswith(":"))
                self.phase = "body"
                if self.max_body <= 0:  # only the head was wanted
                    self.truncated = not event.stream_ended
                    finished = True
            elif isinstance(event, h2.events.InformationalResponseReceived):
                self.interim += (_h2_status(_h2_fields(event.headers)),)
                if len(self.interim) > MAX_INTERIM:
                    raise _fail("response", "interim", limit=MAX_INTERIM)
            elif isinstance(event, h2.events.DataReceived) and event.stream_id == 1:
                self._take(event.data or b"")
                self.h2.acknowledge_received_data(event.flow_controlled_length, 1)
                if self.truncated:
                    finished = True
            elif isinstance(event, h2.events.StreamEnded) and event.stream_id == 1:
                finished = True
            elif isinstance(event, h2.events.StreamReset) and event.stream_id == 1:
                raise _fail(self.phase, "h2-reset", code=int(event.error_code or 0))
            elif isinstance(event, h2.events.ConnectionTerminated) and not finished:
                raise _fail(self.phase, "h2-goaway", code=int(event.error_code or 0))
        outgoing = self.h2.data_to_send()
        if outgoing:
            self.out.append(Write(self.token, outgoing))
        if finished:
            self._end(at=at)

    # -- the hop ----------------------------------------------------------------------------

    def hop(self) -> Hop:
        location = None
        if self.status is not None and 300 <= self.status < 400:
            raw = http1.field_value(self.headers, "Location")
            if raw and raw.strip():
                # None when unreadable: following it is then a failed redirect.
                location = join_location(self.url.text, wire_text(raw))
        findings: tuple[Finding, ...] = ()
        if self.failure is None and self.status is not None and self.options.lint:
            findings = lint(Exchange(self.method, self.status, self.headers, self.body_bytes))
        return Hop(
            url=self.url.text,
            method=self.method,
            address=self.address,
            http_version=self.http_version or None,
            status=self.status,
            reason=self.reason,
            headers=self.headers,
            interim=self.interim,
            location=location,
            body_bytes=self.body_bytes,
            body_truncated=self.truncated,
            timings=Timings.from_ns(self.points),
            tls=self.tls,
            lint=findings,
            error=self.failure,
            body=bytes(self.kept) if self.keep_body > 0 else None,
            local=self.local,
        )


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
        raise _fail("response", "h2-status", status=status[:20])
    return int(status)


def _check_h2_preface(first: bytes) -> None:
    """RFC 9113 §3.4: the server's preface is a SETTINGS frame (type 0x4) of a sane length.

    h2 waits for a whole frame before it checks its length, so bytes that are not HTTP/2 would
    otherwise leave us waiting for a multi-megabyte "frame" until the timeout."""
    length, kind = int.from_bytes(first[:3], "big"), first[3]
    if kind != 0x4 or length > 16384 or length % 6:
        raise _fail("response", "h2-preface", first=first)


class HttpSession(Session[HttpCheck]):
    """The whole check: the request, the redirects it follows (`options.follow`), --lint's
    GET, then the verdict — status against `expect`, phases against `slo`.  Each completed
    hop is an event (a `Hop`), so a caller can show the hops of an interrupted check.

    `url` is `options.url` parsed (`l7.client.parse_url`); `version` keeps every lookup to one
    IP version (myip's -4/-6)."""

    def __init__(self, options: HttpOptions, url: Url, *, version: int | None = None) -> None:
        self.options = options
        self.first = url
        self.version = version
        self.tokens = 0
        self.hops: list[Hop] = []
        self.seen: list[str] = []
        self.method = options.method
        self.current: _Exchange | None = None
        self.checking: _Exchange | None = None  # --lint's GET
        self.follow: Url | None = None  # the redirect to follow on the next poll
        self.events: list[Hop] = []
        self.error: Failure | None = None
        self.unchecked: LintUnchecked | None = None
        self.started = 0
        self.deadline = 0
        self.outcome: HttpCheck | None = None
        self.interrupted = False

    def start(self, now: int) -> None:
        self.started = now
        self.deadline = now + round(self.options.timeout * NS)
        self.current = self._exchange(self.first, self.method, now, self.deadline)

    def _exchange(
        self, url: Url, method: str, now: int, deadline: int, *, head_only: bool = False
    ) -> _Exchange:
        o = self.options
        self.tokens += 1
        # A request turned into GET by a redirect leaves its content behind.
        body = o.body if method == o.method else b""
        exchange = _Exchange(
            self.tokens,
            url,
            o,
            method,
            body,
            0 if head_only else o.max_body,
            0 if head_only else o.keep_body,
            now,
            deadline,
            self.version,
        )
        exchange.begin()
        return exchange

    # -- the driver's answers, routed to the exchange they belong to ---------------------------

    def _live(self, token: int) -> _Exchange | None:
        for exchange in (self.current, self.checking):
            if exchange is not None and exchange.token == token and not exchange.done:
                return exchange
        return None

    def on_lookup(self, token: int, answer: Target | ResolveError, at: int) -> None:
        if (exchange := self._live(token)) is not None:
            exchange.looked_up(answer, at)

    def on_connect(self, token: int, outcome: ConnectOutcome) -> None:
        if (exchange := self._live(token)) is not None:
            exchange.connected(outcome)

    def on_tls(self, token: int, outcome: TlsOutcome) -> None:
        if (exchange := self._live(token)) is not None:
            exchange.handshaken(outcome)

    def on_data(self, token: int, data: bytes, at: int) -> None:
        if (exchange := self._live(token)) is not None:
            exchange.data(data, at)

    def on_error(self, token: int, error: int, at: int) -> None:
        if (exchange := self._live(token)) is not None:
            exchange.failed(error)

    def progress(self) -> tuple[str, str, str | None, bool, int, tuple[str, int] | None]:
        """Where the check got to (myip says it of an unfinished echo): the phase of its
        latest request, the host it asked for, the address it looked up (None before), whether
        it is connected to it, the port, and our end of the connection."""
        exchange = self.checking or self.current
        assert exchange is not None
        address = exchange.server.split("%", 1)[0] if exchange.server else None
        connected = "connect" in exchange.points
        return exchange.phase, exchange.host, address, connected, exchange.url.port, exchange.local

    def interrupt(self) -> None:
        self.interrupted = True
        for exchange in (self.current, self.checking):
            if exchange is not None:
                exchange.interrupt()

    # -- the check ----------------------------------------------------------------------------

    def poll(self, now: int) -> Step:
        actions: list[Action] = []
        if self.follow is not None:
            self.current = self._exchange(self.follow, self.method, now, self.deadline)
            self.follow = None
        while self.outcome is None:
            exchange = self.checking or self.current
            assert exchange is not None
            exchange.poll(now)
            actions += exchange.out
            exchange.out = []
            if not exchange.done:
                break
            if exchange is self.checking:
                self._compared(exchange, now)
            else:
                self._hop_done(exchange, now)
                if self.follow is not None:
                    # The hop is an event of this step; the redirect's request starts on the
                    # next poll, after the caller heard of it (serve's allowlist may refuse
                    # the target before anything — even a lookup — goes its way).
                    break
        events, self.events = self.events, []
        wake = None
        if self.follow is not None:
            wake = now
        elif self.outcome is None:
            live = self.checking or self.current
            wake = live.deadline if live is not None else None
        return Step(actions, wake, events, self.outcome is not None)

    def _hop_done(self, exchange: _Exchange, now: int) -> None:
        o = self.options
        hop = exchange.hop()
        self.hops.append(hop)
        self.events.append(hop)
        self.seen.append(exchange.url.text)
        if hop.error is not None:
            self._finish(now, hop.error)
            return
        raw_location = (hop.header("Location") or "").strip()
        if not (o.follow and raw_location and hop.status in (301, 302, 303, 307, 308)):
            self._after_last(now)
            return
        if len(self.hops) > o.max_redirs:
            self._finish(now, Failure("redirect", "too-many", None, (("limit", o.max_redirs),)))
            return
        try:
            # A Location that would not even join (hop.location None) fails here the same
            # way, with parse_url's reason.
            nxt = parse_url(hop.location or wire_text(raw_location))
        except ValueError as exc:
            # A bad redirect target is the server's fault, a result of the check (curl:
            # "The redirect target URL could not be parsed", exit 3).
            self._finish(now, Failure("redirect", "bad-target", None, (("detail", str(exc)),)))
            return
        if nxt.text in self.seen:
            chain = (*self.seen[self.seen.index(nxt.text) :], nxt.text)
            self._finish(now, Failure("redirect", "loop", None, (("chain", chain),)))
            return
        # RFC 9110 §15.4.4: 303 turns anything but HEAD into GET; 301/302 turn POST into GET
        # (what browsers and curl do).
        if (hop.status == 303 and self.method != "HEAD") or (
            hop.status in (301, 302) and self.method == "POST"
        ):
            self.method = "GET"
        self.follow = nxt

    def _after_last(self, now: int) -> None:
        final = self.hops[-1]
        if self.options.strict_lint and final.method == "HEAD" and final.status is not None:
            # Only the GET's head is compared: max_body=0 stops after it, so an endless or
            # slow body cannot keep the comparison from finishing.
            self.checking = self._exchange(
                parse_url(final.url),
                "GET",
                now,
                max(self.deadline, now + LINT_GET_GRACE),
                head_only=True,
            )
            return
        self._finish(now, None)

    def _compared(self, exchange: _Exchange, now: int) -> None:
        get = exchange.hop()
        final = self.hops[-1]
        if get.error is None and get.status is not None:
            assert final.status is not None
            findings = lint(
                Exchange(
                    "HEAD", final.status, final.headers, final.body_bytes, get.status, get.headers
                )
            )
            self.hops[-1] = replace(final, lint=findings)
        else:
            self.unchecked = LintUnchecked("get-failed", get.error)
        self.checking = None
        self._finish(now, None)

    def _finish(self, now: int, error: Failure | None) -> None:
        o = self.options
        hops = tuple(self.hops)
        final = hops[-1]
        unchecked = self.unchecked
        if (
            error is not None
            and o.strict_lint
            and final.method == "HEAD"
            and final.status is not None
            and final.error is None
        ):
            unchecked = LintUnchecked("stopped", error)
        if error is None:
            total = sum(h.timings.total or 0.0 for h in hops)
        else:
            total = (now - self.started) / NS
        redirect = sum(h.timings.total or 0.0 for h in hops[:-1])
        status_ok = final.status is not None and any(
            lo <= final.status <= hi for lo, hi in o.expect
        )
        violations = _slo_violations(o.slo, final.timings, total) if error is None else ()
        lint_failed = o.strict_lint and any(f.failing for f in final.lint)
        self.outcome = HttpCheck(
            url=hops[0].url,
            method=o.method,
            hops=hops,
            expect_ranges=o.expect,
            status_expected=status_ok,
            slo_violations=violations,
            error=error,
            total=total,
            redirect=redirect,
            ok=error is None and status_ok and not violations and not lint_failed,
            lint_unchecked=unchecked,
        )

    def result(self) -> HttpCheck:
        if self.outcome is not None:
            return self.outcome
        # Interrupted: the hops completed so far.
        return HttpCheck(
            url=self.hops[0].url if self.hops else self.first.text,
            method=self.options.method,
            hops=tuple(self.hops),
            expect_ranges=self.options.expect,
            status_expected=False,
            slo_violations=(),
            error=None,
            total=sum(h.timings.total or 0.0 for h in self.hops),
            redirect=0.0,
            ok=False,
            interrupted=True,
        )


def _slo_violations(
    slo: Sequence[tuple[str, float]], timings: Timings, total: float
) -> tuple[SloViolation, ...]:
    out = []
    for key, limit in slo:
        actual = total if key == "total" else getattr(timings, SLO_KEYS[key])
        if actual is not None and actual > limit:
            out.append(SloViolation(key, limit, actual))
    return tuple(out)
