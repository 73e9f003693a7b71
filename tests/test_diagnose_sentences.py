"""Every sentence `diagnose` prints, for every case that reaches it, says only what its evidence
shows: fabricated rungs, no lab.  The lab tests beside ping, traceroute and curl are in
tests/test_diagnose.py."""

from __future__ import annotations

from typing import Any

import pytest

from netladder.diagnose.engine import (
    EchoEvidence,
    Options,
    _plan_path,
    _silence,
    _unsent,
    _verdict,
)
from netladder.diagnose.model import Rung, Status
from netladder.diagnose.pmtu import PmtuResult

ROUTE = Rung("route", Status.PASS, "via gateway 203.0.113.1", evidence={"gateway": "203.0.113.1"})
ON_LINK = Rung("route", Status.PASS, "on-link on to-b", evidence={"gateway": None})
L2_OK = Rung(
    "l2",
    Status.PASS,
    "the default gateway … matches",
    evidence={"neighbour": "203.0.113.1", "via_gateway": True},
)
L2_UNCHECKED = Rung("l2", Status.WARN, "not checked live (…)", evidence={"not_checked": "…"})
L2_NONE = Rung("l2", Status.SKIP, "198.51.100.1 is this host's own address: no neighbour")
L3_SILENT = Rung("l3", Status.FAIL, "no echo reply to 10 probes", evidence={"errors": []})
L3_OK = Rung("l3", Status.PASS, "10/10 echo replies, rtt avg 0.2 ms")
L3_NOT_POSSIBLE = Rung(
    "l3", Status.WARN, "ICMP echo not possible: …", evidence={"not_checked": "…"}
)


def skip(layer: str) -> Rung:
    return Rung(layer, Status.SKIP, "…")


def ladder(route: Rung, l2: Rung, l3: Rung, path: Rung | None = None, **more: Rung) -> list[Rung]:
    rungs = {"names": skip("names"), "route": route, "l2": l2, "l3": l3}
    rungs["path"] = path or skip("path")
    rungs["l4"] = more.get("l4", skip("l4"))
    rungs["l7"] = more.get("l7", skip("l7"))
    return list(rungs.values())


@pytest.mark.parametrize(
    "route, l2, suffix",
    [
        (ROUTE, L2_OK, " (the route and the gateway are fine)"),
        (ON_LINK, L2_NONE, ""),  # no gateway was checked: nothing said about one
        (ROUTE, L2_UNCHECKED, ""),  # the gateway's MAC was not checked live
    ],
)
def test_an_l3_failure_vouches_only_for_what_was_checked(
    route: Rung, l2: Rung, suffix: str
) -> None:
    verdict = _verdict(ladder(route, l2, L3_SILENT))
    assert verdict.text == f"L3: no echo reply to 10 probes{suffix}"


def test_echo_errors_are_read_for_what_they_say_and_who_said_it() -> None:
    from_router = Rung(
        "l3",
        Status.FAIL,
        "no echo reply: Destination Host Unreachable from 203.0.113.1",
        evidence={"errors": [{"from": "203.0.113.1", "text": "Destination Host Unreachable"}]},
    )
    text = _verdict(ladder(ROUTE, L2_OK, from_router)).text
    assert "the router 203.0.113.1 cannot deliver to the host" in text
    own = Rung(
        "route", Status.PASS, "…", evidence={"gateway": "203.0.113.1", "prefsrc": "203.0.113.2"}
    )
    from_here = Rung(
        "l3",
        Status.FAIL,
        "no echo reply: Destination Host Unreachable from 203.0.113.2",
        evidence={"errors": [{"from": "203.0.113.2", "text": "Destination Host Unreachable"}]},
    )
    assert "this host cannot deliver to the host: no ARP/NDP answer on its own link" in (
        _verdict(ladder(own, L2_OK, from_here)).text
    )


def trace(hops: list[dict[str, Any]], protocol: str = "tcp", **verdict: Any) -> Rung:
    evidence = {"protocol": protocol, "hops": hops, "verdict": {"kind": "no-answer", **verdict}}
    return Rung("path", Status.FAIL, "…", evidence=evidence)


