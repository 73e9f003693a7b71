"""Live ARP (IPv4) and Neighbor Solicitation (IPv6) probes, as a sans-IO session.

`prepare()` finds where and as whom to probe (the route, the link's MAC, our source), from
netlink, synchronously.  `ArpSession` is the probe itself (`net/session.py`): it asks the driver
for a packet channel on that link, says when to send each request (the codecs in
`netladder.proto.arp` / `.ndp` build them) and reads what comes back with the kernel's receive
stamp — the driver's send stamp and the frame's arrival, so a busy loop never inflates an RTT.
An ARP reply cannot be matched to one request (RFC 826 has no identifier), so, as arping does,
a reply's RTT is measured from the latest request sent before it arrived.
"""

from __future__ import annotations

import bisect
import errno
import ipaddress
import socket
from typing import Any

from netladder.errors import N_, UsageError, from_oserror
from netladder.l2.model import ArpResult, Claim, ProbeSetup, Reply
from netladder.l2.netlink import Netlink
from netladder.l2.route import ifindex, ifname, lookup_route
from netladder.net.linux import (
    ETH_P_ARP,
    ETH_P_IPV6,
    PACKET_BROADCAST,
    PACKET_HOST,
    PACKET_MULTICAST,
    SO_EE_ORIGIN_LOCAL,
)
from netladder.net.session import ChannelSpec, Send, Session, Step
from netladder.proto.arp import ArpOp, build_arp_probe, build_arp_request, parse_arp_frame
from netladder.proto.ndp import build_ns_frame, parse_na_frame

__all__ = ["ArpSession", "prepare", "require_raw"]

# Like arping, only frames addressed to us, broadcast or multicast count (sll_pkttype): a
# bridge floods a frame for an unknown MAC to every port (PACKET_OTHERHOST), and our own frames
# come back as PACKET_OUTGOING.
_FOR_US = frozenset({PACKET_HOST, PACKET_BROADCAST, PACKET_MULTICAST})
# Bounds against a hostile station (a flood of replies, or of forged MACs): answers kept per
# request, and stations remembered for claiming the address unasked.
MAX_STATIONS = 8
MAX_CLAIMANTS = 16
NS = 1_000_000_000
LINGER_MIN_NS = 20_000_000  # 20 ms

RAW_REMEDY = N_(
    "run as root, or grant the capability: "
    'sudo setcap cap_net_raw+ep "$(readlink -f "$(command -v python3)")"'
)


def prepare(
    target: str, iface: str | None = None, dad: bool = False, nl: Netlink | None = None
) -> ProbeSetup:
    """Check that target is a neighbour on an Ethernet link and find our MAC and source."""
    try:
        address = ipaddress.ip_address(target.split("%", 1)[0])
    except ValueError:
        raise UsageError("not an IP address: {target!r}", target=target) from None
    if dad and address.version == 6:
        raise UsageError(
            "--dad is IPv4 duplicate address detection (RFC 5227); {address} is IPv6 (probe it "
            "without --dad: two answers are reported as a conflict)",
            address=str(address),
        )
    if (
        address.is_multicast
        or address.is_unspecified
        or (address.version == 4 and address == ipaddress.IPv4Address("255.255.255.255"))
    ):
        raise UsageError("{address} is not a unicast address", address=str(address))
    own = nl is None
    link = nl or Netlink()
    try:
        index = ifindex(iface) if iface else None
        decision = lookup_route(str(address), iface, nl=link)
        if decision.type == "local":
            if not dad:
                raise UsageError(
                    "{address} is this host's own address (--dad asks whether another station "
                    "holds it too)",
                    address=str(address),
                )
            # arping -D probes it: another station holding it answers, a conflict (exit 1).
            return _own_address_setup(link, address, index)
        if decision.type in {"broadcast", "multicast", "anycast"}:
            raise UsageError(
                "{address} is a {type} address on {iface}, not one neighbour",
                address=str(address),
                type=decision.type,
                iface=decision.iface,
            )
        if decision.error is not None or decision.iface is None:
            raise UsageError(
                "{address} is not on any local link (no route: {error})",
                address=str(address),
                error=decision.error,
            )
        if decision.gateway is not None or (iface and decision.iface != iface):
            if decision.gateway:
                raise UsageError(
                    "{address} is not on a local link (reached via {gateway} on {iface}); arp "
                    "probes only neighbours on the same link",
                    address=str(address),
                    gateway=decision.gateway,
                    iface=decision.iface,
                )
            raise UsageError(
                "{address} is not on a local link; arp probes only neighbours on the same link",
                address=str(address),
            )
        index = ifindex(decision.iface)
        links = link.links()
        info = links.get(index)
        if info is None or not info.is_ethernet or not info.mac:
            raise UsageError(
                "{iface} is not an Ethernet interface: it has no ARP/NDP", iface=decision.iface
            )
        source = decision.prefsrc
        if source is None or (
            address.version == 6
            and address.is_link_local
            and not ipaddress.ip_address(source).is_link_local
        ):
            source = _source_on(link, index, address)
        if dad:
            source = "0.0.0.0"
        if source is None:
            raise UsageError(
                "{iface} has no IPv{version} address to probe from",
                iface=decision.iface,
                version=address.version,
            )
        return ProbeSetup(
            str(address), address.version, ifname(index) or str(index), index, info.mac, source, dad
        )
    finally:
        if own:
            link.close()


