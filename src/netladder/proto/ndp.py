"""IPv6 Neighbor Discovery (RFC 4861): Neighbor Solicitation and Advertisement inside a whole
IPv6 packet, and the Ethernet frame around it (RFC 2464).

Pure codecs over bytes.  The ICMPv6 checksum covers the IPv6 pseudo-header (RFC 8200 §8.1),
so a frame built here can go out of an AF_PACKET socket as it is.
"""

from __future__ import annotations

import ipaddress
import struct
from enum import IntEnum

from netladder.proto.arp import ETH_P_IPV6, build_ether, mac_bytes, mac_str, parse_ether
from netladder.proto.inet import checksum, pseudo_header
from netladder.proto.record import record

__all__ = [
    "ALL_NODES",
    "NDP_HOP_LIMIT",
    "IPv6Packet",
    "NdOption",
    "NeighborAdvert",
    "NeighborSolicit",
    "build_ipv6",
    "build_na",
    "build_ns",
    "build_ns_frame",
    "icmp6_checksum",
    "multicast_mac",
    "parse_ipv6",
    "parse_na",
    "parse_na_frame",
    "parse_ns",
    "solicited_node",
]

IPPROTO_ICMPV6 = 58
# RFC 4861 §7.1.1/§7.1.2: ND messages are sent with hop limit 255 and a receiver drops any
# other value, which proves the sender is on the link.
NDP_HOP_LIMIT = 255
ALL_NODES = "ff02::1"


class NdType(IntEnum):
    """ICMPv6 types used here (RFC 4861 §4)."""

    NEIGHBOR_SOLICIT = 135  # §4.3
    NEIGHBOR_ADVERT = 136  # §4.4


class NdOption(IntEnum):
    """ND option types (RFC 4861 §4.6)."""

    SOURCE_LLADDR = 1  # §4.6.1
    TARGET_LLADDR = 2  # §4.6.1


# Neighbor Advertisement flags, the top bits of the first word after the checksum (§4.4).
NA_ROUTER = 0x80
NA_SOLICITED = 0x40
NA_OVERRIDE = 0x20


@record
class IPv6Packet:
    src: str
    dst: str
    next_header: int
    hop_limit: int
    payload: bytes


@record
class NeighborSolicit:
    target: str
    source_mac: str | None


@record
class NeighborAdvert:
    target: str
    router: bool
    solicited: bool
    override: bool
    target_mac: str | None


def solicited_node(address: str) -> str:
    """The solicited-node multicast address ff02::1:ffXX:XXXX (RFC 4291 §2.7.1)."""
    low = ipaddress.IPv6Address(address).packed[13:]
    return str(ipaddress.IPv6Address(bytes.fromhex("ff02" + "00" * 9 + "01ff") + low))


def multicast_mac(address: str) -> str:
    """33:33 and the low 32 bits of the IPv6 multicast address (RFC 2464 §7)."""
    return mac_str(b"\x33\x33" + ipaddress.IPv6Address(address).packed[12:])


def icmp6_checksum(src: str, dst: str, message: bytes) -> int:
    """RFC 4443 §2.3: the ones'-complement checksum over the pseudo-header and the message."""
    pseudo = pseudo_header(
        ipaddress.IPv6Address(src).packed,
        ipaddress.IPv6Address(dst).packed,
        len(message),
        IPPROTO_ICMPV6,
    )
    return checksum(pseudo + message)


def _with_checksum(src: str, dst: str, message: bytes) -> bytes:
    value = icmp6_checksum(src, dst, message[:2] + b"\x00\x00" + message[4:])
    return message[:2] + struct.pack("!H", value) + message[4:]


def _lladdr_option(kind: int, mac: str) -> bytes:
    return struct.pack("!BB", kind, 1) + mac_bytes(mac)


def build_ns(src: str, dst: str, target: str, source_mac: str | None) -> bytes:
    """An NS message (§4.3).  With the unspecified source (DAD, RFC 4862 §5.4.2) the source
    link-layer option MUST NOT be included, so pass source_mac=None then."""
    body = struct.pack("!BBH4x", NdType.NEIGHBOR_SOLICIT, 0, 0)
    body += ipaddress.IPv6Address(target).packed
    if source_mac is not None:
        body += _lladdr_option(NdOption.SOURCE_LLADDR, source_mac)
    return _with_checksum(src, dst, body)


