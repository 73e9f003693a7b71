"""HTTP/1.1 message framing as a pure codec (RFC 9112): build a request, find and parse a
response head within hard limits, decide the body framing, decode chunked content.

No sockets here: bytes in, frozen records out, `ProtocolError` for anything malformed or
beyond the limits, so a hostile server's bytes can be tested as tables.  Both sides use it: the
HTTP check (`l7/session.py`), myip's echo requests, and `netladder serve`'s request side.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from netladder.proto.record import record

__all__ = [
    "MAX_FIELDS",
    "MAX_HEAD_BYTES",
    "MAX_LINE_BYTES",
    "ChunkedDecoder",
    "Framing",
    "HeadScanner",
    "ProtocolError",
    "ResponseHead",
    "body_framing",
    "RequestHead",
    "build_request",
    "build_response",
    "content_length",
    "field_value",
    "find_head_end",
    "is_token",
    "parse_head",
    "parse_request_head",
    "request_body_length",
]

# Limits on what we accept from a server.  curl allows 100 KiB per header line and 300 KiB in
# all (CURL_MAX_HTTP_HEADER); we stay in that neighbourhood.
MAX_LINE_BYTES = 64 * 1024
MAX_HEAD_BYTES = 256 * 1024
MAX_FIELDS = 200
MAX_CHUNK_LINE = 1024

_TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")  # \Z: $ would take a trailing newline
_STATUS_LINE = re.compile(rb"^HTTP/(\d)\.(\d) (\d{3})(?: ([^\r\n]*))?$")
_DIGITS = re.compile(r"^[0-9]{1,19}\Z")  # a Content-Length (and at most 10**19 - 1)
# RFC 9112 §7.1: chunk-size = 1*HEXDIG, then optional BWS and chunk extensions.  int(x, 16)
# would also take "0x10", "+5", "1_0" and spaces, which a strict reader refuses.
_CHUNK_SIZE = re.compile(rb"^([0-9A-Fa-f]+)[ \t]*(?:;.*)?\Z")
MAX_CHUNK_DIGITS = 16


def is_token(text: str) -> bool:
    """RFC 9110 §5.6.2 token (a field name, a method): ASCII tchars only."""
    return text.isascii() and _TOKEN.match(text.encode("ascii")) is not None


class ProtocolError(ValueError):
    """The server's bytes are not a valid HTTP/1.x response (or exceed a limit)."""


@record
class ResponseHead:
    version: str  # "HTTP/1.1"
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    size: int  # bytes of the head including the blank line

    def get(self, name: str) -> str | None:
        return field_value(self.headers, name)

    def get_all(self, name: str) -> list[str]:
        return _get_all(self.headers, name)


@record
class Framing:
    """How the response content is delimited (RFC 9112 §6.3)."""

    kind: str  # "none" | "length" | "chunked" | "close"
    length: int = 0


def build_request(
    method: str,
    target: str,
    authority: str,
    headers: Sequence[tuple[str, str]] = (),
    *,
    version: str = "HTTP/1.1",
    user_agent: str = "netladder",
) -> bytes:
    """A request head as curl sends it: Host, User-Agent, Accept, then the caller's fields.

    A caller's field replaces the default of the same name; an empty value removes it (so a
    probe that must not send Host, or sends HTTP/1.0, keeps its exact bytes).
    """
    fields: list[tuple[str, str]] = [
        ("Host", authority),
        ("User-Agent", user_agent),
        ("Accept", "*/*"),
    ]
    for name, value in headers:
        fields = [(k, v) for k, v in fields if k.lower() != name.lower()]
        if value != "":
            fields.append((name, value))
    lines = [f"{method} {target} {version}"] + [f"{k}: {v}" for k, v in fields]
    # Field values as the bytes the user typed (UTF-8, or the raw bytes of an undecodable
    # argument), as curl sends its argv; the request line and Host are ASCII (parse_url).
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")


def find_head_end(buf: bytes | bytearray, start: int = 0) -> int | None:
    """The index just past the blank line ending the head, or None if more bytes are needed.

    Raises ProtocolError as soon as the bytes so far break a limit, so an endless or enormous
    head is refused without waiting for its end.
    """
    return HeadScanner(start).feed(buf)