def _own_address_setup(
    nl: Netlink, address: ipaddress.IPv4Address | ipaddress.IPv6Address, index: int | None
) -> ProbeSetup:
    """A duplicate-address probe of an address this host holds: on the Ethernet link that
    holds it (or the one named)."""
    holders = [a.ifindex for a in nl.addrs(socket.AF_INET) if a.address == str(address)]
    links = nl.links()
    usable = [
        i
        for i in dict.fromkeys(holders)
        if (index is None or i == index) and i in links and links[i].is_ethernet and links[i].mac
    ]
    if index is not None and not usable:
        name = ifname(index)
        info = links.get(index)
        if info is None or not info.is_ethernet or not info.mac:
            raise UsageError("{iface} is not an Ethernet interface: it has no ARP/NDP", iface=name)
        usable = [index]  # probe there as asked, as arping -D -I does
    if not usable:
        where = ", ".join(ifname(i) or str(i) for i in dict.fromkeys(holders)) or "lo"
        raise UsageError(
            "{address} is this host's own address on {where}, which has no ARP",
            address=str(address),
            where=where,
        )
    if len(usable) > 1:
        names = ", ".join(ifname(i) or str(i) for i in usable)
        raise UsageError(
            "{address} is on several links here ({names}): name one with -I",
            address=str(address),
            names=names,
        )
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


def _source_on(
    nl: Netlink, index: int, target: ipaddress.IPv4Address | ipaddress.IPv6Address
) -> str | None:
    family = socket.AF_INET if target.version == 4 else socket.AF_INET6
    candidates = [a for a in nl.addrs(family) if a.ifindex == index]
    for a in candidates:
        if target in a.network:
            return a.address
    for a in candidates:
        if ipaddress.ip_address(a.address).is_link_local == (
            target.version == 6 and target.is_link_local
        ):
            return a.address
    return candidates[0].address if candidates else None


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


