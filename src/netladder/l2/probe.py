"""Live ARP (IPv4) and Neighbor Solicitation (IPv6) probes over an AF_PACKET socket.

This is the one I/O boundary for L2 probes: it opens the packet socket (CAP_NET_RAW), sends
the frames the codecs in `netladder.proto.arp` / `.ndp` build, and times replies by the
kernel's receive timestamp (SO_TIMESTAMPNS), so a busy event loop does not inflate an RTT; the
monotonic clock bounds every wait.  An ARP reply cannot be matched to one request (RFC 826 has
no identifier), so, as arping does, a reply's RTT is measured from the latest request sent
before it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from netladder.errors import UsageError, from_oserror
from netladder.l2.netlink import Netlink
from netladder.l2.route import ifindex, ifname, lookup_route
from netladder.proto.arp import (
    ETH_P_ARP,
    ETH_P_IPV6,
    ArpOp,
    build_arp_probe,
    build_arp_request,
    parse_arp_frame,
)
from netladder.proto.ndp import build_ns_frame, parse_na_frame

__all__ = ["Claim", "ProbeResult", "ProbeSetup", "Reply", "prepare", "probe", "require_raw"]

# AF_PACKET sll_pkttype values (linux/if_packet.h).  Like arping, only frames addressed to
# us, broadcast or multicast count: a bridge floods a frame for an unknown MAC to every port
# (PACKET_OTHERHOST), and our own frames come back as PACKET_OUTGOING.
PACKET_HOST = 0
PACKET_BROADCAST = 1
PACKET_MULTICAST = 2
PACKET_OUTGOING = 4
_FOR_US = frozenset({PACKET_HOST, PACKET_BROADCAST, PACKET_MULTICAST})
# Bounds against a hostile station (a flood of replies, or of forged MACs): answers kept per
# request, and stations remembered for claiming the address unasked.
MAX_STATIONS = 8
MAX_CLAIMANTS = 16
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # asm-generic/socket.h

RAW_REMEDY = (
    "run as root, or grant the capability: "
    'sudo setcap cap_net_raw+ep "$(readlink -f "$(command -v python3)")"'
)


@dataclass(frozen=True, slots=True)
class ProbeSetup:
    """Where and as whom a probe is sent."""

    target: str
    version: int
    iface: str
    ifindex: int
    mac: str
    source: str  # our address on the link ("0.0.0.0" for a duplicate-address probe)
    dad: bool
    own: bool = False  # the target is this host's own address (a --dad probe of it)


@dataclass(frozen=True, slots=True)
class Reply:
    """One answer: the station claiming the address, and how it said so."""

    address: str
    mac: str  # the link-layer address the packet claims (ARP sender / NA target option)
    frame_src: str  # the Ethernet source of the frame that carried it
    rtt_ms: float
    after_request: int  # how many requests had been sent when it came
    broadcast: bool
    # "reply"; "request" (the target's own request to us, or with --dad any request from the
    # address); "probe" (--dad: another station probing for it); "advert" (NDP)
    kind: str

    @property
    def ethernet_mismatch(self) -> bool:
        """arpwatch's "ethernet mismatch": the frame's source differs from the claimed MAC."""
        return self.frame_src != self.mac


@dataclass(frozen=True, slots=True)
class Claim:
    """A station that claimed the address in frames that were not answers to us: gratuitous
    ARP, replies to other stations, unsolicited Neighbor Advertisements."""

    mac: str
    frames: int


@dataclass(frozen=True, slots=True)
class ProbeResult:
    setup: ProbeSetup
    sent: int
    replies: tuple[Reply, ...]
    elapsed_ms: float
    interrupted: bool = False
    # Answers neither counted nor kept: a station answering one request again (ping's DUP!),
    # or beyond MAX_STATIONS stations for one request.
    duplicates: int = 0
    claims: tuple[Claim, ...] = ()
    # Frames the kernel dropped, the socket's buffer full (a flood): answers may be missing.
    dropped: int = 0

    @property
    def unsolicited(self) -> tuple[Claim, ...]:
        """Claims by stations that did not answer us: another station holding the address,
        or one spoofing it."""
        answered = set(self.macs)
        return tuple(c for c in self.claims if c.mac not in answered)

    @property
    def received(self) -> int:
        return len(self.replies)

    @property
    def macs(self) -> tuple[str, ...]:
        """Every distinct station that answered, in order of first answer."""
        return tuple(dict.fromkeys(r.mac for r in self.replies))

    @property
    def conflict(self) -> bool:
        """Two stations answer for one address: a duplicate address."""
        return len(self.macs) > 1

    @property
    def ok(self) -> bool:
        """arping's success: normal mode, someone answered; --dad, nobody did.  Not when the
        kernel dropped frames: who else answered is then unknown."""
        if self.dropped:
            return False
        if self.setup.dad:
            return not self.replies
        return bool(self.replies) and not self.conflict


async def prepare(
    target: str, iface: str | None = None, dad: bool = False, nl: Netlink | None = None
) -> ProbeSetup:
    """Check that target is a neighbour on an Ethernet link and find our MAC and source."""
    try:
        address = ipaddress.ip_address(target.split("%", 1)[0])
    except ValueError:
        raise UsageError(f"not an IP address: {target!r}") from None
    if dad and address.version == 6:
        raise UsageError(
            f"--dad is IPv4 duplicate address detection (RFC 5227); {address} is "
            "IPv6 (probe it without --dad: two answers are reported as a conflict)"
        )
    if (
        address.is_multicast
        or address.is_unspecified
        or (address.version == 4 and address == ipaddress.IPv4Address("255.255.255.255"))
    ):
        raise UsageError(f"{address} is not a unicast address")
    own = nl is None
    link = nl or Netlink()
    try:
        index = ifindex(iface) if iface else None
        decision = await lookup_route(str(address), iface, nl=link)
        if decision.type == "local":
            if not dad:
                raise UsageError(
                    f"{address} is this host's own address (--dad asks whether "
                    "another station holds it too)"
                )
            # arping -D probes it: another station holding it answers, a conflict (exit 1).
            return await _own_address_setup(link, address, index)
        if decision.type in {"broadcast", "multicast", "anycast"}:
            raise UsageError(
                f"{address} is a {decision.type} address on {decision.iface}, not one neighbour"
            )
        if decision.error is not None or decision.iface is None:
            raise UsageError(f"{address} is not on any local link (no route: {decision.error})")
        if decision.gateway is not None or (iface and decision.iface != iface):
            via = (
                f" (reached via {decision.gateway} on {decision.iface})" if decision.gateway else ""
            )
            raise UsageError(
                f"{address} is not on a local link{via}; arp probes only "
                "neighbours on the same link"
            )
        index = ifindex(decision.iface)
        links = await link.links()
        info = links.get(index)
        if info is None or not info.is_ethernet or not info.mac:
            raise UsageError(f"{decision.iface} is not an Ethernet interface: it has no ARP/NDP")
        source = decision.prefsrc
        if source is None or (
            address.version == 6
            and address.is_link_local
            and not ipaddress.ip_address(source).is_link_local
        ):
            source = await _source_on(link, index, address)
        if dad:
            source = "0.0.0.0"
        if source is None:
            raise UsageError(f"{decision.iface} has no IPv{address.version} address to probe from")
        return ProbeSetup(
            str(address), address.version, ifname(index) or str(index), index, info.mac, source, dad
        )
    finally:
        if own:
            link.close()


async def _own_address_setup(
    nl: Netlink, address: ipaddress.IPv4Address | ipaddress.IPv6Address, index: int | None
) -> ProbeSetup:
    """A duplicate-address probe of an address this host holds: on the Ethernet link that
    holds it (or the one named)."""
    holders = [a.ifindex for a in await nl.addrs(socket.AF_INET) if a.address == str(address)]
    links = await nl.links()
    usable = [
        i
        for i in dict.fromkeys(holders)
        if (index is None or i == index) and i in links and links[i].is_ethernet and links[i].mac
    ]
    if index is not None and not usable:
        name = ifname(index)
        info = links.get(index)
        if info is None or not info.is_ethernet or not info.mac:
            raise UsageError(f"{name} is not an Ethernet interface: it has no ARP/NDP")
        usable = [index]  # probe there as asked, as arping -D -I does
    if not usable:
        where = ", ".join(ifname(i) or str(i) for i in dict.fromkeys(holders)) or "lo"
        raise UsageError(f"{address} is this host's own address on {where}, which has no ARP")
    if len(usable) > 1:
        names = ", ".join(ifname(i) or str(i) for i in usable)
        raise UsageError(f"{address} is on several links here ({names}): name one with -I")
    info = links[usable[0]]
    assert info.mac is not None
    return ProbeSetup(
        str(address),
        4,
        ifname(usable[0]) or str(usable[0]),
        usable[0],
        info.mac,
        "0.0.0.0",
        True,
        own=True,
    )


async def _source_on(
    nl: Netlink, index: int, target: ipaddress.IPv4Address | ipaddress.IPv6Address
) -> str | None:
    family = socket.AF_INET if target.version == 4 else socket.AF_INET6
    candidates = [a for a in await nl.addrs(family) if a.ifindex == index]
    for a in candidates:
        if target in a.network:
            return a.address
    for a in candidates:
        if ipaddress.ip_address(a.address).is_link_local == (
            target.version == 6 and target.is_link_local
        ):
            return a.address
    return candidates[0].address if candidates else None


def _open(setup: ProbeSetup) -> socket.socket:
    proto = ETH_P_ARP if setup.version == 4 else ETH_P_IPV6
    try:
        # Protocol 0 at creation, the real one at bind: re-binding a packet socket that already
        # has a protocol hook waits for an RCU grace period (synchronize_net), ~10-20 ms during
        # which the event loop, and any other probe on it, would stand still.
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 0)
    except OSError as exc:
        raise from_oserror(
            exc, "arp needs CAP_NET_RAW to send ARP/NDP frames (AF_PACKET)", RAW_REMEDY
        ) from None
    try:
        sock.bind((setup.iface, proto))
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise from_oserror(exc, f"cannot listen on {setup.iface}") from None
    return sock


_CMSG_SPACE = socket.CMSG_SPACE(16)
_TIMESPEC = struct.Struct("=qq")
SOL_PACKET, PACKET_STATISTICS = 263, 6  # linux/socket.h, linux/if_packet.h
_TPACKET_STATS = struct.Struct("=II")  # struct tpacket_stats: tp_packets, tp_drops


def _wake(ready: asyncio.Future[None]) -> None:
    if not ready.done():
        ready.set_result(None)


async def _recv(sock: socket.socket) -> tuple[bytes, float | None, Any]:
    """One frame, its kernel receive timestamp (SO_TIMESTAMPNS, seconds) and its address."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            data, ancillary, _, address = sock.recvmsg(4096, _CMSG_SPACE)
        except BlockingIOError:
            ready: asyncio.Future[None] = loop.create_future()
            loop.add_reader(sock.fileno(), _wake, ready)
            try:
                await ready
            finally:
                loop.remove_reader(sock.fileno())
            continue
        return data, _stamp(ancillary), address


