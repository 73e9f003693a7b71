"""Argument parsing shared by every command: one-line usage errors, common options, and the
validators that turn bad input into exit 2 with a clear message."""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from netladder.errors import UsageError
from netladder.i18n import N_, _, current_language, ngettext

__all__ = [
    "Formatter",
    "Parser",
    "add_explain",
    "add_json",
    "port_number",
    "positive_float",
    "positive_int",
]

# argparse's own words (Python 3.11-3.13), said through the stdlib's gettext with the catalog
# of the domain "messages"; listed here so that `make messages` extracts them into netladder's
# catalog, and handed to argparse (below) when another language is chosen.
ARGPARSE_WORDS = (
    N_("usage: "),
    N_("positional arguments"),
    N_("options"),
    N_("show this help message and exit"),
    N_("argument %(argument_name)s: %(message)s"),
    N_("unrecognized arguments: %s"),
    N_("not allowed with argument %s"),
    N_("ignored explicit argument %r"),
    N_("the following arguments are required: %s"),
    N_("one of the arguments %s is required"),
    N_("expected one argument"),
    N_("expected at most one argument"),
    N_("expected at least one argument"),
    N_("ambiguous option: %(option)s could match %(matches)s"),
    N_("unexpected option string: %s"),
    N_("invalid %(type)s value: %(value)r"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"),
    N_("unknown parser %(parser_name)r (choices: %(choices)s)"),
    N_("subcommands"),
)
_ARGPARSE_PLURALS = (ngettext("expected %s argument", "expected %s arguments", 1),)


def _speak_argparse() -> None:
    """argparse looks up its words with `gettext.gettext`, imported into its module as `_`
    (and `ngettext`), at the moment it says them: in another language it says them through
    netladder's catalog instead.  English keeps argparse untouched."""
    if current_language() != "en":
        vars(argparse).update(_=_, ngettext=ngettext)


class Formatter(argparse.HelpFormatter):
    """argparse's formatter without its `import shutil` (which drags in bz2, lzma and zlib):
    argparse builds a formatter for every add_argument, so every start paid for it."""

    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
    ) -> None:
        if width is None:
            try:
                width = os.get_terminal_size(sys.stdout.fileno()).columns - 2
            except (OSError, ValueError):
                width = 78
        super().__init__(prog, indent_increment, max_help_position, width)


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line and exit 2, not usage text and exit 2."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", Formatter)
        _speak_argparse()  # before argparse names its groups ("options") and its -h
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError("{prog}: {error} (see '{prog} --help')", prog=self.prog, error=message)

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        if args is not None:
            args = self._attach_negative_values(list(args))
        return super().parse_known_args(args, namespace)

    def _attach_negative_values(self, args: list[str]) -> list[str]:
        """`-c -1` means -c with the value -1, as getopt reads it.  argparse instead takes `-1`
        for an option whenever the parser has options that look like negative numbers (-4,
        -6), and says "expected one argument" without naming the bad value; joined as `-c=-1`
        the value reaches the option's own check, which names it."""
        out: list[str] = []
        i = 0
        while i < len(args):
            arg = args[i]
            if arg == "--":
                return out + args[i:]
            action = self._option_string_actions.get(arg)
            if (
                action is not None
                and action.nargs is None
                and i + 1 < len(args)
                and self._negative_number_matcher.match(args[i + 1])
            ):
                out.append(f"{arg}={args[i + 1]}")
                i += 2
                continue
            out.append(arg)
            i += 1
        return out


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help=_("print exactly one JSON document on stdout")
    )


def add_explain(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--explain",
        action="store_true",
        help=_(
            "after the result, say the concept behind what was found: the layer, why the "
            "evidence means this cause, what the next command shows (JSON: an explain field)"
        ),
    )


def _ascii(text: str, what: str) -> str:
    # float() and int() read any script's digits ('٢٢' is 22): numbers on the command line are
    # written with 0-9, and anything else is a mistake to point out, not to guess.
    if not text.isascii():
        raise argparse.ArgumentTypeError(
            _("{what}: {text!r} (digits 0-9 only)").format(what=what, text=text)
        )
    return text


def positive_float(text: str) -> float:
    try:
        value = float(_ascii(text, _("not a number")))
    except ValueError:
        raise argparse.ArgumentTypeError(_("not a number: {text!r}").format(text=text)) from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(_("must be a positive number: {text!r}").format(text=text))
    return value


def positive_int(text: str) -> int:
    try:
        value = int(_ascii(text, _("not a whole number")))
    except ValueError:
        raise argparse.ArgumentTypeError(
            _("not a whole number: {text!r}").format(text=text)
        ) from None
    if value <= 0:
        raise argparse.ArgumentTypeError(_("must be at least 1: {text!r}").format(text=text))
    return value


def port_number(text: str) -> int:
    """A TCP/UDP port, 1-65535 (port 0 means "any" to the kernel, never a target)."""
    try:
        value = int(_ascii(text, _("not a port number")))
    except ValueError:
        raise argparse.ArgumentTypeError(
            _("not a port number: {text!r}").format(text=text)
        ) from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(_("port out of range (1-65535): {text}").format(text=text))
    return value
