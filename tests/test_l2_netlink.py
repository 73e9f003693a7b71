"""The rtnetlink codec: request layout and parsing of route, neighbour, link messages."""

from __future__ import annotations

import socket
import struct

from hypothesis import given
from hypothesis import strategies as st

from netladder.l2.netlink import (
    NLM_F_DUMP,
    NLM_F_REQUEST,
    Msg,
    build_request,
    parse_link,
    parse_messages,
    parse_neigh,
    parse_route,
)


def attr(kind: int, value: bytes) -> bytes:
    length = 4 + len(value)
    return struct.pack("=HH", length, kind) + value + b"\x00" * (-length % 4)


def test_a_request_has_the_nlmsghdr_and_padded_attributes() -> None:
    raw = build_request(Msg.GETROUTE, 0, 7, b"\x02" + b"\x00" * 11, ((1, b"\xcb\x00\x71\x01"),))
    length, kind, flags, seq, pid = struct.unpack_from("=IHHII", raw)
    assert (length, kind, flags, seq, pid) == (len(raw), Msg.GETROUTE, NLM_F_REQUEST, 7, 0)
    assert raw[16:28] == b"\x02" + b"\x00" * 11
    assert raw[28:] == struct.pack("=HH", 8, 1) + b"\xcb\x00\x71\x01"
    dump = build_request(Msg.GETNEIGH, NLM_F_DUMP, 1, b"\x00" * 12)
    assert struct.unpack_from("=H", dump, 6)[0] == NLM_F_DUMP | NLM_F_REQUEST


def test_messages_are_split_on_their_aligned_lengths_and_a_torn_tail_is_dropped() -> None:
    one = struct.pack("=IHHII", 16 + 3, 3, 0, 1, 0) + b"abc" + b"\x00"  # padded to 4
    two = struct.pack("=IHHII", 16 + 4, 2, 0, 2, 0) + b"\x00" * 4
    torn = struct.pack("=IHHII", 100, 2, 0, 3, 0)
    got = list(parse_messages(one + two + torn))
    assert [(m.type, m.seq, m.body) for m in got] == [(3, 1, b"abc"), (2, 2, b"\x00" * 4)]


def test_a_neighbour_message_gives_address_mac_state_and_router_flag() -> None:
    body = struct.pack("=BBHiHBB", socket.AF_INET6, 0, 0, 3, 0x02, 0x80, 1)
    body += attr(1, socket.inet_pton(socket.AF_INET6, "2001:db8:1::1"))
    body += attr(2, bytes.fromhex("02005e005301"))
    n = parse_neigh(body)
    assert n is not None
    assert (n.address, n.mac, n.ifindex, n.states, n.is_router) == (
        "2001:db8:1::1",
        "02:00:5e:00:53:01",
        3,
        ("REACHABLE",),
        True,
    )
    failed = parse_neigh(
        struct.pack("=BBHiHBB", socket.AF_INET, 0, 0, 2, 0x20, 0, 1)
        + attr(1, bytes([203, 0, 113, 1]))
    )
    assert failed is not None and failed.mac is None and failed.states == ("FAILED",)


def test_a_route_message_gives_gateway_device_source_table_metric_and_nexthops() -> None:
    body = struct.pack("=BBBBBBBBI", socket.AF_INET, 0, 0, 0, 254, 3, 0, 1, 0)
    body += attr(5, bytes([203, 0, 113, 1])) + attr(4, struct.pack("=I", 2))
    body += attr(6, struct.pack("=I", 100)) + attr(15, struct.pack("=I", 254))
    hop = attr(5, bytes([198, 51, 100, 65]))
    body += attr(9, struct.pack("=HBBi", 8 + len(hop), 0, 0, 4) + hop)
    r = parse_route(body)
    assert r is not None
    assert (r.dst, r.dst_len, r.type, r.gateway, r.ifindex, r.priority, r.table) == (
        None,
        0,
        "unicast",
        "203.0.113.1",
        2,
        100,
        254,
    )
    assert [(h.gateway, h.ifindex) for h in r.nexthops] == [("198.51.100.65", 4)]
    unreachable = parse_route(
        struct.pack("=BBBBBBBBI", socket.AF_INET6, 128, 0, 0, 254, 0, 0, 7, 0)
    )
    assert unreachable is not None and unreachable.type == "unreachable"


def test_a_link_message_gives_name_type_and_mac() -> None:
    body = struct.pack("=BBHiII", 0, 0, 1, 5, 0, 0)
    body += attr(3, b"to-r1\x00") + attr(1, bytes.fromhex("4effad34ed0a"))
    link = parse_link(body)
    assert link is not None and (link.index, link.name, link.mac, link.is_ethernet) == (
        5,
        "to-r1",
        "4e:ff:ad:34:ed:0a",
        True,
    )


def test_short_bodies_are_none() -> None:
    assert parse_route(b"\x02") is None
    assert parse_neigh(b"") is None
    assert parse_link(b"\x00" * 4) is None


# The kernel is trusted, but a parser that raises on a short or odd message would turn a
# kernel quirk into a traceback.


@given(st.binary(max_size=200))
def test_any_bytes_parse_without_raising(raw: bytes) -> None:
    list(parse_messages(raw))
    parse_route(raw)
    parse_neigh(raw)
    parse_link(raw)
