"""TCP SYN probes and what comes back: pure bytes in, records out — the one TCP segment codec.

A SYN scan and a TCP trace send bare SYN segments from a raw socket (the kernel adds the IP
header) and read back SYN/ACK, RST, or an ICMP/ICMPv6 error quoting the probe (parsed by
`netladder.proto.icmp.parse_quote`).  Addresses are packed bytes (4 or 16) so a scanner's hot
path never builds address objects; `HEAD` reads an answer's fields without building a segment.

References: RFC 9293 §3.1 (TCP header), RFC 791 §3.1 (IPv4 header), RFC 8200 §8.1 (upper-layer
checksum over the IPv6 pseudo-header), RFC 792 / RFC 1812 §5.2.7.1 (ICMP unreachable codes,
time exceeded), RFC 4443 §3.1 and §3.3 (ICMPv6 destination unreachable, time exceeded).
"""

from __future__ import annotations

import struct

from netladder.proto.icmp import TIME_EXCEEDED, UNREACHABLE
from netladder.proto.inet import checksum, pseudo_header
from netladder.proto.record import record

__all__ = [
    "ACK",
    "FIN",
    "HEAD",
    "ICMP4_UNREACH_REASONS",
    "ICMP6_UNREACH_REASONS",
    "RST",
    "SYN",
    "TcpSegment",
    "build_syn",
    "icmp_reason",
    "parse_tcp",
]

# RFC 9293 §3.1 control bits
FIN = 0x01
SYN = 0x02
RST = 0x04
PSH = 0x08
ACK = 0x10

IPPROTO_TCP = 6

# ICMP destination unreachable (type 3) codes and nmap's reason names; RFC 792, RFC 1812
# §5.2.7.1.  nmap calls codes 0,1,2,3,9,10,13 "filtered" for TCP.
ICMP4_UNREACH_REASONS: dict[int, str] = {
    0: "net-unreach",  # RFC 792
    1: "host-unreach",  # RFC 792
    2: "proto-unreach",  # RFC 792
    3: "port-unreach",  # RFC 792
    9: "net-prohibited",  # RFC 1122 §3.2.2.1
    10: "host-prohibited",  # RFC 1122 §3.2.2.1
    13: "admin-prohibited",  # RFC 1812 §5.2.7.1
}
# ICMPv6 destination unreachable (type 1) codes; RFC 4443 §3.1.
ICMP6_UNREACH_REASONS: dict[int, str] = {
    0: "net-unreach",  # no route to destination
    1: "admin-prohibited",  # communication administratively prohibited
    2: "beyond-scope",
    3: "host-unreach",  # address unreachable
    4: "port-unreach",
    5: "admin-prohibited",  # source address failed ingress/egress policy
    6: "admin-prohibited",  # reject route to destination
}


_TCP = struct.Struct("!HHIIBBHHH")
# The fixed header's first 14 bytes — source and destination port, sequence, acknowledgment,
# data offset, flags — in one unpack: what a scan's hot path reads from every answer.
HEAD = struct.Struct("!HHIIBB")


def icmp_reason(version: int, icmp_type: int, code: int) -> str | None:
    """nmap's reason name for an ICMP(v6) error about a probe; None for a message that says
    nothing about whether the probe could arrive (redirects, source quench, packet too big).
    Besides unreachables, time exceeded answers a probe: its TTL ran out on the way (a routing
    loop, or a path longer than the TTL), nmap's "time-exceeded" (RFC 792, RFC 4443 §3.3)."""
    if icmp_type == TIME_EXCEEDED[version]:
        return "time-exceeded"
    if icmp_type != UNREACHABLE[version]:
        return None
    table = ICMP4_UNREACH_REASONS if version == 4 else ICMP6_UNREACH_REASONS
    return table.get(code, f"unreach-code-{code}")


def build_syn(
    src: bytes,
    dst: bytes,
    sport: int,
    dport: int,
    seq: int,
    *,
    window: int = 1024,
    mss: int | None = 1460,
) -> bytes:
    """A TCP SYN segment (no IP header) with a valid checksum: a Maximum Segment Size option
    unless `mss` is None (a bare 20-byte header).  The SYN scan sends nmap's window 1024 and
    MSS 1460; a TCP trace sends window 64240 and no option.

    `src` and `dst` are packed addresses (4 bytes for IPv4, 16 for IPv6): the checksum covers
    them through the pseudo-header.
    """
    if len(src) != len(dst) or len(src) not in (4, 16):
        raise ValueError("src and dst must both be packed IPv4 or IPv6 addresses")
    # RFC 9293 §3.2: kind 2, length 4, the Maximum Segment Size.
    options = b"" if mss is None else struct.pack("!BBH", 2, 4, mss)
    offset = (20 + len(options)) // 4
    header = _TCP.pack(sport, dport, seq & 0xFFFFFFFF, 0, offset << 4, SYN, window, 0, 0)
    segment = header + options
    csum = checksum(pseudo_header(src, dst, len(segment), IPPROTO_TCP) + segment)
    return segment[:16] + struct.pack("!H", csum) + segment[18:]


@record
class TcpSegment:
    sport: int
    dport: int
    seq: int
    ack: int
    flags: int
    window: int

    @property
    def is_synack(self) -> bool:
        return self.flags & (SYN | ACK) == SYN | ACK

    @property
    def is_rst(self) -> bool:
        return bool(self.flags & RST)


def parse_tcp(data: bytes | memoryview) -> TcpSegment | None:
    """The fixed TCP header, or None when there are fewer than 20 bytes or a bad data offset."""
    if len(data) < 20:
        return None
    sport, dport, seq, ack, off, flags, window, _csum, _urg = _TCP.unpack_from(data)
    if off >> 4 < 5:
        return None
    return TcpSegment(sport, dport, seq, ack, flags, window)
