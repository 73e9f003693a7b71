"""The probe I/O of a trace: one prober per protocol, all built on netladder.net.sockets.

A prober sends a probe with a TTL and a probe id, and reports what comes back as `Answer`s
through a callback registered on the event loop.  Paris style: every probe of a trace belongs
to one flow — UDP and ICMP probes leave from one socket with constant addresses, ports (ICMP:
identifier) and checksum; only the probe id varies, in a field load balancers ignore (the UDP
payload; the ICMP sequence, balanced by a payload word so the checksum stays constant).

Matching errors to probes without privilege: the error queue (`IP_RECVERR`) hands back our own
datagram as the router quoted it — for UDP the payload (which carries the probe id), for ICMP
the echo header (the sequence).  TCP probes are non-blocking connect()s, one socket per probe,
so the flow's source port varies (a constant TCP flow needs a raw socket).
"""

from __future__ import annotations

import errno
import os
import socket
import struct
import time
from collections.abc import Callable

from netladder.errors import NetladderError, from_oserror
from netladder.net.reactor import Reactor
from netladder.net.sockets import (
    enable_recverr,
    enable_timestamps,
    open_icmp,
    open_udp_probe,
    receive,
    set_ttl,
)
from netladder.proto.icmp import (
    IPPROTO_ICMP,
    IPPROTO_ICMPV6,
    build_echo,
    error_text,
    parse_icmp,
)

__all__ = [
    "Answer",
    "IcmpProber",
    "Prober",
    "TcpProber",
    "TcpSynProber",
    "UdpProber",
    "classify",
    "make_prober",
]

PAYLOAD_SIZE = 32  # traceroute's 60-byte IPv4 packets: 20 IP + 8 UDP/ICMP + 32
TCP_INFO_RTT = struct.Struct("=I")  # tcpi_rtt (µs) at offset 68 of struct tcp_info
TCP_INFO_RTT_OFFSET = 68

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

# A send can fail with the error a previous probe's ICMP left pending on the socket (sk_err):
# the failed send clears it, so the probe is simply sent again.
_PENDING_ERRNOS = {
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
    errno.ECONNREFUSED,
    errno.EPROTO,
    errno.EMSGSIZE,
    errno.EACCES,
    errno.EHOSTDOWN,
    errno.ENOPROTOOPT,
}


class Answer:
    """What came back for one probe.  (A plain slotted class: cheaper at start-up than a
    dataclass, and only the engine sees it.)"""

    __slots__ = (
        "address",
        "annotation",
        "detail",
        "icmp_code",
        "icmp_type",
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
        icmp_type: int | None = None,
        icmp_code: int | None = None,
        annotation: str = "",
        detail: str = "",
    ) -> None:
        self.probe_id = probe_id
        self.address = address
        self.monotonic_ns = monotonic_ns
        self.kind = kind  # "time-exceeded", "reply", "unreachable"
        self.icmp_type = icmp_type
        self.icmp_code = icmp_code
        self.annotation = annotation
        self.detail = detail


def classify(
    version: int, icmp_type: int, code: int, from_target: bool, port_is_final: bool, info: int = 0
) -> tuple[str, str, str]:
    """(kind, annotation, detail) for an ICMP error about one of our probes, with traceroute's
    annotation for it.  `info` is the MTU of "fragmentation needed" / "packet too big"."""
    if icmp_type == TIME_EXCEEDED[version] and code == 0:
        return "time-exceeded", "", "time exceeded"
    if icmp_type == UNREACH[version] and code == PORT_UNREACH[version]:
        if from_target:
            return ("reply" if port_is_final else "unreachable"), "", "port unreachable"
        # Only the target answers for its ports: from anyone else, a filter on the way
        # rejected the probe (REJECT's default type), or a NAT sent it to another host.
        return (
            "unreachable",
            "",
            "port unreachable from a router, not the target: rejected on the way (a firewall)",
        )
    text = error_text(version, icmp_type, code)
    if icmp_type == UNREACH[version]:
        table = UNREACH4 if version == 4 else UNREACH6
        annotation = table.get(code, f"!<{code}>")
        if annotation == "!F":
            annotation = f"!F-{info}"
        return "unreachable", annotation, text
    if version == 6 and icmp_type == TOO_BIG6:
        return "unreachable", f"!F-{info}", f"packet too big (MTU {info})"
    # Anything else ends the trace as traceroute's "!<type-code>": a reassembly timeout
    # (Time Exceeded code 1), a parameter problem, ...
    return "unreachable", f"!<{icmp_type}-{code}>", text


