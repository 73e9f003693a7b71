"""The exporter's HTTP side on loopback: the request codec, keep-alive, the bounds on heads,
slow clients, connections and probes in flight, basic auth, TLS, reload (POST and SIGHUP),
and the probes netladder adds (several echoes, udp) — checked with promtool, Prometheus's own
linter for the exposition format."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from netladder.proto import http1
from netladder.serve import server as server_mod
from netladder.serve.config import parse
from netladder.serve.server import Exporter, probe_timeout, serve

NETLADDER = str(Path(sys.executable).with_name("netladder"))
PROMTOOL = shutil.which("promtool")


# -- the request side of the codec ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "method", "target", "keep_alive"),
    [
        (b"GET /probe?target=x HTTP/1.1\r\nHost: a\r\n\r\n", "GET", "/probe?target=x", True),
        (b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", "GET", "/", False),
        (b"GET / HTTP/1.0\r\n\r\n", "GET", "/", False),
        (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "GET", "/", True),
        (b"\r\nPOST /-/reload HTTP/1.1\n\n", "POST", "/-/reload", True),  # RFC 9112 §2.2
    ],
)
def test_a_request_head_parses(raw: bytes, method: str, target: str, keep_alive: bool) -> None:
    head = http1.parse_request_head(raw)
    assert (head.method, head.target, head.keep_alive) == (method, target, keep_alive)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"GET /\r\n\r\n", "invalid request line"),
        (b"GET / HTTP/2.0\r\n\r\n", "unsupported HTTP version"),
        (b"GET /\x80 HTTP/1.1\r\n\r\n", "invalid request-target"),
        (b"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", "obsolete line folding"),
        (b"GET / HTTP/1.1\r\nbad header\r\n\r\n", "invalid header line"),
        (b"G(T / HTTP/1.1\r\n\r\n", "invalid request line"),
    ],
)
def test_a_bad_request_head_is_refused(raw: bytes, problem: str) -> None:
    with pytest.raises(http1.ProtocolError, match=problem):
        http1.parse_request_head(raw)


def test_a_request_body_needs_a_length() -> None:
    head = http1.parse_request_head(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
    with pytest.raises(http1.ProtocolError, match="Transfer-Encoding"):
        http1.request_body_length(head)
    head = http1.parse_request_head(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n")
    assert http1.request_body_length(head) == 5


def test_a_response_is_framed_by_its_length_and_head_has_no_content() -> None:
    raw = http1.build_response(200, "OK", [("Content-Type", "text/plain")], b"hello")
    head = http1.parse_head(raw[: raw.index(b"\r\n\r\n") + 4])
    assert head.get("Content-Length") == "5" and raw.endswith(b"\r\n\r\nhello")
    assert http1.build_response(200, "OK", (), b"hello", head_only=True).endswith(b"\r\n\r\n")


@pytest.mark.parametrize(
    ("header", "module_timeout", "offset", "seconds"),
    [
        (None, 0.0, 0.5, 119.5),  # no header: 120 s, minus the offset
        ("0", 0.0, 0.5, 119.5),
        ("10", 0.0, 0.5, 9.5),
        ("10", 5.0, 0.5, 5.0),  # the module's, being smaller
        ("10", 15.0, 0.5, 9.5),
        ("0.2", 0.0, 0.5, 0.0),  # negative difference: the module's (0: none) wins
        ("0.2", 3.0, 0.5, 3.0),
    ],
)
def test_the_probe_timeout_is_blackboxs(
    header: str | None, module_timeout: float, offset: float, seconds: float
) -> None:
    module = parse(f"modules: {{m: {{prober: tcp, timeout: {module_timeout}s}}}}").modules["m"]
    assert probe_timeout(header, module, offset) == pytest.approx(seconds)


# -- the server in this process -------------------------------------------------------------------


@asynccontextmanager
async def running(config_text: str, **kwargs: Any) -> AsyncIterator[tuple[Exporter, int]]:
    exporter = Exporter(parse(config_text), None, log=lambda line: None, **kwargs)
    bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.ensure_future(
        serve(exporter, "127.0.0.1", 0, lambda b: bound.set_result(b[0][1]))
    )
    waiters: list[asyncio.Future[Any]] = [task, bound]
    done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()  # raises what stopped it
    try:
        yield exporter, bound.result()
    finally:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass


async def read_response(
    reader: asyncio.StreamReader, buf: bytearray | None = None
) -> tuple[http1.ResponseHead, bytes]:
    """One response; `buf` carries bytes read past it over to the next call."""
    buf = bytearray() if buf is None else buf
    scanner = http1.HeadScanner()
    while (end := scanner.feed(buf)) is None:
        chunk = await reader.read(4096)
        assert chunk, f"closed before a response head: {bytes(buf)!r}"
        buf += chunk
    head = http1.parse_head(buf[:end])
    length = http1.content_length(head) or 0
    del buf[:end]
    while len(buf) < length:
        buf += await reader.read(length - len(buf))
    body = bytes(buf[:length])
    del buf[:length]
    return head, body


async def exchange(port: int, raw: bytes) -> tuple[http1.ResponseHead, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        return await asyncio.wait_for(read_response(reader), 30)
    finally:
        writer.close()


def get(path: str, *headers: str) -> bytes:
    extra = "".join(f"{h}\r\n" for h in headers)
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode()


MODULES = "modules:\n  tcp_connect: {prober: tcp}\n"


def test_one_connection_carries_several_requests() -> None:
    async def main() -> None:
        async with running(MODULES) as (_, port):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(get("/-/healthy") + get("/-/healthy"))  # pipelined
            buf = bytearray()
            for _ in range(2):
                head, body = await asyncio.wait_for(read_response(reader, buf), 10)
                assert (head.status, body) == (200, b"Healthy")
            writer.write(get("/-/healthy", "Connection: close"))
            head, _ = await asyncio.wait_for(read_response(reader, buf), 10)
            assert head.get("Connection") == "close"
            assert await asyncio.wait_for(reader.read(), 10) == b""  # and it is closed
            writer.close()

    asyncio.run(main())


def test_parsed_request_targets_are_read_only_and_kept_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Each request-target is parsed once and the answer shared by later requests: it must be
    # what parsing afresh gives (the first value of a repeated parameter, blanks kept, the path
    # decoded), unchangeable, and a client sending endless distinct URLs must not grow it.
    monkeypatch.setattr(server_mod, "_TARGETS", {})
    target = "/pro%62e?module=&module=x&target=a%20b"
    path, query, params = server_mod._split_target(target)
    assert (path, query) == ("/probe", "module=&module=x&target=a%20b")
    assert dict(params) == {"module": "", "target": "a b"}
    assert server_mod._split_target(target)[2] is params
    with pytest.raises(TypeError):
        params["target"] = "elsewhere"  # type: ignore[index]
    for i in range(server_mod._TARGETS_KEPT + 10):
        server_mod._split_target(f"/probe?target=t{i}")
    assert len(server_mod._TARGETS) <= server_mod._TARGETS_KEPT
    long = "/probe?target=" + "a" * server_mod._TARGET_CACHED_LEN
    assert server_mod._split_target(long)[2]["target"] == "a" * server_mod._TARGET_CACHED_LEN
    assert long not in server_mod._TARGETS


def test_a_request_head_beyond_the_bound_is_refused() -> None:
    async def main() -> None:
        async with running(MODULES + "limits: {max_request_bytes: 2048}\n") as (_, port):
            head, _ = await exchange(port, get("/-/healthy", "X-Big: " + "a" * 4000))
            assert head.status == 431
            head, _ = await exchange(
                port, b"POST /-/reload HTTP/1.1\r\nContent-Length: 9999\r\n\r\n"
            )
            assert head.status == 413
            head, _ = await exchange(port, b"NOT HTTP AT ALL\r\n\r\n")
            assert head.status == 400

    asyncio.run(main())


def test_a_client_that_sends_its_head_slowly_is_cut_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_mod, "HEAD_TIMEOUT", 0.5)

    async def main() -> None:
        async with running(MODULES) as (_, port):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /-/healthy HTTP/1.1\r\nX-Slow: ")
            head, _ = await asyncio.wait_for(read_response(reader), 30)
            assert head.status == 408
            assert await asyncio.wait_for(reader.read(), 10) == b""
            writer.close()

    asyncio.run(main())


def test_connections_beyond_the_bound_get_503() -> None:
    async def main() -> None:
        async with running(MODULES + "limits: {max_connections: 1}\n") as (_, port):
            first_r, first_w = await asyncio.open_connection("127.0.0.1", port)
            first_w.write(get("/-/healthy"))
            head, _ = await asyncio.wait_for(read_response(first_r), 10)
            assert head.status == 200  # the first connection is open and served
            head, body = await exchange(port, get("/-/healthy"))
            assert (head.status, body) == (503, b"Too many connections\n")
            first_w.close()

    asyncio.run(main())


def test_basic_auth_guards_every_endpoint(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("s3cret\n")
    config = MODULES + f"basic_auth: {{username: prom, password_file: {tmp_path / 'pw'}}}\n"

    async def main() -> None:
        async with running(config) as (_, port):
            for path in ("/-/healthy", "/metrics", "/probe?module=tcp_connect&target=x:1"):
                head, _ = await exchange(port, get(path))
                assert head.status == 401 and "Basic" in (head.get("WWW-Authenticate") or "")
            wrong = base64.b64encode(b"prom:guess").decode()
            head, _ = await exchange(port, get("/-/healthy", f"Authorization: Basic {wrong}"))
            assert head.status == 401
            right = base64.b64encode(b"prom:s3cret").decode()
            head, _ = await exchange(port, get("/-/healthy", f"Authorization: Basic {right}"))
            assert head.status == 200

    asyncio.run(main())


def test_probes_beyond_the_bound_wait_then_get_503() -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # bound, never answers
    silent.bind(("127.0.0.1", 0))
    port_silent = silent.getsockname()[1]
    config = "modules:\n  udp: {prober: udp, timeout: 3s}\nlimits: {max_probes_in_flight: 1}\n"

    async def main() -> None:
        async with running(config) as (exporter, port):
            slow = asyncio.ensure_future(
                exchange(port, get(f"/probe?module=udp&target=127.0.0.1:{port_silent}"))
            )
            while exporter.in_flight == 0:  # until the first probe holds the only slot
                await exchange(port, get("/-/healthy"))
            head, body = await exchange(
                port,
                get(
                    f"/probe?module=udp&target=127.0.0.1:{port_silent}",
                    "X-Prometheus-Scrape-Timeout-Seconds: 1",
                ),
            )
            assert (head.status, body) == (503, b"Too many probes in flight; try again later\n")
            head, body = await slow
            assert head.status == 200 and b"probe_success 0" in body
            assert b'probe_failure_info{layer="probe",reason="timeout"} 1' in body

    try:
        asyncio.run(main())
    finally:
        silent.close()


def test_tls_serves_the_same_endpoints(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path, "server")
    config = MODULES + f"tls: {{cert_file: {cert}, key_file: {key}}}\n"

    async def main() -> None:
        async with running(config) as (_, port):
            ctx = ssl.create_default_context(cafile=str(cert))
            ctx.check_hostname = False
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
            writer.write(get("/-/healthy"))
            head, body = await asyncio.wait_for(read_response(reader), 10)
            assert (head.status, body) == (200, b"Healthy")
            writer.close()
            # Plain HTTP to the TLS port gets no answer it could read as HTTP.
            r2, w2 = await asyncio.open_connection("127.0.0.1", port)
            w2.write(get("/-/healthy"))
            assert not (await asyncio.wait_for(r2.read(), 10)).startswith(b"HTTP/1.1 200")
            w2.close()

    asyncio.run(main())


def _self_signed(tmp_path: Path, name: str) -> tuple[Path, Path]:
    cert, key = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"]
        + ["-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_a_tls_tcp_probe_verifies_with_one_context_per_ca_file(tmp_path: Path) -> None:
    # The TLS context is made once per tls_config, not per probe (loading a CA store costs
    # tens of milliseconds), yet every handshake is still verified against the configured CA,
    # and a CA file replaced on disk is read again (blackbox reads it for every probe).
    from netladder.net.driver import _tls_context

    cert, key = _self_signed(tmp_path, "server")
    other, _ = _self_signed(tmp_path, "other")
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    modules = "modules:\n" + "".join(
        f"  {name}:\n    prober: tcp\n    tcp:\n      tls: true\n"
        f"      tls_config: {{ca_file: {ca}, server_name: localhost}}\n"
        for name, ca in (("tls_ok", cert), ("tls_other_ca", other))
    )

    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async def main() -> None:
        tls_server = await asyncio.start_server(greet, "127.0.0.1", 0, ssl=server_ctx)
        tls_port = tls_server.sockets[0].getsockname()[1]
        async with tls_server, running(modules) as (exporter, port):
            for module, success in (("tls_ok", 1), ("tls_ok", 1), ("tls_other_ca", 0)):
                target = f"/probe?module={module}&target=127.0.0.1:{tls_port}"
                head, body = await exchange(port, get(target))
                assert head.status == 200
                assert f"\nprobe_success {success}\n".encode() in body, body
            ok = exporter.config.modules["tls_ok"].tcp.tls_config.ca_file
            assert _tls_context(True, ok, ()) is _tls_context(True, ok, ())
            before = _tls_context(True, ok, ())
            other.replace(cert)  # the CA file changes on disk: a new context reads it
            assert _tls_context(True, ok, ()) is not before
            head, body = await exchange(
                port, get(f"/probe?module=tls_ok&target=127.0.0.1:{tls_port}")
            )
            assert b"\nprobe_success 0\n" in body  # now verified against the other CA

    asyncio.run(main())


def test_a_reload_with_a_bad_file_keeps_the_running_config(tmp_path: Path) -> None:
    path = tmp_path / "serve.yml"
    path.write_text(MODULES)

    async def main() -> None:
        exporter = Exporter(parse(MODULES), str(path), log=lambda line: None)
        async with running(MODULES) as (running_exporter, port):
            running_exporter.config_path = str(path)
            path.write_text(MODULES + "  icmp: {prober: icmp}\n")
            post = b"POST /-/reload HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
            head, _ = await exchange(port, post)
            assert head.status == 200 and "icmp" in running_exporter.config.modules
            path.write_text("modules:\n  m: {prober: http, htpp: {}}\n")
            head, body = await exchange(port, post)
            assert head.status == 500
            assert (
                body
                == f"failed to reload config: config {path}: modules.m.htpp: unknown key\n".encode()
            )
            assert "icmp" in running_exporter.config.modules  # still the last good one
            head, body = await exchange(port, get("/metrics"))
            assert b"blackbox_exporter_config_last_reload_successful 0" in body
        del exporter

    asyncio.run(main())


def wait_until(check: Callable[[], bool], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds} s: {what}")


def _http_get(port: int, path: str) -> tuple[int, bytes]:
    async def main() -> tuple[int, bytes]:
        head, body = await exchange(port, get(path, "Connection: close"))
        return head.status, body

    try:
        return asyncio.run(main())
    except OSError:
        return 0, b""


def test_sighup_reloads_and_a_bad_file_keeps_the_running_config(tmp_path: Path) -> None:
    path = tmp_path / "serve.yml"
    path.write_text(MODULES)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [NETLADDER, "serve", "--config", str(path), "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: _http_get(port, "/-/healthy")[0] == 200, "serve listens")
        assert _http_get(port, "/probe?module=icmp&target=127.0.0.1")[0] == 400
        path.write_text(MODULES + "  icmp: {prober: icmp, timeout: 2s}\n")
        proc.send_signal(signal.SIGHUP)
        wait_until(
            lambda: b"probe_success 1" in _http_get(port, "/probe?module=icmp&target=127.0.0.1")[1],
            "the new module probes",
        )
        path.write_text("modules: [not, a, mapping]\n")
        proc.send_signal(signal.SIGHUP)
        wait_until(
            lambda: b"config_last_reload_successful 0" in _http_get(port, "/metrics")[1],
            "the failed reload shows",
        )
        status, body = _http_get(port, "/probe?module=icmp&target=127.0.0.1")
        assert status == 200 and b"probe_success 1" in body
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "reload failed, keeping the running configuration" in err


def test_several_echoes_per_probe_give_loss_and_rtt_statistics() -> None:
    config = "modules:\n  smoke: {prober: icmp, timeout: 5s, icmp: {packets: 5, interval: 50ms}}\n"

    async def main() -> bytes:
        async with running(config) as (_, port):
            head, body = await exchange(port, get("/probe?module=smoke&target=127.0.0.1"))
            assert head.status == 200
            return body

    body = asyncio.run(main()).decode()
    assert "probe_success 1" in body
    assert "probe_icmp_packets_sent 5\n" in body and "probe_icmp_packets_received 5\n" in body
    assert "probe_icmp_packet_loss_ratio 0\n" in body
    for stat in ("min", "median", "mean", "max", "stddev", "jitter"):
        assert f'probe_icmp_rtt_seconds{{stat="{stat}"}} ' in body
    promtool_accepts(body)


def promtool_accepts(text: str) -> None:
    if PROMTOOL is None:
        pytest.fail("promtool (Debian's prometheus) is missing: run scripts/install-deps")
    done = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True
    )
    # promtool's lint asks for counters to end in _total etc.; a parse error is what matters.
    assert "error while linting" not in done.stderr and "parse" not in done.stderr, done.stderr


def test_udp_sends_and_expects() -> None:
    echo = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    echo.bind(("127.0.0.1", 0))
    echo.setblocking(False)
    echo_port = echo.getsockname()[1]
    closed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()  # nothing listens there now: ICMP port unreachable
    config = (
        "modules:\n"
        "  hello: {prober: udp, timeout: 3s, udp: {send: hello, expect: '^hello$'}}\n"
        "  other: {prober: udp, timeout: 3s, udp: {send: hello, expect: '^bye'}}\n"
    )

    async def main() -> list[bytes]:
        loop = asyncio.get_running_loop()

        def reply() -> None:
            data, peer = echo.recvfrom(2048)
            echo.sendto(data, peer)

        loop.add_reader(echo.fileno(), reply)
        bodies = []
        async with running(config) as (_, port):
            for query in (
                f"/probe?module=hello&target=127.0.0.1:{echo_port}",
                f"/probe?module=other&target=127.0.0.1:{echo_port}",
                f"/probe?module=hello&target=127.0.0.1:{closed_port}",
            ):
                bodies.append((await exchange(port, get(query)))[1])
        loop.remove_reader(echo.fileno())
        return bodies

    try:
        good, mismatch, refused = asyncio.run(main())
    finally:
        echo.close()
    assert b"probe_success 1" in good and b"probe_failed_due_to_regex 0" in good
    assert b"probe_success 0" in mismatch and b"probe_failed_due_to_regex 1" in mismatch
    assert b'probe_failure_info{layer="l4",reason="expect_mismatch"} 1' in mismatch
    assert b'probe_failure_info{layer="l4",reason="refused"} 1' in refused
    promtool_accepts(good.decode())


def test_config_page_hides_secrets(tmp_path: Path) -> None:
    config = (
        "modules:\n  api:\n    prober: http\n    http:\n"
        "      basic_auth: {username: u, password: hunter2}\n"
    )

    async def main() -> bytes:
        async with running(config) as (_, port):
            return (await exchange(port, get("/config")))[1]

    page = asyncio.run(main())
    assert b"hunter2" not in page and b"<secret>" in page and b"username: u" in page


def test_the_serve_package_is_imported_by_its_command_only() -> None:
    code = (
        "import sys, netladder.cli as c\n"
        "c.main(['--version'])\n"
        "assert not any(m.startswith(('netladder.serve', 'yaml')) for m in sys.modules), "
        "sorted(m for m in sys.modules if 'serve' in m or 'yaml' in m)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ})


def test_a_redirect_out_of_the_allowlist_is_not_followed() -> None:
    config = (
        "modules:\n  http_2xx: {prober: http, timeout: 5s}\nallow: {networks: [127.0.0.1/32]}\n"
    )
    reached_outside: list[bytes] = []

    async def main() -> tuple[bytes, bytes, int]:
        async def inside(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = await reader.readuntil(b"\r\n\r\n")
            if head.startswith(b"GET /away "):
                location = f"Location: http://127.0.0.2:{outside_port}/\r\n"
                writer.write(f"HTTP/1.1 302 Found\r\n{location}Content-Length: 0\r\n\r\n".encode())
            else:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
            writer.close()

        async def outside(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            reached_outside.append(await reader.read(100))
            writer.close()

        out_server = await asyncio.start_server(outside, "127.0.0.2", 0)
        outside_port = out_server.sockets[0].getsockname()[1]
        in_server = await asyncio.start_server(inside, "127.0.0.1", 0)
        inside_port = in_server.sockets[0].getsockname()[1]
        async with running(config) as (exporter, port):
            away = (await exchange(port, get(f"/probe?target=127.0.0.1:{inside_port}/away")))[1]
            home = (await exchange(port, get(f"/probe?target=127.0.0.1:{inside_port}/")))[1]
            direct = await exchange(port, get(f"/probe?target=127.0.0.2:{outside_port}/"))
        out_server.close()
        in_server.close()
        return away, home, direct[0].status

    away, home, direct_status = asyncio.run(main())
    assert b"probe_success 0" in away
    assert b'probe_failure_info{layer="l7",reason="redirect_refused"} 1' in away
    assert b"probe_success 1" in home
    assert direct_status == 403
    assert reached_outside == []  # nothing was sent outside the allowlist


def _logs_and_metrics(body: bytes) -> tuple[list[str], str]:
    """The debug output's log lines without their time stamps, and its metrics."""
    text = body.decode()
    logs = text.split("Logs for the probe:\n", 1)[1].split("\n\n\n", 1)[0].splitlines()
    metrics = text.split("Metrics that would have been returned:\n", 1)[1].split("\n\n\n")[0]
    return [line.split(" ", 1)[1] for line in logs], metrics


