"""The probes of a trace, one codec per protocol: what a probe with a TTL looks like on the
wire, which channels it needs, and how an answer is matched back to it.  Pure: no socket, no
clock — the session (`path/session.py`) asks for the sends and hands back what arrived.

Paris style: every probe of a trace belongs to one flow — UDP and ICMP probes leave from one
socket with constant addresses, ports (ICMP: identifier) and checksum; only the probe id
varies, in a field load balancers ignore (the UDP payload; the ICMP sequence, balanced by a
payload word so the checksum stays constant; the TCP sequence number).

Matching errors to probes without privilege: the error queue (`IP_RECVERR`) hands back our own
datagram as the router quoted it — for UDP the payload (which carries the probe id), for ICMP
the echo header (the sequence).  TCP without CAP_NET_RAW is non-blocking connect()s, one socket
per probe, so the flow's source port varies; with it, SYNs from a raw socket with a held port.
"""

from __future__ import annotations

import errno as errno_mod
import os
import socket
import struct
from collections.abc import Sequence

from netladder.errors import errno_name
from netladder.net.session import (
    Action,
    ChannelSpec,
    Close,
    Connect,
    ConnectOutcome,
    Opened,
    Send,
)
from netladder.net.sockets import Received, SockError
from netladder.proto.icmp import IPPROTO_ICMP, IPPROTO_ICMPV6, build_echo, parse_icmp

__all__ = [
    "Answer",
    "IcmpProbes",
    "Probes",
    "TcpConnectProbes",
    "TcpSynProbes",
    "UdpProbes",
    "classify",
]

PAYLOAD_SIZE = 32  # traceroute's 60-byte IPv4 packets: 20 IP + 8 UDP/ICMP + 32
TCP_WINDOW = 64240  # the window a Linux SYN offers (44 segments of 1460 bytes)

# traceroute's annotations (traceroute.c, parse_icmp_res) for Destination Unreachable codes;
# "" is port unreachable, the normal end of a UDP trace, which traceroute does not annotate
# (whoever sent it).  RFC 792, RFC 1812 §5.2.7.1; other codes are "!<code>".
UNREACH4: dict[int, str] = {
    0: "!N",
    1: "!H",
    2: "!P",
    3: "",
    4: "!F",
    5: "!S",
    6: "!N",
    7: "!H",
    8: "!N",
    9: "!X",
    10: "!X",
    11: "!N",
    12: "!H",
    13: "!X",
    14: "!V",
    15: "!C",
}
# RFC 4443 §3.1: no route, administratively prohibited, beyond the scope of the source
# address, address unreachable, port unreachable.  Codes 5 (source address failed policy) and 6
# (reject route) have no letter in traceroute: "!<5>", "!<6>".
UNREACH6: dict[int, str] = {0: "!N", 1: "!X", 2: "!H", 3: "!H", 4: ""}
TIME_EXCEEDED = {4: 11, 6: 3}
UNREACH = {4: 3, 6: 1}
PORT_UNREACH = {4: 3, 6: 4}
TOO_BIG6 = 2


class Answer:
    """What came back for one probe.  (A plain slotted class: only the session sees it.)"""

    __slots__ = (
        "address",
        "annotation",
        "answer",
        "icmp_code",
        "icmp_type",
        "info",
        "kind",
        "monotonic_ns",
        "probe_id",
    )

    def __init__(
        self,
        probe_id: int,
        address: str,
        monotonic_ns: int,
        kind: str,
        answer: str,
        icmp_type: int | None = None,
        icmp_code: int | None = None,
        annotation: str = "",
        info: int = 0,
    ) -> None:
        self.probe_id = probe_id
        self.address = address
        self.monotonic_ns = monotonic_ns
        self.kind = kind  # "time-exceeded", "reply", "unreachable"
        self.answer = answer  # the stable word a renderer says (ProbeResult.answer)
        self.icmp_type = icmp_type
        self.icmp_code = icmp_code
        self.annotation = annotation
        self.info = info