OnAnswer = Callable[[Answer], None]


class Prober:
    """The common part: one flow socket, a cookie, sending with a TTL."""

    protocol = ""
    socket_kind = ""
    flow_constant = True

    def __init__(self, address: str, version: int, port: int | None) -> None:
        self.address = address
        self.version = version
        self.port = port
        self.cookie = os.urandom(4)
        self._loop: Reactor | None = None
        self._on_answer: OnAnswer | None = None
        self._fds: list[int] = []

    def start(self, loop: Reactor, on_answer: OnAnswer) -> None:
        self._loop = loop
        self._on_answer = on_answer

    def _watch(self, sock: socket.socket, callback: Callable[[], None]) -> None:
        assert self._loop is not None
        self._loop.add_reader(sock.fileno(), callback)
        self._fds.append(sock.fileno())

    def _emit(self, answer: Answer) -> None:
        assert self._on_answer is not None
        self._on_answer(answer)

    def send(self, probe_id: int, ttl: int) -> int:
        raise NotImplementedError

    def forget(self, probe_id: int) -> None:
        """The probe timed out: release what it holds (nothing, for a shared socket)."""

    def close(self) -> None:
        if self._loop is not None:
            for fd in self._fds:
                self._loop.remove_reader(fd)
        self._fds.clear()

    def _from_error(
        self,
        probe_id: int,
        source: str,
        monotonic_ns: int,
        icmp_type: int,
        code: int,
        port_is_final: bool,
        info: int = 0,
    ) -> None:
        kind, annotation, detail = classify(
            self.version, icmp_type, code, source == self.address, port_is_final, info
        )
        self._emit(
            Answer(probe_id, source, monotonic_ns, kind, icmp_type, code, annotation, detail)
        )


def _send_retrying(send: Callable[[], object], what: str) -> None:
    last = OSError(errno.EAGAIN, "the socket stays busy")
    for _ in range(4):
        try:
            send()
            return
        except BlockingIOError as exc:
            last = exc
            continue
        except OSError as exc:
            if exc.errno not in _PENDING_ERRNOS:
                raise from_oserror(exc, what) from None
            last = exc
    raise from_oserror(last, what) from None


class UdpProber(Prober):
    """Unprivileged UDP probes from one connected socket (constant 5-tuple)."""

    protocol = "udp"
    socket_kind = "dgram"

    def __init__(self, address: str, version: int, port: int | None) -> None:
        super().__init__(address, version, port if port is not None else 33434)
        self.sock = open_udp_probe(version)
        try:
            self.sock.connect((address, self.port))
        except OSError as exc:
            self.sock.close()
            raise from_oserror(exc, f"cannot send to {address}") from None

    def start(self, loop: Reactor, on_answer: OnAnswer) -> None:
        super().start(loop, on_answer)
        self._watch(self.sock, self._readable)

    def payload(self, probe_id: int) -> bytes:
        # id and its complement: their ones'-complement sum is constant, so is the checksum.
        head = self.cookie + struct.pack("!HH", probe_id, ~probe_id & 0xFFFF)
        return head + bytes(PAYLOAD_SIZE - len(head))

    def send(self, probe_id: int, ttl: int) -> int:
        set_ttl(self.sock, self.version, ttl)
        data = self.payload(probe_id)
        sent = time.monotonic_ns()
        _send_retrying(lambda: self.sock.send(data), f"cannot send to {self.address}")
        return sent

    def _readable(self) -> None:
        while True:
            got = receive(self.sock, errqueue=True)
            if got is None:
                break
            err = got.error
            if err is None or not err.is_icmp or len(got.data) < 6 or got.data[:4] != self.cookie:
                continue  # a local error, or a quote too short to carry the probe id
            probe_id = struct.unpack_from("!H", got.data, 4)[0]
            self._from_error(
                probe_id,
                err.offender or got.source,
                got.monotonic_ns,
                err.icmp_type,
                err.icmp_code,
                True,
                err.info,
            )
        while True:
            try:
                got = receive(self.sock)
            except OSError:
                continue  # a pending socket error surfaced by recv; it is now cleared
            if got is None:
                break
            if got.data[:4] == self.cookie and len(got.data) >= 6:  # an echo of our probe
                probe_id = struct.unpack_from("!H", got.data, 4)[0]
                self._emit(
                    Answer(probe_id, got.source, got.monotonic_ns, "reply", detail="UDP reply")
                )

    def close(self) -> None:
        super().close()
        self.sock.close()


