"""The public address: HTTP echo endpoints and STUN Binding requests, queried concurrently under
one deadline, each beside the local source address of the same connection.

Endpoints come from the command line, else the environment (NETLADDER_MYIP_HTTP and
NETLADDER_MYIP_STUN, space or comma separated), else the config file
($XDG_CONFIG_HOME/netladder/myip.toml, default ~/.config/netladder/myip.toml, or the file named
by NETLADDER_MYIP_CONFIG), else built-in public services.  The first of these that names any
endpoint supplies all of them, so a configured lab is never mixed with the public defaults.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from netladder import __version__
from netladder.errors import UsageError
from netladder.proto import stun

__all__ = [
    "DEFAULT_HTTP",
    "DEFAULT_STUN",
    "ENV_CONFIG",
    "ENV_HTTP",
    "ENV_STUN",
    "Endpoints",
    "HttpEndpoint",
    "MyIp",
    "SourceResult",
    "StunEndpoint",
    "config_path",
    "discover",
    "endpoints",
    "parse_echo_body",
    "parse_stun_endpoint",
    "parse_url",
]

# Public defaults, used only when nothing is configured (never by tests: they name lab ones).
DEFAULT_HTTP: tuple[str, ...] = ("https://api.ipify.org/", "https://ifconfig.me/ip")
DEFAULT_STUN: tuple[str, ...] = ("stun.l.google.com:19302", "stun.cloudflare.com:3478")
ENV_HTTP = "NETLADDER_MYIP_HTTP"
ENV_STUN = "NETLADDER_MYIP_STUN"
ENV_CONFIG = "NETLADDER_MYIP_CONFIG"

STUN_PORT = 3478  # RFC 8489 §18.6
STUN_RTO = 0.5  # initial retransmission timeout, doubling each time (RFC 8489 §6.2.1)
MAX_BODY = 64 * 1024
JSON_KEYS = ("ip", "address", "origin", "query", "ip_addr")


@dataclass(frozen=True, slots=True)
class HttpEndpoint:
    url: str
    scheme: str
    host: str
    port: int
    target: str

    def __str__(self) -> str:
        return self.url


@dataclass(frozen=True, slots=True)
class StunEndpoint:
    host: str
    port: int = STUN_PORT

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Endpoints:
    http: tuple[HttpEndpoint, ...]
    stun: tuple[StunEndpoint, ...]
    source: str  # "command line", "environment", the config file path, or "built-in defaults"


@dataclass(frozen=True, slots=True)
class SourceResult:
    kind: str  # http | stun
    endpoint: str
    ok: bool
    address: str | None = None  # the public address this source saw
    mapped_port: int | None = None  # STUN: the port the server saw
    local_address: str | None = None  # our end of the same connection
    local_port: int | None = None
    server: str | None = None  # the address we talked to
    time_ms: float | None = None
    error: str | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class MyIp:
    sources: tuple[SourceResult, ...]
    public: tuple[str, ...]  # distinct public addresses seen, in source order
    local: tuple[str, ...]  # distinct local source addresses
    behind_nat: bool | None
    agree: bool
    verdict: str
    notes: tuple[str, ...]
    endpoints_from: str
    total_ms: float

    @property
    def ok(self) -> bool:
        return bool(self.public)


# -- endpoints ---------------------------------------------------------------------------------


def parse_url(text: str) -> HttpEndpoint:
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"invalid URL {text!r}: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise UsageError(f"invalid URL {text!r}: the scheme must be http or https")
    if not parts.hostname:
        raise UsageError(f"invalid URL {text!r}: no host")
    if any(c.isspace() for c in text):
        raise UsageError(f"invalid URL {text!r}: contains spaces")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    default = 443 if parts.scheme == "https" else 80
    return HttpEndpoint(text, parts.scheme, parts.hostname, port or default, target)


def parse_stun_endpoint(text: str) -> StunEndpoint:
    """HOST, HOST:PORT, [IPv6]:PORT, a bare IPv6 address, or a stun: URI (RFC 7064)."""
    raw = text[5:] if text.startswith("stun:") else text
    host, port_text = raw, None
    if raw.startswith("["):
        host, sep, rest = raw[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise UsageError(f"invalid STUN server {text!r}: use HOST[:PORT] or [IPv6]:PORT")
        port_text = rest[1:] if rest else None
    elif raw.count(":") == 1:
        host, port_text = raw.split(":")
    elif raw.count(":") > 1:
        try:
            ipaddress.IPv6Address(raw)
        except ValueError:
            raise UsageError(
                f"invalid STUN server {text!r}: use HOST[:PORT] or [IPv6]:PORT"
            ) from None
    if not host or any(c.isspace() or c in "/?#@" for c in host):
        raise UsageError(f"invalid STUN server {text!r}: use HOST[:PORT] or [IPv6]:PORT")
    port = STUN_PORT
    if port_text is not None:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise UsageError(f"invalid STUN server {text!r}: port must be 1-65535")
        port = int(port_text)
    return StunEndpoint(host, port)


def config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get(ENV_CONFIG):
        return Path(env[ENV_CONFIG])
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".config")
    return Path(base) / "netladder" / "myip.toml"


def _split(value: str) -> list[str]:
    return [v for v in value.replace(",", " ").split() if v]


def _from_config(path: Path) -> tuple[list[str], list[str]] | None:
    import tomllib

    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None
    lists: list[list[str]] = []
    for key in ("http", "stun"):
        value = data.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise UsageError(f"{path}: '{key}' must be a list of strings")
        lists.append(value)
    unknown = set(data) - {"http", "stun"}
    if unknown:
        raise UsageError(f"{path}: unknown key(s) {', '.join(sorted(unknown))} (known: http, stun)")
    return lists[0], lists[1]


def endpoints(
    http: Sequence[str] = (),
    stun_servers: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> Endpoints:
    """The endpoints to ask: the command line's, else the environment's, else the config
    file's, else the built-in defaults (see the module docstring)."""
    env = os.environ if env is None else env
    source = "command line"
    http_list, stun_list = list(http), list(stun_servers)
    if not http_list and not stun_list:
        source = "environment"
        http_list, stun_list = _split(env.get(ENV_HTTP, "")), _split(env.get(ENV_STUN, ""))
    if not http_list and not stun_list:
        path = config_path(env)
        from_file = _from_config(path)
        source = str(path)
        if from_file is not None:
            http_list, stun_list = from_file
    if not http_list and not stun_list:
        source = "built-in defaults"
        http_list, stun_list = list(DEFAULT_HTTP), list(DEFAULT_STUN)
    try:
        return Endpoints(
            tuple(parse_url(u) for u in http_list),
            tuple(parse_stun_endpoint(s) for s in stun_list),
            source,
        )
    except UsageError as exc:
        if source == "command line":
            raise
        raise UsageError(f"{exc} (from {source})") from None


