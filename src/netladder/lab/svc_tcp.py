"""A hostile TCP service: what a banner grabber must get through without hanging, crashing or
filling its memory (issue 17 item 4).

`tcp-hostile` options: `mode` —
  drip            the banner one byte every `interval_s` (default 0.5), then idles
  endless         bytes without a line end, forever
  flood           banner lines, forever
  reset           a TCP reset right after accepting, before a word
  reset-mid-line  half of the banner, then a TCP reset
  close           closes the connection without a word
  silent          accepts and never says anything (nor answers)
and `banner` (default an SSH greeting).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import socket
import struct
import termios
from collections.abc import Mapping
from typing import Any

from netladder.lab.services import _SERVERS, dual_stack_socket

__all__ = ["MODES", "hostile_tcp_service"]

MODES = ("drip", "endless", "flood", "reset", "reset-mid-line", "close", "silent")
_LINGER_RST = struct.pack("ii", 1, 0)


async def _delivered(writer: asyncio.StreamWriter, within: float = 5.0) -> None:
    """Wait until what was written has left asyncio's buffer and the peer has acknowledged it
    (TIOCOUTQ: bytes not yet acknowledged), so that a reset cannot overtake it."""
    sock = writer.get_extra_info("socket")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        unacked = 0
        if sock is not None:
            with contextlib.suppress(OSError):
                unacked = struct.unpack(
                    "i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0" * 4)
                )[0]
        if writer.transport.get_write_buffer_size() == 0 and unacked == 0:
            return
        await asyncio.sleep(0.01)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with SO_LINGER 0: the peer gets a RST instead of a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
    writer.transport.abort()


async def hostile_tcp_service(port: int, options: Mapping[str, Any]) -> None:
    mode = str(options.get("mode", "drip"))
    if mode not in MODES:
        raise ValueError(f"tcp-hostile: unknown mode {mode!r}")
    banner = str(options.get("banner", "SSH-2.0-OpenSSH_9.2p1 hostile")).encode() + b"\r\n"
    interval = float(options.get("interval_s", 0.5))

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if mode == "reset":
                _reset(writer)
                return
            if mode == "close":
                writer.close()
                return
            if mode == "reset-mid-line":
                writer.write(banner[: len(banner) // 2])
                await writer.drain()
                await _delivered(writer)
                await asyncio.sleep(0.2)
                _reset(writer)
                return
            if mode == "drip":
                for byte in banner:
                    writer.write(bytes([byte]))
                    await writer.drain()
                    await asyncio.sleep(interval)
            elif mode == "endless":
                chunk = b"A" * 4096
                while True:
                    writer.write(chunk)
                    await writer.drain()
            elif mode == "flood":
                while True:
                    writer.write(banner * 64)
                    await writer.drain()
            await asyncio.sleep(60)  # drip done, or silent: idle until the peer goes
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, sock=dual_stack_socket(socket.SOCK_STREAM, port))
    _SERVERS.append(server)
