"""A minimal TCP SYN codec for Paris-style TCP probes (RFC 9293 §3.1), pure functions.

The probe id travels in the sequence number: a SYN-ACK or RST acknowledges it (ack = seq + 1,
RFC 9293 §3.10.7.3) and an ICMP error quotes it (the first 8 bytes of TCP: ports and sequence,
RFC 792), while the ports — what per-flow load balancers hash — never change.
"""

from __future__ import annotations

import ipaddress
import struct
from typing import NamedTuple

from netladder.proto.inet import checksum

__all__ = ["SYN", "TcpSegment", "build_syn", "parse_segment", "quoted_tcp"]

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
IPPROTO_TCP = 6
WINDOW = 64240


class TcpSegment(NamedTuple):
    sport: int
    dport: int
    seq: int
    ack: int
    flags: int


def build_syn(src: str, dst: str, sport: int, dport: int, seq: int) -> bytes:
    """A 20-byte SYN with its checksum over the pseudo-header (RFC 9293 §3.1; RFC 8200 §8.1)."""
    header = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, 0, 5 << 4, SYN, WINDOW, 0, 0)
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if s.version == 4:
        pseudo = s.packed + d.packed + struct.pack("!BBH", 0, IPPROTO_TCP, len(header))
    else:
        pseudo = s.packed + d.packed + struct.pack("!I3xB", len(header), IPPROTO_TCP)
    csum = checksum(pseudo + header)
    return header[:16] + struct.pack("!H", csum) + header[18:]


def parse_segment(data: bytes, with_ip_header: bool) -> tuple[str | None, TcpSegment] | None:
    """(IPv4 source or None, segment) from what a raw TCP socket read; None when too short."""
    source = None
    if with_ip_header:
        if len(data) < 20 or data[0] >> 4 != 4:
            return None
        ihl = (data[0] & 0x0F) * 4
        source = str(ipaddress.IPv4Address(data[12:16]))
        data = data[ihl:]
    if len(data) < 14:
        return None
    sport, dport, seq, ack, _offset, flags = struct.unpack_from("!HHIIBB", data)
    return source, TcpSegment(sport, dport, seq, ack, flags)


def quoted_tcp(quote: bytes, version: int) -> TcpSegment | None:
    """The ports and sequence of our SYN as quoted in an ICMP error (the datagram after the
    ICMP header)."""
    if version == 4:
        if len(quote) < 20 or quote[0] >> 4 != 4 or quote[9] != IPPROTO_TCP:
            return None
        inner = quote[(quote[0] & 0x0F) * 4 :]
    else:
        if len(quote) < 40 or quote[0] >> 4 != 6 or quote[6] != IPPROTO_TCP:
            return None
        inner = quote[40:]
    if len(inner) < 8:
        return None
    sport, dport, seq = struct.unpack_from("!HHI", inner)
    return TcpSegment(sport, dport, seq, 0, 0)