def _drain(sock: socket.socket, limit: int = 512) -> list[tuple[bytes, float | None, Any]]:
    """The frames already queued on the socket (at most `limit`), without waiting."""
    out = []
    for _ in range(limit):
        try:
            data, ancillary, _, address = sock.recvmsg(4096, _CMSG_SPACE)
        except (BlockingIOError, InterruptedError):
            break
        out.append((data, _stamp(ancillary), address))
    return out


def _stamp(ancillary: list[tuple[int, int, bytes]]) -> float | None:
    for level, kind, value in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= _TIMESPEC.size:
            sec, nsec = _TIMESPEC.unpack_from(value)
            return float(sec + nsec / 1e9)
    return None


def _dropped(sock: socket.socket) -> int:
    """Frames the kernel dropped because the socket's buffer was full (PACKET_STATISTICS)."""
    try:
        raw = sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, _TPACKET_STATS.size)
    except OSError:
        return 0
    return int(_TPACKET_STATS.unpack_from(raw)[1]) if len(raw) >= _TPACKET_STATS.size else 0


def _request(setup: ProbeSetup) -> bytes:
    if setup.version == 6:
        return build_ns_frame(setup.mac, setup.source, setup.target)
    if setup.dad:
        return build_arp_probe(setup.mac, setup.target)
    return build_arp_request(setup.mac, setup.source, setup.target)