def test_silence_after_a_hop_lists_every_cause_it_cannot_tell_apart() -> None:
    path = trace([{"ttl": 1, "address": "203.0.113.1"}, {"ttl": 2, "address": None}])
    text = _verdict(ladder(ROUTE, L2_OK, L3_SILENT, path)).text
    assert "last answer came from hop 1 (203.0.113.1); beyond it TCP SYNs and ICMP echoes" in text
    assert "alike get no answer" in text
    assert "does not forward" in text and "down or absent" in text and "filter" in text
    assert "the route and the gateway are fine" not in text  # the path failed: it says where


def test_no_hop_at_all_names_the_gateway_that_answers_arp() -> None:
    text = _verdict(ladder(ROUTE, L2_OK, L3_SILENT, trace([{"ttl": 1, "address": None}]))).text
    assert "not even the gateway 203.0.113.1 at hop 1, which answers ARP" in text
    unchecked = _verdict(ladder(ROUTE, L2_UNCHECKED, L3_SILENT, trace([]))).text
    assert "answers ARP" not in unchecked  # the live ARP check did not run


def test_echoes_that_got_an_error_are_not_called_silent_by_the_trace() -> None:
    errors = {"errors": [{"from": "203.0.113.1", "text": "Destination Host Unreachable"}]}
    l3 = Rung(
        "l3", Status.FAIL, "no echo reply: Destination Host Unreachable from …", evidence=errors
    )
    path = trace([{"ttl": 1, "address": "203.0.113.1"}, {"ttl": 2, "address": None}])
    assert "get no answer" not in _verdict(ladder(ROUTE, L2_OK, l3, path)).text


@pytest.mark.parametrize(
    "echo, other, says, never",
    [
        (EchoEvidence(True, 10, 10, None, ()), None, "while the host answers ICMP echo:", "either"),
        (EchoEvidence(True, 8, 10, None, ()), None, "answers ICMP echo (8/10):", "either"),
        (
            EchoEvidence(True, 0, 10, None, ()),
            None,
            "no answer to ICMP echo either",
            "firewall on the port",
        ),
        (
            EchoEvidence(True, 0, 10, ("Destination Host Unreachable", "203.0.113.1"), ()),
            None,
            "ICMP echo gets Destination Host Unreachable from 203.0.113.1",
            "either",
        ),
        (
            EchoEvidence(False, 0, 0, None, ()),
            None,
            "ICMP echo could not be sent",
            "gets no answer",
        ),
        (EchoEvidence(False, 0, 0, None, (80,)), 80, "while port 80 answers", "ICMP"),
    ],
)
def test_silence_after_syn_is_said_as_far_as_echo_and_other_ports_know(
    echo: EchoEvidence, other: int | None, says: str, never: str
) -> None:
    text = _silence(22, echo, other)
    assert says in text and never not in text
    assert "so a firewall drops the port" not in text  # never the one cause silence cannot prove


def pmtu(outcome: str, **fields: Any) -> PmtuResult:
    return PmtuResult(4, outcome, 1500, **fields)


