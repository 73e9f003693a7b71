"""Internet checksum and the IPv4 header, shared by the ICMP, TCP and UDP codecs."""

from __future__ import annotations

import ipaddress
import struct

from netladder.proto.record import record

__all__ = ["IPv4Header", "checksum", "parse_ipv4_header"]


def checksum(data: bytes) -> int:
    """The ones'-complement sum of 16-bit words (RFC 1071)."""
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


@record
class IPv4Header:
    src: str
    dst: str
    ttl: int
    protocol: int
    header_length: int
    total_length: int
    identification: int


def parse_ipv4_header(data: bytes) -> IPv4Header | None:
    """The header of an IPv4 packet, or None when the bytes are not a whole one."""
    if len(data) < 20 or data[0] >> 4 != 4:
        return None
    ihl = (data[0] & 0x0F) * 4
    if ihl < 20 or len(data) < ihl:
        return None
    total_length, identification = struct.unpack_from("!HH", data, 2)
    ttl, protocol = data[8], data[9]
    src = str(ipaddress.IPv4Address(data[12:16]))
    dst = str(ipaddress.IPv4Address(data[16:20]))
    return IPv4Header(src, dst, ttl, protocol, ihl, total_length, identification)
