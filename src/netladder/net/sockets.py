"""The one place where probe sockets are made and read: privilege fallback, kernel receive
timestamps, TTL of replies and the error queue.

ICMP probes prefer the unprivileged datagram socket (allowed when the caller's group is inside
`net.ipv4.ping_group_range`; the kernel then owns the identifier and filters replies) and fall
back to a raw socket (CAP_NET_RAW).  On datagram sockets ICMP errors caused by our probes arrive
on the error queue (`IP_RECVERR`), with the router that sent them as the "offender".
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import struct
import time
from collections.abc import Callable, Iterator
from typing import Any, Literal

from netladder.errors import N_, EnvError, UsageError, from_oserror
from netladder.net.linux import (
    ETH_P_ARP,
    ICMP6_FILTER,
    ICMP_FILTER,
    IP_MTU,
    IP_MTU_DISCOVER,
    IP_PMTUDISC_DO,
    IP_PMTUDISC_DONT,
    IP_RECVERR,
    IP_RECVTTL,
    IPV6_DONTFRAG,
    IPV6_HOPLIMIT,
    IPV6_MTU,
    IPV6_RECVERR,
    IPV6_RECVHOPLIMIT,
    PACKET_STATISTICS,
    SCM_TIMESTAMPNS,
    SO_EE_ORIGIN_ICMP,
    SO_EE_ORIGIN_ICMP6,
    SO_MEMINFO,
    SO_RCVBUFFORCE,
    SO_TIMESTAMPNS,
    SOL_PACKET,
    TCP_INFO_RTT_OFFSET,
    TCP_INFO_SIZE,
)
from netladder.proto.record import record

__all__ = [
    # Constants callers outside net/ still read here (net/linux.py is the table; new code
    # imports it from there).
    "IPV6_HOPLIMIT",
    "IPV6_RECVHOPLIMIT",
    "IP_RECVTTL",
    "SCM_TIMESTAMPNS",
    "SO_TIMESTAMPNS",
    # The boundary itself.
    "IcmpSocket",
    "Received",
    "SockError",
    "can_raw",
    "close_with_reset",
    "enable_recverr",
    "enable_recvttl",
    "error_queued",
    "family_of",
    "kernel_rtt_ns",
    "netns_entered",
    "open_hold",
    "open_icmp",
    "open_packet",
    "open_raw_tcp",
    "open_stream",
    "open_udp",
    "open_udp_probe",
    "packet_drops",
    "path_mtu",
    "receive",
    "receive_many",
    "route_source",
    "send_each",
    "set_dont_fragment",
    "set_rcvbuf",
    "set_ttl",
    "socket_in",
    "source_for",
]


Kind = Literal["dgram", "raw"]

_SOCK_EXTENDED_ERR = struct.Struct("=IBBBBII")  # errno, origin, type, code, pad, info, data


@record
class SockError:
    """An error from the error queue: an ICMP error about one of our datagrams, or a local one."""

    errno: int
    origin: int
    icmp_type: int
    icmp_code: int
    info: int  # e.g. the MTU for "fragmentation needed"
    offender: str | None  # the router that sent the ICMP error

    @property
    def is_icmp(self) -> bool:
        return self.origin in (SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6)


@record
class Received:
    data: bytes
    source: str
    port: int
    # When the kernel received it, on the monotonic clock (converted from SO_TIMESTAMPNS).
    monotonic_ns: int
    ttl: int | None = None
    error: SockError | None = None  # set for messages read from the error queue
    # An AF_PACKET frame's sll_pkttype (net/linux.py PACKET_HOST, _BROADCAST, _OTHERHOST, …):
    # to us, to everyone, or flooded to us by a bridge for another station.
    pkttype: int | None = None


def _realtime_to_monotonic(realtime_ns: int) -> int:
    # The kernel stamps with CLOCK_REALTIME; both clocks are read back to back for the offset.
    offset = time.clock_gettime_ns(time.CLOCK_REALTIME) - time.monotonic_ns()
    return realtime_ns - offset


def enable_timestamps(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)


def enable_recverr(sock: socket.socket, version: int) -> None:
    if version == 4:
        sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
    else:
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)


def error_queued(sock: socket.socket) -> bool:
    """Whether an error waits on the socket's error queue, asked without reading it: a queued
    ICMP error is charged to the socket's receive memory (sock_queue_err_skb), and a socket
    that never connected has nothing else there.  One getsockopt, far cheaper than a
    recvmsg(MSG_ERRQUEUE) that usually fails with EAGAIN."""
    try:
        return sock.getsockopt(socket.SOL_SOCKET, SO_MEMINFO, 4) != b"\0\0\0\0"
    except OSError:
        return True  # cannot tell: let the caller read the queue


def enable_recvttl(sock: socket.socket, version: int, on: bool = True) -> None:
    """Each datagram with its TTL / hop limit (off: one ancillary item less per datagram)."""
    if version == 4:
        sock.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, int(on))
    else:
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, int(on))


def set_ttl(sock: socket.socket, version: int, ttl: int) -> None:
    if version == 4:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
    else:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)


def _offender(raw: bytes) -> str | None:
    """SO_EE_OFFENDER: the sockaddr that follows sock_extended_err."""
    if len(raw) < 8:
        return None
    family = struct.unpack_from("=H", raw)[0]
    if family == socket.AF_INET and len(raw) >= 8:
        return socket.inet_ntop(socket.AF_INET, raw[4:8])
    if family == socket.AF_INET6 and len(raw) >= 24:
        return socket.inet_ntop(socket.AF_INET6, raw[8:24])
    return None


def receive(sock: socket.socket, bufsize: int = 65535, errqueue: bool = False) -> Received | None:
    """One message (from the error queue when asked); None when there is nothing to read."""
    flags = socket.MSG_DONTWAIT | (socket.MSG_ERRQUEUE if errqueue else 0)
    try:
        data, ancillary, _flags, address = sock.recvmsg(bufsize, 512, flags)
    except (BlockingIOError, InterruptedError):
        return None
    now = time.monotonic_ns()
    stamp = None
    ttl = None
    error = None
    for level, kind, raw in ancillary:
        if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS and len(raw) >= 16:
            seconds, nanoseconds = struct.unpack_from("=qq", raw)
            stamp = _realtime_to_monotonic(seconds * 1_000_000_000 + nanoseconds)
        elif level == socket.IPPROTO_IP and kind == socket.IP_TTL and len(raw) >= 4:
            ttl = struct.unpack_from("=i", raw)[0]
        elif level == socket.IPPROTO_IPV6 and kind == IPV6_HOPLIMIT and len(raw) >= 4:
            ttl = struct.unpack_from("=i", raw)[0]
        elif (level, kind) in (
            (socket.IPPROTO_IP, IP_RECVERR),
            (socket.IPPROTO_IPV6, IPV6_RECVERR),
        ):
            if len(raw) >= _SOCK_EXTENDED_ERR.size:
                err, origin, icmp_type, code, _pad, info, _data = _SOCK_EXTENDED_ERR.unpack_from(
                    raw
                )
                error = SockError(
                    err, origin, icmp_type, code, info, _offender(raw[_SOCK_EXTENDED_ERR.size :])
                )
    source = str(address[0]) if address else ""
    port = int(address[1]) if address and len(address) > 1 else 0
    # A stamp later than now would be a clock step between the two reads: trust now instead.
    monotonic_ns = stamp if stamp is not None and stamp <= now else now
    if sock.family == socket.AF_PACKET and address:  # (ifname, proto, pkttype, hatype, addr)
        return Received(data, source, port, monotonic_ns, ttl, error, int(address[2]))
    return Received(data, source, port, monotonic_ns, ttl, error)


@record
class IcmpSocket:
    """An ICMP(v6) socket ready for echo probes."""

    sock: socket.socket
    version: int
    kind: Kind

    @property
    def includes_ip_header(self) -> bool:
        """Raw IPv4 sockets hand us the IP header too; the others do not."""
        return self.kind == "raw" and self.version == 4

    @property
    def identifier(self) -> int | None:
        """On a datagram socket the kernel uses the bound "port" as the echo identifier."""
        if self.kind != "dgram":
            return None
        return int(self.sock.getsockname()[1])

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()


_PING_GROUP_REMEDY = N_(
    "allow unprivileged ICMP with sysctl -w net.ipv4.ping_group_range='0 2147483647', "
    "or run as root / grant CAP_NET_RAW (setcap cap_net_raw+ep)"
)


def open_icmp(
    version: int,
    prefer: Kind | None = None,
    *,
    ttl: int | None = None,
    device: str | None = None,
    source: str | None = None,
) -> IcmpSocket:
    """An ICMP socket: datagram when allowed, else raw; EnvError naming both remedies."""
    family = socket.AF_INET if version == 4 else socket.AF_INET6
    proto = socket.IPPROTO_ICMP if version == 4 else socket.IPPROTO_ICMPV6
    order: list[Kind] = [prefer] if prefer else ["dgram", "raw"]
    failures: list[OSError] = []
    sock = None
    kind: Kind = order[0]
    for kind in order:
        stype = socket.SOCK_DGRAM if kind == "dgram" else socket.SOCK_RAW
        try:
            sock = socket.socket(family, stype, proto)
            break
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EPERM):
                failures.append(exc)
                continue
            if exc.errno == errno.EAFNOSUPPORT:
                raise EnvError(
                    "IPv{version} is not available here",
                    "enable IPv6 in the kernel",
                    version=version,
                ) from None
            raise from_oserror(exc, "cannot open an ICMP socket") from None
    if sock is None:
        raise EnvError(
            "cannot open an ICMP socket: neither a datagram socket "
            "(ping_group_range) nor a raw socket (CAP_NET_RAW) is permitted",
            _PING_GROUP_REMEDY,
        )
    try:
        sock.setblocking(False)
        enable_timestamps(sock)
        enable_recvttl(sock, version)
        if kind == "dgram":
            enable_recverr(sock, version)
        elif version == 6:
            # Raw ICMPv6: only echo replies and errors — not every NDP packet on the link.
            sock.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, _icmp6_filter({1, 2, 3, 4, 129}))
        else:
            # Raw ICMPv4: a filter of types to *drop* (bit set = blocked).
            wanted = {0, 3, 4, 5, 11, 12}
            sock.setsockopt(
                socket.IPPROTO_IP,
                ICMP_FILTER,
                struct.pack("=I", ~sum(1 << t for t in wanted) & 0xFFFFFFFF),
            )
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        if ttl is not None:
            set_ttl(sock, version, ttl)
        if device is not None:
            _bind_device(sock, device)
        if source is not None or kind == "dgram":
            _bind_source(sock, version, source)
    except BaseException:
        sock.close()
        raise
    return IcmpSocket(sock, version, kind)


def _icmp6_filter(allowed: set[int]) -> bytes:
    # struct icmp6_filter: 256 bits, bit set = type blocked (RFC 3542 §3.2).
    words = [0xFFFFFFFF] * 8
    for t in allowed:
        words[t >> 5] &= ~(1 << (t & 31))
    return struct.pack("=8I", *words)


def _bind_device(sock: socket.socket, device: str) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device.encode() + b"\0")
    except OSError as exc:
        if exc.errno == errno.ENODEV:
            raise UsageError("unknown interface {device!r}", device=device) from None
        raise from_oserror(exc, "cannot bind to interface {device}", device=device) from None


def _bind_source(sock: socket.socket, version: int, source: str | None) -> None:
    address = source or ("0.0.0.0" if version == 4 else "::")
    try:
        sock.bind((address, 0))
    except OSError as exc:
        if exc.errno == errno.EADDRNOTAVAIL:
            raise UsageError("{source} is not an address of this machine", source=source) from None
        raise from_oserror(exc, "cannot bind to {address}", address=address) from None


def route_source(
    sockaddr: tuple[str, int] | tuple[str, int, int, int],
    *,
    device: str | None = None,
    broadcast: bool = False,
    netns: str | None = None,
) -> str:
    """The local address the kernel picks towards `sockaddr` (out of `device`, from inside
    `netns`, when given).

    Connecting a UDP socket sends nothing: it only looks up the route (iputils ping does the
    same before its first probe); the port matters only to policy routing (`ip rule … dport`).
    OSError when the lookup fails — EACCES for a broadcast address unless `broadcast`
    (SO_BROADCAST), ENETUNREACH without a route."""
    family = family_of(sockaddr[0])
    with socket_in(netns, family, socket.SOCK_DGRAM) as probe:
        if device is not None:
            _bind_device(probe, device)
        if broadcast:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        probe.connect((sockaddr[0], sockaddr[1] or 1025, *sockaddr[2:]))
        return str(probe.getsockname()[0]).split("%", 1)[0]


def open_udp_probe(version: int) -> socket.socket:
    """An unprivileged UDP socket whose ICMP errors arrive on the error queue (traceroute -U)."""
    family = socket.AF_INET if version == 4 else socket.AF_INET6
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setblocking(False)
    enable_timestamps(sock)
    enable_recverr(sock, version)
    enable_recvttl(sock, version)
    return sock


def ping_group_allows() -> bool:
    """Whether this process's groups fall inside net.ipv4.ping_group_range."""
    try:
        low, high = map(int, open("/proc/sys/net/ipv4/ping_group_range").read().split())
    except (OSError, ValueError):
        return False
    return any(low <= g <= high for g in {os.getegid(), *os.getgroups()})


