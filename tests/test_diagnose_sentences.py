"""Every sentence `diagnose` prints, for every case that reaches it, says only what its evidence
shows: fabricated rungs and engine results, no lab.  The rules (diagnose/engine.py,
diagnose/rungs.py) read the rungs' typed evidence; the words are render/diagnose.py's.  The
lab tests beside ping, traceroute and curl are in tests/test_diagnose.py."""

from __future__ import annotations

import json
import random
import typing
from typing import Any

import pytest

from netladder.diagnose.engine import Options, judge, plan_path, unsent
from netladder.diagnose.model import (
    Address,
    Diagnosis,
    EchoError,
    Echoes,
    EchoEvidence,
    EchoRtt,
    Finding,
    Http,
    NextHop,
    NotChecked,
    Nothing,
    NotNeeded,
    PmtuResult,
    Problem,
    Rung,
    Status,
    TableOnly,
    TcpAnswers,
    Trace,
    TraceHop,
    Verdict,
)
from netladder.diagnose.rungs import l3_rung, l4_rung
from netladder.l2.model import NeighCheck
from netladder.l2.model import Verdict as L2Verdict
from netladder.l2.route import RouteDecision
from netladder.l3.model import PingResult, ProbeError, Sample
from netladder.l3.stats import rtt_stats
from netladder.l4.model import Banner, PortResult, PortState, ScanResult, StateGroup
from netladder.l7.lint import Finding as LintFinding
from netladder.l7.model import Timings
from netladder.net.targets import Target
from netladder.output import to_jsonable
from netladder.path.model import PathVerdict
from netladder.render.diagnose import TEMPLATES, sentence, silence, summary, verdict_text


def route(gateway: str | None = "203.0.113.1", prefsrc: str | None = None) -> Rung:
    decision = RouteDecision(
        "198.51.100.10", 4, "unicast", "to-r1", gateway, prefsrc, "main", 0, "default"
    )
    return Rung("route", Status.PASS, "gateway" if gateway else "on-link", decision)


def neigh(verdict: L2Verdict, neighbour: str | None, via_gateway: bool, text: str) -> NeighCheck:
    return NeighCheck(
        "198.51.100.10", neighbour, "to-r1", via_gateway, via_gateway, None, None, None, (), None,
        verdict, text,
    )  # fmt: skip


def echoes(received: int = 0, *errors: EchoError, **more: Any) -> Echoes:
    rtt = EchoRtt(0.0002, 0.0002, 0.0002, 0.0) if received else None
    return Echoes(10, received, (10 - received) * 10.0, errors, rtt, "raw", **more)


HOST_UNREACHABLE = "Destination Host Unreachable"
ROUTE = route()
ON_LINK = route(gateway=None)
L2_OK = Rung(
    "l2",
    Status.PASS,
    "next-hop",
    NextHop(neigh(L2Verdict.OK, "203.0.113.1", True, "the default gateway … matches")),
)
L2_UNCHECKED = Rung("l2", Status.WARN, "table-only", TableOnly("203.0.113.1", None, "…"))
L2_NONE = Rung(
    "l2",
    Status.SKIP,
    "next-hop",
    NextHop(
        neigh(L2Verdict.NOT_APPLICABLE, None, False, "198.51.100.1 is this host's own address")
    ),
)
L3_SILENT = Rung("l3", Status.FAIL, "silent", echoes())
L3_OK = Rung("l3", Status.PASS, "replies", echoes(10))
L3_NOT_POSSIBLE = Rung("l3", Status.WARN, "echo-impossible", NotChecked("…"))


def skip(layer: str) -> Rung:
    return Rung(layer, Status.SKIP, "lower-failed")


