"""A lab host that answers every echo with foreign, duplicated, spoofed, corrupted and truncated
replies (lab.hostile): ping's counters change only where iputils' meaning says they should."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from netladder.lab import Lab, Link, Node, Service, Topology
from netladder.lab.hostile import MODES, hostile_replies
from netladder.proto.icmp import build_echo, echo_payload, parse_icmp

COUNT = 5


def hostile_topology() -> Topology:
    return Topology(
        "hostile",
        nodes=(
            Node("client"),
            # The kernel stays quiet; the responder's raw socket answers instead.
            Node("liar", sysctls={"net.ipv4.icmp_echo_ignore_all": "1"}),
        ),
        links=(Link("liar", "client", "198.51.100.20/30"),),
        services=(Service("liar", "hostile-echo", 1),),
    )


@pytest.fixture(scope="module")
def hostile_lab(lab_ok: None) -> Iterator[Lab]:
    with Lab(hostile_topology(), name="hostile") as lab:
        yield lab


def run(lab: Lab, *args: str) -> dict[str, Any]:
    result = lab.netladder(
        "client", "ping", "--json", "-c", str(COUNT), "-i", "0.1", *args, lab.addr("liar")
    )
    assert result.returncode == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)["targets"][0]
    return doc


def test_the_responder_builds_every_kind_of_bad_reply() -> None:
    request = build_echo(4, 0x1234, 7, echo_payload(b"COOKIE!!", 56))
    replies = hostile_replies(request)
    assert len(replies) == len(MODES)
    parsed = [parse_icmp(message, 4) for _source, message in replies]
    assert all(m is not None and m.is_echo_reply for m in parsed)
    by_mode = dict(zip(MODES, parsed, strict=True))
    assert by_mode["foreign_id"] is not None and by_mode["foreign_id"].identifier != 0x1234
    assert by_mode["corrupted"] is not None and not by_mode["corrupted"].checksum_ok
    assert by_mode["truncated"] is not None and len(by_mode["truncated"].payload) == 4
    assert replies[MODES.index("other_source")][0] != ""


def test_raw_socket_counts_only_duplicates_and_corrupted(hostile_lab: Lab) -> None:
    doc = run(hostile_lab, "--socket", "raw")
    assert (doc["transmitted"], doc["received"], doc["errors"], doc["loss_percent"]) == (
        COUNT,
        COUNT,
        0,
        0.0,
    )
    # The run ends at the last genuine reply, so the last probe's extras may not be read.
    assert COUNT - 1 <= doc["duplicates"] <= COUNT
    assert COUNT - 1 <= doc["corrupted"] <= COUNT
    # Foreign identifier, foreign cookie, spoofed source, truncated: never counted, and no
    # sample carries an absurd time from the foreign cookie (iputils prints ~10^12 ms here).
    assert all(0 < s["rtt_ms"] < 1000 for s in doc["samples"])
    assert len(doc["samples"]) == doc["received"] + doc["duplicates"]


def test_datagram_socket_never_sees_corrupted_replies(hostile_lab: Lab) -> None:
    hostile_lab.exec("client", ["sysctl", "-qw", "net.ipv4.ping_group_range=0 2147483647"])
    try:
        doc = run(hostile_lab, "--socket", "dgram")
    finally:
        hostile_lab.exec("client", ["sysctl", "-qw", "net.ipv4.ping_group_range=1 0"])
    # The kernel verifies checksums and filters identifiers for ping sockets.
    assert (doc["socket"], doc["transmitted"], doc["received"], doc["corrupted"]) == (
        "dgram",
        COUNT,
        COUNT,
        0,
    )
    assert COUNT - 1 <= doc["duplicates"] <= COUNT


def test_human_output_marks_dup_and_bad_checksum(hostile_lab: Lab) -> None:
    out = hostile_lab.netladder(
        "client", "ping", "--socket", "raw", "-c", "2", "-i", "0.2", hostile_lab.addr("liar")
    ).stdout
    assert "icmp_seq=1 ttl=64 time=" in out and "(DUP!)" in out and "(BAD CHECKSUM!)" in out
    assert "2 packets transmitted, 2 received, +" in out
    assert "198.51.100.250" not in out  # the spoofed source is not ours
