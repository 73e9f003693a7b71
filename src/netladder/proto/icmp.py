"""ICMP and ICMPv6 echo and error messages (RFC 792, RFC 4443) as pure functions.

`build_echo` makes an Echo Request; `EchoTemplate` rebuilds one in place for every probe of a
sweep; `parse_icmp` reads whatever a socket returned — with or without the IPv4 header in front
(raw IPv4 sockets include it; datagram and IPv6 sockets do not) — into an `IcmpMessage`.  For
error messages the quoted original datagram is parsed too (`parse_quote`, the one parser of
quotes: echo, UDP and TCP probes alike), so a prober can tell which of its probes the error is
about.  Truncated or corrupted input never raises: it yields None or a message whose
`checksum_ok` is False.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable

from netladder.proto.inet import checksum, ipv4_offsets, ipv6_text, parse_ipv4_header
from netladder.proto.record import record

__all__ = [
    "ECHO_REPLY",
    "ECHO_REQUEST",
    "ICMP4_ERRORS",
    "ICMP6_ERRORS",
    "EchoTemplate",
    "IcmpMessage",
    "Quoted",
    "build_echo",
    "echo_payload",
    "error_text",
    "parse_icmp",
    "parse_quote",
]

IPPROTO_ICMP = 1
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_ICMPV6 = 58

ECHO_REQUEST = {4: 8, 6: 128}
ECHO_REPLY = {4: 0, 6: 129}

# (type, code) -> how iputils ping names it.  RFC 792 / RFC 1812 §5.2.7.1.
ICMP4_ERRORS: dict[tuple[int, int], str] = {
    (3, 0): "Destination Net Unreachable",
    (3, 1): "Destination Host Unreachable",
    (3, 2): "Destination Protocol Unreachable",
    (3, 3): "Destination Port Unreachable",
    (3, 4): "Frag needed and DF set",
    (3, 5): "Source Route Failed",
    (3, 6): "Destination Net Unknown",
    (3, 7): "Destination Host Unknown",
    (3, 8): "Source Host Isolated",
    (3, 9): "Destination Net Prohibited",
    (3, 10): "Destination Host Prohibited",
    (3, 11): "Destination Net Unreachable for Type of Service",
    (3, 12): "Destination Host Unreachable for Type of Service",
    (3, 13): "Packet filtered",
    (3, 14): "Precedence Violation",
    (3, 15): "Precedence Cutoff",
    (11, 0): "Time to live exceeded",
    (11, 1): "Frag reassembly time exceeded",
    (12, 0): "Parameter problem",
    (5, 0): "Redirect Network",
    (5, 1): "Redirect Host",
}
# RFC 4443 §3.
ICMP6_ERRORS: dict[tuple[int, int], str] = {
    (1, 0): "Destination unreachable: No route",
    (1, 1): "Destination unreachable: Administratively prohibited",
    (1, 2): "Destination unreachable: Beyond scope of source address",
    (1, 3): "Destination unreachable: Address unreachable",
    (1, 4): "Destination unreachable: Port unreachable",
    (1, 5): "Destination unreachable: Source address failed ingress/egress policy",
    (1, 6): "Destination unreachable: Reject route to destination",
    (2, 0): "Packet too big",
    (3, 0): "Time exceeded: Hop limit",
    (3, 1): "Time exceeded: Defragmentation failure",
    (4, 0): "Parameter problem: Wrong header field",
    (4, 1): "Parameter problem: Unknown header",
    (4, 2): "Parameter problem: Unknown option",
}
ERROR_TYPES = {4: {3, 4, 5, 11, 12}, 6: {1, 2, 3, 4}}
TIME_EXCEEDED = {4: 11, 6: 3}
UNREACHABLE = {4: 3, 6: 1}


def error_text(version: int, icmp_type: int, code: int) -> str:
    table = ICMP4_ERRORS if version == 4 else ICMP6_ERRORS
    return table.get((icmp_type, code), f"Bad ICMP type {icmp_type} code {code}")


@record
class Quoted:
    """The start of our own datagram, as quoted inside an ICMP error (RFC 792: the IP header
    and the first 8 bytes of its payload; RFC 4443 §3: as much as fits)."""

    src: str
    dst: str
    protocol: int
    # ICMP echo: identifier and sequence; UDP/TCP: source and destination ports.
    field_a: int
    field_b: int
    ttl: int | None = None  # what was left of our TTL when the router saw it (IPv4 only)
    # Where the quoted ICMP/UDP/TCP header starts in the bytes given to `parse_quote`: a
    # prober that put more than 8 bytes of its own (sweep's cookie) reads them from there.
    inner_offset: int = 0
    seq: int | None = None  # TCP: the quoted sequence number (RFC 9293 §3.1, bytes 4-7)


@record
class IcmpMessage:
    version: int
    type: int
    code: int
    checksum_ok: bool
    identifier: int  # echo only (0 otherwise)
    sequence: int  # echo only (0 otherwise)
    payload: bytes  # echo: the data; errors: the quoted datagram
    source: str | None = None  # from the IPv4 header when present
    ttl: int | None = None  # from the IPv4 header when present
    quoted: Quoted | None = None
    mtu: int | None = None  # fragmentation needed / packet too big

    @property
    def is_echo_reply(self) -> bool:
        return self.type == ECHO_REPLY[self.version]

    @property
    def is_error(self) -> bool:
        return self.type in ERROR_TYPES[self.version]

    @property
    def is_time_exceeded(self) -> bool:
        return self.type == TIME_EXCEEDED[self.version]

    @property
    def text(self) -> str:
        return error_text(self.version, self.type, self.code)


def echo_payload(cookie: bytes, size: int) -> bytes:
    """Echo data: the per-run cookie first (so replies to other runs are recognised), then
    iputils' incrementing byte pattern."""
    if size <= len(cookie):
        return cookie[:size]
    return cookie + bytes((i & 0xFF) for i in range(len(cookie), size))


