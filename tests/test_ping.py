"""`netladder ping` against real peers in the chain lab, side by side with iputils ping."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from netladder.l3.stats import fmt_reply_us
from netladder.lab import BlockEcho, Delay, Lab
from waiting import restore_sigint

SERVER = "198.51.100.10"
NO_ROUTE = "198.51.100.200"  # routed to r1 by the client's default route; r1 has no route


class RouteErrorBudget:
    """r1 answers "no route" through ip_error(), which allows each source 5 errors at once and
    then one per second (net.ipv4.route.error_burst / error_cost, global sysctls we must not
    touch).  Tests that need those errors spend from this model of the bucket and wait for it
    to refill instead of losing errors to the limiter.  A time exceeded that r1 sends the same
    source empties the bucket (measured on this kernel: after one, the next second allows one
    "no route" error, three seconds three), so a test that draws one says so with drained()."""

    BURST = 5.0

    def __init__(self) -> None:
        self.tokens = self.BURST
        self.stamp = time.monotonic()

    def spend(self, errors: int) -> None:
        now = time.monotonic()
        self.tokens = min(self.BURST, self.tokens + now - self.stamp)
        self.stamp = now
        if self.tokens < errors:
            time.sleep(errors - self.tokens + 0.2)
            self.tokens = float(errors)
            self.stamp = time.monotonic()
        self.tokens -= errors

    def drained(self) -> None:
        self.tokens = 0.0
        self.stamp = time.monotonic()


ROUTE_ERRORS = RouteErrorBudget()  # one r1 per module (chain_lab is module-scoped)


def ours(lab: Lab, *args: str, node: str = "client") -> dict[str, Any]:
    result = lab.netladder(node, "ping", "--json", *args)
    assert result.returncode in (0, 1), result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    assert len(doc["targets"]) == 1
    target: dict[str, Any] = doc["targets"][0]
    target["exit"] = result.returncode
    return target


def iputils(lab: Lab, *args: str) -> str:
    return lab.exec("client", ["ping", "-n", *args], check=False).stdout


def iputils_counts(output: str) -> tuple[int, int, float]:
    m = re.search(r"(\d+) packets transmitted, (\d+) received.*?([\d.]+)% packet loss", output)
    assert m, output
    return int(m.group(1)), int(m.group(2)), float(m.group(3))


def iputils_avg(output: str) -> float:
    m = re.search(r"= [\d.]+/([\d.]+)/", output)
    assert m, output
    return float(m.group(1))


@pytest.fixture
def dgram_allowed(chain_lab: Lab) -> Iterator[None]:
    chain_lab.exec("client", ["sysctl", "-qw", "net.ipv4.ping_group_range=0 2147483647"])
    try:
        yield
    finally:
        chain_lab.exec("client", ["sysctl", "-qw", "net.ipv4.ping_group_range=1 0"])


def test_statistics_equal_iputils_on_the_same_link(chain_lab: Lab) -> None:
    mine = ours(chain_lab, "-c", "10", "-i", "0.02", SERVER)
    theirs = iputils(chain_lab, "-c", "10", "-i", "0.02", SERVER)
    assert (
        (mine["transmitted"], mine["received"], mine["loss_percent"])
        == iputils_counts(theirs)
        == (10, 10, 0.0)
    )
    assert mine["exit"] == 0 and mine["reply_ttls"] == [62] and mine["socket"] == "raw"
    assert len(mine["samples"]) == 10
    # Sub-millisecond RTTs on a shared, busy machine: the same order of magnitude is all that
    # can be asked here (the bench compares accuracy on a delayed link).
    assert abs(mine["rtt"]["avg_ms"] - iputils_avg(theirs)) < 5.0


def test_human_output_has_iputils_lines_and_summary(chain_lab: Lab) -> None:
    out = chain_lab.netladder("client", "ping", "-c", "2", "-i", "0.05", SERVER).stdout
    lines = out.splitlines()
    assert lines[0] == f"PING {SERVER} ({SERVER}) 56(84) bytes of data."
    assert re.fullmatch(rf"64 bytes from {SERVER}: icmp_seq=1 ttl=62 time=\d+\.\d+ ms", lines[1])
    assert f"--- {SERVER} ping statistics ---" in lines
    assert re.search(r"^2 packets transmitted, 2 received, 0% packet loss, time \d+ms$", out, re.M)
    assert re.search(
        r"^rtt min/avg/max/mdev = \d+\.\d{3}/\d+\.\d{3}/\d+\.\d{3}/\d+\.\d{3} ms$", out, re.M
    )


def _every_fourth_echo_dropped(lab: Lab) -> Any:
    """Deterministic loss: the server drops every 4th echo request (numgen inc), so any 8
    consecutive probes lose exactly 2 — the same loss for both tools."""
    script = (
        "table inet nltestloss {\n chain c {\n  type filter hook input priority -150;\n"
        "  icmp type echo-request numgen inc mod 4 == 0 drop\n }\n}\n"
    )
    lab.exec("server", ["nft", "-f", "-"], input=script)
    return lambda: lab.exec("server", ["nft", "delete", "table", "inet", "nltestloss"])


def test_same_loss_as_iputils_with_packet_loss_injected(chain_lab: Lab) -> None:
    undo = _every_fourth_echo_dropped(chain_lab)
    try:
        mine = ours(chain_lab, "-c", "8", "-i", "0.02", "-W", "1", SERVER)
        theirs = iputils(chain_lab, "-c", "8", "-i", "0.02", "-W", "1", SERVER)
    finally:
        undo()
    assert (
        (mine["transmitted"], mine["received"], mine["loss_percent"])
        == iputils_counts(theirs)
        == (8, 6, 25.0)
    )
    assert mine["exit"] == 0


def test_silent_host_waits_W_then_fails_like_iputils(chain_lab: Lab) -> None:
    with chain_lab.fault(BlockEcho("server")):
        started = time.monotonic()
        mine = ours(chain_lab, "-c", "2", "-i", "0.1", "-W", "0.5", SERVER)
        elapsed = time.monotonic() - started
        theirs = iputils(chain_lab, "-c", "2", "-i", "0.1", "-W", "0.5", SERVER)
    assert (mine["transmitted"], mine["received"]) == iputils_counts(theirs)[:2] == (2, 0)
    assert mine["exit"] == 1 and mine["verdict"] == "silent"
    assert 0.5 < elapsed < 5


def test_deadline_stops_the_run_like_iputils(chain_lab: Lab) -> None:
    with chain_lab.fault(BlockEcho("server")):
        mine = ours(chain_lab, "-w", "1", "-i", "0.2", SERVER)
        theirs = iputils(chain_lab, "-w", "1", "-i", "0.2", SERVER)
    sent, received, _ = iputils_counts(theirs)
    assert abs(mine["transmitted"] - sent) <= 1 and mine["received"] == received == 0
    assert mine["exit"] == 1


def test_no_route_at_the_router_is_net_unreachable_from_that_router(chain_lab: Lab) -> None:
    ROUTE_ERRORS.spend(5)
    out = chain_lab.netladder("client", "ping", "-c", "2", "-i", "0.05", NO_ROUTE)
    theirs = iputils(chain_lab, "-c", "2", "-i", "0.05", NO_ROUTE)
    line = "From 203.0.113.1 icmp_seq=1 Destination Net Unreachable"
    assert line in out.stdout and line in theirs
    assert "2 packets transmitted, 0 received, +2 errors, 100% packet loss" in out.stdout
    assert out.returncode == 1
    ROUTE_ERRORS.spend(1)
    doc = ours(chain_lab, "-c", "1", NO_ROUTE)
    assert doc["verdict"] == "unreachable" and doc["error_events"][0]["from"] == "203.0.113.1"


@pytest.mark.parametrize(("ttl", "router"), [("1", "203.0.113.1"), ("2", "203.0.113.6")])
def test_small_ttl_is_time_exceeded_from_the_right_hop(
    chain_lab: Lab, ttl: str, router: str
) -> None:
    out = chain_lab.netladder("client", "ping", "-c", "1", "-t", ttl, SERVER).stdout
    theirs = iputils(chain_lab, "-c", "1", "-t", ttl, SERVER)
    if router == "203.0.113.1":  # r1's time exceeded empties its "no route" bucket
        ROUTE_ERRORS.drained()
    line = f"From {router} icmp_seq=1 Time to live exceeded"
    assert line in out and line in theirs


SHARED = r"""
import asyncio, json, sys
from netladder import api
from netladder.l3.model import PingOptions
from netladder.l3.ping import sessions
from netladder.net import driver
from netladder.net.targets import literal_target

