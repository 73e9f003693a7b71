"""`netladder serve --workers N` on loopback: N processes accept on one address; a worker
answers /probe itself and passes every other request to the main process (which alone has
the monitors); /metrics, /probes and /logs count and show every process's probes; a reload
reaches the workers; a worker that dies is started again; workers end with the main process.

Which process holds a connection is the kernel's choice: the tests find out from /probes,
where each probe's id says which process served it (id mod N: 0 the main one)."""

from __future__ import annotations

import base64
import contextlib
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from netladder.proto import http1
from waiting import wait_until

NETLADDER = str(Path(sys.executable).with_name("netladder"))
MODULES = "modules:\n  tcp_connect: {prober: tcp, timeout: 5s}\n"


class Conn:
    """One kept-alive client connection, requests one at a time."""

    def __init__(self, port: int, tls: ssl.SSLContext | None = None, auth: str = "") -> None:
        sock = socket.create_connection(("127.0.0.1", port), 10)
        self.sock = tls.wrap_socket(sock) if tls else sock
        self.auth = f"Authorization: Basic {auth}\r\n" if auth else ""
        self.buf = b""

    def request(self, method: str, path: str) -> tuple[int, bytes]:
        self.sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: t\r\n{self.auth}\r\n".encode())
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            assert chunk, "the exporter closed the connection"
            self.buf += chunk
        end = self.buf.index(b"\r\n\r\n") + 4
        head = http1.parse_head(self.buf[:end])
        length = 0 if method == "HEAD" else http1.content_length(head) or 0
        while len(self.buf) < end + length:
            chunk = self.sock.recv(65536)
            assert chunk, "the exporter closed the connection"
            self.buf += chunk
        body, self.buf = self.buf[end : end + length], self.buf[end + length :]
        return head.status, body

    def close(self) -> None:
        self.sock.close()


def children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(c) for c in f.read().split()]


