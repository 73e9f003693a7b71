"""`netladder serve --workers N`: /probe served by N processes on one address.

One interpreter runs on one core; blackbox_exporter, in Go, runs its probes on every core.
With N workers the main process starts N - 1 more (`python -m netladder serve --worker-of
DIR …`), and every process listens on the same addresses with SO_REUSEPORT — the kernel
spreads new connections over them (by a hash of each connection's addresses: one shared
socket would let whichever process woke first take every waiting connection at once).
A worker answers `/probe`, `/api/v1/diagnose` (the agent API: a probe too) and `/-/healthy`
itself; every other request (the dashboard, the monitors' JSON, `/metrics`, `/-/reload`,
`/config`, `/logs`) it passes on to the main process over
a Unix socket in a private directory, because the monitors, their history and the alerts
live there only.  The main process's `/metrics`, `/probes` and `/logs` include the workers'
probes (asked of each worker's own Unix socket when shown), and a reload reaches every
worker.  A worker that dies is started again; workers end with the main process.

Per process, as each runs its own loop: `limits.max_connections` and
`limits.max_probes_in_flight`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

from netladder.proto import http1

__all__ = ["MAIN_SOCKET", "Answer", "Pool", "listening", "unix_request", "worker_socket"]

MAIN_SOCKET = "main.sock"  # in the pool's directory: the main process's internal listener
INTERNAL_TIMEOUT = 5.0  # seconds for a worker's figures, a log or a reload
PASS_ON_TIMEOUT = 60.0  # seconds for the main process's answer to a request a worker passed on
RESPAWN_CHECK = 1.0  # seconds between looks at the workers
STEADY = 10.0  # seconds a worker must run before it counts as started well
READY_WAIT = 15.0  # seconds the main process waits for its workers before it says it listens
_HOP_FIELDS = {"connection", "content-length", "keep-alive", "transfer-encoding", "date"}


class Answer(NamedTuple):
    """Another process's answer: what server.Response is made of."""

    status: int
    body: bytes
    content_type: str | None
    headers: tuple[tuple[str, str], ...]


class _Main(Protocol):
    """What the pool needs of the main process's Exporter."""

    @property
    def timeout_offset(self) -> float: ...
    @property
    def config_path(self) -> str | None: ...
    @property
    def config(self) -> Any: ...
    def log(self, line: str) -> None: ...


def worker_socket(directory: str, index: int) -> str:
    return os.path.join(directory, f"worker-{index}.sock")


async def unix_request(
    path: str,
    method: str,
    target: str,
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
) -> Answer:
    """One request to another process of the pool, and its answer (our own server framed
    it: Content-Length, never chunked).  The caller bounds the time."""
    reader, writer = await asyncio.open_unix_connection(path)
    try:
        fields = [(k, v) for k, v in headers if k.lower() not in _HOP_FIELDS]
        fields += [("Content-Length", str(len(body))), ("Connection", "close")]
        lines = [f"{method} {target} HTTP/1.1", *(f"{k}: {v}" for k, v in fields)]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape"))
        writer.write(body)
        buf = bytearray()
        scanner = http1.HeadScanner()
        while (end := scanner.feed(buf)) is None:
            chunk = await reader.read(65536)
            if not chunk:
                raise ConnectionError("the other process closed the connection")
            buf += chunk
        head = http1.parse_head(buf[:end])
        length = http1.content_length(head) or 0
        content = bytes(buf[end:])
        while len(content) < length:
            chunk = await reader.read(length - len(content))
            if not chunk:
                raise ConnectionError("the other process closed the connection")
            content += chunk
    finally:
        writer.close()
    kept = tuple((k, v) for k, v in head.headers if k.lower() not in _HOP_FIELDS | {"content-type"})
    return Answer(head.status, content[:length], head.get("Content-Type"), kept)


# -- the main process's side --------------------------------------------------------------------