class HeadScanner:
    """find_head_end over a buffer that grows between calls, looking only at the new bytes:
    a head that trickles in a few bytes per read costs its length, not its length squared."""

    def __init__(
        self, start: int = 0, *, request: bool = False, max_head: int = MAX_HEAD_BYTES
    ) -> None:
        self._max_head = max_head
        self._request = request  # scanning a request head (serve's side), not a response
        self._what = "request" if request else "response"
        self._start = start
        self._pos = start  # bytes before this were looked at by an earlier feed
        self._line_start = start  # where the unfinished line began
        self._newlines = 0

    def feed(self, buf: bytes | bytearray) -> int | None:
        """`buf` is everything received so far (the same buffer, grown)."""
        search = max(self._pos - 3, self._start)  # a terminator may straddle the old end
        crlf = buf.find(b"\r\n\r\n", search)
        lf = buf.find(b"\n\n", search)  # RFC 9112 §2.2: a recipient MAY accept a bare LF
        candidates = [i + 4 for i in (crlf,) if i >= 0] + [i + 2 for i in (lf,) if i >= 0]
        stop = min(candidates) if candidates else None
        end = stop if stop is not None else len(buf)
        if end - self._start > self._max_head:
            raise ProtocolError(f"{self._what} head larger than {self._max_head // 1024} KiB")
        i = self._pos
        while (nl := buf.find(b"\n", i, end)) >= 0:
            if nl - self._line_start > MAX_LINE_BYTES:
                break
            self._newlines += 1
            if self._newlines > MAX_FIELDS + 1:
                raise ProtocolError(f"more than {MAX_FIELDS} {self._what} header fields")
            self._line_start = i = nl + 1
        # The longest line so far, including an unfinished last line.
        line_end = nl if nl >= 0 else end
        if line_end - self._line_start > MAX_LINE_BYTES:
            raise ProtocolError(
                f"{self._what} header line longer than {MAX_LINE_BYTES // 1024} KiB"
            )
        self._pos = end
        if (
            not self._request
            and stop is None
            and len(buf) - self._start >= 5
            and not bytes(buf[self._start : self._start + 5]).startswith(b"HTTP/")
        ):
            raise ProtocolError(
                f"not an HTTP response: starts with {bytes(buf[self._start : self._start + 20])!r}"
            )
        return stop


def parse_head(raw: bytes | bytearray) -> ResponseHead:
    """Parse a complete response head (status line, fields, blank line)."""
    data = bytes(raw)
    lines = data.replace(b"\r\n", b"\n").split(b"\n")
    while lines and lines[-1] == b"":
        lines.pop()
    if not lines:
        raise ProtocolError("empty response")
    if not lines[0].startswith(b"HTTP/"):
        raise ProtocolError(f"not an HTTP response: starts with {bytes(lines[0][:20])!r}")
    m = _STATUS_LINE.match(lines[0])
    if not m:
        raise ProtocolError(f"invalid status line: {_show(lines[0])}")
    major, minor, code = int(m.group(1)), int(m.group(2)), int(m.group(3))
    # RFC 9112 §2.3 lets a recipient read 1.2 as 1.1; curl refuses any version but 1.0 and 1.1
    # ("Unsupported HTTP version (1.2) in response", exit 1), and so do we: the anchor's verdict.
    if (major, minor) not in ((1, 0), (1, 1)):
        raise ProtocolError(f"unsupported HTTP version {major}.{minor} in the status line")
    if not 100 <= code <= 599:
        raise ProtocolError(f"status code {code} is outside 100..599")
    reason = (m.group(4) or b"").decode("latin-1")
    headers = _fields(lines[1:], "response", folding=True)
    return ResponseHead(f"HTTP/{major}.{minor}", code, reason, headers, len(data))


