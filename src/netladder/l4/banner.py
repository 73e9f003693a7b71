"""What a user sees in telnet: the service's greeting, or the status line an HTTP port gives to
HEAD; and with --tls, the handshake's version, the certificate's subject and days to expiry.

Hostile services never hang or flood us: every read has a deadline and a size cap, and how a
read ended (a line end, the cap, the deadline, a close, a reset) is part of the result.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from typing import Any

from netladder.l4.model import Banner, TlsInfo
from netladder.net.tls import decode_der

__all__ = ["HTTP_PORTS", "TLS_PORTS", "grab_banner", "grab_tls", "printable", "read_line"]

# Ports where the client speaks first with HTTP (IANA registry names in comments).
HTTP_PORTS = frozenset({80, 591, 3000, 5000, 8000, 8008, 8080, 8081, 8888})  # http, http-alt
TLS_PORTS = frozenset({443, 465, 636, 853, 993, 995, 8443})  # https, smtps, ldaps, ...
HTTPS_PORTS = frozenset({443, 8443})
MAX_READ = 1024
GREETING_WAIT = 2.0  # how long a silent service gets to speak first


def printable(data: bytes, limit: int = 200) -> str:
    """The first line(s) of what a service said, with control bytes escaped."""
    text = data.decode("utf-8", "backslashreplace")
    lines = [line for line in text.replace("\r\n", "\n").split("\n") if line.strip()]
    out = " | ".join(lines[:3]) if lines else ""
    from netladder.output import escape_controls  # one escaping for every peer's text

    out = escape_controls(out)
    return out[:limit] + ("..." if len(out) > limit else "")


def _head(host: str) -> bytes:
    return f"HEAD / HTTP/1.0\r\nHost: {host}\r\nUser-Agent: netladder\r\n\r\n".encode()


async def read_line(reader: asyncio.StreamReader, wait: float) -> tuple[bytes, str]:
    """Read what the service says until a line ends, for at most `wait` seconds and MAX_READ
    bytes: (the bytes, how the read ended).  A service that drips a byte at a time is read to
    its line end (not cut at its first byte); one that never ends a line, or floods, is cut at
    the limit; a reset or a close is said as such, not taken for silence."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    data = bytearray()
    while len(data) < MAX_READ:
        left = deadline - loop.time()
        if left <= 0:
            return bytes(data), "timeout"
        try:
            chunk = await asyncio.wait_for(reader.read(MAX_READ - len(data)), left)
        except TimeoutError:
            return bytes(data), "timeout"
        except ConnectionResetError:
            return bytes(data), "reset"
        except OSError:
            return bytes(data), "error"
        if not chunk:
            return bytes(data), "closed"
        data += chunk
        if b"\n" in chunk:
            return bytes(data), "line"
    return bytes(data), "limit"


def _insecure_context() -> Any:
    import ssl

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # we report what the service says; trust is not ours
    return context


async def grab_banner(
    address: str, port: int, wait: float = 3.0, host: str | None = None, use_tls: bool | None = None
) -> Banner:
    """Connect and read the greeting; on HTTP ports (or when the service stays silent) send
    HEAD and read the status line.  On TLS ports (443, 993, ...; or use_tls) this happens
    inside TLS.  Raises OSError/TimeoutError when it cannot connect."""
    started = time.monotonic()
    if use_tls is None:
        use_tls = port in TLS_PORTS
    ssl_args: dict[str, Any] = {}
    if use_tls:
        ssl_args = {
            "ssl": _insecure_context(),
            "server_hostname": host or None,
            "ssl_handshake_timeout": wait,
        }

    def since() -> float:
        return round((time.monotonic() - started) * 1000, 3)

    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(address, port, **ssl_args), wait
        )
    except ConnectionResetError:
        # ECONNRESET, not ECONNREFUSED: the handshake was done, and the service reset the
        # connection before asyncio had finished setting it up — right after accepting it.
        return Banner("", "greeting", since(), "reset")

    try:
        if port not in HTTP_PORTS and port not in HTTPS_PORTS:
            data, end = await read_line(reader, min(GREETING_WAIT, wait))
            if data or end in ("reset", "closed", "error"):
                # It spoke first — or it ended the connection, and there is nobody to ask.
                return Banner(printable(data), "greeting", since(), end)
        writer.write(_head(host or address))
        with contextlib.suppress(OSError):
            await writer.drain()
        data, end = await read_line(reader, wait)
        first = data.split(b"\n", 1)[0].rstrip(b"\r") if data.startswith(b"HTTP/") else data
        return Banner(
            printable(first), "http-head" if data.startswith(b"HTTP/") else "none", since(), end
        )
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), 0.5)


def _name(parts: Any) -> str:
    """ssl's decoded name ((('commonName', 'x'),), ...) as `CN=x, O=y`."""
    short = {
        "commonName": "CN",
        "organizationName": "O",
        "organizationalUnitName": "OU",
        "countryName": "C",
        "localityName": "L",
        "stateOrProvinceName": "ST",
    }
    items = []
    for rdn in parts or ():
        for key, value in rdn:
            items.append(f"{short.get(key, key)}={value}")
    return ", ".join(items)


async def grab_tls(
    address: str, port: int, server_name: str | None = None, wait: float = 5.0
) -> TlsInfo:
    """Complete a TLS handshake (without verifying: we report, we do not judge trust) and
    describe it."""
    import ssl

    context = _insecure_context()
    context.set_alpn_protocols(["h2", "http/1.1"])
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                address,
                port,
                ssl=context,
                server_hostname=server_name or None,
                ssl_handshake_timeout=wait,
            ),
            wait,
        )
    except (ssl.SSLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", None) or type(exc).__name__
        return TlsInfo("", "", "", "", "", 0, error=str(reason))
    try:
        tls = writer.get_extra_info("ssl_object")
        der = tls.getpeercert(binary_form=True) if tls else None
        fields = decode_der(der) if der else {}
        from netladder.net.tls import cert_time_iso

        # cert_time_iso: "" for a time ssl cannot read (a hostile certificate's year 0), where
        # ssl.cert_time_to_seconds would raise out of the scan.
        not_after = cert_time_iso(str(fields.get("notAfter", "")))
        days = 0
        iso = ""
        if not_after:
            expires = dt.datetime.fromisoformat(not_after)
            iso = expires.isoformat()
            days = (expires - dt.datetime.now(dt.UTC)).days
        cipher = tls.cipher() if tls else None
        return TlsInfo(
            version=tls.version() or "" if tls else "",
            cipher=cipher[0] if cipher else "",
            subject=_name(fields.get("subject")),
            issuer=_name(fields.get("issuer")),
            not_after=iso,
            days_left=days,
            alpn=tls.selected_alpn_protocol() if tls else None,
            not_before=cert_time_iso(str(fields.get("notBefore", ""))),
        )
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), 0.5)
        del reader