def classify(
    version: int, icmp_type: int, code: int, from_target: bool, port_is_final: bool, info: int = 0
) -> tuple[str, str, str]:
    """(kind, annotation, answer) for an ICMP error about one of our probes, with traceroute's
    annotation for it; `answer` is the word for what answered (ProbeResult.answer).  `info` is
    the MTU of "fragmentation needed" / "packet too big"."""
    if icmp_type == TIME_EXCEEDED[version] and code == 0:
        return "time-exceeded", "", "time-exceeded"
    if icmp_type == UNREACH[version] and code == PORT_UNREACH[version]:
        if from_target:
            return ("reply" if port_is_final else "unreachable"), "", "port-unreachable"
        # Only the target answers for its ports: from anyone else, a filter on the way
        # rejected the probe (REJECT's default type), or a NAT sent it to another host.
        return "unreachable", "", "port-unreachable-router"
    if icmp_type == UNREACH[version]:
        table = UNREACH4 if version == 4 else UNREACH6
        annotation = table.get(code, f"!<{code}>")
        if annotation == "!F":
            annotation = f"!F-{info}"
        return "unreachable", annotation, "icmp-error"
    if version == 6 and icmp_type == TOO_BIG6:
        return "unreachable", f"!F-{info}", "too-big"
    # Anything else ends the trace as traceroute's "!<type-code>": a reassembly timeout
    # (Time Exceeded code 1), a parameter problem, ...
    return "unreachable", f"!<{icmp_type}-{code}>", "icmp-error"


class Probes:
    """The common part: the target, the flow's cookie, matching an ICMP error."""

    protocol = ""
    socket_kind = ""
    flow_constant = True
    channels: tuple[ChannelSpec, ...] = ()

    def __init__(self, address: str, version: int, port: int | None, scope: int = 0) -> None:
        self.address = address
        self.version = version
        self.port = port
        self.cookie = os.urandom(4)
        self.sockaddr: tuple[str, int] | tuple[str, int, int, int] = (
            (address, port or 0, 0, scope) if scope else (address, port or 0)
        )

    def bind(self, opened: Sequence[Opened]) -> None:
        """The channels as the driver opened them."""

    def probe(self, probe_id: int, ttl: int, token: int) -> Action:
        raise NotImplementedError

    def forget(self, token: int) -> Action | None:
        """The probe timed out: what releases what it holds (nothing, for a shared socket)."""
        return None

    def on_packet(self, channel: int, packet: Received) -> Answer | None:
        return None

    def on_connect(self, probe_id: int, outcome: ConnectOutcome) -> Answer | None:
        return None

    def _error(
        self,
        probe_id: int,
        source: str,
        monotonic_ns: int,
        icmp_type: int,
        code: int,
        port_is_final: bool,
        info: int = 0,
    ) -> Answer:
        kind, annotation, answer = classify(
            self.version, icmp_type, code, source == self.address, port_is_final, info
        )
        return Answer(
            probe_id, source, monotonic_ns, kind, answer, icmp_type, code, annotation, info
        )

    def _queued(
        self, probe_id: int, err: SockError, sender: str, monotonic_ns: int, port_is_final: bool
    ) -> Answer:
        """The answer an ICMP error from the error queue gives (sent by `err.offender`, else
        by `sender`: the address the message names)."""
        return self._error(
            probe_id,
            err.offender or sender,
            monotonic_ns,
            err.icmp_type,
            err.icmp_code,
            port_is_final,
            err.info,
        )


class UdpProbes(Probes):
    """Unprivileged UDP probes from one socket (constant 5-tuple); errors on its error queue."""

    protocol = "udp"
    socket_kind = "dgram"

    def __init__(self, address: str, version: int, port: int | None, scope: int = 0) -> None:
        super().__init__(address, version, port if port is not None else 33434, scope)
        self.channels = (ChannelSpec("udp", version),)

    def payload(self, probe_id: int) -> bytes:
        # id and its complement: their ones'-complement sum is constant, so is the checksum.
        head = self.cookie + struct.pack("!HH", probe_id, ~probe_id & 0xFFFF)
        return head + bytes(PAYLOAD_SIZE - len(head))

    def probe(self, probe_id: int, ttl: int, token: int) -> Action:
        return Send(0, self.payload(probe_id), self.sockaddr, token, ttl)

    def on_packet(self, channel: int, packet: Received) -> Answer | None:
        data = packet.data
        if len(data) < 6 or data[:4] != self.cookie:
            return None
        probe_id = struct.unpack_from("!H", data, 4)[0]
        err = packet.error
        if err is not None:
            if not err.is_icmp:
                return None  # a local error
            return self._queued(probe_id, err, packet.source, packet.monotonic_ns, True)
        if packet.source != self.address or packet.port != self.port:
            return None
        # The target echoed our probe back (a UDP echo service): it arrived.
        return Answer(probe_id, packet.source, packet.monotonic_ns, "reply", "udp-reply")


