"""The public address: HTTP echo endpoints and STUN Binding requests, queried concurrently under
one deadline, each beside the local source address of the same connection.

`discover` runs one `l7.session.HttpSession` per echo (a GET, the content bounded) and one
`names.stun.StunSession` per STUN server in a single `net.driver.run`, then judges what they
saw: typed findings (`Verdict`, `Note`) that `render/myip.py` words.

Endpoints come from the command line, else the environment (NETLADDER_MYIP_HTTP and
NETLADDER_MYIP_STUN, space or comma separated), else the config file
($XDG_CONFIG_HOME/netladder/myip.toml, default ~/.config/netladder/myip.toml, or the file named
by NETLADDER_MYIP_CONFIG), else built-in public services.  The first of these that names any
endpoint supplies all of them, so a configured lab is never mixed with the public defaults.
"""

from __future__ import annotations

import ipaddress
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from netladder.errors import N_, UsageError, Word
from netladder.model import record
from netladder.names.model import MyIp, Note, Part, SourceFailure, SourceResult, Verdict
from netladder.names.stun import STUN_PORT, StunSession, unmap

__all__ = [
    "DEFAULT_HTTP",
    "DEFAULT_STUN",
    "ENV_CONFIG",
    "ENV_HTTP",
    "ENV_STUN",
    "Endpoints",
    "HttpEndpoint",
    "MyIp",
    "Note",
    "Part",
    "SourceFailure",
    "SourceResult",
    "StunEndpoint",
    "Verdict",
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

MAX_BODY = 64 * 1024  # an echo's answer is an address: more is not an echo
JSON_KEYS = ("ip", "address", "origin", "query", "ip_addr")


@record
class HttpEndpoint:
    url: str
    scheme: str
    host: str
    port: int
    target: str

    def __str__(self) -> str:
        return self.url


@record
class StunEndpoint:
    host: str
    port: int = STUN_PORT

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@record
class Endpoints:
    http: tuple[HttpEndpoint, ...]
    stun: tuple[StunEndpoint, ...]
    source: str  # "command line", "environment", the config file path, or "built-in defaults"


# -- endpoints ---------------------------------------------------------------------------------


def parse_url(text: str) -> HttpEndpoint:
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise UsageError("invalid URL {text!r}: {error}", text=text, error=exc) from None
    if parts.scheme not in ("http", "https"):
        raise UsageError("invalid URL {text!r}: the scheme must be http or https", text=text)
    if not parts.hostname:
        raise UsageError("invalid URL {text!r}: no host", text=text)
    if any(c.isspace() for c in text):
        raise UsageError("invalid URL {text!r}: contains spaces", text=text)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    default = 443 if parts.scheme == "https" else 80
    return HttpEndpoint(text, parts.scheme, parts.hostname, port or default, target)


_STUN_FORM = N_("invalid STUN server {text!r}: use HOST[:PORT] or [IPv6]:PORT")


def parse_stun_endpoint(text: str) -> StunEndpoint:
    """HOST, HOST:PORT, [IPv6]:PORT, a bare IPv6 address, or a stun: URI (RFC 7064)."""
    raw = text[5:] if text.startswith("stun:") else text
    host, port_text = raw, None
    if raw.startswith("["):
        host, sep, rest = raw[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise UsageError(_STUN_FORM, text=text)
        port_text = rest[1:] if rest else None
    elif raw.count(":") == 1:
        host, port_text = raw.split(":")
    elif raw.count(":") > 1:
        try:
            ipaddress.IPv6Address(raw)
        except ValueError:
            raise UsageError(_STUN_FORM, text=text) from None
    if not host or any(c.isspace() or c in "/?#@" for c in host):
        raise UsageError(_STUN_FORM, text=text)
    port = STUN_PORT
    if port_text is not None:
        # 0-9 only: str.isdigit() also takes '٥٣' (int() reads 53) and '²' (int() refuses it)
        ascii_digits = port_text.isascii() and port_text.isdigit()
        if not ascii_digits or not 0 < int(port_text) < 65536:
            raise UsageError("invalid STUN server {text!r}: port must be 1-65535", text=text)
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
        raise UsageError("cannot read {path}", path=path).because(
            exc.strerror or str(exc)
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError("{path}: not valid TOML: {error}", path=path, error=exc) from None
    lists: list[list[str]] = []
    for key in ("http", "stun"):
        value = data.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise UsageError("{path}: '{key}' must be a list of strings", path=path, key=key)
        lists.append(value)
    unknown = set(data) - {"http", "stun"}
    if unknown:
        raise UsageError(
            "{path}: unknown key(s) {keys} (known: http, stun)",
            path=path,
            keys=", ".join(sorted(unknown)),
        )
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
        source = Word(N_("environment"))  # a Word: said in the user's language in errors
        http_list, stun_list = _split(env.get(ENV_HTTP, "")), _split(env.get(ENV_STUN, ""))
    if not http_list and not stun_list:
        path = config_path(env)
        from_file = _from_config(path)
        source = str(path)
        if from_file is not None:
            http_list, stun_list = from_file
    if not http_list and not stun_list:
        source = Word(N_("built-in defaults"))
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
        raise UsageError("{problem} (from {source})", problem=exc, source=source) from None


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
        import json  # only for a JSON echo: one-shot human output does not pay for it

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


# -- the queries -------------------------------------------------------------------------------


def _echo_session(endpoint: HttpEndpoint, version: int | None, deadline: float) -> Any:
    from netladder.l7.model import HttpOptions, Url
    from netladder.l7.session import HttpSession

    url = Url(endpoint.scheme, endpoint.host, endpoint.port, endpoint.target, endpoint.url)
    options = HttpOptions(
        endpoint.url,
        method="GET",
        headers=(("Accept", "text/plain, application/json"), ("Connection", "close")),
        timeout=deadline,
        max_body=MAX_BODY,
        keep_body=MAX_BODY,
    )
    return HttpSession(options, url, version=version)


def _from_echo(
    endpoint: HttpEndpoint, session: Any, deadline: float, elapsed: float
) -> SourceResult:
    """An echo's check, read as a source: its address, or why there is none."""
    check = session.result()
    phase, host, address, connected, port, local = session.progress()
    server = address if connected else None
    local_address, local_port = (unmap(local[0]), local[1]) if local else (None, None)

    def failed(failure: SourceFailure, took: float | None) -> SourceResult:
        return SourceResult(
            "http",
            endpoint.url,
            False,
            None,
            None,
            local_address,
            local_port,
            server,
            took,
            failure,
        )

    if check.interrupted:
        stage = _stage(phase, host, address, port)
        return failed(SourceFailure("still", stage, None, "interrupted", elapsed), elapsed)
    hop = check.final
    if check.error is not None:
        return failed(_echo_failure(check.error, host, address, port, deadline), check.total)
    if hop.body_truncated:
        return failed(SourceFailure("too-large", (("limit", MAX_BODY // 1024),)), check.total)
    if hop.status != 200:
        return failed(SourceFailure("status", (("status", hop.status),)), check.total)
    try:
        address = parse_echo_body(hop.body or b"")
    except ValueError as exc:
        return failed(SourceFailure("unusable", (("detail", str(exc)),)), check.total)
    return SourceResult(
        "http",
        endpoint.url,
        True,
        address,
        None,
        local_address,
        local_port,
        server,
        check.total,
        None,
        hop.status,
    )


# Where an unfinished echo was: the words of the old stages ("still connecting to …").
_STAGES = {"dns": "resolving", "connect": "connecting", "tls": "connecting"}


def _stage(phase: str, host: str, address: str | None, port: int) -> tuple[tuple[str, Any], ...]:
    return (
        ("stage", _STAGES.get(phase, "waiting")),
        ("host", host),
        ("server", address),
        ("port", port),
    )


def _echo_failure(
    failure: Any, host: str, address: str | None, port: int, deadline: float
) -> SourceFailure:
    import errno as errnos

    cause, phase = failure.cause, failure.phase
    if cause == "timeout":
        stage = _stage(failure.param("during"), host, address, port)
        return SourceFailure("still", stage, None, "timeout", deadline)
    if cause == "resolve":
        return SourceFailure("resolve", (("host", host), ("reason", failure.param("reason"))))
    if cause == "family":
        return SourceFailure("family", (("host", host), ("version", failure.param("version"))))
    if cause == "connect":
        reason = os.strerror(failure.errno or errnos.EIO)
        return SourceFailure(
            "connect", (("address", failure.param("address")), ("port", port), ("reason", reason))
        )
    if phase == "tls":
        return SourceFailure("tls", (("address", address), ("port", port)), failure)
    if cause in ("reset", "os"):
        return SourceFailure("os", (("reason", os.strerror(failure.errno or errnos.EIO)),))
    return SourceFailure("http", (), failure)


def _from_stun(endpoint: StunEndpoint, session: StunSession, elapsed: float) -> SourceResult:
    r = session.result()
    failure = r.error
    took = r.time
    if failure is not None and failure.cut == "interrupted":
        failure = SourceFailure(failure.kind, failure.params, None, "interrupted", elapsed)
        took = elapsed
    return SourceResult(
        "stun",
        str(endpoint),
        r.ok,
        r.address,
        r.port,
        r.local_address,
        r.local_port,
        r.server,
        took,
        failure,
        None,
        r.requests,
    )


async def discover(
    http: Sequence[HttpEndpoint],
    stun_servers: Sequence[StunEndpoint],
    *,
    version: int | None = None,
    deadline: float = 3.0,
    endpoints_from: str = "",
) -> MyIp:
    """Ask every source at once; whatever has not answered when `deadline` (seconds) is up is
    reported as timed out, and never hides the sources that did answer.  Ctrl-C (under the
    CLI's driver) ends them all: the result says what was gathered (`interrupted`)."""
    from netladder.net.driver import run

    echoes = [_echo_session(h, version, deadline) for h in http]
    servers = [StunSession(s.host, s.port, timeout=deadline, version=version) for s in stun_servers]
    started = time.monotonic()
    interrupted = await run([*echoes, *servers]) if echoes or servers else False
    elapsed = time.monotonic() - started
    results = [_from_echo(h, e, deadline, elapsed) for h, e in zip(http, echoes, strict=True)]
    results += [_from_stun(s, t, elapsed) for s, t in zip(stun_servers, servers, strict=True)]
    outcome = _verdict(tuple(results), endpoints_from, elapsed)
    return MyIp(
        outcome.sources,
        outcome.public,
        outcome.local,
        outcome.behind_nat,
        outcome.agree,
        outcome.verdict,
        outcome.notes,
        outcome.endpoints_from,
        outcome.total,
        interrupted,
    )


def _verdict(results: tuple[SourceResult, ...], endpoints_from: str, took: float) -> MyIp:
    good = [r for r in results if r.ok and r.address]
    public = tuple(dict.fromkeys(r.address for r in good if r.address))
    local = tuple(dict.fromkeys(r.local_address for r in good if r.local_address))
    notes: list[Note] = []
    by_family: dict[int, list[SourceResult]] = {}
    for r in good:
        assert r.address is not None
        by_family.setdefault(ipaddress.ip_address(r.address).version, []).append(r)
    agree = all(len({r.address for r in rs}) == 1 for rs in by_family.values())
    behind: bool | None = None
    parts: list[Part] = []
    for version in sorted(by_family):
        rs = by_family[version]
        addresses = list(dict.fromkeys(r.address for r in rs if r.address))
        locals_ = tuple(dict.fromkeys(r.local_address for r in rs if r.local_address))
        if len(addresses) == 1:
            nat = addresses[0] not in locals_
            behind = nat if behind is None else behind or nat
            parts.append(Part("nat" if nat else "no-nat", version, addresses[0], locals_))
        else:
            behind = True if any(r.address != r.local_address for r in rs) else behind
            said = tuple((r.endpoint, r.address) for r in rs if r.address)
            parts.append(Part("disagree", version, None, locals_, said))
            inside = [r for r in rs if r.address == r.local_address]
            if inside:
                notes.append(Note("inside", (("endpoints", tuple(r.endpoint for r in inside)),)))
            if len(addresses) - len({r.address for r in inside}) > 1:
                notes.append(Note("pool"))
    for r in good:
        assert r.address is not None
        if r.local_address is not None and (
            ipaddress.ip_address(r.address).version != ipaddress.ip_address(r.local_address).version
        ):
            notes.append(
                Note(
                    "translator",
                    (
                        ("endpoint", r.endpoint),
                        ("local_version", ipaddress.ip_address(r.local_address).version),
                        ("local", r.local_address),
                        ("version", ipaddress.ip_address(r.address).version),
                        ("address", r.address),
                    ),
                )
            )
        if r.kind == "stun" and r.mapped_port is not None and r.local_port is not None:
            if r.mapped_port == r.local_port:
                notes.append(
                    Note("port-preserved", (("endpoint", r.endpoint), ("port", r.local_port)))
                )
            else:
                notes.append(
                    Note(
                        "port-translated",
                        (
                            ("endpoint", r.endpoint),
                            ("local", r.local_port),
                            ("mapped", r.mapped_port),
                        ),
                    )
                )
    failed = sum(1 for r in results if not r.ok)
    return MyIp(
        results,
        public,
        local,
        behind,
        agree,
        Verdict(tuple(parts) if good else (), failed, len(results)),
        tuple(notes),
        endpoints_from,
        took,
    )