def _match(setup: ProbeSetup, frame: bytes) -> tuple[str, str, str] | None:
    """(claimed MAC, frame source, kind) when the frame answers for the target, and kind
    "claim" when it claims the target without answering us."""
    if setup.version == 6:
        na = parse_na_frame(frame)
        if na is None:
            return None
        frame_src, packet, advert = na
        if advert.target != setup.target:
            return None
        mac = advert.target_mac or frame_src
        if mac == setup.mac:
            return None
        return mac, frame_src, "advert" if packet.dst == setup.source else "claim"
    got = parse_arp_frame(frame)
    if got is None:
        return None
    ether, arp = got
    if arp.sender_mac == setup.mac or arp.op not in (ArpOp.REQUEST, ArpOp.REPLY):
        return None
    if not setup.dad:
        if arp.sender_ip != setup.target:
            return None
        # Only what is sent to us, as arping counts (its recv_pack): to our address and our
        # MAC — a concurrent arping's replies go to its own.  A request of the target's to us
        # shows the station as well as a reply does.
        if arp.target_ip == setup.source and arp.target_mac == setup.mac:
            kind = "reply" if arp.op == ArpOp.REPLY else "request"
            return arp.sender_mac, ether.src, kind
        # Claims: gratuitous ARP (sender = target address) and replies to someone else.  A
        # plain request of the station's is its ordinary business, not a claim.
        if arp.op == ArpOp.REPLY or arp.target_ip == arp.sender_ip:
            return arp.sender_mac, ether.src, "claim"
        return None
    # RFC 5227 §2.1.1: a conflict is any ARP packet whose sender IP is the address probed, or
    # a probe for the same address from another station (it is probing for it too).
    if arp.sender_ip == setup.target:
        return arp.sender_mac, ether.src, "reply" if arp.op == ArpOp.REPLY else "request"
    if arp.is_probe and arp.target_ip == setup.target:
        return arp.sender_mac, ether.src, "probe"
    return None


