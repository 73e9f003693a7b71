"""`make messages`: extract every message marked for translation, update the Korean catalog,
compile it.

    .venv/bin/python scripts/messages.py          # pybabel extract, update, compile

English is the source.  `src/netladder/locale/ko/LC_MESSAGES/netladder.po` is the translators'
file (committed); the `.mo` beside it is compiled from it and committed too, so that a checkout,
CI and an installed package (package-data) read it with the stdlib's gettext and no build step
needs Babel.  tests/test_catalog.py fails when the `.po` is stale against the sources, a message
has no Korean, a translation's placeholders differ from its source's, or the `.mo` is not the
`.po` compiled.

What is extracted (KEYWORDS): `_("…")`, `N_("…")` (a table's entry, translated where it is
used), `ngettext("…", "…", n)`, and the first argument of netladder's errors (their messages are
templates that `cli._print_error` translates: `UsageError("{name}: …", name=…)`), and of
`from_oserror(exc, what, remedy)`.  An f-string is not a template and is not extracted.
SEPARATE names the calls whose several arguments are each a message: `EnvError(problem,
remedy)`, `from_oserror`'s what and remedy, the status codes' table `_c(code, name, section,
meaning, choose)` (l7/codes.py) and the commands' table `Command(name, module, summary,
group)` (cli.py, which imports no i18n for English).
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "src" / "netladder" / "locale"
DOMAIN = "netladder"
LANGUAGES = ("ko",)

KEYWORDS: dict[str, Any] = {
    "_": None,
    "N_": None,
    "ngettext": (1, 2),
    "NetladderError": None,
    "UsageError": None,
    "EnvError": None,
    "ConfigError": None,
    "NftError": None,
    "LabError": None,
    "from_oserror": None,
    "_c": None,
    "Command": None,
}
# funcname -> the (1-based) arguments that are each a message of their own.
SEPARATE: dict[str, tuple[int, ...]] = {
    "EnvError": (1, 2),
    "from_oserror": (2, 3),
    "_c": (4, 5),
    "Command": (3, 4),
}

# Babel's warnings about f-strings given to a keyword (sentences not templated yet: they stay
# English until their module makes them templates), counted instead of printed one by one.
SKIPPED: list[str] = []


def extract(
    fileobj: IO[bytes],
    keywords: Mapping[str, Any],
    comment_tags: Collection[str],
    options: Any,
) -> Iterator[Any]:
    """Babel's Python extractor, with SEPARATE's calls split into one message per argument."""
    import contextlib
    import io

    from babel.messages.extract import extract_python

    said = io.StringIO()
    with contextlib.redirect_stderr(said):
        found = list(extract_python(fileobj, keywords, comment_tags, options))
    SKIPPED.extend(line for line in said.getvalue().splitlines() if line)
    for lineno, funcname, messages, comments in found:
        if funcname in SEPARATE:
            args = messages if isinstance(messages, tuple) else (messages,)
            for index in SEPARATE[funcname]:
                if index <= len(args) and args[index - 1]:  # a literal, not a variable
                    yield lineno, "_", args[index - 1], comments
            continue
        yield lineno, funcname, messages, comments


def _keyword_args() -> list[str]:
    out = ["--no-default-keywords"]
    for name, spec in KEYWORDS.items():
        out += ["-k", name if spec is None else f"{name}:{','.join(map(str, spec))}"]
    return out


def _pybabel(*args: str) -> None:
    from babel.messages.frontend import CommandLineInterface

    code = CommandLineInterface().run(["pybabel", "-q", *args])  # type: ignore[no-untyped-call]
    if code:
        raise SystemExit(code)


def _compile(po: Path) -> None:
    """`pybabel compile`, without its python-format check: Babel takes "{loss:.0f}% loss" for
    a %-format too ("% lo" reads as a conversion) and refuses any translation without it.
    netladder's messages are str.format templates, checked by tests/test_catalog.py (names,
    conversions and specs of every field); fuzzy entries are left out, as compile does."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as f:
        catalog = read_po(f)
    with po.with_suffix(".mo").open("wb") as f:
        write_mo(f, catalog)
    messages = [m for m in catalog if m.id]
    done = sum(1 for m in messages if all(m.string if isinstance(m.string, tuple) else (m.string,)))
    print(f"{po.relative_to(ROOT)}: {done} of {len(messages)} messages translated")


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # babel.cfg's `messages:extract`
    os.chdir(ROOT)
    with tempfile.TemporaryDirectory() as tmp:
        pot = str(Path(tmp) / f"{DOMAIN}.pot")
        _pybabel(
            "extract",
            "-F",
            "babel.cfg",
            *_keyword_args(),
            "--add-location=file",
            "--no-wrap",
            "--project=netladder",
            "-o",
            pot,
            "src/netladder",
        )
        for language in LANGUAGES:
            po = LOCALE / language / "LC_MESSAGES" / f"{DOMAIN}.po"
            action = "update" if po.exists() else "init"
            extra = ["--no-wrap", "--ignore-obsolete"] if action == "update" else ["--no-wrap"]
            _pybabel(action, "-i", pot, "-D", DOMAIN, "-d", str(LOCALE), "-l", language, *extra)
    for language in LANGUAGES:
        _compile(LOCALE / language / "LC_MESSAGES" / f"{DOMAIN}.po")
    skipped = getattr(sys.modules.get("messages"), "SKIPPED", SKIPPED)  # babel.cfg's import
    if skipped:
        print(f"messages: {len(skipped)} f-strings given to a keyword were not extracted")


if __name__ == "__main__":
    main()