_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")


def build_echo(version: int, identifier: int, sequence: int, payload: bytes) -> bytes:
    """An Echo Request.  The ICMPv6 checksum covers a pseudo-header the kernel knows and we do
    not (the source address), so it is left 0 and the kernel fills it in (RFC 3542 §3.1)."""
    header = struct.pack(
        "!BBHHH", ECHO_REQUEST[version], 0, 0, identifier & 0xFFFF, sequence & 0xFFFF
    )
    if version == 6:
        return header + payload
    csum = checksum(header + payload)
    return header[:2] + struct.pack("!H", csum) + header[4:] + payload


class EchoTemplate:
    """One Echo Request rebuilt in place for every probe, for senders of many (a sweep).

    `packet` holds the request — behind a 20-byte IPv4 header with `ip_header` (an IP_HDRINCL
    socket; the kernel fills in the length, the IP identifier, the header checksum and the
    source address, raw(7)) — with `identifier` and echo data of `size` bytes: `cookie`, then
    iputils' pattern (`echo_payload`).  Per probe the caller writes its own fields into
    `packet` at `data_offset` and beyond (the echo data), then calls `fill(seq, dst)`, which
    writes the sequence number, the destination (an IPv4 address as an integer, with
    `ip_header` only) and the checksum, and returns `packet` to send.

    The ICMP checksum is ours to compute on a raw IPv4 socket only: a datagram socket's kernel
    writes it (and the identifier), and ICMPv6's covers a pseudo-header the kernel fills in
    (RFC 3542 §3.1) — `checksummed=False` leaves it to the kernel."""

    __slots__ = ("data_offset", "fill", "icmp_offset", "packet", "version")

    fill: Callable[..., bytearray]  # (seq: int, dst: int = 0) -> the packet

    def __init__(
        self,
        version: int,
        identifier: int,
        cookie: bytes,
        size: int,
        *,
        ip_header: bool = False,
        checksummed: bool = True,
        ttl: int = 64,
    ) -> None:
        if ip_header and version != 4:
            raise ValueError("an IP header is built for IPv4 only")
        self.version = version
        self.icmp_offset = at = 20 if ip_header else 0
        self.data_offset = at + 8
        self.packet = packet = bytearray(at + 8 + size)
        if ip_header:
            # Version 4, header length 5 words; TTL; protocol ICMP (RFC 791 §3.1).
            packet[0], packet[8], packet[9] = 0x45, ttl, IPPROTO_ICMP
        packet[at] = ECHO_REQUEST[version]
        _U16.pack_into(packet, at + 4, identifier & 0xFFFF)
        packet[at + 8 :] = echo_payload(cookie, size)
        self.fill = _filler(packet, at, ip_header, checksummed and version == 4)


