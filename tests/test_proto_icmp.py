"""ICMP codec: table-driven, no sockets."""

from __future__ import annotations

import socket
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netladder.proto.icmp import (
    EchoTemplate,
    build_echo,
    echo_payload,
    error_text,
    parse_icmp,
    parse_quote,
)
from netladder.proto.inet import checksum, parse_ipv4_header


def ipv4(src: str, dst: str, proto: int, payload: bytes, ttl: int = 64) -> bytes:
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(payload),
        1,
        0,
        ttl,
        proto,
        0,
        socket.inet_aton(src),
        socket.inet_aton(dst),
    )
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + payload


def test_checksum_of_rfc1071_example() -> None:
    data = bytes.fromhex("0001f203f4f5f6f7")
    assert checksum(data) == ~0xDDF2 & 0xFFFF
    assert checksum(data + struct.pack("!H", checksum(data))) == 0


def test_echo_request_round_trips_with_a_valid_checksum() -> None:
    payload = echo_payload(b"COOKIE!!", 56)
    packet = build_echo(4, 0x1234, 7, payload)
    assert len(packet) == 64 and checksum(packet) == 0
    msg = parse_icmp(packet, 4)
    assert msg is not None
    assert (msg.type, msg.identifier, msg.sequence, msg.payload) == (8, 0x1234, 7, payload)
    assert msg.checksum_ok


def test_payload_starts_with_the_cookie_then_iputils_pattern() -> None:
    payload = echo_payload(b"abcd", 8)
    assert payload == b"abcd\x04\x05\x06\x07"
    assert echo_payload(b"abcdefgh", 3) == b"abc"


def test_icmpv6_echo_leaves_the_checksum_to_the_kernel() -> None:
    packet = build_echo(6, 1, 2, b"x")
    assert packet[:4] == b"\x80\x00\x00\x00"


def test_reply_behind_an_ipv4_header_gives_source_and_ttl() -> None:
    reply = bytearray(build_echo(4, 9, 3, b"data"))
    reply[0] = 0
    reply[2:4] = b"\0\0"
    reply[2:4] = struct.pack("!H", checksum(bytes(reply)))
    msg = parse_icmp(
        ipv4("198.51.100.10", "203.0.113.2", 1, bytes(reply), ttl=62), 4, with_ip_header=True
    )
    assert msg is not None and msg.is_echo_reply
    assert (msg.source, msg.ttl, msg.identifier, msg.sequence) == ("198.51.100.10", 62, 9, 3)


def test_corrupted_checksum_is_reported_not_raised() -> None:
    packet = bytearray(build_echo(4, 9, 3, b"data"))
    packet[-1] ^= 0xFF
    msg = parse_icmp(bytes(packet), 4)
    assert msg is not None and not msg.checksum_ok


@pytest.mark.parametrize("cut", range(8))
def test_truncated_messages_give_none(cut: int) -> None:
    assert parse_icmp(build_echo(4, 1, 1, b"")[:cut], 4) is None


@pytest.mark.parametrize("cut", range(48))
def test_truncated_errors_never_raise(cut: int) -> None:
    probe = ipv4("203.0.113.2", "198.51.100.10", 1, build_echo(4, 5, 6, b"12345678"), ttl=1)
    error = struct.pack("!BBHI", 11, 0, 0, 0) + probe
    msg = parse_icmp(error[:cut], 4)
    assert msg is None or msg.type == 11


def test_time_exceeded_quotes_our_probe() -> None:
    probe = ipv4("203.0.113.2", "198.51.100.10", 1, build_echo(4, 5, 6, b"12345678"), ttl=1)
    body = struct.pack("!BBHI", 11, 0, 0, 0) + probe[:28]
    body = body[:2] + struct.pack("!H", checksum(body)) + body[4:]
    msg = parse_icmp(body, 4)
    assert msg is not None and msg.is_time_exceeded and msg.quoted is not None
    assert (msg.quoted.dst, msg.quoted.field_a, msg.quoted.field_b) == ("198.51.100.10", 5, 6)
    assert msg.text == "Time to live exceeded"


def test_udp_probe_quoted_gives_ports() -> None:
    udp = struct.pack("!HHHH", 40000, 33434, 16, 0) + b"payload!"
    body = struct.pack("!BBHI", 3, 3, 0, 0) + ipv4("203.0.113.2", "198.51.100.10", 17, udp)
    msg = parse_icmp(body, 4)
    assert msg is not None and msg.quoted is not None
    assert (msg.quoted.protocol, msg.quoted.field_a, msg.quoted.field_b) == (17, 40000, 33434)
    assert msg.text == "Destination Port Unreachable"