def build_na(
    src: str,
    dst: str,
    target: str,
    target_mac: str | None,
    *,
    router: bool = False,
    solicited: bool = True,
    override: bool = True,
) -> bytes:
    """An NA message (§4.4), as a neighbour answers a solicitation."""
    flags = (
        (NA_ROUTER if router else 0)
        | (NA_SOLICITED if solicited else 0)
        | (NA_OVERRIDE if override else 0)
    )
    body = struct.pack("!BBHB3x", NdType.NEIGHBOR_ADVERT, 0, 0, flags)
    body += ipaddress.IPv6Address(target).packed
    if target_mac is not None:
        body += _lladdr_option(NdOption.TARGET_LLADDR, target_mac)
    return _with_checksum(src, dst, body)


def build_ipv6(
    src: str,
    dst: str,
    payload: bytes,
    next_header: int = IPPROTO_ICMPV6,
    hop_limit: int = NDP_HOP_LIMIT,
) -> bytes:
    header = struct.pack("!IHBB", 6 << 28, len(payload), next_header, hop_limit)
    return header + ipaddress.IPv6Address(src).packed + ipaddress.IPv6Address(dst).packed + payload


def build_ns_frame(source_mac: str, src: str, target: str) -> bytes:
    """A whole Ethernet frame soliciting target at its solicited-node group.  src "::" makes
    it a duplicate-address probe (RFC 4862 §5.4.2)."""
    dst = solicited_node(target)
    lladdr = None if ipaddress.IPv6Address(src).is_unspecified else source_mac
    packet = build_ipv6(src, dst, build_ns(src, dst, target, lladdr))
    return build_ether(multicast_mac(dst), source_mac, ETH_P_IPV6, packet)


def parse_ipv6(data: bytes) -> IPv6Packet | None:
    if len(data) < 40 or data[0] >> 4 != 6:
        return None
    length, next_header, hop_limit = struct.unpack_from("!HBB", data, 4)
    if len(data) < 40 + length:
        return None
    return IPv6Packet(
        str(ipaddress.IPv6Address(data[8:24])),
        str(ipaddress.IPv6Address(data[24:40])),
        next_header,
        hop_limit,
        data[40 : 40 + length],
    )


def _options(data: bytes) -> dict[int, bytes] | None:
    found: dict[int, bytes] = {}
    offset = 0
    while offset + 2 <= len(data):
        kind, units = data[offset], data[offset + 1]
        if units == 0:  # §4.6: a zero length is invalid and the packet is discarded
            return None
        end = offset + units * 8
        if end > len(data):
            return None
        found.setdefault(kind, data[offset + 2 : end])
        offset = end
    return found


def _lladdr(options: dict[int, bytes], kind: int) -> str | None:
    value = options.get(kind)
    return mac_str(value[:6]) if value is not None and len(value) >= 6 else None


def parse_ns(message: bytes) -> NeighborSolicit | None:
    if len(message) < 24 or message[0] != NdType.NEIGHBOR_SOLICIT or message[1] != 0:
        return None
    options = _options(message[24:])
    if options is None:
        return None
    return NeighborSolicit(
        str(ipaddress.IPv6Address(message[8:24])), _lladdr(options, NdOption.SOURCE_LLADDR)
    )


def parse_na(message: bytes) -> NeighborAdvert | None:
    if len(message) < 24 or message[0] != NdType.NEIGHBOR_ADVERT or message[1] != 0:
        return None
    options = _options(message[24:])
    if options is None:
        return None
    flags = message[4]
    return NeighborAdvert(
        str(ipaddress.IPv6Address(message[8:24])),
        bool(flags & NA_ROUTER),
        bool(flags & NA_SOLICITED),
        bool(flags & NA_OVERRIDE),
        _lladdr(options, NdOption.TARGET_LLADDR),
    )


def parse_na_frame(frame: bytes) -> tuple[str, IPv6Packet, NeighborAdvert] | None:
    """(frame source MAC, IPv6 packet, NA) for a valid NA frame, else None.  Invalid per
    §7.1.2: hop limit not 255, bad checksum, code not 0."""
    ether = parse_ether(frame)
    if ether is None or ether.ethertype != ETH_P_IPV6:
        return None
    packet = parse_ipv6(ether.payload)
    if packet is None or packet.next_header != IPPROTO_ICMPV6 or packet.hop_limit != NDP_HOP_LIMIT:
        return None
    if icmp6_checksum(packet.src, packet.dst, packet.payload) != 0:
        return None
    advert = parse_na(packet.payload)
    return None if advert is None else (ether.src, packet, advert)
