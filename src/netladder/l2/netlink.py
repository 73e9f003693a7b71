"""A small rtnetlink reader: route lookups and dumps of links, addresses, routes and
neighbours, and the neighbour event stream.

Read directly rather than through pyroute2: importing pyroute2 costs ≈170 ms of start-up
(measured here), more than a whole `netladder route`.  The codec half (`build_request`,
`parse_messages`, `parse_*`) is pure; `Netlink` is the I/O boundary over one AF_NETLINK socket.
Its requests are synchronous: the kernel answers a route lookup or a dump inside the
sendmsg/recvmsg calls (rtnetlink_rcv, netlink_dump), with no network wait, so they need no
event loop and are safe to call from one.  Only the multicast event stream (`events`, for
`neigh watch`) waits, on asyncio.  Needs no privilege.
"""

from __future__ import annotations

import errno as errno_mod
import ipaddress
import itertools
import os
import socket
import struct
from collections.abc import AsyncIterator, Iterator
from enum import IntEnum

from netladder.proto.record import record

__all__ = [
    "Addr",
    "Link",
    "Message",
    "Neigh",
    "Netlink",
    "NetlinkError",
    "Route",
    "build_request",
    "parse_addr",
    "parse_link",
    "parse_messages",
    "parse_neigh",
    "parse_route",
]


class Msg(IntEnum):
    """Message types (linux/netlink.h, linux/rtnetlink.h)."""

    ERROR = 2
    DONE = 3
    NEWLINK = 16
    GETLINK = 18
    NEWADDR = 20
    GETADDR = 22
    NEWROUTE = 24
    GETROUTE = 26
    NEWNEIGH = 28
    DELNEIGH = 29
    GETNEIGH = 30


NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_DUMP = 0x300
RTM_F_FIB_MATCH = 0x2000  # rtm_flags: answer with the matching FIB entry, not the result
# rtm_flags: report the table the policy rules led to (IPv4 only; without it the kernel says
# "main" whatever `ip rule` chose; IPv6 always reports the table).  iproute2 sets it.
RTM_F_LOOKUP_TABLE = 0x1000
RTMGRP_NEIGH = 0x4  # 1 << (RTNLGRP_NEIGH - 1)

_NLMSGHDR = struct.Struct("=IHHII")
_RTMSG = struct.Struct("=BBBBBBBBI")
_NDMSG = struct.Struct("=BBHiHBB")
_IFINFOMSG = struct.Struct("=BBHiII")
_IFADDRMSG = struct.Struct("=BBBBi")
_RTATTR = struct.Struct("=HH")
_RTNEXTHOP = struct.Struct("=HBBi")

# Attribute numbers (linux/rtnetlink.h, if_link.h, if_addr.h, neighbour.h).
RTA_DST, RTA_SRC, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_PREFSRC = 1, 2, 4, 5, 6, 7
RTA_MULTIPATH, RTA_TABLE = 9, 15
NDA_DST, NDA_LLADDR = 1, 2
IFLA_ADDRESS, IFLA_IFNAME = 1, 3
IFA_ADDRESS, IFA_LOCAL = 1, 2

RT_TABLE_MAIN, RT_TABLE_LOCAL = 254, 255

# Route types (rtm_type), as `ip route` names them.
ROUTE_TYPES = {
    0: "unspec",
    1: "unicast",
    2: "local",
    3: "broadcast",
    4: "anycast",
    5: "multicast",
    6: "blackhole",
    7: "unreachable",
    8: "prohibit",
    9: "throw",
    10: "nat",
}
TABLE_NAMES = {253: "default", RT_TABLE_MAIN: "main", RT_TABLE_LOCAL: "local"}

# Neighbour states (NUD_*, linux/neighbour.h), as `ip neigh` names them.
NUD_STATES = (
    (0x01, "INCOMPLETE"),
    (0x02, "REACHABLE"),
    (0x04, "STALE"),
    (0x08, "DELAY"),
    (0x10, "PROBE"),
    (0x20, "FAILED"),
    (0x40, "NOARP"),
    (0x80, "PERMANENT"),
)
NTF_ROUTER = 0x80
ARPHRD_ETHER = 1


class NetlinkError(OSError):
    """The kernel refused a request; errno says why (ENETUNREACH for no route, ...)."""


@record
class Message:
    type: int
    flags: int
    seq: int
    body: bytes


@record
class Link:
    index: int
    name: str
    type: int
    mac: str | None

    @property
    def is_ethernet(self) -> bool:
        return self.type == ARPHRD_ETHER


@record
class Addr:
    family: int
    address: str
    prefixlen: int
    scope: int
    ifindex: int

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network(f"{self.address}/{self.prefixlen}", strict=False)


@record
class Nexthop:
    gateway: str | None
    ifindex: int | None


@record
class Route:
    family: int
    dst: str | None  # None: the default route (or the queried address for a lookup)
    dst_len: int
    type: str
    table: int
    protocol: int
    scope: int
    flags: int
    gateway: str | None
    ifindex: int | None
    prefsrc: str | None
    priority: int | None
    nexthops: tuple[Nexthop, ...] = ()


