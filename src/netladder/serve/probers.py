"""The one adapter between `netladder serve` and the probe engines.

Every prober of serve lives here, and nothing else in serve imports an engine: when the
engines move behind `netladder.api` (issue 14), this module is the one place that changes.
Each prober reproduces blackbox_exporter's prober of the same name (prober/http.go, tcp.go,
icmp.go, dns.go and utils.go of version 0.23): the same metric names, help, labels and
pre-created phase series, the same order of checks and the same log messages, so a probe's
debug output reads like blackbox's.  netladder's own probers (udp, stun, trace, diagnose) and
extras (several echoes per ICMP probe) add metrics under names blackbox does not use.

A probe that fails records why in `probe_failure_info{layer,reason}`, from the fixed table
FAILURES below: never free text in a label.

Every prober is a `netladder.api` function (tcp and udp through the private `api._tcp` and
`api._udp`, which serve alone uses): its sessions run on the one driver (net/driver.py), on the
server's own loop beside every other probe, with no socket of serve's own and no worker
thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from netladder.errors import NetladderError
from netladder.net.driver import lookup as resolve_target
from netladder.net.targets import ResolveError, literal
from netladder.serve.config import Allow, Module
from netladder.serve.metrics import Registry

__all__ = [
    "FAILURES",
    "Ping",
    "Probe",
    "Refused",
    "fnv32a",
    "monitor_ping",
    "run_probe",
]

# probe_failure_info{layer,reason}: every (layer, reason) a probe can report.
FAILURES: frozenset[tuple[str, str]] = frozenset(
    {
        ("probe", "timeout"),  # the probe's deadline passed
        ("probe", "bad_target"),  # the target cannot be read for this prober
        ("probe", "environment"),  # a socket or privilege the prober needs is missing
        ("names", "resolve_failed"),
        ("names", "no_address_of_family"),
        ("l3", "no_reply"),
        ("l3", "unreachable"),
        ("l3", "prohibited"),
        ("l3", "ttl_exceeded"),
        ("l4", "refused"),
        ("l4", "unreachable"),
        ("l4", "timeout"),
        ("l4", "connect_failed"),
        ("l4", "tls_failed"),
        ("l4", "expect_mismatch"),
        ("l4", "closed"),
        ("l4", "no_reply"),
        ("l7", "connect_failed"),
        ("l7", "tls_failed"),
        ("l7", "timeout"),
        ("l7", "protocol_error"),
        ("l7", "redirect_failed"),
        ("l7", "redirect_refused"),
        ("l7", "status_code"),
        ("l7", "http_version"),
        ("l7", "header_regex"),
        ("l7", "body_regex"),
        ("l7", "ssl_required"),
        ("l7", "ssl_forbidden"),
        ("dns", "timeout"),
        ("dns", "unreachable"),
        ("dns", "malformed"),
        ("dns", "rcode"),
        ("dns", "answer_rrs"),
        ("dns", "authority_rrs"),
        ("dns", "additional_rrs"),
        ("stun", "no_answer"),
        ("stun", "bad_answer"),
        ("path", "not_reached"),
        *((layer, "layer_failed") for layer in ("names", "route", "l2", "l3", "path", "l4", "l7")),
    }
)


class Refused(Exception):
    """The target is outside the allowlist: /probe answers 403 and sends nothing to it."""


def fnv32a(data: bytes) -> int:
    """FNV-1a, 32 bits (hash/fnv New32a), as blackbox hashes the probed address."""
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


@functools.lru_cache(maxsize=1024)  # the same few targets, probe after probe
def _ip_bytes(address: str) -> bytes:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # net.IP.To4() of a mapped address is the IPv4 address
    return ip.packed


def _logfmt_value(value: object) -> str:
    text = str(value)
    if text and not any(c in text for c in ' ="\\') and text.isprintable():
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


@dataclass
class Probe:
    """One probe: what to probe, how, and what it found (metrics, log, failure)."""

    module: Module
    target: str
    timeout: float
    hostname: str | None = None  # /probe's hostname parameter
    allow: Allow | None = None
    registry: Registry = field(default_factory=Registry)
    events: list[tuple[float, str, str, dict[str, object]]] = field(default_factory=list)
    failure: tuple[str, str] | None = None
    deadline: float = 0.0  # time.monotonic() value, set when the probe starts
    address: str | None = None  # the address probed, once resolved
    hops: tuple[Any, ...] = ()  # a trace's hops (api.trace's Hop), for the dashboard

    def say(self, level: str, msg: str, **kv: object) -> None:
        """Log a line (logfmt, as go-kit writes blackbox's): kept as data, formatted only
        when the debug output is asked for."""
        self.events.append((time.time(), level, msg, kv))

    @property
    def log(self) -> list[str]:
        lines = []
        for when, level, msg, kv in self.events:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when))
            pairs = [
                f"ts={stamp}.{int(when * 1000) % 1000:03d}Z",
                "caller=netladder",
                f"module={_logfmt_value(self.module.name)}",
                f"target={_logfmt_value(self.target)}",
                f"level={level}",
                f"msg={_logfmt_value(msg)}",
            ]
            pairs += [f"{k}={_logfmt_value(v)}" for k, v in kv.items()]
            lines.append(" ".join(pairs))
        return lines

    def fail(self, layer: str, reason: str, msg: str, **kv: object) -> bool:
        """Log an error and keep the first failure's (layer, reason); returns False."""
        assert (layer, reason) in FAILURES, (layer, reason)
        self.say("error", msg, **kv)
        if self.failure is None:
            self.failure = (layer, reason)
        return False

    @property
    def remaining(self) -> float:
        return max(self.deadline - time.monotonic(), 0.001)


async def run_probe(probe: Probe) -> bool:
    """Run the module's prober on the target; Refused before any packet reaches a target
    outside the allowlist."""
    probe.deadline = time.monotonic() + probe.timeout
    prober = _PROBERS[probe.module.prober]
    try:
        async with asyncio.timeout(probe.timeout):
            success: bool = await prober(probe)
            return success
    except TimeoutError:
        return probe.fail("probe", "timeout", "Timeout reached", timeout_seconds=probe.timeout)


# -- resolution: blackbox's chooseProtocol (prober/utils.go) -----------------------------------


async def _resolve(probe: Probe, host: str, preferred: str, fallback: bool) -> str | None:
    """The address to probe, with the metrics chooseProtocol registers; None after a failure.
    Raises Refused when the allowlist forbids the target (before any probe packet)."""
    reg = probe.registry
    proto = reg.gauge("probe_ip_protocol", "Specifies whether probe ip protocol is IP4 or IP6")
    lookup = reg.gauge(
        "probe_dns_lookup_time_seconds", "Returns the time taken for probe dns lookup in seconds"
    )
    addr_hash = reg.gauge(
        "probe_ip_addr_hash",
        "Specifies the hash of IP address. It's useful to detect if the IP address changes.",
    )
    want = 6 if preferred == "ip6" else 4
    probe.say("info", "Resolving target address", target=host, ip_protocol=preferred)
    started = time.monotonic()
    allow = probe.allow
    if allow is not None and literal(host) is not None and not allow.address_allowed(host):
        raise Refused(host)
    try:
        target = await resolve_target(host, prefer=want, fallback=fallback, wait=probe.remaining)
    except ResolveError as exc:
        lookup.add(time.monotonic() - started)
        reason = "no_address_of_family" if "no IPv" in exc.reason else "resolve_failed"
        probe.fail("names", reason, "Resolution with IP protocol failed", target=host, err=exc)
        return None
    except NetladderError as exc:  # not a host name at all
        lookup.add(time.monotonic() - started)
        probe.fail("names", "resolve_failed", "Resolution with IP protocol failed", err=exc)
        return None
    took = time.monotonic() - started
    if not fallback and target.version != want:
        lookup.add(took)
        probe.fail(
            "names",
            "no_address_of_family",
            "Resolution with IP protocol failed",
            target=host,
            ip_protocol=preferred,
            err="no suitable address found",
        )
        return None
    if (
        allow is not None
        and not allow.name_allowed(host)
        and not allow.address_allowed(target.address)
    ):
        raise Refused(host)
    lookup.add(took)
    proto.set(target.version)
    addr_hash.set(fnv32a(_ip_bytes(target.address)))
    shown = f"{target.address}%{target.scope}" if target.scope else target.address
    probe.say("info", "Resolved target address", target=host, ip=shown)
    probe.address = shown
    return shown


def _split_host_port(text: str) -> tuple[str, str] | None:
    """Go's net.SplitHostPort: `host:port` or `[v6]:port`; None without a port."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or not text[end + 1 :].startswith(":"):
            return None
        return text[1:end], text[end + 2 :]
    host, sep, port = text.rpartition(":")
    if not sep or ":" in host:
        return None
    return host, port


def _port(text: str) -> int | None:
    if text.isascii() and text.isdigit() and 0 < int(text) < 65536:
        return int(text)
    if text.isalpha():
        try:
            return socket.getservbyname(text)
        except OSError:
            return None
    return None


_TLS_VERSIONS = {
    "TLSv1": "TLS 1.0",
    "TLSv1.1": "TLS 1.1",
    "TLSv1.2": "TLS 1.2",
    "TLSv1.3": "TLS 1.3",
}


def _tls_metrics(reg: Registry, version: str, not_after: float | None) -> None:
    """What blackbox registers once a TLS handshake is done (prober/tls.go).  Python's ssl
    gives the leaf certificate only, so the earliest expiry is the leaf's notAfter."""
    expiry = reg.gauge(
        "probe_ssl_earliest_cert_expiry", "Returns last SSL chain expiry in unixtime"
    )
    if not_after is not None:
        expiry.set(not_after)
    reg.family(
        "probe_tls_version_info",
        "Returns the TLS version used or NaN when unknown",
        labels=("version",),
    ).set(1, _TLS_VERSIONS.get(version, version))


# -- http (prober/http.go) ------------------------------------------------------------------------


async def probe_http(probe: Probe) -> bool:
    from netladder import api
    from netladder.api._http import MAX_BODY, HttpOptions, parse_url
    from netladder.model import ms
    from netladder.render.http import sentence

    m = probe.module.http
    reg = probe.registry
    phases = reg.family(
        "probe_http_duration_seconds",
        "Duration of http request by phase, summed over all redirects",
        labels=("phase",),
    )
    content_length = reg.gauge("probe_http_content_length", "Length of http content response")
    body_length = reg.gauge(
        "probe_http_uncompressed_body_length", "Length of uncompressed response body"
    )
    redirects = reg.gauge("probe_http_redirects", "The number of redirects")
    is_ssl = reg.gauge("probe_http_ssl", "Indicates if SSL was used for the final redirect")
    status_code = reg.gauge("probe_http_status_code", "Response HTTP status code")
    version = reg.gauge("probe_http_version", "Returns the version of HTTP of the probe response")
    failed_regex = reg.gauge("probe_failed_due_to_regex", "Indicates if probe failed due to regex")

    target = probe.target
    if not target.startswith(("http://", "https://")):
        target = "http://" + target
    try:
        url = parse_url(target)
    except ValueError as exc:
        return probe.fail("probe", "bad_target", "Could not parse target URL", err=exc)
    address = await _resolve(probe, url.host, m.preferred_ip_protocol, m.ip_protocol_fallback)
    phases.add(probe.registry.value("probe_dns_lookup_time_seconds") or 0.0, "resolve")
    if address is None:
        return probe.fail("names", "resolve_failed", "Error resolving address")

    headers: list[tuple[str, str]] = []
    host_header = probe.hostname
    for name, value in m.headers:
        if name.lower() == "host":
            if host_header is None:
                host_header = value
            continue
        headers.append((name, value))
    if host_header is not None:
        headers.insert(0, ("Host", host_header))
    if m.authorization and not any(k.lower() == "authorization" for k, _ in headers):
        headers.append(("Authorization", m.authorization))
    regexes = bool(m.fail_if_body_matches_regexp or m.fail_if_body_not_matches_regexp)
    max_body = m.body_size_limit or MAX_BODY
    options = HttpOptions(
        url=url.text,
        method=m.method,
        headers=tuple(headers),
        follow=m.follow_redirects,
        max_redirs=10,  # Go's http.Client stops after 10 redirects
        http2=m.enable_http2 and url.scheme == "https",
        insecure=m.tls_config.insecure_skip_verify,
        cacert=m.tls_config.ca_file,
        resolve=(((url.host, url.port), address),),
        timeout=probe.remaining,
        expect=((100, 599),),
        max_body=max_body,
        keep_body=max_body if regexes else 0,
        lint=False,  # blackbox has no hints: not worked out for every probe
    )
    for phase in ("connect", "tls", "processing", "transfer"):
        phases.touch(phase)
    probe.say("info", "Making HTTP request", url=url.text, host=host_header or url.authority)

    def guard(hop: Any) -> None:
        # The allowlist holds for redirects too (an open exporter must not be led elsewhere):
        # a redirect to a host that is neither allowed by name nor an allowed address literal
        # is not followed.  Names are not resolved here, so no rebinding can slip through.
        if probe.allow is None or not m.follow_redirects or hop.location is None:
            return
        nxt = parse_url(hop.location)
        if nxt.host == url.host:
            return
        if probe.allow.name_allowed(nxt.host) or (
            literal(nxt.host) is not None and probe.allow.address_allowed(nxt.host)
        ):
            return
        raise _RedirectRefused(nxt.text)

    try:
        check = await api.http(options, on_hop=guard)
    except _RedirectRefused as exc:
        return probe.fail(
            "l7", "redirect_refused", "Redirect target is outside the allowlist", location=exc
        )
    hops = check.hops
    for i, hop in enumerate(hops):
        t = hop.timings
        probe.say(
            "info",
            "Response timings for roundtrip",
            roundtrip=i,
            dns_ms=ms(t.dns),
            tcp_ms=ms(t.tcp),
            tls_ms=ms(t.tls),
            server_ms=ms(t.server),
            transfer_ms=ms(t.transfer),
        )
        if i:
            phases.add((t.dns or 0.0), "resolve")
        phases.add((t.tcp or 0.0), "connect")
        phases.add((t.tls or 0.0) if hop.url.startswith("https") else 0.0, "tls")
        phases.add((t.server or 0.0), "processing")
        phases.add((t.transfer or 0.0), "transfer")
    final = hops[-1]
    redirects.set(len(hops) - 1)
    success = False
    if final.status is None:
        assert check.error is not None
        _http_failure(probe, check.error.phase, sentence(check.error))
    else:
        probe.say("info", "Received HTTP response", status_code=final.status)
        valid = m.valid_status_codes
        success = final.status in valid if valid else 200 <= final.status < 300
        if not success:
            if valid:
                probe.fail(
                    "l7",
                    "status_code",
                    "Invalid HTTP response status code",
                    status_code=final.status,
                    valid_status_codes=list(valid),
                )
            else:
                probe.fail(
                    "l7",
                    "status_code",
                    "Invalid HTTP response status code, wanted 2xx",
                    status_code=final.status,
                )
        if success and (m.fail_if_header_matches or m.fail_if_header_not_matches):
            success = _headers_ok(probe, final.headers)
            failed_regex.set(0 if success else 1)
        if success and regexes:
            success = _body_ok(probe, final.body or b"")
            failed_regex.set(0 if success else 1)
        if final.error is not None or check.error is not None:
            error = final.error or check.error
            assert error is not None
            if success:
                _http_failure(probe, error.phase, sentence(error))
            success = False
        last_modified = final.header("Last-Modified")
        if last_modified:
            from email.utils import parsedate_to_datetime

            try:
                when = parsedate_to_datetime(last_modified).timestamp()
            except (TypeError, ValueError):
                when = None
            if when is not None:
                reg.gauge(
                    "probe_http_last_modified_timestamp_seconds",
                    "Returns the Last-Modified HTTP response header in unixtime",
                ).set(when)
        proto = final.http_version or ""
        number = {"HTTP/1.0": 1.0, "HTTP/1.1": 1.1, "HTTP/2": 2.0}.get(proto, 0.0)
        version.set(number)
        if m.valid_http_versions and proto not in m.valid_http_versions:
            success = probe.fail("l7", "http_version", "Invalid HTTP version number", version=proto)
        status_code.set(final.status)
        length = final.header("Content-Length")
        chunked = "chunked" in (final.header("Transfer-Encoding") or "").lower()
        if length is not None and length.strip().isdigit() and not chunked:
            content_length.set(int(length.strip()))
        else:
            content_length.set(-1)  # Go's http.Response.ContentLength for an unknown length
        body_length.set(final.body_bytes)
    if final.tls is not None:
        is_ssl.set(1)
        _tls_metrics(reg, final.tls.version, _cert_not_after_iso(final.tls.not_after))
        if m.fail_if_ssl:
            success = probe.fail("l7", "ssl_forbidden", "Final request was over SSL")
    elif m.fail_if_not_ssl:
        success = probe.fail("l7", "ssl_required", "Final request was not over SSL")
    return success


class _RedirectRefused(Exception):
    pass


def _cert_not_after_iso(iso: str) -> float | None:
    from datetime import datetime

    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


_HTTP_PHASE_FAILURE = {
    "dns": ("names", "resolve_failed"),
    "connect": ("l7", "connect_failed"),
    "tls": ("l7", "tls_failed"),
    "timeout": ("l7", "timeout"),
    "redirect": ("l7", "redirect_failed"),
}


def _http_failure(probe: Probe, phase: str, message: str) -> None:
    layer, reason = _HTTP_PHASE_FAILURE.get(phase, ("l7", "protocol_error"))
    if phase == "connect":
        lowered = message.lower()
        if "refused" in lowered:
            layer, reason = "l4", "refused"
        elif "unreachable" in lowered:
            layer, reason = "l4", "unreachable"
    probe.fail(layer, reason, "Error for HTTP request", err=message)


def _values(headers: Sequence[tuple[str, str]], name: str) -> list[str]:
    lname = name.lower()
    return [v for k, v in headers if k.lower() == lname]


def _headers_ok(probe: Probe, headers: Sequence[tuple[str, str]]) -> bool:
    """blackbox's matchRegularExpressionsOnHeaders: a missing header fails unless allowed;
    fail_if_header_matches fails on any value matching, …_not_matches when none does."""
    m = probe.module.http
    specs = [(s, True) for s in m.fail_if_header_matches]
    specs += [(s, False) for s in m.fail_if_header_not_matches]
    for spec, fail_on_match in specs:
        values = _values(headers, spec.header)
        if not values:
            if spec.allow_missing:
                continue
            return probe.fail("l7", "header_regex", "Missing required header", header=spec.header)
        matched = any(spec.regexp.search(v) for v in values)
        if matched == fail_on_match:
            return probe.fail(
                "l7",
                "header_regex",
                "Header matched regular expression"
                if fail_on_match
                else "Header did not match regular expression",
                header=spec.header,
                regexp=spec.regexp.pattern,
                value_count=len(values),
            )
    return True


def _body_ok(probe: Probe, body: bytes) -> bool:
    m = probe.module.http
    text = body.decode("utf-8", "replace")
    for expression in m.fail_if_body_matches_regexp:
        if expression.search(text):
            return probe.fail(
                "l7", "body_regex", "Body matched regular expression", regexp=expression.pattern
            )
    for expression in m.fail_if_body_not_matches_regexp:
        if not expression.search(text):
            return probe.fail(
                "l7",
                "body_regex",
                "Body did not match regular expression",
                regexp=expression.pattern,
            )
    return True


# -- tcp (prober/tcp.go) --------------------------------------------------------------------------

MAX_LINE = 64 * 1024  # bufio.Scanner's default token limit


def _connect_call(address: str, port: int) -> str:
    """asyncio's words for a failed connect (`Connect call failed ('198.51.100.1', 9)`), which
    this prober has always logged: the address as the socket's sockaddr tuple."""
    if ":" not in address:
        return f"Connect call failed {(address, port)!r}"
    scope = 0
    if "%" in address:
        with contextlib.suppress(OSError):
            scope = socket.if_nametoindex(address.split("%", 1)[1])
    return f"Connect call failed {(address, port, 0, scope)!r}"


async def probe_tcp(probe: Probe) -> bool:
    import errno

    from netladder.api._tcp import (
        DialogueEnd,
        DialogueKind,
        DialogueOptions,
        DialogueStep,
        dialogue,
    )

    m = probe.module.tcp
    reg = probe.registry
    failed_regex = reg.gauge("probe_failed_due_to_regex", "Indicates if probe failed due to regex")
    split = _split_host_port(probe.target)
    if split is None:
        return probe.fail(
            "probe",
            "bad_target",
            "Error splitting target address and port",
            err=f"address {probe.target}: missing port in address",
        )
    host, port_text = split
    port = _port(port_text)
    if port is None:
        return probe.fail(
            "probe", "bad_target", "Error dialing TCP", err=f"unknown port {port_text}"
        )
    address = await _resolve(probe, host, m.preferred_ip_protocol, m.ip_protocol_fallback)
    if address is None:
        return probe.fail("names", "resolve_failed", "Error dialing TCP", err="resolution failed")
    if m.tls:
        probe.say("info", "Dialing TCP with TLS")
    else:
        probe.say("info", "Dialing TCP without TLS")
    steps = tuple(DialogueStep(qr.expect, qr.send, qr.starttls) for qr in m.query_response)
    # As for ICMP: the dialogue ends a little before the probe, so what it saw is logged.
    result = await dialogue(
        DialogueOptions(
            address,
            port,
            steps,
            tls=m.tls,
            server_name=m.tls_config.server_name or probe.hostname or host,
            verify=not m.tls_config.insecure_skip_verify,
            cafile=m.tls_config.ca_file,
            timeout=max(probe.remaining - 0.05, 0.01),
            max_line=MAX_LINE,
        )
    )
    end = result.end
    if end is DialogueEnd.CONNECT:
        if result.error == errno.ECONNREFUSED:
            return probe.fail("l4", "refused", "Error dialing TCP", err="connection refused")
        reason = (
            "unreachable"
            if result.error in (errno.EHOSTUNREACH, errno.ENETUNREACH)
            else "connect_failed"
        )
        # asyncio's words: the errno's when connect() itself failed, else its own.
        err = os.strerror(result.error) if result.immediate else _connect_call(address, port)
        return probe.fail("l4", reason, "Error dialing TCP", err=err)
    if end is DialogueEnd.TLS:
        if result.read_error is not None:  # the connection failed during the handshake
            err = os.strerror(result.read_error)
            return probe.fail("l4", "connect_failed", "Error dialing TCP", err=err)
        if result.tls_cause == "closed":  # asyncio's ConnectionResetError, without words
            return probe.fail("l4", "connect_failed", "Error dialing TCP", err="")
        return probe.fail(
            "l4", "tls_failed", "Error dialing TCP", err=result.tls_reason or result.tls_error
        )
    if end is DialogueEnd.TIMEOUT and result.connect_time is None:
        raise TimeoutError  # run_probe's "Timeout reached", as when asyncio's timeout ends it
    probe.say("info", "Successfully dialed")
    if m.tls:
        _tcp_tls_metrics(reg, result.tls)
    for event in result.events:
        kind = event.kind
        if kind is DialogueKind.ENTRY:
            probe.say("info", "Processing query response entry", entry_number=event.index)
        elif kind is DialogueKind.READ:
            probe.say("debug", "Read line", line=event.line)
        elif kind is DialogueKind.MATCHED:
            pattern = m.query_response[event.index].expect
            assert pattern is not None
            probe.say("info", "Regexp matched", regexp=pattern.pattern, line=event.line)
            failed_regex.set(0)
        elif kind is DialogueKind.SENT:
            probe.say("debug", "Sending line", line=event.line)
        elif kind is DialogueKind.STARTTLS:
            probe.say("debug", "Upgrading TCP connection to TLS")
        elif kind is DialogueKind.TLS:
            probe.say("info", "TLS Handshake (client) succeeded.")
            _tcp_tls_metrics(reg, event.tls)
    if end is DialogueEnd.DONE:
        return True
    if end is DialogueEnd.TIMEOUT:
        raise TimeoutError
    if end is DialogueEnd.MISMATCH:
        pattern = m.query_response[result.step].expect
        assert pattern is not None
        failed_regex.set(1)
        return probe.fail(
            "l4",
            "expect_mismatch",
            "Regexp did not match",
            regexp=pattern.pattern,
            line=result.last_line,
        )
    if end is DialogueEnd.TOO_LONG:
        return probe.fail(
            "l4", "expect_mismatch", "Error reading from connection", err="token too long"
        )
    if end is DialogueEnd.STARTTLS:
        return probe.fail(
            "l4", "tls_failed", "TLS Handshake (client) failed.", err=result.tls_reason
        )
    # BROKEN: a reset or a broken pipe, as the ConnectionError asyncio raised says it.
    error = result.read_error or errno.EIO
    broken = ConnectionError(error, os.strerror(error))
    return probe.fail("l4", "closed", "Error reading from connection", err=broken)


def _tcp_tls_metrics(reg: Registry, info: Any) -> None:
    """blackbox's TLS metrics for a handshake's TlsInfo.  The expiry only when the chain was
    verified: an unverified handshake (insecure_skip_verify) never read the certificate."""
    if info is None:
        return
    _tls_metrics(reg, info.version or "", info.not_after_s if info.verified else None)


# -- icmp (prober/icmp.go) ------------------------------------------------------------------------

BLACKBOX_PAYLOAD = len(b"Prometheus Blackbox Exporter")


async def probe_icmp(probe: Probe) -> bool:
    from netladder import api
    from netladder.api._ping import PingOptions

    m = probe.module.icmp
    reg = probe.registry
    phases = reg.family(
        "probe_icmp_duration_seconds", "Duration of icmp request by phase", labels=("phase",)
    )
    for phase in ("resolve", "setup", "rtt"):
        phases.touch(phase)
    address = await _resolve(probe, probe.target, m.preferred_ip_protocol, m.ip_protocol_fallback)
    if address is None:
        probe.say("warn", "Error resolving address")
        return False
    phases.add(reg.value("probe_dns_lookup_time_seconds") or 0.0, "resolve")
    version = 6 if ":" in address else 4
    bare = address.split("%", 1)[0]
    probe.say("info", "Creating socket")
    started = time.monotonic()
    # The echo engine ends by itself a little before the probe's deadline, so that what it saw
    # (silence, an ICMP error) is the result rather than the deadline.
    budget = max(probe.remaining - 0.05, 0.01)
    options = PingOptions(
        (bare,),
        m.packets,
        interval=m.interval,
        wait=budget,
        deadline=budget,
        size=m.payload_size or BLACKBOX_PAYLOAD,
        ttl=m.ttl,
        version=version,
    )
    try:
        [result] = await api.ping(options)
    except NetladderError as exc:
        return probe.fail("probe", "environment", "Error listening to socket", err=exc)
    took = time.monotonic() - started
    probe.say(
        "info", "Waiting for reply packets", sent=result.transmitted, socket=result.socket_kind
    )
    rtts = [s.rtt for s in result.samples if not s.duplicate]
    phases.add(max(took - result.time, 0.0), "setup")
    if m.packets > 1:
        _icmp_extras(reg, result)
    if not rtts:
        kind = {
            "unreachable": "unreachable",
            "prohibited": "prohibited",
            "ttl-exceeded": "ttl_exceeded",
        }.get(result.verdict, "no_reply")
        for event in result.error_events[:3]:
            probe.say("warn", "ICMP error", source=event.source, error=event.text)
        return probe.fail("l3", kind, "Timeout reading from socket", sent=result.transmitted)
    phases.add(sum(rtts) / len(rtts), "rtt")
    ttl = next((s.ttl for s in result.samples if s.ttl is not None), None)
    if ttl is not None:
        reg.gauge("probe_icmp_reply_hop_limit", "Replied packet hop limit (TTL for ipv4)").set(ttl)
    else:
        probe.say("debug", "Cannot get TTL from the received packet.")
    probe.say("info", "Found matching reply packet", received=result.received)
    return True


def _icmp_extras(reg: Registry, result: Any) -> None:
    """netladder's SmokePing-style figures for several echoes per probe (an api.ping
    PingResult: the first reply to each echo, duplicates left out)."""
    sent, received = result.transmitted, result.received
    reg.gauge("probe_icmp_packets_sent", "ICMP echo requests sent in this probe").set(sent)
    reg.gauge("probe_icmp_packets_received", "ICMP echo replies received in this probe").set(
        received
    )
    reg.gauge(
        "probe_icmp_packet_loss_ratio", "Share of the echo requests that got no reply (0 to 1)"
    ).set((sent - received) / sent if sent else 1.0)
    family = reg.family(
        "probe_icmp_rtt_seconds",
        "Round-trip time over the replies of this probe (stddev: sample SD; jitter: mean "
        "difference between consecutive replies)",
        labels=("stat",),
    )
    stats = result.reply_rtt
    figures = {
        "min": stats.min_ms if stats else None,
        "median": stats.median_ms if stats else None,
        "mean": stats.avg_ms if stats else None,
        "max": stats.max_ms if stats else None,
        "stddev": stats.sd_ms if stats else None,
        "jitter": stats.jitter_ms if stats else None,
    }
    for stat, value in figures.items():
        family.set(float("nan") if value is None else value / 1000, stat)


# -- dns (prober/dns.go) --------------------------------------------------------------------------


def _rr_strings(section: Sequence[Any]) -> list[str]:
    """Each RR as miekg/dns's RR.String() prints it: name, TTL, class, type, data, tab-separated."""
    import dns.rdataclass
    import dns.rdatatype

    out = []
    for rrset in section:
        cls = dns.rdataclass.to_text(rrset.rdclass)
        typ = dns.rdatatype.to_text(rrset.rdtype)
        for rdata in rrset:
            out.append(f"{rrset.name}\t{rrset.ttl}\t{cls}\t{typ}\t{rdata.to_text()}")
    return out


def _valid_rrs(probe: Probe, rrs: list[str], v: Any, section: str) -> bool:
    reason = f"{section}_rrs"
    if not rrs and v.fail_if_not_matches_regexp:
        return probe.fail("dns", reason, "fail_if_not_matches_regexp specified but no RRs returned")
    if not rrs and v.fail_if_none_matches_regexp:
        return probe.fail(
            "dns", reason, "fail_if_none_matches_regexp specified but no RRs returned"
        )
    any_match, all_match = False, True
    for rr in rrs:
        probe.say("info", "Validating RR", rr=rr)
        for r in v.fail_if_matches_regexp:
            if r.search(rr):
                return probe.fail("dns", reason, "At least one RR matched regexp", regexp=r.pattern)
        for r in v.fail_if_all_match_regexp:
            if not r.search(rr):
                all_match = False
        for r in v.fail_if_not_matches_regexp:
            if not r.search(rr):
                return probe.fail(
                    "dns", reason, "At least one RR did not match regexp", regexp=r.pattern
                )
        for r in v.fail_if_none_matches_regexp:
            if r.search(rr):
                any_match = True
    if v.fail_if_all_match_regexp and all_match:
        return probe.fail("dns", reason, "All RRs matched regexp")
    if v.fail_if_none_matches_regexp and not any_match:
        return probe.fail("dns", reason, "None of the RRs did matched any regexp")
    return True


async def probe_dns(probe: Probe) -> bool:
    import dns.rcode
    import dns.rdatatype

    from netladder import api
    from netladder.api._resolve import ExchangeOptions, Server
    from netladder.render.dns import attempt_text

    m = probe.module.dns
    assert m is not None
    reg = probe.registry
    phases = reg.family(
        "probe_dns_duration_seconds", "Duration of DNS request by phase", labels=("phase",)
    )
    for phase in ("resolve", "connect", "request"):
        phases.touch(phase)
    answer = reg.gauge(
        "probe_dns_answer_rrs", "Returns number of entries in the answer resource record list"
    )
    authority = reg.gauge(
        "probe_dns_authority_rrs", "Returns number of entries in the authority resource record list"
    )
    additional = reg.gauge(
        "probe_dns_additional_rrs",
        "Returns number of entries in the additional resource record list",
    )
    succeeded = reg.gauge(
        "probe_dns_query_succeeded", "Displays whether or not the query was executed successfully"
    )
    split = _split_host_port(probe.target)
    host, port = (probe.target, 53) if split is None else (split[0], _port(split[1]))
    if port is None:
        return probe.fail("probe", "bad_target", "Error parsing target port", target=probe.target)
    address = await _resolve(probe, host, m.preferred_ip_protocol, m.ip_protocol_fallback)
    if address is None:
        return probe.fail("names", "resolve_failed", "Error resolving address")
    phases.add(reg.value("probe_dns_lookup_time_seconds") or 0.0, "resolve")
    qtype = dns.rdatatype.from_text(m.query_type)
    server = Server(address.split("%", 1)[0], port)
    probe.say(
        "info",
        "Making DNS query",
        target=str(server),
        dial_protocol=m.transport_protocol + ("6" if ":" in address else "4"),
        query=m.query_name,
        type=qtype,
        **{"class": m.query_class},
    )
    # One query, no retransmission, no retry over TCP, as miekg/dns's Client.Exchange does.
    exchange = await api.resolve(
        ExchangeOptions(
            server,
            m.query_name,
            m.query_type,
            m.query_class,
            recursion=m.recursion_desired,
            tcp=m.transport_protocol == "tcp",
            wait=max(probe.remaining, 0.001),
        )
    )
    phases.add(exchange.connect, "connect")
    phases.add(exchange.elapsed, "request")
    if not exchange.ok:
        outcome = exchange.attempt.outcome
        reason = {"timeout": "timeout", "malformed": "malformed"}.get(outcome, "unreachable")
        detail = attempt_text(exchange.attempt)
        return probe.fail("dns", reason, "Error while sending a DNS query", err=detail)
    message = exchange.message
    if message is None:
        return probe.fail("dns", "malformed", "Error while sending a DNS query", err="truncated")
    probe.say("info", "Got response", rcode=dns.rcode.to_text(message.rcode()))
    answers = _rr_strings(message.answer)
    authorities = _rr_strings(message.authority)
    extras = _rr_strings(message.additional)
    # miekg/dns keeps the OPT pseudo-record in the additional section; dnspython takes it out.
    answer.set(len(answers))
    authority.set(len(authorities))
    additional.set(len(extras) + (1 if message.opt is not None else 0))
    succeeded.set(1)
    if qtype == dns.rdatatype.SOA:
        serial = reg.gauge("probe_dns_serial", "Returns the serial number of the zone")
        for rrset in message.answer:
            if rrset.rdtype == dns.rdatatype.SOA:
                for rdata in rrset:
                    serial.set(rdata.serial)
    rcode = dns.rcode.to_text(message.rcode())
    if rcode not in m.valid_rcodes:
        return probe.fail(
            "dns", "rcode", "Rcode is not one of the valid rcodes", string_rcode=rcode
        )
    probe.say("info", "Validating Answer RRs")
    if not _valid_rrs(probe, answers, m.validate_answer_rrs, "answer"):
        return probe.fail("dns", "answer_rrs", "Answer RRs validation failed")
    probe.say("info", "Validating Authority RRs")
    if not _valid_rrs(probe, authorities, m.validate_authority_rrs, "authority"):
        return probe.fail("dns", "authority_rrs", "Authority RRs validation failed")
    probe.say("info", "Validating Additional RRs")
    if not _valid_rrs(probe, extras, m.validate_additional_rrs, "additional"):
        return probe.fail("dns", "additional_rrs", "Additional RRs validation failed")
    return True


# -- udp, stun, trace, diagnose (netladder's own) -------------------------------------------------


async def probe_udp(probe: Probe) -> bool:
    import errno

    from netladder.api._udp import UdpOptions, exchange

    m = probe.module.udp
    reg = probe.registry
    failed_regex = reg.gauge("probe_failed_due_to_regex", "Indicates if probe failed due to regex")
    rtt = reg.gauge("probe_udp_rtt_seconds", "Time from the datagram sent to the first one back")
    split = _split_host_port(probe.target)
    port = _port(split[1]) if split else None
    if split is None or port is None:
        return probe.fail("probe", "bad_target", "A udp target is host:port", target=probe.target)
    address = await _resolve(probe, split[0], m.preferred_ip_protocol, m.ip_protocol_fallback)
    if address is None:
        return False
    payload = m.send.encode("utf-8")
    # As for tcp and icmp: the exchange ends a little before the probe, so that what it saw
    # is the result rather than the deadline.
    answer = await exchange(
        UdpOptions(address, port, payload, timeout=max(probe.remaining - 0.05, 0.01))
    )
    if not answer.sent:  # the socket did not open (no route: connect() failed), or the send
        err = OSError(answer.error, os.strerror(answer.error))
        return probe.fail("l4", "unreachable", "Error sending datagram", err=err)
    probe.say("info", "Sent datagram", bytes=len(payload))
    if answer.data is None:
        if answer.timed_out:
            raise TimeoutError  # run_probe's "Timeout reached", as when asyncio's timeout ends it
        if answer.error == errno.ECONNREFUSED:
            return probe.fail(
                "l4", "refused", "ICMP port unreachable: nothing listens there", port=port
            )
        err = OSError(answer.error, os.strerror(answer.error))
        return probe.fail("l4", "unreachable", "Error reading from socket", err=err)
    data = answer.data
    rtt.set(answer.rtt if answer.rtt is not None else answer.elapsed)
    probe.say("info", "Received datagram", bytes=len(data))
    if m.expect is None:
        return True
    if m.expect.search(data.decode("utf-8", "replace")):
        failed_regex.set(0)
        probe.say("info", "Regexp matched", regexp=m.expect.pattern)
        return True
    failed_regex.set(1)
    return probe.fail("l4", "expect_mismatch", "Regexp did not match", regexp=m.expect.pattern)


async def probe_stun(probe: Probe) -> bool:
    from netladder import api
    from netladder.api._stun import StunOptions
    from netladder.render.myip import sentence as stun_sentence

    m = probe.module.stun
    reg = probe.registry
    split = _split_host_port(probe.target)
    host, port = (probe.target, 3478) if split is None else (split[0], _port(split[1]))
    if port is None:
        return probe.fail("probe", "bad_target", "Error parsing target port", target=probe.target)
    address = await _resolve(probe, host, m.preferred_ip_protocol, m.ip_protocol_fallback)
    if address is None:
        return False
    behind = reg.gauge(
        "probe_stun_behind_nat", "1 when the mapped address differs from the local address"
    )
    rtt = reg.gauge("probe_stun_rtt_seconds", "Time to the STUN Binding success response")
    # As for ICMP: the exchange ends a little before the probe, so its own outcome is reported.
    bare = address.split("%", 1)[0]
    server = f"[{bare}]:{port}" if ":" in bare else f"{bare}:{port}"
    source = await api.stun(StunOptions(server, timeout=max(probe.remaining - 0.05, 0.01)))
    if not source.ok or source.address is None:
        kind = source.error.kind if source.error is not None else "no-answer"
        err = stun_sentence(source.error) if source.error is not None else "no answer"
        if kind == "refused":
            return probe.fail("l4", "refused", "STUN Binding request failed", err=err)
        reason = "no_answer" if kind in ("no-answer", "still") else "bad_answer"
        return probe.fail("stun", reason, "STUN Binding request failed", err=err)
    rtt.set(source.time or 0.0)
    behind.set(1 if source.local_address and source.local_address != source.address else 0)
    reg.family(
        "probe_stun_mapped_address_info",
        "The public address and port the STUN server saw",
        labels=("address", "port"),
    ).set(1, str(ipaddress.ip_address(source.address)), str(source.port or 0))
    probe.say("info", "STUN mapped address", address=source.address, port=source.port)
    return True


async def probe_trace(probe: Probe) -> bool:
    from netladder import api
    from netladder.api._trace import TraceOptions, send_failure
    from netladder.render import trace as render

    m = probe.module.trace
    reg = probe.registry
    address = await _resolve(probe, probe.target, m.preferred_ip_protocol, m.ip_protocol_fallback)
    if address is None:
        return False
    hops_gauge = reg.gauge(
        "probe_trace_hops", "Hops to the destination, or probed when not reached"
    )
    reached = reg.gauge("probe_trace_reached", "1 when the destination answered")
    path_hash = reg.gauge(
        "probe_trace_path_hash", "FNV-32a of the responders, hop by hop: changes when the path does"
    )
    options = TraceOptions(
        address.split("%", 1)[0],
        m.protocol,
        m.port,
        m.queries,
        max_ttl=m.max_hops,
        wait=min(m.wait, probe.remaining),
    )
    try:
        result = await api.trace(options)
    except NetladderError as exc:
        return probe.fail("probe", "environment", "Trace failed to start", err=exc)
    failure = send_failure(result)
    if failure is not None:  # no probe could leave: as when no socket opens
        return probe.fail("probe", "environment", "Trace failed to start", err=failure)
    for hop in result.hops:
        probe.say(
            "info",
            "Hop",
            ttl=hop.ttl,
            responders=",".join(hop.responders) or "*",
            avg_ms=_ms(hop.stats.avg),
            loss_pct=hop.stats.loss_pct,
        )
    probe.hops = tuple(result.hops)
    path = "|".join(",".join(sorted(h.responders)) or "*" for h in result.hops)
    path_hash.set(fnv32a(path.encode()))
    hops_gauge.set(result.destination_hop or len(result.hops))
    reached.set(1 if result.reached else 0)
    if not result.reached:
        verdict = render.verdict_text(result.verdict)
        return probe.fail("path", "not_reached", "Destination not reached", verdict=verdict)
    return True


def _ms(seconds: float | None) -> float | None:
    """A duration as the debug output and the dashboard show it (ms, as the trace's JSON)."""
    return None if seconds is None else round(seconds * 1000, 6)


async def probe_diagnose(probe: Probe) -> bool:
    from netladder import api
    from netladder.api._diagnose import DiagnoseOptions, parse_target
    from netladder.render import diagnose as render

    reg = probe.registry
    try:
        target = parse_target(probe.target, probe.module.diagnose.ports)
    except NetladderError as exc:
        return probe.fail("probe", "bad_target", "Bad target", err=exc)
    if probe.allow is not None:
        # The ladder resolves the name itself: check where it points first.
        if await _resolve(probe, target.host, "ip4", True) is None:
            return False
    layer_ok = reg.family(
        "probe_diagnose_layer_ok",
        "1 when the layer passed (or passed with a warning), 0 when it failed; skipped layers "
        "are absent",
        labels=("layer",),
    )
    options = DiagnoseOptions(
        probe.target, probe.module.diagnose.ports, timeout=min(10.0, probe.remaining)
    )
    result = await api.diagnose(options)
    for rung in result.rungs:
        summary = render.summary(rung)
        probe.say("info", "Layer", layer=rung.layer, status=rung.status, summary=summary)
        if rung.status in ("pass", "warn"):
            layer_ok.set(1, rung.layer)
        elif rung.status == "fail":
            layer_ok.set(0, rung.layer)
    layer = result.verdict.layer
    if layer and layer != "interrupted":
        text = render.verdict_text(result.verdict)
        return probe.fail(layer, "layer_failed", "Verdict", verdict=text)
    return True


_PROBERS: dict[str, Callable[[Probe], Any]] = {
    "http": probe_http,
    "tcp": probe_tcp,
    "icmp": probe_icmp,
    "dns": probe_dns,
    "udp": probe_udp,
    "stun": probe_stun,
    "trace": probe_trace,
    "diagnose": probe_diagnose,
}


# -- monitors: one ping of a continuous round -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ping:
    """One ping of a monitor's round, as plain data for the runtime, history and dashboard.

    `rtt` is the echo's round-trip time for icmp and the whole probe's duration for the
    other probers (a connect, a request, a trace); None when the probe failed.  `sent` is
    False when nothing could be sent (a missing socket or privilege, a name that does not
    resolve): such a ping is a send error, not a lost packet."""

    rtt: float | None
    sent: bool = True
    address: str | None = None
    ttl: int | None = None
    failure: tuple[str, str] | None = None
    phases: tuple[tuple[str, float], ...] = ()  # http: blackbox's phases, in seconds
    hops: tuple[tuple[int, str, float | None, float], ...] = ()  # trace: ttl, who, avg ms, loss %


async def monitor_ping(
    module: Module,
    target: str,
    seconds: float,
    allow: Allow | None = None,
) -> Ping:
    """Probe `target` once with `module` (an icmp module sends one echo whatever its
    `packets`: the round spreads the pings, not the probe)."""
    if module.prober == "icmp" and module.icmp.packets != 1:
        from dataclasses import replace

        module = replace(module, icmp=replace(module.icmp, packets=1))
    probe = Probe(module, target, seconds, allow=allow)
    started = time.monotonic()
    try:
        success = await run_probe(probe)
    except Refused:
        return Ping(None, sent=False, failure=("probe", "bad_target"))
    took = time.monotonic() - started
    reg = probe.registry
    rtt: float | None = None
    if success:
        rtt = reg.value("probe_icmp_duration_seconds", "rtt") if module.prober == "icmp" else took
    ttl = reg.value("probe_icmp_reply_hop_limit")
    failure = probe.failure
    sent = probe.address is not None and failure != ("probe", "environment")
    phases: tuple[tuple[str, float], ...] = ()
    fam = reg.families.get("probe_http_duration_seconds")
    if fam is not None:
        phases = tuple((labels[0], value) for labels, value in fam.samples.items())
    hops = tuple(
        (h.ttl, ",".join(h.responders) or "*", _ms(h.stats.avg), h.stats.loss_pct)
        for h in probe.hops
    )
    return Ping(
        rtt,
        sent,
        probe.address,
        None if ttl is None else int(ttl),
        failure,
        phases,
        hops,
    )


# -- the agent API: the whole ladder from here ----------------------------------------------------


async def run_diagnosis(
    target: str,
    ports: Sequence[int],
    allow: Allow | None,
) -> dict[str, Any]:
    """`netladder diagnose TARGET` as this server sees it: the Diagnosis as JSON (the
    command's --json document).  UsageError for a target that cannot be read; Refused when
    the allowlist forbids it (checked on the name, then on where it resolves, before any
    packet goes to it)."""
    from netladder import api
    from netladder.api._diagnose import DiagnoseOptions, parse_target
    from netladder.output import to_jsonable
    from netladder.render import diagnose as render

    parsed = parse_target(target, tuple(ports))
    if allow is not None and not allow.name_allowed(parsed.host):
        probe = Probe(Module("diagnose", "diagnose"), parsed.host, 10.0, allow=allow)
        probe.deadline = time.monotonic() + 10.0
        if await _resolve(probe, parsed.host, "ip4", True) is None:
            raise Refused(parsed.host)  # what does not resolve cannot be shown to be allowed
    result = await api.diagnose(DiagnoseOptions(target, tuple(ports)))
    doc: dict[str, Any] = to_jsonable(result, render.sentence)
    return doc