async def probe(
    setup: ProbeSetup,
    *,
    count: int | None = 3,
    interval: float = 1.0,
    wait: float = 1.0,
    deadline: float | None = None,
    until_reply: bool = False,
    on_reply: Callable[[Reply], None] | None = None,
) -> ProbeResult:
    """Send `count` requests `interval` s apart (forever with count=None, until `deadline` s),
    then wait `wait` s for late replies.  A duplicate-address probe, or `until_reply`, stops
    sending at the first answer.  After an answer to the last request, only a short linger
    (4 × the largest RTT, at least 20 ms) waits for a second station answering: on one link
    it answers within that."""
    if count is None and deadline is None:
        raise UsageError("a probe without a count needs a deadline")
    sock = _open(setup)
    request = _request(setup)
    replies: list[Reply] = []
    answered: dict[int, set[str]] = {}  # request number -> the MACs that answered it
    duplicates = 0
    claims: dict[str, int] = {}
    sent_at: list[float] = []
    sent_wall: list[float] = []  # the same instants on the kernel's timestamp clock
    started = time.monotonic()
    hard_end = started + deadline if deadline is not None else math.inf
    next_send = started
    finish_at = math.inf
    interrupted = False
    try:
        while True:
            now = time.monotonic()
            stop_sending = (setup.dad or until_reply) and bool(replies)
            more = (count is None or len(sent_at) < count) and not stop_sending
            if more and now >= next_send and now < hard_end:
                try:
                    sock.send(request)
                except OSError as exc:
                    raise from_oserror(exc, f"sending on {setup.iface}") from None
                sent_wall.append(time.time())
                sent_at.append(time.monotonic())
                next_send = sent_at[-1] + interval
                if count is not None and len(sent_at) >= count:
                    finish_at = min(finish_at, sent_at[-1] + wait)
                continue
            if not more and finish_at == math.inf:
                finish_at = now + wait if not replies else now
            end = min(finish_at, hard_end)
            if now >= end:
                break
            wake = min(end, next_send) if more else end
            try:
                first = await asyncio.wait_for(_recv(sock), max(0.0, wake - now))
            except TimeoutError:
                continue
            # Whatever else is queued is read here, without a trip through the event loop per
            # frame: a flooding station must not fill the socket's buffer, where the kernel
            # would drop the real answers.
            for data, stamp, address in (first, *_drain(sock)):
                received = time.monotonic()
                if address[2] not in _FOR_US or not sent_at:
                    continue
                matched = _match(setup, data)
                if matched is None:
                    continue
                mac, frame_src, kind = matched
                if kind == "claim":
                    if mac in claims or len(claims) < MAX_CLAIMANTS:
                        claims[mac] = claims.get(mac, 0) + 1
                    continue
                stations = answered.setdefault(len(sent_at), set())
                if mac in stations or len(stations) >= MAX_STATIONS:
                    duplicates += 1
                    continue
                stations.add(mac)
                rtt = received - sent_at[-1]
                if stamp is not None and 0 <= stamp - sent_wall[-1] <= rtt:
                    # The kernel stamped the reply when it arrived, before the event loop (busy
                    # with another probe, perhaps) got to it: the RTT without scheduling delay.
                    rtt = stamp - sent_wall[-1]
                reply = Reply(
                    setup.target,
                    mac,
                    frame_src,
                    rtt * 1000,
                    len(sent_at),
                    address[2] == PACKET_BROADCAST,
                    kind,
                )
                replies.append(reply)
                if on_reply is not None:
                    on_reply(reply)
                done_sending = (
                    (count is not None and len(sent_at) >= count) or setup.dad or until_reply
                )
                if done_sending:
                    linger = max(0.02, 4 * max(r.rtt_ms for r in replies) / 1000)
                    finish_at = min(finish_at, received + linger)
    except (KeyboardInterrupt, asyncio.CancelledError):
        interrupted = True
    finally:
        dropped = _dropped(sock)
        sock.close()
    return ProbeResult(
        setup,
        len(sent_at),
        tuple(replies),
        (time.monotonic() - started) * 1000,
        interrupted,
        duplicates,
        tuple(Claim(mac, n) for mac, n in claims.items()),
        dropped,
    )


def require_raw() -> None:
    """Fail early, with the remedy, when AF_PACKET is not allowed here."""
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0).close()
    except OSError as exc:
        raise from_oserror(
            exc, "this check needs CAP_NET_RAW to send ARP/NDP frames (AF_PACKET)", RAW_REMEDY
        ) from None
