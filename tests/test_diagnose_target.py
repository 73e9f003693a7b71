"""TARGET forms that `diagnose` accepts, and the ones it refuses."""

from __future__ import annotations

import pytest

from netladder.diagnose.target import parse_target
from netladder.errors import UsageError


@pytest.mark.parametrize(
    "text, host, ports, url",
    [
        ("198.51.100.10", "198.51.100.10", (), None),
        ("198.51.100.10:22", "198.51.100.10", (22,), None),
        ("server.lab", "server.lab", (), None),
        ("server.lab:8080", "server.lab", (8080,), None),
        ("2001:db8:3::2", "2001:db8:3::2", (), None),
        ("[2001:db8:3::2]:80", "2001:db8:3::2", (80,), None),
        ("http://198.51.100.10/", "198.51.100.10", (80,), "http://198.51.100.10/"),
        ("https://server.lab/x", "server.lab", (443,), "https://server.lab/x"),
        ("http://[2001:db8:3::2]:8080/", "2001:db8:3::2", (8080,), "http://[2001:db8:3::2]:8080/"),
    ],
)
def test_target_forms(text: str, host: str, ports: tuple[int, ...], url: str | None) -> None:
    target = parse_target(text)
    assert (target.host, target.ports, target.url) == (host, ports, url)


def test_port_option_adds_to_a_bare_host() -> None:
    assert parse_target("198.51.100.10", (22, 80)).ports == (22, 80)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "ftp://x/",
        "host:0",
        "host:70000",
        "host:http",
        "[2001:db8::1",
        "bad..name",
        "a" * 254,
        "http://:80/",
        "under_score!",
    ],
)
def test_bad_targets_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        parse_target(text)
