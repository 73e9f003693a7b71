"""Every human-facing sentence passes through `_()`; English is the source and costs nothing.

    from netladder.i18n import _
    print(_("{address} is filtered ({reason})").format(address=a, reason=r))

Placeholders are named (`{address}`), never positional, so a translation may reorder them.  With
English (the default) `_` returns its argument and no catalog module is imported; another
language is loaded from the compiled gettext catalogs under `netladder/locale` only when asked
for (`--lang ko`, or a `ko` locale in LANGUAGE / LC_ALL / LC_MESSAGES / LANG).  JSON never
changes with the language: renderers fill JSON sentences in English.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

__all__ = [
    "LANGUAGES",
    "N_",
    "_",
    "current_language",
    "english",
    "language_from_env",
    "ngettext",
    "set_language",
]

LANGUAGES = ("en", "ko")

_gettext: Callable[[str], str] | None = None
_ngettext: Callable[[str, str, int], str] | None = None
_language = "en"


def _(message: str) -> str:
    """The message in the chosen language (the English source when there is no translation)."""
    if _gettext is None:
        return message
    return _gettext(message)


def N_(message: str) -> str:  # noqa: N802 - gettext's conventional name
    """Mark a message for extraction where it is defined (a table); translate it where used."""
    return message


def ngettext(singular: str, plural: str, n: int) -> str:
    if _ngettext is None:
        return singular if n == 1 else plural
    return _ngettext(singular, plural, n)


def current_language() -> str:
    return _language


class english:  # noqa: N801 - used as a context manager: `with english(): ...`
    """Within the block every `_()` returns the English source: the sentences JSON carries
    (`output.to_jsonable`) never change with the language."""

    __slots__ = ("_saved",)

    def __enter__(self) -> None:
        global _gettext, _ngettext, _language
        self._saved = (_gettext, _ngettext, _language)
        _gettext = _ngettext = None
        _language = "en"

    def __exit__(self, *exc: object) -> None:
        global _gettext, _ngettext, _language
        _gettext, _ngettext, _language = self._saved


def language_from_env(env: Mapping[str, str] | None = None) -> str:
    """The language the locale asks for, as gettext reads it: the first of LANGUAGE (a list),
    LC_ALL, LC_MESSAGES, LANG that is set; only the languages netladder has count."""
    env = os.environ if env is None else env
    for key in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(key, "")
        if not value:
            continue
        for item in value.split(":"):
            code = item.split(".")[0].split("@")[0].split("_")[0].lower()
            if code in LANGUAGES:
                return code
        if key != "LANGUAGE":
            return "en"  # the first variable that is set decides (C, POSIX, de_DE…: English)
    return "en"


def set_language(language: str) -> None:
    """Switch every later `_()` to `language` ("en" or a language with a catalog)."""
    global _gettext, _ngettext, _language
    if language not in LANGUAGES:
        from netladder.errors import UsageError

        raise UsageError(
            "unknown language {language!r} (choose from {choices})",
            language=language,
            choices=", ".join(LANGUAGES),
        )
    _language = language
    if language == "en":
        _gettext = _ngettext = None
        return
    import gettext
    from pathlib import Path

    catalog = gettext.translation(
        "netladder", localedir=Path(__file__).parent / "locale", languages=[language], fallback=True
    )
    _gettext = catalog.gettext
    _ngettext = catalog.ngettext
