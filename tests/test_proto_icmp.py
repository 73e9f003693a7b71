"""ICMP codec: table-driven, no sockets."""

from __future__ import annotations

import struct

import pytest

from netladder.proto.icmp import build_echo, echo_payload, error_text, parse_icmp
from netladder.proto.inet import checksum, parse_ipv4_header


def ipv4(src: str, dst: str, proto: int, payload: bytes, ttl: int = 64) -> bytes:
    import socket

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
