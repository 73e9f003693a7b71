"""`netladder arp`: live ARP / NDP probes, conflicts and duplicate-address detection in the
chain lab, checked against iputils arping on the same hosts."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from netladder.lab import Lab
from waiting import restore_sigint

pytestmark = pytest.mark.lab

UNPRIVILEGED = ["setpriv", "--inh-caps=-all", "--bounding-set=-all", "--"]
FAST = ("-i", "0.1", "-W", "0.3")


def arp(lab: Lab, node: str, *args: str) -> tuple[int, dict[str, Any]]:
    result = lab.netladder(node, "arp", *args, *FAST, "--json")
    assert result.stderr == "", result.stderr
    return result.returncode, json.loads(result.stdout)


def arping(lab: Lab, node: str, *args: str, count: int = 1) -> tuple[int, set[str]]:
    # This arping takes -i in whole seconds only: one request and a 1 s deadline keep it
    # short; with -c 2 both stations' replies to the first request are counted.
    result = lab.exec(node, ["arping", "-c", str(count), "-w", "1", *args], check=False)
    macs = {m.lower() for m in re.findall(r"\[([0-9A-Fa-f:]{17})\]", result.stdout)}
    return result.returncode, macs


@pytest.fixture
def duplicate_on_lan(chain_lab: Lab) -> Iterator[tuple[str, str]]:
    """lan2 also claims lan1's addresses (v4 and v6): two hosts with one address."""
    v4, v6 = chain_lab.addr("lan1"), chain_lab.addr("lan1", 6)
    chain_lab.exec("lan2", ["ip", "addr", "add", f"{v4}/32", "dev", "lan"])
    chain_lab.exec("lan2", ["ip", "addr", "add", f"{v6}/128", "dev", "lan", "nodad"])
    try:
        yield v4, v6
    finally:
        chain_lab.exec("lan2", ["ip", "addr", "del", f"{v4}/32", "dev", "lan"], check=False)
        chain_lab.exec("lan2", ["ip", "addr", "del", f"{v6}/128", "dev", "lan"], check=False)


def test_the_gateway_answers_with_its_mac_as_arping_sees_it(chain_lab: Lab) -> None:
    code, doc = arp(chain_lab, "client", "203.0.113.1", "-c", "3")
    r1 = chain_lab.mac("r1", "client")
    assert code == 0
    assert (doc["sent"], doc["received"], doc["macs"], doc["conflict"]) == (3, 3, [r1], False)
    assert doc["iface"] == "to-r1" and doc["source"] == "203.0.113.2"
    assert all(0 < r["rtt_ms"] < 500 for r in doc["replies"])
    assert arping(chain_lab, "client", "-I", "to-r1", "203.0.113.1") == (0, {r1})


def test_human_output_is_in_arpings_manner(chain_lab: Lab) -> None:
    out = chain_lab.netladder("client", "arp", "203.0.113.1", "-c", "2", *FAST).stdout
    mac = chain_lab.mac("r1", "client").upper()
    lines = out.splitlines()
    assert lines[0] == "ARPING 203.0.113.1 from 203.0.113.2 to-r1"
    assert re.fullmatch(rf"Unicast reply from 203\.0\.113\.1 \[{mac}\]  \d+\.\d+ms", lines[1])
    assert "Sent 2 probes (2 broadcast(s))" in lines and "Received 2 response(s)" in lines


def test_ndp_probe_finds_the_ipv6_gateway(chain_lab: Lab) -> None:
    code, doc = arp(chain_lab, "client", "2001:db8:1::1", "-c", "2")
    assert code == 0
    assert doc["macs"] == [chain_lab.mac("r1", "client")]
    assert doc["source"] == "2001:db8:1::2" and doc["received"] == 2


def test_a_silent_address_gets_no_reply_and_exit_1(chain_lab: Lab) -> None:
    code, doc = arp(chain_lab, "lan3", "198.51.100.100", "-c", "2")
    assert code == 1 and doc["sent"] == 2 and doc["received"] == 0
    assert arping(chain_lab, "lan3", "-I", "lan", "198.51.100.100")[0] == 1


