"""The lab hooks the names lab needs: per-node /etc files and nft set-up scripts."""

from __future__ import annotations

import json

from netladder.lab import Lab, Link, Node, Topology
from netladder.lab.core import ETC_NETNS
from netladder.lab.topologies import NAT_MASQUERADE


def test_node_etc_files_are_seen_inside_and_removed_at_down(lab_ok: None) -> None:
    topo = Topology(
        "etcfiles",
        (
            Node(
                "a",
                "router",
                setup=(NAT_MASQUERADE.replace("to-pub", "to-b"),),
                etc={"resolv.conf": "nameserver 198.51.100.2\n"},
            ),
            Node("b"),
        ),
        (Link("a", "b", "198.51.100.0/30"),),
    )
    lab = Lab(topo, name="netc").up()
    try:
        inside = lab.exec("a", ["cat", "/etc/resolv.conf"]).stdout
        assert inside == "nameserver 198.51.100.2\n"
        # Only the node that asked for it sees it.
        assert lab.exec("b", ["cat", "/etc/resolv.conf"]).stdout != inside
        ruleset = json.loads(lab.exec("a", ["nft", "-j", "list", "ruleset"]).stdout)
        assert any("masquerade" in json.dumps(item) for item in ruleset["nftables"])
    finally:
        lab.down()
    assert not (ETC_NETNS / lab.ns("a")).exists()


def test_a_stale_etc_directory_does_not_leak_into_a_new_lab(lab_ok: None) -> None:
    topo = Topology("stale", (Node("a"), Node("b")), (Link("a", "b", "198.51.100.0/30"),))
    lab = Lab(topo, name="nstale")
    stale = ETC_NETNS / lab.ns("a")
    stale.mkdir(parents=True, exist_ok=True)
    (stale / "resolv.conf").write_text("nameserver 198.51.100.99\n")
    with lab:
        assert "198.51.100.99" not in lab.exec("a", ["cat", "/etc/resolv.conf"]).stdout
    assert not stale.exists()
