"""Sweep targets that stand for many addresses: a CIDR block expanded like `fping -g CIDR`, and
an `A-B` range like `fping -g A B`.  Names and single addresses go through the one resolver,
`netladder.net.targets`."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import NamedTuple

from netladder.errors import UsageError

__all__ = ["MAX_EXPANSION", "Range", "block_size", "expand", "is_cidr", "parse_range"]

# fping refuses -g blocks above 100,000 addresses; our results live in compact arrays, so the
# limit is about not sending a million probes by typo rather than about memory.
MAX_EXPANSION = 1 << 20


class Range(NamedTuple):
    """`A-B`: every address from A to B, both included (fping -g A B skips none)."""

    version: int
    first: int
    last: int

    @property
    def size(self) -> int:
        return self.last - self.first + 1

    def addresses(self) -> Iterator[int]:
        return iter(range(self.first, self.last + 1))


def parse_range(text: str) -> Range | None:
    """`198.18.0.1-198.18.0.20` as a Range; None when `text` is not two addresses joined by
    `-` (a host name may contain `-` too)."""
    if text.count("-") != 1:
        return None
    start, end = text.split("-")
    try:
        a, b = ipaddress.ip_address(start), ipaddress.ip_address(end)
    except ValueError:
        return None
    if a.version != b.version:
        raise UsageError(
            "range {text!r}: {start} and {end} are not of one IP version",
            text=text,
            start=start,
            end=end,
        )
    if int(b) < int(a):
        raise UsageError(
            "range {text!r}: {end} comes before {start}", text=text, start=start, end=end
        )
    found = Range(a.version, int(a), int(b))
    if found.size > MAX_EXPANSION:
        raise UsageError(
            "range {text!r}: {size} addresses is more than a sweep takes ({most})",
            text=text,
            size=found.size,
            most=MAX_EXPANSION,
        )
    return found


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise UsageError("invalid CIDR block {spec!r}", spec=text) from None


def block_size(text: str) -> int:
    """How many targets `expand` yields for a CIDR block."""
    net = _network(text)
    if net.version == 4 and net.prefixlen < 31:
        return net.num_addresses - 2
    if net.version == 6 and net.prefixlen < 127:
        return net.num_addresses - 1  # the Subnet-Router anycast address (RFC 4291 §2.6.1)
    return net.num_addresses


def expand(text: str) -> Iterator[int]:
    """Addresses of a CIDR block as integers, in order, like `fping -g`: network and broadcast
    skipped except for /31 and /32 (RFC 3021); IPv6 skips the Subnet-Router anycast address."""
    net = _network(text)
    size = block_size(text)
    if size > MAX_EXPANSION:
        raise UsageError(
            "{text}: {size} addresses is more than a sweep takes ({most})",
            text=text,
            size=size,
            most=MAX_EXPANSION,
        )
    first = int(net.network_address)
    if net.version == 4 and net.prefixlen < 31:
        return iter(range(first + 1, first + 1 + size))
    if net.version == 6 and net.prefixlen < 127:
        return iter(range(first + 1, first + 1 + size))
    return iter(range(first, first + size))


def is_cidr(text: str) -> bool:
    return "/" in text
