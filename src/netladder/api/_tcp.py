"""`dialogue`: a line dialogue over TCP — blackbox's tcp prober (query_response) on the one
driver; `netladder serve`'s tcp prober is its caller."""

from __future__ import annotations

from netladder.errors import UsageError
from netladder.l4.dialogue import DialogueSession
from netladder.l4.model import (
    DialogueEnd,
    DialogueKind,
    DialogueOptions,
    DialogueResult,
    DialogueStep,
)
from netladder.net.driver import run

__all__ = [
    "DialogueEnd",
    "DialogueKind",
    "DialogueOptions",
    "DialogueResult",
    "DialogueStep",
    "dialogue",
]


async def dialogue(options: DialogueOptions) -> DialogueResult:
    """Connect to `options.address` (an address, not a name) and run its steps within
    `options.timeout` seconds.  A refused connect, a failed handshake, a line that never
    matched or the timeout is `DialogueResult.end`, never an exception; UsageError for
    options that cannot be run."""
    if not options.timeout > 0:
        raise UsageError("the timeout must be positive, not {timeout:g} s", timeout=options.timeout)
    if not 0 < options.port < 65536:
        raise UsageError("the port must be 1-65535, not {port}", port=options.port)
    session = DialogueSession(options)
    await run([session])
    return session.result()
