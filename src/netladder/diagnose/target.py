"""What the user asked to diagnose: a host, `host:port`, `[v6]:port` or a URL."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from netladder.errors import UsageError

__all__ = ["Target", "parse_target"]

SCHEME_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Target:
    text: str
    host: str
    ports: tuple[int, ...]
    url: str | None = None  # set for http(s) targets: the L7 rung runs

    @property
    def is_address(self) -> bool:
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            return False
        return True


def _port(text: str, target: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise UsageError(
            "target {target!r}: port {port!r} is not a number", target=target, port=text
        ) from None
    if not 0 < port < 65536:
        raise UsageError(
            "target {target!r}: port {port} is outside 1-65535", target=target, port=port
        )
    return port


def _check_host(host: str, target: str) -> str:
    if not host:
        raise UsageError("target {target!r}: no host", target=target)
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    name = host.rstrip(".")
    labels = name.split(".")
    if (
        len(name) > 253
        or any(not label or len(label) > 63 for label in labels)
        or any(not all(c.isalnum() or c in "-_" for c in label) for label in labels)
    ):
        raise UsageError(
            "target {target!r}: {host!r} is not a valid host name", target=target, host=host
        )
    return host


def parse_target(text: str, ports: tuple[int, ...] = ()) -> Target:
    """Parse TARGET; `ports` (from --port) override or add to what the target names."""
    if "://" in text:
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        if scheme not in SCHEME_PORTS:
            raise UsageError(
                "target {target!r}: unsupported scheme {scheme!r} (use http or https)",
                target=text,
                scheme=scheme,
            )
        try:
            url_port = parts.port
        except ValueError:
            raise UsageError("target {target!r}: invalid port", target=text) from None
        host = _check_host(parts.hostname or "", text)
        port = url_port or SCHEME_PORTS[scheme]
        return Target(text, host, ports or (port,), text)
    host, port_text = text, None
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise UsageError("target {target!r}: missing ']'", target=text)
        host, rest = text[1:end], text[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise UsageError("target {target!r}: expected ':PORT' after ']'", target=text)
            port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    host = _check_host(host, text)
    found = (_port(port_text, text),) if port_text is not None else ()
    return Target(text, host, tuple(dict.fromkeys(found + ports)))