def test_fragmentation_needed_carries_the_mtu() -> None:
    body = struct.pack("!BBHHH", 3, 4, 0, 0, 1400) + ipv4("1.2.3.4", "5.6.7.8", 17, bytes(8))
    msg = parse_icmp(body, 4)
    assert msg is not None and msg.mtu == 1400


@pytest.mark.parametrize(
    "version, icmp_type, code, text",
    [
        (4, 3, 0, "Destination Net Unreachable"),
        (4, 3, 1, "Destination Host Unreachable"),
        (4, 3, 13, "Packet filtered"),
        (6, 1, 3, "Destination unreachable: Address unreachable"),
        (6, 3, 0, "Time exceeded: Hop limit"),
        (4, 42, 1, "Bad ICMP type 42 code 1"),
    ],
)
def test_error_names_follow_iputils(version: int, icmp_type: int, code: int, text: str) -> None:
    assert error_text(version, icmp_type, code) == text


def test_ipv4_header_rejects_garbage() -> None:
    assert parse_ipv4_header(b"\x60" + bytes(39)) is None
    assert parse_ipv4_header(b"\x4f" + bytes(19)) is None


def ipv6(next_header: int, src: str, dst: str, payload: bytes) -> bytes:
    return (
        struct.pack("!IHBB", 6 << 28, len(payload), next_header, 64)
        + socket.inet_pton(socket.AF_INET6, src)
        + socket.inet_pton(socket.AF_INET6, dst)
        + payload
    )


SYN = struct.pack("!HHIIBBHHH", 40000, 80, 0xDEADBEEF, 0, 5 << 4, 2, 64240, 0, 0)
UDP = struct.pack("!HHHH", 40000, 33434, 16, 0) + b"payload!"
ECHO4 = build_echo(4, 5, 6, b"12345678")
ECHO6 = build_echo(6, 5, 6, b"12345678")


# (version, quote, (src, dst, protocol, field_a, field_b, ttl, inner_offset, seq) or None)
QUOTES = [
    (
        4,
        ipv4("203.0.113.2", "198.51.100.10", 6, SYN, ttl=1),
        ("203.0.113.2", "198.51.100.10", 6, 40000, 80, 1, 20, 0xDEADBEEF),
    ),
    (
        4,
        ipv4("203.0.113.2", "198.51.100.10", 6, SYN)[:28],  # RFC 792's 8 bytes: seq included
        ("203.0.113.2", "198.51.100.10", 6, 40000, 80, 64, 20, 0xDEADBEEF),
    ),
    (4, ipv4("203.0.113.2", "198.51.100.10", 6, SYN)[:27], None),
    (
        4,
        ipv4("203.0.113.2", "198.51.100.10", 17, UDP),
        ("203.0.113.2", "198.51.100.10", 17, 40000, 33434, 64, 20, None),
    ),
    (
        4,
        ipv4("203.0.113.2", "198.51.100.10", 1, ECHO4),
        ("203.0.113.2", "198.51.100.10", 1, 5, 6, 64, 20, None),
    ),
    (
        4,  # a quoted header with options: the inner header starts after them
        b"\x46" + ipv4("203.0.113.2", "198.51.100.10", 1, b"")[1:] + b"\x01\x01\x01\x00" + ECHO4,
        ("203.0.113.2", "198.51.100.10", 1, 5, 6, 64, 24, None),
    ),
    (
        6,
        ipv6(6, "2001:db8:1::2", "2001:db8:3::2", SYN),
        ("2001:db8:1::2", "2001:db8:3::2", 6, 40000, 80, None, 40, 0xDEADBEEF),
    ),
    (
        6,
        ipv6(58, "2001:db8:1::2", "2001:db8:3::2", ECHO6),
        ("2001:db8:1::2", "2001:db8:3::2", 58, 5, 6, None, 40, None),
    ),
    (6, ipv6(17, "2001:db8:1::2", "2001:db8:3::2", UDP)[:47], None),
    (6, ipv4("203.0.113.2", "198.51.100.10", 1, ECHO4) + bytes(20), None),  # not IPv6
    (4, ipv6(58, "2001:db8:1::2", "2001:db8:3::2", ECHO6), None),  # not IPv4
    (4, b"\x44" + ipv4("203.0.113.2", "198.51.100.10", 1, ECHO4)[1:], None),  # IHL 16 bytes
]