def _fields(lines: Sequence[bytes], what: str, *, folding: bool) -> tuple[tuple[str, str], ...]:
    """The header fields of a head (RFC 9112 §5): `name: value`, the name a token."""
    headers: list[tuple[str, str]] = []
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            # RFC 9112 §5.2: obsolete line folding.  A user agent replaces it with a space; a
            # server MUST either reject it or do the same, and serve rejects it.
            if not folding:
                raise ProtocolError("header continuation line (obsolete line folding)")
            if not headers:
                raise ProtocolError("header continuation line before any field")
            prev_name, prev_value = headers[-1]
            headers[-1] = (prev_name, f"{prev_value} {line.strip().decode('latin-1')}")
            continue
        raw_name, sep, raw_value = line.partition(b":")
        if not sep or not _TOKEN.match(raw_name):
            raise ProtocolError(f"invalid header line: {_show(line)}")
        headers.append((raw_name.decode("ascii"), raw_value.strip(b" \t").decode("latin-1")))
    if len(headers) > MAX_FIELDS:
        raise ProtocolError(f"more than {MAX_FIELDS} {what} header fields")
    return tuple(headers)


# -- the request side (netladder serve) ------------------------------------------------------------

_REQUEST_LINE = re.compile(rb"^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+) HTTP/(\d)\.(\d)\Z")


@record
class RequestHead:
    method: str
    target: str  # the request-target as sent (origin-form for serve: `/probe?target=…`)
    version: str  # "HTTP/1.1"
    headers: tuple[tuple[str, str], ...]
    size: int

    def get(self, name: str) -> str | None:
        return field_value(self.headers, name)

    def get_all(self, name: str) -> list[str]:
        return _get_all(self.headers, name)

    @property
    def keep_alive(self) -> bool:
        """RFC 9112 §9.3: HTTP/1.1 persists unless `close`; HTTP/1.0 only with keep-alive."""
        tokens = {t.strip().lower() for v in self.get_all("Connection") for t in v.split(",")}
        if self.version == "HTTP/1.1":
            return "close" not in tokens
        return "keep-alive" in tokens


def parse_request_head(raw: bytes | bytearray) -> RequestHead:
    """Parse a complete request head (request line, fields, blank line), as a server must:
    RFC 9112 §2.2 lets it skip one leading empty line; obsolete line folding is refused
    (§5.2); the request-target must be visible ASCII (§3.2)."""
    data = bytes(raw)
    lines = data.replace(b"\r\n", b"\n").split(b"\n")
    if lines and lines[0] == b"":
        lines.pop(0)
    while lines and lines[-1] == b"":
        lines.pop()
    if not lines:
        raise ProtocolError("empty request")
    m = _REQUEST_LINE.match(lines[0])
    if not m:
        raise ProtocolError(f"invalid request line: {_show(lines[0])}")
    major, minor = int(m.group(3)), int(m.group(4))
    if major != 1:
        raise ProtocolError(f"unsupported HTTP version {major}.{minor}")
    target = m.group(2)
    if not all(0x21 <= b <= 0x7E for b in target):
        raise ProtocolError(f"invalid request-target: {_show(target)}")
    headers = _fields(lines[1:], "request", folding=False)
    return RequestHead(
        m.group(1).decode("ascii"), target.decode("ascii"), f"HTTP/1.{minor}", headers, len(data)
    )


def request_body_length(head: RequestHead) -> int:
    """RFC 9112 §6.3 for a request: no Transfer-Encoding and no Content-Length means no content.
    A chunked request body is a ProtocolError here (serve takes no streamed uploads)."""
    if head.get_all("Transfer-Encoding"):
        raise ProtocolError("Transfer-Encoding in a request is not supported")
    length = content_length(head)
    return 0 if length is None else length


def build_response(
    status: int,
    reason: str,
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    *,
    head_only: bool = False,
) -> bytes:
    """A response head and its content, framed by Content-Length (RFC 9112 §6.2); for HEAD
    the same head without the content (RFC 9110 §9.3.2)."""
    fields = [(k, v) for k, v in headers if k.lower() != "content-length"]
    if not (100 <= status < 200 or status in (204, 304)):
        fields.append(("Content-Length", str(len(body))))
    lines = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in fields]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if head_only else head + body