class IcmpProber(Prober):
    """Echo requests: a datagram socket when allowed (errors on the error queue), else raw."""

    protocol = "icmp"

    def __init__(
        self, address: str, version: int, port: int | None, prefer: str | None = None
    ) -> None:
        super().__init__(address, version, None)
        self.icmp = open_icmp(version, prefer)  # type: ignore[arg-type]
        self.socket_kind = self.icmp.kind
        kernel_id = self.icmp.identifier
        self.identifier = kernel_id if kernel_id is not None else (os.getpid() & 0xFFFF)

    def start(self, loop: Reactor, on_answer: OnAnswer) -> None:
        super().start(loop, on_answer)
        self._watch(self.icmp.sock, self._readable)

    def send(self, probe_id: int, ttl: int) -> int:
        # The sequence carries the probe id; the word after the cookie balances it so the
        # ICMP checksum (which per-flow balancers may hash, RFC 792) never changes.
        head = self.cookie + struct.pack("!H", ~probe_id & 0xFFFF)
        packet = build_echo(
            self.version, self.identifier, probe_id, head + bytes(PAYLOAD_SIZE - len(head))
        )
        set_ttl(self.icmp.sock, self.version, ttl)
        sent = time.monotonic_ns()
        _send_retrying(
            lambda: self.icmp.sock.sendto(packet, (self.address, 0)),
            f"cannot send to {self.address}",
        )
        return sent

    def _readable(self) -> None:
        sock = self.icmp.sock
        if self.icmp.kind == "dgram":
            while True:
                got = receive(sock, errqueue=True)
                if got is None:
                    break
                err = got.error
                mine = parse_icmp(got.data, self.version)
                if err is None or not err.is_icmp or mine is None:
                    continue
                if mine.payload[:4] != self.cookie:
                    continue
                self._from_error(
                    mine.sequence,
                    err.offender or got.source,
                    got.monotonic_ns,
                    err.icmp_type,
                    err.icmp_code,
                    False,
                    err.info,
                )
        while True:
            try:
                got = receive(sock)
            except OSError:
                continue
            if got is None:
                break
            message = parse_icmp(got.data, self.version, self.icmp.includes_ip_header)
            if message is None:
                continue
            source = message.source or got.source
            if message.is_echo_reply:
                if self.icmp.kind == "raw" and message.identifier != self.identifier:
                    continue
                if message.payload[:4] != self.cookie:
                    continue
                self._emit(
                    Answer(
                        message.sequence,
                        source,
                        got.monotonic_ns,
                        "reply",
                        message.type,
                        message.code,
                        detail="echo reply",
                    )
                )
            elif message.is_error and self.icmp.kind == "raw":
                quoted = message.quoted
                want = IPPROTO_ICMP if self.version == 4 else IPPROTO_ICMPV6
                if (
                    quoted is None
                    or quoted.protocol != want
                    or quoted.field_a != self.identifier
                    or quoted.dst != self.address
                ):
                    continue
                self._from_error(
                    quoted.field_b,
                    source,
                    got.monotonic_ns,
                    message.type,
                    message.code,
                    False,
                    message.mtu or 0,
                )

    def close(self) -> None:
        super().close()
        self.icmp.close()