seen = []
def during(run, event):  # how many echo sockets are open while the pings run, and their users
    seen.append(sorted(len(share.users) for share in driver._ECHO_SHARES.values()))

async def main(server):
    ttls = (1, None, 2, None)
    options = [PingOptions((server,), 2, interval=0.1, wait=1.0, ttl=t) for t in ttls]
    results = await asyncio.gather(*(api.ping(o, on_event=during) for o in options))
    # Two sessions that pick the same identifier: the second is given another one.
    target = literal_target(server)
    twin = PingOptions((server,), 3, interval=0.05)
    twins = [s for _ in range(2) for s in sessions([target], twin)]
    for s in twins:
        s.identifier = 4242
        s.channels = (s.channels[0]._replace(echo_id=4242),)
    await driver.run(twins)
    return {
        "runs": [{"verdict": r.verdict, "received": r.received,
                  "sources": sorted({e.source for e in r.error_events}),
                  "ttls": sorted({x.ttl for x in r.samples})} for [r] in results],
        "twins": [{"identifier": s.identifier, "received": s.result().received} for s in twins],
        "most_users": max(max(users, default=0) for users in seen),
        "sockets_at_once": max(len(u) for u in seen),
        "left_open": len(driver._ECHO_SHARES),
    }
print(json.dumps(asyncio.run(main(sys.argv[1]))))
"""


def test_pings_at_once_share_one_socket_each_with_its_own_ttl_and_replies(chain_lab: Lab) -> None:
    """serve runs many pings at once on one loop: one raw socket serves them all (each reply
    to the ping whose identifier it carries), yet each ping's TTL is its own — the same hops
    answer as when iputils pings with that TTL alone."""
    result = chain_lab.exec("client", [sys.executable, "-c", SHARED, SERVER], check=False)
    ROUTE_ERRORS.drained()  # r1 sent time exceededs
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    ttl1, plain, ttl2, plain2 = doc["runs"]
    for ttl, run in (("1", ttl1), ("2", ttl2)):
        theirs = iputils(chain_lab, "-c", "1", "-t", ttl, SERVER)
        ROUTE_ERRORS.drained()
        router = re.search(r"From (\S+) icmp_seq=1 Time to live exceeded", theirs)
        assert router, theirs
        assert run["verdict"] == "ttl-exceeded" and run["received"] == 0
        assert run["sources"] == [router.group(1)], (ttl, run, theirs)
    for run in (plain, plain2):
        assert run["verdict"] == "reachable" and run["received"] == 2 and run["ttls"] == [62]
    assert doc["sockets_at_once"] == 1 and doc["most_users"] == 4, doc
    first, second = doc["twins"]
    assert first["identifier"] == 4242 and second["identifier"] != 4242
    assert first["received"] == second["received"] == 3
    assert doc["left_open"] == 0


@pytest.mark.usefixtures("dgram_allowed")
def test_unprivileged_datagram_socket_works_without_cap_net_raw(chain_lab: Lab) -> None:
    argv = [
        "setpriv",
        "--inh-caps=-all",
        "--bounding-set=-all",
        sys.executable,
        "-m",
        "netladder",
        "ping",
        "--json",
        "-c",
        "2",
        "-i",
        "0.05",
    ]
    result = chain_lab.exec("client", [*argv, SERVER], check=False)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)["targets"][0]
    assert doc["socket"] == "dgram" and doc["received"] == 2 and doc["reply_ttls"] == [62]
    # Errors come from the error queue (IP_RECVERR) on this socket, with the router named.
    result = chain_lab.exec("client", [*argv, "-t", "2", SERVER], check=False)
    doc = json.loads(result.stdout)["targets"][0]
    assert doc["errors"] == 2 and {e["from"] for e in doc["error_events"]} == {"203.0.113.6"}
    assert doc["error_events"][0]["text"] == "Time to live exceeded"


def test_neither_socket_permitted_exits_3_naming_both_remedies(chain_lab: Lab) -> None:
    result = chain_lab.exec(
        "client",
        [
            "setpriv",
            "--inh-caps=-all",
            "--bounding-set=-all",
            sys.executable,
            "-m",
            "netladder",
            "ping",
            "-c",
            "1",
            SERVER,
        ],
        check=False,
    )
    assert result.returncode == 3
    assert "ping_group_range" in result.stderr and "CAP_NET_RAW" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_ipv6_echo(chain_lab: Lab) -> None:
    doc = ours(chain_lab, "-6", "-c", "2", "-i", "0.05", chain_lab.addr("server", 6))
    assert doc["version"] == 6 and doc["received"] == 2 and doc["reply_ttls"] == [62]
    out = chain_lab.netladder("client", "ping", "-c", "1", "2001:db8:3::2").stdout
    assert out.startswith("PING 2001:db8:3::2(2001:db8:3::2) 56 data bytes")


def test_several_targets_are_pinged_concurrently_with_a_summary_each(chain_lab: Lab) -> None:
    targets = [SERVER, chain_lab.addr("lan3"), chain_lab.addr("server", 6)]
    started = time.monotonic()
    result = chain_lab.netladder("client", "ping", "-c", "3", "-i", "0.3", *targets)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    for t in targets:
        assert f"--- {t} ping statistics ---" in result.stdout
    assert result.stdout.count("3 packets transmitted, 3 received") == 3
    assert elapsed < 3 * 0.6 + 1.5  # concurrently, not one after the other


def test_json_has_what_iputils_lacks(chain_lab: Lab) -> None:
    doc = ours(chain_lab, "-c", "5", "-i", "0.02", SERVER)
    rtt = doc["rtt"]
    for key in (
        "min_ms",
        "avg_ms",
        "max_ms",
        "mdev_ms",
        "sd_ms",
        "median_ms",
        "p95_ms",
        "jitter_ms",
    ):
        assert isinstance(rtt[key], float) and rtt[key] >= 0
    assert rtt["min_ms"] <= rtt["median_ms"] <= rtt["p95_ms"] <= rtt["max_ms"]
    assert [s["seq"] for s in doc["samples"]] == [1, 2, 3, 4, 5]
    assert abs(rtt["iputils"]["avg_ms"] - rtt["avg_ms"]) < 0.002


def test_ctrl_c_prints_the_summary_and_exits_130(chain_lab: Lab) -> None:
    proc = chain_lab.popen(
        "client",
        [sys.executable, "-m", "netladder", "ping", "-i", "0.1", SERVER],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=restore_sigint,
    )
    # Interrupt once the first reply is shown (however long start-up took).
    assert proc.stdout is not None
    first = proc.stdout.readline() + proc.stdout.readline()
    assert " bytes from " in first
    # `ip netns exec` execs the command, so the pid is netladder's own.
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=10)
    out = first + rest
    assert proc.returncode == 130
    assert f"--- {SERVER} ping statistics ---" in out and "% packet loss, time" in out
    assert re.search(r"^rtt min/avg/max/mdev = ", out, re.M)


@pytest.mark.usefixtures("lab_ok")  # inside scripts/isolated: the name lookup cannot leave
@pytest.mark.parametrize(
    "args",
    [
        ["-c", "0", SERVER],
        ["-c", "-1", SERVER],
        ["-w", "-1", SERVER],
        ["-W", "-2", SERVER],
        ["-s", "-1", SERVER],
        ["-t", "-3", SERVER],
        ["-i", "-0.5", SERVER],
        ["-i", "-1", SERVER],
        ["-i", "nan", SERVER],
        ["-s", "70000", SERVER],
        ["-t", "0", SERVER],
        ["-t", "256", SERVER],
        ["300.1.2.3.4"],
        ["no-such-host.invalid"],
        ["-6", SERVER],
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str]) -> None:
    # Not in a lab: bad input must be refused before anything is sent.
    result = subprocess.run(
        [sys.executable, "-m", "netladder", "ping", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    # The bad value is named (`-c -1` is -c with -1, as getopt reads it; not "expected one
    # argument").
    value = args[1] if args[0].startswith("-") else args[0]
    assert value in result.stderr and "expected one argument" not in result.stderr


API = r"""
import asyncio, json, sys
from netladder import api
from netladder.l3.model import PingOptions
async def main():
    options = [PingOptions((t,), 3, interval=0.05, wait=0.5) for t in sys.argv[1:]]
    return [r for rs in await asyncio.gather(*(api.ping(o) for o in options)) for r in rs]