@record
class Neigh:
    family: int
    ifindex: int
    address: str
    mac: str | None
    state: int
    flags: int

    @property
    def states(self) -> tuple[str, ...]:
        return tuple(name for bit, name in NUD_STATES if self.state & bit) or ("NONE",)

    @property
    def is_router(self) -> bool:
        return bool(self.flags & NTF_ROUTER)


# -- codec -------------------------------------------------------------------------------------


def _attr(kind: int, value: bytes) -> bytes:
    length = _RTATTR.size + len(value)
    return _RTATTR.pack(length, kind) + value + b"\x00" * (-length % 4)


def build_request(
    kind: int, flags: int, seq: int, header: bytes, attrs: tuple[tuple[int, bytes], ...] = ()
) -> bytes:
    body = header + b"".join(_attr(k, v) for k, v in attrs)
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), kind, flags | NLM_F_REQUEST, seq, 0) + body


def parse_messages(data: bytes) -> Iterator[Message]:
    offset = 0
    while offset + _NLMSGHDR.size <= len(data):
        length, kind, flags, seq, _ = _NLMSGHDR.unpack_from(data, offset)
        if length < _NLMSGHDR.size or offset + length > len(data):
            return
        yield Message(kind, flags, seq, data[offset + _NLMSGHDR.size : offset + length])
        offset += (length + 3) & ~3


def parse_attrs(data: bytes, offset: int = 0) -> dict[int, bytes]:
    attrs: dict[int, bytes] = {}
    while offset + _RTATTR.size <= len(data):
        length, kind = _RTATTR.unpack_from(data, offset)
        if length < _RTATTR.size or offset + length > len(data):
            break
        attrs.setdefault(kind & 0x3FFF, data[offset + _RTATTR.size : offset + length])
        offset += (length + 3) & ~3
    return attrs


def _ip(family: int, raw: bytes | None) -> str | None:
    if raw is None:
        return None
    try:
        if family == socket.AF_INET and len(raw) == 4:
            return str(ipaddress.IPv4Address(raw))
        if family == socket.AF_INET6 and len(raw) == 16:
            return str(ipaddress.IPv6Address(raw))
    except ValueError:
        return None
    return None


def _u32(raw: bytes | None) -> int | None:
    return struct.unpack("=I", raw[:4])[0] if raw is not None and len(raw) >= 4 else None


def _mac(raw: bytes | None) -> str | None:
    if not raw:
        return None
    return ":".join(f"{b:02x}" for b in raw)


def parse_route(body: bytes) -> Route | None:
    if len(body) < _RTMSG.size:
        return None
    family, dst_len, _, _, table, protocol, scope, kind, flags = _RTMSG.unpack_from(body)
    attrs = parse_attrs(body, _RTMSG.size)
    nexthops = []
    multipath = attrs.get(RTA_MULTIPATH, b"")
    offset = 0
    while offset + _RTNEXTHOP.size <= len(multipath):
        length, _, _, ifindex = _RTNEXTHOP.unpack_from(multipath, offset)
        if length < _RTNEXTHOP.size:
            break
        sub = parse_attrs(multipath[offset : offset + length], _RTNEXTHOP.size)
        nexthops.append(Nexthop(_ip(family, sub.get(RTA_GATEWAY)), ifindex))
        offset += (length + 3) & ~3
    return Route(
        family=family,
        dst=_ip(family, attrs.get(RTA_DST)),
        dst_len=dst_len,
        type=ROUTE_TYPES.get(kind, str(kind)),
        table=_u32(attrs.get(RTA_TABLE)) or table,
        protocol=protocol,
        scope=scope,
        flags=flags,
        gateway=_ip(family, attrs.get(RTA_GATEWAY)),
        ifindex=_u32(attrs.get(RTA_OIF)),
        prefsrc=_ip(family, attrs.get(RTA_PREFSRC)),
        priority=_u32(attrs.get(RTA_PRIORITY)),
        nexthops=tuple(nexthops),
    )


def parse_neigh(body: bytes) -> Neigh | None:
    if len(body) < _NDMSG.size:
        return None
    family, _, _, ifindex, state, flags, _ = _NDMSG.unpack_from(body)
    attrs = parse_attrs(body, _NDMSG.size)
    address = _ip(family, attrs.get(NDA_DST))
    if address is None:
        return None
    return Neigh(family, ifindex, address, _mac(attrs.get(NDA_LLADDR)), state, flags)


def parse_link(body: bytes) -> Link | None:
    if len(body) < _IFINFOMSG.size:
        return None
    _, _, kind, index, _, _ = _IFINFOMSG.unpack_from(body)
    attrs = parse_attrs(body, _IFINFOMSG.size)
    name = attrs.get(IFLA_IFNAME, b"").split(b"\x00", 1)[0].decode(errors="replace")
    return Link(index, name, kind, _mac(attrs.get(IFLA_ADDRESS)))


