"""Argument parsing shared by every command: one-line usage errors, common options, and the
validators that turn bad input into exit 2 with a clear message."""

from __future__ import annotations

import argparse
import math
from typing import NoReturn

from netladder.errors import UsageError

__all__ = ["Parser", "add_json", "positive_float", "positive_int"]


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line and exit 2, not usage text and exit 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print exactly one JSON document on stdout")


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number: {text!r}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value
