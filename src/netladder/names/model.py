"""The name probers' options and results (issue 14): frozen records, seconds for durations.

Two blocks, one per area that owns them: STUN and the public-address sources (area E) first,
then DNS (area F) below its own comment line.
"""

from __future__ import annotations

from typing import Any, ClassVar

from netladder.l7.model import Failure
from netladder.model import field, json_ms, json_skip, json_text, record

__all__ = ["SourceFailure", "StunOptions", "StunResult"]

# -- STUN and the public-address sources (area E) -------------------------------------------


@record
class StunOptions:
    """One STUN Binding exchange (RFC 8489 §3): `server` is HOST, HOST:PORT, [IPv6]:PORT, a bare
    IPv6 address or a stun: URI (RFC 7064); port 3478 by default."""

    server: str
    version: int | None = None  # keep the lookup (and so the exchange) to IPv4 or IPv6
    timeout: float = 3.0


@record
class SourceFailure:
    """Why a public-address source (an HTTP echo, a STUN server) gave no address: a stable
    kind and the values its sentence names (`render/myip.py`); for an echo, `http` is the HTTP
    check's own failure behind it.  A deadline or Ctrl-C that cut the exchange is `cut`
    ("timeout" or "interrupted") after `after` seconds."""

    kind: str
    params: tuple[tuple[str, Any], ...] = ()
    http: Failure | None = None
    cut: str | None = None
    after: float | None = None

    def param(self, name: str, default: Any = None) -> Any:
        for key, value in self.params:
            if key == name:
                return value
        return default


@record
class StunResult:
    """What one STUN server said: the public address and port it saw (XOR-)MAPPED-ADDRESS),
    beside our end of the same exchange, or why there is none."""

    __json_order__: ClassVar[tuple[str, ...]] = ("endpoint", "ok")

    endpoint: str  # host:port as asked
    server: str | None = None  # the address asked
    address: str | None = None  # the public address the server saw
    port: int | None = None  # and the port
    local_address: str | None = None  # our end of the exchange
    local_port: int | None = None
    time: float | None = field(default=None, metadata=json_ms("time_ms", 3))
    requests: int = 0  # Binding requests sent (one, then retransmissions: RFC 8489 §6.2.1)
    ignored: int = 0  # datagrams that answered another transaction, or nothing parseable
    error: SourceFailure | None = field(default=None, metadata=json_text())
    interrupted: bool = field(default=False, metadata=json_skip())

    @property
    def ok(self) -> bool:
        return self.address is not None and self.error is None


# -- DNS (area F) ----------------------------------------------------------------------------
