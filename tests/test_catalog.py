"""The Korean catalog is complete, its placeholders are its sources', it is not stale, and the
compiled `.mo` is the `.po` (issue 16).

`make messages` re-extracts and updates the catalog; these tests say when that is due, and
what a translator still owes.  Messages only found in PENDING's files (the areas still moving
their sentences into `render/`; issue 16's final pass translates them) may be missing or
untranslated for now: the list says so, and only shrinks.
"""

from __future__ import annotations

import gettext
import importlib.util
import io
import re
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "src" / "netladder" / "locale" / "ko" / "LC_MESSAGES" / "netladder.po"
MO = PO.with_suffix(".mo")

# Files whose messages the final pass of issue 16 translates, once their areas have merged.
PENDING: tuple[str, ...] = ()

# Messages whose Korean is the English, word for word: a command's name before its own words,
# and the ICMP messages' names, which Korean texts quote as they are (trace's "what answered").
SAME_IN_KOREAN = {
    "netladder dns: {what}",
    "netladder http: {error}",
    "netladder http: {message}",
    "diagnose {target}{address}",
    '"fragmentation needed"',
    '"packet too big"',
    "fragmentation needed",
    "packet too big",
    "packet too big (MTU {mtu})",
    "time exceeded",
    "port unreachable",
    "echo reply",
}

babel = pytest.importorskip("babel", reason="Babel is a dev dependency (make deps)")


def _messages_module() -> Any:
    spec = importlib.util.spec_from_file_location("messages", ROOT / "scripts" / "messages.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pending(locations: list[str]) -> bool:
    return bool(locations) and all(any(loc.startswith(p) for p in PENDING) for loc in locations)


def extracted() -> dict[Any, list[str]]:
    """What `make messages` would extract now: message id -> the files it comes from."""
    from babel.messages.extract import extract_from_dir

    messages = _messages_module()
    found: dict[Any, list[str]] = {}
    for path, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT / "src" / "netladder"),
        method_map=[("**.py", messages.extract)],
        keywords=messages.KEYWORDS,
    ):
        key = message if isinstance(message, str) else tuple(message)
        found.setdefault(key, []).append(path)
    return found


def catalog() -> Any:
    from babel.messages.pofile import read_po

    with PO.open("rb") as f:
        return read_po(f)


def entries() -> Iterator[Any]:
    for message in catalog():
        if message.id:
            yield message


_FIELD = re.compile(r"%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[srdifgex%]")


def placeholders(text: str) -> list[str]:
    """The named fields `{name!r:>8}` and the %-conversions (argparse's words) of a message:
    a translation may reorder them, never change them."""
    fields = [
        f"{{{name}{'!' + conv if conv else ''}{':' + spec if spec else ''}}}"
        for _lit, name, spec, conv in string.Formatter().parse(text)
        if name is not None
    ]
    return sorted(fields + _FIELD.findall(text.replace("{", "").replace("}", "")))


def test_the_catalog_is_not_stale() -> None:
    """Re-extraction would add nothing and drop nothing (`make messages` when it would)."""
    now = extracted()
    in_po = {m.id if isinstance(m.id, str) else tuple(m.id): m for m in entries()}
    missing = sorted(str(k) for k, where in now.items() if k not in in_po and not _pending(where))
    dropped = sorted(str(k) for k in in_po if k not in now)
    assert not missing, f"run `make messages`: not in the catalog yet: {missing[:10]}"
    assert not dropped, f"run `make messages`: no longer in the sources: {dropped[:10]}"


def _needs_words(source: str) -> bool:
    """A message with English words in it (beyond placeholders): its Korean differs."""
    bare = re.sub(r"\{[^}]*\}|%\([^)]*\)\w|%\w", "", source)
    return re.search(r"[a-z]{3,}", bare) is not None


def test_every_message_has_a_korean_translation() -> None:
    pending = {k for k, where in extracted().items() if _pending(where)}
    untranslated = []
    for m in entries():
        key = m.id if isinstance(m.id, str) else tuple(m.id)
        if key in pending:
            continue
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        source = m.id if isinstance(m.id, str) else m.id[-1]
        same = source in strings and source not in SAME_IN_KOREAN
        if m.fuzzy or not all(strings) or (_needs_words(source) and same):
            untranslated.append(source)
    assert not untranslated, f"{len(untranslated)} without Korean, e.g. {untranslated[:5]}"


def test_translations_keep_their_placeholders() -> None:
    wrong = []
    for m in entries():
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        sources = (m.id,) if isinstance(m.id, str) else m.id
        # Korean has one form for every n: it says what the singular and the plural say.  A
        # placeholder may be said twice, never renamed, dropped or added.
        expected = {p for source in sources for p in placeholders(source)}
        for text in strings:
            if text and set(placeholders(text)) != expected:
                wrong.append((m.id, text))
    assert not wrong, wrong[:5]


def test_korean_has_one_plural_form() -> None:
    cat = catalog()
    assert cat.locale.language == "ko"
    assert cat.num_plurals == 1
    for m in entries():
        if not isinstance(m.id, str):
            assert len(m.string) == 1, m.id


def test_the_mo_is_the_po_compiled() -> None:
    """The committed `.mo` (what gettext reads at run time) says what the `.po` says."""
    from babel.messages.mofile import write_mo

    compiled = io.BytesIO()
    write_mo(compiled, catalog())
    compiled.seek(0)
    fresh = gettext.GNUTranslations(compiled)
    with MO.open("rb") as f:
        committed = gettext.GNUTranslations(f)
    assert committed._catalog == fresh._catalog, "run `make messages` to compile the .mo"  # type: ignore[attr-defined]


def test_the_mo_ships_with_the_package(tmp_path: Path) -> None:
    """package-data: the wheel an installation is made from carries the compiled catalog."""
    import subprocess
    import sys
    import zipfile

    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
        + ["-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("netladder-*.whl")
    with zipfile.ZipFile(wheel) as z:
        assert "netladder/locale/ko/LC_MESSAGES/netladder.mo" in z.namelist()


def test_a_wrong_placeholder_is_caught() -> None:
    """The check itself: a translation that renames or drops a field does not pass."""
    assert placeholders("{host} is {addresses}") != placeholders("{host}는 {address}입니다")
    assert placeholders("{n} hops") != placeholders("홉")
    assert placeholders("{ms:.1f} ms") != placeholders("{ms} ms")
    assert placeholders("invalid %(type)s value: %(value)r") == placeholders(
        "잘못된 %(type)s 값: %(value)r"
    )
    assert placeholders("{a} and {b}") == placeholders("{b}와 {a}")
