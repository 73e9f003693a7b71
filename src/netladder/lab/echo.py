"""Lab services that tell a client its own address: a STUN responder and an HTTP echo.

Both see the client's address after any NAT in front of it, which is the point: `netladder
myip` behind the lab's masquerading router must get the router's outside address back.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import socket
from collections.abc import Mapping
from typing import Any

from netladder.lab.services import _SERVERS, dual_stack_socket, render_response
from netladder.proto import stun

__all__ = ["http_echo_service", "stun_service"]

STUN_MODES = (
    "normal",
    "classic",
    "garbage",
    "silent",
    "wrong-txid",
    "error",
    # hostile answers with our transaction id (issue 17 item 4):
    "short-attribute",  # an XOR-MAPPED-ADDRESS of 3 bytes
    "overrun",  # an attribute whose length runs past the end of the message
    "wrong-family",  # family IPv6 (2) in front of a 4-byte address
    "bad-family",  # family 3: neither IPv4 nor IPv6
    "other-family",  # a well-formed IPv6 address in answer to an IPv4 request
    "bad-fingerprint",  # a FINGERPRINT that does not match
    "echo",
)  # the request itself sent back


def _unmap(host: str) -> str:
    """A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; say a.b.c.d."""
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


class _Stun(asyncio.DatagramProtocol):
    transport: asyncio.DatagramTransport

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram transport

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        try:
            request = stun.parse_message(data)
        except stun.StunError:
            return  # not STUN: a real server stays silent too (RFC 8489 §6.3)
        if request.type != stun.BINDING_REQUEST or self.mode == "silent":
            return
        host, port = _unmap(addr[0]), int(addr[1])
        txid = request.transaction_id
        if self.mode == "garbage":
            cookie = stun.MAGIC_COOKIE.to_bytes(4, "big")
            reply = b"\x01\x01\x00\x08" + cookie + txid + os.urandom(5)
        elif self.mode == "wrong-txid":
            reply = stun.build_binding_response(os.urandom(12), host, port)
        elif self.mode == "error":
            value = b"\x00\x00\x05\x00" + b"Server Error"  # 500, RFC 8489 §14.8
            reply = stun.build_message(
                stun.BINDING_ERROR, txid, (stun.Attribute(stun.ERROR_CODE, value),)
            )
        elif self.mode in ("short-attribute", "wrong-family", "bad-family"):
            value = {
                "short-attribute": b"\x00\x01\x21",
                "wrong-family": b"\x00\x02\x21\x12" + bytes(4),
                "bad-family": b"\x00\x03\x21\x12" + bytes(4),
            }[self.mode]
            reply = stun.build_message(
                stun.BINDING_SUCCESS, txid, (stun.Attribute(stun.XOR_MAPPED_ADDRESS, value),)
            )
        elif self.mode == "overrun":
            good = stun.build_binding_response(txid, host, port, fingerprint=False)
            reply = good[:22] + b"\x01\x00" + good[24:]  # the first attribute claims 256 bytes
        elif self.mode == "other-family":
            other = "2001:db8:ffff::1" if ":" not in host else "203.0.113.254"
            reply = stun.build_binding_response(txid, other, port)
        elif self.mode == "bad-fingerprint":
            signed = stun.build_binding_response(txid, host, port)
            reply = signed[:-1] + bytes([signed[-1] ^ 0xFF])
        elif self.mode == "echo":
            reply = data
        else:
            reply = stun.build_binding_response(
                txid,
                host,
                port,
                xor=self.mode != "classic",
                classic=self.mode == "classic",
                software="netladder-lab",
            )
        self.transport.sendto(reply, addr)


async def stun_service(port: int, options: Mapping[str, Any]) -> None:
    """A STUN Binding responder over UDP.  options: mode = normal (XOR-MAPPED-ADDRESS),
    classic (only MAPPED-ADDRESS, like an RFC 3489 server), garbage (a broken message),
    silent, wrong-txid, error (a 500 error response), or one of the hostile answers listed
    in STUN_MODES."""
    mode = str(options.get("mode", "normal"))
    if mode not in STUN_MODES:
        raise ValueError(f"stun mode {mode!r}: one of {', '.join(STUN_MODES)}")
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _Stun(mode), sock=dual_stack_socket(socket.SOCK_DGRAM, port)
    )
    _SERVERS.append(transport)


def _echo_spec(path: str, peer: str) -> dict[str, Any]:
    """What the echo answers for a path: the peer's address as text or JSON, or a misbehaviour
    for tests (`/garbage`, `/slow`, `/status/CODE`)."""
    if path in ("/", "/ip"):
        return {"status": 200, "body": peer + "\n"}
    if path == "/json":
        return {
            "status": 200,
            "body": json.dumps({"ip": peer}),
            "headers": {"Content-Type": "application/json"},
        }
    if path == "/garbage":
        return {"status": 200, "body": "<html><body>hello, world</body></html>\n"}
    if path == "/slow":
        return {"status": 200, "body": peer + "\n", "delay_ms": 30_000}
    if path.startswith("/status/") and path[8:].isdigit():
        return {"status": int(path[8:]), "body": "no address for you\n"}
    return {"status": 404, "body": "not found\n"}


async def http_echo_service(port: int, options: Mapping[str, Any]) -> None:
    """HTTP/1.1 that answers GET / and /ip with the client's address as plain text, /json with
    {"ip": ...}; /garbage, /slow (30 s) and /status/CODE misbehave on purpose."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = _unmap(str(writer.get_extra_info("peername")[0]))
        with contextlib.suppress(
            OSError,
            asyncio.TimeoutError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ValueError,
        ):
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            request_line = head.decode("latin-1").split("\r\n", 1)[0]
            method, target, _version = request_line.split(" ", 2)
            spec = _echo_spec(target.split("?", 1)[0], peer)
            if spec.get("delay_ms"):
                await asyncio.sleep(float(spec["delay_ms"]) / 1000)
            spec.setdefault("headers", {})["Connection"] = "close"
            writer.write(render_response(spec, method))
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(
        handle, sock=dual_stack_socket(socket.SOCK_STREAM, port), limit=64 * 1024
    )
    _SERVERS.append(server)
