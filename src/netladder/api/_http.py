"""`api.http`: one HTTP check — curl's phases, redirects, TLS details, the RFC 9110 lint."""

from __future__ import annotations

import os
from collections.abc import Callable

from netladder.errors import UsageError
from netladder.l7.client import http_check, parse_url
from netladder.l7.model import MAX_BODY, SLO_KEYS, Hop, HttpCheck, HttpOptions
from netladder.proto import http1

# The records and helpers a caller that reaches the engines only through the API (serve) needs.
__all__ = ["MAX_BODY", "Hop", "HttpCheck", "HttpOptions", "http", "parse_url"]


async def http(options: HttpOptions, *, on_hop: Callable[[Hop], None] | None = None) -> HttpCheck:
    """Fetch `options.url` and judge the answer (status against `expect`, phases against
    `slo`, and with `strict_lint` the MUST-level findings).  Everything met once the check
    started is in the result: a failure is `HttpCheck.error` (its phase and cause), never an
    exception.  UsageError for options that cannot make a check.  `on_hop` sees each request
    as it completes."""
    check_options(options)
    return await http_check(options, on_hop=on_hop)


def check_options(o: HttpOptions) -> None:
    """The semantic checks shared by every caller (the CLI words its own first)."""
    try:
        parse_url(o.url)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if not http1.is_token(o.method):
        raise UsageError("bad method {method!r}", method=o.method)
    if not o.timeout > 0:
        raise UsageError("the timeout must be positive, not {timeout:g} s", timeout=o.timeout)
    if o.max_redirs < 0 or o.max_body < 0 or o.keep_body < 0:
        raise UsageError("max_redirs, max_body and keep_body cannot be negative")
    for low, high in o.expect:
        if not 100 <= low <= high <= 599:
            raise UsageError(
                "bad expected status range {low}-{high} (100..599)", low=low, high=high
            )
    for key, limit in o.slo:
        if key not in SLO_KEYS or not limit > 0:
            raise UsageError(
                "bad slo {key}={limit!r} (keys: {keys}; seconds > 0)",
                key=key,
                limit=limit,
                keys=", ".join(SLO_KEYS),
            )
    if o.cacert is not None and not os.path.isfile(o.cacert):
        raise UsageError("cacert {path!r}: no such file", path=o.cacert)
