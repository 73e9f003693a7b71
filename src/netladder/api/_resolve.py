"""`api.resolve`: a name at DNS servers (ResolveOptions), the system resolver beside direct
queries (CompareOptions), or one raw exchange (ExchangeOptions) — one function, typed by the
options it is given.  The records it takes and returns are re-exported here for callers that
reach the engines only through the API (serve)."""

from __future__ import annotations

from typing import overload

from netladder.names import lookup
from netladder.names.model import (
    Attempt,
    CompareOptions,
    Comparison,
    Exchange,
    ExchangeOptions,
    Record,
    Resolution,
    ResolveOptions,
    Server,
    Status,
)

__all__ = [
    "Attempt",
    "CompareOptions",
    "Comparison",
    "Exchange",
    "ExchangeOptions",
    "Record",
    "Resolution",
    "ResolveOptions",
    "Server",
    "Status",
    "resolve",
]


@overload
async def resolve(options: ResolveOptions) -> Resolution: ...
@overload
async def resolve(options: CompareOptions) -> Comparison: ...
@overload
async def resolve(options: ExchangeOptions) -> Exchange: ...


async def resolve(
    options: ResolveOptions | CompareOptions | ExchangeOptions,
) -> Resolution | Comparison | Exchange:
    """Resolve as the options say (names/model.py documents each).  Bad input raises
    UsageError; what the servers did — or did not do — is the result."""
    if isinstance(options, ExchangeOptions):
        return await lookup.exchange(options)
    if isinstance(options, CompareOptions):
        return await lookup.compare(options)
    return await lookup.resolve(options)
