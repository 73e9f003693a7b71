"""The port check as one coroutine: `scan(ScanOptions)` → ScanResult (api.scan, `port`,
diagnose's L4 rung).

    result = await scan(ScanOptions("198.51.100.10", (22, 80), banner=True))
    result.state_of(22)  # PortState.OPEN

The target through the one resolver, the method chosen as nmap chooses (SYN when raw sockets
are allowed), the scan as one session on the driver, then — when asked — each open TCP port's
banner and TLS handshake as sessions too, BANNER_CONCURRENCY at a time.  It awaits nothing but
`net.driver.run` and `net.driver.lookup`, so it runs under the CLI's selector and on any
asyncio loop alike.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from netladder.errors import EnvError, NetladderError, UsageError, from_oserror
from netladder.l4.model import (
    Note,
    PortState,
    ScanOptions,
    ScanProgress,
    ScanResult,
    ScanStarted,
)
from netladder.model import replace

__all__ = ["BANNER_CONCURRENCY", "OnProgress", "check_options", "ports_of", "scan"]

BANNER_CONCURRENCY = 32
OnProgress = Callable[[ScanStarted | ScanProgress], None]


def ports_of(options: ScanOptions) -> tuple[int, ...]:
    """The options' ports, ascending and once each; UsageError for a bad list."""
    from netladder.l4.ports import parse_ports

    if isinstance(options.ports, str):
        return parse_ports(options.ports, options.proto)
    ports = tuple(sorted(set(options.ports)))
    for port in ports:
        if not 1 <= port <= 65535:
            raise UsageError("port {port} is out of range (1-65535)", port=port)
    return ports


def check_options(options: ScanOptions) -> tuple[int, ...]:
    """The semantic checks every caller shares (the CLI words its own first); the ports."""
    if options.proto not in ("tcp", "udp"):
        raise UsageError("proto must be tcp or udp, not {proto!r}", proto=options.proto)
    if options.method not in ("auto", "syn", "connect", "udp"):
        raise UsageError(
            "method must be auto, syn, connect or udp, not {method!r}", method=options.method
        )
    if (options.method == "udp") != (options.proto == "udp") and options.method != "auto":
        raise UsageError("the udp method goes with proto udp only")
    if options.version not in (None, 4, 6):
        raise UsageError("version must be 4 or 6, not {version!r}", version=options.version)
    for name in ("timeout", "rate"):
        value = getattr(options, name)
        if value is not None and not value > 0:
            raise UsageError("{name} must be more than 0, not {value}", name=name, value=value)
    if not options.banner_wait > 0:
        raise UsageError("banner_wait must be more than 0 s")
    if options.rate is not None and (options.proto == "udp" or options.method == "connect"):
        raise UsageError("rate applies to the SYN scan only")
    ports = ports_of(options)
    if not ports:
        raise UsageError("empty port list")
    return ports


async def scan(options: ScanOptions, *, on_progress: OnProgress | None = None) -> ScanResult:
    """Check `options.ports` on one host: nmap's states with reasons, and banners/TLS when
    asked.  Bad input raises UsageError (a name that does not resolve: ResolveError), a SYN
    scan without CAP_NET_RAW EnvError, a scan this host cannot run at all (no route, no
    sockets left) NetladderError; every port's answer — or silence — is the result.
    `on_progress` hears ScanStarted (where the scan goes, by what method), then ScanProgress
    as ports are decided.  Ctrl-C (or cancellation under the CLI's selector) ends it with what
    it gathered, `interrupted` set."""
    from netladder.net.driver import lookup, run

    ports = check_options(options)
    target = await lookup(options.target, options.version)
    address = target.address
    session, failure_kind = _session(options, address, ports)

    def heard(_session: Any, event: Any) -> None:
        if on_progress is not None:
            on_progress(event)

    if on_progress is not None:
        on_progress(ScanStarted(options.target, address, options.proto, len(ports)))
    interrupted = await run([session], heard)
    failure: tuple[int, str] | None = getattr(session, "failure", None)
    if failure is not None and not interrupted:
        err, what = failure  # what: "cannot send to {address}" (an N_ template of the session)
        if failure_kind == "syn":
            raise from_oserror(OSError(err, os.strerror(err)), what, address=address)
        raise NetladderError(what, address=address).because(os.strerror(err))
    result: ScanResult = session.result()
    if interrupted or result.proto != "tcp" or not (options.banner or options.tls):
        return result
    host = None if target.is_literal else options.target
    return await _enrich(result, options, host)


def _session(options: ScanOptions, address: str, ports: tuple[int, ...]) -> tuple[Any, str]:
    import socket

    from netladder.net.sockets import can_raw

    if options.proto == "udp":
        from netladder.l4.udp import UdpScanSession

        return UdpScanSession(options.target, address, ports, timeout=options.timeout), "udp"
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    method = options.method
    notes: tuple[Note, ...] = ()
    if method == "auto":
        method = "syn" if can_raw(family) else "connect"
        if method == "connect":
            notes = (Note("unprivileged-connect"),)
    if method == "syn":
        if not can_raw(family):
            raise EnvError(
                "a SYN scan needs raw sockets", "run as root or grant CAP_NET_RAW, or use --connect"
            )
        from netladder.l4.syn import SynScanSession
        from netladder.net.sockets import route_source

        try:
            source = route_source((address, 9))
        except OSError as exc:
            raise from_oserror(exc, "no route to {address}", address=address) from None
        seed = int.from_bytes(os.urandom(4), "big")
        session = SynScanSession(
            options.target,
            address,
            source,
            ports,
            seed,
            timeout=options.timeout,
            rate=options.rate,
            notes=notes,
        )
        return session, "syn"
    from netladder.l4.connect import ConnectScanSession

    return (
        ConnectScanSession(options.target, address, ports, timeout=options.timeout, notes=notes),
        "connect",
    )


async def _enrich(result: ScanResult, options: ScanOptions, host: str | None) -> ScanResult:
    """Banners and/or TLS details of the open TCP ports, BANNER_CONCURRENCY at a time; the
    banners first (a service that takes one connection at a time sees them in turn)."""
    from netladder.l4.banner import TlsSession, banner_of, banner_session
    from netladder.net.driver import run

    opened = [row for row in result.ports if row.state is PortState.OPEN]
    changes: dict[int, dict[str, Any]] = {row.port: {} for row in opened}
    wait = options.banner_wait
    if options.banner:
        sessions = [banner_session(result.address, row.port, host, wait) for row in opened]
        if await _run_batches(sessions, run):
            return replace(result, interrupted=True)
        for row, session in zip(opened, sessions, strict=True):
            banner, error = banner_of(session.result())
            changes[row.port].update(banner=banner, banner_error=error)
    if options.tls:
        tls = [TlsSession(result.address, row.port, host, wait) for row in opened]
        if await _run_batches(tls, run):
            return replace(result, interrupted=True)
        for row, handshake in zip(opened, tls, strict=True):
            changes[row.port]["tls"] = handshake.result()
    rows = tuple(
        replace(row, **changes[row.port]) if row.port in changes else row for row in result.ports
    )
    return replace(result, ports=rows)


async def _run_batches(sessions: Sequence[Any], run: Any) -> bool:
    for start in range(0, len(sessions), BANNER_CONCURRENCY):
        if await run(sessions[start : start + BANNER_CONCURRENCY]):
            return True
    return False
