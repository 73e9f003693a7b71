"""`netladder forward proxy` in the chain lab: the proxy runs on r2, clients on `client`, the
targets are the server's services (and socat as a byte-exact echo server)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from netladder.errors import UsageError
from netladder.lab import Lab
from netladder.lab.topologies import SSH_BANNER
from netladder.nat.proxy import Endpoint, parse_endpoint
from waiting import restore_sigint, wait_until

SERVER = "198.51.100.10"
R2 = "203.0.113.6"


@pytest.mark.parametrize(
    ("text", "listen", "expected"),
    [
        ("8080", True, Endpoint("", 8080)),  # every address, IPv4 and IPv6
        (":8080", True, Endpoint("", 8080)),
        ("198.51.100.10:22", False, Endpoint("198.51.100.10", 22)),
        ("[2001:db8::1]:22", False, Endpoint("2001:db8::1", 22)),
    ],
)
def test_endpoints_parse(text: str, listen: bool, expected: Endpoint) -> None:
    assert parse_endpoint(text, listen=listen) == expected


@pytest.mark.parametrize("text", ["0", "70000", "x:y", "2001:db8::1:22", ":22"])
def test_bad_endpoints_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        parse_endpoint(text, listen=False)


class Proxy:
    """A `forward proxy --json` process on a lab node, started and waited for."""

    def __init__(self, lab: Lab, node: str, *args: str) -> None:
        self.proc = lab.popen(
            node,
            [sys.executable, "-m", "netladder", "forward", "proxy", *args, "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=restore_sigint,
        )
        assert self.proc.stderr is not None
        self.banner = self.proc.stderr.readline()
        assert "listening on" in self.banner, self.banner + self.proc.stderr.read()

    def stop(self, signum: int = signal.SIGTERM) -> tuple[int, dict[str, Any]]:
        self.proc.send_signal(signum)
        out, err = self.proc.communicate(timeout=20)
        return self.proc.returncode, json.loads(out)


@pytest.fixture()
def lab(chain_lab: Lab) -> Iterator[Lab]:
    yield chain_lab


def client_script(lab: Lab, code: str, *args: str, timeout: float = 60) -> str:
    result = lab.exec("client", [sys.executable, "-c", code, *args], timeout=timeout)
    return result.stdout


# Sends N random bytes through the proxy to an echo server while reading the echo back;
# prints the sha256 of what was sent and of what came back.
BIG = r"""
import hashlib, os, socket, sys, threading
host, port, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = os.urandom(size)
s = socket.create_connection((host, port))
got = hashlib.sha256(); n = [0]
def reader():
    while True:
        b = s.recv(1 << 20)
        if not b: break
        got.update(b); n[0] += len(b)
t = threading.Thread(target=reader); t.start()
s.sendall(data); s.shutdown(socket.SHUT_WR); t.join()
print(hashlib.sha256(data).hexdigest(), got.hexdigest(), n[0])
"""


@pytest.mark.parametrize("mode", ["splice", "copy"])
def test_a_large_transfer_is_byte_exact_both_ways(lab: Lab, mode: str) -> None:
    echo = lab.popen(
        "server",
        ["socat", "TCP-LISTEN:9500,reuseaddr,fork", "EXEC:cat"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(  # socat is listening
            "the echo server",
            lambda: lab.exec("server", ["ss", "-Htln", "sport", "=", ":9500"]).stdout.strip() != "",
        )
        extra = ["--no-splice"] if mode == "copy" else []
        proxy = Proxy(lab, "r2", *extra, f"{R2}:9000", f"{SERVER}:9500")
        assert ("zero-copy splice" in proxy.banner) == (mode == "splice")
        size = 48 << 20
        sent, received, count = client_script(lab, BIG, R2, "9000", str(size)).split()
        code, stats = proxy.stop()
    finally:
        echo.terminate()
        echo.wait()
    assert int(count) == size and sent == received
    assert code == 0 and stats["stopped_by"] == "SIGTERM"
    assert stats["zero_copy"] is (mode == "splice")
    assert stats["bytes_up"] == stats["bytes_down"] == size
    assert stats["connections"] == 1 and stats["failed"] == 0


# N concurrent connections through the proxy to the SSH-like banner service: each reads the
# banner, says a line and reads its echo.
MANY = r"""
import asyncio, sys
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
async def one(i):
    r, w = await asyncio.open_connection(host, port)
    banner = await r.readline()
    w.write(f"hello {i}\n".encode()); await w.drain()
    echo = await r.readline()
    w.close()
    return banner.decode().strip(), echo == f"hello {i}\n".encode()
async def main():
    results = await asyncio.gather(*(one(i) for i in range(n)))
    print(len({b for b, _ in results}), results[0][0], sum(ok for _, ok in results))
