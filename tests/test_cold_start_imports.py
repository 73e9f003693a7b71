"""One-shot commands do not import what they do not need (issue 14, §1.2 and §1.5).

Each case runs a command with `python -X importtime` against loopback and fails if a module
it must not pay for at start-up appears: `asyncio` (+46 ms: the CLI drives sessions with a
selector), `dataclasses` (+10 ms with inspect: records are `@record`), and for human output
`json` and `ssl`.  A guard that does not hold yet is skipped with the area that turns it on
when it converts its command; it is never an xfail.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

NEVER = ("asyncio", "dataclasses")
HUMAN = (*NEVER, "json", "ssl")


def _pending(area: str) -> pytest.MarkDecorator:
    return pytest.mark.skip(reason=f"area {area} turns this guard on when it converts the command")


CASES = [
    pytest.param(["--version"], (*HUMAN, "threading", "gettext", "netladder.i18n"), id="version"),
    pytest.param(["ping", "-c", "1", "-W", "1", "127.0.0.1"], HUMAN, id="ping"),
    pytest.param(["sweep", "--retries", "0", "127.0.0.1"], HUMAN, id="sweep"),
    pytest.param(["trace", "-q", "1", "-m", "2", "127.0.0.1"], HUMAN, id="trace"),
    pytest.param(["port", "127.0.0.1", "1"], HUMAN, id="port"),
    pytest.param(["http", "http://127.0.0.1:1/"], HUMAN, id="http-plain"),
    pytest.param(["myip", "--stun", "127.0.0.1:9", "--timeout", "0.2"], HUMAN, id="myip"),
    # dnspython (the DNS codec) imports dataclasses and threading itself; asyncio is ours to
    # keep out.  Port 9 on loopback: nothing listens, the query is refused at once.
    pytest.param(
        ["dns", "x.lab", "--server", "127.0.0.1:9", "--timeout", "0.5", "--tries", "1"],
        ("asyncio", "json", "ssl"),
        id="dns",
    ),
    pytest.param(["neigh"], HUMAN, id="neigh"),
    pytest.param(["neigh", "--check", "127.0.0.1"], HUMAN, id="neigh-check"),
    pytest.param(["route", "127.0.0.1"], HUMAN, id="route"),
]


def imported(argv: list[str]) -> tuple[int, set[str]]:
    """The exit code and every module a fresh interpreter imported to run the command."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "netladder", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    modules = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            modules.add(line.rsplit("|", 1)[1].strip())
    return proc.returncode, modules


@pytest.mark.parametrize("argv, forbidden", CASES)
def test_a_one_shot_command_imports_only_what_it_needs(
    argv: list[str], forbidden: tuple[str, ...]
) -> None:
    code, modules = imported(argv)
    assert code in (0, 1), f"the command did not run its check (exit {code})"
    assert "netladder.cli" in modules  # the measurement saw the command's imports
    assert not set(forbidden) & modules, sorted(set(forbidden) & modules)


def test_arp_imports_only_what_it_needs() -> None:
    """arp needs an Ethernet link: a veth pair in a namespace of its own (root only)."""
    if os.geteuid() != 0:
        pytest.skip("arp needs CAP_NET_RAW and a link of its own")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    script = (
        "ip link add nl0 type veth peer name nl1 && ip link set nl0 up && ip link set nl1 up "
        '&& ip addr add 198.51.100.1/24 dev nl0 && exec "$0" -X importtime -m netladder arp '
        "198.51.100.2 -c 1 -i 0.1 -W 0.1"
    )
    proc = subprocess.run(
        ["unshare", "--net", "sh", "-c", script, sys.executable],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr[-500:]  # sent, nobody answered
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "netladder.l2.probe" in modules
    assert not set(HUMAN) & modules, sorted(set(HUMAN) & modules)


# -- languages (issue 16): English reads no catalog; Korean reads it only when asked for -------

_CATALOG_PROBE = """
import sys
opened = []
sys.addaudithook(
    lambda event, args: opened.append(str(args[0]))
    if event == "open" and str(args[0]).endswith(".mo") else None
)
from netladder.cli import main
code = main(sys.argv[1:])
loaded = sorted(m for m in sys.modules if m.startswith("netladder.render.explain"))
sys.stderr.write(f"\\nPROBE {code} {opened!r} {loaded!r}\\n")
"""


def catalogs_read(argv: list[str], **env: str) -> tuple[int, list[str], list[str]]:
    """The exit code, the catalogs opened and the explain modules imported by a command."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PYTHON") and k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")
    }
    proc = subprocess.run(
        [sys.executable, "-c", _CATALOG_PROBE, *argv],
        capture_output=True,
        text=True,
        env={**base, **env},
        timeout=60,
    )
    line = proc.stderr.rsplit("PROBE ", 1)[1]
    code, rest = line.split(" ", 1)
    opened, _, loaded = rest.strip().partition("] ")
    return int(code), ast.literal_eval(opened + "]"), ast.literal_eval(loaded)


@pytest.mark.parametrize("env", [{}, {"LANG": "C.UTF-8"}, {"LANG": "de_DE.UTF-8"}])
def test_english_reads_no_catalog(env: dict[str, str]) -> None:
    code, opened, loaded = catalogs_read(["route", "127.0.0.1"], **env)
    assert code == 0
    assert opened == [] and loaded == []


@pytest.mark.parametrize(
    "argv, env",
    [
        (["--lang", "ko", "route", "127.0.0.1"], {}),
        (["route", "127.0.0.1"], {"LANG": "ko_KR.UTF-8"}),
        (["route", "127.0.0.1"], {"LANGUAGE": "ko:en", "LANG": "C"}),
    ],
)
def test_korean_reads_its_catalog_when_asked_for(argv: list[str], env: dict[str, str]) -> None:
    code, opened, _ = catalogs_read(argv, **env)
    assert code == 0
    assert [Path(p).name for p in opened] == ["netladder.mo"]


def test_explanations_are_imported_only_with_explain() -> None:
    assert catalogs_read(["codes", "404"])[2] == []
    assert "netladder.render.explain" in catalogs_read(["codes", "404", "--explain"])[2]
