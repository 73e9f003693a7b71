"""`forward verify`: connect through a forward and prove that the intended target answered.

The proof has three parts: a connection through the forward (from another namespace, or from
this machine), a direct connection to the target from this machine, and the forward's rule
counter before and after.  The two answers (a banner, or the reply to a small probe) must be
the same and the rule must have been hit.  When something is wrong, the cause is named in the
order a packet meets it: no rule, rule never hit (and what caught the traffic instead),
forwarding disabled, then the target itself as nmap would call its port: closed (it reset the
connection), filtered (silence, or an ICMP "prohibited"), unreachable (no route, or an ICMP
net/host unreachable) — with the ICMP error and its sender as the evidence.

The two connections are l4's sessions on the one driver (net.driver.run): BannerSession for
TCP (the greeting, else a small probe, read until the peer goes quiet) and UdpExchange for UDP;
the ICMP error behind a failure is the one the driver read from the error queue.  What the
check concluded is a typed Finding; render/forward.py says it.

Programmatic API (for `netladder diagnose`): ``await verify_forward(port, proto=..., source=...)``
returns a :class:`VerifyResult`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import time
from typing import Any

from netladder.l4.banner import BannerSession, Datagram, StreamAnswer, UdpExchange
from netladder.nat import nft
from netladder.nat.model import Attempt, Cause, Finding, VerifyResult
from netladder.nat.netns import Vantage, require_local, resolve_vantage, route_source
from netladder.nat.rules import ForeignRule, shadowing
from netladder.net.driver import run
from netladder.net.session import Session
from netladder.net.sockets import SockError
from netladder.proto.icmp import TIME_EXCEEDED, UNREACHABLE, error_text
from netladder.proto.tcp import ICMP4_UNREACH_REASONS, ICMP6_UNREACH_REASONS

__all__ = ["Attempt", "Cause", "Finding", "VerifyResult", "verify_forward"]

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
        finding: Finding,
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
            finding,
            time.monotonic() - started,
        )

    if forward is None:
        others = [
            r
            for r in before.foreign
            if r.catches(proto, port) and r.statement in ("dnat", "redirect", "xt")
        ]
        if others:
            found = Finding("no-rule-elsewhere", proto, port, rule=others[0])
        else:
            found = Finding("no-rule", proto, port)
        return result(Cause.NO_RULE, found, shadows=tuple(others))

    spec = forward.spec
    target = spec.target if spec.dest else None

    def finding(kind: str, **evidence: Any) -> Finding:
        return Finding(kind, proto, port, target, spec.to_port, **evidence)

    shadows = shadowing(before, spec)
    version = spec.dest_version or 4
    via_addr = via or await _pick_via(vantage, version, dnat=spec.kind == "dnat")
    if via_addr is None:
        return result(Cause.NO_ANSWER, finding("no-route", vantage=vantage.label), shadows=shadows)
    # A DNAT to one of this machine's own addresses is delivered here: nothing is forwarded.
    to_another_host = spec.dest is not None and not await nft.is_local_address(spec.dest)
    forwarding = nft.forwarding_enabled(version) if to_another_host else None

    direct_host = spec.dest if spec.dest is not None else via_addr
    # Both at once: the direct connection never matches the forward's rule (it goes to the
    # target port), so it cannot disturb the counter.
    probes = [
        _probe(vantage, via_addr, port, proto, wait_s),
        _probe(Vantage("this machine"), direct_host, spec.to_port, proto, wait_s),
    ]
    if await run(probes):
        raise KeyboardInterrupt  # nothing partial to say: the rule's counter was not read
    through = _attempt_of(via_addr, port, probes[0])
    direct = _attempt_of(direct_host, spec.to_port, probes[1])
    after = await nft.read_ruleset()
    now = after.by_id(forward.id)
    hits = max(0, (now.hits(hook) if now else 0) - forward.hits(hook))

    def concluded(cause: Cause, found: Finding) -> VerifyResult:
        return result(
            cause,
            found,
            through=through,
            direct=direct,
            hits=hits,
            forwarding=forwarding,
            shadows=shadows,
            via_addr=via_addr,
        )

    if hits == 0:
        if vantage.is_local and not spec.local:
            found = finding("output-hook")
        # The vantage's own refusal (no ICMP, no peer): the probe never left it, so no rule
        # of this machine's (a shadowing one either) had a chance to see it.
        elif through.reason == "local-prohibited":
            found = finding("not-sent-firewall", vantage=vantage.label, error=through.error)
        elif through.outcome == "unreachable" and through.reason is None:
            found = finding(
                "not-sent-no-route", vantage=vantage.label, via=via_addr, error=through.error
            )
        elif shadows:
            found = finding("shadowed", rule=shadows[0])
        elif not through.connected:
            found = finding("not-reached", outcome=through.outcome, via=via_addr)
        else:
            found = finding("elsewhere")
        return concluded(Cause.NOT_HIT, found)
    if not through.connected and to_another_host and not vantage.is_local and forwarding is False:
        sysctl = "net.ipv4.ip_forward" if version == 4 else "net.ipv6.conf.all.forwarding"
        return concluded(Cause.FORWARDING_DISABLED, finding("forwarding-off", sysctl=sysctl))
    if not direct.connected:
        cause, kind = _target_failure(direct, proto)
        wait = wait_s if kind in ("target-silent", "target-dropped") else None
        return concluded(cause, finding(kind, error=direct.error, wait=wait))
    if not through.connected:
        return concluded(Cause.NO_ANSWER, finding("no-answer", outcome=through.outcome))
    if through.answer != direct.answer:
        found = finding("wrong-answer", through=through.first_line, direct=direct.first_line)
        return concluded(Cause.WRONG_ANSWER, found)
    return concluded(Cause.OK, finding("ok"))


def _target_failure(attempt: Attempt, proto: str) -> tuple[Cause, str]:
    """The target's own failure as nmap would call its port: the cause and the finding's kind
    (its evidence: what the system said, the ICMP error and who sent it)."""
    if attempt.reason == "port-unreach" and (proto == "tcp" or attempt.outcome == "filtered"):
        # TCP's closed is a reset; an ICMP port unreachable is a firewall's REJECT (nmap -sS:
        # filtered).  For UDP it is closed only when the target itself sent it.
        return Cause.TARGET_FILTERED, "target-rejected"
    if attempt.outcome == "refused":
        if proto == "udp":
            return Cause.TARGET_CLOSED, "target-closed"
        return Cause.TARGET_CLOSED, "target-refused"
    if attempt.outcome == "timeout":
        if proto == "udp":
            return Cause.TARGET_NO_REPLY, "target-silent"  # open|filtered
        return Cause.TARGET_FILTERED, "target-dropped"
    if attempt.reason == "local-prohibited":
        return Cause.TARGET_FILTERED, "target-local-firewall"
    if attempt.reason is not None and attempt.reason.endswith("prohibited"):
        return Cause.TARGET_FILTERED, "target-prohibited"
    if attempt.outcome == "unreachable" and attempt.reason is None:
        return Cause.TARGET_UNREACHABLE, "target-no-route"
    return Cause.TARGET_UNREACHABLE, "target-unreachable"


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


def _outcome(error: int) -> str:
    """What a failed connect or read was, in the words of `Attempt.outcome`."""
    if error == errno.ECONNREFUSED:
        return "refused"
    if error in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return "unreachable"
    if error == errno.ECONNRESET:
        return "reset"
    return "error"


def _failed(
    host: str, port: int, error: int, icmp: SockError | None, elapsed: float, call: str
) -> Attempt:
    """The Attempt of a failed exchange with `host`: its outcome, the error text and nmap's
    reason.  The ICMP error the kernel queued for the socket (IP_RECVERR; the driver reads it)
    says what answered and who sent it; without one, the failure was the sending machine's
    own (no route, its own firewall), said as the system call that failed (`call`: connect,
    sendmsg) and its error, as socat and ping say it."""
    outcome, text = _outcome(error), os.strerror(error)
    if icmp is None or not icmp.is_icmp:
        if error in (errno.EPERM, errno.EACCES):
            reason: str | None = "local-prohibited"
        else:
            reason = "conn-refused" if outcome == "refused" else None
        if outcome not in ("refused", "reset"):  # not the peer's answer: this machine's own
            text = f"{call}: {text}"
        return Attempt(host, port, outcome, None, elapsed, text, None, reason)
    version = 6 if ":" in host else 4
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
    return Attempt(host, port, outcome, None, elapsed, text, None, reason)


def _normalise(data: bytes) -> str:
    lines = data.decode("latin-1").replace("\r\n", "\n").split("\n")
    return "\n".join(ln for ln in lines if not ln.lower().startswith("date:")).strip()


def _probe(vantage: Vantage, host: str, port: int, proto: str, wait_s: float) -> Session[Any]:
    """The session that tries `host`:`port` from `vantage`: a TCP dialogue (the greeting, else
    the answer to TCP_PROBE, read until the peer goes quiet), or one UDP datagram out and the
    first datagram or ICMP error back."""
    if proto == "udp":
        return UdpExchange(
            host, port, UDP_PROBE, wait_s, netns=vantage.netns, source=vantage.source
        )
    return BannerSession(
        host,
        port,
        TCP_PROBE,
        wait_s,
        greeting=BANNER_WAIT_S,
        until="quiet",
        quiet=QUIET_S,
        limit=MAX_ANSWER,
        netns=vantage.netns,
        source=vantage.source,
    )


def _attempt_of(host: str, port: int, session: Session[Any]) -> Attempt:
    """The Attempt a finished probe session found."""
    answer = session.result()
    if isinstance(answer, Datagram):
        if answer.data is not None:
            return Attempt(
                host, port, "answered", _normalise(answer.data[:MAX_ANSWER]), answer.elapsed
            )
        if answer.timed_out:
            # open|filtered in nmap's words
            return Attempt(host, port, "timeout", None, answer.elapsed, reason="no-response")
        call = "sendmsg" if answer.opened else "connect"
        return _failed(host, port, answer.error, answer.icmp, answer.elapsed, call)
    assert isinstance(answer, StreamAnswer)
    if answer.timed_out:
        return Attempt(host, port, "timeout", None, answer.elapsed, reason="no-response")
    if answer.error:
        return _failed(host, port, answer.error, answer.icmp, answer.elapsed, "connect")
    connected = answer.connect_time
    if answer.end in ("reset", "error"):
        error = answer.read_error or errno.EIO
        outcome = _outcome(error)
        return Attempt(host, port, outcome, None, answer.elapsed, os.strerror(error), connected)
    if not answer.data:
        outcome = "closed" if answer.end == "closed" else "silent"
        return Attempt(host, port, outcome, "", answer.elapsed, None, connected)
    return Attempt(host, port, "answered", _normalise(answer.data), answer.elapsed, None, connected)
