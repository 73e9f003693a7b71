"""Prometheus's text exposition format (version 0.0.4), written by hand: a registry of metric
families, each with its samples, rendered the way client_golang's promhttp renders them —
families sorted by name, samples by label values, `# HELP` and `# TYPE` before each.

Label values are escaped as the format requires (backslash, double quote, line feed); help
text escapes backslash and line feed.  Values print as Go's strconv 'g' does where it matters
to a reader (integers without a fraction, `+Inf`, `NaN`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["CONTENT_TYPE", "Family", "Registry", "fmt_value"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_INF = float("inf")


def fmt_value(value: float) -> str:
    if value.__class__ is float:  # every sample is (Family stores float(value)): no int() probe
        if value.is_integer():  # NaN and ±Inf are not
            return str(int(value)) if -1e15 < value < 1e15 else repr(value)
        if value != value:
            return "NaN"
        if value == _INF or value == -_INF:
            return "+Inf" if value > 0 else "-Inf"
        return repr(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _label_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


_HEADS: dict[tuple[str, str, str], str] = {}


def _head(name: str, help: str, type: str) -> str:
    """A family's `# HELP` and `# TYPE` lines: every probe renders the same few families, so
    each pair is written once (the names and help texts are the code's own, a bounded set)."""
    key = (name, help, type)
    head = _HEADS.get(key)
    if head is None:
        head = f"# HELP {name} {_help(help)}\n# TYPE {name} {type}"
        if len(_HEADS) < 4096:
            _HEADS[key] = head
    return head


@dataclass(slots=True)
class Family:
    name: str
    help: str
    type: str  # gauge | counter | histogram | untyped
    labels: tuple[str, ...] = ()
    samples: dict[tuple[str, ...], float] = field(default_factory=dict)
    # histogram: per label set, (bucket upper bounds → cumulative counts, sum, count)
    buckets: tuple[float, ...] = ()
    histograms: dict[tuple[str, ...], tuple[list[int], float, int]] = field(default_factory=dict)

    def set(self, value: float, *label_values: str) -> None:
        self._check(label_values)
        self.samples[label_values] = float(value)

    def add(self, value: float, *label_values: str) -> None:
        self._check(label_values)
        self.samples[label_values] = self.samples.get(label_values, 0.0) + float(value)

    def touch(self, *label_values: str) -> None:
        """Create the series at 0 if absent (blackbox pre-creates its phase labels)."""
        self._check(label_values)
        self.samples.setdefault(label_values, 0.0)

    def get(self, *label_values: str) -> float | None:
        return self.samples.get(label_values)

    def observe(self, value: float, *label_values: str) -> None:
        self._check(label_values)
        counts, total, n = self.histograms.get(label_values, ([0] * len(self.buckets), 0.0, 0))
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                counts[i] += 1
        self.histograms[label_values] = (counts, total + value, n + 1)

    def _check(self, label_values: Sequence[str]) -> None:
        if len(label_values) != len(self.labels):
            raise ValueError(f"{self.name}: {len(self.labels)} label values expected")

    def _labels(self, values: Sequence[str], extra: tuple[str, str] | None = None) -> str:
        pairs = [f'{k}="{_label_value(v)}"' for k, v in zip(self.labels, values, strict=True)]
        if extra is not None:
            pairs.append(f'{extra[0]}="{extra[1]}"')
        return "{" + ",".join(pairs) + "}" if pairs else ""

    def render(self) -> list[str]:
        if not self.samples and not self.histograms:
            return []
        name = self.name
        out = [_head(name, self.help, self.type)]
        samples = self.samples
        if not self.labels:  # one sample at most, and no label text to build
            out += [f"{name} {fmt_value(value)}" for value in samples.values()]
        else:
            out += [
                f"{name}{self._labels(values)} {fmt_value(samples[values])}"
                for values in sorted(samples)
            ]
        for values in sorted(self.histograms):
            counts, total, n = self.histograms[values]
            for bound, count in zip(self.buckets, counts, strict=True):
                le = ("le", fmt_value(bound))
                out.append(f"{name}_bucket{self._labels(values, le)} {count}")
            out.append(f"{name}_bucket{self._labels(values, ('le', '+Inf'))} {n}")
            out.append(f"{name}_sum{self._labels(values)} {fmt_value(total)}")
            out.append(f"{name}_count{self._labels(values)} {n}")
        return out


class Registry:
    """The metric families of one probe (or of the exporter itself)."""

    def __init__(self) -> None:
        self.families: dict[str, Family] = {}

    def family(
        self,
        name: str,
        help: str,
        type: str = "gauge",
        labels: tuple[str, ...] = (),
        buckets: tuple[float, ...] = (),
    ) -> Family:
        """The family called `name`, registered on first use (a second call returns it)."""
        found = self.families.get(name)
        if found is None:
            found = self.families[name] = Family(name, help, type, labels, buckets=buckets)
        return found

    def gauge(self, name: str, help: str, labels: tuple[str, ...] = ()) -> Family:
        """A gauge; one without labels is created at 0, as client_golang registers it."""
        fam = self.family(name, help, "gauge", labels)
        if not labels:
            fam.touch()
        return fam

    def value(self, name: str, *label_values: str) -> float | None:
        fam = self.families.get(name)
        return None if fam is None else fam.get(*label_values)

    def render(self) -> str:
        lines: list[str] = []
        for name in sorted(self.families):
            lines.extend(self.families[name].render())
        return "\n".join(lines) + "\n" if lines else ""
