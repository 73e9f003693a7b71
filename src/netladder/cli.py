"""The command line: a table of commands, each in its own module, imported only when chosen.

Start-up is part of the product, so this module imports nothing heavy: the top-level help is
printed from the table below, and only the chosen command's module is imported and given its
own argparse parser.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, NamedTuple

from netladder import __version__
from netladder.errors import (
    EXIT_FAIL,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    NetladderError,
    UsageError,
)

__all__ = ["COMMANDS", "Command", "main"]


if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence


class Command(NamedTuple):
    name: str
    module: str
    summary: str
    group: str


COMMANDS: tuple[Command, ...] = (
    Command(
        "route",
        "netladder.commands.route",
        "the kernel's route decision; default routes",
        "L2 and routing",
    ),
    Command(
        "neigh",
        "netladder.commands.neigh",
        "ARP/NDP table, gateway MAC check, change watch",
        "L2 and routing",
    ),
    Command(
        "arp",
        "netladder.commands.arp",
        "active ARP / NDP probe, duplicate-address detection",
        "L2 and routing",
    ),
    Command(
        "ping",
        "netladder.commands.ping",
        "ICMP echo, iputils-compatible statistics",
        "L3",
    ),
    Command(
        "sweep",
        "netladder.commands.sweep",
        "many targets at once, fping-class speed",
        "L3",
    ),
    Command(
        "trace",
        "netladder.commands.trace",
        "traceroute; --cycles N gives mtr-style per-hop statistics",
        "path",
    ),
    Command(
        "port",
        "netladder.commands.port",
        "TCP connect/SYN and UDP checks with nmap's port states",
        "L4",
    ),
    Command(
        "sockets",
        "netladder.commands.sockets",
        "local listeners and the connections they hold",
        "L4",
    ),
    Command(
        "forward",
        "netladder.commands.forward",
        "port forwarding: add, list, delete, verify, proxy",
        "NAT",
    ),
    Command(
        "http",
        "netladder.commands.http",
        "HTTP response check with per-phase timing",
        "L7",
    ),
    Command(
        "codes",
        "netladder.commands.codes",
        "HTTP status code guide",
        "L7",
    ),
    Command(
        "dns",
        "netladder.commands.dns",
        "name resolution with timing",
        "names",
    ),
    Command(
        "myip",
        "netladder.commands.myip",
        "public address via HTTP echo and STUN",
        "names",
    ),
    Command(
        "diagnose",
        "netladder.commands.diagnose",
        "the whole ladder with a verdict",
        "the ladder",
    ),
    Command(
        "serve",
        "netladder.commands.serve",
        "blackbox_exporter-compatible /probe for Prometheus",
        "monitoring",
    ),
    Command(
        "lab",
        "netladder.lab.command",
        "the network lab: up, down, status, exec, shell, demo, lesson",
        "the lab",
    ),
)

# The summaries and groups are messages: scripts/messages.py extracts Command's third and
# fourth arguments, and they are translated where they are said (English imports no i18n).
_BY_NAME = {c.name: c for c in COMMANDS}


def top_level_help() -> str:
    from netladder.i18n import _

    lines = [
        _("usage: netladder [--version] [--help] [--lang en|ko] COMMAND [ARGS...]"),
        "",
        _(
            "Check network connectivity layer by layer and say which layer fails, "
            "with the evidence."
        ),
    ]
    groups: dict[str, list[Command]] = {}
    for command in COMMANDS:
        groups.setdefault(command.group, []).append(command)
    for group, commands in groups.items():
        lines.append("")
        lines.append(f"{_(group)}:")
        lines.extend(f"  {c.name:<10} {_(c.summary)}" for c in commands)
    lines += [
        "",
        _("Every command takes --help; checks take --json for one JSON document on stdout,"),
        _("and --explain for the concept behind what they find."),
        _("--lang ko (or a ko locale in LANGUAGE, LC_ALL, LC_MESSAGES or LANG) speaks Korean."),
        _(
            "Exit codes: 0 pass, 1 check failed, 2 usage error, 3 environment error, "
            "130 interrupted."
        ),
    ]
    return "\n".join(lines)


def make_parser(command: Command) -> argparse.ArgumentParser:
    from netladder.args import Parser
    from netladder.i18n import _

    return Parser(prog=f"netladder {command.name}", description=_(command.summary))


def add_lang(parser: argparse.ArgumentParser) -> None:
    """`--lang` is taken out of argv before the parser runs (take_language: the help and
    argparse's errors are already in the language); listed so that every --help shows it."""
    from netladder.i18n import LANGUAGES, _

    parser.add_argument(
        "--lang",
        choices=LANGUAGES,
        help=_("the language of the human output (default: from the locale); JSON never changes"),
    )


def take_language(argv: list[str]) -> tuple[list[str], str | None]:
    """`--lang X` or `--lang=X` anywhere among netladder's own arguments (before `--`, and
    before the command that `lab exec` runs), taken out of argv."""
    out: list[str] = []
    language = None
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--" or (arg == "exec" and out[:1] == ["lab"]):
            return out + argv[i:], language
        if arg == "--lang":
            if i + 1 == len(argv):
                raise UsageError("netladder: --lang needs a language ({choices})", choices="en, ko")
            language = argv[i + 1]
            i += 2
            continue
        if arg.startswith("--lang="):
            language = arg.partition("=")[2]
        else:
            out.append(arg)
        i += 1
    return out, language


def _dispatch(argv: list[str]) -> int:
    if argv[:1] in (["-V"], ["--version"]):
        print(f"netladder {__version__}")
        return 0
    from netladder.i18n import language_from_env, set_language

    argv, language = take_language(argv)
    language = language or language_from_env()
    if language != "en":
        set_language(language)  # an unknown one is a usage error
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(top_level_help())
        return 0
    if argv[0] in {"-V", "--version"}:
        print(f"netladder {__version__}")
        return 0
    name = argv[0]
    if name.startswith("-"):
        raise UsageError("netladder: unknown option {name!r} (see 'netladder --help')", name=name)
    command = _BY_NAME.get(name)
    if command is None:
        import difflib

        close = difflib.get_close_matches(name, _BY_NAME, n=1)
        if close:
            raise UsageError(
                "netladder: unknown command {name!r}; did you mean '{close}'?",
                name=name,
                close=close[0],
            )
        raise UsageError("netladder: unknown command {name!r} (see 'netladder --help')", name=name)
    import importlib

    module = importlib.import_module(command.module)
    parser = make_parser(command)
    module.register(parser)
    add_lang(parser)
    args = parser.parse_args(list(argv[1:]))
    code: int = module.run(args)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        return _dispatch(arguments)
    except KeyboardInterrupt:
        # Commands that gather results print what they have before re-raising.
        return EXIT_INTERRUPTED
    except NetladderError as exc:
        _print_error(exc)
        return exc.exit_code
    except BrokenPipeError:
        # The reader went away (`netladder ... | head`): nothing more to say.
        sys.stderr.close()
        return 0
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("netladder.commands"):
            from netladder.i18n import _

            _print_error(
                _("netladder: command {name!r} is not built yet").format(name=arguments[0])
            )
            return EXIT_USAGE
        return _internal_error(exc)
    except Exception as exc:  # a bug: still one line, the traceback on request
        return _internal_error(exc)


def _internal_error(exc: BaseException) -> int:
    import os

    if os.environ.get("NETLADDER_DEBUG"):
        raise exc
    from netladder.i18n import _

    _print_error(
        _(
            "netladder: internal error: {kind}: {error} (set NETLADDER_DEBUG=1 for the traceback)"
        ).format(kind=type(exc).__name__, error=exc)
    )
    return EXIT_FAIL


def _print_error(error: NetladderError | str) -> None:
    """One red line on stderr.  An error's template is translated here, at the edge: errors.py
    cannot import i18n (i18n raises UsageError)."""
    from netladder.output import paint

    if isinstance(error, NetladderError):
        from netladder.i18n import _

        message = error.render(_)
    else:
        message = error
    first_line = message.splitlines()[0] if message else "error"
    prefix = "" if first_line.startswith("netladder") else "netladder: "
    print(paint(prefix + first_line, "red", stream=sys.stderr), file=sys.stderr)