def test_two_hosts_with_one_address_are_a_conflict(
    chain_lab: Lab, duplicate_on_lan: tuple[str, str]
) -> None:
    v4, v6 = duplicate_on_lan
    both = {chain_lab.mac("lan1", "lan"), chain_lab.mac("lan2", "lan")}
    code, doc = arp(chain_lab, "lan3", v4, "-c", "2")
    assert code == 1 and doc["conflict"] and set(doc["macs"]) == both
    # arping sees the same two stations (with -b: it would otherwise unicast to the first).
    assert arping(chain_lab, "lan3", "-b", "-I", "lan", v4, count=2)[1] == both
    code6, doc6 = arp(chain_lab, "lan3", v6, "-c", "2")
    assert code6 == 1 and doc6["conflict"] and set(doc6["macs"]) == both
    text = chain_lab.netladder("lan3", "arp", v4, "-c", "1", *FAST).stdout
    assert f"conflict: 2 stations answer for {v4}" in text


def test_dad_finds_an_address_in_use_and_passes_a_free_one(
    chain_lab: Lab, duplicate_on_lan: tuple[str, str]
) -> None:
    v4, _ = duplicate_on_lan
    code, doc = arp(chain_lab, "lan3", v4, "--dad", "-c", "2")
    assert code == 1 and doc["source"] == "0.0.0.0" and doc["received"] >= 1
    assert set(doc["macs"]) <= {chain_lab.mac("lan1", "lan"), chain_lab.mac("lan2", "lan")}
    assert arping(chain_lab, "lan3", "-D", "-I", "lan", v4)[0] == 1
    free_code, free = arp(chain_lab, "lan3", "198.51.100.100", "--dad", "-c", "2")
    assert free_code == 0 and free["received"] == 0 and free["sent"] == 2
    assert arping(chain_lab, "lan3", "-D", "-I", "lan", "198.51.100.100")[0] == 0


def test_dad_of_an_address_this_host_also_holds_reports_the_conflict_as_arping_does(
    chain_lab: Lab, duplicate_on_lan: tuple[str, str]
) -> None:
    v4, _ = duplicate_on_lan  # lan2 holds lan1's address too: probe it from lan2
    lan1 = chain_lab.mac("lan1", "lan")
    assert arping(chain_lab, "lan2", "-D", "-I", "lan", v4) == (1, {lan1})
    for iface in ([], ["-I", "lan"]):  # arping needs -I; the link that holds it is found
        code, doc = arp(chain_lab, "lan2", v4, "--dad", "-c", "2", *iface)
        assert code == 1 and doc["own"] and doc["iface"] == "lan"
        assert doc["source"] == "0.0.0.0" and doc["macs"] == [lan1]
    text = chain_lab.netladder("lan2", "arp", v4, "--dad", "-c", "1", *FAST).stdout
    assert text.startswith(f"ARPING {v4} from 0.0.0.0 lan\n")
    assert f"duplicate: {v4}, this host's own address, is in use by {lan1}" in text
    # An address only this host holds: nobody else answers, as for arping -D (exit 0).
    alone = chain_lab.addr("lan2")
    assert arping(chain_lab, "lan2", "-D", "-I", "lan", alone)[0] == 0
    code, doc = arp(chain_lab, "lan2", alone, "--dad", "-c", "2")
    assert code == 0 and doc["received"] == 0 and doc["own"]