def parse_addr(body: bytes) -> Addr | None:
    if len(body) < _IFADDRMSG.size:
        return None
    family, prefixlen, _, scope, index = _IFADDRMSG.unpack_from(body)
    attrs = parse_attrs(body, _IFADDRMSG.size)
    # IFA_LOCAL is the interface's own address; IFA_ADDRESS the peer's on point-to-point links.
    address = _ip(family, attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS))
    return None if address is None else Addr(family, address, prefixlen, scope, index)


# -- I/O ---------------------------------------------------------------------------------------

_RECV_SIZE = 1 << 17  # a dump datagram is at most a few pages; more never truncates
_ANSWER_WAIT = 5.0  # seconds


class Netlink:
    """One NETLINK_ROUTE socket.  Use as a context manager (`with Netlink() as nl:`); with
    `groups` it also receives those multicast groups' messages (`events`)."""

    def __init__(self, groups: int = 0) -> None:
        self._sock = socket.socket(
            socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE
        )
        try:
            # The kernel answers at once; the timeout only bounds a kernel that never does.
            self._sock.settimeout(_ANSWER_WAIT)
            self._sock.bind((0, groups))
        except OSError:
            self._sock.close()
            raise
        self._seq = itertools.count(int.from_bytes(os.urandom(2), "big") + 1)

    def __enter__(self) -> Netlink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._sock.close()

    def _recv(self) -> bytes:
        try:
            return self._sock.recv(_RECV_SIZE)
        except TimeoutError:
            raise NetlinkError(errno_mod.ETIMEDOUT, "the kernel did not answer") from None

    def request(
        self,
        kind: int,
        header: bytes,
        attrs: tuple[tuple[int, bytes], ...] = (),
        dump: bool = False,
    ) -> list[Message]:
        """Send one request and gather its answer: every part of a dump, or the one reply."""
        seq = next(self._seq)
        flags = NLM_F_DUMP if dump else 0
        self._sock.sendall(build_request(kind, flags, seq, header, attrs))
        answer: list[Message] = []
        while True:
            for message in parse_messages(self._recv()):
                if message.seq != seq:
                    continue
                if message.type == Msg.ERROR:
                    code = -struct.unpack_from("=i", message.body)[0]
                    if code:
                        raise NetlinkError(code, os.strerror(code))
                    return answer
                if message.type == Msg.DONE:
                    return answer
                answer.append(message)
                if not dump and not message.flags & NLM_F_MULTI:
                    return answer

    async def events(self) -> AsyncIterator[Message]:
        """Messages multicast to the groups this socket joined, as they come (asyncio)."""
        import asyncio

        loop = asyncio.get_running_loop()
        self._sock.setblocking(False)
        while True:
            for message in parse_messages(await loop.sock_recv(self._sock, _RECV_SIZE)):
                yield message

    # -- the queries the commands need -------------------------------------------------------

    def links(self) -> dict[int, Link]:
        found = [
            parse_link(m.body)
            for m in self.request(
                Msg.GETLINK, _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0, 0), dump=True
            )
        ]
        return {link.index: link for link in found if link is not None}

    def addrs(self, family: int = socket.AF_UNSPEC) -> list[Addr]:
        found = [
            parse_addr(m.body)
            for m in self.request(Msg.GETADDR, _IFADDRMSG.pack(family, 0, 0, 0, 0), dump=True)
        ]
        return [a for a in found if a is not None]

    def routes(self, family: int) -> list[Route]:
        found = [
            parse_route(m.body)
            for m in self.request(
                Msg.GETROUTE, _RTMSG.pack(family, 0, 0, 0, 0, 0, 0, 0, 0), dump=True
            )
        ]
        return [r for r in found if r is not None]

    def neighbours(self, family: int = socket.AF_UNSPEC) -> list[Neigh]:
        found = [
            parse_neigh(m.body)
            for m in self.request(Msg.GETNEIGH, _NDMSG.pack(family, 0, 0, 0, 0, 0, 0), dump=True)
        ]
        return [n for n in found if n is not None]

    def route_get(
        self,
        destination: str,
        oif: int | None = None,
        fib_match: bool = False,
        source: str | None = None,
    ) -> Route:
        """The kernel's decision for one destination, as `ip route get [fibmatch] DST [from
        SRC] [oif IF]` asks it: the policy rules are applied, and the answer names the table
        they led to."""
        address = ipaddress.ip_address(destination)
        family = socket.AF_INET if address.version == 4 else socket.AF_INET6
        attrs: list[tuple[int, bytes]] = [(RTA_DST, address.packed)]
        src_len = 0
        if source is not None:
            src = ipaddress.ip_address(source)
            attrs.append((RTA_SRC, src.packed))
            src_len = src.max_prefixlen
        if oif is not None:
            attrs.append((RTA_OIF, struct.pack("=I", oif)))
        flags = RTM_F_LOOKUP_TABLE if family == socket.AF_INET else 0
        if fib_match:
            flags |= RTM_F_FIB_MATCH
        header = _RTMSG.pack(family, address.max_prefixlen, src_len, 0, 0, 0, 0, 0, flags)
        answer = self.request(Msg.GETROUTE, header, tuple(attrs))
        route = parse_route(answer[0].body) if answer else None
        if route is None:
            raise NetlinkError(errno_mod.EIO, "no answer to the route lookup")
        return route
