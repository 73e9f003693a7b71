"""Every line of `netladder codes`: the table of codes (for all of them, or one class) and one
code's meaning, when to choose it and which well-known APIs document it."""

from __future__ import annotations

from collections.abc import Iterator

from netladder.i18n import N_, _
from netladder.l7.codes import CodeClass, CodeDetail, CodeSummary, CodeTable
from netladder.output import paint

__all__ = ["lines"]

# The classes' names (RFC 9110 §15; l7/codes.py CLASSES), said in the chosen language.
CLASS_NAMES = (
    N_("Informational"),
    N_("Successful"),
    N_("Redirection"),
    N_("Client Error"),
    N_("Server Error"),
)

TEMPLATES: dict[str, str] = {
    "usage": N_("  (usage: how many of {count} APIs in REFERENCE.md document the code)"),
    "unregistered": N_("{code}: not a registered status code; treat it as {cls} ({section})"),
    "not-standard": N_("  (not a standard code to use)"),
    "when": N_("  when: {choose}"),
    "used-by": N_("  used by {count} of {total} well-known APIs: {apis}"),
    "used-by-none": N_("  used by {count} of {total} well-known APIs"),
    "added-by": N_("  (also in the current docs of {apis})"),
}


def lines(result: CodeTable | CodeClass | CodeDetail) -> Iterator[str]:
    if isinstance(result, CodeTable):
        yield from _table(result.codes, len(result.apis))
    elif isinstance(result, CodeClass):
        yield paint(f"{result.pattern} {_(result.name)}", "bold") + f"  ({result.section})"
        yield from _table(result.codes, result.apis_total)
    else:
        yield from _detail(result)


def _table(entries: tuple[CodeSummary, ...], apis: int) -> Iterator[str]:
    for entry in entries:
        bar = "■" * entry.used_by_count
        name = entry.name if entry.standard else paint(entry.name, "dim")
        yield (
            f"  {entry.code}  {name:<32} {entry.section:<30} {entry.used_by_count:>2}/{apis} "
            f"{paint(bar, 'green')}"
        )
    yield paint(_(TEMPLATES["usage"]).format(count=apis), "dim")


def _detail(d: CodeDetail) -> Iterator[str]:
    t = TEMPLATES
    if d.name is None:
        yield _(t["unregistered"]).format(code=d.code, cls=_(d.class_name), section=d.class_section)
        return
    yield (
        paint(f"{d.code} {d.name}", "bold")
        + f"  {_(d.class_name)}, {d.section}"
        + ("" if d.standard else _(t["not-standard"]))
    )
    assert d.meaning is not None  # a registered code has its meaning
    yield f"  {_(d.meaning)}"
    if d.choose:
        yield _(t["when"]).format(choose=_(d.choose))
    if d.used_by:
        yield _(t["used-by"]).format(
            count=len(d.used_by), total=d.apis_total, apis=", ".join(d.used_by)
        )
    else:
        yield _(t["used-by-none"]).format(count=0, total=d.apis_total)
    if d.added_by:
        yield _(t["added-by"]).format(apis=", ".join(d.added_by))