class IcmpProbes(Probes):
    """Echo requests: a datagram socket when allowed (errors on the error queue), else raw."""

    protocol = "icmp"

    def __init__(self, address: str, version: int, port: int | None, scope: int = 0) -> None:
        super().__init__(address, version, None, scope)
        self.channels = (ChannelSpec("icmp", version),)
        self.socket_kind = "dgram"
        self.identifier = os.getpid() & 0xFFFF
        self.ip_header = False
        self.want = IPPROTO_ICMP if version == 4 else IPPROTO_ICMPV6

    def bind(self, opened: Sequence[Opened]) -> None:
        channel = opened[0]
        self.socket_kind = channel.kind
        self.ip_header = channel.includes_ip_header
        if channel.identifier is not None:
            self.identifier = channel.identifier  # the kernel's, on a datagram socket

    def probe(self, probe_id: int, ttl: int, token: int) -> Action:
        # The sequence carries the probe id; the word after the cookie balances it so the
        # ICMP checksum (which per-flow balancers may hash, RFC 792) never changes.
        head = self.cookie + struct.pack("!H", ~probe_id & 0xFFFF)
        packet = build_echo(
            self.version, self.identifier, probe_id, head + bytes(PAYLOAD_SIZE - len(head))
        )
        return Send(0, packet, self.sockaddr, token, ttl)

    def on_packet(self, channel: int, packet: Received) -> Answer | None:
        err = packet.error
        if err is not None:  # our own echo request, back from a datagram socket's error queue
            mine = parse_icmp(packet.data, self.version)
            if not err.is_icmp or mine is None or mine.payload[:4] != self.cookie:
                return None
            return self._queued(mine.sequence, err, packet.source, packet.monotonic_ns, False)
        message = parse_icmp(packet.data, self.version, self.ip_header)
        if message is None:
            return None
        source = message.source or packet.source
        raw = self.socket_kind == "raw"
        if message.is_echo_reply:
            if raw and message.identifier != self.identifier:
                return None
            if message.payload[:4] != self.cookie:
                return None
            return Answer(
                message.sequence,
                source,
                packet.monotonic_ns,
                "reply",
                "echo-reply",
                message.type,
                message.code,
            )
        if message.is_error and raw:
            quoted = message.quoted
            if (
                quoted is None
                or quoted.protocol != self.want
                or quoted.field_a != self.identifier
                or quoted.dst != self.address
            ):
                return None
            return self._error(
                quoted.field_b,
                source,
                packet.monotonic_ns,
                message.type,
                message.code,
                False,
                message.mtu or 0,
            )
        return None


class TcpConnectProbes(Probes):
    """SYN probes as non-blocking connect()s with a TTL (unprivileged, like traceroute -M
    tcpconn): Time Exceeded on each socket's error queue, SYN-ACK = open, RST = closed."""

    protocol = "tcp"
    socket_kind = "connect"
    flow_constant = False  # each connect() has its own source port

    def __init__(self, address: str, version: int, port: int | None, scope: int = 0) -> None:
        super().__init__(address, version, port if port is not None else 80, scope)

    def probe(self, probe_id: int, ttl: int, token: int) -> Action:
        assert self.port is not None
        return Connect(token, self.address, self.port, ttl=ttl)

    def forget(self, token: int) -> Action | None:
        # Closing stops the kernel's SYN retransmissions, which would be extra probes.
        return Close(token)

    def on_connect(self, probe_id: int, outcome: ConnectOutcome) -> Answer | None:
        """The answer, or None when the connect failed here (no route, a local firewall):
        not an answer from the path (the session reports it as a send error)."""
        icmp = outcome.icmp
        if icmp is not None and icmp.is_icmp:
            return self._queued(probe_id, icmp, self.address, outcome.at, False)
        if outcome.error == 0:
            # The kernel's handshake RTT (tcpi_rtt) is more exact than our wake-up time.
            at = outcome.at
            if outcome.rtt_ns and outcome.sent is not None:
                at = outcome.sent + outcome.rtt_ns
            return Answer(probe_id, self.address, at, "reply", "syn-ack")
        if outcome.error == errno_mod.ECONNREFUSED:
            return Answer(probe_id, self.address, outcome.at, "reply", "rst")
        if outcome.error in LOCAL_FAILURES:
            return None
        return Answer(
            probe_id,
            self.address,
            outcome.at,
            "unreachable",
            "connect-error",
            annotation="!" + errno_name(outcome.error),
            info=outcome.error,
        )


