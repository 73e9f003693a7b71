"""The socket boundary against real lab peers: datagram and raw ICMP, timestamps, error queue."""

from __future__ import annotations

import json
import sys

from netladder.lab import Lab

# A probe run inside a lab node; prints one JSON line per observation.
PROBE = r"""
import json, select, sys, time
from netladder.net.sockets import open_icmp, receive
from netladder.proto.icmp import build_echo, echo_payload, parse_icmp
kind, version, target, ttl = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
s = open_icmp(version, kind, ttl=ttl)
ident = s.identifier if s.identifier is not None else 0x4242
sent = time.monotonic_ns()
s.sock.sendto(build_echo(version, ident, 1, echo_payload(b"NLCOOKIE", 56)), (target, 0))
deadline = time.monotonic() + 2
while time.monotonic() < deadline:
    select.select([s.sock], [], [s.sock], 0.2)
    for errq in (True, False):
        r = receive(s.sock, errqueue=errq) if (errq and s.kind == "dgram") or not errq else None
        if r is None:
            continue
        m = parse_icmp(r.data, version, s.includes_ip_header)
        print(json.dumps({"kind": s.kind, "errq": errq, "rtt_ms": (r.monotonic_ns - sent) / 1e6,
              "ttl": r.ttl, "type": m.type if m else None,
              "offender": r.error.offender if r.error else (m.source if m else None),
              "err_type": r.error.icmp_type if r.error else None,
              "quoted_dst": m.quoted.dst if m and m.quoted else None}))
        sys.exit(0)
sys.exit(1)
"""


def probe(lab: Lab, kind: str, version: int, target: str, ttl: int = 64) -> dict[str, object]:
    result = lab.exec(
        "client", [sys.executable, "-c", PROBE, kind, str(version), target, str(ttl)], check=False
    )
    assert result.returncode == 0, result.stderr
    doc: dict[str, object] = json.loads(result.stdout)
    return doc


def test_raw_echo_reply_has_ttl_and_a_kernel_timestamp(chain_lab: Lab) -> None:
    doc = probe(chain_lab, "raw", 4, chain_lab.addr("server"))
    assert doc["type"] == 0 and doc["ttl"] == 62  # two routers on the way
    assert 0 < float(doc["rtt_ms"]) < 500  # type: ignore[arg-type]


def test_raw_icmpv6_echo_reply(chain_lab: Lab) -> None:
    doc = probe(chain_lab, "raw", 6, chain_lab.addr("server", 6))
    assert doc["type"] == 129 and doc["ttl"] == 62


def test_datagram_socket_where_ping_group_range_allows(chain_lab: Lab) -> None:
    chain_lab.exec("client", ["sysctl", "-qw", "net.ipv4.ping_group_range=0 2147483647"])
    try:
        doc = probe(chain_lab, "dgram", 4, chain_lab.addr("server"))
        assert doc["kind"] == "dgram" and doc["type"] == 0 and doc["ttl"] == 62
        # Time exceeded for our probe arrives on the error queue, naming the router.
        err = probe(chain_lab, "dgram", 4, chain_lab.addr("server"), ttl=2)
        assert err["errq"] and err["err_type"] == 11 and err["offender"] == "203.0.113.6"
        assert err["quoted_dst"] is None  # the error queue gives our own packet, not a quote
        err6 = probe(chain_lab, "dgram", 6, chain_lab.addr("server", 6), ttl=1)
        assert err6["errq"] and err6["err_type"] == 3 and err6["offender"] == "2001:db8:1::1"
    finally:
        chain_lab.exec("client", ["sysctl", "-qw", "net.ipv4.ping_group_range=1 0"])


def test_raw_socket_sees_time_exceeded_with_the_quoted_probe(chain_lab: Lab) -> None:
    doc = probe(chain_lab, "raw", 4, chain_lab.addr("server"), ttl=1)
    assert doc["type"] == 11 and doc["offender"] == "203.0.113.1"
    assert doc["quoted_dst"] == chain_lab.addr("server")


