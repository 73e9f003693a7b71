"""`api.diagnose`: the whole ladder for one target (DiagnoseOptions) — each layer's own check,
its typed evidence and the verdict that names the first failing layer, as a Diagnosis."""

from __future__ import annotations

from netladder.diagnose.engine import DiagnoseOptions, Progress, options_for
from netladder.diagnose.engine import diagnose as _walk
from netladder.diagnose.model import Diagnosis, Rung, Status, Verdict
from netladder.diagnose.target import Target, parse_target

# `parse_target` reads a target as `diagnose` does (UsageError), for callers that check it
# before the ladder runs (serve's allowlist).
__all__ = [
    "DiagnoseOptions",
    "Diagnosis",
    "Progress",
    "Rung",
    "Status",
    "Target",
    "Verdict",
    "diagnose",
    "parse_target",
]


async def diagnose(options: DiagnoseOptions, *, progress: Progress | None = None) -> Diagnosis:
    """Walk the ladder: names, then route, L2, L3 (and full-size echoes) and L4 at once, the
    path when L3 is lossy, slow or silent (or `deep`), then L7 for a URL.  A target that cannot
    be read, or options out of range, raise UsageError; everything else — a name that does not
    resolve, a missing privilege for one layer (that rung says "not checked"), a dead host —
    is the Diagnosis.  Ctrl-C raises KeyboardInterrupt; `progress` then holds what was gathered
    (`progress.partial()` is the interrupted Diagnosis)."""
    target, ladder = options_for(options)
    return await _walk(target, ladder, progress)