@pytest.mark.parametrize(("version", "quote", "expected"), QUOTES)
def test_the_quote_of_every_probe_kind_is_read(
    version: int, quote: bytes, expected: tuple[object, ...] | None
) -> None:
    got = parse_quote(quote, version)
    if expected is None:
        assert got is None
        return
    assert got is not None
    assert (
        got.src,
        got.dst,
        got.protocol,
        got.field_a,
        got.field_b,
        got.ttl,
        got.inner_offset,
        got.seq,
    ) == expected
    # The quoted header starts at inner_offset: what follows its 8 bytes is the prober's own
    # (sweep's cookie).
    if got.protocol in (1, 58):
        assert quote[got.inner_offset] == (8 if version == 4 else 128)
    else:
        assert struct.unpack_from("!HH", quote, got.inner_offset) == (got.field_a, got.field_b)


@pytest.mark.parametrize(("version", "quote", "expected"), QUOTES)
def test_an_error_message_carries_the_same_quote(
    version: int, quote: bytes, expected: tuple[object, ...] | None
) -> None:
    body = struct.pack("!BBHI", 11 if version == 4 else 3, 0, 0, 0) + quote
    msg = parse_icmp(body, version)
    assert msg is not None and msg.quoted == parse_quote(quote, version)


@given(st.sampled_from([4, 6]), st.binary(max_size=120))
def test_the_quote_parser_never_raises(version: int, data: bytes) -> None:
    got = parse_quote(data, version)
    if got is not None:
        assert got.inner_offset + 8 <= len(data)


@given(st.sampled_from(QUOTES), st.integers(0, 200), st.integers(0, 255), st.integers(0, 200))
def test_a_damaged_quote_never_raises(
    vector: tuple[int, bytes, object], where: int, byte: int, cut: int
) -> None:
    version, quote, _ = vector
    if quote:
        where %= len(quote)
        quote = quote[:where] + bytes([byte]) + quote[where + 1 :]
    parse_quote(quote[:cut], version)
    parse_icmp(struct.pack("!BBHI", 3, 3, 0, 0) + quote[:cut], version)
    parse_icmp(quote[:cut], 4, with_ip_header=True)


@pytest.mark.parametrize("version", [4, 6])
@pytest.mark.parametrize("size", [0, 7, 8, 22, 56, 57, 1400])
@pytest.mark.parametrize("seq", [0, 1, 0xFFFF, 0x10001])
def test_the_template_builds_what_build_echo_builds(version: int, size: int, seq: int) -> None:
    template = EchoTemplate(version, 0x1234, b"COOKIE!!", size)
    payload = echo_payload(b"COOKIE!!", size)
    assert bytes(template.fill(seq)) == build_echo(version, 0x1234, seq, payload)
    # rebuilt in place for the next probe: nothing of the previous one stays
    assert bytes(template.fill(seq + 1)) == build_echo(version, 0x1234, seq + 1, payload)


@pytest.mark.parametrize("size", [22, 56, 57])
def test_the_templates_own_fields_are_covered_by_its_checksum(size: int) -> None:
    template = EchoTemplate(4, 7, b"COOKIE!!", size, ip_header=True)
    assert (template.icmp_offset, template.data_offset) == (20, 28)
    packet = template.packet
    struct.pack_into("!IHq", packet, template.data_offset + 8, 3, 1, 123456789)
    sent = template.fill(9, 0xC6120001)
    header = parse_ipv4_header(sent)
    assert header is not None
    assert (header.dst, header.protocol, header.ttl) == ("198.18.0.1", 1, 64)
    msg = parse_icmp(bytes(sent[20:]), 4)
    assert msg is not None and msg.checksum_ok
    assert (msg.type, msg.identifier, msg.sequence) == (8, 7, 9)
    assert msg.payload[:8] == b"COOKIE!!"
    assert struct.unpack_from("!IHq", msg.payload, 8) == (3, 1, 123456789)


def test_a_kernel_checksummed_template_leaves_the_checksum_alone() -> None:
    template = EchoTemplate(4, 7, b"COOKIE!!", 56, checksummed=False)
    assert template.fill(1)[2:4] == b"\0\0"
    with pytest.raises(ValueError):
        EchoTemplate(6, 7, b"COOKIE!!", 56, ip_header=True)
