"""The TCP segment codec: SYN segments and parsing what comes back (tables of bytes), and what a
SYN scan reads from an ICMP error about one (through the one quote parser)."""

from __future__ import annotations

import socket
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netladder.proto.icmp import parse_icmp
from netladder.proto.inet import checksum, pseudo_header
from netladder.proto.tcp import ACK, HEAD, RST, SYN, build_syn, icmp_reason, parse_tcp

V4_SRC, V4_DST = socket.inet_aton("203.0.113.2"), socket.inet_aton("198.51.100.10")
V6_SRC = socket.inet_pton(socket.AF_INET6, "2001:db8:1::2")
V6_DST = socket.inet_pton(socket.AF_INET6, "2001:db8:3::2")


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
    packet = ipv4(
        1, socket.inet_aton("198.51.100.9"), V4_SRC, bytes([3, 13, 0, 0, 0, 0, 0, 0]) + probe
    )
    message = parse_icmp(packet, 4, with_ip_header=True)
    assert message is not None and message.quoted is not None
    quote = message.quoted
    assert (message.source, message.code, message.ttl) == ("198.51.100.9", 13, 64)
    assert (quote.protocol, quote.dst, quote.field_a, quote.field_b, quote.seq) == (
        6,
        "198.51.100.10",
        40000,
        82,
        5,
    )
    assert icmp_reason(4, message.type, message.code) == "admin-prohibited"


@pytest.mark.parametrize(
    "packet",
    [
        ipv4(1, V4_SRC, V4_DST, bytes([0, 0, 0, 0, 0, 0, 0, 0])),  # echo reply, not unreachable
        ipv4(1, V4_SRC, V4_DST, bytes([3, 1, 0, 0, 0, 0, 0, 0]) + b"\x45"),  # truncated quote
        # 4 bytes of TCP quoted: below RFC 792's 8
        ipv4(
            1, V4_SRC, V4_DST, bytes([3, 1, 0, 0, 0, 0, 0, 0]) + ipv4(6, V4_SRC, V4_DST, bytes(4))
        ),
    ],
)
def test_other_icmp_quotes_nothing(packet: bytes) -> None:
    message = parse_icmp(packet, 4, with_ip_header=True)
    assert message is not None and message.quoted is None


@pytest.mark.parametrize(
    ("version", "icmp_type", "code", "reason"),
    [
        (4, 3, 13, "admin-prohibited"),
        (4, 3, 3, "port-unreach"),
        (4, 3, 4, "unreach-code-4"),
        (4, 11, 0, "time-exceeded"),
        (4, 12, 0, None),
        (4, 5, 1, None),
        (6, 1, 1, "admin-prohibited"),
        (6, 1, 4, "port-unreach"),
        (6, 1, 6, "admin-prohibited"),
        (6, 3, 0, "time-exceeded"),
        (6, 2, 0, None),
    ],
)
def test_icmp_errors_get_nmaps_reasons(
    version: int, icmp_type: int, code: int, reason: str | None
) -> None:
    assert icmp_reason(version, icmp_type, code) == reason


def test_an_icmpv6_unreachable_quoting_our_syn_is_parsed() -> None:
    inner = (
        struct.pack("!IHBB", 6 << 28, 24, 6, 64)
        + V6_SRC
        + V6_DST
        + build_syn(V6_SRC, V6_DST, 40000, 443, 9)[:8]
    )
    message = parse_icmp(bytes([1, 1, 0, 0, 0, 0, 0, 0]) + inner, 6)
    assert message is not None and message.quoted is not None
    quote = message.quoted
    assert (message.code, quote.protocol, quote.dst, quote.field_a, quote.field_b, quote.seq) == (
        1,
        6,
        "2001:db8:3::2",
        40000,
        443,
        9,
    )
    assert icmp_reason(6, message.type, message.code) == "admin-prohibited"


@given(st.binary(max_size=120))
def test_parsers_never_raise_on_arbitrary_bytes(data: bytes) -> None:
    parse_tcp(data)
    parse_icmp(data, 4, with_ip_header=True)
    parse_icmp(data, 6)
