"""The TCP SYN codec: checksums, SYN segments, and parsing what comes back (tables of bytes)."""

from __future__ import annotations

import socket
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netladder.proto.inet import checksum, pseudo_header
from netladder.proto.tcp import (
    ACK,
    HEAD,
    RST,
    SYN,
    build_syn,
    parse_icmp4_error,
    parse_icmp6_error,
    parse_tcp,
    strip_ipv4,
)

V4_SRC, V4_DST = socket.inet_aton("203.0.113.2"), socket.inet_aton("198.51.100.10")
V6_SRC = socket.inet_pton(socket.AF_INET6, "2001:db8:1::2")
V6_DST = socket.inet_pton(socket.AF_INET6, "2001:db8:3::2")


def reference_checksum(data: bytes) -> int:
    """RFC 1071 the slow, obvious way: big-endian words, fold, complement."""
    if len(data) % 2:
        data += b"\0"
    total = 0
    for (word,) in struct.iter_unpack("!H", data):
        total += word
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00",
        b"\xff",
        b"\x45\x00\x00\x1c",
        b"\x01\x02\x03",
        bytes(range(256)),
        # RFC 1071 §3 example bytes
        bytes.fromhex("0001f203f4f5f6f7"),
    ],
)
def test_checksum_matches_the_rfc_1071_definition(data: bytes) -> None:
    assert checksum(data) == reference_checksum(data)


@given(st.binary(max_size=200))
def test_checksum_matches_the_definition_for_any_bytes(data: bytes) -> None:
    assert checksum(data) == reference_checksum(data)


def test_rfc_1071_worked_example_sums_to_ddf2() -> None:
    # RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum (with end-around carry) to ddf2.
    assert checksum(bytes.fromhex("0001f203f4f5f6f7")) == ~0xDDF2 & 0xFFFF


@pytest.mark.parametrize(("src", "dst"), [(V4_SRC, V4_DST), (V6_SRC, V6_DST)])
def test_a_syn_carries_ports_seq_flags_and_a_valid_checksum(src: bytes, dst: bytes) -> None:
    segment = build_syn(src, dst, 40000, 22, 0xDEADBEEF)
    assert len(segment) == 24  # 20 bytes of header and the 4-byte MSS option
    sport, dport, seq, ack, offset, flags, window = struct.unpack_from("!HHIIBBH", segment)
    assert (sport, dport, seq, ack, offset >> 4, flags, window) == (
        40000,
        22,
        0xDEADBEEF,
        0,
        6,
        SYN,
        1024,
    )
    assert segment[20:24] == b"\x02\x04\x05\xb4"  # MSS 1460
    # A receiver's check: the checksum over pseudo-header + segment comes out as zero.
    assert checksum(pseudo_header(src, dst, len(segment), 6) + segment) == 0


@pytest.mark.parametrize(("src", "dst"), [(V4_SRC, V4_DST), (V6_SRC, V6_DST)])
def test_a_traces_syn_is_a_bare_header_with_traceroutes_window(src: bytes, dst: bytes) -> None:
    segment = build_syn(src, dst, 40000, 80, 0x1_0000_0007, window=64240, mss=None)
    assert len(segment) == 20
    sport, dport, seq, ack, offset, flags, window = struct.unpack_from("!HHIIBBH", segment)
    assert (sport, dport, seq, ack, offset >> 4, flags, window) == (40000, 80, 7, 0, 5, SYN, 64240)
    assert checksum(pseudo_header(src, dst, len(segment), 6) + segment) == 0


def test_head_reads_an_answers_fields_as_parse_tcp_does() -> None:
    raw = struct.pack("!HHIIBBHHH", 22, 40000, 7, 8, 5 << 4, SYN | ACK, 512, 0, 0)
    seg = parse_tcp(raw)
    assert seg is not None
    sport, dport, seq, ack, offset, flags = HEAD.unpack_from(b"\0" * 20 + raw, 20)
    assert (sport, dport, seq, ack, offset >> 4, flags) == (
        seg.sport,
        seg.dport,
        seg.seq,
        seg.ack,
        5,
        seg.flags,
    )


