"""Port lists as users write them, and bad input as one line with exit 2."""

from __future__ import annotations

import errno
import os
import shutil
import socket
import struct
import subprocess
import sys

import pytest

from netladder.errors import UsageError
from netladder.l4.connect import connect_outcome
from netladder.l4.diag import build_inet_diag_request, parse_inet_diag
from netladder.l4.model import PortState, compress_ranges
from netladder.l4.ports import TOP_TCP, TOP_UDP, parse_ports
from netladder.l4.udp import udp_outcome
from netladder.net.sockets import Received, SockError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("22", (22,)),
        ("20-25", (20, 21, 22, 23, 24, 25)),
        ("443,22,80", (22, 80, 443)),
        ("22,22,20-22", (20, 21, 22)),
        (" 22 , 80 ", (22, 80)),
        ("ssh,http", (22, 80)),
        ("SSH", (22,)),
        ("65535", (65535,)),
        ("-3", None),  # a leading dash is not "from 1" here: too easy to mistake for an option
    ],
)
def test_port_lists(text: str, expected: tuple[int, ...] | None) -> None:
    if expected is None:
        with pytest.raises(UsageError):
            parse_ports(text)
    else:
        assert parse_ports(text) == expected


def test_the_full_range_and_the_top_list() -> None:
    assert parse_ports("1-65535") == tuple(range(1, 65536))
    assert parse_ports("top") == TOP_TCP
    assert len(TOP_TCP) == 100 and 22 in TOP_TCP and 443 in TOP_TCP
    assert parse_ports("top", "udp") == TOP_UDP and 53 in TOP_UDP
    assert parse_ports("top,1") == tuple(sorted({1, *TOP_TCP}))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0", "out of range"),
        ("65536", "out of range"),
        ("25-20", "reversed"),
        ("nosuchservice", "unknown service"),
        ("", "empty"),
        ("22,,80", "empty"),
        ("1-70000", "out of range"),
        # int() reads any script's digits; a port list takes 0-9 only.
        ("\u0662\u0662", "digits 0-9"),
        ("\uff12\uff12", "digits 0-9"),
        ("22,\u0668\u0660-90", "'\u0668\u0660' is neither a port number"),
        # A range names each end that is wrong, not just the first.
        ("a-b", "'a' and 'b' are neither a port number"),
        ("22-b", "range '22-b': 'b' is neither"),
        ("1-2-3", "'2-3' is neither"),
    ],
)
def test_bad_port_lists_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_ports(text)


def test_service_names_with_a_dash_are_names_not_ranges() -> None:
    assert parse_ports("http-alt") == (8080,)
    assert parse_ports("ssh-http") == tuple(range(22, 81))  # a range between two names
    assert parse_ports("1000-") == tuple(range(1000, 65536))


def test_ranges_are_compressed_as_nmap_writes_them() -> None:
    assert compress_ranges([1, 2, 3, 5, 7, 8]) == "1-3,5,7-8"
    assert compress_ranges([]) == ""
    assert compress_ranges([9]) == "9"


def cli(*args: str, without_raw: bool = False) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "netladder", *args]
    if without_raw:
        # Root without CAP_NET_RAW: exactly the privilege a SYN scan needs, taken away.
        argv = ["setpriv", "--bounding-set=-net_raw", "--inh-caps=-net_raw", *argv]
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=30, env={**os.environ, "NO_COLOR": "1"}
    )


@pytest.mark.parametrize(
    "ports", ["0", "65536", "30-20", "nosuchservice", "", ",", "\u0662\u0662", "a-b"]
)
def test_bad_ports_on_the_command_line_are_one_line_and_exit_2(ports: str) -> None:
    result = cli("port", "127.0.0.1", ports)
    assert result.returncode == 2, result
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize(
    "flags", [("--timeout", "\u0661\u0660\u0660"), ("--syn", "--rate", "\u0665")]
)
def test_numbers_in_other_scripts_are_bad_input_for_the_port_options(
    flags: tuple[str, ...],
) -> None:
    result = cli("port", "127.0.0.1", "22", *flags)
    assert result.returncode == 2, result
    assert "digits 0-9" in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("port", ["0", "\u0662\u0662"])
def test_sockets_with_a_bad_port_is_exit_2(port: str) -> None:
    result = cli("sockets", port)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_long_service_name_does_not_run_into_the_reason() -> None:
    from netladder.l4.model import PortResult, ScanResult
    from netladder.render.port import text as render

    rows = tuple(
        PortResult(port, "tcp", PortState.CLOSED, "reset", name, 1, 0.1)
        for port, name in ((22, "ssh"), (8990, "clc-build-daemon"))
    )
    text = render(ScanResult("h", TARGET, "tcp", "syn", rows, (), 2, 1.0, 0.1, 100.0, 1, 2))
    header, *lines = text.splitlines()[1:]
    column = header.index("REASON")
    assert [line[column:].split()[0] for line in lines] == ["reset", "reset"]
    assert "clc-build-daemon reset" in text


