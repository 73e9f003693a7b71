"""`netladder serve`: the blackbox_exporter-compatible exporter (see netladder.serve).

netladder serve [--config FILE] [--listen 127.0.0.1:9115] [--db PATH] [--timeout-offset 0.5]
                [--workers N]
netladder serve --config-check FILE
"""

from __future__ import annotations

import argparse
import os
import sys

from netladder.errors import EXIT_OK, UsageError
from netladder.i18n import _

__all__ = ["parse_listen", "register", "run"]

DEFAULT_LISTEN = "127.0.0.1:9115"


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        help=_(
            "a blackbox_exporter modules file, with netladder's extensions "
            "(default: blackbox's example modules)"
        ),
    )
    parser.add_argument(
        "--listen",
        default=DEFAULT_LISTEN,
        metavar="ADDR:PORT",
        help=f"where to listen (default {DEFAULT_LISTEN}; ':PORT' listens on every address)",
    )
    parser.add_argument(
        "--db",
        metavar="PATH",
        help=_("the monitors' history database (SQLite); its directory must exist"),
    )
    parser.add_argument(
        "--timeout-offset",
        type=float,
        default=0.5,
        metavar="S",
        help=_("seconds subtracted from Prometheus's scrape timeout (default 0.5)"),
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help=_(
            "serve /probe from N processes on the same address, one per core "
            "(default 1; monitors and history stay in the main one)"
        ),
    )
    # A worker of --workers (serve/workers.py), started by the main process: not for users.
    parser.add_argument("--worker-of", help=argparse.SUPPRESS)
    parser.add_argument("--worker-index", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--worker-listen", default="", help=argparse.SUPPRESS)
    parser.add_argument(
        "--config-check",
        metavar="FILE",
        help=_("check a configuration file and exit (0 valid, 2 invalid)"),
    )
    parser.epilog = (
        "Endpoints: /probe?target=T&module=M[&hostname=H][&debug=true], /metrics, /-/healthy, "
        "POST /-/reload (or SIGHUP), /config, /logs?id=N. See README 'netladder serve'."
    )


def parse_listen(text: str) -> tuple[str | None, int]:
    """`ADDR:PORT`, `[V6]:PORT` or `:PORT` (every address) → (host or None, port)."""
    from netladder.net.targets import literal, port_number

    where = f"--listen {text!r}"
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or not text[end + 1 :].startswith(":"):
            raise UsageError("{where}: expected [ADDR]:PORT", where=where)
        host, port = text[1:end], text[end + 2 :]
    else:
        host, sep, port = text.rpartition(":")
        if not sep:
            raise UsageError("{where}: expected ADDR:PORT", where=where)
    if host and literal(host) is None and host != "localhost":
        raise UsageError("{where}: {host!r} is not an address", where=where, host=host)
    return (host or None), port_number(port, where)


def run(args: argparse.Namespace) -> int:
    from netladder.serve.config import load

    if args.config_check:
        config = load(args.config_check)
        for warning in config.warnings:
            print(f"netladder serve: warning: {warning}", file=sys.stderr)
        print(
            f"{args.config_check}: valid: {len(config.modules)} modules"
            f" ({', '.join(config.modules) or 'none'}), {len(config.monitors)} monitors"
            + (", allowlist on" if config.allow else "")
        )
        return EXIT_OK
    import math

    if not math.isfinite(args.timeout_offset) or args.timeout_offset < 0:
        raise UsageError("--timeout-offset: must be a number >= 0")
    if not 1 <= args.workers <= 64:
        raise UsageError("--workers: must be from 1 to 64")
    if args.worker_of:
        return _worker(args)
    host, port = parse_listen(args.listen)
    if args.db:
        parent = os.path.dirname(os.path.abspath(args.db))
        if not os.path.isdir(parent):
            raise UsageError(
                "--db {db}: the directory {parent} does not exist", db=args.db, parent=parent
            )
    config = load(args.config)
    import asyncio

    from netladder.serve.history import History
    from netladder.serve.server import Exporter, serve

    exporter = Exporter(config, args.config, args.timeout_offset, args.db)
    exporter.worker_count = args.workers
    # Opened before listening: a file that another server writes is refused up front.
    exporter.history = History(args.db, config.history)
    for warning in config.warnings:
        exporter.log(f"netladder serve: warning: {warning}")

    def ready(bound: object) -> None:
        where = ", ".join(
            f"http{'s' if config.tls else ''}://{'[' + h + ']' if ':' in h else h}:{p}"
            for h, p in bound  # type: ignore[attr-defined]
        )
        exporter.log(
            f"netladder serve: listening on {where} ({len(config.modules)} modules from "
            f"{config.source}{', allowlist on' if config.allow else ''})"
        )

    asyncio.run(serve(exporter, host, port, ready))
    return EXIT_OK


def _worker(args: argparse.Namespace) -> int:
    """A process of `--workers`, started by the main one with its listening sockets."""
    import asyncio

    from netladder.serve.config import parse
    from netladder.serve.server import Exporter, serve_worker

    # The configuration the main process runs, on stdin (its file may have changed since).
    config = parse(sys.stdin.read(), args.config or "built-in default")
    exporter = Exporter(config, args.config, args.timeout_offset)
    exporter.worker_count, exporter.worker_index = args.workers, args.worker_index
    exporter.worker_of = args.worker_of
    asyncio.run(serve_worker(exporter, args.worker_listen))
    return EXIT_OK
