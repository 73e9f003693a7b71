"""Targets: a name resolved once, an address checked, a CIDR block expanded like `fping -g`."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import NamedTuple

from netladder.errors import UsageError

__all__ = ["MAX_EXPANSION", "Target", "expand", "resolve"]

# fping refuses -g blocks above 100,000 addresses; our results live in compact arrays, so the
# limit is about not sending a million probes by typo rather than about memory.
MAX_EXPANSION = 1 << 20


class Target(NamedTuple):
    """What the user typed and the address it stands for."""

    name: str
    address: str
    version: int

    @property
    def is_literal(self) -> bool:
        return self.name == self.address


def _literal(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


def resolve(text: str, version: int | None = None) -> Target:
    """An address as is; a name through the system resolver, once (first address, like ping)."""
    if not text or text.startswith("-"):
        raise UsageError(f"invalid target {text!r}")
    literal = _literal(text)
    if literal is not None:
        if version is not None and literal.version != version:
            raise UsageError(f"{text}: not an IPv{version} address")
        address = str(literal)
        return Target(
            address if text.split("%", 1)[0] == address else text, address, literal.version
        )
    family = {4: socket.AF_INET, 6: socket.AF_INET6}.get(version or 0, socket.AF_UNSPEC)
    try:
        infos = socket.getaddrinfo(text, None, family, socket.SOCK_RAW)
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, socket.gaierror) else "invalid name"
        raise UsageError(f"{text}: {reason}") from None
    for fam, *_rest, sockaddr in infos:
        if fam in (socket.AF_INET, socket.AF_INET6):
            address = str(sockaddr[0])
            return Target(text, address, 4 if fam == socket.AF_INET else 6)
    raise UsageError(f"{text}: no address")


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise UsageError(f"invalid CIDR block {text!r}") from None


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
        raise UsageError(f"{text}: {size} addresses is more than a sweep takes ({MAX_EXPANSION})")
    first = int(net.network_address)
    if net.version == 4 and net.prefixlen < 31:
        return iter(range(first + 1, first + 1 + size))
    if net.version == 6 and net.prefixlen < 127:
        return iter(range(first + 1, first + 1 + size))
    return iter(range(first, first + size))


def is_cidr(text: str) -> bool:
    return "/" in text