class ArpSession(Session[ArpResult]):
    """Send `count` requests `interval` s apart (forever with count=None, until `deadline` s),
    then wait `wait` s for late replies.  A duplicate-address probe, or `until_reply`, stops
    sending at the first answer.  After an answer to the last request, only a short linger
    (4 × the largest RTT, at least 20 ms) waits for a second station answering: on one link
    it answers within that.  Each Reply is also an event, as it comes."""

    def __init__(
        self,
        setup: ProbeSetup,
        *,
        count: int | None = 3,
        interval: float = 1.0,
        wait: float = 1.0,
        deadline: float | None = None,
        until_reply: bool = False,
    ) -> None:
        if count is None and deadline is None:
            raise UsageError("a probe without a count needs a deadline")
        self.setup = setup
        ethertype = ETH_P_ARP if setup.version == 4 else ETH_P_IPV6
        self.channels = (
            ChannelSpec("packet", setup.version, device=setup.iface, ethertype=ethertype),
        )
        self.address = (setup.iface, ethertype)
        self.request = _request(setup)
        self.count = count
        self.interval_ns = round(interval * NS)
        self.wait_ns = round(wait * NS)
        self.deadline_ns = None if deadline is None else round(deadline * NS)
        self.until_reply = until_reply
        self.sent_at: list[int] = []  # the driver's stamp of each request
        self.replies: list[Reply] = []
        self.answered: dict[int, set[str]] = {}  # request number -> the MACs that answered it
        self.duplicates = 0
        self.claims: dict[str, int] = {}
        self.dropped = 0
        self.send_error: int | None = None
        self.events: list[Reply] = []
        self.started = self.now = self.next_send = 0
        self.hard_end: int | None = None
        self.finish_at: int | None = None
        self.linger = False  # a reply came since the last poll: linger after it
        self.ended: int | None = None
        self.interrupted = False

    def start(self, now: int) -> None:
        self.started = self.now = self.next_send = now
        if self.deadline_ns is not None:
            self.hard_end = now + self.deadline_ns

    def _done(self, now: int) -> Step:
        if self.ended is None:
            self.ended = now
        events, self.events = self.events, []
        return Step((), None, events, True)

    def poll(self, now: int) -> Step:
        self.now = now
        if self.ended is not None or self.interrupted or self.send_error is not None:
            return self._done(now)
        sent = len(self.sent_at)
        stop_sending = (self.setup.dad or self.until_reply) and bool(self.replies)
        more = (self.count is None or sent < self.count) and not stop_sending
        if self.linger:
            self.linger = False
            done_sending = (self.count is not None and sent >= self.count) or stop_sending
            if done_sending:
                linger = max(LINGER_MIN_NS, 4 * max(round(r.rtt * NS) for r in self.replies))
                self.finish_at = _earlier(self.finish_at, now + linger)
        events, self.events = self.events, []
        hard_end = self.hard_end
        if more and now >= self.next_send and (hard_end is None or now < hard_end):
            # Polled again at once: by then on_sent has stamped the request.
            return Step((Send(0, self.request, self.address, sent + 1),), now, events)
        if not more and self.finish_at is None:
            self.finish_at = now + self.wait_ns if not self.replies else now
        end = _earlier(self.finish_at, hard_end)
        if end is not None and now >= end:
            self.events = events
            return self._done(now)
        wake = _earlier(end, self.next_send) if more else end
        return Step((), wake, events)

    def on_sent(self, token: int, at: int, error: int | None) -> None:
        if error is not None:
            self.send_error = error
            self.ended = at
            return
        self.sent_at.append(at)
        self.next_send = at + self.interval_ns
        if self.count is not None and len(self.sent_at) >= self.count:
            self.finish_at = _earlier(self.finish_at, at + self.wait_ns)

    def on_packet(self, channel: int, packet: Any) -> None:
        error = packet.error
        if error is not None:
            if error.errno == errno.ENOBUFS and error.origin == SO_EE_ORIGIN_LOCAL:
                self.dropped += error.info  # the driver's PACKET_STATISTICS report
            return
        if packet.pkttype not in _FOR_US or not self.sent_at or self.ended is not None:
            return
        matched = _match(self.setup, packet.data)
        if matched is None:
            return
        mac, frame_src, kind = matched
        if kind == "claim":
            if mac in self.claims or len(self.claims) < MAX_CLAIMANTS:
                self.claims[mac] = self.claims.get(mac, 0) + 1
            return
        stamp = packet.monotonic_ns
        # The latest request sent before the frame arrived (the first, for one stamped a hair
        # before it: the two clocks are read apart).
        k = max(bisect.bisect_right(self.sent_at, stamp), 1)
        stations = self.answered.setdefault(k, set())
        if mac in stations or len(stations) >= MAX_STATIONS:
            self.duplicates += 1
            return
        stations.add(mac)
        rtt = max(stamp - self.sent_at[k - 1], 0) / NS
        broadcast = packet.pkttype == PACKET_BROADCAST
        reply = Reply(self.setup.target, mac, frame_src, rtt, k, broadcast, kind)
        self.replies.append(reply)
        self.events.append(reply)
        self.linger = True

    def interrupt(self) -> None:
        self.interrupted = True

    def result(self) -> ArpResult:
        ended = self.ended if self.ended is not None else self.now
        return ArpResult(
            self.setup,
            len(self.sent_at),
            tuple(self.replies),
            max(ended - self.started, 0) / NS,
            self.interrupted,
            self.duplicates,
            tuple(Claim(mac, n) for mac, n in self.claims.items()),
            self.dropped,
            self.send_error,
        )


def _earlier(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    return a if b is None else min(a, b)


def require_raw(
    what: str = N_("this check needs CAP_NET_RAW to send ARP/NDP frames (AF_PACKET)"),
) -> None:
    """Fail early, with the remedy, when AF_PACKET is not allowed here."""
    try:
        # Protocol 0: no protocol hook is registered, so closing it costs no RCU grace period.
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0).close()
    except OSError as exc:
        raise from_oserror(exc, what, RAW_REMEDY) from None
