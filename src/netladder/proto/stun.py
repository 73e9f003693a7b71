"""STUN (RFC 8489, formerly RFC 5389) message codec: Binding requests and responses.

Pure: `build_*` return bytes, `parse_message` returns a frozen `StunMessage` or raises
`StunError` for anything malformed, so a hostile server can never crash the caller.
"""

from __future__ import annotations

import ipaddress
import struct
import zlib

from netladder.proto.record import record

__all__ = [
    "ATTRIBUTE_NAMES",
    "BINDING_ERROR",
    "BINDING_REQUEST",
    "BINDING_SUCCESS",
    "MAGIC_COOKIE",
    "Attribute",
    "MappedAddress",
    "StunError",
    "StunMessage",
    "build_binding_request",
    "build_binding_response",
    "build_message",
    "parse_message",
]

MAGIC_COOKIE = 0x2112A442  # RFC 8489 §5
HEADER = struct.Struct("!HHI12s")  # type, length, cookie, transaction id (§5)
FINGERPRINT_XOR = 0x5354554E  # "STUN", RFC 8489 §14.7

# Message types: method Binding (0x001) in the request, success and error classes (§5, §18.2).
BINDING_REQUEST = 0x0001
BINDING_SUCCESS = 0x0101
BINDING_ERROR = 0x0111

# Attribute types (RFC 8489 §14, §18.3).
MAPPED_ADDRESS = 0x0001  # §14.1
USERNAME = 0x0006  # §14.3
MESSAGE_INTEGRITY = 0x0008  # §14.5
ERROR_CODE = 0x0009  # §14.8
UNKNOWN_ATTRIBUTES = 0x000A  # §14.9
XOR_MAPPED_ADDRESS = 0x0020  # §14.2
SOFTWARE = 0x8022  # §14.14
ALTERNATE_SERVER = 0x8023  # §14.15
FINGERPRINT = 0x8028  # §14.7
RESPONSE_ORIGIN = 0x802B  # RFC 5780 §7.3
OTHER_ADDRESS = 0x802C  # RFC 5780 §7.4

ATTRIBUTE_NAMES: dict[int, str] = {
    MAPPED_ADDRESS: "MAPPED-ADDRESS",
    USERNAME: "USERNAME",
    MESSAGE_INTEGRITY: "MESSAGE-INTEGRITY",
    ERROR_CODE: "ERROR-CODE",
    UNKNOWN_ATTRIBUTES: "UNKNOWN-ATTRIBUTES",
    XOR_MAPPED_ADDRESS: "XOR-MAPPED-ADDRESS",
    SOFTWARE: "SOFTWARE",
    ALTERNATE_SERVER: "ALTERNATE-SERVER",
    FINGERPRINT: "FINGERPRINT",
    RESPONSE_ORIGIN: "RESPONSE-ORIGIN",
    OTHER_ADDRESS: "OTHER-ADDRESS",
}

_FAMILIES = {1: 4, 2: 6}  # address family byte -> IP version (§14.1)
MAX_MESSAGE = 65535 + HEADER.size


class StunError(ValueError):
    """A message that is not well-formed STUN; the text says what is wrong."""


@record
class Attribute:
    type: int
    value: bytes

    @property
    def name(self) -> str:
        return ATTRIBUTE_NAMES.get(self.type, f"0x{self.type:04x}")


@record
class MappedAddress:
    address: str
    port: int

    @property
    def version(self) -> int:
        return ipaddress.ip_address(self.address).version


@record
class StunMessage:
    type: int
    transaction_id: bytes
    attributes: tuple[Attribute, ...]
    fingerprint_ok: bool | None  # None when the message carries no FINGERPRINT

    @property
    def method(self) -> int:
        t = self.type
        return (t & 0x000F) | ((t & 0x00E0) >> 1) | ((t & 0x3E00) >> 2)

    @property
    def klass(self) -> str:
        """request, indication, success or error (the C1/C0 bits, §5)."""
        bits = ((self.type >> 7) & 0x2) | ((self.type >> 4) & 0x1)
        return ("request", "indication", "success", "error")[bits]

    def attribute(self, type_: int) -> Attribute | None:
        return next((a for a in self.attributes if a.type == type_), None)

    @property
    def xor_mapped(self) -> MappedAddress | None:
        attr = self.attribute(XOR_MAPPED_ADDRESS)
        return None if attr is None else _decode_address(attr.value, self.transaction_id)

    @property
    def mapped(self) -> MappedAddress | None:
        attr = self.attribute(MAPPED_ADDRESS)
        return None if attr is None else _decode_address(attr.value, None)

    @property
    def reflexive(self) -> MappedAddress | None:
        """The server-reflexive address: XOR-MAPPED-ADDRESS, else the classic MAPPED-ADDRESS
        (RFC 8489 §14.1 keeps the latter for RFC 3489 servers)."""
        return self.xor_mapped or self.mapped

    @property
    def software(self) -> str | None:
        attr = self.attribute(SOFTWARE)
        return None if attr is None else attr.value.decode("utf-8", "replace")

    @property
    def error(self) -> tuple[int, str] | None:
        """ERROR-CODE as (code, reason), §14.8: class in bits 8-10, number 0-99 below."""
        attr = self.attribute(ERROR_CODE)
        if attr is None:
            return None
        if len(attr.value) < 4:
            raise StunError("ERROR-CODE shorter than 4 bytes")
        klass, number = attr.value[2] & 0x07, attr.value[3]
        if not 3 <= klass <= 6 or number > 99:
            raise StunError(f"ERROR-CODE {klass}{number:02d} out of range")
        return klass * 100 + number, attr.value[4:].decode("utf-8", "replace")