class Pool:
    """The main process's workers: started, watched, asked, ended."""

    def __init__(self, exporter: _Main, count: int, bound: Sequence[tuple[Any, ...]]) -> None:
        self.exporter = exporter
        self.count = count
        # where the main process listens (getsockname of each socket): the workers bind the same
        self.listen = ",".join(f"{host}|{port}" for host, port, *_ in bound)
        self.directory = tempfile.mkdtemp(prefix="netladder-serve-")  # 0700: ours alone
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.started: dict[int, float] = {}
        self._internal: asyncio.AbstractServer | None = None
        self._watch: asyncio.Task[None] | None = None

    def _argv(self, index: int) -> list[str]:
        ex = self.exporter
        argv = [sys.executable, "-m", "netladder", "serve", "--worker-of", self.directory]
        argv += ["--worker-index", str(index), "--worker-listen", self.listen]
        argv += ["--timeout-offset", repr(ex.timeout_offset), "--workers", str(self.count)]
        if ex.config_path is not None:
            argv += ["--config", ex.config_path]
        return argv

    def _spawn(self, index: int) -> None:
        """A worker, given the configuration the main process runs (on its stdin): the file
        may have changed since — to a state the main process refused to reload."""
        proc = subprocess.Popen(self._argv(index), stdin=subprocess.PIPE)
        assert proc.stdin is not None
        try:
            proc.stdin.write(self.exporter.config.text.encode("utf-8"))
            proc.stdin.close()
        except OSError:
            pass  # it ended at once: the watch starts it again
        self.procs[index] = proc
        self.started[index] = time.monotonic()

    async def start(self, handler: Any) -> None:
        self._internal = await asyncio.start_unix_server(
            handler, os.path.join(self.directory, MAIN_SOCKET)
        )
        for index in range(1, self.count):
            self._spawn(index)
        # Ready when every worker answers on its own socket (or after READY_WAIT, said).
        deadline = time.monotonic() + READY_WAIT
        waiting = set(range(1, self.count))
        while waiting and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            for index in list(waiting):
                if await self._ask(index, "GET", "/-/state") is not None:
                    waiting.discard(index)
        for index in sorted(waiting):
            self.exporter.log(f"netladder serve: worker {index} is not ready yet")
        self._watch = asyncio.get_running_loop().create_task(self._watching())

    async def _watching(self) -> None:
        """Start again a worker that ended — at once, unless it keeps ending soon after its
        start: then after a wait that doubles each time, up to a minute."""
        waits: dict[int, float] = {}
        due: dict[int, float] = {}
        while True:
            await asyncio.sleep(RESPAWN_CHECK)
            now = time.monotonic()
            for index, proc in list(self.procs.items()):
                if proc.poll() is None:
                    if now - self.started[index] > STEADY:
                        waits.pop(index, None)
                    continue
                if index not in due:
                    quick = now - self.started[index] < STEADY
                    wait = min(waits.get(index, RESPAWN_CHECK / 2) * 2, 60.0) if quick else 0.0
                    waits[index], due[index] = wait, now + wait
                    self.exporter.log(
                        f"netladder serve: worker {index} ended (exit {proc.returncode}); "
                        f"starting it again{f' in {wait:g} s' if wait else ''}"
                    )
                if now >= due[index]:
                    del due[index]
                    self._spawn(index)

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 5
        for proc in self.procs.values():
            try:
                proc.wait(max(deadline - time.monotonic(), 0.01))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._internal is not None:
            self._internal.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    async def _ask(self, index: int, method: str, target: str, body: bytes = b"") -> Answer | None:
        try:
            async with asyncio.timeout(INTERNAL_TIMEOUT):
                where = worker_socket(self.directory, index)
                return await unix_request(where, method, target, body=body)
        except (OSError, TimeoutError, http1.ProtocolError):
            return None  # a worker starting again: its figures are missing from this answer

    async def states(self) -> list[dict[str, Any]]:
        """What each worker that answers has served (its /-/state)."""
        answers = await asyncio.gather(
            *(self._ask(i, "GET", "/-/state") for i in range(1, self.count))
        )
        return [json.loads(a.body) for a in answers if a is not None and a.status == 200]

    async def logs(self, probe_id: int) -> Answer | None:
        index = probe_id % self.count
        return await self._ask(index, "GET", f"/logs?id={probe_id}")

    async def reload(self) -> None:
        """Every worker runs the configuration the main process now runs (its text: the file
        is not read again)."""
        text = self.exporter.config.text.encode("utf-8")
        for index in range(1, self.count):
            answer = await self._ask(index, "POST", "/-/reload", text)
            if answer is None or answer.status != 200:
                self.exporter.log(
                    f"netladder serve: worker {index} did not reload"
                    + (f": {answer.body.decode(errors='replace').strip()}" if answer else "")
                )


# -- a worker's side ----------------------------------------------------------------------------


def listening(listen: str) -> list[socket.socket]:
    """A worker's listening sockets beside the main process's (`listen`: its `host|port,…`)."""
    socks: list[socket.socket] = []
    try:
        for where in listen.split(","):
            host, _, port = where.rpartition("|")
            socks.append(reuse_port_socket(host, int(port)))
    except BaseException:
        for sock in socks:
            sock.close()
        raise
    return socks


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A listening socket on host:port beside the main process's (SO_REUSEPORT on both)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)  # as asyncio binds
        sock.bind((host, port))
        sock.listen(100)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def end_with_parent() -> None:
    """SIGTERM when the main process ends, however it ends (prctl PR_SET_PDEATHSIG): a
    worker never serves on alone.  If it has ended already, end now."""
    import ctypes
    import signal

    parent = os.getppid()
    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != parent or parent == 1:
        raise SystemExit(0)
