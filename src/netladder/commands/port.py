"""`netladder port TARGET PORTS`: nmap's port states with reasons, banners and TLS details.

Exit 0 when at least one port is open (for UDP also open|filtered), 1 when none is.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from netladder.args import add_json, positive_float
from netladder.errors import EXIT_FAIL, EXIT_OK, UsageError
from netladder.l4.engine import Scanner
from netladder.l4.model import PortResult, PortState, ScanResult

__all__ = ["register", "render", "run"]

PROGRESS_OVER = 1000  # ports; smaller scans finish before a bar would help

_STATE_STYLE = {
    PortState.OPEN: ("green",),
    PortState.CLOSED: ("red",),
    PortState.FILTERED: ("yellow",),
    PortState.OPEN_FILTERED: ("yellow",),
    PortState.UNKNOWN: ("dim",),
}


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="TARGET", help="host name or address")
    parser.add_argument(
        "ports",
        metavar="PORTS",
        help="22 | 20-25 | 22,80,443 | 1-65535 | top | service names (ssh,http)",
    )
    method = parser.add_mutually_exclusive_group()
    method.add_argument(
        "--syn",
        action="store_const",
        const="syn",
        dest="method",
        help="SYN (half-open) scan with raw sockets (default when privileged)",
    )
    method.add_argument(
        "--connect",
        action="store_const",
        const="connect",
        dest="method",
        help="TCP connect scan (default when unprivileged)",
    )
    method.add_argument("--udp", action="store_const", const="udp", dest="method", help="UDP scan")
    parser.add_argument(
        "--banner",
        action="store_true",
        help="show what open services say first (HEAD status line on HTTP ports)",
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        help="TLS handshake on open ports: version, certificate subject, expiry",
    )
    parser.add_argument(
        "--timeout",
        type=positive_float,
        metavar="MS",
        help="fixed probe timeout in ms (default: adapts to the measured RTT)",
    )
    parser.add_argument(
        "--rate",
        type=positive_float,
        metavar="PPS",
        help="at most this many SYN probes per second (SYN scan)",
    )
    family = parser.add_mutually_exclusive_group()
    family.add_argument("-4", dest="version", action="store_const", const=4, help="IPv4 only")
    family.add_argument("-6", dest="version", action="store_const", const=6, help="IPv6 only")
    add_json(parser)
    parser.set_defaults(method=None, version=None)


def run(args: argparse.Namespace) -> int:
    from netladder.l4.api import literal_address, make_scanner
    from netladder.l4.ports import parse_ports
    from netladder.net.sockets import can_raw
    from netladder.output import emit_json, progress

    proto = "udp" if args.method == "udp" else "tcp"
    ports = parse_ports(args.ports, proto)
    if args.rate is not None and args.method in ("connect", "udp"):
        raise UsageError("netladder port: --rate applies to the SYN scan only")
    address = literal_address(args.target)
    if address is None:  # a name: only then pay for asyncio
        import asyncio

        from netladder.l4.api import resolve

        address = asyncio.run(resolve(args.target, args.version))
    if args.version and (":" in address) != (args.version == 6):
        raise UsageError(f"netladder port: {address} is not an IPv{args.version} address")
    notes: list[str] = []
    method = args.method or "auto"
    if method == "auto":
        import socket

        if not can_raw(socket.AF_INET6 if ":" in address else socket.AF_INET):
            method = "connect"
            notes.append("not privileged for a SYN scan (raw sockets): using a connect scan")
    show_bar = len(ports) >= PROGRESS_OVER and not args.json
    with progress(f"{proto} scan {address}", len(ports), enabled=show_bar) as bar:
        scanner = make_scanner(
            args.target,
            address,
            ports,
            proto=proto,
            method=method,
            timeout_ms=args.timeout,
            rate=args.rate,
            progress=bar.advance,
        )
        scanner.notes.extend(notes)
        done = threading.Event()
        worker = threading.Thread(target=_run_quietly, args=(scanner, done), daemon=True)
        worker.start()
        interrupted = False
        try:
            # Event.wait, not Thread.join: a KeyboardInterrupt inside join() leaves the thread
            # marked as finished while it still runs (CPython 3.11, bpo-45274's fix).
            while not done.wait(0.1):
                pass
        except KeyboardInterrupt:
            interrupted = True
            scanner.stop()
            # Gather what the scan has (workers finish within a round); a second Ctrl-C
            # meanwhile would lose it, so it waits.
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                done.wait(5)
            finally:
                signal.signal(signal.SIGINT, previous)
    if scanner.failure is not None and not interrupted:
        raise scanner.failure
    result = scanner.result()
    if not interrupted and (args.banner or args.tls):
        host = None if address == args.target else args.target
        import asyncio

        from netladder.l4.api import enrich

        try:
            result = asyncio.run(enrich(result, banner=args.banner, tls=args.tls, host=host))
        except KeyboardInterrupt:
            interrupted = True
    if args.json:
        emit_json(result)
    else:
        sys.stdout.write(render(result))
        sys.stdout.flush()
    if interrupted:
        raise KeyboardInterrupt
    return EXIT_OK if _passed(result) else EXIT_FAIL


def _run_quietly(scanner: Scanner, done: threading.Event) -> None:
    try:
        scanner.run()
    except BaseException as exc:  # re-raised in the main thread
        scanner.failure = exc
    finally:
        done.set()


def _passed(result: ScanResult) -> bool:
    good = {PortState.OPEN} | ({PortState.OPEN_FILTERED} if result.proto == "udp" else set())
    return any(p.state in good for p in result.ports)


def _reason(row: PortResult) -> str:
    text = row.reason
    if row.reporter and row.reporter != "":
        text += f" from {row.reporter}"
    if row.rtt_ms is not None and row.state is not PortState.FILTERED:
        from netladder.output import fmt_ms

        text += f" ({fmt_ms(row.rtt_ms)} ms)"
    if row.tries > 1:
        text += f" [try {row.tries}]"
    return text


def render(result: ScanResult) -> str:
    """Human text in nmap's shape: the summary of collapsed states, then one line per port."""
    from netladder.l4.explain import banner_text, forged_reset, hops_text
    from netladder.output import fmt_ms, paint

    name = (
        result.target
        if result.target == result.address
        else (f"{result.target} ({result.address})")
    )
    kind = {"syn": "SYN scan", "connect": "connect scan", "udp": "UDP scan"}[result.method]
    lines = []
    for note in result.notes:
        lines.append(paint(f"note: {note}", "dim"))
    timing = f"timeout {fmt_ms(result.timeout_ms)} ms"
    if result.srtt_ms is not None:
        timing = f"rtt {fmt_ms(result.srtt_ms)} ms, " + timing
    plural = "s" if result.scanned != 1 else ""
    took = (
        f"{result.elapsed_ms / 1000:.2f} s"
        if result.elapsed_ms >= 1000
        else f"{fmt_ms(result.elapsed_ms)} ms"
    )
    lines.append(
        f"{name}: {kind} of {result.scanned} {result.proto} port{plural} in {took} "
        f"({timing}, {result.probes_sent} probes)"
    )
    if result.not_shown:
        parts = [
            f"{g.count} {g.state.value} {result.proto} ports ({g.reason}"
            + (f", {hops_text(g.reset_hops_before)} before the host" if g.reset_hops_before else "")
            + ")"
            for g in result.not_shown
        ]
        lines.append("Not shown: " + ", ".join(parts))
    if result.ports:
        width = max(9, *(len(f"{p.port}/{p.proto}") + 1 for p in result.ports))
        # Wide enough for the longest name (nmap-services has 15-letter ones), one space after.
        named = max(12, *(len(p.service) + 1 for p in result.ports))
        lines.append(f"{'PORT':<{width}}{'STATE':<14}{'SERVICE':<{named}}REASON")
        for row in result.ports:
            state = paint(f"{row.state.value:<14}", *_STATE_STYLE[row.state])
            lines.append(
                f"{f'{row.port}/{row.proto}':<{width}}{state}"
                f"{row.service or '-':<{named}}{_reason(row)}"
            )
            pad = " " * width
            if row.reset_hops_before:
                lines.append(pad + paint(forged_reset(row, result.host_ttl), "yellow"))
            if row.banner is not None:
                lines.append(f"{pad}{paint(banner_text(row.banner), 'cyan')}")
            elif row.banner_error:
                lines.append(f"{pad}(no banner: {row.banner_error})")
            if row.tls is not None:
                tls = row.tls
                if tls.error:
                    lines.append(f"{pad}TLS: handshake failed: {tls.error}")
                else:
                    lines.append(
                        f"{pad}TLS: {tls.version} {tls.cipher}"
                        + (f" alpn={tls.alpn}" if tls.alpn else "")
                    )
                    from netladder.output import escape_controls
                    from netladder.render.tls import describe_validity  # as http shows it

                    when, bad = describe_validity(tls.not_before, tls.not_after)
                    lines.append(
                        f"{pad}certificate: {escape_controls(tls.subject) or '?'} "
                        f"(issuer {escape_controls(tls.issuer) or '?'}), "
                        + (paint(when, "red") if bad else when)
                    )
    elif not result.not_shown:
        lines.append("no ports scanned")
    if result.interrupted:
        lines.append(paint("interrupted: ports not probed to the end are 'unknown'", "yellow"))
    return "\n".join(lines) + "\n"