class TcpProber(Prober):
    """SYN probes as non-blocking connect()s with a TTL (unprivileged, like traceroute -M
    tcpconn): Time Exceeded on each socket's error queue, SYN-ACK = open, RST = closed."""

    protocol = "tcp"
    socket_kind = "connect"
    flow_constant = False  # each connect() has its own source port

    def __init__(self, address: str, version: int, port: int | None) -> None:
        super().__init__(address, version, port if port is not None else 80)
        self._socks: dict[int, tuple[socket.socket, int, int]] = {}  # fd -> sock, id, sent
        self._fd_of: dict[int, int] = {}  # probe id -> fd

    def send(self, probe_id: int, ttl: int) -> int:
        assert self._loop is not None
        family = socket.AF_INET if self.version == 4 else socket.AF_INET6
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            set_ttl(sock, self.version, ttl)
            enable_recverr(sock, self.version)
            enable_timestamps(sock)
            sent = time.monotonic_ns()
            code = sock.connect_ex((self.address, self.port))
        except OSError as exc:
            sock.close()
            raise from_oserror(exc, "cannot open a TCP socket") from None
        if code not in (0, errno.EINPROGRESS, errno.ECONNREFUSED):
            sock.close()
            raise NetladderError(f"cannot connect to {self.address}: {os.strerror(code)}")
        fd = sock.fileno()
        self._socks[fd] = (sock, probe_id, sent)
        self._fd_of[probe_id] = fd
        self._loop.add_reader(fd, lambda: self._ready(fd))
        self._loop.add_writer(fd, lambda: self._ready(fd))
        return sent

    def _ready(self, fd: int) -> None:
        entry = self._socks.get(fd)
        if entry is None:
            return
        sock, probe_id, sent = entry
        got = receive(sock, errqueue=True)
        if got is not None and got.error is not None and got.error.is_icmp:
            self._drop(fd)
            self._from_error(
                probe_id,
                got.error.offender or self.address,
                got.monotonic_ns,
                got.error.icmp_type,
                got.error.icmp_code,
                False,
                got.error.info,
            )
            return
        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        now = time.monotonic_ns()
        if code == 0:
            try:
                sock.getpeername()
            except OSError:
                return  # not connected yet: a spurious wake-up
            rtt_ns = self._kernel_rtt_ns(sock)
            at = sent + rtt_ns if rtt_ns else now
            self._drop(fd, reset=True)
            self._emit(Answer(probe_id, self.address, at, "reply", detail="SYN-ACK (open)"))
        elif code == errno.ECONNREFUSED:
            self._drop(fd)
            self._emit(Answer(probe_id, self.address, now, "reply", detail="RST (closed)"))
        else:
            self._drop(fd)
            self._emit(
                Answer(
                    probe_id,
                    self.address,
                    now,
                    "unreachable",
                    annotation="!" + errno.errorcode.get(code, str(code)),
                    detail=os.strerror(code),
                )
            )

    @staticmethod
    def _kernel_rtt_ns(sock: socket.socket) -> int:
        """The kernel's handshake RTT (tcpi_rtt, µs): more exact than our wake-up time."""
        try:
            info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
        except OSError:
            return 0
        if len(info) < TCP_INFO_RTT_OFFSET + 4:
            return 0
        return int(TCP_INFO_RTT.unpack_from(info, TCP_INFO_RTT_OFFSET)[0]) * 1000

    def forget(self, probe_id: int) -> None:
        # Closing stops the kernel's SYN retransmissions, which would be extra probes.
        fd = self._fd_of.get(probe_id)
        if fd is not None:
            self._drop(fd)

    def _drop(self, fd: int, reset: bool = False) -> None:
        entry = self._socks.pop(fd, None)
        if entry is None:
            return
        self._fd_of.pop(entry[1], None)
        assert self._loop is not None
        self._loop.remove_reader(fd)
        self._loop.remove_writer(fd)
        if reset:  # leave no half-open connection behind: RST, like traceroute -T
            entry[0].setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        entry[0].close()

    def close(self) -> None:
        for fd in list(self._socks):
            self._drop(fd)
        super().close()


def make_prober(protocol: str, address: str, version: int, port: int | None) -> Prober:
    if protocol == "udp":
        return UdpProber(address, version, port)
    if protocol == "icmp":
        return IcmpProber(address, version, port)
    if protocol == "tcp":
        try:
            return TcpSynProber(address, version, port)
        except PermissionError:  # no CAP_NET_RAW: connect() probes, one flow per probe
            return TcpProber(address, version, port)
    raise ValueError(protocol)


IPV6_CHECKSUM = 7  # include/uapi/linux/in6.h
TCP_WINDOW = 64240  # the window a Linux SYN offers (44 segments of 1460 bytes)


