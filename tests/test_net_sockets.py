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
