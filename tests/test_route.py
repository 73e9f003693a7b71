"""`netladder route` against the kernel's own answer (`ip -j route get`) in the chain lab."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from netladder.l2.route import table_names
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


@pytest.mark.parametrize(
    ("node", "target", "kind"),
    [
        ("client", "203.0.113.1", "on-link"),
        ("client", "198.51.100.10", "default"),
        ("r1", "198.51.100.10", "routed"),
        ("r1", "198.51.100.67", "on-link"),
        ("client", "2001:db8:1::1", "on-link"),
        ("client", "2001:db8:3::10", "default"),
        ("r1", "2001:db8:3::10", "routed"),
        ("client", "203.0.113.2", "local"),
    ],
)
def test_route_agrees_with_ip_route_get(chain_lab: Lab, node: str, target: str, kind: str) -> None:
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
    anchor6 = json.loads(
        chain_lab.exec("client", ["ip", "-j", "-6", "route", "show", "default"]).stdout
    )
    got = {(d["version"], d["gateway"], d["iface"]) for d in doc["defaults"]}
    assert got == {(4, r["gateway"], r["dev"]) for r in anchor4} | {
        (6, r["gateway"], r["dev"]) for r in anchor6
    }
    text = chain_lab.netladder("r1", "route").stdout
    assert "no default route" in text


# Policy routing on the client: a rule per selector ip route get takes (to, oif, from), each
# leading to a table of its own that holds a route the main table does not.
POLICY = [
    (
        ["-4", "rule", "add", "to", "198.51.100.10", "lookup", "100"],
        [
            "-4",
            "route",
            "add",
            "198.51.100.10",
            "via",
            "203.0.113.1",
            "table",
            "100",
            "metric",
            "7",
        ],
    ),
    (
        ["-6", "rule", "add", "to", "2001:db8:3::10", "lookup", "100"],
        ["-6", "route", "add", "2001:db8:3::10", "via", "2001:db8:1::1", "table", "100"],
    ),
    (
        ["-4", "rule", "add", "oif", "to-r1", "lookup", "101"],
        ["-4", "route", "add", "198.51.100.64/26", "dev", "to-r1", "table", "101"],
    ),
    (
        ["-4", "rule", "add", "from", "203.0.113.2", "lookup", "102"],
        ["-4", "route", "add", "198.51.100.8/30", "via", "203.0.113.1", "table", "102"],
    ),
]


@contextmanager
def policy_rules(lab: Lab) -> Iterator[None]:
    try:
        for rule, route in POLICY:
            lab.exec("client", ["ip", *route])
            lab.exec("client", ["ip", *rule])
        yield
    finally:
        for rule, route in POLICY:
            lab.exec("client", ["ip", rule[0], "rule", "del", *rule[3:]], check=False)
            lab.exec("client", ["ip", route[0], "route", "del", *route[3:]], check=False)


@pytest.mark.parametrize(
    ("args", "table", "prefix"),
    [
        (["198.51.100.10"], "100", "198.51.100.10/32"),  # a rule on the destination
        (["2001:db8:3::10"], "100", "2001:db8:3::10/128"),
        (["198.51.100.66", "-I", "to-r1"], "101", "198.51.100.64/26"),  # on the output device
        (["198.51.100.66"], "main", "default"),  # ... which a plain lookup does not name
        (["198.51.100.9", "--from", "203.0.113.2"], "102", "198.51.100.8/30"),  # on the source
        (["198.51.100.9"], "main", "default"),  # src 0: the source rule does not apply
        (["203.0.113.2"], "local", "203.0.113.2/32"),  # the local table, before any rule
    ],
)
def test_policy_routing_names_the_table_ip_route_get_names(
    chain_lab: Lab, args: list[str], table: str, prefix: str
) -> None:
    anchor_args = [{"-I": "oif", "--from": "from"}.get(a, a) for a in args]
    with policy_rules(chain_lab):
        result = chain_lab.netladder("client", "route", *args, "--json")
        text = chain_lab.netladder("client", "route", *args).stdout
        anchor = json.loads(
            chain_lab.exec("client", ["ip", "-j", "route", "get", *anchor_args]).stdout
        )[0]
    assert result.returncode == 0, result.stderr
    d = json.loads(result.stdout)["decision"]
    assert d["table"] == anchor.get("table", "main") == table
    assert d["prefix"] == prefix
    assert (d["iface"], d["gateway"]) == (anchor["dev"], anchor.get("gateway"))
    if "metric" in anchor:
        assert d["metric"] == anchor["metric"]
    assert f" table {table} " in text.splitlines()[0]
    if "--from" in args:  # ip route get's words: DESTINATION from SOURCE via ...
        assert text.startswith(f"{args[0]} from {args[2]} via ") and d["source"] == args[2]


def test_route_from_an_address_this_host_lacks_is_bad_input(chain_lab: Lab) -> None:
    anchor = chain_lab.exec(
        "client", ["ip", "route", "get", "198.51.100.10", "from", "203.0.113.99"], check=False
    )
    # The kernel refuses (ENETUNREACH, ip exits 2): no output route from a foreign address.
    assert anchor.returncode == 2 and "Network is unreachable" in anchor.stderr
    result = chain_lab.netladder("client", "route", "198.51.100.10", "--from", "203.0.113.99")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip() == "netladder: 203.0.113.99 is not an address of this host"


def test_table_names_are_read_as_iproute2_reads_them(tmp_path: Path) -> None:
    base = tmp_path / "rt_tables"
    base.write_text("# comment\n255\tlocal\n254 main\n100 vpn # the tunnel\nbad line x\n")
    (tmp_path / "rt_tables.d").mkdir()
    (tmp_path / "rt_tables.d" / "extra.conf").write_text("0x65 office\n")
    names = table_names((str(base), str(tmp_path / "fallback")))
    assert names == {255: "local", 254: "main", 100: "vpn", 101: "office"}
    assert table_names((str(tmp_path / "none"),)) == {}


def test_route_works_without_any_privilege(chain_lab: Lab) -> None:
    result = chain_lab.exec(
        "client", [*UNPRIVILEGED, *_cli(), "route", "198.51.100.10"], check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("198.51.100.10 via 203.0.113.1 dev to-r1 src 203.0.113.2")


@pytest.mark.parametrize(
    "argv", [["route", "not-an-address"], ["route", "203.0.113.1", "-I", "nosuchif0"]]
)
def test_bad_input_is_one_line_and_exit_2(chain_lab: Lab, argv: list[str]) -> None:
    result = chain_lab.netladder("client", *argv)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""


def _cli() -> list[str]:
    import sys

    return [sys.executable, "-m", "netladder"]
