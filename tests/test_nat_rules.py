"""The pure half of forwarding: nft scripts built from a spec, and `nft -j list ruleset` read
back into forwards, foreign NAT rules and shadows.  The JSON below is what nft 1.0.6 printed for
a netladder forward beside an iptables-nft REDIRECT."""

from __future__ import annotations

from typing import Any

import pytest

from netladder.nat.rules import (
    ForwardSpec,
    build_add_script,
    build_delete_script,
    comment_for,
    iptables_equivalent,
    next_id,
    parse_comment,
    parse_ruleset,
    parse_ruleset_text,
    shadowing,
)

REDIRECT = ForwardSpec(port=80, to_port=8080)
DNAT = ForwardSpec(port=8022, to_port=22, dest="198.51.100.10")
DNAT6 = ForwardSpec(port=8023, to_port=22, proto="udp", dest="2001:db8:3::2", local=True)


@pytest.mark.parametrize("spec", [REDIRECT, DNAT, DNAT6, ForwardSpec(53, 5353, "udp", None, True)])
def test_a_comment_carries_the_whole_forward(spec: ForwardSpec) -> None:
    comment = comment_for(7, spec)
    assert len(comment) <= 128  # nft's comment limit
    assert parse_comment(comment) == (7, spec)


@pytest.mark.parametrize(
    "comment",
    [
        "",
        "netladder",
        "netladder id=x proto=tcp port=1 to=:2",
        "someone else's rule",
        "netladder id=1 proto=sctp port=1 to=:2",
    ],
)
def test_other_comments_are_not_forwards(comment: str) -> None:
    assert parse_comment(comment) is None


def test_a_redirect_is_one_rule_in_prerouting_only_for_local_traffic() -> None:
    script = build_add_script(1, REDIRECT)
    rules = [ln for ln in script.splitlines() if ln.startswith("add rule")]
    assert rules == [
        "add rule inet netladder prerouting fib daddr type local tcp dport 80 "
        "counter redirect to :8080 "
        'comment "netladder id=1 proto=tcp port=80 to=:8080"'
    ]
    # The table and its chains come first and are idempotent (`add`), at the standard priorities.
    assert script.startswith("add table inet netladder\n")
    assert "add chain inet netladder prerouting { type nat hook prerouting priority -100;" in script
    assert "hook postrouting priority 100;" in script


def test_local_adds_the_output_hook() -> None:
    script = build_add_script(2, ForwardSpec(80, 8080, local=True))
    assert " prerouting fib daddr type local tcp dport 80" in script
    assert " output fib daddr type local tcp dport 80" in script


def test_dnat_masquerades_only_what_it_translated() -> None:
    script = build_add_script(3, DNAT)
    assert (
        "add rule inet netladder prerouting meta nfproto ipv4 fib daddr type local tcp dport "
        "8022 counter dnat ip to 198.51.100.10:22"
    ) in script
    assert (
        "postrouting meta nfproto ipv4 ct status dnat ip daddr 198.51.100.10 tcp dport 22 "
        "ct original proto-dst 8022 counter masquerade"
    ) in script
    v6 = build_add_script(4, DNAT6)
    assert "dnat ip6 to [2001:db8:3::2]:22" in v6
    assert " output meta nfproto ipv6 " in v6


def test_the_iptables_equivalent_is_the_seed_form() -> None:
    assert iptables_equivalent(1, REDIRECT)[0] == (
        "iptables -t nat -A PREROUTING -p tcp --dport 80 -m addrtype --dst-type LOCAL -m comment "
        "--comment 'netladder id=1 proto=tcp port=80 to=:8080' -j REDIRECT --to-ports 8080"
    )
    dnat = iptables_equivalent(1, DNAT)
    assert any("-j DNAT --to-destination 198.51.100.10:22" in c for c in dnat)
    assert any("-j MASQUERADE" in c for c in dnat)
    assert dnat[-1] == "sysctl -w net.ipv4.ip_forward=1"


def _table(family: str, name: str, handle: int) -> dict[str, Any]:
    return {"table": {"family": family, "name": name, "handle": handle}}


