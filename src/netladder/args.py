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

__all__ = ["Formatter", "Parser", "add_json", "positive_float", "positive_int"]


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
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")

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
        "--json", action="store_true", help="print exactly one JSON document on stdout"
    )


def _ascii(text: str, what: str) -> str:
    # float() and int() read any script's digits ('٢٢' is 22): numbers on the command line are
    # written with 0-9, and anything else is a mistake to point out, not to guess.
    if not text.isascii():
        raise argparse.ArgumentTypeError(f"{what}: {text!r} (digits 0-9 only)")
    return text


def positive_float(text: str) -> float:
    try:
        value = float(_ascii(text, "not a number"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number: {text!r}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(_ascii(text, "not a whole number"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def port_number(text: str) -> int:
    """A TCP/UDP port, 1-65535 (port 0 means "any" to the kernel, never a target)."""
    try:
        value = int(_ascii(text, "not a port number"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range (1-65535): {text}")
    return value