results = asyncio.run(main())
print(json.dumps([{"transmitted": r.transmitted, "received": r.received, "errors": r.errors,
                   "loss": r.loss_percent, "verdict": r.verdict,
                   "avg": r.rtt.avg_ms if r.rtt else None} for r in results]))
"""


def test_programmatic_api_tells_reachable_unreachable_and_silent(chain_lab: Lab) -> None:
    """What `diagnose` calls: an awaitable that returns the evidence, several at once."""
    with chain_lab.fault(BlockEcho("lan3")):
        ROUTE_ERRORS.spend(3)
        result = chain_lab.exec(
            "client",
            [sys.executable, "-c", API, SERVER, NO_ROUTE, chain_lab.addr("lan3")],
            check=False,
        )
    assert result.returncode == 0, result.stderr
    reachable, unreachable, silent = json.loads(result.stdout)
    assert reachable["received"] == 3 and reachable["verdict"] == "reachable"
    assert reachable["avg"] is not None and reachable["loss"] == 0
    assert unreachable["errors"] == 3 and unreachable["verdict"] == "unreachable"
    assert silent["transmitted"] == 3 and silent["received"] == 0
    assert silent["verdict"] == "silent" and silent["loss"] == 100


@pytest.mark.parametrize(
    "args",
    [
        ["-c", "1", NO_ROUTE],
        ["-c", "1", "-t", "2", "-6", "2001:db8:3::2"],
        ["-c", "1", "-6", "2001:db8:99::1"],
    ],
)
def test_error_runs_print_what_iputils_prints_line_for_line(
    chain_lab: Lab, args: list[str]
) -> None:
    def normal(text: str) -> str:
        return re.sub(r"time \d+ms", "time Tms", text)

    if NO_ROUTE in args:
        ROUTE_ERRORS.spend(2)
    mine = chain_lab.netladder("client", "ping", *args).stdout
    theirs = iputils(chain_lab, *args)
    assert normal(mine) == normal(theirs)


@pytest.mark.usefixtures("lab_ok")
def test_a_name_is_resolved_once_and_shown_as_iputils_shows_it() -> None:
    def normal(text: str) -> str:
        text = re.sub(r"time=[\d.]+ ms", "time=T ms", text)
        text = re.sub(r"time \d+ms", "time Tms", text)
        return re.sub(r"= [\d./]+ ms", "= R ms", text)

    # The isolated namespace's loopback: nothing leaves it.
    mine = subprocess.run(
        [sys.executable, "-m", "netladder", "ping", "-4", "-c", "1", "localhost"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    theirs = subprocess.run(
        ["ping", "-4", "-c", "1", "localhost"], capture_output=True, text=True, timeout=30
    )
    assert mine.returncode == theirs.returncode == 0
    assert normal(mine.stdout) == normal(theirs.stdout)
    assert "64 bytes from localhost (127.0.0.1): icmp_seq=1" in mine.stdout


def test_interface_source_and_size_options(chain_lab: Lab) -> None:
    iface = chain_lab.iface("client", "r1")
    by_iface = ours(chain_lab, "-c", "1", "-I", iface, "-s", "1000", SERVER)
    assert by_iface["received"] == 1 and by_iface["samples"][0]["size"] == 1008
    by_source = ours(chain_lab, "-c", "1", "-I", chain_lab.addr("client"), SERVER)
    assert by_source["received"] == 1
    bad = chain_lab.netladder("client", "ping", "-c", "1", "-I", "nosuchif0", SERVER)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    foreign = chain_lab.netladder("client", "ping", "-c", "1", "-I", "198.51.100.99", SERVER)
    assert foreign.returncode == 2


# -- iputils exactness (issue 13, items 18 and 29) ---------------------------------------------


def normal(text: str) -> str:
    """Output with what differs from run to run masked: RTTs and the run's duration."""
    text = re.sub(r"time=[\d.]+ ms", "time=T ms", text)
    text = re.sub(r"time \d+ms", "time Tms", text)
    return re.sub(r"= [\d./]+ ms", "= R ms", text)