# -- the channels of the probe driver (net/driver.py) -----------------------------------------

_LINGER_RST = struct.pack("ii", 1, 0)


def family_of(address: str) -> int:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def set_dont_fragment(sock: socket.socket, version: int, on: bool = True) -> None:
    """DF on every datagram (iputils `-M do`): an oversized probe fails instead of fragmenting."""
    if version == 4:
        sock.setsockopt(
            socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO if on else IP_PMTUDISC_DONT
        )
    else:
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_DONTFRAG, 1 if on else 0)


def path_mtu(address: str) -> int:
    """The MTU the kernel sends with towards `address` (tracepath's IP_MTU): the route's or the
    interface's, or a smaller one it learnt from "fragmentation needed" / "packet too big"
    (RFC 1191, RFC 8201).  It connects a UDP socket, which sends nothing."""
    family = family_of(address)
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect((address, 9))
            if family == socket.AF_INET:
                return sock.getsockopt(socket.IPPROTO_IP, IP_MTU)
            return sock.getsockopt(socket.IPPROTO_IPV6, IPV6_MTU)
    except OSError as exc:
        raise from_oserror(
            exc, "cannot find the path MTU towards {address}", address=address
        ) from None


def open_udp(
    version: int,
    *,
    connect: tuple[str, int] | None = None,
    source: str | None = None,
    device: str | None = None,
    ttl: int | None = None,
) -> socket.socket:
    """A UDP socket for probes: non-blocking, kernel timestamps, reply TTLs, the error queue."""
    sock = open_udp_probe(version)
    try:
        if ttl is not None:
            set_ttl(sock, version, ttl)
        if device is not None:
            _bind_device(sock, device)
        if source is not None:
            _bind_source(sock, version, source)
        if connect is not None:
            sock.connect(connect)
    except BaseException:
        sock.close()
        raise
    return sock


