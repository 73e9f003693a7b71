"""proto/http1.py, the HTTP/1.1 framing codec: heads, limits, framing and chunked content,
as tables of bytes."""

from __future__ import annotations

import pytest

from netladder.proto import http1
from netladder.proto.http1 import ChunkedDecoder, Framing, ProtocolError


def test_a_request_head_looks_like_curls_and_caller_fields_replace_defaults() -> None:
    raw = http1.build_request(
        "HEAD",
        "/x?y=1",
        "www.lab.test:8080",
        [("Accept", "text/html"), ("User-Agent", ""), ("X-A", "1")],
    )
    lines = raw.decode().split("\r\n")
    assert lines[0] == "HEAD /x?y=1 HTTP/1.1"
    assert lines[1] == "Host: www.lab.test:8080"
    assert "Accept: text/html" in lines and "Accept: */*" not in lines
    assert not any(line.startswith("User-Agent") for line in lines)
    assert raw.endswith(b"X-A: 1\r\n\r\n")


@pytest.mark.parametrize(
    ("raw", "status", "reason", "headers"),
    [
        (b"HTTP/1.1 200 OK\r\nA: 1\r\nB:  two \r\n\r\n", 200, "OK", (("A", "1"), ("B", "two"))),
        (b"HTTP/1.0 404 Not Found\n\n", 404, "Not Found", ()),
        (b"HTTP/1.1 204\r\n\r\n", 204, "", ()),
        (b"HTTP/1.1 200 OK\r\nA: 1\r\n  continued\r\n\r\n", 200, "OK", (("A", "1 continued"),)),
    ],
)
def test_valid_heads_parse(
    raw: bytes, status: int, reason: str, headers: tuple[tuple[str, str], ...]
) -> None:
    assert http1.find_head_end(raw) == len(raw)
    head = http1.parse_head(raw)
    assert (head.status, head.reason, head.headers) == (status, reason, headers)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"HTTP/1.1 TWO-HUNDRED OK\r\n\r\n", "invalid status line"),
        (b"HTTP/2 200\r\n\r\n", "invalid status line"),
        (b"HTTP/1.2 200 OK\r\n\r\n", "unsupported HTTP version 1.2"),  # curl: exit 1
        (b"HTTP/2.0 200 OK\r\n\r\n", "unsupported HTTP version 2.0"),
        (b"HTTP/1.1 999 Nope\r\n\r\n", "outside 100..599"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "invalid header line"),
        (b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", "invalid header line"),
        (b"HTTP/1.1 200 OK\r\n folded-first\r\n\r\n", "continuation"),
        (b"SSH-2.0-OpenSSH_9.2\r\nGET / HTTP/1.1\r\n\r\n", "not an HTTP response"),
    ],
)
def test_invalid_heads_are_refused_with_the_reason(raw: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        http1.parse_head(raw)


@pytest.mark.parametrize(
    ("partial", "message"),
    [
        (b"HTTP/1.1 200 OK\r\nX: " + b"a" * (http1.MAX_LINE_BYTES + 1), "longer than 64 KiB"),
        (b"HTTP/1.1 200 OK\r\n" + b"X: 1\r\n" * (http1.MAX_FIELDS + 5), "more than 200"),
        (b"SSH-2.0-OpenSSH_9.2\r\n", "not an HTTP response"),
    ],
)
def test_hostile_heads_are_refused_before_they_end(partial: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        http1.find_head_end(partial)


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\nA: 1\r\nB:  two \r\n\r\nbody",
        b"HTTP/1.0 404 Not Found\n\n",
        b"HTTP/1.1 200 OK\r\nX: " + b"a" * (http1.MAX_LINE_BYTES + 1),
        b"HTTP/1.1 200 OK\r\n" + b"X: 1\r\n" * (http1.MAX_FIELDS + 5),
        b"HTTP/1.1 200 OK\r\n" + (b"X: " + b"a" * 60000 + b"\r\n") * 5,
        b"SSH-2.0-OpenSSH_9.2\r\n",
    ],
)
def test_the_incremental_scanner_agrees_with_one_look_at_the_whole(raw: bytes) -> None:
    # Fed a byte at a time (a drip), it gives the same end or the same error, and it only
    # looks at the new bytes each time (this loop would take minutes otherwise).
    try:
        whole: int | str | None = http1.find_head_end(raw)
    except ProtocolError as exc:
        whole = str(exc)
    scanner, buf = http1.HeadScanner(), bytearray()
    got: int | str | None = None
    for i in range(len(raw)):
        buf += raw[i : i + 1]
        try:
            got = scanner.feed(buf)
        except ProtocolError as exc:
            got = str(exc)
        if got is not None:
            break
    if isinstance(whole, str) and isinstance(got, str):  # "starts with" quotes what it has
        whole, got = whole.split(": starts with")[0], got.split(": starts with")[0]
    assert got == whole


