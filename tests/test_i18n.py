"""Choosing the language (issue 16): `--lang` anywhere among netladder's own arguments, else a
`ko` locale; Korean reaches results, errors, --help and argparse's own words; JSON and the
English output never change with it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from netladder import i18n
from netladder.cli import take_language

_LOCALE = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in _LOCALE}
    return subprocess.run(
        [sys.executable, "-m", "netladder", *args],
        capture_output=True,
        text=True,
        env={**base, **env},
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    "env, language",
    [
        ({}, "en"),
        ({"LANG": "ko_KR.UTF-8"}, "ko"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({"LC_MESSAGES": "ko_KR", "LANG": "C"}, "ko"),
        ({"LC_ALL": "C", "LANG": "ko_KR.UTF-8"}, "en"),  # the first that is set decides
        ({"LANGUAGE": "fr:ko:en", "LANG": "C"}, "ko"),  # a list: the first netladder has
        ({"LANGUAGE": "", "LANG": "ko"}, "ko"),
    ],
)
def test_the_locale_chooses_the_language(env: dict[str, str], language: str) -> None:
    assert i18n.language_from_env(env) == language


def test_lang_is_taken_wherever_it_stands_but_not_from_the_command_lab_exec_runs() -> None:
    assert take_language(["--lang", "ko", "dns", "x"]) == (["dns", "x"], "ko")
    assert take_language(["dns", "x", "--lang=ko"]) == (["dns", "x"], "ko")
    assert take_language(["lab", "exec", "client", "netladder", "dns", "--lang", "ko"]) == (
        ["lab", "exec", "client", "netladder", "dns", "--lang", "ko"],
        None,
    )
    assert take_language(["http", "--", "--lang"]) == (["http", "--", "--lang"], None)


def test_an_unknown_language_is_a_usage_error() -> None:
    result = run_cli("--lang", "fr", "codes", "404")
    assert result.returncode == 2
    assert result.stderr.strip() == "netladder: unknown language 'fr' (choose from en, ko)"
    assert run_cli("codes", "404", "--lang").returncode == 2


def test_korean_reaches_the_result_the_help_and_argparse_words() -> None:
    out = run_cli("codes", "404", "--lang", "ko").stdout
    assert "클라이언트 오류" in out and "Client Error" not in out
    helped = run_cli("--lang", "ko", "codes", "--help").stdout
    assert helped.startswith("사용법: netladder codes")
    assert "\n옵션:\n" in helped and "이 도움말을 보여 주고 끝냅니다" in helped
    assert "표준 출력에 JSON 문서 하나만 출력합니다" in helped
    error = run_cli("--lang", "ko", "codes", "--frob")
    assert error.returncode == 2
    assert error.stderr.strip() == (
        "netladder codes: 알 수 없는 인자: --frob ('netladder codes --help' 참고)"
    )
    assert "사용법: netladder [--version]" in run_cli("--help", LANG="ko_KR.UTF-8").stdout


def test_english_help_is_the_same_with_or_without_the_locale_variables() -> None:
    plain = run_cli("codes", "--help").stdout
    assert plain == run_cli("codes", "--help", LANG="C.UTF-8").stdout
    assert plain == run_cli("--lang", "en", "codes", "--help", LANG="ko_KR.UTF-8").stdout
    assert plain.startswith("usage: netladder codes")


@pytest.mark.parametrize(
    "args", [("codes", "404"), ("codes", "5xx"), ("codes", "404", "--explain")]
)
def test_json_never_changes_with_the_language(args: tuple[str, ...]) -> None:
    english = run_cli(*args, "--json")
    korean = run_cli(*args, "--json", "--lang", "ko")
    assert english.returncode == korean.returncode == 0
    assert english.stdout == korean.stdout


def test_set_language_switches_every_later_message_and_back() -> None:
    try:
        i18n.set_language("ko")
        assert i18n._("no address") == "주소 없음"
        assert i18n.ngettext("{days} day", "{days} days", 3) == "{days}일"
        with i18n.english():
            assert i18n._("no address") == "no address"
        assert i18n.current_language() == "ko"
    finally:
        i18n.set_language("en")
    assert i18n._("no address") == "no address"