@pytest.mark.parametrize(
    "route, l2, l3, ping, result, deep, plan, reason",
    [
        (
            Rung("route", Status.FAIL, "no route"),
            L2_OK,
            L3_SILENT,
            True,
            None,
            False,
            None,
            "not reached: no route",
        ),
        (
            ROUTE,
            Rung("l2", Status.FAIL, "L2 broken"),
            L3_SILENT,
            True,
            None,
            False,
            None,
            "not reached: the next hop fails at L2",
        ),
        (
            ROUTE,
            L2_UNCHECKED,
            L3_NOT_POSSIBLE,
            False,
            None,
            False,
            None,
            "not run: ICMP echo was not possible",
        ),
        (
            ROUTE,
            L2_OK,
            Rung("l3", Status.WARN, "ICMP echo is blocked …", evidence={"blocked": True}),
            True,
            None,
            False,
            None,
            "not run: ICMP echo is blocked",
        ),
        (ROUTE, L2_OK, L3_SILENT, True, None, False, "trace", ""),
        (ROUTE, L2_OK, L3_OK, True, None, True, "trace", ""),
        (
            ROUTE,
            L2_OK,
            L3_OK,
            True,
            pmtu("fits", largest_through=1500),
            False,
            None,
            "not needed: L3 saw no loss and no high RTT, and a full-size (1500-byte) DF echo",
        ),
        (
            ROUTE,
            L2_OK,
            L3_OK,
            True,
            pmtu("black-hole", largest_through=1280, smallest_lost=1281),
            False,
            "pmtu",
            "",
        ),
        (
            ROUTE,
            L2_OK,
            L3_OK,
            True,
            pmtu("told", reported_mtu=1400, reporter="203.0.113.1"),
            False,
            None,
            "the path MTU is 1400, below this link's 1500, and 203.0.113.1 says so",
        ),
        (ROUTE, L2_OK, L3_OK, True, pmtu("no-echo"), False, None, "not judged"),
    ],
)
def test_the_path_rung_says_why_it_did_not_run(
    route: Rung,
    l2: Rung,
    l3: Rung,
    ping: bool,
    result: PmtuResult | None,
    deep: bool,
    plan: str | None,
    reason: str,
) -> None:
    job, why = _plan_path(Options(deep=deep), route, l2, l3, object() if ping else None, result)  # type: ignore[arg-type]
    assert job == plan and reason in why
    if l3.status is not Status.PASS:
        assert "not needed" not in why  # a failed or impossible L3 never makes a trace unneeded


def test_nothing_failed_but_not_everything_ran_is_not_every_layer_passes() -> None:
    rungs = ladder(ROUTE, L2_UNCHECKED, L3_NOT_POSSIBLE)
    verdict = _verdict(rungs)
    assert verdict.layer is None
    assert verdict.text == "every layer that could be checked passes (not checked: L2, L3)"
    blocked = Rung("l3", Status.WARN, "ICMP echo is blocked (no echo reply …), but port 80 is open")
    lint = Rung(
        "l7",
        Status.WARN,
        "HTTP/1.1 200 OK in 3 ms; missing Date",
        evidence={"lint": [{"message": "missing Date"}]},
    )
    text = _verdict(ladder(ROUTE, L2_OK, blocked, l7=lint)).text
    assert text == "every layer passes (warnings: L3: ICMP echo is blocked; L7: missing Date)"


def test_echoes_held_for_a_next_hop_that_does_not_answer_arp_are_named() -> None:
    route = Rung(
        "route", Status.PASS, "…", evidence={"gateway": "203.0.113.1", "prefsrc": "203.0.113.2"}
    )
    silent_gateway = {"verdict": "no_answer", "neighbour": "203.0.113.1", "via_gateway": True}
    l2 = Rung("l2", Status.FAIL, "L2 broken: …", evidence=silent_gateway)
    assert _unsent(L3_SILENT, route, l2).summary == (
        "no echo reply to 10 probes: they never left this host, as its gateway 203.0.113.1 "
        'does not answer ARP (ping shows "Destination Host Unreachable" from 203.0.113.2 once '
        "ARP gives up, ~3 s in)"
    )
    on_link = {"verdict": "no_answer", "neighbour": "2001:db8:1::9", "via_gateway": False}
    v6 = _unsent(L3_SILENT, ON_LINK, Rung("l2", Status.FAIL, "…", evidence=on_link)).summary
    assert (
        "as 2001:db8:1::9 does not answer NDP" in v6
        and '"Address unreachable" from this host' in v6
    )
    # A wrong MAC sends the echoes to a station that stays silent; errors speak for themselves.
    mismatch = Rung("l2", Status.FAIL, "…", evidence={**silent_gateway, "verdict": "mismatch"})
    assert _unsent(L3_SILENT, route, mismatch) is L3_SILENT
    got_error = Rung("l3", Status.FAIL, "no echo reply: …", evidence={"errors": [{"from": "x"}]})
    assert _unsent(got_error, route, l2) is got_error