def open_raw_tcp(version: int) -> socket.socket:
    """A raw IPPROTO_TCP socket: hand-made SYNs out, every TCP segment to this host in."""
    family = socket.AF_INET if version == 4 else socket.AF_INET6
    try:
        sock = socket.socket(family, socket.SOCK_RAW, socket.IPPROTO_TCP)
    except OSError as exc:
        raise from_oserror(exc, "cannot open a raw TCP socket") from None
    sock.setblocking(False)
    enable_timestamps(sock)
    enable_recvttl(sock, version)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
    return sock


def open_packet(device: str, ethertype: int = ETH_P_ARP) -> socket.socket:
    """An AF_PACKET socket bound to `device` for one ethertype (ARP requests and replies).

    Protocol 0 at creation, the real one at bind: a packet socket created with a protocol is
    hooked on every interface at once, and binding re-hooks it, which waits for an RCU grace
    period (synchronize_net, 10-20 ms) during which the event loop and every probe on it stand
    still.  Created with 0 it sees nothing until bind gives it the device and the protocol."""
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    except OSError as exc:
        raise from_oserror(exc, "cannot open a packet socket") from None
    try:
        sock.setblocking(False)
        enable_timestamps(sock)
        sock.bind((device, ethertype))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.ENODEV:
            raise UsageError("unknown interface {device!r}", device=device) from None
        raise from_oserror(exc, "cannot bind to interface {device}", device=device) from None
    return sock