def test_neither_socket_permitted_is_an_environment_error(chain_lab: Lab) -> None:
    code = (
        "from netladder.cli import _print_error; from netladder.errors import EnvError\n"
        "from netladder.net.sockets import open_icmp\n"
        "try:\n    open_icmp(4)\nexcept EnvError as e:\n    print(e); raise SystemExit(3)\n"
    )
    result = chain_lab.exec(
        "client",
        ["setpriv", "--inh-caps=-all", "--bounding-set=-all", sys.executable, "-c", code],
        check=False,
    )
    assert result.returncode == 3, result.stderr
    assert "ping_group_range" in result.stdout and "CAP_NET_RAW" in result.stdout


# -- the helpers issue 14 adds to the boundary (loopback, no lab) ------------------------------


def _root() -> bool:
    import os

    return os.geteuid() == 0


def test_rcvbuf_force_goes_beyond_rmem_max_only_with_the_privilege() -> None:
    import socket

    import pytest

    from netladder.net.sockets import set_rcvbuf

    if not _root():
        pytest.skip("SO_RCVBUFFORCE needs CAP_NET_ADMIN")
    with open("/proc/sys/net/core/rmem_max") as f:
        rmem_max = int(f.read())
    want = rmem_max * 4
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as forced:
        set_rcvbuf(forced, want, force=True)
        # The kernel doubles what it is given (bookkeeping overhead, socket(7)).
        assert forced.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) == 2 * want
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as capped:
        set_rcvbuf(capped, want)
        assert capped.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) == 2 * rmem_max


def test_can_raw_says_what_socket_creation_says() -> None:
    import socket

    from netladder.net.sockets import can_raw

    try:
        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP).close()
        allowed = True
    except PermissionError:
        allowed = False
    assert can_raw() is allowed


def test_receive_many_takes_every_waiting_datagram_with_its_stamp() -> None:
    import socket
    import time

    from netladder.net.sockets import enable_timestamps, receive_many

    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx,
    ):
        rx.bind(("127.0.0.1", 0))
        enable_timestamps(rx)
        before = time.monotonic_ns()
        for n in range(5):
            tx.sendto(b"%d" % n, rx.getsockname())
        time.sleep(0.01)  # loopback delivers within the sendto; the sleep only spaces "now"
        got = receive_many(rx)
        after = time.monotonic_ns()
        assert [data for data, _stamp, _source in got] == [b"0", b"1", b"2", b"3", b"4"]
        assert all(source == "127.0.0.1" for _d, _s, source in got)
        # Kernel stamps of when they arrived, not of when they were read.
        assert all(before <= stamp < after - 5_000_000 for _d, stamp, _s in got)
        assert receive_many(rx) == []


def test_a_packet_socket_opens_at_once_and_hears_its_protocol_on_its_device() -> None:
    import select
    import socket
    import time

    import pytest

    from netladder.net.sockets import open_packet

    if not _root():
        pytest.skip("AF_PACKET needs CAP_NET_RAW")
    opened: list[socket.socket] = []
    took = []
    try:
        for _ in range(5):
            start = time.perf_counter()
            opened.append(open_packet("lo", 0x0800))
            took.append(time.perf_counter() - start)
        # Created with a protocol, the bind re-hooks the socket and waits out an RCU grace
        # period (8-20 ms here); created with 0, the bind is the first hook: microseconds.
        assert min(took) < 0.002, took
        sock = opened[0]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            tx.sendto(b"netladder-open-packet", ("127.0.0.1", 9))
        deadline = time.monotonic() + 5
        heard = False
        while not heard and time.monotonic() < deadline:
            select.select([sock], [], [], 0.5)
            try:
                frame = sock.recv(65535)
            except BlockingIOError:
                continue
            heard = b"netladder-open-packet" in frame
        assert heard
    finally:
        for s in opened:
            s.close()
