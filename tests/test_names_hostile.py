"""`dns` and `myip` against servers that misbehave, beside dig: dnsmasq's CNAME answers without
the target's records (issue 13 item 3), a truncated answer from a server with nothing on TCP
(item 4), replies with the wrong ID or for another question (item 15), and the hostile DNS and
STUN peers of issue 17 item 4 (lab.dnsserver HOSTILE_MODES, lab.echo STUN_MODES).

Each case: a clear result or error within its timeout, never a traceback."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from netladder.lab import Lab, Link, Node, Service, Topology
from netladder.lab.dnsserver import HOSTILE_MODES

SERVER = "198.51.100.1"  # the lab's DNS server (hostile names) and the STUN responders
UDP_ONLY = f"{SERVER}:5300"  # the same zone with nothing listening on TCP
EXT = f"{SERVER}:5301"  # the zone ext., whose CNAME leads back into lab.
DNSMASQ = "198.51.100.5"  # dnsmasq, the client's resolver (resolv.conf)
STUB_SERVER = "198.51.100.13"  # the same DNS server, the stub node's resolver

ZONE = (
    ("@", 300, "NS", "ns"),
    ("ns", 300, "A", SERVER),
    ("host", 300, "A", SERVER),
    *((mode, 300, "A", SERVER) for mode in HOSTILE_MODES),
    ("sub", 300, "NS", "ns.sub"),
    ("ns.sub", 300, "A", "198.51.100.9"),  # delegated away
    ("tosub", 300, "CNAME", "www.sub"),
    ("loop1", 300, "CNAME", "loop2"),
    ("loop2", 300, "CNAME", "loop1"),
    ("away", 300, "CNAME", "www.example."),  # a target outside the server's zones
    ("x", 300, "CNAME", "y.ext."),
    ("z", 300, "A", "198.51.100.7"),  # x -> y.ext. -> z
    ("dangl", 300, "CNAME", "gone"),  # NXDOMAIN with the CNAME (RFC 6604)
)
DNS_OPTIONS = {
    "zones": ["lab."],
    "records": [list(r) for r in ZONE],
    "hostile": {mode: mode for mode in HOSTILE_MODES},
}
STUN_PORTS = {
    mode: 3478 + i
    for i, mode in enumerate(
        (
            "short-attribute",
            "overrun",
            "wrong-family",
            "bad-family",
            "other-family",
            "bad-fingerprint",
            "echo",
            "wrong-txid",
            "normal",
        )
    )
}

# dnsmasq answers a --cname to an --address name with the CNAME alone (the target's A record
# is only given when asked for directly); --local makes it say NXDOMAIN for unknown names.
DNSMASQ_ARGS = (
    "--local=/dm/",
    f"--address=/target.dm/{DNSMASQ}",
    "--cname=alias.dm,target.dm",
    "--cname=dangling.dm,nowhere.dm",
    f"--host-record=v4.dm,{DNSMASQ}",
    "--cname=alias4.dm,v4.dm",
)


def hostile_names() -> Topology:
    return Topology(
        "hostilenames",
        nodes=(
            Node(
                "client",
                etc={
                    "resolv.conf": f"nameserver {DNSMASQ}\noptions timeout:1\n",
                    "hosts": "127.0.0.1 localhost\n::1 localhost\n",
                    "nsswitch.conf": "hosts: files dns\n",
                },
            ),
            Node("server"),
            Node("dm"),
            Node(
                "stub",  # a client whose resolver is the lab's DNS server
                etc={
                    "resolv.conf": f"nameserver {STUB_SERVER}\noptions timeout:1 attempts:1\n",
                    "hosts": "127.0.0.1 localhost\n::1 localhost\n",
                    "nsswitch.conf": "hosts: files dns\n",
                },
            ),
        ),
        links=(
            Link("server", "client", "198.51.100.0/30"),
            Link("dm", "client", "198.51.100.4/30"),
            Link("server", "stub", "198.51.100.12/30"),
        ),
        services=(
            Service("server", "dns", 53, DNS_OPTIONS),
            Service("server", "dns", 5300, {**DNS_OPTIONS, "tcp": False}),
            Service(
                "server",
                "dns",
                5301,
                {"zones": ["ext."], "records": [["y", 300, "CNAME", "z.lab."]]},
            ),
            *(Service("server", "stun", port, {"mode": mode}) for mode, port in STUN_PORTS.items()),
        ),
    )


def dig(lab: Lab, *args: str) -> tuple[int, str]:
    """dig from the client: its exit code and everything it printed."""
    result = lab.exec("client", ["dig", *args, "+tries=1", "+time=2"], check=False, timeout=30)
    return result.returncode, result.stdout + result.stderr


def dig_answer(out: str) -> tuple[str, set[tuple[str, str, str]]]:
    """dig's status and answer section as (name, type, value)."""
    status = re.search(r"status: (\w+)", out)
    assert status, out
    section = out.split(";; ANSWER SECTION:\n", 1)
    records = set()
    if len(section) == 2:
        for line in section[1].split("\n\n", 1)[0].splitlines():
            owner, _ttl, _cls, rtype, value = line.split(None, 4)
            records.add((owner, rtype, value.strip()))
    return status.group(1), records