def test_the_checksum_covers_the_addresses() -> None:
    a = build_syn(V4_SRC, V4_DST, 40000, 22, 1)
    b = build_syn(V4_SRC, socket.inet_aton("198.51.100.11"), 40000, 22, 1)
    assert a[16:18] != b[16:18]


def test_mismatched_address_families_are_refused() -> None:
    with pytest.raises(ValueError):
        build_syn(V4_SRC, V6_DST, 1, 2, 3)


@pytest.mark.parametrize(
    ("flags", "synack", "rst"),
    [
        (SYN | ACK, True, False),
        (RST | ACK, False, True),
        (RST, False, True),
        (ACK, False, False),
    ],
)
def test_answers_are_told_apart_by_their_flags(flags: int, synack: bool, rst: bool) -> None:
    raw = struct.pack("!HHIIBBHHH", 22, 40000, 7, 8, 5 << 4, flags, 0, 0, 0)
    seg = parse_tcp(raw)
    assert seg is not None
    assert (seg.sport, seg.dport, seg.seq, seg.ack) == (22, 40000, 7, 8)
    assert (seg.is_synack, seg.is_rst) == (synack, rst)


@pytest.mark.parametrize(
    "raw", [b"", bytes(19), struct.pack("!HHIIBBHHH", 1, 2, 3, 4, 4 << 4, 0, 0, 0, 0)]
)
def test_short_or_malformed_tcp_headers_parse_to_none(raw: bytes) -> None:
    assert parse_tcp(raw) is None


def ipv4(proto: int, src: bytes, dst: bytes, payload: bytes) -> bytes:
    return (
        struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0, 64, proto, 0, src, dst)
        + payload
    )


def test_an_icmp_admin_prohibited_quoting_our_syn_is_parsed() -> None:
    probe = ipv4(6, V4_SRC, V4_DST, build_syn(V4_SRC, V4_DST, 40000, 82, 5)[:8])
    reporter = socket.inet_aton("198.51.100.9")
    packet = ipv4(1, reporter, V4_SRC, bytes([3, 13, 0, 0, 0, 0, 0, 0]) + probe)
    quote = parse_icmp4_error(packet)
    assert quote is not None
    assert (quote.reporter, quote.code, quote.protocol, quote.dst, quote.sport, quote.dport) == (
        reporter,
        13,
        6,
        V4_DST,
        40000,
        82,
    )
    assert quote.reason == "admin-prohibited"
    assert strip_ipv4(packet) == (1, reporter, V4_SRC, 20)


@pytest.mark.parametrize(
    "packet",
    [
        b"",
        ipv4(6, V4_SRC, V4_DST, bytes(20)),  # not ICMP
        ipv4(1, V4_SRC, V4_DST, bytes([0, 0, 0, 0, 0, 0, 0, 0])),  # echo reply, not unreachable
        ipv4(1, V4_SRC, V4_DST, bytes([3, 1, 0, 0, 0, 0, 0, 0]) + b"\x45"),  # truncated quote
    ],
)
def test_other_icmp_parses_to_none(packet: bytes) -> None:
    assert parse_icmp4_error(packet) is None


def test_an_icmpv6_unreachable_quoting_our_syn_is_parsed() -> None:
    inner = (
        struct.pack("!IHBB", 6 << 28, 24, 6, 64)
        + V6_SRC
        + V6_DST
        + build_syn(V6_SRC, V6_DST, 40000, 443, 9)[:8]
    )
    message = bytes([1, 1, 0, 0, 0, 0, 0, 0]) + inner
    reporter = socket.inet_pton(socket.AF_INET6, "2001:db8:3::1")
    quote = parse_icmp6_error(message, reporter)
    assert quote is not None
    assert (quote.code, quote.protocol, quote.dst, quote.sport, quote.dport, quote.reason) == (
        1,
        6,
        V6_DST,
        40000,
        443,
        "admin-prohibited",
    )


@given(st.binary(max_size=120))
def test_parsers_never_raise_on_arbitrary_bytes(data: bytes) -> None:
    parse_tcp(data)
    strip_ipv4(data)
    parse_icmp4_error(data)
    parse_icmp6_error(data, bytes(16))