def test_rate_with_a_connect_scan_is_a_usage_error() -> None:
    result = cli("port", "127.0.0.1", "22", "--connect", "--rate", "100")
    assert result.returncode == 2 and "--rate" in result.stderr


needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv"),
    reason="drops CAP_NET_RAW with setpriv (needs root)",
)


@needs_root
def test_a_forced_syn_scan_without_privilege_is_exit_3_with_the_remedy() -> None:
    result = cli("port", "127.0.0.1", "9", "--syn", without_raw=True)
    assert result.returncode == 3, result
    assert "CAP_NET_RAW" in result.stderr and "--connect" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@needs_root
def test_without_privilege_the_default_falls_back_to_connect_with_a_note() -> None:
    # Loopback only: nothing listens on 127.0.0.1:9 in the test namespace.
    result = cli("port", "127.0.0.1", "9", without_raw=True)
    assert result.returncode == 1, result
    assert "connect scan" in result.stdout and "note:" in result.stdout
    assert "9/tcp" in result.stdout and "closed" in result.stdout


TARGET, ROUTER = "198.51.100.10", "203.0.113.6"
ROUTER6 = "2001:db8:2::1"
ICMP4, ICMP6 = 2, 3  # SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6


def icmp_error(origin: int, icmp_type: int, code: int, offender: str) -> SockError:
    err = {(3, 3): errno.ECONNREFUSED, (1, 4): errno.ECONNREFUSED}.get((icmp_type, code), 113)
    return SockError(err, origin, icmp_type, code, 0, offender)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (None, (PortState.OPEN, "udp-response", None)),
        (icmp_error(ICMP4, 3, 3, TARGET), (PortState.CLOSED, "port-unreach", TARGET)),
        # A router's REJECT answers for the target: filtered, as nmap -sU says.
        (icmp_error(ICMP4, 3, 3, ROUTER), (PortState.FILTERED, "port-unreach", ROUTER)),
        (icmp_error(ICMP4, 3, 13, TARGET), (PortState.FILTERED, "admin-prohibited", TARGET)),
        (icmp_error(ICMP4, 11, 0, ROUTER), (PortState.FILTERED, "time-exceeded", ROUTER)),
        (
            icmp_error(ICMP6, 1, 4, "2001:db8:3::2"),
            (PortState.FILTERED, "port-unreach", "2001:db8:3::2"),
        ),
        (
            icmp_error(ICMP6, 3, 0, "2001:db8:2::1"),
            (PortState.FILTERED, "time-exceeded", "2001:db8:2::1"),
        ),
        (icmp_error(ICMP4, 4, 0, ROUTER), None),  # source quench says nothing about the port
    ],
)
def test_what_came_back_on_a_udp_probe_decides_its_state(
    error: SockError | None, expected: tuple[PortState, str, str | None] | None
) -> None:
    answer = Received(b"" if error else b"pong", TARGET, 7, 1, None, error)
    assert udp_outcome(answer, TARGET) == expected


def test_an_ipv6_port_unreachable_from_the_target_is_closed() -> None:
    target = "2001:db8:3::2"
    answer = Received(b"", target, 0, 1, None, icmp_error(ICMP6, 1, 4, target))
    assert udp_outcome(answer, target) == (PortState.CLOSED, "port-unreach", target)


@pytest.mark.parametrize(
    ("err", "error", "expected"),
    [
        (errno.ECONNREFUSED, None, (PortState.CLOSED, "conn-refused", None)),  # a RST
        # ICMP port unreachable from the target: closed, as nmap -sT says.
        (
            errno.ECONNREFUSED,
            icmp_error(ICMP4, 3, 3, TARGET),
            (PortState.CLOSED, "conn-refused", TARGET),
        ),
        # ... from a router: a firewall on the way, not the target's port (nmap -sS: filtered).
        (
            errno.ECONNREFUSED,
            icmp_error(ICMP4, 3, 3, ROUTER),
            (PortState.FILTERED, "port-unreach", ROUTER),
        ),
        # The kernel says EHOSTUNREACH for a time exceeded; the error queue says what it was.
        (
            errno.EHOSTUNREACH,
            icmp_error(ICMP4, 11, 0, ROUTER),
            (PortState.FILTERED, "time-exceeded", ROUTER),
        ),
        (
            errno.EHOSTUNREACH,
            icmp_error(ICMP4, 3, 13, TARGET),
            (PortState.FILTERED, "host-unreach", TARGET),
        ),
        (errno.ENOPROTOOPT, None, (PortState.FILTERED, "proto-unreach", None)),
        (errno.ENETUNREACH, None, (PortState.FILTERED, "net-unreach", None)),
    ],
)
def test_a_failed_connect_reads_as_nmap_connect_scan_unless_the_icmp_error_says_more(
    err: int, error: SockError | None, expected: tuple[PortState, str, str | None]
) -> None:
    assert connect_outcome(err, error, TARGET) == expected