def open_stream(
    address: str, port: int, *, ttl: int | None = None, source: str | None = None
) -> tuple[socket.socket, int]:
    """A non-blocking TCP socket with its connect started: (socket, connect_ex's errno).
    The error queue is on, so an ICMP error behind a failed connect names its sender."""
    family = family_of(address)
    version = 4 if family == socket.AF_INET else 6
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        enable_recverr(sock, version)
        if ttl is not None:
            set_ttl(sock, version, ttl)
        if source is not None:
            _bind_source(sock, version, source)
        err = sock.connect_ex((address, port))
    except BaseException:
        sock.close()
        raise
    return sock, err


def kernel_rtt_ns(sock: socket.socket) -> int | None:
    """The kernel's handshake RTT (tcpi_rtt, µs) of a connected socket, in ns."""
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, TCP_INFO_SIZE)
    except OSError:
        return None
    if len(info) < TCP_INFO_RTT_OFFSET + 4:
        return None
    rtt_us: int = struct.unpack_from("=I", info, TCP_INFO_RTT_OFFSET)[0]
    return rtt_us * 1000 if rtt_us else None


def close_with_reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer gets an RST and no TIME_WAIT stays behind."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
    except OSError:
        pass
    sock.close()


# -- batches, routes, privileges and namespaces (issue 14: one socket boundary) ----------------


