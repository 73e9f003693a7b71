"""Services that lab hosts run: each kind is a coroutine that starts listening and returns.

KINDS maps a service kind (as named in a topology's Service) to "module:function"; the agent
imports only the kinds a node runs.  A service function takes (port, options) and must have its
sockets bound when it returns — the agent reports "ready" right after.  Every listener is
dual-stack (IPv4 and IPv6 on one socket).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import re
import socket
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

__all__ = ["KINDS", "http_service", "read_request", "tcp_banner_service", "udp_echo_service"]

KINDS: dict[str, str] = {
    "tcp": "netladder.lab.services:tcp_banner_service",
    "http": "netladder.lab.services:http_service",
    "udp-echo": "netladder.lab.services:udp_echo_service",
    "dns": "netladder.lab.dnsserver:dns_service",
    "stun": "netladder.lab.echo:stun_service",
    "http-echo": "netladder.lab.echo:http_echo_service",
    "https": "netladder.lab.svc_http:https_service",
    "http-hostile": "netladder.lab.svc_http:hostile_http_service",
    "tls": "netladder.lab.tls_service:tls_service",
    "hostile-echo": "netladder.lab.hostile:hostile_echo_service",
    "tcp-hostile": "netladder.lab.svc_tcp:hostile_tcp_service",
}

_SERVERS: list[Any] = []  # keep servers and transports alive for the agent's lifetime


def dual_stack_socket(kind: int, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.bind(("::", port))
    if kind == socket.SOCK_STREAM:
        sock.listen(1024)
    sock.setblocking(False)
    return sock


async def tcp_banner_service(port: int, options: Mapping[str, Any]) -> None:
    """Says its banner on connect (like SSH/SMTP), answers each line with its echo, idles out."""
    banner = str(options.get("banner", "")).encode()
    idle = float(options.get("idle_s", 10.0))

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.TimeoutError):
            if banner:
                writer.write(banner + b"\r\n")
                await writer.drain()
            while True:
                line = await asyncio.wait_for(reader.readline(), idle)
                if not line:
                    break
                writer.write(line)
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, sock=dual_stack_socket(socket.SOCK_STREAM, port))
    _SERVERS.append(server)


class _Echo(asyncio.DatagramProtocol):
    transport: asyncio.DatagramTransport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram transport

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.transport.sendto(data, addr)


async def udp_echo_service(port: int, options: Mapping[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        _Echo, sock=dual_stack_socket(socket.SOCK_DGRAM, port)
    )
    _SERVERS.append(transport)


# -- HTTP ----------------------------------------------------------------------------------------

_STATUS_PATH = re.compile(r"^/status/(\d{3})$")
_DELAY_PATH = re.compile(r"^/delay/(\d+)$")
MAX_HEAD = 64 * 1024


def _response_spec(path: str, routes: Mapping[str, Any]) -> dict[str, Any]:
    """What to answer for a path: a scripted route, /status/CODE, /delay/MS, or 200/404."""
    if path in routes:
        return dict(routes[path])
    if m := _STATUS_PATH.match(path):
        return {"status": int(m.group(1))}
    if m := _DELAY_PATH.match(path):
        return {"status": 200, "delay_ms": int(m.group(1))}
    if path == "/":
        return {"status": 200, "body": "netladder lab\n"}
    return {"status": 404, "body": "not found\n"}


def render_response(spec: Mapping[str, Any], method: str) -> bytes:
    """A scripted response.  Headers are sent exactly as scripted; `date: false` omits Date,
    so tests can provoke every lint rule."""
    status = int(spec.get("status", 200))
    try:
        reason = spec.get("reason") or HTTPStatus(status).phrase
    except ValueError:
        reason = spec.get("reason", "Unknown")
    body = str(spec.get("body", "")).encode()
    headers: list[tuple[str, str]] = []
    if spec.get("date", True):
        headers.append(("Date", email.utils.formatdate(usegmt=True)))
    headers.append(("Server", "netladder-lab"))
    scripted = dict(spec.get("headers", {}))
    if body and "Content-Type" not in scripted:
        headers.append(("Content-Type", "text/plain; charset=utf-8"))
    if spec.get("content_length", True) and "Content-Length" not in scripted:
        headers.append(("Content-Length", str(len(body))))
    headers.extend((k, str(v)) for k, v in scripted.items())
    head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    send_body = body and (method != "HEAD" or spec.get("body_on_head", False))
    return head.encode("latin-1") + b"\r\n" + (body if send_body else b"")


async def read_request(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str]] | None:
    """One HTTP/1.1 request head (its body, if any, read and dropped): method, target and
    headers with lower-case names; None when the request line is not three words."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    request_line, *lines = head.decode("latin-1").split("\r\n")
    parts = request_line.split(" ")
    if len(parts) != 3:
        return None
    headers = {}
    for line in lines:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    length = int(headers.get("content-length", "0") or 0)
    if length:
        await reader.readexactly(min(length, 1 << 20))
    return parts[0], parts[1], headers


async def http_service(port: int, options: Mapping[str, Any]) -> None:
    """HTTP/1.1 with scripted status, headers, body and delay per path (keep-alive)."""
    routes: Mapping[str, Any] = options.get("routes", {})

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(
            OSError,
            asyncio.TimeoutError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ValueError,
        ):
            while True:
                request = await read_request(reader)
                if request is None:
                    break
                method, target, headers = request
                spec = _response_spec(target.split("?", 1)[0], routes)
                if method == "HEAD" and isinstance(spec.get("head"), Mapping):
                    spec = {**spec, **spec["head"]}  # a route may answer HEAD differently
                if spec.get("delay_ms"):
                    await asyncio.sleep(float(spec["delay_ms"]) / 1000)
                writer.write(render_response(spec, method))
                await writer.drain()
                if headers.get("connection", "").lower() == "close" or spec.get("close"):
                    break
        writer.close()

    server = await asyncio.start_server(
        handle, sock=dual_stack_socket(socket.SOCK_STREAM, port), limit=MAX_HEAD
    )
    _SERVERS.append(server)