@contextlib.contextmanager
def listeners(count: int) -> Iterator[list[int]]:
    """TCP ports on loopback that complete handshakes (the kernel does; nobody accepts)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            s.listen(64)
            socks.append(s)
        yield [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@contextlib.contextmanager
def serving(config: Path, workers: int = 2) -> Iterator[tuple[subprocess.Popen[str], int]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = [NETLADDER, "serve", "--config", str(config), "--listen", f"127.0.0.1:{port}"]
    proc = subprocess.Popen(
        [*argv, "--workers", str(workers)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        for line in proc.stderr:  # said once every worker answers
            if "listening on" in line:
                break
        assert proc.poll() is None, "serve ended"
        assert len(children(proc.pid)) == workers - 1
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)


@contextlib.contextmanager
def placed(
    port: int, targets: list[int], tls: ssl.SSLContext | None = None, auth: str = ""
) -> Iterator[tuple[list[Conn], dict[int, int]]]:
    """A connection per target port, each probing its own target once; which process
    served each (its probe's id mod 2), from /probes."""
    conns = [Conn(port, tls, auth) for _ in targets]
    try:
        for conn, target in zip(conns, targets, strict=True):
            path = f"/probe?module=tcp_connect&target=127.0.0.1:{target}"
            status, body = conn.request("GET", path)
            assert status == 200 and b"\nprobe_success 1\n" in body, body
        status, page = conns[0].request("GET", "/probes")
        assert status == 200
        rows = re.findall(rb"<td>127\.0\.0\.1:(\d+)</td>.*?logs\?id=(\d+)", page)
        ids = {int(t): int(i) for t, i in rows}
        yield conns, {i: ids[t] for i, t in enumerate(targets)}
    finally:
        for conn in conns:
            conn.close()


def on_worker(conns: list[Conn], ids: dict[int, int]) -> Conn:
    """A connection the worker holds (16 connections all on one process: 1 in 32,768)."""
    return next(conns[i] for i, probe_id in ids.items() if probe_id % 2 == 1)


def test_workers_share_the_address_and_the_main_process_answers_for_them(
    tmp_path: Path,
) -> None:
    config = tmp_path / "serve.yml"
    config.write_text(MODULES)
    with serving(config) as (_proc, port), listeners(24) as targets:
        with placed(port, targets) as (conns, ids):
            on_worker = [conns[i] for i, probe_id in ids.items() if probe_id % 2 == 1]
            on_main = [conns[i] for i, probe_id in ids.items() if probe_id % 2 == 0]
            assert on_worker and on_main, f"24 connections, all on one process: {ids}"
            # The main process counts every probe, its workers' too.
            for conn in (on_worker[0], on_main[0]):
                status, text = conn.request("GET", "/metrics")
                assert status == 200
                assert b'netladder_probes_total{module="tcp_connect",result="success"} 24' in text
                assert b'netladder_probe_duration_seconds_count{module="tcp_connect"} 24' in text
            # A worker passes on what it does not serve itself, and the answer comes back.
            worker = on_worker[0]
            assert worker.request("GET", "/config")[1].startswith(b"modules:")
            status, dashboard = worker.request("GET", "/")
            assert status == 200 and b"<html" in dashboard.lower()
            assert worker.request("HEAD", "/")[0] == 200
            assert worker.request("GET", "/api/v1/monitors")[0] == 200
            assert worker.request("GET", "/no-such-page")[0] == 404
            # The log of a probe a worker served, asked of the main process.
            worker_id = next(probe_id for probe_id in ids.values() if probe_id % 2 == 1)
            target = next(targets[i] for i, probe_id in ids.items() if probe_id == worker_id)
            status, log = on_main[0].request("GET", f"/logs?id={worker_id}")
            assert status == 200 and f"target=127.0.0.1:{target}".encode() in log


def test_a_reload_reaches_the_workers(tmp_path: Path) -> None:
    config = tmp_path / "serve.yml"
    config.write_text(MODULES)
    with serving(config) as (proc, port), listeners(16) as targets:
        with placed(port, targets) as (conns, ids):
            worker = on_worker(conns, ids)
            extra = f"/probe?module=extra&target=127.0.0.1:{targets[0]}"
            assert worker.request("GET", extra)[0] == 400  # Unknown module "extra"
            config.write_text(MODULES + "  extra: {prober: tcp, timeout: 2s}\n")
            assert worker.request("POST", "/-/reload")[0] == 200  # passed to the main process
            status, body = worker.request("GET", extra)
            assert status == 200 and b"\nprobe_success 1\n" in body
            # SIGHUP to the main process reaches them too.
            config.write_text(MODULES + "  other: {prober: tcp, timeout: 2s}\n")
            proc.send_signal(signal.SIGHUP)
            other = f"/probe?module=other&target=127.0.0.1:{targets[0]}"
            wait_until("the worker reloaded", lambda: worker.request("GET", other)[0] == 200)


def test_workers_run_the_main_process_configuration_not_the_file(tmp_path: Path) -> None:
    """A worker started again runs what the main process runs, though the file has turned
    bad since (a refused reload); a large configuration (beyond the request bound) reaches
    every worker on reload."""
    config = tmp_path / "serve.yml"
    config.write_text(MODULES)
    with serving(config) as (proc, port), listeners(16) as targets:
        many = "".join(f"  m{i}: {{prober: tcp, timeout: 2s}}\n" for i in range(600))
        m599 = f"/probe?module=m599&target=127.0.0.1:{targets[0]}"
        config.write_text(MODULES + many)
        assert len(config.read_bytes()) > 16 * 1024  # limits.max_request_bytes
        with placed(port, targets) as (conns, ids):
            worker = on_worker(conns, ids)
            assert worker.request("POST", "/-/reload")[0] == 200
            status, body = worker.request("GET", m599)
            assert status == 200 and b"\nprobe_success 1\n" in body
        config.write_text("modules: [not, a, mapping]\n")
        conn = Conn(port)
        assert conn.request("POST", "/-/reload")[0] == 500  # refused: the running one stays
        conn.close()
        [first] = children(proc.pid)
        os.kill(first, signal.SIGKILL)
        wait_until("a new worker", lambda: children(proc.pid) not in ([], [first]))
        time.sleep(1.5)  # a worker that could not start would have ended and been replaced
        [second] = children(proc.pid)
        assert second != first
        with placed(port, targets) as (conns, ids):
            worker = on_worker(conns, ids)
            status, body = worker.request("GET", m599)
            assert status == 200 and b"\nprobe_success 1\n" in body
        assert children(proc.pid) == [second]


def test_a_dead_worker_is_started_again_and_workers_end_with_the_main_process(
    tmp_path: Path,
) -> None:
    config = tmp_path / "serve.yml"
    config.write_text(MODULES)
    with serving(config, workers=3) as (proc, port), listeners(1) as [target]:
        first = children(proc.pid)
        assert len(first) == 2
        os.kill(first[0], signal.SIGKILL)
        wait_until(
            "a new worker",
            lambda: len(children(proc.pid)) == 2 and first[0] not in children(proc.pid),
        )
        path = f"/probe?module=tcp_connect&target=127.0.0.1:{target}"
        for _ in range(12):
            conn = Conn(port)
            status, body = conn.request("GET", path)
            conn.close()
            assert status == 200 and b"\nprobe_success 1\n" in body
        workers = children(proc.pid)
        proc.kill()  # SIGKILL: the main process cannot end them itself
        proc.wait(10)
        wait_until(
            "the workers ended with the main process",
            lambda: not any(os.path.exists(f"/proc/{pid}") for pid in workers),
            10,
        )


def test_a_worker_probes_and_diagnoses_without_the_main_process(tmp_path: Path) -> None:
    """/probe and the agent API need nothing of the main process: a worker answers them
    while the main process is stopped (SIGSTOP)."""
    config = tmp_path / "serve.yml"
    config.write_text(MODULES)
    with serving(config) as (proc, port), listeners(16) as targets:
        with placed(port, targets) as (conns, ids):
            worker = on_worker(conns, ids)
            proc.send_signal(signal.SIGSTOP)
            try:
                probe = f"/probe?module=tcp_connect&target=127.0.0.1:{targets[0]}"
                status, body = worker.request("GET", probe)
                assert status == 200 and b"\nprobe_success 1\n" in body
                with socket.socket() as closed:  # a port nobody listens on: refused at once
                    closed.bind(("127.0.0.1", 0))
                    port_closed = closed.getsockname()[1]
                status, body = worker.request(
                    "GET", f"/api/v1/diagnose?target=127.0.0.1&port={port_closed}"
                )
                assert status == 200 and b'"layer": "l4", "status": "fail"' in body, body[:300]
            finally:
                proc.send_signal(signal.SIGCONT)


def test_tls_and_basic_auth_hold_on_every_process(tmp_path: Path) -> None:
    from test_serve_http import _self_signed

    cert, key = _self_signed(tmp_path, "server")
    (tmp_path / "pw").write_text("s3cret\n")
    config = tmp_path / "serve.yml"
    config.write_text(
        MODULES
        + f"tls: {{cert_file: {cert}, key_file: {key}}}\n"
        + f"basic_auth: {{username: prom, password_file: {tmp_path / 'pw'}}}\n"
    )
    tls = ssl.create_default_context(cafile=str(cert))
    tls.check_hostname = False
    right = base64.b64encode(b"prom:s3cret").decode()
    with serving(config) as (_proc, port), listeners(16) as targets:
        with placed(port, targets, tls, right) as (conns, ids):
            assert {probe_id % 2 for probe_id in ids.values()} == {0, 1}, ids
            worker = on_worker(conns, ids)
            assert worker.request("GET", "/metrics")[0] == 200  # passed on, with its credentials
        # Without credentials, or with wrong ones, every process refuses every endpoint.
        wrong = base64.b64encode(b"prom:guess").decode()
        for auth in ("", wrong):
            for _ in range(8):
                conn = Conn(port, tls, auth)
                try:
                    probe = f"/probe?module=tcp_connect&target=127.0.0.1:{targets[0]}"
                    assert conn.request("GET", probe)[0] == 401
                    assert conn.request("GET", "/metrics")[0] == 401
                finally:
                    conn.close()


@pytest.mark.parametrize("value", ["0", "65", "x"])
def test_a_bad_worker_count_is_one_line_and_exit_2(value: str) -> None:
    result = subprocess.run(
        [NETLADDER, "serve", "--workers", value, "--listen", "127.0.0.1:1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "--workers" in result.stderr
