"""The `netladder.api` surface: nine names, loaded lazily, importing nothing heavy."""

from __future__ import annotations

import subprocess
import sys

import pytest

from netladder import api

NAMES = ["arp", "diagnose", "http", "ping", "resolve", "scan", "stun", "sweep", "trace"]


def test_the_nine_functions_are_the_whole_surface() -> None:
    assert sorted(api.__all__) == NAMES
    assert dir(api) == NAMES
    with pytest.raises(AttributeError):
        api.nothing  # noqa: B018


def test_importing_the_api_imports_no_prober_and_no_event_loop() -> None:
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "import netladder.api\n"
        "new = sorted(m for m in set(sys.modules) - before)\n"
        "print(' '.join(new))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert [m for m in out if m.startswith("netladder")] == ["netladder", "netladder.api"]
    assert not {"asyncio", "dataclasses", "ssl", "json", "threading"} & set(out)


@pytest.mark.parametrize("name", NAMES)
def test_each_name_is_its_module_function_or_says_it_is_not_built_yet(name: str) -> None:
    try:
        function = getattr(api, name)
    except AttributeError as exc:
        assert "not built yet" in str(exc)
        return
    module = sys.modules[f"netladder.api._{name}"]
    assert function is getattr(module, name)
    assert getattr(api, name) is function  # the module never shadows the function
