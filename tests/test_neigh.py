"""`netladder neigh`: the table, the gateway MAC check (the seed's wrong static ARP entry) and
the live watch, in the chain lab."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from typing import Any

import pytest

from netladder.lab import Lab, WrongArp

pytestmark = pytest.mark.lab

UNPRIVILEGED = ["setpriv", "--inh-caps=-all", "--bounding-set=-all", "--"]
CLI = [sys.executable, "-m", "netladder"]
WRONG_MAC = WrongArp("client", "r1").mac
KINDS = {"new station", "changed ethernet address", "flip flop", "reused old ethernet address"}


def ping(lab: Lab, node: str, target: str) -> int:
    return lab.exec(
        node, ["ping", "-n", "-c", "2", "-i", "0.1", "-W", "0.5", target], check=False
    ).returncode


def check(lab: Lab, *args: str) -> tuple[int, dict[str, Any]]:
    result = lab.netladder("client", "neigh", "--check", *args, "--json")
    return result.returncode, json.loads(result.stdout)


def test_the_table_agrees_with_ip_neigh_and_marks_the_default_gateway(chain_lab: Lab) -> None:
    assert ping(chain_lab, "client", "203.0.113.1") == 0
    assert ping(chain_lab, "client", "2001:db8:1::1") == 0
    doc = json.loads(chain_lab.netladder("client", "neigh", "--json").stdout)
    anchor = json.loads(
        chain_lab.exec("client", ["ip", "-j", "neigh", "show", "nud", "all"]).stdout
    )
    ours = {(e["address"], e["mac"], e["iface"]) for e in doc["entries"]}
    assert ours == {(a["dst"], a.get("lladdr"), a["dev"]) for a in anchor}
    states = {e["address"]: e["state"] for e in doc["entries"]}
    for a in anchor:
        assert set(states[a["dst"]].split("|")) == set(a["state"])
    marked = {e["address"] for e in doc["entries"] if e["gateway"]}
    assert marked == {"203.0.113.1", "2001:db8:1::1"}
    text = chain_lab.netladder("client", "neigh").stdout
    assert re.search(r"^203\.0\.113\.1\s+\S+\s+\w+\s+to-r1\s+<- default gateway$", text, re.M)
    only = json.loads(chain_lab.netladder("r1", "neigh", "-I", "lan", "--json").stdout)
    assert {e["iface"] for e in only["entries"]} <= {"lan"}


def test_wrong_gateway_mac_is_named_as_the_cause(chain_lab: Lab) -> None:
    server, r1_mac = chain_lab.addr("server"), chain_lab.mac("r1", "client")
    with chain_lab.fault(WrongArp("client", "r1")):
        assert ping(chain_lab, "client", server) != 0  # the seed: off-link traffic is cut
        code, doc = check(chain_lab)
        assert code == 1 and doc["ok"] is False
        gateway = next(c for c in doc["checks"] if c["neighbour"] == "203.0.113.1")
        assert gateway["verdict"] == "mismatch"
        assert (gateway["table_mac"], gateway["table_state"]) == (WRONG_MAC, "PERMANENT")
        assert gateway["live_macs"] == [r1_mac]
        assert gateway["fix"] == "ip neigh del 203.0.113.1 dev to-r1"
        human = chain_lab.netladder("client", "neigh", "--check", server)
        assert human.returncode == 1
        assert (
            f"L2 broken: the ARP entry for 203.0.113.1 is {WRONG_MAC} (PERMANENT), but "
            f"203.0.113.1 answers from {r1_mac}; every off-link destination is affected"
        ) in human.stdout
        # iputils arping agrees on which MAC really answers.
        arping = chain_lab.exec(
            "client", ["arping", "-c", "1", "-w", "1", "-I", "to-r1", "203.0.113.1"], check=False
        ).stdout
        assert f"[{r1_mac.upper()}]" in arping
        chain_lab.exec("client", gateway["fix"].split())  # the fix it names
        assert ping(chain_lab, "client", server) == 0
        code, doc = check(chain_lab, server)
        assert code == 0 and doc["checks"][0]["verdict"] == "ok"
        assert doc["checks"][0]["live_macs"] == [r1_mac]


def test_wrong_ipv6_gateway_mac_is_named_the_same_way(chain_lab: Lab) -> None:
    server6, r1_mac = chain_lab.addr("server", 6), chain_lab.mac("r1", "client")
    with chain_lab.fault(WrongArp("client", "r1", version=6)):
        assert ping(chain_lab, "client", server6) != 0
        code, doc = check(chain_lab, server6)
        c = doc["checks"][0]
        assert code == 1 and c["verdict"] == "mismatch" and c["neighbour"] == "2001:db8:1::1"
        assert (c["table_mac"], c["live_macs"]) == (WRONG_MAC, [r1_mac])
        assert "the NDP entry for 2001:db8:1::1" in c["summary"]
        chain_lab.exec("client", c["fix"].split())
    assert ping(chain_lab, "client", server6) == 0
    code, doc = check(chain_lab, server6)
    assert code == 0 and doc["checks"][0]["verdict"] == "ok"


def test_a_stale_entry_with_the_wrong_mac_is_caught_too(chain_lab: Lab) -> None:
    chain_lab.exec(
        "client",
        [
            "ip",
            "neigh",
            "replace",
            "203.0.113.1",
            "lladdr",
            WRONG_MAC,
            "dev",
            "to-r1",
            "nud",
            "stale",
        ],
    )
    try:
        code, doc = check(chain_lab, "203.0.113.1")
        c = doc["checks"][0]
        assert code == 1 and c["verdict"] == "mismatch" and c["table_state"] == "STALE"
    finally:
        chain_lab.exec("client", ["ip", "neigh", "del", "203.0.113.1", "dev", "to-r1"], check=False)


def test_an_unanswering_gateway_is_reported_as_such(chain_lab: Lab) -> None:
    script = (
        "table arp nl_l2_test {\n chain in { type filter hook input priority 0; policy drop; }\n}\n"
    )
    chain_lab.exec("r1", ["nft", "-f", "-"], input=script)
    try:
        code, doc = check(chain_lab, "198.51.100.10")
    finally:
        chain_lab.exec("r1", ["nft", "delete", "table", "arp", "nl_l2_test"], check=False)
    c = doc["checks"][0]
    assert code == 1 and c["verdict"] == "no_answer" and c["live_macs"] == []
    assert c["summary"].startswith(
        "L2 broken: the default gateway 203.0.113.1 does not answer ARP on to-r1"
    )


def test_a_silent_on_link_address_is_no_answer_without_a_single_cause(chain_lab: Lab) -> None:
    result = chain_lab.netladder("lan3", "neigh", "--check", "198.51.100.100", "--json")
    anchor = chain_lab.exec(
        "lan3", ["arping", "-c", "1", "-w", "1", "-I", "lan", "198.51.100.100"], check=False
    )
    assert anchor.returncode == 1 and result.returncode == 1
    (c,) = json.loads(result.stdout)["checks"]
    assert c["verdict"] == "no_answer" and c["live_macs"] == [] and not c["via_gateway"]
    assert "it is down, not on this link, or drops ARP" in c["summary"]


def test_the_table_works_unprivileged_and_the_check_says_what_it_needs(chain_lab: Lab) -> None:
    table = chain_lab.exec("client", [*UNPRIVILEGED, *CLI, "neigh", "--json"], check=False)
    assert table.returncode == 0, table.stderr
    assert json.loads(table.stdout)["entries"] is not None
    # The watch needs no privilege either: it reports a station added while it runs.  The
    # kernel may re-learn the gateway's entry at any moment too, so wait for this one event
    # rather than assume a quiet link.
    station, mac = "203.0.113.3", "02:00:5e:00:53:31"
    watcher = chain_lab.popen(
        "client",
        [*UNPRIVILEGED, *CLI, "neigh", "watch", "-I", "to-r1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert watcher.stdout is not None and watcher.stderr is not None
        assert "watching neighbour changes on to-r1" in watcher.stderr.readline()
        chain_lab.exec(
            "client",
            ["ip", "neigh", "replace", station, "lladdr", mac, "dev", "to-r1", "nud", "permanent"],
        )
        seen = next(line for line in watcher.stdout if station in line.split())
        watcher.terminate()  # SIGTERM ends the watch as --duration does: exit 0
        watcher.communicate(timeout=20)
    finally:
        chain_lab.exec("client", ["ip", "neigh", "del", station, "dev", "to-r1"], check=False)
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()
    assert watcher.returncode == 0
    assert seen.split()[1:] == ["new", "station", station, mac, "to-r1"]
    checked = chain_lab.exec("client", [*UNPRIVILEGED, *CLI, "neigh", "--check"], check=False)
    assert checked.returncode == 3 and "CAP_NET_RAW" in checked.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["--check", "198.51.100.10", "--json"],
        ["--check", "--json", "198.51.100.10"],
        ["--json", "--check", "198.51.100.10"],
        ["--check", "-I", "to-r1", "--json", "198.51.100.10"],
        ["198.51.100.10", "--check", "--json", "-I", "to-r1"],
    ],
)
def test_the_check_takes_its_target_in_any_order(chain_lab: Lab, argv: list[str]) -> None:
    result = chain_lab.netladder("client", "neigh", *argv)
    assert result.returncode == 0, result.stderr
    (c,) = json.loads(result.stdout)["checks"]
    assert (c["target"], c["neighbour"], c["iface"]) == ("198.51.100.10", "203.0.113.1", "to-r1")
    # The live reply is the gateway's MAC, as arping sees it.
    anchor = chain_lab.exec(
        "client", ["arping", "-c", "1", "-w", "1", "-I", "to-r1", "203.0.113.1"], check=False
    ).stdout
    assert c["verdict"] == "ok" and [m.upper() for m in c["live_macs"]] == re.findall(
        r"\[([0-9A-F:]{17})\]", anchor
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["neigh", "-I", "nosuchif0"],
        ["neigh", "--check", "bogus"],
        ["neigh", "--check", "198.51.100.10", "198.51.100.9"],
        ["neigh", "198.51.100.10"],
        ["neigh", "sideways"],
        ["neigh", "--count", "2"],
    ],
)
def test_bad_input_is_one_line_and_exit_2(chain_lab: Lab, argv: list[str]) -> None:
    result = chain_lab.netladder("client", *argv)
    assert result.returncode == 2, result.stderr
    assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1


def test_watch_reports_a_mac_change_and_the_flip_flop_back(chain_lab: Lab) -> None:
    lan2, lan3 = chain_lab.addr("lan2"), chain_lab.addr("lan3")
    original = chain_lab.mac("lan2", "lan")
    other = "02:00:5e:00:53:42"
    assert ping(chain_lab, "r1", lan2) == 0  # r1 knows lan2 before the watch starts
    chain_lab.exec("r1", ["ip", "neigh", "flush", "dev", "lan", "to", lan3])
    # No --count: a station elsewhere on the LAN may be (re)learned meanwhile.  Follow the
    # live lines until the flip-flop, then keep the events about lan2 and lan3.
    watcher = chain_lab.popen(
        "r1",
        [*CLI, "neigh", "watch", "-I", "lan", "--duration", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    ours: list[str] = []
    try:
        assert watcher.stdout is not None and watcher.stderr is not None
        assert "watching neighbour changes on lan" in watcher.stderr.readline()

        def garp() -> None:  # a gratuitous ARP makes r1 take lan2's MAC as it is now
            chain_lab.exec(
                "lan2", ["arping", "-U", "-c", "1", "-w", "0", "-I", "lan", lan2], check=False
            )

        chain_lab.exec(
            "lan3",
            ["arping", "-c", "1", "-w", "1", "-I", "lan", chain_lab.addr_on("r1", "lan")],
            check=False,
        )
        chain_lab.exec("lan2", ["ip", "link", "set", "lan", "address", other])
        garp()
        chain_lab.exec("lan2", ["ip", "link", "set", "lan", "address", original])
        garp()
        for line in watcher.stdout:
            _, rest = line.rstrip("\n").split(" ", 1)  # HH:MM:SS, then arpwatch's words
            if {lan2, lan3} & set(rest.split()):
                ours.append(rest)
            if rest.startswith(f"flip flop {lan2} "):
                break
        watcher.terminate()  # SIGTERM ends the watch as --duration does: exit 0
        watcher.communicate(timeout=25)
    finally:
        chain_lab.exec("lan2", ["ip", "link", "set", "lan", "address", original], check=False)
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()
    assert watcher.returncode == 0
    assert ours == [
        f"new station {lan3} {chain_lab.mac('lan3', 'lan')} lan",
        f"changed ethernet address {lan2} {other} ({original}) lan",
        f"flip flop {lan2} {original} ({other}) lan",
    ]


def test_watch_stops_at_its_duration_with_one_json_document(chain_lab: Lab) -> None:
    started = time.monotonic()
    result = chain_lab.netladder("client", "neigh", "watch", "--json", "--duration", "0.5")
    assert result.returncode == 0
    assert 0.5 <= time.monotonic() - started < 10
    # Whatever the kernel re-learned meanwhile, the document is whole and says so.
    doc = json.loads(result.stdout)
    assert doc["interrupted"] is False and doc["elapsed_ms"] >= 500
    assert all(e["kind"] in KINDS for e in doc["events"])


RUNGS = """
import asyncio, json, sys
from netladder.diagnose.rungs import l2_rung, route_rung
from netladder.output import to_jsonable
from netladder.render.diagnose import sentence
async def main():
    return [await route_rung(sys.argv[1]), await l2_rung(sys.argv[1])]
