"""`api.stun`: one STUN Binding exchange — the public address and port a server saw."""

from __future__ import annotations

from netladder.errors import UsageError
from netladder.names.model import StunOptions, StunResult
from netladder.names.myip import parse_stun_endpoint
from netladder.names.stun import StunSession
from netladder.net.driver import run

__all__ = ["StunOptions", "StunResult", "stun"]


async def stun(options: StunOptions) -> StunResult:
    """Ask `options.server` what address it sees us from (RFC 8489 Binding), retransmitting
    until `timeout`.  No answer, an ICMP port unreachable, a STUN error or a malformed answer
    is `StunResult.error`, never an exception; UsageError for a server that cannot be one."""
    endpoint = parse_stun_endpoint(options.server)
    if options.version not in (None, 4, 6):
        raise UsageError("version must be 4 or 6, not {version!r}", version=options.version)
    if not options.timeout > 0:
        raise UsageError("the timeout must be positive, not {timeout:g} s", timeout=options.timeout)
    session = StunSession(
        endpoint.host, endpoint.port, timeout=options.timeout, version=options.version
    )
    await run([session])
    return session.result()
