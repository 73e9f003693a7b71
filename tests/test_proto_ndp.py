"""Neighbor Discovery codecs (RFC 4861): solicitations, advertisements, checksums."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netladder.proto.arp import build_ether, parse_ether
from netladder.proto.ndp import (
    build_ipv6,
    build_na,
    build_ns_frame,
    icmp6_checksum,
    multicast_mac,
    parse_ipv6,
    parse_na,
    parse_na_frame,
    parse_ns,
    solicited_node,
)

ME = "02:00:00:00:00:01"
PEER = "02:00:00:00:00:02"


@pytest.mark.parametrize(
    ("address", "group", "mac"),
    [
        ("2001:db8:1::1", "ff02::1:ff00:1", "33:33:ff:00:00:01"),
        ("fe80::1234:5678:9abc", "ff02::1:ff78:9abc", "33:33:ff:78:9a:bc"),
        ("2001:db8::ab:cdef", "ff02::1:ffab:cdef", "33:33:ff:ab:cd:ef"),
    ],
)
def test_solicited_node_group_and_its_mac(address: str, group: str, mac: str) -> None:
    assert solicited_node(address) == group  # RFC 4291 §2.7.1
    assert multicast_mac(group) == mac  # RFC 2464 §7


def test_ns_frame_goes_to_the_solicited_node_group_with_hop_limit_255() -> None:
    frame = build_ns_frame(ME, "2001:db8:1::2", "2001:db8:1::1")
    ether = parse_ether(frame)
    assert ether is not None and ether.dst == "33:33:ff:00:00:01" and ether.src == ME
    packet = parse_ipv6(ether.payload)
    assert packet is not None
    assert (packet.src, packet.dst, packet.hop_limit) == ("2001:db8:1::2", "ff02::1:ff00:1", 255)
    ns = parse_ns(packet.payload)
    assert ns is not None and ns.target == "2001:db8:1::1" and ns.source_mac == ME
    # The checksum covers the pseudo-header: recomputing over the message gives zero.
    assert icmp6_checksum(packet.src, packet.dst, packet.payload) == 0


def test_a_dad_solicitation_from_the_unspecified_address_carries_no_source_lladdr() -> None:
    frame = build_ns_frame(ME, "::", "2001:db8:1::9")
    packet = parse_ipv6(frame[14:])
    assert packet is not None and packet.src == "::"
    ns = parse_ns(packet.payload)
    assert ns is not None and ns.source_mac is None  # RFC 4862 §5.4.2


def _na_frame(hop_limit: int = 255, corrupt: bool = False, mac: str | None = PEER) -> bytes:
    src, dst = "2001:db8:1::1", "2001:db8:1::2"
    message = bytearray(build_na(src, dst, "2001:db8:1::1", mac, router=True))
    if corrupt:
        message[-1] ^= 0xFF
    return build_ether(ME, PEER, 0x86DD, build_ipv6(src, dst, bytes(message), hop_limit=hop_limit))


def test_a_valid_advertisement_is_parsed_with_its_flags_and_target_lladdr() -> None:
    parsed = parse_na_frame(_na_frame())
    assert parsed is not None
    frame_src, packet, advert = parsed
    assert frame_src == PEER and packet.src == "2001:db8:1::1"
    assert advert.target == "2001:db8:1::1" and advert.target_mac == PEER
    assert advert.router and advert.solicited and advert.override


@pytest.mark.parametrize(
    "frame",
    [
        _na_frame(hop_limit=64),  # RFC 4861 §7.1.2: not from the link
        _na_frame(corrupt=True),  # bad checksum
        build_ns_frame(ME, "2001:db8:1::2", "2001:db8:1::1"),  # a solicitation, not an advert
        b"\x00" * 20,
    ],
)
def test_invalid_advertisements_are_dropped(frame: bytes) -> None:
    assert parse_na_frame(frame) is None


def test_an_option_of_length_zero_makes_the_message_invalid() -> None:
    message = build_na("::1", "::1", "2001:db8::1", None) + struct.pack("!BB6x", 2, 0)
    assert parse_na(message) is None


def test_an_advert_without_target_lladdr_has_none() -> None:
    advert = parse_na(build_na("::1", "::1", "2001:db8::1", None, solicited=False))
    assert advert is not None and advert.target_mac is None and not advert.solicited


# A hostile station can put anything on the link: no bytes make a parser raise.


@given(st.binary(max_size=200))
def test_any_bytes_parse_to_an_advert_or_none(raw: bytes) -> None:
    parse_na_frame(raw)
    parse_na(raw)
    parse_ns(raw)
    parse_ipv6(raw)
    # Behind a valid Ethernet and IPv6 header, too, so the ND parsers see the garbage.
    parse_na_frame(build_ether(ME, PEER, 0x86DD, build_ipv6("fe80::1", "fe80::2", raw)))