def _filler(
    packet: bytearray, at: int, ip_header: bool, checksummed: bool
) -> Callable[..., bytearray]:
    """`EchoTemplate.fill`, as a closure over the template's locals: a sweep calls it once per
    probe, where every attribute lookup and call is a millisecond over a /16."""
    pack16 = _U16.pack_into
    pack32 = _U32.pack_into
    from_bytes = int.from_bytes
    icmp = memoryview(packet)[at:]
    # proto.inet.checksum's arithmetic, inlined (one call less per probe): the message read
    # as one big-endian integer — an odd length padded by a shift — is congruent to its sum
    # of words mod 0xFFFF; an echo request is never all zero, so a remainder of 0 is a sum
    # of 0xFFFF, whose checksum is 0.
    pad = 8 * (len(icmp) & 1)

    def fill(seq: int, dst: int = 0) -> bytearray:
        if ip_header:
            pack32(packet, 16, dst)
        pack16(packet, at + 6, seq & 0xFFFF)
        if checksummed:
            packet[at + 2] = packet[at + 3] = 0
            remainder = (from_bytes(icmp, "big") << pad) % 0xFFFF
            pack16(packet, at + 2, 0xFFFF - remainder if remainder else 0)
        return packet

    return fill


def parse_icmp(data: bytes, version: int, with_ip_header: bool = False) -> IcmpMessage | None:
    """Parse one ICMP(v6) message; None when too short to be one."""
    source = ttl = None
    if with_ip_header:
        ip = parse_ipv4_header(data)
        if ip is None or ip.protocol != IPPROTO_ICMP:
            return None
        source, ttl = ip.src, ip.ttl
        data = data[ip.header_length :]
    if len(data) < 8:
        return None
    icmp_type, code, _csum = struct.unpack_from("!BBH", data)
    # ICMPv6 checksums include a pseudo-header and are verified by the kernel: a corrupted one
    # never reaches us.  ICMPv4 we verify ourselves.
    checksum_ok = True if version == 6 else checksum(data) == 0
    identifier = sequence = 0
    quoted = None
    mtu = None
    if icmp_type in (ECHO_REPLY[version], ECHO_REQUEST[version]):
        identifier, sequence = struct.unpack_from("!HH", data, 4)
    elif icmp_type in ERROR_TYPES[version]:
        quoted = parse_quote(memoryview(data)[8:], version)
        if version == 4 and icmp_type == 3 and code == 4:
            mtu = struct.unpack_from("!H", data, 6)[0]
        elif version == 6 and icmp_type == 2:
            mtu = struct.unpack_from("!I", data, 4)[0]
    return IcmpMessage(
        version,
        icmp_type,
        code,
        checksum_ok,
        identifier,
        sequence,
        data[8:],
        source,
        ttl,
        quoted,
        mtu,
    )


def parse_quote(data: bytes | bytearray | memoryview, version: int) -> Quoted | None:
    """Our own datagram as an ICMP(v6) error quotes it: `data` is what follows the error's
    8-byte ICMP header.  None unless it holds the whole IP header and the 8 bytes of ICMP,
    UDP or TCP header RFC 792 guarantees (echo identifier and sequence; ports; TCP's
    sequence).  Extension headers in an IPv6 quote are not followed: our probes carry none."""
    if version == 4:
        offsets = ipv4_offsets(data)
        if offsets is None:
            return None
        inner, protocol = offsets
        src = socket.inet_ntoa(bytes(data[12:16]))
        dst = socket.inet_ntoa(bytes(data[16:20]))
        ttl: int | None = data[8]
    else:
        if len(data) < 40 or data[0] >> 4 != 6:
            return None
        inner, protocol = 40, data[6]
        src, dst = ipv6_text(data[8:24]), ipv6_text(data[24:40])
        ttl = None
    if len(data) < inner + 8:
        return None
    seq = None
    if protocol in (IPPROTO_ICMP, IPPROTO_ICMPV6):
        a, b = struct.unpack_from("!HH", data, inner + 4)  # echo identifier, sequence
    else:
        a, b, seq = struct.unpack_from("!HHI", data, inner)  # source, destination port
        if protocol != IPPROTO_TCP:
            seq = None
    return Quoted(src, dst, protocol, a, b, ttl, inner, seq)
