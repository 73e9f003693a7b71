"""`netladder lab up|down|status|exec|shell|demo|lesson`."""

from __future__ import annotations

import argparse
import os
import sys

from netladder.errors import UsageError
from netladder.i18n import _
from netladder.lab.render import render_topology
from netladder.output import dump_json, paint

__all__ = ["register", "run"]


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(
        dest="action", metavar="ACTION", required=True, parser_class=type(parser)
    )
    up = sub.add_parser("up", help=_("build a lab (default topology: chain)"))
    up.add_argument("topology", nargs="?", default="chain")
    up.add_argument("--name", help=_("lab name (default: the topology's name)"))
    down = sub.add_parser("down", help=_("remove a lab; --all also what a crashed run left"))
    down.add_argument("name", nargs="?", default=None)
    down.add_argument("--all", action="store_true")
    status = sub.add_parser("status", help=_("what labs are up, their nodes and addresses"))
    status.add_argument("name", nargs="?", default=None)
    status.add_argument("--json", action="store_true")
    ex = sub.add_parser("exec", help=_("run a command inside a lab node"))
    ex.add_argument("node")
    ex.add_argument("argv", nargs=argparse.REMAINDER)
    ex.add_argument("--lab", default=None)
    shell = sub.add_parser("shell", help=_("an interactive shell inside a lab node"))
    shell.add_argument("node", nargs="?", default="client")
    shell.add_argument("--lab", default=None)
    demo = sub.add_parser(
        "demo", help=_("build the chain lab, run the checks across it, tear down")
    )
    demo.add_argument("--keep", action="store_true", help=_("leave the lab up afterwards"))
    lesson = sub.add_parser(
        "lesson",
        help=_("a guided walk through the checks in the demo lab: it breaks things, you find them"),
    )
    lesson.add_argument(
        "topic",
        nargs="?",
        choices=("ip", "path", "arp", "port", "forward", "http", "codes", "all"),
        default="all",
        metavar="TOPIC",
        help=_("ip, path, arp, port, forward, http, codes, or all in order (default)"),
    )
    lesson.add_argument(
        "--yes",
        action="store_true",
        help=_("do not wait: the lesson answers each task itself and checks that the answer holds"),
    )
    lesson.add_argument("--keep", action="store_true", help=_("leave the lab up afterwards"))


def run(args: argparse.Namespace) -> int:
    action: str = args.action
    if action == "up":
        return _up(args.topology, args.name)
    if action == "down":
        return _down(args.name, args.all)
    if action == "status":
        return _status(args.name, args.json)
    if action == "exec":
        return _exec(args.lab, args.node, args.argv)
    if action == "shell":
        return _shell(args.lab, args.node)
    if action == "demo":
        from netladder.lab.demo import run_demo

        return run_demo(keep=args.keep)
    if action == "lesson":
        from netladder.i18n import current_language
        from netladder.lab.lesson import run_lesson

        return run_lesson(args.topic, auto=args.yes, language=current_language(), keep=args.keep)
    raise UsageError(f"unknown lab action {action!r}")


def _up(topology_name: str, name: str | None) -> int:
    from netladder.lab.core import Lab
    from netladder.lab.topologies import get

    lab = Lab(get(topology_name), name)
    already = lab.is_up()
    lab.up()
    print(render_topology(lab))
    if already:
        print(paint(_("lab {name!r} was already up").format(name=lab.name), "dim"))
    return 0


def _down(name: str | None, everything: bool) -> int:
    from netladder.lab import core

    if everything:
        removed = core.down_all()
        print(
            _("removed: {labs}").format(labs=", ".join(removed))
            if removed
            else _("nothing to remove")
        )
        return 0
    core._require_lab_privileges()
    states = core.list_states()
    if name is None:
        if not states:
            print(_("no lab is up"))
            return 0
        if len(states) > 1:
            names = ", ".join(s.name for s in states)
            raise UsageError(f"several labs are up ({names}): name one, or use --all")
        name = states[0].name
    state = core.load_state(name)
    if state is None:
        print(_("lab {name!r} is not up").format(name=name))
        return 0
    core.teardown(state)
    print(_("lab {name!r} removed").format(name=name))
    return 0


def _lab_for(name: str | None) -> object:
    from netladder.lab import core
    from netladder.lab.topologies import BUILTIN, get

    states = [s for s in core.list_states() if s.complete]
    if name is None:
        if not states:
            raise UsageError("no lab is up (start one with 'netladder lab up')")
        if len(states) > 1:
            raise UsageError(
                f"several labs are up: name one with --lab ({', '.join(s.name for s in states)})"
            )
        state = states[0]
    else:
        found = [s for s in states if s.name == name]
        if not found:
            raise UsageError(f"lab {name!r} is not up")
        state = found[0]
    if state.topology not in BUILTIN:
        raise UsageError(
            f"lab {state.name!r} uses topology {state.topology!r}, which only its test knows"
        )
    return core.Lab(get(state.topology), state.name)


def _exec(name: str | None, node: str, argv: list[str]) -> int:
    from netladder.lab.core import Lab

    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        raise UsageError("lab exec: name a command to run, e.g. 'lab exec client -- ip addr'")
    lab = _lab_for(name)
    assert isinstance(lab, Lab)
    ns = lab.ns(node)
    os.execvp("ip", ["ip", "netns", "exec", ns, *argv])


def _shell(name: str | None, node: str) -> int:
    from netladder.lab.core import Lab

    lab = _lab_for(name)
    assert isinstance(lab, Lab)
    ns = lab.ns(node)
    shell = os.environ.get("SHELL", "/bin/bash")
    os.environ["PS1"] = f"[lab {lab.name}:{node}] \\w# "
    print(
        _("entering {node} (namespace {ns}); 'exit' leaves").format(node=node, ns=ns),
        file=sys.stderr,
    )
    os.execvp("ip", ["ip", "netns", "exec", ns, shell, "--norc", "-i"])


def _status(name: str | None, as_json: bool) -> int:
    from netladder.lab.render import status_lines
    from netladder.lab.status import status

    found = status(name)
    if as_json:
        print(dump_json(found))
        return 0
    for line in status_lines(found):
        print(line)
    return 0