def ladder(route: Rung, l2: Rung, l3: Rung, path: Rung | None = None, **more: Rung) -> Verdict:
    rungs = {"names": skip("names"), "route": route, "l2": l2, "l3": l3}
    rungs["path"] = path or skip("path")
    rungs["l4"] = more.get("l4", skip("l4"))
    rungs["l7"] = more.get("l7", skip("l7"))
    return judge(tuple(rungs.values()))


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
    verdict = ladder(route, l2, L3_SILENT)
    assert verdict.layer == "l3"
    assert verdict_text(verdict) == f"L3: no echo reply to 10 probes{suffix}"


def test_echo_errors_are_read_for_what_they_say_and_who_said_it() -> None:
    from_router = Rung(
        "l3", Status.FAIL, "echo-error", echoes(0, EchoError(1, "203.0.113.1", HOST_UNREACHABLE))
    )
    assert summary(from_router) == "no echo reply: Destination Host Unreachable from 203.0.113.1"
    text = verdict_text(ladder(ROUTE, L2_OK, from_router))
    assert "the router 203.0.113.1 cannot deliver to the host" in text
    own = route(prefsrc="203.0.113.2")
    from_here = Rung(
        "l3", Status.FAIL, "echo-error", echoes(0, EchoError(1, "203.0.113.2", HOST_UNREACHABLE))
    )
    assert "this host cannot deliver to the host: no ARP/NDP answer on its own link" in (
        verdict_text(ladder(own, L2_OK, from_here))
    )


def trace(
    hops: list[tuple[int, str | None]],
    protocol: str = "tcp",
    finding: str = "silence",
    **verdict: Any,
) -> Rung:
    seen = tuple(TraceHop(ttl, address, 0.0 if address else 100.0, None) for ttl, address in hops)
    found = PathVerdict("no-answer", finding, **verdict)
    return Rung("path", Status.FAIL, "trace", Trace(protocol, False, seen, found, 1.0))


def test_silence_after_a_hop_lists_every_cause_it_cannot_tell_apart() -> None:
    path = trace([(1, "203.0.113.1"), (2, None)])
    text = verdict_text(ladder(ROUTE, L2_OK, L3_SILENT, path))
    assert "last answer came from hop 1 (203.0.113.1); beyond it TCP SYNs and ICMP echoes" in text
    assert "alike get no answer" in text
    assert "does not forward" in text and "down or absent" in text and "filter" in text
    assert "the route and the gateway are fine" not in text  # the path failed: it says where


def test_no_hop_at_all_names_the_gateway_that_answers_arp() -> None:
    text = verdict_text(ladder(ROUTE, L2_OK, L3_SILENT, trace([(1, None)])))
    assert "not even the gateway 203.0.113.1 at hop 1, which answers ARP" in text
    unchecked = verdict_text(ladder(ROUTE, L2_UNCHECKED, L3_SILENT, trace([])))
    assert "answers ARP" not in unchecked  # the live ARP check did not run


def test_a_routing_loop_is_the_traces_own_words() -> None:
    loop = ("203.0.113.1", "203.0.113.6")
    looped = trace([(1, "203.0.113.1")], "icmp", "loop", hop=1, upto=10, loop=loop)
    text = verdict_text(ladder(ROUTE, L2_OK, L3_SILENT, looped))
    assert text == (
        "L3: no echo reply to 10 probes; the trace: routing loop between 203.0.113.1 and "
        "203.0.113.6: hops 1-2 repeat up to hop 10, the destination is not reached"
    )


def test_echoes_that_got_an_error_are_not_called_silent_by_the_trace() -> None:
    l3 = Rung(
        "l3", Status.FAIL, "echo-error", echoes(0, EchoError(1, "203.0.113.1", HOST_UNREACHABLE))
    )
    path = trace([(1, "203.0.113.1"), (2, None)])
    assert "get no answer" not in verdict_text(ladder(ROUTE, L2_OK, l3, path))


UNREACHABLE_ERROR = EchoError(1, "203.0.113.1", HOST_UNREACHABLE)


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
            EchoEvidence(True, 0, 10, UNREACHABLE_ERROR, ()),
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
    text = silence(22, echo, other)
    assert says in text and never not in text
    assert "so a firewall drops the port" not in text  # never the one cause silence cannot prove


