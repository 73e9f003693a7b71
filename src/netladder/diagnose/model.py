"""The result of a diagnosis: one rung per layer with its evidence, and the verdict.

This is the `--json` schema of `netladder diagnose` (documented in the README, "The ladder", and
pinned by test_json_schema_is_pinned in tests/test_diagnose.py):

    {
      "target": str, "address": str | null, "ok": bool, "elapsed_ms": float,
      "verdict": {"layer": str | null, "text": str, "next_command": str | null},
      (verdict.layer is null when every layer passed, "interrupted" after Ctrl-C)
      "layers": [
        {"layer": "names" | "route" | "l2" | "l3" | "path" | "l4" | "l7",
         "status": "pass" | "fail" | "warn" | "skip",
         "summary": str, "elapsed_ms": float, "next_command": str | null,
         "evidence": {...layer-specific...}}
      ]
    }
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["LAYERS", "Diagnosis", "Rung", "Status"]

# Bottom-up, as the ladder is walked; names come first because nothing else can start without
# an address.
LAYERS = ("names", "route", "l2", "l3", "path", "l4", "l7")
LAYER_TITLES = {
    "names": "names",
    "route": "routing",
    "l2": "L2",
    "l3": "L3",
    "path": "path",
    "l4": "L4",
    "l7": "L7",
}


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"  # works, with something worth knowing (ICMP blocked, lint findings), or could
    # not be checked (evidence["not_checked"] says why: a missing privilege)
    SKIP = "skip"  # not run: not needed, not possible, or a lower rung already failed


@dataclass(frozen=True, slots=True)
class Rung:
    layer: str
    status: Status
    summary: str
    elapsed_ms: float = 0.0
    next_command: str | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Verdict:
    layer: str | None  # None: every layer passed; "interrupted" after Ctrl-C
    text: str
    next_command: str | None = None


@dataclass(frozen=True, slots=True)
class Diagnosis:
    target: str
    address: str | None
    rungs: tuple[Rung, ...]
    verdict: Verdict
    elapsed_ms: float

    @property
    def ok(self) -> bool:
        return self.verdict.layer is None

    def as_dict(self) -> dict[str, Any]:
        from netladder.output import to_jsonable

        return {
            "target": self.target,
            "address": self.address,
            "ok": self.ok,
            "elapsed_ms": round(self.elapsed_ms, 3),
            "verdict": to_jsonable(self.verdict),
            "layers": [to_jsonable(r) for r in self.rungs],
        }
