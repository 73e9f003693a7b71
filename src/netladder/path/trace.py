"""The trace engine's one coroutine: validate the options, look the target up, pick the probes,
run a `TraceSession` on the driver.  `netladder.api.trace` is this function; the ladder
(diagnose), which may not import the API, awaits it directly.

It awaits only `net.driver.lookup` and `net.driver.run`, so it runs under asyncio (serve,
diagnose, tests) and under the CLI's selector alike.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from netladder.errors import NetladderError, UsageError, from_oserror
from netladder.net.driver import lookup, run
from netladder.path.model import TraceCycle, TraceOptions, TraceResult
from netladder.path.probes import IcmpProbes, Probes, TcpConnectProbes, TcpSynProbes, UdpProbes
from netladder.path.session import TraceSession
from netladder.path.verdict import judge

__all__ = ["OnCycle", "send_failure", "trace", "validate"]

OnCycle = Callable[[TraceCycle], None]
PROTOCOLS = ("udp", "icmp", "tcp")


def validate(options: TraceOptions) -> None:
    """UsageError for options no trace can run with (the CLI's argparse checks only syntax)."""
    o = options
    if o.protocol not in PROTOCOLS:
        raise UsageError("unknown protocol {protocol!r} (udp, icmp or tcp)", protocol=o.protocol)
    if o.max_ttl < o.first_ttl:
        raise UsageError(
            "netladder trace: max TTL {max} is below first TTL {first}",
            max=o.max_ttl,
            first=o.first_ttl,
        )
    if not 1 <= o.first_ttl <= o.max_ttl <= 255:
        raise UsageError(
            "need 1 <= first ({first}) <= max ({max}) <= 255", first=o.first_ttl, max=o.max_ttl
        )
    if o.queries > 10:
        raise UsageError("netladder trace: at most 10 queries per hop")
    for name in ("queries", "parallel", "cycles"):
        value = getattr(o, name)
        if value is not None and value < 1:
            raise UsageError("{name} must be at least 1, not {value}", name=name, value=value)
    for name in ("wait", "interval"):
        value = getattr(o, name)
        if not value > 0:
            raise UsageError("{name} must be more than 0 s, not {value}", name=name, value=value)
    if o.port is not None and not 0 < o.port < 65536:
        raise UsageError("port {port} is outside 1-65535", port=o.port)
    if o.version not in (None, 4, 6):
        raise UsageError("IP version {version} is neither 4 nor 6", version=o.version)


async def trace(options: TraceOptions, *, on_event: OnCycle | None = None) -> TraceResult:
    """Trace the path to `options.target`: hops with per-hop statistics and a verdict.

    `on_event` hears a `TraceCycle` (the trace as it stands) after each report cycle.  Bad
    options or a target that is not a unicast address or does not resolve raise UsageError
    (ResolveError); a missing privilege or kernel feature EnvError.  A probe that cannot be
    sent ends the trace with `send_error` set (`send_failure` says it as an error); Ctrl-C (or
    cancellation under the CLI's selector) ends it with what it gathered, `interrupted` set."""
    validate(options)
    target = await lookup(options.target, options.version)
    if _not_unicast(target.address):
        raise UsageError("cannot trace {target}: not a unicast address", target=options.target)
    probes = _probes(options, target.address, target.version, target.scope)
    if isinstance(probes, int):  # no route for the SYNs' source address: nothing was sent
        return _unsent(options, target.address, target.version, probes)
    session = TraceSession(
        options, target.address, target.version, probes, snapshots=on_event is not None
    )

    def heard(_session: object, event: object) -> None:
        if on_event is not None and isinstance(event, TraceCycle):
            on_event(event)

    await run([session], heard)
    return session.result()


def send_failure(result: TraceResult) -> NetladderError | None:
    """The error a trace that could not send a probe stopped on (None when it did not): what
    the CLI prints and the ladder reports, as the trace always said it."""
    code = result.send_error
    if code is None:
        return None
    reason = os.strerror(code)
    if result.send_connect:
        return NetladderError(
            "cannot connect to {address}: {reason}", address=result.address, reason=reason
        )
    return from_oserror(OSError(code, reason), "cannot send to {address}", address=result.address)


def _not_unicast(address: str) -> bool:
    import ipaddress

    parsed = ipaddress.ip_address(address)
    return parsed.is_unspecified or parsed.is_multicast


def _probes(options: TraceOptions, address: str, version: int, scope: str | None) -> Probes | int:
    """The probes for the protocol; for TCP with CAP_NET_RAW SYNs from a raw socket (one flow),
    else connect()s.  An errno when the route lookup for the SYNs' source fails."""
    index = 0
    if scope is not None:
        from netladder.net.targets import scope_index

        index = scope_index(scope)
    port = options.port
    if options.protocol == "udp":
        return UdpProbes(address, version, port, index)
    if options.protocol == "icmp":
        return IcmpProbes(address, version, port, index)
    import socket

    from netladder.net.sockets import can_raw, route_source

    if not can_raw(socket.AF_INET if version == 4 else socket.AF_INET6):
        return TcpConnectProbes(address, version, port, index)
    dport = port if port is not None else 80
    try:
        # The source address the kernel will use: the SYN's checksum covers it.
        sockaddr = (address, dport, 0, index) if index else (address, dport)
        source = route_source(sockaddr)
    except OSError as exc:
        return exc.errno or 0
    return TcpSynProbes(address, version, port, source, index)


def _unsent(options: TraceOptions, address: str, version: int, code: int) -> TraceResult:
    port = options.port if options.port is not None else 80
    return TraceResult(
        options.target,
        address,
        version,
        options.protocol,
        port,
        "raw",
        True,
        options.first_ttl,
        options.max_ttl,
        options.queries,
        options.cycles,
        (),
        False,
        None,
        0.0,
        judge((), False, protocol=options.protocol, port=port),
        False,
        code,
    )