@contextlib.contextmanager
def first_echo_dropped(lab: Lab) -> Iterator[None]:
    """The server drops the first echo request it sees, and only that one (numgen counts from
    0 in every new table, so each use starts afresh)."""
    script = (
        "table inet nlfirstecho {\n chain c {\n  type filter hook input priority -150;\n"
        "  icmp type echo-request numgen inc mod 1000000 == 0 drop\n }\n}\n"
    )
    lab.exec("server", ["nft", "-f", "-"], input=script)
    try:
        yield
    finally:
        lab.exec("server", ["nft", "delete", "table", "inet", "nlfirstecho"], check=False)


def test_count_with_deadline_waits_for_count_replies_like_iputils(chain_lab: Lab) -> None:
    """`-c 2 -w 5` with the first echo lost: iputils keeps sending until 2 replies (3 sent,
    exit 0) — with -w, -c counts answers."""
    args = ("-c", "2", "-w", "5", "-i", "0.2", SERVER)
    with first_echo_dropped(chain_lab):
        theirs = iputils(chain_lab, *args)
    with first_echo_dropped(chain_lab):
        mine = chain_lab.netladder("client", "ping", *args)
    assert "3 packets transmitted, 2 received, 33.3333% packet loss" in theirs
    assert normal(mine.stdout) == normal(theirs)
    assert mine.returncode == 0