def field_value(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    """The first value of a field, its name compared case-insensitively (RFC 9110 §5.1)."""
    lname = name.lower()
    for k, v in headers:
        if k.lower() == lname:
            return v
    return None


def _get_all(headers: Sequence[tuple[str, str]], name: str) -> list[str]:
    lname = name.lower()
    return [v for k, v in headers if k.lower() == lname]


def body_framing(method: str, head: ResponseHead) -> Framing:
    """RFC 9112 §6.3, in its order: no content for HEAD, 1xx, 204, 304; then chunked; then
    Content-Length (all values must agree); else the content runs to the connection's close."""
    if method == "HEAD" or head.status < 200 or head.status in (204, 304):
        return Framing("none")
    te = ",".join(head.get_all("Transfer-Encoding")).lower()
    if te:
        codings = [c.strip() for c in te.split(",") if c.strip()]
        if codings and codings[-1] == "chunked":
            return Framing("chunked")
        return Framing("close")
    length = content_length(head)
    return Framing("close") if length is None else Framing("length", length)


def content_length(head: ResponseHead | RequestHead) -> int | None:
    """The one Content-Length of a head (RFC 9110 §8.6: 1*DIGIT; copies, also as a list, must
    agree — RFC 9112 §6.3 item 5), None without one; ProtocolError when it is invalid."""
    lengths = {v.strip() for value in head.get_all("Content-Length") for v in value.split(",")}
    if not lengths:
        return None
    if len(lengths) != 1:
        shown = ", ".join(repr(v) for v in sorted(lengths)[:4])
        raise ProtocolError(f"conflicting Content-Length values: {shown}")
    value = lengths.pop()
    # ASCII digits only (str.isdigit() also takes '²' and '٥'), and few enough that int()
    # cannot refuse them.
    if not _DIGITS.match(value):
        raise ProtocolError(f"invalid Content-Length: {value[:40]!r}")
    return int(value)


class ChunkedDecoder:
    """Incremental chunked-coding decoder (RFC 9112 §7.1) that counts content bytes.

    `feed` returns the content bytes found in the data given; `done` is set after the last
    chunk and its trailer section.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._remaining = 0  # content bytes left in the current chunk
        self._state = "size"  # size | data | crlf | trailer
        self.done = False

    def feed(self, data: bytes) -> bytes:
        self._buf += data
        out = bytearray()
        while not self.done:
            if self._state == "size":
                nl = self._buf.find(b"\n")
                if nl < 0:
                    if len(self._buf) > MAX_CHUNK_LINE:
                        raise ProtocolError("chunk size line too long")
                    break
                line = bytes(self._buf[:nl]).rstrip(b"\r")
                del self._buf[: nl + 1]
                m = _CHUNK_SIZE.match(line)
                if not m:
                    raise ProtocolError(f"invalid chunk size {_show(line)}")
                if len(m.group(1).lstrip(b"0")) > MAX_CHUNK_DIGITS:
                    raise ProtocolError(f"chunk size {_show(m.group(1))} is too large")
                size = int(m.group(1), 16)
                self._remaining = size
                self._state = "data" if size else "trailer"
            elif self._state == "data":
                take = min(self._remaining, len(self._buf))
                if take == 0:
                    break
                out += self._buf[:take]
                del self._buf[:take]
                self._remaining -= take
                if self._remaining == 0:
                    self._state = "crlf"
            elif self._state == "crlf":
                nl = self._buf.find(b"\n")
                if nl < 0:
                    if len(self._buf) > 2:
                        raise ProtocolError("chunk data longer than its size")
                    break
                if self._buf[:nl].strip(b"\r"):
                    raise ProtocolError("chunk data longer than its size")
                del self._buf[: nl + 1]
                self._state = "size"
            else:  # trailer section: lines until an empty one
                nl = self._buf.find(b"\n")
                if nl < 0:
                    if len(self._buf) > MAX_LINE_BYTES:
                        raise ProtocolError("trailer line too long")
                    break
                line = bytes(self._buf[:nl]).rstrip(b"\r")
                del self._buf[: nl + 1]
                if not line:
                    self.done = True
        return bytes(out)


def _show(line: bytes, limit: int = 60) -> str:
    text = repr(line[:limit])
    return text + ("…" if len(line) > limit else "")
