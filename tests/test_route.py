"""`netladder route` against the kernel's own answer (`ip -j route get`) in the chain lab."""

from __future__ import annotations

import json
from typing import Any

import pytest

from netladder.lab import Lab

pytestmark = pytest.mark.lab

UNPRIVILEGED = ["setpriv", "--inh-caps=-all", "--bounding-set=-all", "--"]


def ours(lab: Lab, node: str, target: str) -> tuple[int, dict[str, Any]]:
    result = lab.netladder(node, "route", target, "--json")
    return result.returncode, json.loads(result.stdout)


def iproute(lab: Lab, node: str, target: str) -> dict[str, Any] | None:
    result = lab.exec(node, ["ip", "-j", "route", "get", target], check=False)
    if result.returncode != 0:
        return None
    found: dict[str, Any] = json.loads(result.stdout)[0]
    return found


@pytest.mark.parametrize(("node", "target", "kind"), [
    ("client", "203.0.113.1", "on-link"),
    ("client", "198.51.100.10", "default"),
    ("r1", "198.51.100.10", "routed"),
    ("r1", "198.51.100.67", "on-link"),
    ("client", "2001:db8:1::1", "on-link"),
    ("client", "2001:db8:3::10", "default"),
    ("r1", "2001:db8:3::10", "routed"),
    ("client", "203.0.113.2", "local"),
])
def test_route_agrees_with_ip_route_get(chain_lab: Lab, node: str, target: str,
                                        kind: str) -> None:
    code, doc = ours(chain_lab, node, target)
    anchor = iproute(chain_lab, node, target)
    assert code == 0 and anchor is not None
    d = doc["decision"]
    assert d["iface"] == anchor["dev"]
    assert d["gateway"] == anchor.get("gateway")
    assert d["prefsrc"] == anchor.get("prefsrc")
    assert d["type"] == anchor.get("type", "unicast")
    if "metric" in anchor:
        assert d["metric"] == anchor["metric"]
    assert d["on_link"] == (kind == "on-link")
    if kind == "default":
        assert d["prefix"] == "default"
        assert d["next_hop"] == anchor["gateway"]
    if kind == "local":
        assert d["next_hop"] is None


def test_an_unreachable_destination_fails_like_ip_route_get(chain_lab: Lab) -> None:
    # No router has a default route: anything outside the lab is "network unreachable".
    assert iproute(chain_lab, "r1", "203.0.113.200") is None
    anchor = chain_lab.exec("r1", ["ip", "route", "get", "203.0.113.200"], check=False)
    assert "Network is unreachable" in anchor.stderr
    code, doc = ours(chain_lab, "r1", "203.0.113.200")
    assert code == 1
    assert doc["decision"]["reachable"] is False
    assert doc["decision"]["error"] == "Network is unreachable"
    human = chain_lab.netladder("r1", "route", "2001:db8:ff::1")
    assert human.returncode == 1 and "unreachable" in human.stdout


def test_default_routes_are_listed_for_both_families(chain_lab: Lab) -> None:
    code, doc = ours(chain_lab, "client", "198.51.100.10")
    anchor4 = json.loads(chain_lab.exec("client", ["ip", "-j", "route", "show", "default"]).stdout)
    anchor6 = json.loads(chain_lab.exec("client", ["ip", "-j", "-6", "route", "show",
                                                   "default"]).stdout)
    got = {(d["version"], d["gateway"], d["iface"]) for d in doc["defaults"]}
    assert got == {(4, r["gateway"], r["dev"]) for r in anchor4} | {
        (6, r["gateway"], r["dev"]) for r in anchor6}
    text = chain_lab.netladder("r1", "route").stdout
    assert "no default route" in text


def test_route_works_without_any_privilege(chain_lab: Lab) -> None:
    result = chain_lab.exec("client", [*UNPRIVILEGED, *_cli(), "route", "198.51.100.10"],
                            check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("198.51.100.10 via 203.0.113.1 dev to-r1 src 203.0.113.2")


@pytest.mark.parametrize("argv", [["route", "not-an-address"], ["route", "203.0.113.1", "-I",
                                                                "nosuchif0"]])
def test_bad_input_is_one_line_and_exit_2(chain_lab: Lab, argv: list[str]) -> None:
    result = chain_lab.netladder("client", *argv)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""


def _cli() -> list[str]:
    import sys

    return [sys.executable, "-m", "netladder"]
