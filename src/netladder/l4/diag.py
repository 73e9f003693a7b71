"""Local TCP and UDP sockets from the kernel's socket diagnostics (NETLINK_SOCK_DIAG, as `ss`
reads them) and the processes that own them (socket inodes under /proc/*/fd).

One listening port holds many connections, each its own socket with its own peer, state and
queues; this module lists them.  A UDP service "listens" with an unconnected bound socket (ss:
UNCONN); a connected UDP socket is ESTABLISHED.  UDP needs the kernel's udp_diag: without it
only TCP is looked at, and the result says so.  Wire formats: linux/netlink.h (nlmsghdr),
linux/sock_diag.h, linux/inet_diag.h (inet_diag_req_v2, inet_diag_msg); states:
include/net/tcp_states.h (UDP sockets use the same numbers).
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct
from collections import Counter
from dataclasses import dataclass

from netladder.errors import EnvError, NetladderError

__all__ = [
    "TCP_STATES",
    "ProcessRef",
    "SocketEntry",
    "SocketsResult",
    "build_inet_diag_request",
    "list_sockets",
    "parse_inet_diag",
    "read_sockets",
]

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x01
NLM_F_DUMP = 0x300  # NLM_F_ROOT | NLM_F_MATCH

# include/net/tcp_states.h
TCP_STATES: dict[int, str] = {
    1: "ESTABLISHED",
    2: "SYN-SENT",
    3: "SYN-RECV",
    4: "FIN-WAIT-1",
    5: "FIN-WAIT-2",
    6: "TIME-WAIT",
    7: "CLOSE",
    8: "CLOSE-WAIT",
    9: "LAST-ACK",
    10: "LISTEN",
    11: "CLOSING",
    12: "NEW-SYN-RECV",
}
LISTEN = 10
# A UDP socket is ESTABLISHED when connected, CLOSE when only bound: ss says UNCONN.
UDP_STATES: dict[int, str] = {1: "ESTABLISHED", 7: "UNCONN"}
LISTENING = frozenset({"LISTEN", "UNCONN"})
ALL_STATES = 0xFFFFFFFF

_NLMSGHDR = struct.Struct("=IHHII")
_REQ = struct.Struct("=BBBBI")  # inet_diag_req_v2 head; then inet_diag_sockid
_SOCKID = struct.Struct("!HH16s16s")  # ports big-endian; then if u32, cookie 2x u32 (host)
_MSG_TAIL = struct.Struct("=IIIII")  # expires, rqueue, wqueue, uid, inode


@dataclass(frozen=True, slots=True)
class ProcessRef:
    pid: int
    name: str


@dataclass(frozen=True, slots=True)
class SocketEntry:
    proto: str
    state: str
    local: str
    local_port: int
    peer: str
    peer_port: int
    recv_q: int  # LISTEN: connections waiting for accept(); else unread bytes
    send_q: int  # LISTEN: the accept backlog; else unacknowledged bytes
    uid: int
    inode: int
    processes: tuple[ProcessRef, ...] = ()


@dataclass(frozen=True, slots=True)
class SocketsResult:
    port: int | None
    listeners: tuple[SocketEntry, ...]  # TCP LISTEN, UDP UNCONN (bound, not connected)
    connections: tuple[SocketEntry, ...]
    counts: dict[str, int]  # connections per state
    protocols: tuple[str, ...] = ("tcp", "udp")  # what was looked at
    not_looked_at: str | None = None  # why a protocol was not (e.g. no udp_diag)


def build_inet_diag_request(
    family: int, protocol: int = socket.IPPROTO_TCP, states: int = ALL_STATES, seq: int = 1
) -> bytes:
    """A SOCK_DIAG_BY_FAMILY dump request (inet_diag_req_v2 with an empty socket id)."""
    body = _REQ.pack(family, protocol, 0, 0, states) + bytes(_SOCKID.size + 4 + 8)
    header = _NLMSGHDR.pack(
        _NLMSGHDR.size + len(body), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, seq, 0
    )
    return header + body


def _address(family: int, raw: bytes) -> str:
    if family == socket.AF_INET:
        return socket.inet_ntop(socket.AF_INET, raw[:4])
    addr = ipaddress.IPv6Address(raw)
    # A dual-stack socket talking to an IPv4 peer: show the IPv4 address, as users know it.
    return str(addr.ipv4_mapped) if addr.ipv4_mapped else str(addr)


def parse_inet_diag(data: bytes, proto: str = "tcp") -> tuple[list[SocketEntry], bool]:
    """Entries in one netlink datagram, and whether the dump is done.  NetladderError on an
    error message."""
    states = TCP_STATES if proto == "tcp" else UDP_STATES
    entries: list[SocketEntry] = []
    offset = 0
    done = False
    while offset + _NLMSGHDR.size <= len(data):
        length, kind, _flags, _seq, _pid = _NLMSGHDR.unpack_from(data, offset)
        if length < _NLMSGHDR.size:
            break
        body = data[offset + _NLMSGHDR.size : offset + length]
        offset += (length + 3) & ~3
        if kind == NLMSG_DONE:
            done = True
            break
        if kind == NLMSG_ERROR:
            code = -struct.unpack_from("=i", body)[0] if len(body) >= 4 else 0
            if code:
                raise NetladderError("sock_diag: {reason}", reason=os.strerror(code))
            continue
        if kind != SOCK_DIAG_BY_FAMILY or len(body) < 4 + _SOCKID.size + 12 + _MSG_TAIL.size:
            continue
        family, state, _timer, _retrans = body[0], body[1], body[2], body[3]
        sport, dport, src, dst = _SOCKID.unpack_from(body, 4)
        _exp, rqueue, wqueue, uid, inode = _MSG_TAIL.unpack_from(body, 4 + _SOCKID.size + 12)
        entries.append(
            SocketEntry(
                proto,
                states.get(state, str(state)),
                _address(family, src),
                sport,
                _address(family, dst),
                dport,
                rqueue,
                wqueue,
                uid,
                inode,
            )
        )
    return entries, done


def _dump(family: int, proto: str = "tcp") -> list[SocketEntry]:
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG)
    except OSError as exc:
        raise EnvError(
            "cannot open a sock_diag netlink socket: {reason}",
            "the kernel needs CONFIG_INET_DIAG (module inet_diag)",
            reason=exc.strerror,
        ) from None
    entries: list[SocketEntry] = []
    with sock:
        sock.settimeout(5)
        protocol = socket.IPPROTO_TCP if proto == "tcp" else socket.IPPROTO_UDP
        sock.send(build_inet_diag_request(family, protocol))
        while True:
            try:
                data = sock.recv(1 << 16)
            except TimeoutError:
                raise NetladderError("sock_diag: the kernel did not finish the dump") from None
            except OSError as exc:
                if exc.errno == errno.EINTR:
                    continue
                raise NetladderError("sock_diag: {reason}", reason=exc.strerror) from None
            batch, done = parse_inet_diag(data, proto)
            entries.extend(batch)
            if done or not data:
                return entries


def socket_owners() -> dict[int, list[ProcessRef]]:
    """Socket inode -> processes holding it (only processes we may inspect)."""
    owners: dict[int, list[ProcessRef]] = {}
    try:
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return owners
    for pid in pids:
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        name = None
        for fd in fds:
            try:
                link = os.readlink(f"{fd_dir}/{fd}")
            except OSError:
                continue
            if not link.startswith("socket:["):
                continue
            if name is None:
                try:
                    with open(f"/proc/{pid}/comm") as f:
                        name = f.read().strip()
                except OSError:
                    name = "?"
            refs = owners.setdefault(int(link[8:-1]), [])
            if not any(r.pid == pid for r in refs):
                refs.append(ProcessRef(pid, name))
    return owners


def read_sockets(port: int | None = None) -> SocketsResult:
    """Listeners on `port` (every listener when None) and the connections to or from it, TCP
    and UDP."""
    entries = _dump(socket.AF_INET) + _dump(socket.AF_INET6)
    protocols: tuple[str, ...] = ("tcp", "udp")
    missing = None
    try:
        entries += _dump(socket.AF_INET, "udp") + _dump(socket.AF_INET6, "udp")
    except NetladderError as exc:  # no udp_diag in this kernel (ENOENT): TCP only, said so
        protocols, missing = ("tcp",), f"UDP not looked at ({exc})"
    # A UDP socket not yet bound (port 0) listens for nothing.
    entries = [e for e in entries if e.proto == "tcp" or e.local_port]
    if port is not None:
        entries = [
            e
            for e in entries
            if e.local_port == port or (e.peer_port == port and e.state not in LISTENING)
        ]
    owners = socket_owners()
    with_owner = [
        SocketEntry(
            e.proto,
            e.state,
            e.local,
            e.local_port,
            e.peer,
            e.peer_port,
            e.recv_q,
            e.send_q,
            e.uid,
            e.inode,
            tuple(owners.get(e.inode, ())),
        )
        if e.inode
        else e
        for e in entries
    ]
    listeners = tuple(
        sorted(
            (e for e in with_owner if e.state in LISTENING),
            key=lambda e: (e.local_port, e.proto, e.local),
        )
    )
    connections = tuple(
        sorted(
            (e for e in with_owner if e.state not in LISTENING),
            key=lambda e: (e.local_port, e.proto, e.state, e.peer, e.peer_port),
        )
    )
    counts = dict(Counter(e.state for e in connections).most_common())
    return SocketsResult(port, listeners, connections, counts, protocols, missing)


async def list_sockets(port: int | None = None) -> SocketsResult:
    """The async face of read_sockets() for in-process callers (`diagnose`)."""
    import asyncio

    return await asyncio.to_thread(read_sockets, port)