# -- answers -----------------------------------------------------------------------------------


def _address(text: str) -> str:
    return str(ipaddress.ip_address(text.strip()))


def parse_echo_body(body: bytes) -> str:
    """The address in an echo body: plain text (often with a newline) or JSON {"ip": ...}.
    Raises ValueError saying what the body is instead."""
    text = body.decode("utf-8", "replace").strip()
    if not text:
        raise ValueError("the body is empty")
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            raise ValueError(f"the body is not valid JSON: {_excerpt(text)}") from None
        for key in JSON_KEYS:
            value = data.get(key) if isinstance(data, dict) else None
            if isinstance(value, str):
                # httpbin's "origin" may list proxies: "client, proxy"; the first is the client.
                try:
                    return _address(value.split(",")[0])
                except ValueError:
                    raise ValueError(f"JSON {key!r} is not an address: {_excerpt(value)}") from None
        raise ValueError(f"JSON without an address field ({'/'.join(JSON_KEYS)}): {_excerpt(text)}")
    try:
        return _address(text)
    except ValueError:
        raise ValueError(f"the body is not an address: {_excerpt(text)}") from None


def _excerpt(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[:limit] + "…")


def _unmap(host: str) -> str:
    ip = ipaddress.ip_address(host.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


# -- the queries -------------------------------------------------------------------------------


class _Failed(Exception):
    """A source failed; the text says how."""


async def _getaddrinfo(
    host: str, port: int | None, family: int = 0, type: int = 0, flags: int = 0
) -> list[tuple[Any, ...]]:
    """socket.getaddrinfo in a daemon thread: unlike the loop's executor, a lookup that hangs
    can neither hold the process at exit nor outlive a cancelled caller.  (Moved here from
    names/resolve.py, whose DNS queries no longer use asyncio; area E replaces it with the
    driver's Lookup when myip becomes sessions.)"""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def work() -> None:
        try:
            result: Any = socket.getaddrinfo(host, port, family, type, 0, flags)
        except Exception as exc:
            result = exc

        def deliver() -> None:
            if not future.done():
                future.set_result(result)

        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            loop.call_soon_threadsafe(deliver)

    threading.Thread(target=work, daemon=True, name="getaddrinfo").start()
    result = await future
    if isinstance(result, BaseException):
        raise result
    return list(result)


async def _addresses(host: str, port: int, family: int, kind: int) -> list[tuple[Any, ...]]:
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    wanted = {int(socket.AF_INET): 4, int(socket.AF_INET6): 6}.get(int(family))
    if literal is not None and wanted is not None and literal.version != wanted:
        raise _Failed(f"{host} is not an IPv{wanted} address (-{wanted} was asked)")
    if literal is not None:  # nothing to look up
        return [(str(literal), port) if literal.version == 4 else (str(literal), port, 0, 0)]
    try:
        infos = await _getaddrinfo(host, port, family, kind)
    except socket.gaierror as exc:
        raise _Failed(f"cannot resolve {host}: {exc.strerror}") from None
    except (OSError, UnicodeError) as exc:
        raise _Failed(f"cannot resolve {host}: {exc}") from None
    if not infos:
        raise _Failed(f"{host} has no address of the wanted family")
    return [info[4] for info in infos]


def _oserror(exc: OSError) -> str:
    # asyncio's connect errors carry "Connect call failed (...)" as strerror; say the reason.
    return os.strerror(exc.errno) if exc.errno else (exc.strerror or type(exc).__name__)


async def _http(endpoint: HttpEndpoint, family: int) -> SourceResult:
    import h11

    start = time.monotonic()
    server: str | None = None
    local: tuple[Any, ...] | None = None
    writer: asyncio.StreamWriter | None = None
    stage = f"resolving {endpoint.host}"
    try:
        targets = await _addresses(endpoint.host, endpoint.port, family, socket.SOCK_STREAM)
        error = ""
        for sockaddr in targets:
            stage = f"connecting to {sockaddr[0]} port {sockaddr[1]}"
            try:
                ssl_context: Any = None
                if endpoint.scheme == "https":
                    import ssl

                    ssl_context = ssl.create_default_context()
                reader, writer = await asyncio.open_connection(
                    sockaddr[0],
                    sockaddr[1],
                    ssl=ssl_context,
                    server_hostname=endpoint.host if ssl_context else None,
                )
                server = str(sockaddr[0])
                break
            except OSError as exc:
                error = f"cannot connect to {sockaddr[0]} port {sockaddr[1]}: {_oserror(exc)}"
        if writer is None:
            raise _Failed(error)
        local = writer.get_extra_info("sockname")
        conn = h11.Connection(our_role=h11.CLIENT)
        host_header = endpoint.host if ":" not in endpoint.host else f"[{endpoint.host}]"
        if endpoint.port not in (80, 443):
            host_header += f":{endpoint.port}"
        writer.write(
            conn.send(
                h11.Request(
                    method="GET",
                    target=endpoint.target,
                    headers=[
                        ("Host", host_header),
                        ("User-Agent", f"netladder/{__version__}"),
                        ("Accept", "text/plain, application/json"),
                        ("Connection", "close"),
                    ],
                )
            )
            or b""
        )
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        await writer.drain()
        stage = f"waiting for the answer of {server}"
        status = 0
        body = b""
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                chunk = await reader.read(65536)
                conn.receive_data(chunk)
                continue
            if isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                body += bytes(event.data)
                if len(body) > MAX_BODY:
                    raise _Failed(f"the body is larger than {MAX_BODY // 1024} KiB: not an echo")
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                break
        elapsed = (time.monotonic() - start) * 1000
        if status != 200:
            raise _Failed(f"HTTP {status}: no address")
        try:
            address = parse_echo_body(body)
        except ValueError as exc:
            raise _Failed(f"unusable answer: {exc}") from None
        return SourceResult(
            "http",
            endpoint.url,
            True,
            address,
            None,
            _unmap(local[0]),
            int(local[1]),
            server,
            round(elapsed, 3),
            detail=f"HTTP {status}",
        )
    except h11.RemoteProtocolError as exc:
        return _failure(
            "http", endpoint.url, f"not a valid HTTP answer: {exc}", start, server, local
        )
    except _Failed as exc:
        return _failure("http", endpoint.url, str(exc), start, server, local)
    except OSError as exc:
        return _failure("http", endpoint.url, _oserror(exc), start, server, local)
    except asyncio.CancelledError:
        raise _Timeout(f"still {stage}", server, local, start) from None
    finally:
        if writer is not None:
            writer.close()


def _failure(
    kind: str,
    endpoint: str,
    error: str,
    start: float,
    server: str | None,
    local: tuple[Any, ...] | None,
) -> SourceResult:
    return SourceResult(
        kind,
        endpoint,
        False,
        None,
        None,
        _unmap(local[0]) if local else None,
        int(local[1]) if local else None,
        server,
        round((time.monotonic() - start) * 1000, 3),
        error,
    )


async def _stun(endpoint: StunEndpoint, family: int) -> SourceResult:
    loop = asyncio.get_running_loop()
    start = time.monotonic()
    server: str | None = None
    local: tuple[Any, ...] | None = None
    ignored = 0
    sent = 0
    try:
        targets = await _addresses(endpoint.host, endpoint.port, family, socket.SOCK_DGRAM)
        sockaddr = targets[0]
        server = str(sockaddr[0])
        fam = socket.AF_INET6 if ":" in server else socket.AF_INET
        with socket.socket(fam, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            try:
                sock.connect(sockaddr)
            except OSError as exc:
                raise _Failed(f"cannot send to {server}: {_oserror(exc)}") from None
            local = sock.getsockname()
            txid = os.urandom(12)
            request = stun.build_binding_request(txid, fingerprint=True)
            rto = STUN_RTO
            while True:
                try:
                    sock.send(request)
                except OSError as exc:
                    raise _Failed(f"cannot send to {server}: {_oserror(exc)}") from None
                sent += 1
                try_end = time.monotonic() + rto
                rto *= 2
                while (remaining := try_end - time.monotonic()) > 0:
                    try:
                        data = await asyncio.wait_for(loop.sock_recv(sock, 2048), remaining)
                    except TimeoutError:
                        break
                    except ConnectionRefusedError:
                        raise _Failed(
                            f"nothing listens on {server} port {endpoint.port} (ICMP "
                            "port unreachable)"
                        ) from None
                    except OSError as exc:
                        raise _Failed(f"{server}: {_oserror(exc)}") from None
                    result = _stun_answer(data, txid)
                    if result is None:
                        ignored += 1  # not an answer to our request: keep waiting (§6.3)
                        continue
                    elapsed = round((time.monotonic() - start) * 1000, 3)
                    if isinstance(result, str):
                        raise _Failed(result)
                    return SourceResult(
                        "stun",
                        str(endpoint),
                        True,
                        result.address,
                        result.port,
                        _unmap(local[0]),
                        int(local[1]),
                        server,
                        elapsed,
                        detail=f"{sent} request(s)",
                    )
    except _Failed as exc:
        return _failure("stun", str(endpoint), str(exc), start, server, local)
    except asyncio.CancelledError:
        # The deadline: say what was seen, not just "cancelled".
        extra = f"; {ignored} unrelated or unparsable datagram(s) ignored" if ignored else ""
        raise _Timeout(
            f"no answer to {sent} Binding request(s){extra}", server, local, start
        ) from None


class _Timeout(Exception):
    def __init__(
        self, text: str, server: str | None, local: tuple[Any, ...] | None, start: float
    ) -> None:
        super().__init__(text)
        self.server, self.local, self.start = server, local, start


def _stun_answer(data: bytes, txid: bytes) -> stun.MappedAddress | str | None:
    """The mapped address; a string when the answer to our request is unusable; None when the
    datagram is not an answer to our request at all."""
    try:
        message = stun.parse_message(data)
    except stun.StunError as exc:
        # Garbage that still carries our transaction id is the server's broken answer.
        if len(data) >= 20 and data[8:20] == txid:
            return f"malformed STUN answer: {exc}"
        return None
    if message.transaction_id != txid:
        return None
    if message.fingerprint_ok is False:
        return "malformed STUN answer: FINGERPRINT does not match"
    try:
        if message.klass == "error":
            error = message.error
            return f"STUN error {error[0]} {error[1]}".rstrip() if error else "STUN error"
        if message.type == stun.BINDING_REQUEST:
            return (
                "the server sent our own Binding request back: an echo service, not a STUN server"
            )
        if message.type != stun.BINDING_SUCCESS:
            return f"unexpected STUN message type 0x{message.type:04x}"
        mapped = message.reflexive
    except stun.StunError as exc:
        return f"malformed STUN answer: {exc}"
    if mapped is None:
        return "the STUN answer carries no (XOR-)MAPPED-ADDRESS"
    return mapped


async def discover(
    http: Sequence[HttpEndpoint],
    stun_servers: Sequence[StunEndpoint],
    *,
    version: int | None = None,
    deadline: float = 3.0,
    endpoints_from: str = "",
    on_interrupt: Callable[[MyIp], None] | None = None,
) -> MyIp:
    """Ask every source at once; whatever has not answered when `deadline` (seconds) is up is
    reported as timed out, and never hides the sources that did answer.  When the caller is
    cancelled (Ctrl-C), `on_interrupt` gets what was gathered before the cancellation goes on."""
    family = {4: socket.AF_INET, 6: socket.AF_INET6}.get(version or 0, socket.AF_UNSPEC)
    start = time.monotonic()
    tasks: list[tuple[str, str, asyncio.Task[SourceResult]]] = []
    for h in http:
        tasks.append(("http", h.url, asyncio.ensure_future(_http(h, family))))
    for s in stun_servers:
        tasks.append(("stun", str(s), asyncio.ensure_future(_stun(s, family))))
    interrupted = False
    if tasks:
        try:
            await asyncio.wait([t for _, _, t in tasks], timeout=deadline)
        except asyncio.CancelledError:
            interrupted = True
    cut = (
        f"interrupted after {time.monotonic() - start:.1f} s"
        if interrupted
        else f"timeout after {deadline:g} s"
    )
    results: list[SourceResult] = []
    for kind, name, task in tasks:
        if task.done():
            try:
                results.append(task.result())
            except Exception as exc:  # a source must never take the others down with it
                results.append(
                    SourceResult(kind, name, False, error=f"{type(exc).__name__}: {exc}")
                )
            continue
        task.cancel()
        try:
            await task
        except _Timeout as exc:
            results.append(_failure(kind, name, f"{cut}: {exc}", exc.start, exc.server, exc.local))
            continue
        except asyncio.CancelledError:
            pass
        results.append(
            SourceResult(
                kind,
                name,
                False,
                time_ms=round((time.monotonic() - start) * 1000, 3),
                error=f"{cut}: no answer",
            )
        )
    outcome = _verdict(tuple(results), endpoints_from, (time.monotonic() - start) * 1000)
    if interrupted:
        if on_interrupt is not None:
            on_interrupt(outcome)
        raise asyncio.CancelledError
    return outcome


def _verdict(results: tuple[SourceResult, ...], endpoints_from: str, took_ms: float) -> MyIp:
    good = [r for r in results if r.ok and r.address]
    public = tuple(dict.fromkeys(r.address for r in good if r.address))
    local = tuple(dict.fromkeys(r.local_address for r in good if r.local_address))
    notes: list[str] = []
    by_family: dict[int, list[SourceResult]] = {}
    for r in good:
        assert r.address is not None
        by_family.setdefault(ipaddress.ip_address(r.address).version, []).append(r)
    agree = all(len({r.address for r in rs}) == 1 for rs in by_family.values())
    behind: bool | None = None
    parts: list[str] = []
    for version in sorted(by_family):
        rs = by_family[version]
        addresses = list(dict.fromkeys(r.address for r in rs))
        locals_ = list(dict.fromkeys(r.local_address for r in rs if r.local_address))
        if len(addresses) == 1:
            nat = addresses[0] not in locals_
            behind = nat if behind is None else behind or nat
            if nat:
                parts.append(f"behind NAT: local {', '.join(locals_)}, public {addresses[0]}")
            else:
                parts.append(f"not behind NAT: public address {addresses[0]} is this host's own")
        else:
            behind = True if any(r.address != r.local_address for r in rs) else behind
            said = "; ".join(f"{r.endpoint} says {r.address}" for r in rs)
            parts.append(f"IPv{version} sources disagree: {said}")
            inside = [r for r in rs if r.address == r.local_address]
            if inside:
                notes.append(
                    f"{', '.join(r.endpoint for r in inside)} saw this host's own "
                    "address: that endpoint is reached without the NAT (it is on the "
                    "inside, or on another path)"
                )
            if len(addresses) - len({r.address for r in inside}) > 1:
                notes.append(
                    "different public addresses: the HTTP request may go through a "
                    "proxy, or the NAT uses a pool of outside addresses (CGNAT), or "
                    "an echo service reports a proxy's address"
                )
    for r in good:
        assert r.address is not None
        if r.local_address is not None and (
            ipaddress.ip_address(r.address).version != ipaddress.ip_address(r.local_address).version
        ):
            notes.append(
                f"{r.endpoint} answered a request from IPv"
                f"{ipaddress.ip_address(r.local_address).version} address "
                f"{r.local_address} with IPv{ipaddress.ip_address(r.address).version} "
                f"address {r.address}: a translator (NAT64, SIIT) is on the way, or "
                "the server answers wrongly"
            )
        if r.kind == "stun" and r.mapped_port is not None and r.local_port is not None:
            if r.mapped_port == r.local_port:
                notes.append(f"{r.endpoint}: port preserved ({r.local_port})")
            else:
                notes.append(f"{r.endpoint}: port translated {r.local_port} -> {r.mapped_port}")
    failed = [r for r in results if not r.ok]
    if not good:
        verdict = "no source gave an address" if results else "no endpoints to ask"
    else:
        verdict = "; ".join(parts)
        if failed:
            verdict += f" ({len(failed)} of {len(results)} sources failed)"
    return MyIp(
        results,
        public,
        local,
        behind,
        agree,
        verdict,
        tuple(notes),
        endpoints_from,
        round(took_ms, 3),
    )
