"""The pure parts of trace's probes: the ICMP error classification (its TCP SYN is
`netladder.proto.tcp.build_syn`, tested in test_proto_tcp.py), and what the renderer says of
it (a probe's `detail`)."""

from __future__ import annotations

import pytest

from netladder.path.model import ProbeResult
from netladder.path.probes import classify
from netladder.render.trace import detail


# traceroute.c's parse_icmp_res, case by case (its annotation, or none).
@pytest.mark.parametrize(
    "version, icmp_type, code, from_target, port_final, expected",
    [
        (4, 11, 0, False, True, ("time-exceeded", "")),
        (6, 3, 0, False, True, ("time-exceeded", "")),
        (4, 11, 1, False, True, ("unreachable", "!<11-1>")),  # reassembly timeout: final
        (6, 3, 1, False, True, ("unreachable", "!<3-1>")),
        (4, 3, 3, True, True, ("reply", "")),  # UDP: port unreachable from the target = arrived
        (6, 1, 4, True, True, ("reply", "")),
        (4, 3, 3, True, False, ("unreachable", "")),  # TCP/ICMP: the target's firewall rejects
        (6, 1, 4, True, False, ("unreachable", "")),
        (4, 3, 3, False, True, ("unreachable", "")),  # from a router: final, not annotated
        (6, 1, 4, False, True, ("unreachable", "")),  # (was !P)
        (4, 3, 0, False, True, ("unreachable", "!N")),
        (4, 3, 1, False, True, ("unreachable", "!H")),
        (4, 3, 2, True, True, ("unreachable", "!P")),
        (4, 3, 5, False, True, ("unreachable", "!S")),
        (4, 3, 6, False, True, ("unreachable", "!N")),
        (4, 3, 7, False, True, ("unreachable", "!H")),
        (4, 3, 8, False, True, ("unreachable", "!N")),
        (4, 3, 9, False, True, ("unreachable", "!X")),
        (4, 3, 10, False, True, ("unreachable", "!X")),
        (4, 3, 11, False, True, ("unreachable", "!N")),
        (4, 3, 12, False, True, ("unreachable", "!H")),
        (4, 3, 13, True, True, ("unreachable", "!X")),
        (4, 3, 14, False, True, ("unreachable", "!V")),
        (4, 3, 15, False, True, ("unreachable", "!C")),
        (4, 3, 16, False, True, ("unreachable", "!<16>")),
        (4, 12, 0, False, True, ("unreachable", "!<12-0>")),
        (6, 1, 0, False, True, ("unreachable", "!N")),
        (6, 1, 1, True, True, ("unreachable", "!X")),
        (6, 1, 2, False, True, ("unreachable", "!H")),  # beyond scope (was !S)
        (6, 1, 3, False, True, ("unreachable", "!H")),
        (6, 1, 5, False, True, ("unreachable", "!<5>")),  # policy failure (was !X)
        (6, 1, 6, False, True, ("unreachable", "!<6>")),  # reject route (was !X)
        (6, 4, 1, False, True, ("unreachable", "!<4-1>")),
    ],
)
def test_icmp_errors_get_traceroutes_annotations(
    version: int,
    icmp_type: int,
    code: int,
    from_target: bool,
    port_final: bool,
    expected: tuple[str, str],
) -> None:
    kind, annotation, _detail = classify(version, icmp_type, code, from_target, port_final)
    assert (kind, annotation) == expected


@pytest.mark.parametrize("version, icmp_type, code", [(4, 3, 4), (6, 2, 0)])
def test_a_too_big_error_carries_the_mtu_as_traceroute_prints_it(
    version: int, icmp_type: int, code: int
) -> None:
    assert classify(version, icmp_type, code, False, True, 1280)[1] == "!F-1280"


def test_a_port_unreachable_from_a_router_says_it_is_not_the_target() -> None:
    def said(from_target: bool, port_final: bool) -> str:
        kind, annotation, answer = classify(6, 1, 4, from_target, port_final)
        return detail(ProbeResult(4, 1, "2001:db8::1", 0.001, kind, 1, 4, annotation, answer))

    assert "not the target" in said(False, True) and "rejected on the way" in said(False, True)
    assert said(True, False) == "port unreachable"
