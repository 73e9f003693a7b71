"""Lab HTTP services beyond the plain scripted one: HTTPS (HTTP/1.1 and HTTP/2 by ALPN) and a
hostile server that misbehaves on purpose.

`https` options: `cert` and `key` (PEM file paths), `alpn` (default ["h2", "http/1.1"]),
`routes` as for the `http` service (scripted status, headers, body, delay per path, plus
/status/CODE and /delay/MS); `hostile: true` makes it the hostile server below behind TLS (and
on HTTP/2 it answers the preface with bytes that are not HTTP/2 frames).

`http-hostile`: the path picks the misbehaviour —
  /endless-headers  a status line, then header fields forever
  /endless-100      100 Continue responses forever, never a final one
  /huge-header      one 1 MiB header line
  /bad-status       an invalid status line
  /drip             a valid start, then one byte every 200 ms, forever
  /drip-body        a valid head (Content-Length: 100000), then the content a byte at a time
  /reset            half the head, then a TCP reset
  /silent           accepts the request and never answers
  /close            closes the connection without a word
  /endless-body     a valid head without a length, then content forever (also to HEAD)
  /endless-chunked  chunked content forever
  /reset-body       a valid head (Content-Length: 100000), 1000 bytes, then a TCP reset
  /truncated-chunked  a chunk that promises 10 bytes, 5 of them, then the end of the connection
  /bad-chunk-size   a chunk size that is not hexadecimal ("zz")
  /hex-prefix-chunk a chunk size written "0x5" (int(x, 16) would take it; RFC 9112 does not)
  /dup-length       two Content-Length fields that disagree (5 and 6), then 6 bytes
  /cl-and-te        Transfer-Encoding: chunked and Content-Length together (RFC 9112 §6.1)
  /http-1-2         a valid response whose status line says HTTP/1.2

On HTTP/2 (`https` by ALPN) a route may carry `interim: N`: N informational (100) responses
before the final one — a 1xx flood when N is large.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Mapping
from typing import Any

from netladder.lab.services import (
    _SERVERS,
    MAX_HEAD,
    _response_spec,
    dual_stack_socket,
    read_request,
    render_response,
)

__all__ = ["hostile_http_service", "https_service"]


def _spec_for(method: str, target: str, routes: Mapping[str, Any]) -> dict[str, Any]:
    spec = _response_spec(target.split("?", 1)[0], routes)
    if method == "HEAD" and isinstance(spec.get("head"), Mapping):
        spec = {**spec, **spec["head"]}
    return spec


async def _serve_h1(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, routes: Mapping[str, Any]
) -> None:
    while True:
        request = await read_request(reader)
        if request is None:
            return
        method, target, headers = request
        spec = _spec_for(method, target, routes)
        if spec.get("delay_ms"):
            await asyncio.sleep(float(spec["delay_ms"]) / 1000)
        writer.write(render_response(spec, method))
        await writer.drain()
        if headers.get("connection", "").lower() == "close" or spec.get("close"):
            return


async def _serve_h2(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, routes: Mapping[str, Any]
) -> None:
    import email.utils

    import h2.config
    import h2.connection
    import h2.events

    conn = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
    )
    conn.initiate_connection()
    writer.write(conn.data_to_send())
    await writer.drain()
    requests: dict[int, dict[str, str]] = {}

    async def respond(stream_id: int, headers: dict[str, str]) -> None:
        method, target = headers.get(":method", "GET"), headers.get(":path", "/")
        spec = _spec_for(method, target, routes)
        if spec.get("delay_ms"):
            await asyncio.sleep(float(spec["delay_ms"]) / 1000)
        body = str(spec.get("body", "")).encode()
        out: list[tuple[str, str]] = [(":status", str(int(spec.get("status", 200))))]
        if spec.get("date", True):
            out.append(("date", email.utils.formatdate(usegmt=True)))
        out.append(("server", "netladder-lab"))
        scripted = {k.lower(): str(v) for k, v in dict(spec.get("headers", {})).items()}
        if body and "content-type" not in scripted:
            out.append(("content-type", "text/plain; charset=utf-8"))
        if "content-length" not in scripted:
            out.append(("content-length", str(len(body))))
        out.extend(scripted.items())
        for _ in range(int(spec.get("interim", 0))):
            conn.send_headers(stream_id, [(":status", "100")])
            writer.write(conn.data_to_send())
            await writer.drain()
        send_body = bool(body) and (method != "HEAD" or spec.get("body_on_head", False))
        conn.send_headers(stream_id, out, end_stream=not send_body)
        if send_body:
            conn.send_data(stream_id, body, end_stream=True)
        writer.write(conn.data_to_send())
        await writer.drain()

    tasks = set()
    while True:
        data = await reader.read(65536)
        if not data:
            return
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.RequestReceived):
                requests[event.stream_id] = {str(k): str(v) for k, v in event.headers or ()}
            elif isinstance(event, h2.events.StreamEnded) and event.stream_id in requests:
                task = asyncio.create_task(respond(event.stream_id, requests.pop(event.stream_id)))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            elif isinstance(event, h2.events.ConnectionTerminated):
                return
        pending = conn.data_to_send()
        if pending:
            writer.write(pending)
            await writer.drain()


async def https_service(port: int, options: Mapping[str, Any]) -> None:
    """HTTP/1.1 and HTTP/2 over TLS with scripted routes; the certificate comes from options."""
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(options["cert"]), str(options["key"]))
    alpn = list(options.get("alpn", ["h2", "http/1.1"]))
    ctx.set_alpn_protocols(alpn)
    if "h2" in alpn:
        import h2.connection  # noqa: F401  # now, not in the first request's server time
    routes: Mapping[str, Any] = options.get("routes", {})
    hostile = bool(options.get("hostile", False))

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            ssl_object = writer.get_extra_info("ssl_object")
            alpn = ssl_object.selected_alpn_protocol() if ssl_object else None
            if hostile and alpn == "h2":
                writer.write(b"HTTP/1.1 200 OK\r\n\r\nthis is not HTTP/2 framing" * 4)
                await writer.drain()
                await asyncio.sleep(5)
            elif hostile:
                request = await read_request(reader)
                await _misbehave(request[1].split("?", 1)[0] if request else "", writer)
            elif alpn == "h2":
                await _serve_h2(reader, writer, routes)
            else:
                await _serve_h1(reader, writer, routes)
        with contextlib.suppress(Exception):
            writer.close()

    server = await asyncio.start_server(
        handle,
        sock=dual_stack_socket(socket.SOCK_STREAM, port),
        limit=MAX_HEAD,
        ssl=ctx,
        ssl_handshake_timeout=10,
    )
    _SERVERS.append(server)


async def hostile_http_service(port: int, options: Mapping[str, Any]) -> None:
    """A server that breaks HTTP in the way the request path names (see the module doc)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            request = await read_request(reader)
            path = request[1] if request else ""
            await _misbehave(path.split("?", 1)[0], writer)
        with contextlib.suppress(Exception):
            writer.close()

    server = await asyncio.start_server(
        handle, sock=dual_stack_socket(socket.SOCK_STREAM, port), limit=MAX_HEAD
    )
    _SERVERS.append(server)