# A connect that fails without an ICMP error behind it and within the probe's wait (at most
# 1 s) failed here, before anything left: no route, a local firewall, no address or port.
LOCAL_FAILURES = frozenset(
    {
        errno_mod.ENETUNREACH,
        errno_mod.EHOSTUNREACH,
        errno_mod.EACCES,
        errno_mod.EPERM,
        errno_mod.EADDRNOTAVAIL,
        errno_mod.EADDRINUSE,
        errno_mod.ENOBUFS,
        errno_mod.EMFILE,
        errno_mod.ENFILE,
        errno_mod.EAFNOSUPPORT,
        errno_mod.EINVAL,
    }
)


class TcpSynProbes(Probes):
    """Paris-style TCP: SYNs from a raw socket with constant ports; the probe id rides in the
    sequence number.  Errors come from a raw ICMP socket, SYN-ACK/RST from the raw TCP socket
    (our kernel, having no connection, answers them with RST, as for traceroute -T); a held
    TCP socket keeps the source port ours.

    An open port may answer a later SYN of the same flow with RST, when it lands on the
    half-open connection of an earlier probe (RFC 9293 §3.10.7.4): the first answer tells the
    port's state."""

    protocol = "tcp"
    socket_kind = "raw"

    def __init__(
        self, address: str, version: int, port: int | None, source: str, scope: int = 0
    ) -> None:
        super().__init__(address, version, port if port is not None else 80, scope)
        self.channels = (
            ChannelSpec("raw_tcp", version),
            ChannelSpec("icmp", version, prefer="raw"),
            ChannelSpec("hold", version, source=source),
        )
        family = socket.AF_INET if version == 4 else socket.AF_INET6
        self.packed = socket.inet_pton(family, source), socket.inet_pton(family, address)
        self.base = struct.unpack("!I", self.cookie)[0]
        self.sport = 0
        self.icmp_ip_header = version == 4

    def bind(self, opened: Sequence[Opened]) -> None:
        hold = opened[2].local
        assert hold is not None
        self.sport = int(hold[1])
        self.icmp_ip_header = opened[1].includes_ip_header

    def probe(self, probe_id: int, ttl: int, token: int) -> Action:
        from netladder.proto.tcp import build_syn

        assert self.port is not None
        # A bare 20-byte SYN; the probe id rides in the sequence number.
        seq = (self.base + probe_id) & 0xFFFFFFFF
        segment = build_syn(*self.packed, self.sport, self.port, seq, window=TCP_WINDOW, mss=None)
        return Send(0, segment, (self.address, 0), token, ttl)

    def _probe_id(self, seq: int) -> int | None:
        probe_id = (seq - self.base) & 0xFFFFFFFF
        return probe_id if 0 < probe_id <= 0xFFFF else None

    def on_packet(self, channel: int, packet: Received) -> Answer | None:
        if channel == 0:
            return self._segment(packet)
        if channel == 1:
            return self._icmp(packet)
        return None

    def _segment(self, packet: Received) -> Answer | None:
        from netladder.proto.inet import parse_ipv4_header
        from netladder.proto.tcp import ACK, RST, SYN, parse_tcp

        data, source = packet.data, packet.source
        if self.version == 4:  # a raw IPv4 socket hands over the IP header too
            header = parse_ipv4_header(data)
            if header is None:
                return None
            data, source = data[header.header_length :], header.src
        seg = parse_tcp(data)
        if (
            seg is None
            or seg.sport != self.port
            or seg.dport != self.sport
            or source != self.address
            or not seg.flags & ACK
        ):
            return None
        probe_id = self._probe_id(seg.ack - 1)
        if probe_id is None:
            return None
        if seg.flags & SYN:
            answer = "syn-ack"
        elif seg.flags & RST:
            answer = "rst"
        else:
            return None
        return Answer(probe_id, source, packet.monotonic_ns, "reply", answer)

    def _icmp(self, packet: Received) -> Answer | None:
        message = parse_icmp(packet.data, self.version, self.icmp_ip_header)
        if message is None or not message.is_error:
            return None
        quoted = message.quoted
        if (
            quoted is None
            or quoted.seq is None  # not TCP
            or quoted.dst != self.address
            or quoted.field_a != self.sport
            or quoted.field_b != self.port
        ):
            return None
        probe_id = self._probe_id(quoted.seq)
        if probe_id is None:
            return None
        return self._error(
            probe_id,
            message.source or packet.source,
            packet.monotonic_ns,
            message.type,
            message.code,
            False,
            message.mtu or 0,
        )
