"""Internet checksum, the upper-layer pseudo-header and the IPv4 header, shared by the ICMP,
TCP, UDP and NDP codecs."""

from __future__ import annotations

import ipaddress
import socket
import struct

from netladder.proto.record import record

__all__ = [
    "IPv4Header",
    "checksum",
    "ipv4_offsets",
    "ipv6_text",
    "parse_ipv4_header",
    "pseudo_header",
]

_PSEUDO4 = struct.Struct("!BBH")  # zero, protocol, upper-layer length (RFC 9293 §3.1)
_PSEUDO6 = struct.Struct("!I3xB")  # upper-layer length, three zeros, next header (RFC 8200 §8.1)


def checksum(data: bytes | bytearray | memoryview) -> int:
    """The Internet checksum (RFC 1071): the ones'-complement of the ones'-complement sum of the
    16-bit big-endian words, an odd last byte padded with a zero.

    Computed as one big integer: 2¹⁶ ≡ 1 (mod 2¹⁶ − 1), so the bytes read as a big-endian number
    are congruent to the sum of their words, and the end-around-carry sum is that remainder —
    except that a nonzero sum ≡ 0 folds to 0xFFFF, never to 0 (RFC 1071 §2(A)), which only
    all-zero data can escape.  One C-level conversion instead of a Python loop over words: a
    few times faster than summing unpacked words at every packet size."""
    total = int.from_bytes(data, "big")
    if len(data) & 1:
        total <<= 8
    remainder = total % 0xFFFF
    if remainder:
        return 0xFFFF - remainder
    return 0 if total else 0xFFFF


def pseudo_header(src: bytes, dst: bytes, length: int, protocol: int) -> bytes:
    """The pseudo-header an upper-layer checksum covers, for packed addresses (4 or 16 bytes):
    RFC 9293 §3.1 (IPv4), RFC 8200 §8.1 (IPv6)."""
    if len(src) == 4:
        return src + dst + _PSEUDO4.pack(0, protocol, length)
    return src + dst + _PSEUDO6.pack(length, protocol)


def ipv4_offsets(data: bytes | bytearray | memoryview) -> tuple[int, int] | None:
    """(header length, protocol) of an IPv4 packet — where its payload starts and what that
    is — or None when the bytes are not a whole IPv4 header.  The addresses are at the fixed
    offsets 12 and 16 (RFC 791 §3.1): hot paths slice them without building anything."""
    if len(data) < 20 or data[0] >> 4 != 4:
        return None
    ihl = (data[0] & 0x0F) * 4
    if ihl < 20 or len(data) < ihl:
        return None
    return ihl, data[9]


@record
class IPv4Header:
    src: str
    dst: str
    ttl: int
    protocol: int
    header_length: int
    total_length: int
    identification: int


def parse_ipv4_header(data: bytes | bytearray | memoryview) -> IPv4Header | None:
    """The header of an IPv4 packet, or None when the bytes are not a whole one."""
    offsets = ipv4_offsets(data)
    if offsets is None:
        return None
    ihl, protocol = offsets
    total_length, identification = struct.unpack_from("!HH", data, 2)
    # inet_ntoa writes what str(IPv4Address) does (dotted decimal), without the object.
    src = socket.inet_ntoa(bytes(data[12:16]))
    dst = socket.inet_ntoa(bytes(data[16:20]))
    return IPv4Header(src, dst, data[8], protocol, ihl, total_length, identification)


def ipv6_text(packed: bytes | bytearray | memoryview) -> str:
    """An IPv6 address as the rest of netladder writes it (ipaddress's RFC 5952 form)."""
    return str(ipaddress.IPv6Address(bytes(packed)))