def _pad(n: int) -> int:
    return (4 - n % 4) % 4


def _xor_key(transaction_id: bytes) -> bytes:
    return struct.pack("!I", MAGIC_COOKIE) + transaction_id


def _encode_address(address: str, port: int, transaction_id: bytes | None) -> bytes:
    ip = ipaddress.ip_address(address)
    raw = ip.packed
    if transaction_id is not None:  # XOR-MAPPED-ADDRESS, §14.2
        port ^= MAGIC_COOKIE >> 16
        raw = bytes(a ^ b for a, b in zip(raw, _xor_key(transaction_id), strict=False))
    family = 1 if ip.version == 4 else 2
    return struct.pack("!BBH", 0, family, port) + raw


def _decode_address(value: bytes, transaction_id: bytes | None) -> MappedAddress:
    if len(value) < 4:
        raise StunError("address attribute shorter than 4 bytes")
    _, family, port = struct.unpack_from("!BBH", value)
    version = _FAMILIES.get(family)
    if version is None:
        raise StunError(f"address family {family} is neither IPv4 (1) nor IPv6 (2)")
    raw = value[4:]
    size = 4 if version == 4 else 16
    if len(raw) != size:
        raise StunError(f"IPv{version} address attribute has {len(raw)} address bytes, not {size}")
    if transaction_id is not None:
        port ^= MAGIC_COOKIE >> 16
        raw = bytes(a ^ b for a, b in zip(raw, _xor_key(transaction_id), strict=False))
    ip = ipaddress.IPv4Address(raw) if version == 4 else ipaddress.IPv6Address(raw)
    return MappedAddress(str(ip), port)


def build_message(
    type_: int,
    transaction_id: bytes,
    attributes: tuple[Attribute, ...] = (),
    *,
    fingerprint: bool = False,
) -> bytes:
    """A STUN message; with `fingerprint` a FINGERPRINT attribute closes it (§14.7)."""
    if len(transaction_id) != 12:
        raise ValueError("a STUN transaction id is 12 bytes")
    if not 0 <= type_ < 0x4000:
        raise ValueError("the two top bits of the message type must be zero")
    body = b"".join(
        struct.pack("!HH", a.type, len(a.value)) + a.value + b"\0" * _pad(len(a.value))
        for a in attributes
    )
    if fingerprint:
        # The CRC covers the message up to the attribute, with the length already counting it.
        head = HEADER.pack(type_, len(body) + 8, MAGIC_COOKIE, transaction_id)
        crc = (zlib.crc32(head + body) ^ FINGERPRINT_XOR) & 0xFFFFFFFF
        body += struct.pack("!HHI", FINGERPRINT, 4, crc)
    return HEADER.pack(type_, len(body), MAGIC_COOKIE, transaction_id) + body


def build_binding_request(transaction_id: bytes, *, fingerprint: bool = False) -> bytes:
    return build_message(BINDING_REQUEST, transaction_id, fingerprint=fingerprint)


def build_binding_response(
    transaction_id: bytes,
    address: str,
    port: int,
    *,
    xor: bool = True,
    classic: bool = False,
    software: str | None = None,
    fingerprint: bool = True,
) -> bytes:
    """A Binding success response naming the address the request came from."""
    attrs: list[Attribute] = []
    if xor:
        attrs.append(Attribute(XOR_MAPPED_ADDRESS, _encode_address(address, port, transaction_id)))
    if classic:
        attrs.append(Attribute(MAPPED_ADDRESS, _encode_address(address, port, None)))
    if software is not None:
        attrs.append(Attribute(SOFTWARE, software.encode()))
    return build_message(BINDING_SUCCESS, transaction_id, tuple(attrs), fingerprint=fingerprint)


def parse_message(data: bytes) -> StunMessage:
    """Parse one STUN message; raises StunError for anything that is not well-formed."""
    if len(data) < HEADER.size:
        raise StunError(f"{len(data)} bytes is shorter than the 20-byte STUN header")
    type_, length, cookie, transaction_id = HEADER.unpack_from(data)
    if type_ & 0xC000:
        raise StunError("the two top bits are not zero: not a STUN message")
    if cookie != MAGIC_COOKIE:
        raise StunError(f"magic cookie 0x{cookie:08x}, not 0x{MAGIC_COOKIE:08x}")
    if length % 4:
        raise StunError(f"message length {length} is not a multiple of 4")
    if HEADER.size + length != len(data):
        raise StunError(
            f"header says {length} attribute bytes, datagram has {len(data) - HEADER.size}"
        )
    attributes: list[Attribute] = []
    fingerprint_ok: bool | None = None
    offset = HEADER.size
    while offset < len(data):
        if offset + 4 > len(data):
            raise StunError("truncated attribute header")
        a_type, a_len = struct.unpack_from("!HH", data, offset)
        end = offset + 4 + a_len
        if end > len(data):
            raise StunError(f"attribute 0x{a_type:04x} runs past the end of the message")
        value = data[offset + 4 : end]
        if fingerprint_ok is not None:
            raise StunError("an attribute follows FINGERPRINT (it must be last, §14.7)")
        if a_type == FINGERPRINT:
            if a_len != 4:
                raise StunError("FINGERPRINT is not 4 bytes")
            expected = (zlib.crc32(data[:offset]) ^ FINGERPRINT_XOR) & 0xFFFFFFFF
            fingerprint_ok = struct.unpack("!I", value)[0] == expected
        attributes.append(Attribute(a_type, value))
        offset = end + _pad(a_len)
    if offset != len(data):
        raise StunError("attribute padding runs past the end of the message")
    return StunMessage(type_, transaction_id, tuple(attributes), fingerprint_ok)
