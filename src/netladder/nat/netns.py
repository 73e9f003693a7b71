"""Where a verification connects from: this machine, another network namespace, or a local source
address.

A socket belongs to the network namespace it was created in, whatever thread later uses it, so a
socket "from" another namespace is made by switching this thread into it for the one
`socket()` call and straight back (setns with CLONE_NEWNET only affects the calling thread).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from netladder.errors import UsageError
from netladder.net.sockets import socket_in

__all__ = ["Vantage", "require_local", "resolve_vantage", "route_source"]

NETNS_DIR = Path("/run/netns")


@dataclass(frozen=True, slots=True)
class Vantage:
    """The place a connection starts: `netns` (a path) or this machine, optionally bound to a
    local source address."""

    label: str
    netns: str | None = None
    source: str | None = None

    @property
    def is_local(self) -> bool:
        """Connections from here take the OUTPUT hook, not PREROUTING."""
        return self.netns is None

    def socket(self, family: int, kind: int) -> socket.socket:
        sock = socket_in(self.netns, family, kind)
        try:
            if self.source is not None:
                sock.bind((self.source, 0))
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        return sock


def resolve_vantage(text: str | None) -> Vantage:
    """`--from`: a namespace name (as in `ip netns`), a lab node name, a namespace path, or a
    local source address."""
    if text is None or text in ("", "self", "local"):
        return Vantage("this machine")
    if _is_address(text):
        require_local(text, "--from")
        return Vantage(f"this machine (source {text})", source=text)
    if "/" in text:
        if Path(text).exists():
            return Vantage(f"namespace {text}", netns=text)
        raise UsageError("--from {text!r}: no such namespace file", text=text)
    if (NETNS_DIR / text).exists():
        return Vantage(f"namespace {text}", netns=str(NETNS_DIR / text))
    # A lab node's short name: nl-<lab>-<node>.
    try:
        names = os.listdir(NETNS_DIR)
    except OSError:
        names = []
    matches = [
        n for n in names if n.startswith("nl-") and n.endswith(f"-{text}") and n.count("-") == 2
    ]
    if len(matches) == 1:
        return Vantage(f"namespace {matches[0]}", netns=str(NETNS_DIR / matches[0]))
    raise UsageError(
        "--from {text!r}: not a network namespace (ip netns list) nor an address", text=text
    )


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def require_local(address: str, option: str) -> None:
    """UsageError unless `address` is one of this machine's: binding to it is the test, the
    same one a connection from it meets (curl --interface: "Cannot assign requested address")."""
    from netladder.net.sockets import open_udp

    if not _is_address(address):
        raise UsageError(
            "{option} {address!r}: give an IP address of this machine",
            option=option,
            address=address,
        )
    try:
        open_udp(ipaddress.ip_address(address).version, source=address).close()
    except UsageError:
        raise UsageError(
            "{option} {address}: not an address of this machine (see ip addr)",
            option=option,
            address=address,
        ) from None


def route_source(vantage: Vantage, destination: str) -> str | None:
    """The source address the vantage's routing picks towards `destination` (no packet is sent:
    connecting a UDP socket only looks up the route)."""
    address = ipaddress.ip_address(destination)
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    try:
        sock = vantage.socket(family, socket.SOCK_DGRAM)
    except OSError:
        return None
    with sock:
        try:
            sock.connect((destination, 9))
        except OSError:
            return None
        return str(sock.getsockname()[0])
