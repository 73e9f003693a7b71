"""The one target resolver: what every command accepts as a host, and the address it probes.

One validation for every command: an address literal (IPv4, IPv6, `[v6]`, `fe80::1%eth0`) is
taken as is; anything else must be a syntactically valid host name (RFC 1123 labels, at most
253 characters; `_` tolerated as resolvers do) before any resolver is asked — so `300.1.2.3` or
`a b` is bad input (exit 2), never a DNS query.  Names go through getaddrinfo(3), the system
resolver every program here uses (/etc/hosts, nsswitch, DNS), once, first answer first (like
ping), or with blackbox_exporter's preference (`prefer=6`, falling back to the other family).

The async form runs getaddrinfo in a daemon thread and stops waiting after `wait` seconds: a
lookup that hangs (no resolver reachable) must not hold a probe, a scrape or the interpreter's
exit.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

from netladder.errors import UsageError

__all__ = [
    "ResolveError",
    "Target",
    "check_host",
    "literal",
    "literal_target",
    "resolve",
    "scope_index",
    "split_host_port",
    "start_lookup",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class ResolveError(UsageError):
    """A valid name that does not resolve (NXDOMAIN, no address of the asked family, timeout).

    A usage error for one-shot commands (ping: exit 2, as iputils); a result for the callers that
    report it as one (diagnose's names rung, serve's probe_success 0)."""

    def __init__(self, name: str, reason: str, code: int | None = None) -> None:
        self.name = name
        self.reason = reason
        self.code = code  # getaddrinfo's EAI_* error, when it said one
        super().__init__("{name}: {reason}", name=name, reason=reason)


class Target(NamedTuple):
    """What the user typed and the address it stands for."""

    name: str  # as typed (without brackets); equal to address for a normalised literal
    address: str  # normalised, without the scope
    version: int
    scope: str | None = None  # the zone of a link-local IPv6 literal (`%eth0`)
    lookup_s: float = 0.0  # how long the resolver took (0 for a literal)
    # With Lookup(every=True): every address getaddrinfo gave (in its order, once each) and
    # the canonical name it reported (AI_CANONNAME), as `getent ahosts` shows them.
    addresses: tuple[str, ...] = ()
    canonical: str | None = None

    @property
    def is_literal(self) -> bool:
        return self.lookup_s == 0.0  # a name always took some time to resolve

    @property
    def family(self) -> int:
        return socket.AF_INET if self.version == 4 else socket.AF_INET6


@functools.lru_cache(maxsize=1024)
def literal(text: str) -> IPAddress | None:
    """The address a literal names (`[...]` and `%scope` allowed), None for anything else.
    Cached: an exporter parses the same few targets for every probe."""
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        return ipaddress.ip_address(bare.split("%", 1)[0])
    except ValueError:
        return None


def scope_index(scope: str) -> int:
    """An interface name or number — the `%scope` of a link-local address, or -I — as the
    interface index a sockaddr_in6 carries (sin6_scope_id)."""
    try:
        if scope.isascii() and scope.isdigit():
            socket.if_indextoname(int(scope))  # it must exist
            return int(scope)
        return socket.if_nametoindex(scope)
    except OSError:
        raise UsageError("unknown interface {device!r}", device=scope) from None


def check_host(text: str, where: str | None = None) -> str:
    """`text` when it is an address literal or a valid host name; UsageError otherwise."""
    if not text:
        if where:
            raise UsageError("{where}: no host", where=where)
        raise UsageError("no target given")
    if literal(text) is not None:
        return text
    name = text[:-1] if text.endswith(".") else text
    labels = name.split(".")
    bad = (
        not name
        or len(name) > 253
        or text.startswith(("-", "."))
        or any(not part or len(part) > 63 for part in labels)
        or any(not all(c.isascii() and (c.isalnum() or c in "-_") for c in part) for part in labels)
        or name.replace(".", "").isdigit()
    )  # 300.1.2.3: a bad address, not a name
    if bad:
        if where:
            raise UsageError(
                "{where}: {text!r} is not a valid host name or address", where=where, text=text
            )
        raise UsageError("invalid target {text!r}", text=text)
    return text


def split_host_port(text: str, where: str | None = None) -> tuple[str, int | None]:
    """`host`, `host:port`, `[v6]`, `[v6]:port`, or a bare IPv6 literal (no port)."""
    label = where or f"target {text!r}"
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise UsageError("{where}: missing ']'", where=label)
        host, rest = text[1:end], text[end + 1 :]
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise UsageError("{where}: expected ':PORT' after ']'", where=label)
        return host, port_number(rest[1:], label)
    if text.count(":") == 1:
        host, port = text.split(":")
        return host, port_number(port, label)
    return text, None


def port_number(text: str, where: str) -> int:
    """A TCP/UDP port, 1-65535, in ASCII digits only (`٢٢` is not 22)."""
    if not text or not text.isascii() or not text.isdigit():
        raise UsageError("{where}: port {text!r} is not a number", where=where, text=text)
    port = int(text)
    if not 0 < port < 65536:
        raise UsageError("{where}: port {port} is outside 1-65535", where=where, port=port)
    return port


def _from_literal(text: str, address: IPAddress, version: int | None) -> Target:
    if version is not None and address.version != version:
        raise UsageError("{text}: not an IPv{version} address", text=text, version=version)
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    scope = bare.split("%", 1)[1] if "%" in bare else None
    normal = str(address)
    return Target(
        normal if bare.split("%", 1)[0] == normal else bare, normal, address.version, scope
    )


def _pick(
    name: str,
    infos: Sequence[tuple[object, ...]],
    version: int | None,
    prefer: int | None,
    fallback: bool,
) -> tuple[str, int]:
    found: list[tuple[str, int]] = []
    for info in infos:
        family, sockaddr = info[0], info[4]
        if family in (socket.AF_INET, socket.AF_INET6):
            found.append((str(sockaddr[0]), 4 if family == socket.AF_INET else 6))  # type: ignore[index]
    if version is not None:
        found = [f for f in found if f[1] == version]
    if prefer is not None:
        preferred = [f for f in found if f[1] == prefer]
        if preferred:
            return preferred[0]
        if not fallback:
            raise ResolveError(name, f"no IPv{prefer} address")
    if not found:
        raise ResolveError(name, "no address" if version is None else f"no IPv{version} address")
    return found[0]


def _gai_reason(exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror):
        return exc.strerror or str(exc)
    return "invalid name"


def resolve(
    text: str, version: int | None = None, *, prefer: int | None = None, fallback: bool = True
) -> Target:
    """The target to probe (synchronous: the one-shot CLI)."""
    address = literal(text)
    if address is not None:
        return _from_literal(text, address, version)
    check_host(text)
    family = {4: socket.AF_INET, 6: socket.AF_INET6}.get(version or 0, socket.AF_UNSPEC)
    started = time.monotonic()
    try:
        infos = socket.getaddrinfo(text, None, family, socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ResolveError(text, _gai_reason(exc)) from None
    found, found_version = _pick(text, infos, version, prefer, fallback)
    return Target(text, found, found_version, None, max(time.monotonic() - started, 1e-9))


def literal_target(text: str, version: int | None = None) -> Target | None:
    """The target a literal address names; None for a valid host name (which needs a lookup);
    UsageError for what is neither."""
    address = literal(text)
    if address is None:
        check_host(text)
        return None
    return _from_literal(text, address, version)


def start_lookup(
    text: str,
    version: int | None,
    prefer: int | None,
    fallback: bool,
    deliver: Callable[[Target | ResolveError], None],
    every: bool = False,
) -> None:
    """Look a valid host name up in a daemon thread and call `deliver` from that thread with
    the target or why it does not resolve.  A daemon thread, not an executor: a lookup that
    never returns (no resolver reachable) must not keep the interpreter from exiting; the
    caller stops waiting after its own deadline (net.driver's Lookup).
    `every`: the target also lists every address and the canonical name (AI_CANONNAME)."""
    import threading

    family = {4: socket.AF_INET, 6: socket.AF_INET6}.get(version or 0, socket.AF_UNSPEC)
    flags = socket.AI_CANONNAME if every else 0
    started = time.monotonic()

    def work() -> None:
        outcome: Target | ResolveError
        try:
            infos = socket.getaddrinfo(text, None, family, socket.SOCK_STREAM, 0, flags)
            found, found_version = _pick(text, infos, version, prefer, fallback)
            outcome = Target(
                text, found, found_version, None, max(time.monotonic() - started, 1e-9)
            )
            if every:
                outcome = outcome._replace(
                    addresses=tuple(dict.fromkeys(str(info[4][0]) for info in infos)),
                    canonical=next((str(info[3]) for info in infos if info[3]), None),
                )
        except (socket.gaierror, UnicodeError) as exc:
            code = exc.errno if isinstance(exc, socket.gaierror) else None
            outcome = ResolveError(text, _gai_reason(exc), code)
        except ResolveError as exc:
            outcome = exc
        deliver(outcome)

    threading.Thread(target=work, daemon=True, name="getaddrinfo").start()
