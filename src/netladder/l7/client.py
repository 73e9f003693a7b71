"""The HTTP check's engine coroutine.

    check = await http_check(HttpOptions("https://www.example.test/", resolve=...))
    check.ok, check.final.status, check.final.timings.server, check.final.tls, check.findings

`http_check` drives one `l7.session.HttpSession` with `net.driver.run` (under asyncio or the
CLI's selector alike) and never raises for network trouble: a failure is a `Failure` (phase,
cause) inside the result, so a caller always gets the evidence gathered up to it.  A URL that
is not one raises ValueError (`l7.parse`, re-exported here); `api.http` is the public entry.
"""

from __future__ import annotations

from collections.abc import Callable

from netladder.l7.model import MAX_BODY, Hop, HttpCheck, HttpOptions
from netladder.l7.parse import (
    join_location,
    parse_expect,
    parse_header,
    parse_resolve,
    parse_slo,
    parse_url,
    wire_text,
)
from netladder.l7.session import HttpSession
from netladder.net.driver import prepare_tls, run

__all__ = [
    "MAX_BODY",
    "Hop",
    "HttpCheck",
    "HttpOptions",
    "http_check",
    "join_location",
    "parse_expect",
    "parse_header",
    "parse_resolve",
    "parse_slo",
    "parse_url",
    "wire_text",
]


async def http_check(
    options: HttpOptions, *, on_hop: Callable[[Hop], None] | None = None
) -> HttpCheck:
    """Fetch `options.url` (following redirects with `follow`), then judge the final response
    against `expect` and `slo`.  Never raises for network trouble; ValueError for a URL that is
    not one.  `on_hop` sees each hop as it completes (so an interrupted run can show what it
    has); Ctrl-C under the CLI's selector returns the hops so far (`interrupted`)."""
    url = parse_url(options.url)
    if url.scheme == "https":
        # Local set-up before the clock starts, so that the phases measure the network and
        # the handshake rather than loading the CA store or the h2 modules.
        prepare_tls(not options.insecure, options.cacert, _alpn(options))
        if options.http2:
            import h2.connection  # noqa: F401
    session = HttpSession(options, url)

    def hop_done(_session: object, event: object) -> None:
        if on_hop is not None and isinstance(event, Hop):
            on_hop(event)

    await run([session], hop_done)
    return session.result()


def _alpn(options: HttpOptions) -> tuple[str, ...]:
    return ("h2", "http/1.1") if options.http2 else ("http/1.1",)