def ours(lab: Lab, *args: str) -> tuple[int, dict[str, Any], float]:
    started = time.monotonic()
    result = lab.netladder("client", "dns", *args, "--json", timeout=30)
    took = time.monotonic() - started
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout), took


def records(data: dict[str, Any], *keys: str) -> set[tuple[str, str, str]]:
    return {(r["name"], r["type"], r["value"]) for k in keys for r in data[k]}


@pytest.fixture(scope="module")
def lab(lab_ok: None) -> Iterator[Lab]:
    with Lab(hostile_names(), name="nhostile") as built:
        proc = built.popen(
            "dm",
            [
                "dnsmasq",
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                "--bind-interfaces",
                f"--listen-address={DNSMASQ}",
                "--pid-file=",
                *DNSMASQ_ARGS,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 10
            while True:  # ready when it answers
                rc, out = dig(built, f"@{DNSMASQ}", "v4.dm", "A", "+time=1")
                if rc == 0 and "status: NOERROR" in out:
                    break
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, out
            yield built
        finally:
            proc.terminate()
            proc.communicate(timeout=10)  # and closes its stderr pipe


# -- issue 13 item 3: a CNAME answer without the target's records ----------------------------


def test_dnsmasq_cname_to_an_address_name_is_chased_and_called_incomplete(lab: Lab) -> None:
    _, alias = dig(lab, f"@{DNSMASQ}", "alias.dm", "A")
    _, target = dig(lab, f"@{DNSMASQ}", "target.dm", "A")
    assert dig_answer(alias) == ("NOERROR", {("alias.dm.", "CNAME", "target.dm.")})
    assert dig_answer(target) == ("NOERROR", {("target.dm.", "A", DNSMASQ)})
    rc, data, _ = ours(lab, "alias.dm", "--server", DNSMASQ)
    assert (rc, data["status"], data["rcode"], data["incomplete"]) == (0, "ok", "NOERROR", True)
    assert records(data, "chain") == dig_answer(alias)[1]
    assert records(data, "answers") == dig_answer(target)[1]
    [step] = data["chased"]
    assert (step["name"], step["after"], step["server"], step["status"]) == (
        "target.dm.",
        f"{DNSMASQ}:53",
        f"{DNSMASQ}:53",
        "ok",
    )
    text = lab.netladder("client", "dns", "alias.dm", "--server", DNSMASQ).stdout
    assert "exists but has none of that type" not in text
    assert (
        f"incomplete answer from {DNSMASQ}:53: it ends at the CNAME to target.dm.; asked "
        f"for target.dm., {DNSMASQ}:53 gives 1 A record"
    ) in text
    assert f"asked for target.dm.: NOERROR from {DNSMASQ}:53 over udp" in text


def test_a_dangling_dnsmasq_cname_is_nxdomain_from_the_chase(lab: Lab) -> None:
    _, dangling = dig(lab, f"@{DNSMASQ}", "dangling.dm", "A")
    _, nowhere = dig(lab, f"@{DNSMASQ}", "nowhere.dm", "A")
    assert dig_answer(nowhere)[0] == "NXDOMAIN"
    rc, data, _ = ours(lab, "dangling.dm", "--server", DNSMASQ)
    assert (rc, data["status"], data["rcode"]) == (1, "nxdomain", dig_answer(dangling)[0])
    assert records(data, "chain") == dig_answer(dangling)[1]
    assert data["message"] == (
        f"incomplete answer from {DNSMASQ}:53: it ends at the CNAME to nowhere.dm.; asked for "
        f"nowhere.dm., {DNSMASQ}:53 says nowhere.dm. does not exist (NXDOMAIN)"
    )


def test_a_cname_to_a_name_without_that_type_is_nodata_from_the_chase(lab: Lab) -> None:
    _, direct = dig(lab, f"@{DNSMASQ}", "v4.dm", "AAAA")
    assert dig_answer(direct) == ("NOERROR", set())
    rc, data, _ = ours(lab, "alias4.dm", "--type", "AAAA", "--server", DNSMASQ)
    assert (rc, data["status"], data["incomplete"]) == (1, "nodata", True)
    assert data["message"].endswith(
        f"asked for v4.dm., {DNSMASQ}:53 says v4.dm. exists but has no AAAA records (NODATA)"
    )
    # dnsmasq completes the answer when the type exists: nothing to chase then.
    rc, data, _ = ours(lab, "alias4.dm", "--server", DNSMASQ)
    assert (rc, data["incomplete"], data["chased"], data["answers"][0]["value"]) == (
        0,
        False,
        [],
        DNSMASQ,
    )


def test_compare_does_not_agree_over_an_incomplete_answer(lab: Lab) -> None:
    # The anchors: getaddrinfo through dnsmasq finds nothing, dig of the target finds it.
    assert lab.exec("client", ["getent", "ahostsv4", "alias.dm"], check=False).returncode == 2
    result = lab.netladder("client", "dns", "alias.dm", "--compare", "-4", "--json")
    data = json.loads(result.stdout)
    assert result.returncode == 1 and data["agree"] is False
    assert data["system"]["ok"] is False
    assert data["direct"][0]["answers"][0]["value"] == DNSMASQ
    assert data["explanations"] == [
        f"{DNSMASQ}:53 answered alias.dm. A with the CNAME to target.dm. but neither its "
        "records nor a negative answer: an incomplete answer; getaddrinfo (glibc) does not ask "
        "for the target itself, so it gets no A record from that answer; asked for target.dm. "
        f"directly, {DNSMASQ}:53 gives {DNSMASQ}"
    ]
    human = lab.netladder("client", "dns", "alias.dm", "--compare", "-4").stdout
    assert "they agree" not in human and "they disagree" in human


def test_a_cname_out_of_the_servers_zones_is_chased_there_and_refused(lab: Lab) -> None:
    _, away = dig(lab, f"@{SERVER}", "away.lab", "A")
    _, target = dig(lab, f"@{SERVER}", "www.example", "A")
    assert dig_answer(target)[0] == "REFUSED"
    rc, data, _ = ours(lab, "away.lab", "--server", SERVER)
    assert (rc, data["status"], data["rcode"]) == (1, "refused", dig_answer(away)[0])
    assert records(data, "chain") == dig_answer(away)[1]
    assert data["message"].startswith(
        f"incomplete answer from {SERVER}:53: it ends at the "
        "CNAME to www.example.; asked for www.example.: REFUSED"
    )


def test_a_chain_across_two_servers_is_followed_step_by_step(lab: Lab) -> None:
    # Each server answers only its own zone: lab. says x -> y.ext., ext. says y -> z.lab.
    _, first = dig(lab, f"@{SERVER}", "x.lab", "A")
    _, second = dig(lab, f"@{SERVER}", "-p", "5301", "y.ext", "A")
    _, last = dig(lab, f"@{SERVER}", "z.lab", "A")
    rc, data, _ = ours(lab, "x.lab", "--server", SERVER, "--server", EXT)
    assert (rc, data["status"]) == (0, "ok")
    assert records(data, "chain") == dig_answer(first)[1] | dig_answer(second)[1]
    assert records(data, "answers") == dig_answer(last)[1]
    # Each target is asked at the server whose answer stopped there first (it refuses), then
    # at the other one.
    assert [(c["name"], c["after"], c["server"]) for c in data["chased"]] == [
        ("y.ext.", f"{SERVER}:53", EXT),
        ("z.lab.", EXT, f"{SERVER}:53"),
    ]
    assert [a["rcode"] for a in data["chased"][0]["attempts"]] == ["REFUSED", "NOERROR"]
    assert data["message"] == (
        f"incomplete answer from {SERVER}:53: it ends at the CNAME to "
        "y.ext.; following the CNAMEs, asked for z.lab., "
        f"{SERVER}:53 gives 1 A record"
    )


def test_a_referral_is_not_taken_for_nodata(lab: Lab) -> None:
    _, out = dig(lab, f"@{SERVER}", "www.sub.lab", "A", "+norec")
    assert dig_answer(out) == ("NOERROR", set())
    assert re.search(r"flags: qr;", out) and "sub.lab.\t\t300\tIN\tNS\tns.sub.lab." in out
    rc, data, _ = ours(lab, "www.sub.lab", "--server", SERVER)
    assert (rc, data["status"], data["rcode"]) == (1, "incomplete", "NOERROR")
    assert data["message"] == (
        f"referral from {SERVER}:53: no answer for www.sub.lab., only the servers of sub.lab. "
        "(ns.sub.lab.); ask a recursive resolver or one of those"
    )
    # A CNAME into the delegated zone: the chase gets the same referral.
    rc, data, _ = ours(lab, "tosub.lab", "--server", SERVER)
    assert (rc, data["status"], data["chased"][0]["name"]) == (1, "incomplete", "www.sub.lab.")


def test_a_cname_loop_is_named(lab: Lab) -> None:
    _, out = dig(lab, f"@{SERVER}", "loop1.lab", "A")
    assert ("loop2.lab.", "CNAME", "loop1.lab.") in dig_answer(out)[1]
    rc, data, _ = ours(lab, "loop1.lab", "--server", SERVER)
    assert (rc, data["status"], data["chased"]) == (1, "incomplete", [])
    assert data["message"].startswith("CNAME loop: loop1.lab. -> loop2.lab. -> loop1.lab.")


# -- NXDOMAIN with records in the answer section --------------------------------------------


def test_nxdomain_with_records_says_nxdomain_and_keeps_them_as_evidence(lab: Lab) -> None:
    # dig: status NXDOMAIN, the answer section printed as it came, exit 0 (it got an answer).
    code, out = dig(lab, f"@{SERVER}", "nxdomain-answer.lab", "A")
    assert code == 0
    status, answer = dig_answer(out)
    assert (status, answer) == ("NXDOMAIN", {("nxdomain-answer.lab.", "A", SERVER)})
    rc, data, _ = ours(lab, "nxdomain-answer.lab", "--server", SERVER)
    assert (rc, data["status"], data["rcode"]) == (1, "nxdomain", status)
    assert records(data, "answers") == answer  # the evidence, as dig shows it
    assert data["message"] == (
        f"NXDOMAIN: nxdomain-answer.lab. does not exist (authoritative answer from {SERVER}:53); "
        "yet its answer section holds 1 A record, ignored: NXDOMAIN says the name does not exist"
    )
    human = lab.netladder("client", "dns", "nxdomain-answer.lab", "--server", SERVER)
    head = human.stdout.splitlines()[0]
    assert human.returncode == 1
    assert head.startswith("nxdomain-answer.lab. A: NXDOMAIN: ") and "ignored" in head


def test_a_cname_to_a_missing_name_is_nxdomain_with_the_cname(lab: Lab) -> None:
    # RFC 6604: the rcode is the last name's; the CNAME before it is a legal part of the answer.
    code, out = dig(lab, f"@{SERVER}", "dangl.lab", "A")
    status, answer = dig_answer(out)
    assert (code, status, answer) == (0, "NXDOMAIN", {("dangl.lab.", "CNAME", "gone.lab.")})
    rc, data, _ = ours(lab, "dangl.lab", "--server", SERVER)
    assert (rc, data["status"], data["rcode"], data["answers"]) == (1, "nxdomain", status, [])
    assert records(data, "chain") == answer
    assert data["message"] == (
        "NXDOMAIN: dangl.lab. is an alias of gone.lab., which does not exist "
        f"(authoritative answer from {SERVER}:53)"
    )


@pytest.mark.parametrize("name", ["nxdomain-answer.lab", "dangl.lab"])
def test_compare_agrees_with_getaddrinfo_over_nxdomain_with_records(lab: Lab, name: str) -> None:
    # The anchor: glibc takes no records from an NXDOMAIN answer (res_query fails on the
    # rcode), so getaddrinfo says the name is unknown; the direct query's ignored records are
    # no address it disagrees about.
    got = lab.exec("stub", ["getent", "ahostsv4", name], check=False)
    assert (got.returncode, got.stdout) == (2, "")
    result = lab.netladder("stub", "dns", name, "--compare", "-4", "--json")
    data = json.loads(result.stdout)
    assert (result.returncode, data["agree"], data["explanations"]) == (1, True, [])
    assert data["system"]["error"] == "Name or service not known (EAI_NONAME)"
    [direct] = data["direct"]
    assert (direct["status"], direct["server"]) == ("nxdomain", f"{STUB_SERVER}:53")
    human = lab.netladder("stub", "dns", name, "--compare", "-4").stdout
    assert "they agree" in human


# -- issue 13 item 4: truncated over UDP, nothing on TCP -------------------------------------


def test_truncated_over_udp_and_nothing_on_tcp_is_an_ordinary_error(lab: Lab) -> None:
    code, out = dig(lab, "@" + SERVER, "-p", "5300", "truncated.lab", "A")
    assert "Truncated, retrying in TCP mode" in out and "connection refused" in out
    assert code == 9  # dig: no reply from any server
    rc, data, took = ours(lab, "truncated.lab", "--server", UDP_ONLY)
    assert (rc, data["status"]) == (1, "unreachable")
    assert data["message"] == (
        f"{UDP_ONLY} could not be asked over TCP: its UDP answer was truncated (TC), and over "
        "TCP: nothing listens there (connection refused / ICMP port unreachable)"
    )
    assert [(a["transport"], a["outcome"], a["truncated"]) for a in data["attempts"]] == [
        ("udp", "answer", True),
        ("tcp", "unreachable", False),
    ]
    assert took < 10
    human = lab.netladder("client", "dns", "truncated.lab", "--server", UDP_ONLY)
    assert human.returncode == 1 and "internal error" not in human.stderr
    assert "truncated: retried over TCP" in human.stdout


def test_a_truncated_answer_cut_mid_record_is_retried_over_tcp(lab: Lab) -> None:
    _, out = dig(lab, f"@{SERVER}", "truncated.lab", "A")
    assert "Truncated, retrying in TCP mode" in out
    rc, data, _ = ours(lab, "truncated.lab", "--server", SERVER)
    assert (rc, data["transport"]) == (0, "tcp")
    assert records(data, "answers") == dig_answer(out)[1]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_an_answer_truncated_over_tcp_too_is_incomplete_not_nodata(
    lab: Lab, transport: str
) -> None:
    extra = ["--tcp"] if transport == "tcp" else []
    _, out = dig(lab, f"@{SERVER}", "truncated-tcp.lab", "A", "+tcp")
    assert re.search(r"flags: qr aa tc rd;", out) and "ANSWER: 0" in out
    rc, data, _ = ours(lab, "truncated-tcp.lab", "--server", SERVER, *extra)
    assert (rc, data["status"], data["rcode"]) == (1, "incomplete", dig_answer(out)[0])
    assert data["message"].startswith(f"incomplete answer from {SERVER}:53: ")
    assert data["message"].endswith(
        "the answer has TC set over TCP: the server says it is incomplete"
    )


# -- issue 13 item 15, issue 17 item 4: replies that are not the answer -----------------------


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_a_reply_with_the_wrong_id_is_named_and_the_real_answer_taken(
    lab: Lab, transport: str
) -> None:
    extra = ["--tcp"] if transport == "tcp" else []
    rc, data, _ = ours(lab, "wrong-id-first.lab", "--server", SERVER, *extra)
    assert (rc, data["status"], data["transport"]) == (0, "ok", transport)
    assert data["attempts"][0]["ignored"] == 1
    assert re.search(r"ID mismatch \(expected ID \d+, got \d+\)", data["attempts"][0]["detail"])
    _, out = dig(lab, f"@{SERVER}", "wrong-id-first.lab", "A", f"+{'' if extra else 'no'}tcp")
    assert "ID mismatch: expected ID" in out
    if transport == "udp":  # over TCP dig gives up; RFC 7766 §7 says match by ID and go on
        assert records(data, "answers") == dig_answer(out)[1]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_only_wrong_id_replies_time_out_saying_id_mismatch(lab: Lab, transport: str) -> None:
    extra = ["--tcp"] if transport == "tcp" else []
    rc, data, took = ours(
        lab, "wrong-id.lab", "--server", SERVER, "--timeout", "1", "--tries", "2", *extra
    )
    assert (rc, data["status"]) == (1, "timeout")
    assert data["message"].startswith(f"timeout: no answer from {SERVER}:53")
    assert "not an answer to this query: ID mismatch (expected ID" in data["message"]
    assert took < 6  # two tries of 1 s, and the start-up
    _, out = dig(lab, f"@{SERVER}", "wrong-id.lab", "A", f"+{'' if extra else 'no'}tcp")
    assert "ID mismatch: expected ID" in out


def test_a_reply_for_another_question_is_waited_past(lab: Lab) -> None:
    _, out = dig(lab, f"@{SERVER}", "wrong-question-first.lab", "A")
    assert "Question section mismatch: got other.lab/A/IN" in out
    rc, data, _ = ours(lab, "wrong-question-first.lab", "--server", SERVER)
    assert (rc, data["status"]) == (0, "ok")
    assert records(data, "answers") == dig_answer(out)[1]
    assert "question mismatch (got other.lab. A)" in data["attempts"][0]["detail"]
    code, out = dig(lab, f"@{SERVER}", "wrong-question.lab", "A")
    assert code == 9 and "Question section mismatch" in out and "timed out" in out
    rc, data, took = ours(lab, "wrong-question.lab", "--server", SERVER, "--timeout", "1")
    assert (rc, data["status"]) == (1, "timeout") and took < 6
    assert "question mismatch (got other.lab. A)" in data["message"]


def test_a_message_shorter_than_a_header_is_waited_past(lab: Lab) -> None:
    code, out = dig(lab, f"@{SERVER}", "short.lab", "A")
    assert code == 9 and "short (< header size) message received" in out
    rc, data, _ = ours(lab, "short.lab", "--server", SERVER, "--timeout", "1")
    assert (rc, data["status"]) == (1, "timeout")
    assert "a 5-byte message, shorter than a DNS header" in data["message"]


def test_our_own_query_sent_back_is_not_taken_for_an_answer(lab: Lab) -> None:
    # dig prints it as an answer with a warning; a query (QR clear) answers nothing.
    _, out = dig(lab, f"@{SERVER}", "echo.lab", "A")
    assert "query response not set" in out
    rc, data, _ = ours(lab, "echo.lab", "--server", SERVER, "--timeout", "1", "--tries", "1")
    assert (rc, data["status"]) == (1, "timeout")
    assert "a query, not a response (QR clear)" in data["message"]


def test_a_compression_pointer_loop_is_malformed(lab: Lab) -> None:
    _, out = dig(lab, f"@{SERVER}", "pointer-loop.lab", "A")
    assert "Got bad packet: bad compression pointer" in out
    rc, data, _ = ours(lab, "pointer-loop.lab", "--server", SERVER)
    assert (rc, data["status"]) == (1, "malformed")
    assert data["message"].startswith(
        f"malformed answer from {SERVER}:53: 50 bytes that do not parse as a DNS message"
    )


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_a_server_that_never_answers_times_out_in_time(lab: Lab, transport: str) -> None:
    extra = ["--tcp"] if transport == "tcp" else []
    code, out = dig(lab, f"@{SERVER}", "silent.lab", "A", f"+{'' if extra else 'no'}tcp")
    assert code == 9 and "timed out" in out
    rc, data, took = ours(lab, "silent.lab", "--server", SERVER, "--timeout", "1", *extra)
    assert (rc, data["status"]) == (1, "timeout") and took < 6
    assert data["message"].startswith(f"timeout: no answer from {SERVER}:53 (no answer in")


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_a_server_that_answers_twice_gives_one_answer(lab: Lab, transport: str) -> None:
    extra = ["--tcp"] if transport == "tcp" else []
    _, out = dig(lab, f"@{SERVER}", "twice.lab", "A", f"+{'' if extra else 'no'}tcp")
    rc, data, _ = ours(lab, "twice.lab", "--server", SERVER, *extra)
    assert (rc, data["status"]) == (0, "ok")
    assert [(r["name"], r["type"], r["value"]) for r in data["answers"]] == sorted(
        dig_answer(out)[1]
    )


def test_records_for_another_name_are_not_taken_for_the_answer(lab: Lab) -> None:
    _, out = dig(lab, f"@{SERVER}", "other-name.lab", "A")
    assert dig_answer(out) == ("NOERROR", {("other.lab.", "A", "198.51.100.99")})
    rc, data, _ = ours(lab, "other-name.lab", "--server", SERVER)
    assert (rc, data["status"], data["answers"], data["chain"]) == (1, "nodata", [], [])
    assert data["message"].endswith("; the answer section holds 1 record for other names, ignored")


def test_a_flood_of_strays_is_counted_in_bounded_text(lab: Lab) -> None:
    rc, data, _ = ours(lab, "flood.lab", "--server", SERVER)
    assert (rc, data["status"]) == (0, "ok")
    attempt = data["attempts"][0]
    assert attempt["ignored"] == 50
    assert len(attempt["detail"]) < 300 and attempt["detail"].endswith("; ...")


# -- issue 17 item 4: hostile STUN servers -----------------------------------------------------


def test_hostile_stun_answers_are_named_each_within_the_deadline(lab: Lab) -> None:
    args = [a for port in STUN_PORTS.values() for a in ("--stun", f"{SERVER}:{port}")]
    started = time.monotonic()
    result = lab.netladder("client", "myip", *args, "--timeout", "1.5", "--json")
    took = time.monotonic() - started
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 0 and took < 8
    data = json.loads(result.stdout)
    errors = {s["endpoint"].rsplit(":", 1)[1]: s["error"] for s in data["sources"]}
    by_mode = {mode: errors[str(port)] for mode, port in STUN_PORTS.items()}
    assert by_mode == {
        "short-attribute": "malformed STUN answer: address attribute shorter than 4 bytes",
        "overrun": "malformed STUN answer: attribute 0x0020 runs past the end of the message",
        "wrong-family": "malformed STUN answer: IPv6 address attribute has 4 address bytes, not 16",
        "bad-family": "malformed STUN answer: address family 3 is neither IPv4 (1) nor IPv6 (2)",
        "other-family": None,
        "bad-fingerprint": "malformed STUN answer: FINGERPRINT does not match",
        "echo": "the server sent our own Binding request back: an echo service, not a STUN server",
        "wrong-txid": "timeout after 1.5 s: no answer to 2 Binding request(s); 2 unrelated or "
        "unparsable datagram(s) ignored",
        "normal": None,
    }
    client = lab.addr("client")
    assert data["public"] == ["2001:db8:ffff::1", client]  # in the order of the sources
    assert (
        f"{SERVER}:{STUN_PORTS['other-family']} answered a request from IPv4 address "
        f"{client} with IPv6 address 2001:db8:ffff::1: a translator (NAT64, SIIT) is on the "
        "way, or the server answers wrongly" in data["notes"]
    )
