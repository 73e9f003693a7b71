"""netladder's public API: one async function per prober (issue 14; README "Library").

    from netladder import api
    from netladder.l3.model import PingOptions

    results = await api.ping(PingOptions(targets=("www.lab",), count=3))

Each function takes one frozen options record and returns frozen result records; durations
are seconds (float) everywhere; `netladder.output.to_jsonable(result)` is the command's JSON.
Bad input raises `UsageError` (a name that does not resolve: `ResolveError`), a missing
privilege `EnvError`; everything met after probing started — no reply, a closed port, an HTTP
failure — is part of the result.  The functions await only `net.driver.run` and
`net.driver.lookup`, so they run on any asyncio loop, many at once, and from synchronous code
through `netladder.net.driver.blocking(api.ping(...))` without asyncio at all.

Importing this package imports nothing else: each name loads its module (`api/_<name>.py`)
when first used.  The modules are private on purpose: a submodule named like its function
would replace the function on the package the moment anyone imported the submodule.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["arp", "diagnose", "http", "ping", "resolve", "scan", "stun", "sweep", "trace"]

if TYPE_CHECKING:  # the names for type checkers; at run time __getattr__ loads each on use
    from netladder.api._arp import arp
    from netladder.api._diagnose import diagnose
    from netladder.api._http import http
    from netladder.api._ping import ping
    from netladder.api._resolve import resolve
    from netladder.api._scan import scan
    from netladder.api._stun import stun
    from netladder.api._sweep import sweep
    from netladder.api._trace import trace


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module_name = f"{__name__}._{name}"
    module = importlib.import_module(module_name)
    function = getattr(module, name)
    globals()[name] = function  # later lookups skip this hook
    return function


def __dir__() -> list[str]:
    return sorted(__all__)
