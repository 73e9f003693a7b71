"""A TLS service for the lab: a fresh self-signed certificate (made with the openssl tool) for
the configured name and lifetime, then an HTTP/1.1 answer to whatever arrives over TLS.

Options: `cn` (certificate subject CN, default "tls.lab"), `days` (validity, default 30).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from netladder.lab.services import _SERVERS, dual_stack_socket

__all__ = ["tls_service"]


def make_certificate(directory: Path, cn: str, days: int) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            str(days),
            "-subj",
            f"/CN={cn}/O=netladder lab",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


async def tls_service(port: int, options: Mapping[str, Any]) -> None:
    directory = Path(tempfile.mkdtemp(prefix="nl-tls-"))
    cert, key = make_certificate(
        directory, str(options.get("cn", "tls.lab")), int(options.get("days", 30))
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.set_alpn_protocols(["http/1.1"])

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.TimeoutError, ssl.SSLError):
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(
        handle, sock=dual_stack_socket(socket.SOCK_STREAM, port), ssl=context
    )
    _SERVERS.append(server)
