"""`netladder diagnose TARGET [--port P] [--json] [--deep]`: the whole ladder, one verdict."""

from __future__ import annotations

import argparse

from netladder.args import add_json, port_number

__all__ = ["register", "run"]


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", help="a host, host:port, [v6]:port or an http(s) URL")
    parser.add_argument(
        "-p",
        "--port",
        type=port_number,
        action="append",
        default=[],
        help="TCP port(s) to check (repeatable); a URL or host:port names one",
    )
    parser.add_argument(
        "--deep", action="store_true", help="trace the path even when L3 looks healthy"
    )
    parser.add_argument(
        "--via",
        metavar="URL[,URL...]",
        help="ask these agents (netladder serve, /api/v1/diagnose) to run the ladder from "
        "where they are, at once, and compare",
    )
    add_json(parser)


def run(args: argparse.Namespace) -> int:
    import asyncio

    from netladder.diagnose.engine import Options, Progress, diagnose
    from netladder.diagnose.target import parse_target
    from netladder.errors import EXIT_INTERRUPTED
    from netladder.output import emit_json

    target = parse_target(args.target, tuple(args.port))
    if args.via:
        from netladder.diagnose.via import run as run_via

        return run_via(args.target, tuple(args.port), args.via, args.json)
    progress = Progress()
    try:
        result = asyncio.run(diagnose(target, Options(deep=args.deep), progress))
    except KeyboardInterrupt:
        result = progress.partial(target)
        code = EXIT_INTERRUPTED
    else:
        code = 0 if result.ok else 1
    if args.json:
        emit_json(result.as_dict())
    else:
        print(render(result))
    return code


def render(result: object) -> str:
    from netladder.diagnose.model import Diagnosis, Status
    from netladder.output import escape_controls, paint

    assert isinstance(result, Diagnosis)
    colours = {Status.PASS: "green", Status.FAIL: "red", Status.WARN: "yellow", Status.SKIP: "dim"}
    titles = {
        "names": "names",
        "route": "route",
        "l2": "L2",
        "l3": "L3",
        "path": "path",
        "l4": "L4",
        "l7": "L7",
    }
    address = f" ({result.address})" if result.address and result.address != result.target else ""
    lines = [paint(f"diagnose {result.target}{address}", "bold")]
    for rung in result.rungs:
        status = paint(f"{rung.status.value:<4}", colours[rung.status])
        took = f"  {rung.elapsed_ms:.0f} ms" if rung.elapsed_ms >= 1 else ""
        # Summaries quote peers (an HTTP reason phrase, a lint message): never raw on a terminal.
        summary = escape_controls(rung.summary)
        if rung.status is Status.SKIP:
            summary = paint(summary, "dim")
        lines.append(f"  {titles[rung.layer]:<5} {status}  {summary}{paint(took, 'dim')}")
    verdict = result.verdict
    colour = "green" if result.ok else "red"
    lines.append(paint(f"verdict: {escape_controls(verdict.text)}", "bold", colour))
    if verdict.next_command:
        lines.append(f"next: {verdict.next_command}")
    lines.append(paint(f"({result.elapsed_ms / 1000:.2f} s)", "dim"))
    return "\n".join(lines)