asyncio.run(main())
"""


def test_many_concurrent_connections_each_reach_the_target(lab: Lab) -> None:
    proxy = Proxy(lab, "r2", f"{R2}:9001", f"{SERVER}:22")
    out = client_script(lab, MANY, R2, "9001", "300")
    proxy.proc.send_signal(signal.SIGUSR1)  # the live counters, on stderr
    assert proxy.proc.stderr is not None
    live = proxy.proc.stderr.readline()
    assert "300 connections (" in live and " 0 failed)" in live, live
    code, stats = proxy.stop()
    distinct, banner, ok = (
        out.split(" ", 1)[0],
        out.split(" ", 1)[1].rsplit(" ", 1)[0],
        out.rsplit(" ", 1)[1],
    )
    assert (int(distinct), banner, int(ok)) == (1, SSH_BANNER, 300)
    assert stats["connections"] == 300 and stats["failed"] == 0 and code == 0


def test_a_listener_without_an_address_takes_ipv4_and_ipv6(lab: Lab) -> None:
    proxy = Proxy(lab, "r2", "9005", f"{SERVER}:22")
    assert "[::]:9005" in proxy.banner
    r2_v6 = lab.addr_on("r2", "r1", 6)
    for address in (R2, f"[{r2_v6}]"):
        out = lab.exec(
            "client",
            ["socat", "-T", "2", "-", f"TCP:{address}:9005"],
            input="",
            check=False,
            timeout=10,
        ).stdout
        assert out.strip() == SSH_BANNER, address
    code, stats = proxy.stop()
    assert stats["connections"] == 2 and code == 0


def test_a_refused_target_resets_the_client_and_is_counted(lab: Lab) -> None:
    proxy = Proxy(lab, "r2", f"{R2}:9002", f"{SERVER}:2222")
    outcome = client_script(
        lab,
        (
            "import socket\ntry:\n"
            "    s = socket.create_connection(('203.0.113.6', 9002), 3); print(repr(s.recv(10)))\n"
            "except OSError as e:\n    print(type(e).__name__)"
        ),
    )  # the reset may beat connect()
    code, stats = proxy.stop()
    assert outcome.strip() == "ConnectionResetError"
    assert stats["failed"] == 1 and stats["connections"] == 1


# One client socket sends, waits longer than the idle timeout, and sends again: two sessions.
UDP = r"""
import socket, sys, time
host, port, pause = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
s.sendto(b"one", (host, port)); a = s.recv(100)
time.sleep(pause)
s.sendto(b"two", (host, port)); b = s.recv(100)
print(a.decode(), b.decode())
"""


def test_udp_is_carried_with_per_client_sessions_and_an_idle_timeout(lab: Lab) -> None:
    # Listening on every address: one dual-stack socket, IPv4 clients arrive v4-mapped.
    proxy = Proxy(lab, "r2", "--udp", "--idle", "0.3", "9007", f"{SERVER}:7")
    # A pause well past the idle timeout, so that a busy machine cannot stretch 0.3 s into it.
    assert client_script(lab, UDP, R2, "9007", "1.5").split() == ["one", "two"]
    echo = lab.exec("lan1", ["socat", "-T", "2", "-", f"UDP:{R2}:9007"], input="lan\n")
    assert echo.stdout == "lan\n"
    code, stats = proxy.stop(signal.SIGINT)
    assert code == 130 and stats["stopped_by"] == "SIGINT"  # Ctrl-C: summary, then 130
    # The client's idle session closed after 0.3 s, so its second datagram opened a new one.
    assert stats["connections"] == 3
    assert stats["datagrams_up"] == stats["datagrams_down"] == 3
    assert stats["bytes_up"] == len(b"one") + len(b"two") + len(b"lan\n")


def test_graceful_shutdown_lets_an_open_connection_finish(lab: Lab) -> None:
    proxy = Proxy(lab, "r2", "--grace", "5", f"{R2}:9003", f"{SERVER}:22")
    slow = lab.popen(
        "client",
        [
            sys.executable,
            "-c",
            (
                "import socket, sys; s = socket.create_connection(('203.0.113.6', 9003)); "
                "print(s.recv(100).decode().strip(), flush=True); sys.stdin.readline(); "
                "s.sendall(b'bye\\n'); "
                "print(s.recv(100).decode().strip())"
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert slow.stdin is not None and slow.stdout is not None
    assert slow.stdout.readline().strip() == SSH_BANNER
    started = time.monotonic()
    proxy.proc.send_signal(signal.SIGTERM)  # while the connection is open
    # Once it stops listening it is in its grace period: only then may the client finish.
    wait_until(
        "the proxy to stop accepting",
        lambda: lab.exec("r2", ["ss", "-Htln", "sport", "=", ":9003"]).stdout.strip() == "",
    )
    slow.stdin.write("go\n")
    slow.stdin.flush()
    assert slow.stdout.readline().strip() == "bye"
    slow.communicate(timeout=10)
    out, _ = proxy.proc.communicate(timeout=20)
    stats = json.loads(out)
    assert proxy.proc.returncode == 0 and stats["active_at_stop"] == 1
    assert time.monotonic() - started < 5  # it stopped when the connection ended


def test_a_port_in_use_is_one_line_and_exit_2(lab: Lab) -> None:
    proxy = Proxy(lab, "r2", f"{R2}:9004", f"{SERVER}:22")
    args = ("forward", "proxy", f"{R2}:9004", f"{SERVER}:22")
    try:
        again = lab.netladder("r2", *args)
        korean = lab.netladder("r2", *args, "--lang", "ko")
    finally:
        proxy.stop()
    assert again.returncode == 2 and "in use" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    assert korean.returncode == 2
    assert (
        korean.stderr == f"netladder: {R2}:9004에서 수신 대기할 수 없습니다: 포트가 사용 중입니다\n"
    )
    bad = lab.netladder("r2", "forward", "proxy", "70000", f"{SERVER}:22")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert bad.stderr == "netladder: '70000': the port must be between 1 and 65535\n"
    bad = lab.netladder("r2", "forward", "proxy", "70000", f"{SERVER}:22", "--lang", "ko")
    assert bad.stderr == "netladder: '70000': 포트는 1에서 65535 사이여야 합니다\n"
