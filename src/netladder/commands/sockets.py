"""`netladder sockets [PORT]`: the listening socket(s) for a port and every connection it holds,
TCP and UDP (a UDP service listens with an unconnected socket: UNCONN, as ss says).

Exit 0 when something listens on PORT (or, without PORT, always), 1 when nothing does.
"""

from __future__ import annotations

import argparse
import sys

from netladder.args import add_json
from netladder.errors import EXIT_FAIL, EXIT_OK
from netladder.l4.diag import SocketEntry, SocketsResult

__all__ = ["register", "render", "run"]


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "port",
        metavar="PORT",
        nargs="?",
        help="a TCP/UDP port number or service name (default: every listener)",
    )
    add_json(parser)


def run(args: argparse.Namespace) -> int:
    from netladder.errors import UsageError
    from netladder.l4.diag import read_sockets
    from netladder.l4.ports import parse_ports
    from netladder.output import emit_json

    port = None
    if args.port is not None:
        ports = parse_ports(args.port)
        if len(ports) != 1:
            raise UsageError("netladder sockets: give one port")
        port = ports[0]
    result = read_sockets(port)
    if args.json:
        emit_json(result)
    else:
        sys.stdout.write(render(result))
    if port is not None and not result.listeners:
        return EXIT_FAIL
    return EXIT_OK


def _endpoint(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _owners(entry: SocketEntry) -> str:
    if not entry.processes:
        return "-"
    return ",".join(f"{p.name}({p.pid})" for p in entry.processes)


def render(result: SocketsResult) -> str:
    from netladder.output import paint

    lines = []
    looked = " and ".join(p.upper() for p in result.protocols)
    what = f"port {result.port}" if result.port is not None else f"all {looked} ports"
    counts = ", ".join(f"{n} {state}" for state, n in result.counts.items())
    lines.append(
        f"{what}: {len(result.listeners)} listening socket"
        f"{'' if len(result.listeners) == 1 else 's'}, {len(result.connections)} "
        f"connection{'' if len(result.connections) == 1 else 's'}"
        + (f" ({counts})" if counts else "")
    )
    if result.not_looked_at:
        lines.append(paint(f"note: {result.not_looked_at}", "dim"))
    if not result.listeners and result.port is not None:
        lines.append(paint(f"nothing listens on port {result.port} ({looked})", "yellow"))
    rows = [("PROTO", "STATE", "LOCAL", "PEER", "RECV-Q", "SEND-Q", "PROCESS")]
    for e in result.listeners:
        # For a TCP listener the queues are the accept queue: waiting connections / backlog.
        rows.append(
            (
                e.proto,
                e.state,
                _endpoint(e.local, e.local_port),
                "*",
                str(e.recv_q),
                str(e.send_q),
                _owners(e),
            )
        )
    for e in result.connections:
        rows.append(
            (
                e.proto,
                e.state,
                _endpoint(e.local, e.local_port),
                _endpoint(e.peer, e.peer_port),
                str(e.recv_q),
                str(e.send_q),
                _owners(e),
            )
        )
    if len(rows) > 1:
        widths = [max(len(r[i]) for r in rows) for i in range(6)]
        for n, r in enumerate(rows):
            line = (
                "  ".join(
                    f"{r[i]:<{widths[i]}}" if i < 4 else f"{r[i]:>{widths[i]}}" for i in range(6)
                )
                + "  "
                + r[6]
            )
            if n == 0:
                line = paint(line, "bold")
            elif r[1] in ("LISTEN", "UNCONN"):
                line = paint(line, "green")
            lines.append(line.rstrip())
    return "\n".join(lines) + "\n"
