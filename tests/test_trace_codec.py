"""The pure parts of trace's probes: the TCP SYN codec and the ICMP error classification."""

from __future__ import annotations

import ipaddress
import struct

import pytest

from netladder.path.probers import classify
from netladder.path.tcpsyn import ACK, RST, SYN, build_syn, parse_segment, quoted_tcp
from netladder.proto.inet import checksum


@pytest.mark.parametrize(
    "src, dst", [("203.0.113.2", "198.51.100.10"), ("2001:db8:1::2", "2001:db8:3::2")]
)
def test_syn_checksum_verifies_over_the_pseudo_header(src: str, dst: str) -> None:
    segment = build_syn(src, dst, 40000, 80, 0xDEADBEEF)
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if s.version == 4:
        pseudo = s.packed + d.packed + struct.pack("!BBH", 0, 6, len(segment))
    else:
        pseudo = s.packed + d.packed + struct.pack("!I3xB", len(segment), 6)
    assert checksum(pseudo + segment) == 0
    _, parsed = parse_segment(segment, False) or (None, None)
    assert parsed is not None
    assert (parsed.sport, parsed.dport, parsed.seq, parsed.flags) == (40000, 80, 0xDEADBEEF, SYN)


def test_reply_with_ipv4_header_gives_the_source() -> None:
    ip = (
        bytes([0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0])
        + bytes([198, 51, 100, 10])
        + bytes([203, 0, 113, 2])
    )
    tcp = struct.pack("!HHIIBBHHH", 80, 40000, 7, 0xDEADBEF0, 0x50, SYN | ACK, 0, 0, 0)
    parsed = parse_segment(ip + tcp, True)
    assert parsed is not None and parsed[0] == "198.51.100.10"
    assert parsed[1].ack == 0xDEADBEF0 and parsed[1].flags == SYN | ACK
    assert parse_segment(ip[:10], True) is None
    assert not parsed[1].flags & RST


def test_quoted_syn_in_an_icmp_error() -> None:
    ip = bytes([0x45, 0, 0, 40, 0, 0, 0, 0, 1, 6, 0, 0]) + bytes(8)
    quote = ip + struct.pack("!HHI", 40000, 80, 12345)  # routers quote 8 bytes of TCP
    seg = quoted_tcp(quote, 4)
    assert seg is not None and (seg.sport, seg.dport, seg.seq) == (40000, 80, 12345)
    assert quoted_tcp(quote[:24], 4) is None  # too short to hold the sequence
    assert quoted_tcp(ip[:9] + b"\x11" + ip[10:] + bytes(8), 4) is None  # UDP, not ours
    ip6 = bytes([0x60, 0, 0, 0, 0, 20, 6, 1]) + bytes(32)
    seg6 = quoted_tcp(ip6 + struct.pack("!HHI", 1, 2, 3), 6)
    assert seg6 is not None and seg6.seq == 3


# traceroute.c's parse_icmp_res, case by case (its annotation, or none).
@pytest.mark.parametrize(
    "version, icmp_type, code, from_target, port_final, expected",
    [
        (4, 11, 0, False, True, ("time-exceeded", "")),
        (6, 3, 0, False, True, ("time-exceeded", "")),
        (4, 11, 1, False, True, ("unreachable", "!<11-1>")),  # reassembly timeout: final
        (6, 3, 1, False, True, ("unreachable", "!<3-1>")),
        (4, 3, 3, True, True, ("reply", "")),  # UDP: port unreachable from the target = arrived
        (6, 1, 4, True, True, ("reply", "")),
        (4, 3, 3, True, False, ("unreachable", "")),  # TCP/ICMP: the target's firewall rejects
        (6, 1, 4, True, False, ("unreachable", "")),
        (4, 3, 3, False, True, ("unreachable", "")),  # from a router: final, not annotated
        (6, 1, 4, False, True, ("unreachable", "")),  # (was !P)
        (4, 3, 0, False, True, ("unreachable", "!N")),
        (4, 3, 1, False, True, ("unreachable", "!H")),
        (4, 3, 2, True, True, ("unreachable", "!P")),
        (4, 3, 5, False, True, ("unreachable", "!S")),
        (4, 3, 6, False, True, ("unreachable", "!N")),
        (4, 3, 7, False, True, ("unreachable", "!H")),
        (4, 3, 8, False, True, ("unreachable", "!N")),
        (4, 3, 9, False, True, ("unreachable", "!X")),
        (4, 3, 10, False, True, ("unreachable", "!X")),
        (4, 3, 11, False, True, ("unreachable", "!N")),
        (4, 3, 12, False, True, ("unreachable", "!H")),
        (4, 3, 13, True, True, ("unreachable", "!X")),
        (4, 3, 14, False, True, ("unreachable", "!V")),
        (4, 3, 15, False, True, ("unreachable", "!C")),
        (4, 3, 16, False, True, ("unreachable", "!<16>")),
        (4, 12, 0, False, True, ("unreachable", "!<12-0>")),
        (6, 1, 0, False, True, ("unreachable", "!N")),
        (6, 1, 1, True, True, ("unreachable", "!X")),
        (6, 1, 2, False, True, ("unreachable", "!H")),  # beyond scope (was !S)
        (6, 1, 3, False, True, ("unreachable", "!H")),
        (6, 1, 5, False, True, ("unreachable", "!<5>")),  # policy failure (was !X)
        (6, 1, 6, False, True, ("unreachable", "!<6>")),  # reject route (was !X)
        (6, 4, 1, False, True, ("unreachable", "!<4-1>")),
    ],
)
def test_icmp_errors_get_traceroutes_annotations(
    version: int,
    icmp_type: int,
    code: int,
    from_target: bool,
    port_final: bool,
    expected: tuple[str, str],
) -> None:
    kind, annotation, _detail = classify(version, icmp_type, code, from_target, port_final)
    assert (kind, annotation) == expected


@pytest.mark.parametrize("version, icmp_type, code", [(4, 3, 4), (6, 2, 0)])
def test_a_too_big_error_carries_the_mtu_as_traceroute_prints_it(
    version: int, icmp_type: int, code: int
) -> None:
    assert classify(version, icmp_type, code, False, True, 1280)[1] == "!F-1280"


def test_a_port_unreachable_from_a_router_says_it_is_not_the_target() -> None:
    detail = classify(6, 1, 4, False, True)[2]
    assert "not the target" in detail and "rejected on the way" in detail
    assert "not the target" not in classify(6, 1, 4, True, False)[2]