print(json.dumps(to_jsonable(asyncio.run(main()), sentence)))
"""


def rungs(lab: Lab, target: str, *prefix: str, node: str = "client") -> list[dict[str, Any]]:
    result = lab.exec(node, [*prefix, sys.executable, "-c", RUNGS, target])
    found: list[dict[str, Any]] = json.loads(result.stdout)
    return found


def test_diagnose_rungs_name_the_wrong_gateway_mac_and_warn_when_unprivileged(
    chain_lab: Lab,
) -> None:
    server = chain_lab.addr("server")
    route, l2 = rungs(chain_lab, server)
    assert (route["layer"], route["status"], l2["layer"], l2["status"]) == (
        "route",
        "pass",
        "l2",
        "pass",
    )
    assert route["summary"] == "via gateway 203.0.113.1 on to-r1 (route default)"
    with chain_lab.fault(WrongArp("client", "r1")):
        _, l2 = rungs(chain_lab, server)
        assert l2["status"] == "fail" and l2["evidence"]["verdict"] == "mismatch"
        assert l2["next_command"] == "ip neigh del 203.0.113.1 dev to-r1"
        _, warned = rungs(chain_lab, server, *UNPRIVILEGED)
        assert warned["status"] == "warn"
        assert f"the table has {WRONG_MAC} (PERMANENT) for 203.0.113.1" in warned["summary"]
    route, l2 = rungs(chain_lab, "2001:db8:ff::1", node="r1")  # routers have no default
    assert route["status"] == "fail" and "no route" in route["summary"]
    assert l2["status"] == "fail" and l2["evidence"]["verdict"] == "no_route"