def test_count_1_with_deadline_3_to_a_silent_host_sends_3_like_iputils(chain_lab: Lab) -> None:
    args = ["-n", "-c", "1", "-w", "3", SERVER]
    with chain_lab.fault(BlockEcho("server")):
        # Both at once: each waits out its 3 s deadline.
        theirs = chain_lab.popen(
            "client", ["ping", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        mine = chain_lab.popen(
            "client",
            [sys.executable, "-m", "netladder", "ping", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        their_out, _ = theirs.communicate(timeout=30)
        my_out, my_err = mine.communicate(timeout=30)
    assert "3 packets transmitted, 0 received, 100% packet loss" in their_out
    assert normal(my_out) == normal(their_out), my_err
    assert mine.returncode == theirs.returncode == 1


def _wait_for_rtt(lab: Lab, target: str, at_least_ms: float) -> None:
    """Until an echo takes at least this long (a fault is in force), for at most 20 s."""
    give_up = time.monotonic() + 20
    while time.monotonic() < give_up:
        out = lab.exec("client", ["ping", "-n", "-c", "1", "-W", "2", target], check=False)
        m = re.search(r"time=([\d.]+) ms", out.stdout)
        if m and float(m[1]) >= at_least_ms:
            return
    raise AssertionError(f"no echo to {target} took {at_least_ms} ms within 20 s")


def test_summary_time_runs_to_the_last_probe_sent_like_iputils(chain_lab: Lab) -> None:
    """iputils' "time" is from the start to the last send, not to the last reply: with 300 ms
    added to each echo, `-c 2 -i 0.2` still says about 200 ms."""
    with chain_lab.fault(Delay("r1", "r2", 300)):
        _wait_for_rtt(chain_lab, SERVER, 300)  # the relay takes the new delay asynchronously
        mine = ours(chain_lab, "-c", "2", "-i", "0.2", SERVER)
        text = chain_lab.netladder("client", "ping", "-c", "2", "-i", "0.2", SERVER).stdout
        theirs = iputils(chain_lab, "-c", "2", "-i", "0.2", SERVER)
    assert mine["rtt"]["min_ms"] >= 300  # the delay was in force
    their_time = int(re.findall(r"time (\d+)ms", theirs)[0])
    my_time = int(re.findall(r"time (\d+)ms", text)[0])
    # To the last reply it would be 500 ms at least.
    assert 200 <= mine["time_ms"] < 450 and 200 <= my_time < 450 and 200 <= their_time < 450


def _reply_times(output: str) -> list[str]:
    return re.findall(r"icmp_seq=\d+ ttl=\d+ time=([\d.]+) ms", output)


def _summary_us(output: str) -> tuple[int, int]:
    m = re.search(r"= (\d+)\.(\d{3})/[\d.]+/(\d+)\.(\d{3})/", output)
    assert m, output
    return int(m[1]) * 1000 + int(m[2]), int(m[3]) * 1000 + int(m[4])


def test_reply_lines_and_statistics_agree_to_the_microsecond_like_iputils(
    chain_lab: Lab,
) -> None:
    """The summary's min and max are the fastest and slowest reply lines, printed from the
    same whole microseconds (iputils truncates below 1 ms and rounds above; never both ways)."""
    for output in (
        iputils(chain_lab, "-c", "8", "-i", "0.02", SERVER),
        chain_lab.netladder("client", "ping", "-c", "8", "-i", "0.02", SERVER).stdout,
    ):
        lines = _reply_times(output)
        assert len(lines) == 8, output
        by_value = sorted(lines, key=float)
        low, high = _summary_us(output)
        assert (fmt_reply_us(low), fmt_reply_us(high)) == (by_value[0], by_value[-1]), output


@pytest.mark.parametrize("size", ["0", "8", "15", "16"])
def test_small_data_is_not_timed_like_iputils(chain_lab: Lab, size: str) -> None:
    """Below 16 data bytes iputils cannot carry its send time: no time=, no rtt line."""
    args = ("-c", "2", "-i", "0.05", "-s", size, SERVER)
    mine = chain_lab.netladder("client", "ping", *args)
    theirs = iputils(chain_lab, *args)
    assert normal(mine.stdout) == normal(theirs)
    assert ("time=" in mine.stdout) == ("rtt min" in mine.stdout) == (size == "16")


def test_interface_and_source_headers_equal_iputils(chain_lab: Lab) -> None:
    iface = chain_lab.iface("client", "r1")
    for args in (
        ["-I", iface, SERVER],
        ["-I", chain_lab.addr("client"), SERVER],
        ["-6", "-I", iface, "2001:db8:3::2"],
        ["-I", chain_lab.addr("client", 6), "2001:db8:3::2"],
    ):
        mine = chain_lab.netladder("client", "ping", "-c", "1", *args)
        theirs = iputils(chain_lab, "-c", "1", *args)
        assert mine.stdout.splitlines()[0] == theirs.splitlines()[0], args
        assert " from " in theirs.splitlines()[0]
        assert normal(mine.stdout) == normal(theirs)


def _link_local(lab: Lab, node: str, peer: str) -> str:
    out = lab.exec(node, ["ip", "-6", "-j", "addr", "show", "dev", lab.iface(node, peer)]).stdout
    infos = json.loads(out)[0]["addr_info"]
    return str(next(a["local"] for a in infos if a["local"].startswith("fe80")))


def test_a_scoped_link_local_target_is_printed_with_its_scope_like_iputils(
    chain_lab: Lab,
) -> None:
    iface = chain_lab.iface("client", "r1")
    router = _link_local(chain_lab, "r1", "client")
    for args in ([f"{router}%{iface}"], ["-I", iface, router]):
        mine = chain_lab.netladder("client", "ping", "-c", "2", "-i", "0.05", *args)
        theirs = iputils(chain_lab, "-c", "2", "-i", "0.05", *args)
        assert mine.returncode == 0, mine.stderr
        assert f"64 bytes from {router}%{iface}: icmp_seq=1 ttl=64 time=" in mine.stdout
        if "-I" in args:
            # iputils shows the source as "::" here (its route lookup socket is connected
            # without an address family); netladder shows the address really used.
            mine_text = re.sub(r" from \S+ " + iface, " from S " + iface, mine.stdout)
            their_text = re.sub(r" from \S+ " + iface, " from S " + iface, theirs)
            assert normal(mine_text) == normal(their_text)
        else:
            assert normal(mine.stdout) == normal(theirs)


def test_a_broadcast_target_needs_b_like_iputils(chain_lab: Lab) -> None:
    for target in ("203.0.113.3", "255.255.255.255"):  # the client link's broadcast; all ones
        mine = chain_lab.netladder("client", "ping", "-c", "1", target)
        theirs = chain_lab.exec("client", ["ping", "-c", "1", target], check=False)
        assert theirs.returncode == mine.returncode == 2
        assert "Do you want to ping broadcast? Then -b" in theirs.stderr
        assert mine.stderr.strip().splitlines() == [
            "netladder: Do you want to ping broadcast? Then -b. If not, check your local "
            "firewall rules"
        ]
        assert mine.stdout == ""  # refused before anything is sent


@pytest.fixture
def lan_answers_broadcasts(chain_lab: Lab) -> Iterator[list[str]]:
    hosts = ["lan1", "lan2", "lan3"]
    for host in hosts:
        chain_lab.exec(host, ["sysctl", "-qw", "net.ipv4.icmp_echo_ignore_broadcasts=0"])
    try:
        yield [chain_lab.addr(h) for h in hosts]
    finally:
        for host in hosts:
            chain_lab.exec(host, ["sysctl", "-qw", "net.ipv4.icmp_echo_ignore_broadcasts=1"])


def test_broadcast_with_b_counts_every_host_that_answers_like_iputils(
    chain_lab: Lab, lan_answers_broadcasts: list[str]
) -> None:
    broadcast = "198.51.100.127"  # the LAN behind r1; r1 pings it from its .65
    args = ("-b", "-c", "2", "-i", "0.2", broadcast)
    mine = chain_lab.netladder("r1", "ping", *args)
    theirs = chain_lab.exec("r1", ["ping", "-n", *args], check=False)
    # Every host answers each probe; the run ends at the first answer to the last probe, so
    # only the first probe's other answers (2) are sure to be read before it.
    counts = r"2 packets transmitted, 2 received, \+[234] duplicates, 0% packet loss"
    assert re.search(counts, theirs.stdout) and re.search(counts, mine.stdout), mine.stdout
    assert mine.returncode == theirs.returncode == 0
    assert mine.stderr == theirs.stderr == "WARNING: pinging broadcast address\n"
    repliers = set(re.findall(r"bytes from ([\d.]+):", mine.stdout))
    assert repliers == set(re.findall(r"bytes from ([\d.]+):", theirs.stdout))
    assert repliers == set(lan_answers_broadcasts)
    assert "(DUP!)" not in mine.stdout and "(DUP!)" not in theirs.stdout