def _chain(family: str, table: str, name: str, hook: str, prio: int) -> dict[str, Any]:
    return {
        "chain": {
            "family": family,
            "table": table,
            "name": name,
            "handle": 1,
            "type": "nat",
            "hook": hook,
            "prio": prio,
            "policy": "accept",
        }
    }


def _dport(proto: str, right: Any) -> dict[str, Any]:
    return {
        "match": {
            "op": "==",
            "left": {"payload": {"protocol": proto, "field": "dport"}},
            "right": right,
        }
    }


def _counter(packets: int) -> dict[str, Any]:
    return {"counter": {"packets": packets, "bytes": packets * 60}}


def ruleset_doc(ours_first: bool = True) -> dict[str, Any]:
    ours_handle, theirs_handle = (1, 2) if ours_first else (2, 1)
    comment = comment_for(1, REDIRECT)
    dnat_comment = comment_for(2, DNAT)
    return {
        "nftables": [
            {"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
            _table("inet", "netladder", ours_handle),
            _chain("inet", "netladder", "prerouting", "prerouting", -100),
            _chain("inet", "netladder", "output", "output", -100),
            _chain("inet", "netladder", "postrouting", "postrouting", 100),
            {
                "rule": {
                    "family": "inet",
                    "table": "netladder",
                    "chain": "prerouting",
                    "handle": 4,
                    "comment": comment,
                    "expr": [_dport("tcp", 80), _counter(3), {"redirect": {"port": 8080}}],
                }
            },
            {
                "rule": {
                    "family": "inet",
                    "table": "netladder",
                    "chain": "prerouting",
                    "handle": 5,
                    "comment": dnat_comment,
                    "expr": [
                        _dport("tcp", 8022),
                        _counter(1),
                        {"dnat": {"family": "ip", "addr": "198.51.100.10", "port": 22}},
                    ],
                }
            },
            {
                "rule": {
                    "family": "inet",
                    "table": "netladder",
                    "chain": "postrouting",
                    "handle": 6,
                    "comment": dnat_comment,
                    "expr": [_counter(1), {"masquerade": None}],
                }
            },
            _table("ip", "nat", theirs_handle),
            _chain("ip", "nat", "PREROUTING", "prerouting", -100),
            {
                "rule": {
                    "family": "ip",
                    "table": "nat",
                    "chain": "PREROUTING",
                    "handle": 2,
                    "expr": [
                        _dport("tcp", 80),
                        _counter(0),
                        {"xt": {"type": "target", "name": "REDIRECT"}},
                    ],
                }
            },
            _table("inet", "fw", 3),
            _chain("inet", "fw", "pre", "prerouting", -150),
            {
                "rule": {
                    "family": "inet",
                    "table": "fw",
                    "chain": "pre",
                    "handle": 7,
                    "expr": [
                        _dport("udp", {"set": [53, {"range": [5000, 5010]}]}),
                        {"dnat": {"family": "ip", "addr": "198.51.100.66"}},
                    ],
                }
            },
        ]
    }


TEXT = """table inet netladder { # handle 1
\tchain prerouting { # handle 1
\t\ttype nat hook prerouting priority dstnat; policy accept;
\t\ttcp dport 80 counter packets 3 bytes 180 redirect to :8080 comment "x" # handle 4
\t}
}
table ip nat { # handle 2
\tchain PREROUTING { # handle 1
\t\ttype nat hook prerouting priority dstnat; policy accept;
\t\ttcp dport 80 counter packets 0 bytes 0 redirect to :8080 # handle 2
\t}
}
# Warning: table ip nat is managed by iptables-nft, do not touch!
"""


def test_the_ruleset_reads_back_forwards_with_counters() -> None:
    ruleset = parse_ruleset(ruleset_doc())
    assert [f.id for f in ruleset.forwards] == [1, 2]
    redirect, dnat = ruleset.forwards
    assert redirect.spec == REDIRECT and redirect.packets == 3 and redirect.bytes == 180
    assert dnat.spec == DNAT and dnat.complete
    assert [r.handle for r in dnat.rules] == [5, 6]
    assert not parse_ruleset({"nftables": []}).forwards
    assert next_id(ruleset) == 3


def test_foreign_nat_rules_are_listed_read_only_with_their_text() -> None:
    ruleset = parse_ruleset(ruleset_doc(), parse_ruleset_text(TEXT))
    iptables, fw = ruleset.foreign
    assert (iptables.family, iptables.table, iptables.statement, iptables.target) == (
        "ip",
        "nat",
        "xt",
        "REDIRECT",
    )
    assert iptables.text == "tcp dport 80 counter redirect to :8080"
    assert iptables.ports == ((80, 80),) and iptables.protos == ("tcp",)
    assert fw.ports == ((53, 53), (5000, 5010)) and fw.catches("udp", 5005)
    assert not fw.catches("tcp", 53)


def test_a_newer_table_at_the_same_priority_shadows_and_an_older_one_does_not() -> None:
    # The kernel runs the hook registered last first among equal priorities.
    theirs_older = parse_ruleset(ruleset_doc(ours_first=False))
    assert shadowing(theirs_older, REDIRECT) == ()
    theirs_newer = parse_ruleset(ruleset_doc(ours_first=True))
    (shadow,) = shadowing(theirs_newer, REDIRECT)
    assert shadow.where == "table ip nat chain PREROUTING handle 2"
    # A lower priority always runs first: the fw table's udp rule shadows a udp/53 forward.
    (fw,) = shadowing(theirs_older, ForwardSpec(53, 5353, "udp"))
    assert fw.table == "fw"
    # Another port is not shadowed.
    assert shadowing(theirs_newer, ForwardSpec(81, 8080)) == ()
    # Before netladder's table exists, an equal-priority table cannot shadow: ours will be newer.
    nothing_yet = parse_ruleset({"nftables": ruleset_doc()["nftables"][8:]})
    assert nothing_yet.table_handle is None and shadowing(nothing_yet, REDIRECT) == ()


def test_two_forwards_that_raced_for_one_id_stay_two() -> None:
    doc = ruleset_doc()
    doc["nftables"][6]["rule"]["comment"] = comment_for(1, DNAT)  # the DNAT got id 1 too
    doc["nftables"][7]["rule"]["comment"] = comment_for(1, DNAT)
    ruleset = parse_ruleset(doc)
    assert [(f.id, f.spec) for f in ruleset.forwards] == [(1, REDIRECT), (1, DNAT)]


def _with_ids(doc: dict[str, Any], ids: list[int]) -> dict[str, Any]:
    doc["nftables"].append(
        {
            "set": {
                "family": "inet",
                "table": "netladder",
                "name": "ids",
                "type": "mark",
                "elem": ids,
            }
        }
    )
    return doc


def test_an_add_reserves_its_id_and_only_the_table_going_releases_it() -> None:
    script = build_add_script(5, REDIRECT)
    assert "add set inet netladder ids { type mark; }\n" in script
    # `create`, not `add`: it fails when the id is taken, and the transaction with it.
    assert "create element inet netladder ids { 5 }\n" in script
    ruleset = parse_ruleset(_with_ids(ruleset_doc(), [1, 2, 7]))
    assert ruleset.ids == {1, 2, 7} and next_id(ruleset) == 8
    # Deleting one forward of two removes its rules and keeps its id reserved: ids are never
    # reused while the table lives (what lets a delete tell, atomically, that no add came).
    assert "element" not in build_delete_script(ruleset, [2])


def test_a_catch_all_jump_is_not_a_shadow_but_a_jump_for_the_port_is() -> None:
    doc = ruleset_doc(ours_first=True)
    jump: dict[str, Any] = {
        "rule": {
            "family": "ip",
            "table": "nat",
            "chain": "PREROUTING",
            "handle": 9,
            "expr": [{"jump": {"target": "DOCKER"}}],
        }
    }
    doc["nftables"][10] = jump  # instead of the REDIRECT
    assert shadowing(parse_ruleset(doc), REDIRECT) == ()
    jump["rule"]["expr"].insert(0, _dport("tcp", 80))
    (shadow,) = shadowing(parse_ruleset(doc), REDIRECT)
    assert (shadow.statement, shadow.target) == ("jump", "DOCKER")


def test_deleting_one_forward_deletes_its_rules_by_handle_and_nothing_else() -> None:
    ruleset = parse_ruleset(ruleset_doc())
    assert build_delete_script(ruleset, [2]) == (
        "delete rule inet netladder prerouting handle 5\n"
        "delete rule inet netladder postrouting handle 6\n"
    )
    assert build_delete_script(parse_ruleset({"nftables": []}), None) == ""


def test_deleting_the_last_forward_drops_the_table_only_if_no_add_came_meanwhile() -> None:
    # The table as read holds forwards 1 and 2 (ids 1, 2 reserved; table handle 1).  An add
    # that read it meanwhile takes id 3 with `create element`: the delete creates 3 itself
    # first, so one of the two transactions fails, and the table is deleted by its handle.
    ruleset = parse_ruleset(_with_ids(ruleset_doc(), [1, 2]))
    drop = (
        "add set inet netladder ids { type mark; }\n"
        "create element inet netladder ids { 3 }\n"
        "delete table inet handle 1\n"
    )
    assert build_delete_script(ruleset, [1, 2]) == drop
    assert build_delete_script(ruleset, None) == drop
    # Told to leave the table (adds kept failing the guard), it deletes the rules only.
    assert "table" not in build_delete_script(ruleset, None, drop_table=False).replace(
        "inet netladder", ""
    )
    # A gap below the highest id (a hand edit) is an id an add may still take: guarded too.
    gapped = parse_ruleset(_with_ids(ruleset_doc(), [2]))
    assert "create element inet netladder ids { 1, 3 }\n" in build_delete_script(gapped, None)


def test_a_table_holding_more_than_forwards_is_left_to_its_owner() -> None:
    doc = _with_ids(ruleset_doc(), [1, 2])
    doc["nftables"].append(
        {
            "rule": {
                "family": "inet",
                "table": "netladder",
                "chain": "prerouting",
                "handle": 20,
                "expr": [{"accept": None}],
            }
        }
    )
    doc["nftables"].append({"counter": {"family": "inet", "table": "netladder", "name": "mine"}})
    ruleset = parse_ruleset(doc)
    assert ruleset.strays == ("counter mine", "rule handle 20 in chain prerouting")
    script = build_delete_script(ruleset, None)
    assert "table" not in script.replace("inet netladder", "")
    assert script.count("delete rule") == 3


@pytest.mark.parametrize(
    ("stderr", "expected", "korean"),
    [
        (
            "/dev/stdin:2:1-95: Error: Could not process rule: Operation not supported\n"
            "add chain inet netladder prerouting { ... }\n^^^^^^^^",
            "nft refused 'add chain inet netladder prerouting': Could not process rule: "
            "Operation not supported (nothing was applied)",
            "nft가 'add chain inet netladder prerouting'을(를) 거부했습니다: Could not process "
            "rule: Operation not supported (아무것도 적용되지 않았습니다)",
        ),
        (
            "Error: syntax error, unexpected junk",
            "nft: Error: syntax error, unexpected junk",
            "nft: Error: syntax error, unexpected junk",
        ),
        ("", "nft failed (exit 1)", "nft 실패 (종료 코드 1)"),
    ],
)
def test_an_nft_error_is_one_line_naming_the_script_line(
    stderr: str, expected: str, korean: str
) -> None:
    """nft's own words stay as nft says them; netladder's around them are templates."""
    from netladder import i18n
    from netladder.nat.nft import describe_error

    script = "add table inet netladder\nadd chain inet netladder prerouting\n"
    error = describe_error(stderr, script, 1)
    assert str(error) == expected and error.raw == stderr
    i18n.set_language("ko")
    try:
        assert error.render(i18n._) == korean
    finally:
        i18n.set_language("en")
