"""`netladder sockets PORT` in the lab: one listening port, many connections, each its own socket
with its own peer — as sock_diag (and ss) see them."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from netladder.lab import Lab

N = 5
HOLD = (
    "import socket, sys, time\n"
    "conns = [socket.create_connection((sys.argv[1], 22)) for _ in range(int(sys.argv[2]))]\n"
    "print(' '.join(str(c.getsockname()[1]) for c in conns), flush=True)\n"
    "time.sleep(30)\n"
)


@pytest.fixture
def clients(pair_lab: Lab) -> Iterator[list[int]]:
    """N concurrent connections from a to b:22, held open; yields their local ports."""
    proc = pair_lab.popen(
        "a",
        [sys.executable, "-c", HOLD, pair_lab.addr("b"), str(N)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ports = [int(p) for p in proc.stdout.readline().split()]
        assert len(ports) == N
        yield ports
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.mark.lab
def test_the_listener_and_each_concurrent_connection_with_its_peer(
    pair_lab: Lab, clients: list[int]
) -> None:
    result = pair_lab.netladder("b", "sockets", "22", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    [listener] = doc["listeners"]
    assert listener["local_port"] == 22 and listener["state"] == "LISTEN"
    assert listener["processes"] and listener["processes"][0]["pid"] > 0  # the lab agent
    established = [c for c in doc["connections"] if c["state"] == "ESTABLISHED"]
    client = pair_lab.addr("a")
    assert sorted((c["peer"], c["peer_port"]) for c in established) == sorted(
        (client, p) for p in clients
    )
    assert all(c["local_port"] == 22 and c["local"] == pair_lab.addr("b") for c in established)
    assert doc["counts"]["ESTABLISHED"] == N
    # The same listener process owns every accepted connection.
    assert {c["processes"][0]["pid"] for c in established} == {listener["processes"][0]["pid"]}
    # ss, reading the same kernel tables, counts the same connections.
    ss = pair_lab.exec("b", ["ss", "-Htn", "state", "established", "sport", "=", ":22"]).stdout
    assert len(ss.strip().splitlines()) == N


@pytest.mark.lab
def test_the_client_side_sees_its_own_connections_to_the_port(
    pair_lab: Lab, clients: list[int]
) -> None:
    doc = json.loads(pair_lab.netladder("a", "sockets", "22", "--json").stdout)
    assert doc["listeners"] == []
    assert sorted(c["local_port"] for c in doc["connections"]) == sorted(clients)
    assert {c["peer_port"] for c in doc["connections"]} == {22}


@pytest.mark.lab
def test_text_output_counts_states_and_nothing_listening_is_exit_1(
    pair_lab: Lab, clients: list[int]
) -> None:
    out = pair_lab.netladder("b", "sockets", "ssh").stdout
    assert f"port 22: 1 listening socket, {N} connections ({N} ESTABLISHED)" in out
    assert out.count("ESTABLISHED") == N + 1
    nothing = pair_lab.netladder("b", "sockets", "4444")
    assert nothing.returncode == 1
    assert "nothing listens on port 4444" in nothing.stdout


UDP_HOLD = (
    "import socket, sys, time\n"
    "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
    "s.connect((sys.argv[1], 7))\n"
    "print(s.getsockname()[1], flush=True)\n"
    "time.sleep(30)\n"
)


@pytest.mark.lab
def test_a_udp_only_port_is_seen_listening_as_ss_sees_it(pair_lab: Lab) -> None:
    # b's echo service listens on 7/udp only: nothing listens on 7/tcp.
    result = pair_lab.netladder("b", "sockets", "7", "--json")
    assert result.returncode == 0, result.stdout
    doc = json.loads(result.stdout)
    assert doc["protocols"] == ["tcp", "udp"] and doc["not_looked_at"] is None
    ss = pair_lab.exec("b", ["ss", "-Hlun", "sport", "=", ":7"]).stdout.splitlines()
    ss_tcp = pair_lab.exec("b", ["ss", "-Hltn", "sport", "=", ":7"]).stdout.splitlines()
    listeners = doc["listeners"]
    assert len(listeners) == len(ss) == 1 and ss_tcp == []
    [udp] = listeners
    assert (udp["proto"], udp["state"], udp["local"], udp["local_port"]) == (
        "udp",
        "UNCONN",
        "::",
        7,
    )
    assert ss[0].split()[0] == "UNCONN" and ss[0].split()[3].endswith(":7")
    assert udp["processes"] and udp["processes"][0]["pid"] > 0  # the lab agent
    text = pair_lab.netladder("b", "sockets", "echo").stdout
    assert "port 7: 1 listening socket" in text and "udp    UNCONN" in text
    everything = pair_lab.netladder("b", "sockets").stdout
    assert everything.startswith("all TCP and UDP ports:") and "UNCONN" in everything


@pytest.mark.lab
def test_a_connected_udp_socket_is_a_connection_to_the_port(pair_lab: Lab) -> None:
    proc = pair_lab.popen(
        "a",
        [sys.executable, "-c", UDP_HOLD, pair_lab.addr("b")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        local_port = int(proc.stdout.readline())
        doc = json.loads(pair_lab.netladder("a", "sockets", "7", "--json").stdout)
        ss = pair_lab.exec("a", ["ss", "-Hun", "dport", "=", ":7"]).stdout.splitlines()
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    assert doc["listeners"] == []
    [conn] = doc["connections"]
    assert (conn["proto"], conn["state"], conn["local_port"], conn["peer"], conn["peer_port"]) == (
        "udp",
        "ESTABLISHED",
        local_port,
        pair_lab.addr("b"),
        7,
    )
    # ss (connected UDP sockets: no state column) shows the same two ends.
    assert len(ss) == 1 and ss[0].split()[-2:] == [
        f"{pair_lab.addr('a')}:{local_port}",
        f"{pair_lab.addr('b')}:7",
    ]