def receive_many(
    sock: socket.socket, limit: int = 4096, bufsize: int = 65535
) -> list[tuple[bytes, int, str]]:
    """Every datagram waiting on `sock`, up to `limit`: (data, kernel receive stamp on the
    monotonic clock, source address) — no `Received` per datagram, one clock offset per batch.
    A raw socket's pending ICMP error (sk_err, reported once by a read) is skipped."""
    out: list[tuple[bytes, int, str]] = []
    append = out.append
    recvmsg = sock.recvmsg
    flags = socket.MSG_DONTWAIT
    space = socket.CMSG_SPACE(16) * 2 + socket.CMSG_SPACE(4)
    offset = time.clock_gettime_ns(time.CLOCK_REALTIME) - time.monotonic_ns()
    stamp_level, stamp_kind = socket.SOL_SOCKET, SCM_TIMESTAMPNS
    unpack = struct.unpack_from
    for _ in range(limit):
        try:
            data, ancillary, _flags, address = recvmsg(bufsize, space, flags)
        except (BlockingIOError, InterruptedError):
            break
        except OSError:
            continue
        stamp = 0
        for level, kind, raw in ancillary:
            if level == stamp_level and kind == stamp_kind and len(raw) >= 16:
                seconds, nanoseconds = unpack("=qq", raw)
                stamp = seconds * 1_000_000_000 + nanoseconds - offset
        now = time.monotonic_ns()
        # No stamp, or one later than now (a clock step between the two reads): trust now.
        append((data, stamp if 0 < stamp <= now else now, str(address[0]) if address else ""))
    return out