async def _misbehave(path: str, writer: asyncio.StreamWriter) -> None:
    if path == "/endless-headers":
        writer.write(b"HTTP/1.1 200 OK\r\n")
        n = 0
        while True:
            writer.write(b"".join(b"X-Endless-%d: %d\r\n" % (n + i, n + i) for i in range(100)))
            n += 100
            await writer.drain()
            await asyncio.sleep(0.001)
    elif path == "/endless-100":
        while True:
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()
            await asyncio.sleep(0.01)
    elif path == "/huge-header":
        writer.write(b"HTTP/1.1 200 OK\r\nX-Huge: " + b"a" * (1 << 20) + b"\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(5)
    elif path == "/bad-status":
        writer.write(b"HTTP/1.1 TWO-HUNDRED OK\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(5)
    elif path == "/drip":
        writer.write(b"HTTP/1.1 200 OK\r\n")
        while True:
            await asyncio.sleep(0.2)
            writer.write(b"X")
            await writer.drain()
    elif path == "/drip-body":
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
        while True:
            writer.write(b"X")
            await writer.drain()
            await asyncio.sleep(0.2)
    elif path == "/reset":
        writer.write(b"HTTP/1.1 200 OK\r\nServer: netladder-lab\r\nX-Half: ")
        await writer.drain()
        await asyncio.sleep(0.05)
        sock = writer.get_extra_info("socket")
        # SO_LINGER with a zero timeout: close() sends RST instead of FIN.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
    elif path == "/silent":
        await asyncio.sleep(60)
    elif path in ("/endless-body", "/endless-chunked"):
        chunked = path == "/endless-chunked"
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
            + (b"Transfer-Encoding: chunked\r\n" if chunked else b"")
            + b"\r\n"
        )
        block = b"x" * 65536
        if chunked:
            block = b"%x\r\n%s\r\n" % (len(block), block)
        while True:
            writer.write(block)
            await writer.drain()
    elif path == "/reset-body":
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)
        await writer.drain()
        await asyncio.sleep(0.05)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
    elif path == "/truncated-chunked":
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\nhello")
        await writer.drain()
        with contextlib.suppress(Exception):
            writer.write_eof()  # a FIN: the body ends here, unfinished
    elif path in ("/bad-chunk-size", "/hex-prefix-chunk"):
        size = b"zz" if path == "/bad-chunk-size" else b"0x5"
        writer.write(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            + size
            + b"\r\nhello\r\n0\r\n\r\n"
        )
        await writer.drain()
        await asyncio.sleep(5)
    elif path == "/dup-length":
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!")
        await writer.drain()
        await asyncio.sleep(5)
    elif path == "/http-1-2":
        writer.write(b"HTTP/1.2 200 OK\r\nContent-Length: 5\r\n\r\nhello")
        await writer.drain()
        await asyncio.sleep(5)
    elif path == "/cl-and-te":
        writer.write(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n"
            b"\r\n5\r\nhello\r\n0\r\n\r\n"
        )
        await writer.drain()
        await asyncio.sleep(5)
    # "/close" and anything else: close without a word.