def test_own_address_without_dad_or_on_lo_only_is_bad_input(chain_lab: Lab) -> None:
    for argv, says in (
        (["203.0.113.2"], "--dad asks whether another station holds it"),
        (["127.0.0.1", "--dad"], "on lo, which has no ARP"),
    ):
        result = chain_lab.netladder("client", "arp", *argv)
        assert result.returncode == 2 and result.stdout == ""
        assert says in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["203.0.113.1", "-I", "nosuchif0"], "no such interface"),
        (["198.51.100.10"], "not on a local link"),
        (["198.51.100.67", "-I", "to-r1"], "not on a local link"),
        (["2001:db8:1::1", "--dad"], "IPv6"),
        (["not-an-address"], "not an IP address"),
        (["203.0.113.3"], "broadcast address"),
        (["203.0.113.1", "-c", "0"], "at least 1"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(chain_lab: Lab, argv: list[str], says: str) -> None:
    result = chain_lab.netladder("client", "arp", *argv)
    assert result.returncode == 2, result.stderr
    assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1
    assert says in result.stderr


def test_without_cap_net_raw_arp_says_so_with_the_remedy(chain_lab: Lab) -> None:
    result = chain_lab.exec(
        "client",
        [*UNPRIVILEGED, sys.executable, "-m", "netladder", "arp", "203.0.113.1"],
        check=False,
    )
    assert result.returncode == 3
    assert "CAP_NET_RAW" in result.stderr and "setcap" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


HOSTILE = r"""
import signal, socket, sys, time
from netladder.proto.arp import build_arp, build_ether, ETH_P_ARP
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stopped by the test: a clean exit
iface, mac, claim, other = sys.argv[1:5]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
s.bind((iface, ETH_P_ARP))
frames = [
    build_ether("ff:ff:ff:ff:ff:ff", mac, ETH_P_ARP, b"\x00\x01\x08\x00\x06"),  # truncated
    build_ether("ff:ff:ff:ff:ff:ff", mac, ETH_P_ARP, b"\x00\x01\x08\x00\x08\x04" + bytes(30)),
    # Well-formed replies claiming the address, but to another station's MAC: not answers to
    # us (a concurrent arping's), so not counted.
    build_ether("ff:ff:ff:ff:ff:ff", mac, ETH_P_ARP,
                build_arp(2, mac, claim, other, "198.51.100.99")),
]
end = time.monotonic() + float(sys.argv[5])
print("flooding", flush=True)
while time.monotonic() < end:
    for f in frames:
        s.send(f)
    time.sleep(0.001)
"""


def test_a_hostile_station_flooding_bad_arp_neither_crashes_nor_fools_the_probe(
    chain_lab: Lab,
) -> None:
    lan1 = chain_lab.addr("lan1")
    flood = chain_lab.popen(
        "lan2",
        [
            sys.executable,
            "-c",
            HOSTILE,
            "lan",
            chain_lab.mac("lan2", "lan"),
            lan1,
            "02:00:5e:00:53:99",
            "60",  # until the test stops it, after the probe
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert flood.stdout is not None and flood.stdout.readline() == "flooding\n"
        code, doc = arp(chain_lab, "lan3", lan1, "-c", "3")
        assert flood.poll() is None  # still flooding when the probe ended
    finally:
        flood.terminate()
        flood.communicate(timeout=10)
    assert flood.returncode == 0
    assert code == 0 and doc["macs"] == [chain_lab.mac("lan1", "lan")]
    assert doc["sent"] == 3 and doc["received"] == 3


def test_ctrl_c_prints_what_was_gathered_and_exits_130(chain_lab: Lab) -> None:
    proc = chain_lab.popen(
        "client",
        [
            sys.executable,
            "-m",
            "netladder",
            "arp",
            "203.0.113.1",
            "-c",
            "1000",
            "-i",
            "0.1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=restore_sigint,
    )
    # Interrupt once the first reply is shown (however long start-up took).
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("ARPING 203.0.113.1")
    assert proc.stdout.readline().startswith("Unicast reply from 203.0.113.1 ")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 130, err
    sent = re.search(r"^Sent (\d+) probes", out, re.M)
    received = re.search(r"^Received (\d+) response", out, re.M)
    assert sent and received, out
    assert 1 <= int(sent[1]) < 1000 and int(received[1]) >= 1


# A hostile station on the LAN (lan2), three ways of claiming an address it does not hold:
#   spoof   - unsolicited replies to the prober (its MAC and address), as fast as it can send;
#   nobody  - replies that answer nobody here: to an unknown MAC (the bridge floods them:
#             PACKET_OTHERHOST at the prober), to the prober's MAC but another address, and
#             broadcast with an empty target MAC;
#   garp    - a gratuitous ARP flood (request and reply, sender = target = the address).
HOSTILE_ARP = r"""
import socket, sys, time
from netladder.proto.arp import build_arp, build_ether, ETH_P_ARP
iface, mode, claim, fake, victim_mac, victim_ip = sys.argv[1:7]
BROADCAST, ZERO, NOBODY = "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00", "02:00:5e:00:53:77"
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
s.bind((iface, ETH_P_ARP))
def frame(dst, op, target_mac, target_ip):
    return build_ether(dst, fake, ETH_P_ARP, build_arp(op, fake, claim, target_mac, target_ip))
frames = {
    "spoof": [frame(victim_mac, 2, victim_mac, victim_ip)],
    "nobody": [frame(NOBODY, 2, victim_mac, victim_ip),
               frame(victim_mac, 2, victim_mac, "198.51.100.99"),
               frame(BROADCAST, 2, ZERO, victim_ip)],
    "garp": [frame(BROADCAST, 1, ZERO, claim), frame(BROADCAST, 2, BROADCAST, claim)],
}[mode]
pause = 0 if mode == "spoof" else 0.001
print("flooding", flush=True)
end = time.monotonic() + 60
while time.monotonic() < end:
    for f in frames:
        try:
            s.send(f)
        except BlockingIOError:
            pass
    if pause:
        time.sleep(pause)
"""
FAKE_MAC = "02:00:5e:00:53:99"


@contextmanager
def hostile(lab: Lab, mode: str, claim: str) -> Iterator[None]:
    """lan2 claims `claim` in `mode` towards lan3 until the block ends; then every LAN host
    forgets what the flood taught its ARP table."""
    flood = lab.popen(
        "lan2",
        [
            sys.executable,
            "-c",
            HOSTILE_ARP,
            "lan",
            mode,
            claim,
            FAKE_MAC,
            lab.mac("lan3", "lan"),
            lab.addr("lan3"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert flood.stdout is not None and flood.stdout.readline() == "flooding\n"
        yield
        assert flood.poll() is None  # it flooded the whole time
    finally:
        flood.terminate()
        flood.communicate(timeout=10)
        for node in ("lan1", "lan3", "r1"):
            lab.exec(node, ["ip", "-4", "neigh", "flush", "dev", "lan"], check=False)


def test_a_flood_of_unsolicited_replies_is_a_conflict_in_time_and_bounded(chain_lab: Lab) -> None:
    lan1, real = chain_lab.addr("lan1"), chain_lab.mac("lan1", "lan")
    with hostile(chain_lab, "spoof", lan1):
        started = time.monotonic()
        code, doc = arp(chain_lab, "lan3", lan1, "-c", "3")
        took = time.monotonic() - started
        _, theirs = arping(chain_lab, "lan3", "-b", "-I", "lan", lan1, count=2)
    assert FAKE_MAC in theirs  # arping sees the flooding station too
    assert code == 1 and FAKE_MAC in doc["macs"]
    # Both stations answer; a flood faster than the reader fills the socket's buffer, where
    # the kernel drops frames (the real answer among them, maybe), which is then said.
    assert set(doc["macs"]) == {real, FAKE_MAC} or doc["dropped"] > 0, doc
    if set(doc["macs"]) == {real, FAKE_MAC}:
        assert doc["conflict"]
    # Each station counts once per request; the flood's other frames are duplicates, counted
    # but not kept: the result stays small however fast the station sends.
    assert doc["sent"] == 3 and doc["received"] <= 2 * doc["sent"]
    assert len(doc["replies"]) == doc["received"] and doc["duplicates"] > 10
    assert took < 5  # 2 × 0.1 s between requests, 0.3 s of wait, and start-up


def test_replies_that_answer_nobody_here_are_not_counted_as_arping_does_not(chain_lab: Lab) -> None:
    lan1, real = chain_lab.addr("lan1"), chain_lab.mac("lan1", "lan")
    with hostile(chain_lab, "nobody", lan1):
        code, doc = arp(chain_lab, "lan3", lan1, "-c", "3")
        anchor = arping(chain_lab, "lan3", "-b", "-I", "lan", lan1)
        text = chain_lab.netladder("lan3", "arp", lan1, "-c", "1", *FAST).stdout
        check = chain_lab.netladder("lan3", "neigh", "--check", lan1, "--json")
    assert anchor == (0, {real})
    assert code == 0 and doc["macs"] == [real] and doc["received"] == doc["sent"] == 3
    # ... but the station claiming the address unasked is named.
    assert [c["mac"] for c in doc["unsolicited"]] == [FAKE_MAC]
    assert f"unsolicited: {FAKE_MAC} claims {lan1}" in text
    assert check.returncode == 1, check.stderr
    (c,) = json.loads(check.stdout)["checks"]
    assert c["verdict"] == "conflict" and c["live_macs"] == [real]
    assert f"{FAKE_MAC} claims {lan1}" in c["summary"]


def test_a_gratuitous_flood_for_the_gateway_is_named_by_arp_and_neigh_check(chain_lab: Lab) -> None:
    gateway, real = "198.51.100.65", chain_lab.mac("r1", "lan")
    with hostile(chain_lab, "garp", gateway):
        # Gratuitous ARP overrides an existing entry (net/ipv4/arp.c, arp_process): wait until
        # the flood has rewritten lan3's entry for its gateway.
        chain_lab.exec("lan3", ["ping", "-c", "1", "-W", "1", gateway], check=False)
        deadline = time.monotonic() + 10
        while FAKE_MAC not in chain_lab.exec("lan3", ["ip", "neigh", "show", gateway]).stdout:
            assert time.monotonic() < deadline, "the flood never reached lan3's table"
            time.sleep(0.05)
        code, doc = arp(chain_lab, "lan3", gateway, "-c", "2")
        anchor = arping(chain_lab, "lan3", "-b", "-I", "lan", gateway)
        dad_code, dad = arp(chain_lab, "lan3", gateway, "--dad", "-c", "2")
        dad_anchor = arping(chain_lab, "lan3", "-D", "-I", "lan", gateway)
        check = chain_lab.netladder("lan3", "neigh", "--check", "198.51.100.10", "--json")
    # Gratuitous frames answer nobody: arping and arp count the gateway's replies only...
    assert anchor == (0, {real}) and (code, doc["macs"]) == (0, [real])
    assert [c["mac"] for c in doc["unsolicited"]] == [FAKE_MAC]
    # ... and for duplicate-address detection they are a conflict (RFC 5227 §2.1.1).
    assert dad_anchor[0] == 1 and dad_code == 1 and FAKE_MAC in dad["macs"]
    # The check names the poisoned entry and who writes it.
    assert check.returncode == 1, check.stderr
    (c,) = json.loads(check.stdout)["checks"]
    assert c["live_macs"] == [real] and c["neighbour"] == gateway
    assert c["verdict"] in ("mismatch", "conflict")
    assert f"{FAKE_MAC} claims {gateway}" in c["summary"]
    if c["verdict"] == "mismatch":
        assert c["table_mac"] == FAKE_MAC and "can write the entry again" in c["summary"]


API = """
import asyncio, json, sys
from netladder import api
from netladder.l2.model import ArpOptions
from netladder.output import to_jsonable

async def main():
    options = [ArpOptions(t, count=2, interval=0.1, wait=0.3) for t in sys.argv[1:]]
    return [to_jsonable(r) for r in await asyncio.gather(*(api.arp(o) for o in options))]

print(json.dumps(asyncio.run(main())))
"""


def test_the_api_probes_v4_and_v6_at_once_on_one_loop_as_the_command_does(chain_lab: Lab) -> None:
    targets = ["203.0.113.1", "2001:db8:1::1"]
    out = chain_lab.exec("client", [sys.executable, "-c", API, *targets]).stdout
    for target, doc in zip(targets, json.loads(out), strict=True):
        _, cli = arp(chain_lab, "client", target, "-c", "2")
        keys = ("target", "iface", "source", "sent", "received", "macs", "conflict", "ok")
        assert {k: doc[k] for k in keys} == {k: cli[k] for k in keys}
        assert doc["macs"] == [chain_lab.mac("r1", "client")]
