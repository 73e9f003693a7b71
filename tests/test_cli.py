"""CLI conventions of SPEC.md: help, version, exit codes, one-line errors, colour rules."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from netladder import __version__
from netladder.cli import COMMANDS, main
from privileges import AS_NOBODY


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netladder", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=30,
        check=False,
    )


def test_version_prints_the_package_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"netladder {__version__}"


def test_help_lists_every_command_group() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in COMMANDS:
        assert f"  {command.name} " in result.stdout
        assert f"{command.group}:" in result.stdout


@pytest.mark.parametrize(
    "argv",
    [
        ["frobnicate"],
        ["--frobnicate"],
        ["lab", "sideways"],
        ["lab", "up", "--bogus"],
        ["lab", "up", "no-such-topology"],
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv: list[str]) -> None:
    result = run_cli(*argv)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_unknown_command_suggests_the_close_one() -> None:
    result = run_cli("pnig")
    assert "did you mean 'ping'" in result.stderr


def test_errors_are_not_coloured_when_piped_or_with_no_color() -> None:
    assert "\x1b[" not in run_cli("frobnicate").stderr
    assert "\x1b[" not in run_cli("frobnicate", env={"NO_COLOR": "1"}).stderr


def test_colour_only_on_a_tty_and_never_with_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    from netladder import output

    class Tty:
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert output.paint("x", "red", stream=Tty()) == "\x1b[31mx\x1b[0m"  # type: ignore[arg-type]
    monkeypatch.setenv("NO_COLOR", "1")
    assert output.paint("x", "red", stream=Tty()) == "x"  # type: ignore[arg-type]


def test_lab_up_without_root_is_an_environment_error() -> None:
    if os.geteuid() != 0:
        result = run_cli("lab", "up")
    else:
        # Drop root's privileges for one run: uid nobody, no capability but reading files.
        result = subprocess.run(
            [
                *AS_NOBODY,
                sys.executable,
                "-c",
                "import sys; from netladder.cli import main; sys.exit(main(['lab', 'up']))",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        if "Permission denied" in result.stderr and "python" in result.stderr:
            pytest.skip("the interpreter is not readable by nobody on this machine")
    assert result.returncode == 3, result.stderr
    assert "root" in result.stderr


def test_ctrl_c_exits_130(monkeypatch: pytest.MonkeyPatch) -> None:
    import netladder.cli as cli

    def interrupted(argv: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_dispatch", interrupted)
    assert main(["ping"]) == 130


def test_an_internal_error_is_one_line_without_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import netladder.cli as cli

    def broken(argv: object) -> int:
        raise RuntimeError("boom")

    monkeypatch.delenv("NETLADDER_DEBUG", raising=False)
    monkeypatch.setattr(cli, "_dispatch", broken)
    assert main(["ping"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "boom" in err


def test_json_output_is_one_document() -> None:
    import json

    from netladder.output import dump_json

    assert json.loads(dump_json({"rtt_ms": float("nan"), "t": (1, 2)})) == {
        "rtt_ms": None,
        "t": [1, 2],
    }


def test_heavy_modules_stay_out_of_start_up() -> None:
    code = (
        "import sys; from netladder.cli import main; main(['--version']); "
        "print(' '.join(sorted(sys.modules)))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    for heavy in ("rich", "pyroute2", "dns", "asyncio", "h2", "ssl"):
        assert heavy not in loaded, heavy


def test_lab_up_without_ip_names_the_missing_tool() -> None:
    if os.geteuid() != 0:
        pytest.skip("as non-root the missing privilege is reported first")
    result = run_cli("lab", "up", env={"PATH": "/nonexistent"})
    assert result.returncode == 3, result.stderr
    assert "ip" in result.stderr and "apt-get install iproute2" in result.stderr