def pmtu(outcome: str, **fields: Any) -> PmtuResult:
    return PmtuResult(4, outcome, 1500, **fields)


BLOCKED = Rung("l3", Status.WARN, "silent", echoes(0, blocked=TcpAnswers(80)))


@pytest.mark.parametrize(
    "route, l2, l3, ping, result, deep, plan, reason",
    [
        (
            Rung("route", Status.FAIL, "error", Problem("no route")),
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
            Rung("l2", Status.FAIL, "error", Problem("L2 broken")),
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
        (ROUTE, L2_OK, BLOCKED, True, None, False, None, "not run: ICMP echo is blocked"),
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
    job, why = plan_path(Options(deep=deep), route, l2, l3, object() if ping else None, result)  # type: ignore[arg-type]
    assert job == plan
    if job is None:
        evidence = NotNeeded(result) if why == "not-needed" else Nothing()
        said = summary(Rung("path", Status.SKIP, why, evidence))
        assert reason in said
        if l3.status is not Status.PASS:
            assert (
                "not needed" not in said
            )  # a failed or impossible L3 never makes a trace unneeded


def lint_warning() -> Rung:
    finding = LintFinding("date", params=(("status", 200),))  # render.http words it
    http = Http(200, "OK", "HTTP/1.1", Timings(total=0.003), (finding,), (), None)
    return Rung("l7", Status.WARN, "response", http)


def test_nothing_failed_but_not_everything_ran_is_not_every_layer_passes() -> None:
    verdict = ladder(ROUTE, L2_UNCHECKED, L3_NOT_POSSIBLE)
    assert verdict.layer is None
    assert verdict_text(verdict) == "every layer that could be checked passes (not checked: L2, L3)"
    lint = lint_warning()
    assert summary(lint) == "HTTP/1.1 200 OK in 3.0 ms; 200 response without Date"
    text = verdict_text(ladder(ROUTE, L2_OK, BLOCKED, l7=lint))
    assert text == (
        "every layer passes (warnings: L3: ICMP echo is blocked; L7: 200 response without Date)"
    )


def test_each_warning_is_named_by_its_first_clause() -> None:
    lossy = Rung("l3", Status.WARN, "loss", echoes(7))
    assert summary(lossy) == "30% loss: 7/10 echo replies, rtt avg 0.20 ms (min 0.20, max 0.20)"
    slow = Rung("l3", Status.WARN, "high-rtt", echoes(10))
    assert summary(slow).startswith("high RTT: 10/10 echo replies")
    assert (
        verdict_text(ladder(ROUTE, L2_OK, lossy)) == "every layer passes (warnings: L3: 30% loss)"
    )
    assert verdict_text(ladder(ROUTE, L2_OK, slow)) == "every layer passes (warnings: L3: high RTT)"


def test_echoes_held_for_a_next_hop_that_does_not_answer_arp_are_named() -> None:
    own = route(prefsrc="203.0.113.2")
    silent_gateway = neigh(L2Verdict.NO_ANSWER, "203.0.113.1", True, "L2 broken: …")
    l2 = Rung("l2", Status.FAIL, "next-hop", NextHop(silent_gateway))
    assert summary(unsent(L3_SILENT, own, l2)) == (
        "no echo reply to 10 probes: they never left this host, as its gateway 203.0.113.1 "
        'does not answer ARP (ping shows "Destination Host Unreachable" from 203.0.113.2 once '
        "ARP gives up, ~3 s in)"
    )
    on_link = neigh(L2Verdict.NO_ANSWER, "2001:db8:1::9", False, "…")
    v6 = summary(unsent(L3_SILENT, ON_LINK, Rung("l2", Status.FAIL, "next-hop", NextHop(on_link))))
    assert (
        "as 2001:db8:1::9 does not answer NDP" in v6
        and '"Address unreachable" from this host' in v6
    )
    # A wrong MAC sends the echoes to a station that stays silent; errors speak for themselves.
    wrong = neigh(L2Verdict.MISMATCH, "203.0.113.1", True, "…")
    mismatch = Rung("l2", Status.FAIL, "next-hop", NextHop(wrong))
    assert unsent(L3_SILENT, own, mismatch) is L3_SILENT
    got_error = Rung("l3", Status.FAIL, "echo-error", echoes(0, EchoError(1, "x", "…")))
    assert unsent(got_error, own, l2) is got_error


def test_every_finding_has_its_sentence() -> None:
    skipped = {"interrupted", "unresolved-name", "no-port", "lower-failed", "unrouted"}
    skipped |= {"l2-failed", "echo-impossible-path", "echo-blocked", "not-http"}
    assert skipped <= set(TEMPLATES)
    for finding in skipped:
        assert summary(Rung("path", Status.SKIP, typing.cast(Finding, finding)))
    named = set(typing.get_args(Finding))
    # Every other finding is said from its evidence (each case above and in the lab tests).
    assert skipped < named


# -- the JSON the rungs show: the keys and values the hand-built documents had ---------------------


def ping_result(rtts_ns: list[int], transmitted: int, errors: int = 0) -> PingResult:
    samples = tuple(Sample(i + 1, ns, 64, 64) for i, ns in enumerate(rtts_ns))
    events = tuple(
        ProbeError(len(rtts_ns) + i + 1, "203.0.113.1", 3, 1, HOST_UNREACHABLE)
        for i in range(errors)
    )
    return PingResult(
        Target("198.51.100.10", "198.51.100.10", 4),
        "raw", 7, 56, transmitted, len(rtts_ns), 0, 0, errors, 0, 1, samples, events,
    )  # fmt: skip


def test_l3_evidence_is_what_it_always_was_to_the_last_digit() -> None:
    rng = random.Random(14)
    for _ in range(2000):
        rtts = [rng.randrange(10_000, 400_000_000) for _ in range(rng.randrange(1, 11))]
        result = ping_result(rtts, 10, errors=rng.randrange(0, 2))
        rung = l3_rung("198.51.100.10", result, 0.5, None)
        rtt = rtt_stats([ns / 1e6 for ns in rtts])
        assert rtt is not None
        # What diagnose/engine.py wrote by hand before the rungs were typed:
        before: dict[str, Any] = {
            "transmitted": result.transmitted,
            "received": result.received,
            "loss_pct": round(result.loss_percent, 1),
            "errors": [
                {"seq": e.seq, "from": e.source, "text": e.text} for e in result.error_events
            ],
            "rtt_ms": {
                "min": rtt.min_ms,
                "avg": rtt.avg_ms,
                "max": rtt.max_ms,
                "mdev": rtt.mdev_ms,
            },
            "socket": "raw",
        }
        after: dict[str, Any] = to_jsonable(rung.evidence, sentence)
        assert list(after) == list(before)
        assert after["rtt_ms"]["min"] == before["rtt_ms"]["min"]  # exactly: whole ns
        assert after["rtt_ms"]["max"] == before["rtt_ms"]["max"]
        for key in ("avg", "mdev"):  # ms → s → ms: equal to a few units in the last place
            assert after["rtt_ms"][key] == pytest.approx(before["rtt_ms"][key], rel=1e-15, abs=0)
        after["rtt_ms"] = before["rtt_ms"]
        assert after == before


def test_l4_evidence_keeps_its_keys_and_its_cause() -> None:
    banner = Banner("SSH-2.0-OpenSSH_9.2\r\nmore", "greeting", 0.0015)
    ports = (
        PortResult(22, "tcp", PortState.OPEN, "syn-ack", "ssh", 1, 0.0002, banner=banner),
        PortResult(81, "tcp", PortState.FILTERED, "host-unreach", "", 1, None, "203.0.113.1"),
    )
    groups = (StateGroup(PortState.CLOSED, "reset", 3, "82-84"),)
    scan = ScanResult(
        "www.lab", "198.51.100.10", "tcp", "syn", ports, groups, 5, 0.012345, 0.00025, 1.0, 1, 5
    )
    echo = EchoEvidence(True, 10, 10, None, (22,))
    rung = l4_rung("198.51.100.10", scan, echo)
    assert rung.status is Status.FAIL and rung.elapsed * 1000 == pytest.approx(12.345)
    assert rung.next_command == "netladder trace 198.51.100.10 --proto tcp -p 81"
    doc = to_jsonable(rung.evidence, sentence)
    assert doc == {
        "method": "syn",
        "ports": [
            {"port": 22, "proto": "tcp", "state": "open", "reason": "syn-ack", "reporter": None,
             "banner": "SSH-2.0-OpenSSH_9.2\r\nmore"},
            {"port": 81, "proto": "tcp", "state": "filtered", "reason": "host-unreach",
             "reporter": "203.0.113.1", "banner": None},
        ],
        "srtt_ms": 0.25,
        "elapsed_ms": 12.345,
        "cause": "198.51.100.10:81 is filtered (host-unreach from 203.0.113.1: the host cannot be "
        "reached: no ARP/NDP answer on the last router's link (down or absent), a route that "
        "says unreachable, or a firewall rejecting with host-unreachable)",
    }  # fmt: skip
    assert summary(rung) == (
        "22/tcp open (syn-ack): SSH-2.0-OpenSSH_9.2; 81/tcp filtered (host-unreach); "
        "3 closed (reset)"
    )


def test_the_document_keeps_its_order_and_its_sentences() -> None:
    rungs = (
        Rung("names", Status.SKIP, "address", Address("h")),
        ROUTE,
        L2_UNCHECKED,
        L3_NOT_POSSIBLE,
        Rung("path", Status.SKIP, "echo-impossible-path"),
        skip("l4"),
        Rung("l7", Status.SKIP, "not-http"),
    )
    doc = json.loads(
        json.dumps(to_jsonable(Diagnosis("h", "h", rungs, judge(rungs), 1.5), sentence))
    )
    assert list(doc) == ["target", "address", "ok", "elapsed_ms", "verdict", "layers"]
    assert doc["elapsed_ms"] == 1500.0 and doc["ok"] is True
    assert doc["verdict"] == {
        "layer": None,
        "text": "every layer that could be checked passes (not checked: L2, L3)",
        "next_command": None,
    }
    layer = doc["layers"][1]
    assert list(layer) == ["layer", "status", "summary", "elapsed_ms", "next_command", "evidence"]
    assert layer["summary"] == "via gateway 203.0.113.1 on to-r1 (route default)"
    assert doc["layers"][0]["evidence"] == {} and doc["layers"][0]["summary"] == (
        "h is an address; nothing to resolve"
    )
    assert doc["layers"][2]["evidence"] == {
        "next_hop": "203.0.113.1",
        "table": None,
        "not_checked": "…",
    }
    assert doc["layers"][3]["evidence"] == {"not_checked": "…"}


def test_a_reset_from_before_the_host_is_not_called_nothing_listens() -> None:
    forged = PortResult(
        84, "tcp", PortState.CLOSED, "reset", "", 1, 0.3, ttl=63, reset_hops_before=1
    )
    scan = ScanResult(
        "198.51.100.10", "198.51.100.10", "tcp", "syn", (forged,), (), 1, 2.0, 0.3, 1000.0, 1, 1,
        host_ttl=62,
    )  # fmt: skip
    rung = l4_rung("198.51.100.10", scan, EchoEvidence(True, 10, 10, None, ()))
    assert rung.next_command == "netladder trace 198.51.100.10 --proto tcp -p 84"
    assert to_jsonable(rung.evidence, sentence)["cause"] == (
        "198.51.100.10:84 is closed (reset), but the reset came from about 1 hop before the host "
        "(TTL 63; the host's own answers: TTL 62): something on the path rejects the connection "
        "in the host's name"
    )
