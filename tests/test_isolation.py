"""The suite runs in a fresh network namespace: nothing it sends can leave the machine."""

from __future__ import annotations

import errno
import socket

import pytest

from netladder.lab import Lab


@pytest.mark.parametrize("outside", ["192.0.2.1", "8.8.8.8", "10.0.0.1"])
def test_an_address_outside_the_lab_has_no_route_from_the_test_process(
    lab_ok: None, outside: str
) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with pytest.raises(OSError) as caught:
        sock.connect((outside, 9))  # a UDP connect only asks the routing table; nothing is sent
    sock.close()
    assert caught.value.errno == errno.ENETUNREACH


def test_the_test_namespace_has_only_loopback(lab_ok: None) -> None:
    assert socket.if_nameindex() == [(1, "lo")]


def test_lab_nodes_have_no_route_outside_the_lab(chain_lab: Lab) -> None:
    # The client's default route goes to r1, and r1 knows only lab prefixes: r1 answers
    # "network unreachable" for anything else.
    result = chain_lab.exec(
        "client", ["ping", "-n", "-c", "1", "-W", "1", "192.0.2.1"], check=False
    )
    assert result.returncode != 0
    assert "Unreachable" in result.stdout
