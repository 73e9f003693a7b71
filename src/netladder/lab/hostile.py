"""A hostile echo responder: a lab service that answers ICMP echo requests from a raw socket
with the genuine reply *and* the replies a robust pinger must see through.

Run it on a host whose kernel does not answer echo itself (`net.ipv4.icmp_echo_ignore_all=1`
in the node's sysctls).  For every echo request it sends, in this order (`modes` option):

- ``genuine``: the correct reply;
- ``duplicate``: the same reply again (ping counts it as a DUP);
- ``foreign_id``: another identifier (another process's ping);
- ``foreign_cookie``: our identifier and sequence but other data (another run's probe);
- ``other_source``: the correct reply from another source address (spoofed);
- ``corrupted``: the correct reply with a wrong ICMP checksum;
- ``truncated``: the reply cut after 4 data bytes (valid checksum over what is left).

Only the duplicates and the corrupted replies may change a correct pinger's counters.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Mapping
from typing import Any

from netladder.proto.inet import checksum

__all__ = ["MODES", "hostile_echo_service", "hostile_replies"]

MODES = (
    "genuine",
    "duplicate",
    "foreign_id",
    "foreign_cookie",
    "other_source",
    "corrupted",
    "truncated",
)
SPOOFED_SOURCE = "198.51.100.250"  # never a lab address: the reply cannot be the target's

_KEEP: list[Any] = []


def _echo_reply(identifier: int, sequence: int, data: bytes, bad_checksum: bool = False) -> bytes:
    header = struct.pack("!BBHHH", 0, 0, 0, identifier, sequence)
    csum = checksum(header + data)
    if bad_checksum:
        csum ^= 0x5A5A
    return header[:2] + struct.pack("!H", csum) + header[4:] + data


def _ipv4(src: str, dst: str, payload: bytes, ttl: int = 64) -> bytes:
    # IP_HDRINCL: the kernel fills in the header checksum and the total length.
    return (
        struct.pack(
            "!BBHHHBBH4s4s",
            0x45,
            0,
            20 + len(payload),
            0,
            0,
            ttl,
            1,
            0,
            socket.inet_aton(src),
            socket.inet_aton(dst),
        )
        + payload
    )


def hostile_replies(request: bytes, modes: tuple[str, ...] = MODES) -> list[tuple[str, bytes]]:
    """(source override or "", ICMP message) for one echo request (ICMP bytes, no IP header);
    a pure function, so the hostility itself is testable."""
    if len(request) < 8 or request[0] != 8:
        return []
    identifier, sequence = struct.unpack_from("!HH", request, 4)
    data = request[8:]
    genuine = _echo_reply(identifier, sequence, data)
    out: list[tuple[str, bytes]] = []
    for mode in modes:
        if mode in ("genuine", "duplicate"):
            out.append(("", genuine))
        elif mode == "foreign_id":
            out.append(("", _echo_reply(identifier ^ 0x8000, sequence, data)))
        elif mode == "foreign_cookie":
            other = bytes(b ^ 0xFF for b in data[:8]) + data[8:]
            out.append(("", _echo_reply(identifier, sequence, other)))
        elif mode == "other_source":
            out.append((SPOOFED_SOURCE, genuine))
        elif mode == "corrupted":
            out.append(("", _echo_reply(identifier, sequence, data, bad_checksum=True)))
        elif mode == "truncated":
            out.append(("", _echo_reply(identifier, sequence, data[:4])))
    return out


async def hostile_echo_service(port: int, options: Mapping[str, Any]) -> None:
    """`port` is unused (ICMP has none); options: {"modes": [...]} (default: all of MODES)."""
    modes = tuple(options.get("modes", MODES))
    listen = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    listen.setblocking(False)
    send = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    send.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    loop = asyncio.get_running_loop()

    def readable() -> None:
        while True:
            try:
                packet, _addr = listen.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            if len(packet) < 20:
                continue
            ihl = (packet[0] & 0x0F) * 4
            requester = socket.inet_ntoa(packet[12:16])
            me = socket.inet_ntoa(packet[16:20])
            for source, message in hostile_replies(packet[ihl:], modes):
                try:
                    send.sendto(_ipv4(source or me, requester, message), (requester, 0))
                except OSError:
                    pass

    loop.add_reader(listen.fileno(), readable)
    _KEEP.extend((listen, send))
