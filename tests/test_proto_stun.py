"""The STUN codec (RFC 8489): round trips, the RFC 5769 XOR vectors, malformed messages."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netladder.proto import stun

TXID = bytes.fromhex("b7e7a701bc34d686fa87dfae")  # RFC 5769 §2.2-2.3


def test_a_binding_request_is_a_bare_20_byte_header() -> None:
    wire = stun.build_binding_request(TXID)
    assert wire == bytes.fromhex("0001 0000 2112a442") + TXID
    message = stun.parse_message(wire)
    assert (message.type, message.method, message.klass) == (stun.BINDING_REQUEST, 1, "request")
    assert message.transaction_id == TXID and message.attributes == ()


@pytest.mark.parametrize(
    ("address", "port", "xored"),
    [
        # RFC 5769 §2.2 and §2.3: X-Port a147, X-Address as below, for the same transaction id.
        ("192.0.2.1", 32853, "0001a147e112a643"),
        ("2001:db8:1234:5678:11:2233:4455:6677", 32853, "0002a1470113a9faa5d3f179bc25f4b5bed2b9d9"),
    ],
)
def test_xor_mapped_address_matches_the_rfc_5769_vectors(
    address: str, port: int, xored: str
) -> None:
    wire = stun.build_binding_response(TXID, address, port, software=None, fingerprint=False)
    value = bytes.fromhex(xored)
    assert wire[20:] == struct.pack("!HH", stun.XOR_MAPPED_ADDRESS, len(value)) + value
    message = stun.parse_message(wire)
    assert message.xor_mapped == stun.MappedAddress(address, port)
    assert message.klass == "success"


@pytest.mark.parametrize(
    ("address", "port", "xor", "classic"),
    [
        ("203.0.113.5", 3478, True, False),
        ("2001:db8:b::1", 1, True, False),
        ("198.51.100.2", 65535, False, True),  # an RFC 3489 server: MAPPED-ADDRESS only
        ("2001:db8::ffff", 40000, True, True),
    ],
)
def test_binding_responses_round_trip(address: str, port: int, xor: bool, classic: bool) -> None:
    wire = stun.build_binding_response(
        TXID, address, port, xor=xor, classic=classic, software="netladder-lab"
    )
    message = stun.parse_message(wire)
    assert message.reflexive == stun.MappedAddress(address, port)
    assert message.software == "netladder-lab"
    assert message.fingerprint_ok is True
    assert len(wire) % 4 == 0
    if classic:
        assert message.mapped == stun.MappedAddress(address, port)
    if not xor:
        assert message.xor_mapped is None


def test_an_error_response_carries_its_code_and_reason() -> None:
    value = b"\x00\x00\x04\x14" + b"Unknown Attribute"  # 420, RFC 8489 §14.8
    wire = stun.build_message(stun.BINDING_ERROR, TXID, (stun.Attribute(stun.ERROR_CODE, value),))
    message = stun.parse_message(wire)
    assert message.klass == "error" and message.error == (420, "Unknown Attribute")


def test_a_corrupted_message_fails_its_fingerprint() -> None:
    wire = bytearray(stun.build_binding_response(TXID, "203.0.113.5", 4000, software="abcd"))
    wire[-10] ^= 0x01  # inside SOFTWARE, before FINGERPRINT
    assert stun.parse_message(bytes(wire)).fingerprint_ok is False


def _header(type_: int = 0x0101, length: int = 0, cookie: int = stun.MAGIC_COOKIE) -> bytes:
    return struct.pack("!HHI", type_, length, cookie) + TXID


@pytest.mark.parametrize(
    ("wire", "reason"),
    [
        (b"", "shorter than the 20-byte"),
        (_header()[:19], "shorter than the 20-byte"),
        (b"\xc1" + _header()[1:], "top bits"),
        (_header(cookie=0xDEADBEEF), "magic cookie"),
        (_header(length=3) + b"abc", "multiple of 4"),
        (_header(length=8), "datagram has 0"),
        (_header(length=4) + b"\x00\x20\x00", "datagram has 3"),
        (_header(length=4) + b"\x00\x20\x00\x08", "runs past the end"),
        (_header(length=8) + b"\x00\x20\x00\x05abcd", "runs past the end"),
        (
            _header(length=16)
            + struct.pack("!HHI", stun.FINGERPRINT, 4, 0)
            + struct.pack("!HH", stun.SOFTWARE, 4)
            + b"abcd",
            "follows FINGERPRINT",
        ),
        (_header(length=8) + struct.pack("!HH", stun.FINGERPRINT, 2) + b"\0\0\0\0", "not 4 bytes"),
    ],
)
def test_malformed_messages_are_refused_with_a_reason(wire: bytes, reason: str) -> None:
    with pytest.raises(stun.StunError, match=reason):
        stun.parse_message(wire)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"\x00\x01\xa1", "shorter than 4"),
        (b"\x00\x03\xa1\x47\xe1\x12\xa6\x43", "family 3"),
        (b"\x00\x01\xa1\x47\xe1\x12\xa6", "3 address bytes"),
        (b"\x00\x02\xa1\x47" + b"\0" * 4, "IPv6 address attribute has 4"),
    ],
)
def test_malformed_address_attributes_are_refused(value: bytes, reason: str) -> None:
    pad = b"\0" * ((4 - len(value) % 4) % 4)
    attr = struct.pack("!HH", stun.XOR_MAPPED_ADDRESS, len(value)) + value + pad
    message = stun.parse_message(_header(length=len(attr)) + attr)
    with pytest.raises(stun.StunError, match=reason):
        _ = message.reflexive


def test_build_refuses_what_it_cannot_encode() -> None:
    with pytest.raises(ValueError, match="12 bytes"):
        stun.build_binding_request(b"short")
    with pytest.raises(ValueError, match="top bits"):
        stun.build_message(0xC001, TXID)


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_raise_anything_but_stun_error(data: bytes) -> None:
    try:
        message = stun.parse_message(data)
        _ = message.reflexive, message.error, message.software, message.klass
    except stun.StunError:
        pass


@given(st.binary(min_size=4, max_size=60))
def test_arbitrary_attributes_parse_or_fail_cleanly(body: bytes) -> None:
    body += b"\0" * ((4 - len(body) % 4) % 4)
    try:
        message = stun.parse_message(_header(length=len(body)) + body)
        _ = message.reflexive, message.error
    except stun.StunError:
        pass
