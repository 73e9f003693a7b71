"""The port check as a library: `check_ports()` for `netladder diagnose` and other callers.

    result = await check_ports("198.51.100.10", [22, 80], banner=True)
    result.state_of(22)  # PortState.OPEN

The scan itself runs in a worker thread (a tight epoll loop); banners and TLS handshakes are
coroutines on the caller's loop.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
from collections.abc import Sequence

from netladder.errors import EnvError, NetladderError, UsageError
from netladder.l4.engine import ProgressFn, Scanner
from netladder.l4.model import PortResult, PortState, ScanResult

__all__ = ["check_ports", "enrich", "literal_address", "make_scanner", "resolve", "run_scanner"]

BANNER_CONCURRENCY = 32


def literal_address(target: str) -> str | None:
    """The target as a normalised address literal, or None when it is a name."""
    try:
        return str(ipaddress.ip_address(target.strip("[]")))
    except ValueError:
        return None


async def resolve(target: str, version: int | None = None) -> str:
    """The address to probe: a literal as given (normalised), else the first answer."""
    import asyncio

    literal = literal_address(target)
    if literal is not None:
        return literal
    family = {4: socket.AF_INET, 6: socket.AF_INET6}.get(version or 0, socket.AF_UNSPEC)
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(target, None, family=family, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UsageError(f"cannot resolve {target!r}: {exc.strerror}") from None
    return str(ipaddress.ip_address(infos[0][4][0]))


def make_scanner(
    target: str,
    address: str,
    ports: Sequence[int],
    *,
    proto: str = "tcp",
    method: str = "auto",
    timeout_ms: float | None = None,
    rate: float | None = None,
    progress: ProgressFn | None = None,
) -> Scanner:
    """The scanner for the job.  method: auto (SYN when raw sockets are allowed, like nmap),
    syn (EnvError without privilege), connect; UDP has one method."""
    if proto == "udp":
        from netladder.l4.udp import UdpScan

        return UdpScan(target, address, ports, timeout_ms, progress)
    from netladder.l4.syn import SynScan
    from netladder.net.sockets import can_raw

    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    if method == "auto":
        method = "syn" if can_raw(family) else "connect"
    if method == "syn":
        if not can_raw(family):
            raise EnvError(
                "a SYN scan needs raw sockets", "run as root or grant CAP_NET_RAW, or use --connect"
            )
        return SynScan(target, address, ports, timeout_ms, progress, rate=rate)
    from netladder.l4.connect import ConnectScan

    return ConnectScan(target, address, ports, timeout_ms, progress)


async def run_scanner(scanner: Scanner) -> ScanResult:
    """Run a scanner in a worker thread; cancelling stops it."""
    import asyncio

    try:
        await asyncio.to_thread(scanner.run)
    finally:
        scanner.stop()
    return scanner.result()


async def enrich(
    result: ScanResult,
    *,
    banner: bool = False,
    tls: bool = False,
    host: str | None = None,
    wait: float = 3.0,
) -> ScanResult:
    """Add banners and/or TLS details to the open TCP ports."""
    if result.proto != "tcp" or not (banner or tls):
        return result
    import asyncio

    from netladder.l4.banner import grab_banner, grab_tls

    gate = asyncio.Semaphore(BANNER_CONCURRENCY)

    async def one(row: PortResult) -> PortResult:
        if row.state is not PortState.OPEN:
            return row
        async with gate:
            changes: dict[str, object] = {}
            if banner:
                try:
                    changes["banner"] = await grab_banner(result.address, row.port, wait, host)
                except (OSError, TimeoutError) as exc:  # ssl.SSLError is an OSError
                    changes["banner_error"] = getattr(exc, "strerror", None) or "timed out"
            if tls:
                changes["tls"] = await grab_tls(result.address, row.port, host, wait)
            return dataclasses.replace(row, **changes)  # type: ignore[arg-type]

    rows = await asyncio.gather(*(one(r) for r in result.ports))
    return dataclasses.replace(result, ports=tuple(rows))


async def check_ports(
    target: str,
    ports: Sequence[int] | str,
    *,
    proto: str = "tcp",
    method: str = "auto",
    timeout_ms: float | None = None,
    rate: float | None = None,
    banner: bool = False,
    tls: bool = False,
    version: int | None = None,
    progress: ProgressFn | None = None,
) -> ScanResult:
    """Check ports on one host: nmap's states with reasons (and banners/TLS when asked)."""
    if isinstance(ports, str):
        from netladder.l4.ports import parse_ports

        ports = parse_ports(ports, proto)
    if not ports:
        raise UsageError("empty port list")
    address = await resolve(target, version)
    try:
        scanner = make_scanner(
            target,
            address,
            ports,
            proto=proto,
            method=method,
            timeout_ms=timeout_ms,
            rate=rate,
            progress=progress,
        )
    except OSError as exc:
        raise NetladderError(f"cannot scan {target}: {exc.strerror}") from None
    result = await run_scanner(scanner)
    host = None if address == target else target
    return await enrich(result, banner=banner, tls=tls, host=host)
