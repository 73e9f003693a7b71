"""The internet checksum, the pseudo-header and the IPv4 header (tables of bytes, and fuzz)."""

from __future__ import annotations

import ipaddress
import socket
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netladder.proto.inet import checksum, ipv4_offsets, parse_ipv4_header, pseudo_header


def reference_checksum(data: bytes) -> int:
    """RFC 1071 the slow, obvious way: big-endian words, end-around carry, complement."""
    if len(data) % 2:
        data += b"\0"
    total = 0
    for (word,) in struct.iter_unpack("!H", data):
        total += word
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


VECTORS = [
    b"",
    b"\x00",
    b"\x00\x00",
    bytes(64),  # all zero: the one case where the sum is 0, not 0xFFFF (RFC 1071 §2(A))
    b"\xff",
    b"\xff\xff",
    b"\xff\xff\xff\xff",
    b"\x45\x00\x00\x1c",
    b"\x01\x02\x03",
    bytes(range(256)),
    bytes(range(255)),
    b"\xff" * 1501,
    bytes.fromhex("0001f203f4f5f6f7"),  # RFC 1071 §3
    # a sum of exactly 0xFFFF, 2 × 0xFFFF, and one that carries
    b"\xff\x00\x00\xff",
    b"\xff\xfe\x00\x01\xff\xff",
    b"\x80\x00\x80\x00",
]


@pytest.mark.parametrize("data", VECTORS)
def test_checksum_matches_the_rfc_1071_definition(data: bytes) -> None:
    assert checksum(data) == reference_checksum(data)
    assert checksum(bytearray(data)) == checksum(memoryview(data)) == checksum(data)


@given(st.binary(max_size=300))
def test_checksum_matches_the_definition_for_any_bytes(data: bytes) -> None:
    assert checksum(data) == reference_checksum(data)


@given(st.binary(min_size=2, max_size=300).filter(lambda b: len(b) % 2 == 0))
def test_a_packet_carrying_its_checksum_verifies_to_zero(data: bytes) -> None:
    body = b"\0\0" + data[2:]
    whole = struct.pack("!H", checksum(body)) + data[2:]
    # A receiver's check (RFC 1071 §1(3)): the sum over the whole packet is 0xFFFF.
    assert checksum(whole) == 0


def test_rfc_1071_worked_example_sums_to_ddf2() -> None:
    assert checksum(bytes.fromhex("0001f203f4f5f6f7")) == ~0xDDF2 & 0xFFFF


def test_the_pseudo_header_is_rfcs_for_both_versions() -> None:
    a4, b4 = socket.inet_aton("203.0.113.2"), socket.inet_aton("198.51.100.10")
    assert pseudo_header(a4, b4, 24, 6) == a4 + b4 + b"\x00\x06\x00\x18"
    a6 = socket.inet_pton(socket.AF_INET6, "2001:db8::1")
    b6 = socket.inet_pton(socket.AF_INET6, "2001:db8::2")
    assert pseudo_header(a6, b6, 70000, 58) == a6 + b6 + b"\x00\x01\x11\x70\x00\x00\x00\x3a"


def ipv4(proto: int, payload: bytes, *, ihl: int = 5, ttl: int = 64, version: int = 4) -> bytes:
    header = struct.pack(
        "!BBHHHBBH4s4s",
        version << 4 | ihl,
        0,
        ihl * 4 + len(payload),
        0xBEEF,
        0,
        ttl,
        proto,
        0,
        socket.inet_aton("203.0.113.2"),
        socket.inet_aton("198.51.100.10"),
    )
    return header + bytes(max(0, ihl * 4 - 20)) + payload


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (ipv4(1, b"x" * 8), (20, 1)),
        (ipv4(6, b""), (20, 6)),
        (ipv4(17, b"", ihl=6), (24, 17)),  # with 4 bytes of options
        (ipv4(17, b"", ihl=15), (60, 17)),
        (ipv4(17, b"", ihl=6)[:23], None),  # the options cut short
        (ipv4(1, b"", ihl=4), None),  # a header length below 20
        (ipv4(1, b"", version=6), None),
        (ipv4(1, b"")[:19], None),
        (b"", None),
    ],
)
def test_ipv4_offsets_say_where_the_payload_starts(
    data: bytes, expected: tuple[int, int] | None
) -> None:
    assert ipv4_offsets(data) == expected
    header = parse_ipv4_header(data)
    if expected is None:
        assert header is None
    else:
        assert header is not None
        assert (header.header_length, header.protocol) == expected
        assert (header.src, header.dst, header.ttl) == ("203.0.113.2", "198.51.100.10", 64)
        assert (header.total_length, header.identification) == (len(data), 0xBEEF)


@given(st.binary(min_size=20, max_size=80))
def test_ipv4_addresses_read_as_ipaddress_writes_them(data: bytes) -> None:
    data = bytes([0x45]) + data[1:]
    header = parse_ipv4_header(data)
    assert header is not None
    assert header.src == str(ipaddress.IPv4Address(data[12:16]))
    assert header.dst == str(ipaddress.IPv4Address(data[16:20]))


@given(st.binary(max_size=80))
def test_ipv4_parsers_never_raise(data: bytes) -> None:
    offsets = ipv4_offsets(data)
    header = parse_ipv4_header(data)
    assert (offsets is None) == (header is None)