def test_an_unfinished_head_asks_for_more() -> None:
    assert http1.find_head_end(b"HTTP/1.1 200 OK\r\nA: 1\r\n") is None
    assert http1.find_head_end(b"HTT") is None


def _head(raw: bytes) -> http1.ResponseHead:
    return http1.parse_head(raw)


@pytest.mark.parametrize(
    ("method", "raw", "framing"),
    [
        ("HEAD", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", Framing("none")),
        ("GET", b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", Framing("none")),
        ("GET", b"HTTP/1.1 304 Not Modified\r\n\r\n", Framing("none")),
        ("GET", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", Framing("length", 5)),
        ("GET", b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n", Framing("length", 5)),
        (
            "GET",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 5\r\n\r\n",
            Framing("chunked"),
        ),
        ("GET", b"HTTP/1.1 200 OK\r\n\r\n", Framing("close")),
    ],
)
def test_body_framing_follows_rfc_9112_section_6_3(
    method: str, raw: bytes, framing: Framing
) -> None:
    assert http1.body_framing(method, _head(raw)) == framing


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    ],
)
def test_bad_content_length_is_a_protocol_error(raw: bytes) -> None:
    with pytest.raises(ProtocolError):
        http1.body_framing("GET", _head(raw))


def test_chunked_content_decodes_across_any_split() -> None:
    wire = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n"
    for split in range(1, len(wire)):
        decoder = ChunkedDecoder()
        out = decoder.feed(wire[:split]) + decoder.feed(wire[split:])
        assert out == b"hello world" and decoder.done, split


@pytest.mark.parametrize(
    "wire",
    [
        b"zz\r\n",
        b"3\r\nabcdef\r\n",
        b"1" * 2000,
        # int(x, 16) takes each of these; RFC 9112 §7.1's chunk-size = 1*HEXDIG does not
        b"0x5\r\nhello\r\n",
        b"+5\r\nhello\r\n",
        b"1_0\r\n",
        b" 5\r\nhello\r\n",
        b"-0\r\n",
        b"\xd9\xa5\r\n",
        b"1" * 17 + b"\r\n",
    ],
)
def test_bad_chunks_are_protocol_errors(wire: bytes) -> None:
    with pytest.raises(ProtocolError):
        ChunkedDecoder().feed(wire)


def test_a_chunk_size_may_carry_whitespace_and_extensions_after_it() -> None:
    decoder = ChunkedDecoder()
    assert decoder.feed(b"5 ;name=value\r\nhello\r\n0000000000000000000\r\n\r\n") == b"hello"
    assert decoder.done


# b"\xb2" reads as '²' (latin-1), which str.isdigit() takes and int() refuses
@pytest.mark.parametrize("value", ["\u00b2", "+5", "5 5", "0x5", "1" * 20])
def test_a_content_length_is_ascii_digits_only(value: str) -> None:
    raw = f"HTTP/1.1 200 OK\r\nContent-Length: {value}\r\n\r\n".encode("latin-1")
    with pytest.raises(ProtocolError, match="invalid Content-Length"):
        http1.body_framing("GET", _head(raw))


def test_a_request_head_carries_field_values_as_the_user_typed_them() -> None:
    # curl sends argv's bytes: UTF-8, or whatever undecodable bytes it was given.
    raw = http1.build_request("GET", "/", "h", [("X-A", "caf\u00e9"), ("X-B", "\udcff")])
    assert b"X-A: caf\xc3\xa9\r\n" in raw and b"X-B: \xff\r\n" in raw


def test_a_probe_keeps_its_exact_bytes() -> None:
    # port --banner's HEAD/1.0 (no Accept) and forward verify's Host-less GET/1.0: the one
    # request builder reproduces both, byte for byte.
    banner = http1.build_request("HEAD", "/", "www.lab", [("Accept", "")], version="HTTP/1.0")
    assert banner == b"HEAD / HTTP/1.0\r\nHost: www.lab\r\nUser-Agent: netladder\r\n\r\n"
    verify = http1.build_request(
        "GET", "/", "", [("Host", ""), ("Accept", "")], version="HTTP/1.0",
        user_agent="netladder-verify",
    )  # fmt: skip
    assert verify == b"GET / HTTP/1.0\r\nUser-Agent: netladder-verify\r\n\r\n"
