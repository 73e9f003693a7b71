"""`forward verify`: connect through a forward and prove that the intended target answered.

The proof has three parts: a connection through the forward (from another namespace, or from
this machine), a direct connection to the target from this machine, and the forward's rule
counter before and after.  The two answers (a banner, or the reply to a small probe) must be
the same and the rule must have been hit.  When something is wrong, the cause is named in the
order a packet meets it: no rule, rule never hit (and what caught the traffic instead),
forwarding disabled, then the target itself as nmap would call its port: closed (it reset the
connection), filtered (silence, or an ICMP "prohibited"), unreachable (no route, or an ICMP
net/host unreachable) — with the ICMP error and its sender as the evidence.

Programmatic API (for `netladder diagnose`): ``await verify_forward(port, proto=..., source=...)``
returns a :class:`VerifyResult`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import json
import os
import socket
import time

from netladder.nat import nft
from netladder.nat.model import Attempt, Cause, VerifyResult
from netladder.nat.netns import Vantage, require_local, resolve_vantage, route_source
from netladder.nat.rules import ForeignRule, shadowing
from netladder.net.sockets import SockError, enable_recverr, receive
from netladder.proto.icmp import TIME_EXCEEDED, UNREACHABLE, error_text
from netladder.proto.tcp import ICMP4_UNREACH_REASONS, ICMP6_UNREACH_REASONS

__all__ = ["Attempt", "Cause", "VerifyResult", "verify_forward"]

BANNER_WAIT_S = 0.5  # a service that speaks first (SSH, SMTP) does so at once
QUIET_S = 0.2  # an answer is complete when nothing more arrives for this long
MAX_ANSWER = 4096
# Said to a service that does not speak first; HTTP answers it, most others answer something.
TCP_PROBE = b"GET / HTTP/1.0\r\nUser-Agent: netladder-verify\r\n\r\n"
UDP_PROBE = b"netladder-verify\n"


async def verify_forward(
    port: int,
    *,
    proto: str = "tcp",
    source: str | Vantage | None = None,
    via: str | None = None,
    wait_s: float = 2.0,
) -> VerifyResult:
    """Verify the forward of `proto`/`port` on this machine, connecting from `source` (a
    namespace, a lab node name, a local address; default this machine) to `via` (default: the
    address of this machine that faces `source`)."""
    started = time.monotonic()
    vantage = source if isinstance(source, Vantage) else resolve_vantage(source)
    if via is not None:
        require_local(via, "--via")
    hook = "output" if vantage.is_local else "prerouting"
    before = await nft.read_ruleset()
    forward = before.find(proto, port)

    def result(
        cause: Cause,
        detail: str,
        *,
        through: Attempt | None = None,
        direct: Attempt | None = None,
        hits: int = 0,
        forwarding: bool | None = None,
        shadows: tuple[ForeignRule, ...] = (),
        via_addr: str | None = None,
    ) -> VerifyResult:
        return VerifyResult(
            port,
            proto,
            vantage.label,
            forward,
            via_addr,
            through,
            direct,
            hits,
            hook,
            forwarding,
            shadows,
            cause,
            detail,
            (time.monotonic() - started) * 1000,
        )

    if forward is None:
        others = [
            r
            for r in before.foreign
            if r.catches(proto, port) and r.statement in ("dnat", "redirect", "xt")
        ]
        detail = f"netladder has no forward for {proto} port {port}"
        if others:
            detail += f"; {others[0].where} handles it ({others[0].text or others[0].statement})"
        return result(Cause.NO_RULE, detail, shadows=tuple(others))

    spec = forward.spec
    shadows = shadowing(before, spec)
    version = spec.dest_version or 4
    via_addr = via or await _pick_via(vantage, version, dnat=spec.kind == "dnat")
    if via_addr is None:
        return result(
            Cause.NO_ANSWER, f"{vantage.label} has no route to this machine", shadows=shadows
        )
    # A DNAT to one of this machine's own addresses is delivered here: nothing is forwarded.
    to_another_host = spec.dest is not None and not await nft.is_local_address(spec.dest)
    forwarding = nft.forwarding_enabled(version) if to_another_host else None

    attempt = _tcp_attempt if proto == "tcp" else _udp_attempt
    direct_host = spec.dest if spec.dest is not None else via_addr
    # Both at once: the direct connection never matches the forward's rule (it goes to the
    # target port), so it cannot disturb the counter.
    through, direct = await asyncio.gather(
        attempt(vantage, via_addr, port, wait_s),
        attempt(Vantage("this machine"), direct_host, spec.to_port, wait_s),
    )
    after = await nft.read_ruleset()
    now = after.by_id(forward.id)
    hits = max(0, (now.hits(hook) if now else 0) - forward.hits(hook))

    where = f"{spec.target if spec.dest else f'port {spec.to_port} here'}"
    if hits == 0:
        if vantage.is_local and not spec.local:
            detail = (
                "connections made on this machine take the OUTPUT hook, which this "
                "forward does not cover: add it with --local, or verify --from a "
                "namespace or host"
            )
        elif shadows:
            detail = (
                f"{shadows[0].where} ({shadows[0].text or shadows[0].statement}) catches "
                f"{proto} port {port} before netladder's rule"
            )
        elif not through.connected:
            detail = (
                f"no connection reached the rule ({through.outcome} from {via_addr}): "
                "a wrong address, or a filter before NAT?"
            )
        else:
            detail = "the connection was answered, but not through netladder's rule"
        return result(
            Cause.NOT_HIT,
            detail,
            through=through,
            direct=direct,
            hits=0,
            forwarding=forwarding,
            shadows=shadows,
            via_addr=via_addr,
        )
    if not through.connected and to_another_host and not vantage.is_local and forwarding is False:
        sysctl = "net.ipv4.ip_forward" if version == 4 else "net.ipv6.conf.all.forwarding"
        return result(
            Cause.FORWARDING_DISABLED,
            f"the rule was hit but {sysctl} is 0, so the kernel drops the translated "
            f"packets (sysctl -w {sysctl}=1)",
            through=through,
            direct=direct,
            hits=hits,
            forwarding=forwarding,
            shadows=shadows,
            via_addr=via_addr,
        )
    if not direct.connected:
        cause, how = _target_failure(direct, proto, wait_s)
        return result(
            cause,
            f"the rule was hit, but the target {where} itself {how}",
            through=through,
            direct=direct,
            hits=hits,
            forwarding=forwarding,
            shadows=shadows,
            via_addr=via_addr,
        )
    if not through.connected:
        return result(
            Cause.NO_ANSWER,
            f"the rule was hit and the target answers directly, but not through the "
            f"forward ({through.outcome}): a filter on the way, or replies that do not "
            "come back through this machine?",
            through=through,
            direct=direct,
            hits=hits,
            forwarding=forwarding,
            shadows=shadows,
            via_addr=via_addr,
        )
    if through.answer != direct.answer:
        return result(
            Cause.WRONG_ANSWER,
            f"something else answered: {through.first_line!r} through the forward, "
            f"{direct.first_line!r} from the target",
            through=through,
            direct=direct,
            hits=hits,
            forwarding=forwarding,
            shadows=shadows,
            via_addr=via_addr,
        )
    return result(
        Cause.OK,
        f"the intended target {where} answered through the forward",
        through=through,
        direct=direct,
        hits=hits,
        forwarding=forwarding,
        shadows=shadows,
        via_addr=via_addr,
    )


def _target_failure(attempt: Attempt, proto: str, wait_s: float) -> tuple[Cause, str]:
    """The target's own failure as nmap would call its port, with the evidence (what the
    system said, the ICMP error and who sent it)."""
    evidence = f" ({attempt.error})" if attempt.error else ""
    if attempt.reason == "port-unreach" and (proto == "tcp" or attempt.outcome == "filtered"):
        # TCP's closed is a reset; an ICMP port unreachable is a firewall's REJECT (nmap -sS:
        # filtered).  For UDP it is closed only when the target itself sent it.
        return Cause.TARGET_FILTERED, (
            f"is filtered: a firewall rejects it with an ICMP error, not a reset{evidence}"
        )
    if attempt.outcome == "refused":
        if proto == "udp":
            return Cause.TARGET_CLOSED, f"is closed{evidence}"
        return Cause.TARGET_CLOSED, f"refused the connection{evidence}: closed, nothing listens"
    if attempt.outcome == "timeout":
        if proto == "udp":
            return Cause.TARGET_NO_REPLY, (
                f"sent no reply and no ICMP error within {wait_s:g} s: open|filtered (the "
                "service may ignore this probe, or something drops it)"
            )
        return Cause.TARGET_FILTERED, (
            f"is filtered: no SYN-ACK, reset or ICMP error within {wait_s:g} s (something "
            "drops the packets, or no host has that address)"
        )
    if attempt.reason == "local-prohibited":
        return Cause.TARGET_FILTERED, f"is filtered by this machine's own firewall{evidence}"
    if attempt.reason is not None and attempt.reason.endswith("prohibited"):
        return Cause.TARGET_FILTERED, f"is filtered{evidence}"
    if attempt.outcome == "unreachable" and attempt.reason is None:
        return Cause.TARGET_UNREACHABLE, f"is unreachable{evidence}: no route from this machine"
    return Cause.TARGET_UNREACHABLE, f"is unreachable{evidence}"


async def local_addresses(version: int) -> list[str]:
    """This machine's global addresses (loopback and link-local left out)."""
    proc = await asyncio.create_subprocess_exec(
        "ip",
        "-j",
        f"-{version}",
        "addr",
        "show",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await proc.communicate()
    addresses = []
    with contextlib.suppress(ValueError):
        for link in json.loads(out or b"[]"):
            for info in link.get("addr_info", []):
                if info.get("scope") == "global":
                    addresses.append(str(info["local"]))
    return addresses


async def _pick_via(vantage: Vantage, version: int, *, dnat: bool) -> str | None:
    if vantage.source is not None:
        return vantage.source
    mine = await local_addresses(version)
    if vantage.is_local:
        if dnat and mine:
            return mine[0]  # a loopback source cannot leave this machine after DNAT
        return "::1" if version == 6 else "127.0.0.1"
    here = Vantage("this machine")
    for address in mine:
        peer = route_source(vantage, address)
        if peer is None:
            continue
        # The address of this machine on the side facing the peer (its route back).
        facing = route_source(here, peer)
        return facing if facing in mine else address
    return None


def _family(host: str) -> int:
    return socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET


def _failure(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return "unreachable"
    if isinstance(exc, ConnectionResetError):
        return "reset"
    return "error"


def _failed(sock: socket.socket, exc: OSError, host: str) -> tuple[str, str, str | None]:
    """(outcome, error text, nmap's reason) for a failed exchange with `host`.  The ICMP error
    the kernel queued for the socket (IP_RECVERR) says what answered and who sent it; without
    one, the failure was this machine's own (no route, its own firewall)."""
    # asyncio's sock_connect replaces strerror with "Connect call failed (...)": say errno's.
    outcome, text = _failure(exc), os.strerror(exc.errno) if exc.errno else str(exc)
    queued = receive(sock, errqueue=True)
    icmp: SockError | None = queued.error if queued is not None else None
    if icmp is None or not icmp.is_icmp:
        if exc.errno in (errno.EPERM, errno.EACCES):
            return outcome, text, "local-prohibited"
        return outcome, text, "conn-refused" if outcome == "refused" else None
    version = 6 if sock.family == socket.AF_INET6 else 4
    reasons = ICMP4_UNREACH_REASONS if version == 4 else ICMP6_UNREACH_REASONS
    if icmp.icmp_type == UNREACHABLE[version]:
        reason = reasons.get(icmp.icmp_code, "unreach")
    else:
        reason = "time-exceeded" if icmp.icmp_type == TIME_EXCEEDED[version] else "icmp-error"
    sender = icmp.offender
    text = f"{text}; ICMP {error_text(version, icmp.icmp_type, icmp.icmp_code)}"
    if sender:
        text += f" from {sender}"
    if reason == "port-unreach" and sender and sender != host:
        outcome = "filtered"  # a router said so, not the target: nmap's filtered (port-unreach)
    return outcome, text, reason


def _normalise(data: bytes) -> str:
    lines = data.decode("latin-1").replace("\r\n", "\n").split("\n")
    return "\n".join(ln for ln in lines if not ln.lower().startswith("date:")).strip()


def _attempt(
    host: str,
    port: int,
    started: float,
    outcome: str,
    answer: str | None = None,
    *,
    error: str | None = None,
    reason: str | None = None,
    connect_ms: float | None = None,
) -> Attempt:
    took = (time.monotonic() - started) * 1000
    return Attempt(host, port, outcome, answer, took, error, connect_ms, reason)


async def _tcp_attempt(vantage: Vantage, host: str, port: int, wait_s: float) -> Attempt:
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    try:
        sock = vantage.socket(_family(host), socket.SOCK_STREAM)
    except OSError as exc:
        return _attempt(host, port, started, "error", error=exc.strerror)
    with sock:
        enable_recverr(sock, 6 if sock.family == socket.AF_INET6 else 4)
        try:
            await asyncio.wait_for(loop.sock_connect(sock, (host, port)), wait_s)
        except TimeoutError:
            return _attempt(host, port, started, "timeout", reason="no-response")
        except OSError as exc:
            outcome, error, reason = _failed(sock, exc, host)
            return _attempt(host, port, started, outcome, error=error, reason=reason)
        connect_ms = (time.monotonic() - started) * 1000
        try:
            data = await _read_answer(loop, sock, wait_s)
        except OSError as exc:
            return _attempt(
                host, port, started, _failure(exc), error=exc.strerror, connect_ms=connect_ms
            )
    if data is None:
        return _attempt(host, port, started, "silent", "", connect_ms=connect_ms)
    outcome = "answered" if data else "closed"
    return _attempt(host, port, started, outcome, _normalise(data), connect_ms=connect_ms)


async def _read_answer(
    loop: asyncio.AbstractEventLoop, sock: socket.socket, wait_s: float
) -> bytes | None:
    try:
        first = await asyncio.wait_for(loop.sock_recv(sock, MAX_ANSWER), BANNER_WAIT_S)
    except TimeoutError:
        await loop.sock_sendall(sock, TCP_PROBE)
        try:
            first = await asyncio.wait_for(loop.sock_recv(sock, MAX_ANSWER), wait_s)
        except TimeoutError:
            return None
    data = first
    # A peer that trickles bytes must not hold the check: the whole answer gets `wait_s`.
    deadline = time.monotonic() + wait_s
    while first and len(data) < MAX_ANSWER and time.monotonic() < deadline:
        try:
            first = await asyncio.wait_for(loop.sock_recv(sock, MAX_ANSWER - len(data)), QUIET_S)
        except TimeoutError:
            break
        data += first
    return data


async def _udp_attempt(vantage: Vantage, host: str, port: int, wait_s: float) -> Attempt:
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    try:
        sock = vantage.socket(_family(host), socket.SOCK_DGRAM)
    except OSError as exc:
        return _attempt(host, port, started, "error", error=exc.strerror)
    with sock:
        enable_recverr(sock, 6 if sock.family == socket.AF_INET6 else 4)
        try:
            sock.connect((host, port))
            await loop.sock_sendall(sock, UDP_PROBE)
            data = await asyncio.wait_for(loop.sock_recv(sock, MAX_ANSWER), wait_s)
        except TimeoutError:
            # open|filtered in nmap's words
            return _attempt(host, port, started, "timeout", reason="no-response")
        except OSError as exc:
            outcome, error, reason = _failed(sock, exc, host)
            return _attempt(host, port, started, outcome, error=error, reason=reason)
    return _attempt(host, port, started, "answered", _normalise(data))