def send_each(
    sock: socket.socket,
    build: Callable[[int, int, bool], tuple[Any, tuple[Any, ...]]],
    sent: Callable[[int, int, int | None], None],
    start: int,
    stop: int,
    ip_header: bool = False,
) -> None:
    """Datagrams k in [start, stop): `build(k, now, ip_header)` with the clock read right
    before each send (one reading per datagram: it may carry its own send time), then
    `sent(k, now, errno | None)`.  A failed send is tried once more — a raw socket fails one
    send with the last ICMP error it received (sk_err), and a full queue (ENOBUFS, EAGAIN) may
    have room a moment later — and only the second failure is the datagram's.  Local names on
    purpose: a sweep sends a /16 through this loop."""
    sendto = sock.sendto
    clock = time.monotonic_ns
    for k in range(start, stop):
        at = clock()
        data, address = build(k, at, ip_header)
        try:
            sendto(data, address)
        except OSError:
            try:
                sendto(data, address)
            except OSError as again:
                sent(k, at, again.errno or errno.EIO)
                continue
        sent(k, at, None)


_TPACKET_STATS = struct.Struct("=II")  # struct tpacket_stats: tp_packets, tp_drops


def packet_drops(sock: socket.socket) -> int:
    """Frames the kernel dropped on a packet socket since the last call, its receive buffer
    full (PACKET_STATISTICS: reading the counters resets them)."""
    try:
        raw = sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, _TPACKET_STATS.size)
    except OSError:
        return 0
    return int(_TPACKET_STATS.unpack_from(raw)[1]) if len(raw) >= _TPACKET_STATS.size else 0


def set_rcvbuf(sock: socket.socket, size: int, force: bool = False) -> None:
    """SO_RCVBUF; with `force`, SO_RCVBUFFORCE first: beyond net.core.rmem_max when this
    process has CAP_NET_ADMIN, else the capped SO_RCVBUF."""
    if force:
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
            return
        except OSError:
            pass
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)


def source_for(
    destination: str,
    *,
    port: int = 9,
    netns: str | None = None,
    device: str | None = None,
) -> str | None:
    """The local address the kernel picks towards `destination` (see `route_source`); None
    when it has no route."""
    try:
        return route_source((destination, port), device=device, netns=netns)
    except OSError:
        return None


def can_raw(family: int = socket.AF_INET) -> bool:
    """Whether this process may open raw sockets (root or CAP_NET_RAW)."""
    try:
        socket.socket(family, socket.SOCK_RAW, socket.IPPROTO_TCP).close()
    except OSError:
        return False
    return True


def open_hold(version: int, source: str | None = None, netns: str | None = None) -> socket.socket:
    """A TCP socket bound to `source` (any address when None) and a free port, never used: the
    kernel gives that port to no other socket while a prober forges segments from it."""
    family = socket.AF_INET if version == 4 else socket.AF_INET6
    sock = socket_in(netns, family, socket.SOCK_STREAM)
    try:
        _bind_source(sock, version, source)
    except BaseException:
        sock.close()
        raise
    return sock


CLONE_NEWNET = 0x40000000  # include/uapi/linux/sched.h
_libc: Any = None


def socket_in(netns: str | None, family: int, kind: int, proto: int = 0) -> socket.socket:
    """A socket created inside the network namespace `netns` (a path such as /run/netns/NAME;
    None: this one)."""
    if netns is None:
        return socket.socket(family, kind, proto)
    with netns_entered(netns):
        return socket.socket(family, kind, proto)


@contextlib.contextmanager
def netns_entered(netns: str) -> Iterator[None]:
    """This thread inside the network namespace `netns` (a path) for the block, then back.

    A socket belongs to the namespace it was created in, whichever thread later uses it, so
    every socket made inside the block lives there (and so do the names SO_BINDTODEVICE and
    bind() look up for it); setns with CLONE_NEWNET affects only the calling thread."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:
            target = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise UsageError(f"{netns}: {exc.strerror}") from None
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(home)
    finally:
        os.close(home)


def _setns(fd: int) -> None:
    global _libc
    if _libc is None:
        import ctypes
        import ctypes.util

        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        import ctypes

        err = ctypes.get_errno()
        if err in (errno.EPERM, errno.EACCES):
            raise EnvError(
                "cannot enter another network namespace",
                "run as root (CAP_SYS_ADMIN) to use a namespace",
            )
        raise OSError(err, os.strerror(err))