def test_an_inet_diag_answer_is_decoded() -> None:
    request = build_inet_diag_request(socket.AF_INET)
    length, kind, flags = struct.unpack_from("=IHH", request)
    assert (length, kind, flags) == (len(request), 20, 0x301) and length == 16 + 56
    body = (
        bytes([socket.AF_INET, 1, 0, 0])
        + struct.pack(
            "!HH16s16s",
            22,
            40000,
            socket.inet_aton("198.51.100.10") + bytes(12),
            socket.inet_aton("203.0.113.2") + bytes(12),
        )
        + bytes(12)
        + struct.pack("=IIIII", 0, 3, 5, 0, 4242)
    )
    message = struct.pack("=IHHII", 16 + len(body), 20, 2, 1, 0) + body
    done = struct.pack("=IHHIIi", 20, 3, 2, 1, 0, 0)
    entries, finished = parse_inet_diag(message + done)
    assert finished
    [entry] = entries
    assert (
        entry.state,
        entry.local,
        entry.local_port,
        entry.peer,
        entry.peer_port,
        entry.recv_q,
        entry.send_q,
        entry.inode,
    ) == ("ESTABLISHED", "198.51.100.10", 22, "203.0.113.2", 40000, 3, 5, 4242)


def test_state_of_finds_ports_summarised_in_not_shown() -> None:
    from netladder.l4.model import PortState, ScanResult, StateGroup

    result = ScanResult(
        "h",
        "198.51.100.10",
        "tcp",
        "syn",
        (),
        (StateGroup(PortState.CLOSED, "reset", 30, "1-21,23-31"),),
        30,
        1.0,
        None,
        100.0,
        1,
        30,
    )
    assert result.state_of(5) is PortState.CLOSED
    assert result.state_of(31) is PortState.CLOSED
    assert result.state_of(22) is None
    assert result.count(PortState.CLOSED) == 30


@pytest.mark.parametrize(
    ("ttl", "hops"), [(64, 0), (62, 2), (63, 1), (128, 0), (120, 8), (255, 0), (250, 5), (30, 2)]
)
def test_hops_are_judged_from_the_nearest_initial_ttl_above(ttl: int, hops: int) -> None:
    from netladder.l4.model import hop_estimate

    assert hop_estimate(ttl) == hops


def test_a_reset_from_nearer_than_the_host_is_set_apart_also_when_collapsed() -> None:
    from netladder.l4.engine import Tally, Timing, summarize
    from netladder.l4.model import hops_before

    assert hops_before(63, 62) == 1 and hops_before(62, 62) is None
    assert hops_before(62, 254) is None  # ICMP from 255, TCP from 64: the same 2 hops away
    ports = [22, 23, *range(1000, 1030)]
    t = Tally(ports)
    for i, port in enumerate(ports):
        if port == 22:
            t.decide(i, PortState.OPEN, "syn-ack", 0.001, ttl=62)
        else:
            t.decide(i, PortState.CLOSED, "reset", 0.001, ttl=62 if port == 23 else 63)
    # No echo reply: the SYN/ACK's TTL is the host's.
    result = summarize(
        t,
        target="h",
        address=TARGET,
        proto="tcp",
        method="syn",
        timing=Timing(),
        elapsed=1.0,
        probes_sent=len(ports),
    )
    assert result.host_ttl == 62
    rows = {row.port: row for row in result.ports}
    assert rows[23].reset_hops_before is None and rows[23].ttl == 62
    [group] = result.not_shown
    assert (group.count, group.ports, group.reset_hops_before) == (30, "1000-1029", 1)
    from netladder.render.port import text as render

    assert "Not shown: 30 closed tcp ports (reset, about 1 hop before the host)" in render(result)


def test_udp_sockets_are_named_as_ss_names_them_and_a_tcp_only_look_is_said() -> None:
    body = (
        bytes([socket.AF_INET, 7, 0, 0])
        + struct.pack("!HH16s16s", 53, 0, bytes(16), bytes(16))
        + bytes(12)
        + struct.pack("=IIIII", 0, 0, 0, 0, 99)
    )
    message = struct.pack("=IHHII", 16 + len(body), 20, 2, 1, 0) + body
    [entry], _done = parse_inet_diag(message, "udp")
    assert (entry.proto, entry.state, entry.local_port) == ("udp", "UNCONN", 53)
    from netladder.l4.diag import SocketsResult
    from netladder.render.sockets import text as render

    tcp_only = SocketsResult(53, (), (), {}, ("tcp",), "UDP not looked at (sock_diag: ...)")
    text = render(tcp_only)
    assert "nothing listens on port 53 (TCP)" in text and "UDP not looked at" in text