def test_a_tcp_dialogue_with_groups_and_starttls_logs_each_step(tmp_path: Path) -> None:
    # blackbox's query_response over a real loopback connection: an expect whose group fills
    # the next send, STARTTLS inside the dialogue, lines after it inside TLS, TLS metrics
    # from the verified certificate; and a peer that ends the stream before a match.  The log
    # lines are the ones this prober wrote on asyncio's streams before it became a session.
    cert, key = _self_signed(tmp_path, "server")
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    modules = (
        "modules:\n"
        "  smtp_starttls:\n    prober: tcp\n    tcp:\n"
        f"      tls_config: {{ca_file: {cert}, server_name: localhost}}\n"
        "      query_response:\n"
        "      - expect: '^220 (?P<host>\\S+) ESMTP'\n"
        "        send: 'EHLO ${host}'\n"
        "      - expect: '^250 '\n"
        "        send: STARTTLS\n"
        "      - expect: '^220 '\n"
        "        starttls: true\n"
        "      - send: QUIT\n"
        "      - expect: '^221 (.*)$'\n"
        "  smtp_nope:\n    prober: tcp\n    tcp:\n"
        "      query_response:\n"
        "      - expect: '^NOPE'\n"
    )

    async def smtp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(b"220 mx.lab ESMTP ready\r\n")
            assert (await reader.readline()) == b"EHLO mx.lab\n"
            writer.write(b"250-mx.lab\r\n250 STARTTLS\r\n")
            assert await reader.readline() == b"STARTTLS\n"
            writer.write(b"220 go ahead\r\n")
            await writer.drain()
            await writer.start_tls(server_ctx)
            assert await reader.readline() == b"QUIT\n"
            writer.write(b"221 mx.lab bye\r\n")
            await writer.drain()
        finally:
            writer.close()

    async def bye(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 mx.lab ESMTP ready\r\n")  # and the end of the stream
        writer.close()

    async def main() -> None:
        server = await asyncio.start_server(smtp, "127.0.0.1", 0)
        smtp_port = server.sockets[0].getsockname()[1]
        closer = await asyncio.start_server(bye, "127.0.0.1", 0)
        bye_port = closer.sockets[0].getsockname()[1]
        async with server, closer, running(modules) as (_, port):
            target = f"/probe?module=smtp_starttls&target=127.0.0.1:{smtp_port}&debug=true"
            head, body = await exchange(port, get(target))
            logs, metrics = _logs_and_metrics(body)
            prefix = f"caller=netladder module=smtp_starttls target=127.0.0.1:{smtp_port}"
            assert logs[3:-1] == [
                f"{prefix} level={level} msg={msg}"
                for level, msg in [
                    ("info", '"Dialing TCP without TLS"'),
                    ("info", '"Successfully dialed"'),
                    ("info", '"Processing query response entry" entry_number=0'),
                    ("debug", '"Read line" line="220 mx.lab ESMTP ready"'),
                    (
                        "info",
                        '"Regexp matched" regexp="^220 (?P<host>\\\\S+) ESMTP"'
                        ' line="220 mx.lab ESMTP ready"',
                    ),
                    ("debug", '"Sending line" line="EHLO mx.lab"'),
                    ("info", '"Processing query response entry" entry_number=1'),
                    ("debug", '"Read line" line=250-mx.lab'),
                    ("debug", '"Read line" line="250 STARTTLS"'),
                    ("info", '"Regexp matched" regexp="^250 " line="250 STARTTLS"'),
                    ("debug", '"Sending line" line=STARTTLS'),
                    ("info", '"Processing query response entry" entry_number=2'),
                    ("debug", '"Read line" line="220 go ahead"'),
                    ("info", '"Regexp matched" regexp="^220 " line="220 go ahead"'),
                    ("debug", '"Upgrading TCP connection to TLS"'),
                    ("info", '"TLS Handshake (client) succeeded."'),
                    ("info", '"Processing query response entry" entry_number=3'),
                    ("debug", '"Sending line" line=QUIT'),
                    ("info", '"Processing query response entry" entry_number=4'),
                    ("debug", '"Read line" line="221 mx.lab bye"'),
                    ("info", '"Regexp matched" regexp="^221 (.*)$" line="221 mx.lab bye"'),
                ]
            ], logs
            assert "\nprobe_success 1\n" in body.decode()
            assert "\nprobe_failed_due_to_regex 0\n" in metrics
            assert 'probe_tls_version_info{version="TLS 1.3"} 1' in metrics
            decoded = ssl._ssl._test_decode_cert(str(cert))  # type: ignore[attr-defined]
            expiry = ssl.cert_time_to_seconds(decoded["notAfter"])
            line = next(x for x in metrics.splitlines() if x.startswith("probe_ssl_earliest"))
            assert float(line.split()[1]) == expiry

            target = f"/probe?module=smtp_nope&target=127.0.0.1:{bye_port}&debug=true"
            head, body = await exchange(port, get(target))
            logs, metrics = _logs_and_metrics(body)
            prefix = f"caller=netladder module=smtp_nope target=127.0.0.1:{bye_port}"
            assert logs[-4:-1] == [
                f'{prefix} level=info msg="Processing query response entry" entry_number=0',
                f'{prefix} level=debug msg="Read line" line="220 mx.lab ESMTP ready"',
                f'{prefix} level=error msg="Regexp did not match" regexp=^NOPE'
                ' line="220 mx.lab ESMTP ready"',
            ], logs
            assert "\nprobe_success 0\n" in body.decode()
            assert "\nprobe_failed_due_to_regex 1\n" in metrics

    asyncio.run(main())


def test_a_tcp_dialogue_that_fails_says_why_as_it_always_has(tmp_path: Path) -> None:
    # A reset mid-dialogue, an endless line, a STARTTLS and a TLS dial whose certificate does
    # not verify: each failure's log line and reason, as the asyncio-stream prober wrote them.
    cert, key = _self_signed(tmp_path, "server")
    other, _ = _self_signed(tmp_path, "other")
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    tls = f"      tls_config: {{ca_file: {other}, server_name: localhost}}\n"
    modules = (
        "modules:\n"
        "  line:\n    prober: tcp\n    tcp:\n      query_response: [{expect: '^OK'}]\n"
        f"  starttls:\n    prober: tcp\n    tcp:\n{tls}"
        "      query_response: [{send: STARTTLS}, {expect: '^220 '}, {starttls: true}]\n"
        f"  tls:\n    prober: tcp\n    tcp:\n      tls: true\n{tls}"
    )

    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Part of a line, then a RST (SO_LINGER 0): the probe reads a reset, whenever it comes.
        writer.write(b"WAIT")
        await writer.drain()
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"A" * (64 * 1024 + 1))  # one byte past bufio.Scanner's limit
        await writer.drain()
        await reader.read(1)  # until the probe closes
        writer.close()

    async def smtp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(b"220 go ahead\r\n")
        await writer.drain()
        with contextlib.suppress(OSError):  # ssl.SSLError: the client refused our certificate
            await writer.start_tls(server_ctx)
        writer.close()

    async def main() -> None:
        servers = [
            await asyncio.start_server(handler, "127.0.0.1", 0, ssl=ctx)
            for handler, ctx in ((reset, None), (endless, None), (smtp, None), (smtp, server_ctx))
        ]
        ports = [server.sockets[0].getsockname()[1] for server in servers]
        async with running(modules) as (_, port):

            async def last(module: str, target_port: int) -> list[str]:
                target = f"/probe?module={module}&target=127.0.0.1:{target_port}&debug=true"
                _, body = await exchange(port, get(target))
                assert "\nprobe_success 0\n" in body.decode()
                logs, _ = _logs_and_metrics(body)
                return [line.split(" level=", 1)[1] for line in logs[-3:-1]]

            assert await last("line", ports[0]) == [
                'info msg="Processing query response entry" entry_number=0',
                'error msg="Error reading from connection"'
                ' err="[Errno 104] Connection reset by peer"',
            ]
            assert await last("line", ports[1]) == [
                'info msg="Processing query response entry" entry_number=0',
                'error msg="Error reading from connection" err="token too long"',
            ]
            assert await last("starttls", ports[2]) == [
                'debug msg="Upgrading TCP connection to TLS"',
                'error msg="TLS Handshake (client) failed." err=CERTIFICATE_VERIFY_FAILED',
            ]
            assert await last("tls", ports[3]) == [
                'info msg="Dialing TCP with TLS"',
                'error msg="Error dialing TCP" err=CERTIFICATE_VERIFY_FAILED',
            ]
        for server in servers:
            server.close()

    asyncio.run(main())