class TcpSynProber(Prober):
    """Paris-style TCP: SYNs from a raw socket with constant ports; the probe id rides in the
    sequence number.  Errors come from a raw ICMP socket, SYN-ACK/RST from the raw TCP socket
    (our kernel, having no connection, answers them with RST, as for traceroute -T).

    An open port may answer a later SYN of the same flow with RST, when it lands on the
    half-open connection of an earlier probe (RFC 9293 §3.10.7.4): the first answer tells the
    port's state."""

    protocol = "tcp"
    socket_kind = "raw"

    def __init__(self, address: str, version: int, port: int | None) -> None:
        super().__init__(address, version, port if port is not None else 80)
        self.dport = port if port is not None else 80
        family = socket.AF_INET if version == 4 else socket.AF_INET6
        self.raw = socket.socket(family, socket.SOCK_RAW, socket.IPPROTO_TCP)  # EPERM: caller
        self.icmp = None
        self.holder = None
        try:
            self.raw.setblocking(False)
            enable_timestamps(self.raw)
            if version == 6:  # the kernel fills in the checksum at offset 16 (RFC 3542 §3.1)
                self.raw.setsockopt(socket.IPPROTO_IPV6, IPV6_CHECKSUM, 16)
            self.icmp = open_icmp(version, "raw")
            # The source address the kernel will use, and a port held so nobody else takes it.
            with socket.socket(family, socket.SOCK_DGRAM) as probe:
                try:
                    probe.connect((address, self.dport))
                except OSError as exc:
                    raise from_oserror(exc, f"cannot send to {address}") from None
                self.source = str(probe.getsockname()[0])
            self.holder = socket.socket(family, socket.SOCK_STREAM)
            self.holder.bind((self.source, 0))
            self.sport = int(self.holder.getsockname()[1])
        except BaseException:
            self.close()
            raise
        self.base = struct.unpack("!I", self.cookie)[0]
        self._packed = socket.inet_pton(family, self.source), socket.inet_pton(family, address)

    def start(self, loop: Reactor, on_answer: OnAnswer) -> None:
        super().start(loop, on_answer)
        self._watch(self.raw, self._tcp_readable)
        assert self.icmp is not None
        self._watch(self.icmp.sock, self._icmp_readable)

    def send(self, probe_id: int, ttl: int) -> int:
        from netladder.proto.tcp import build_syn

        # A bare 20-byte SYN; the probe id rides in the sequence number.
        seq = (self.base + probe_id) & 0xFFFFFFFF
        segment = build_syn(*self._packed, self.sport, self.dport, seq, window=TCP_WINDOW, mss=None)
        set_ttl(self.raw, self.version, ttl)
        sent = time.monotonic_ns()
        _send_retrying(
            lambda: self.raw.sendto(segment, (self.address, 0)), f"cannot send to {self.address}"
        )
        return sent

    def _probe_id(self, seq: int) -> int | None:
        probe_id = (seq - self.base) & 0xFFFFFFFF
        return probe_id if 0 < probe_id <= 0xFFFF else None

    def _tcp_readable(self) -> None:
        from netladder.proto.inet import parse_ipv4_header
        from netladder.proto.tcp import ACK, RST, SYN, parse_tcp

        while True:
            got = receive(self.raw)
            if got is None:
                break
            data, source = got.data, got.source
            if self.version == 4:  # a raw IPv4 socket hands over the IP header too
                header = parse_ipv4_header(data)
                if header is None:
                    continue
                data, source = data[header.header_length :], header.src
            seg = parse_tcp(data)
            if seg is None:
                continue
            if (
                seg.sport != self.dport
                or seg.dport != self.sport
                or source != self.address
                or not seg.flags & ACK
            ):
                continue
            probe_id = self._probe_id(seg.ack - 1)
            if probe_id is None:
                continue
            if seg.flags & SYN:
                detail = "SYN-ACK (open)"
            elif seg.flags & RST:
                detail = "RST (closed)"
            else:
                continue
            self._emit(Answer(probe_id, source, got.monotonic_ns, "reply", detail=detail))

    def _icmp_readable(self) -> None:
        assert self.icmp is not None
        while True:
            got = receive(self.icmp.sock)
            if got is None:
                break
            message = parse_icmp(got.data, self.version, self.icmp.includes_ip_header)
            if message is None or not message.is_error:
                continue
            quoted = message.quoted
            if (
                quoted is None
                or quoted.seq is None  # not TCP
                or quoted.dst != self.address
                or quoted.field_a != self.sport
                or quoted.field_b != self.dport
            ):
                continue
            probe_id = self._probe_id(quoted.seq)
            if probe_id is None:
                continue
            self._from_error(
                probe_id,
                message.source or got.source,
                got.monotonic_ns,
                message.type,
                message.code,
                False,
                message.mtu or 0,
            )

    def close(self) -> None:
        super().close()
        for sock in (self.raw, self.holder):
            if sock is not None:
                sock.close()
        if self.icmp is not None:
            self.icmp.close()
