"""ARP and Ethernet codecs (RFC 826, RFC 5227): tables of bytes, no sockets."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netladder.proto.arp import (
    ETH_P_ARP,
    ArpOp,
    ArpPacket,
    build_arp,
    build_arp_probe,
    build_arp_request,
    mac_bytes,
    mac_str,
    parse_arp,
    parse_arp_frame,
    parse_ether,
)

ME = "02:00:00:00:00:01"
# A request from 203.0.113.2 (02:00:00:00:00:01) for 203.0.113.1, byte by byte (RFC 826).
REQUEST_FRAME = bytes.fromhex(
    "ffffffffffff"
    "020000000001"
    "0806"  # Ethernet: broadcast, from me, ARP
    "0001"
    "0800"
    "06"
    "04"
    "0001"  # Ethernet/IPv4, lengths 6/4, op request
    "020000000001"
    "cb007102"  # sender MAC, 203.0.113.2
    "000000000000"
    "cb007101"  # target MAC unknown, 203.0.113.1
).ljust(60, b"\x00")


def test_a_request_is_the_rfc_826_layout_padded_to_the_ethernet_minimum() -> None:
    assert build_arp_request(ME, "203.0.113.2", "203.0.113.1") == REQUEST_FRAME


def test_a_dad_probe_has_sender_ip_zero_and_is_recognised_as_a_probe() -> None:
    frame = build_arp_probe(ME, "198.51.100.66")
    parsed = parse_arp_frame(frame)
    assert parsed is not None
    ether, arp = parsed
    assert ether.dst == "ff:ff:ff:ff:ff:ff" and ether.src == ME
    assert arp == ArpPacket(ArpOp.REQUEST, ME, "0.0.0.0", "00:00:00:00:00:00", "198.51.100.66")
    assert arp.is_probe


@pytest.mark.parametrize("op", [ArpOp.REQUEST, ArpOp.REPLY])
def test_build_and_parse_round_trip(op: ArpOp) -> None:
    raw = build_arp(op, "aa:bb:cc:dd:ee:ff", "198.51.100.1", ME, "198.51.100.2")
    assert parse_arp(raw) == ArpPacket(op, "aa:bb:cc:dd:ee:ff", "198.51.100.1", ME, "198.51.100.2")
    assert not parse_arp(raw).is_probe  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        REQUEST_FRAME[14 : 14 + 27],  # one byte short
        bytes.fromhex("0006") + REQUEST_FRAME[16:42],  # hardware type IEEE 802, not Ethernet
        REQUEST_FRAME[14:16] + bytes.fromhex("86dd") + REQUEST_FRAME[18:42],  # protocol IPv6
        REQUEST_FRAME[14:18] + bytes.fromhex("0406") + REQUEST_FRAME[20:42],  # lengths 4/6
    ],
)
def test_what_is_not_arp_for_ipv4_over_ethernet_is_none(raw: bytes) -> None:
    assert parse_arp(raw) is None


def test_frames_of_other_ethertypes_are_not_arp() -> None:
    ipv4 = REQUEST_FRAME[:12] + b"\x08\x00" + REQUEST_FRAME[14:]
    assert parse_arp_frame(ipv4) is None
    assert parse_ether(b"\x00" * 13) is None
    ether = parse_ether(REQUEST_FRAME)
    assert ether is not None and ether.ethertype == ETH_P_ARP


@pytest.mark.parametrize("text", ["aa:bb:cc:dd:ee:ff", "AA-BB-CC-DD-EE-FF"])
def test_mac_text_round_trip(text: str) -> None:
    assert mac_str(mac_bytes(text)) == "aa:bb:cc:dd:ee:ff"


@pytest.mark.parametrize("text", ["aa:bb:cc:dd:ee", "zz:bb:cc:dd:ee:ff", ""])
def test_a_malformed_mac_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        mac_bytes(text)


# A hostile station can put anything on the link: no bytes make a parser raise.


@given(st.binary(max_size=120))
def test_any_bytes_parse_to_a_packet_or_none(raw: bytes) -> None:
    parse_arp_frame(raw)
    parse_arp(raw)
    parse_arp_frame(REQUEST_FRAME[:14] + raw)
