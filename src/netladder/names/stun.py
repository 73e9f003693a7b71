"""STUN as a sans-IO session (issue 14): a Binding request over a UDP channel to one server,
retransmitted on RFC 8489 §6.2.1's schedule (RTO 0.5 s, doubling) until an answer or the
deadline; the answer read with `proto.stun`, and anything that is not an answer to our
transaction counted and waited past (§6.3).  An ICMP port unreachable from the error queue
is "nothing listens there"; every other outcome is a `SourceFailure` in the result.
"""

from __future__ import annotations

import errno as errnos
import os
from typing import Any

from netladder.names.model import SourceFailure, StunResult
from netladder.net.session import ChannelSpec, Lookup, OpenChannel, Opened, Send, Session, Step
from netladder.net.sockets import Received
from netladder.net.targets import ResolveError, Target, literal
from netladder.proto import stun

__all__ = ["STUN_PORT", "STUN_RTO", "StunSession", "stun_answer", "unmap"]

STUN_PORT = 3478  # RFC 8489 §18.6
STUN_RTO = 0.5  # initial retransmission timeout, doubling each time (RFC 8489 §6.2.1)
NS = 1_000_000_000


def unmap(host: str) -> str:
    """An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as the IPv4 address it is."""
    import ipaddress

    ip = ipaddress.ip_address(host.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def _failure(kind: str, **params: Any) -> SourceFailure:
    return SourceFailure(kind, tuple(params.items()))


def stun_answer(data: bytes, txid: bytes) -> stun.MappedAddress | SourceFailure | None:
    """The mapped address; a failure when the answer to our request is unusable; None when the
    datagram is not an answer to our request at all."""
    try:
        message = stun.parse_message(data)
    except stun.StunError as exc:
        # Garbage that still carries our transaction id is the server's broken answer.
        if len(data) >= 20 and data[8:20] == txid:
            return _failure("malformed", detail=str(exc))
        return None
    if message.transaction_id != txid:
        return None
    if message.fingerprint_ok is False:
        return _failure("fingerprint")
    try:
        if message.klass == "error":
            error = message.error
            if error is None:
                return _failure("stun-error-bare")
            return _failure("stun-error", code=error[0], reason=error[1])
        if message.type == stun.BINDING_REQUEST:
            return _failure("echo")
        if message.type != stun.BINDING_SUCCESS:
            return _failure("unexpected", type=message.type)
        mapped = message.reflexive
    except stun.StunError as exc:
        return _failure("malformed", detail=str(exc))
    if mapped is None:
        return _failure("no-mapped")
    return mapped


class StunSession(Session[StunResult]):
    """One server, one transaction.  `txid` is the 96-bit transaction id (the caller's random
    bytes: the session holds no randomness, so a test can fabricate the answer)."""

    def __init__(
        self,
        host: str,
        port: int = STUN_PORT,
        *,
        timeout: float = 3.0,
        version: int | None = None,
        txid: bytes | None = None,
    ) -> None:
        self.host, self.port, self.version = host, port, version
        self.timeout = timeout
        self.txid = txid if txid is not None else os.urandom(12)
        self.request = stun.build_binding_request(self.txid, fingerprint=True)
        self.endpoint = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.out: list[Any] = []
        self.started = 0
        self.deadline = 0
        self.server: str | None = None
        self.channel: int | None = None
        self.local: tuple[str, int] | None = None
        self.next_send: int | None = None
        self.rto = round(STUN_RTO * NS)
        self.sent = 0
        self.ignored = 0
        self.mapped: stun.MappedAddress | None = None
        self.failure: SourceFailure | None = None
        self.answered_at: int | None = None
        self.ended_at: int | None = None
        self.interrupted = False

    @property
    def done(self) -> bool:
        return self.mapped is not None or self.failure is not None or self.interrupted

    def start(self, now: int) -> None:
        self.started = now
        self.deadline = now + round(self.timeout * NS)
        address = literal(self.host)
        if self.version is not None and address is not None and address.version != self.version:
            self._fail(now, _failure("family", host=self.host, version=self.version))
            return
        self.out.append(Lookup(1, self.host, version=self.version, wait=self.timeout))

    def poll(self, now: int) -> Step:
        if self.failure is not None and self.ended_at is None:
            self.ended_at = now  # a failure the driver gave no stamp for (a channel not opened)
        if not self.done and now >= self.deadline:
            self._fail(now, _failure("no-answer", sent=self.sent, ignored=self.ignored))
            self.failure = _cut(self.failure, "timeout", self.timeout)
        if not self.done and self.channel is not None and self.next_send is not None:
            if now >= self.next_send:
                self.sent += 1
                address = (self.server or "", self.port)
                self.out.append(Send(self.channel, self.request, address, self.sent))
                self.next_send = now + self.rto
                self.rto *= 2
        actions, self.out = self.out, []
        wake = None if self.done else min(self.deadline, self.next_send or self.deadline)
        return Step(actions, wake, (), self.done)

    def on_lookup(self, token: int, answer: Target | ResolveError, at: int) -> None:
        if self.done:
            return
        if isinstance(answer, ResolveError):
            self._fail(at, _failure("resolve", host=self.host, reason=answer.reason))
            return
        self.server = answer.address + (f"%{answer.scope}" if answer.scope else "")
        spec = ChannelSpec("udp", answer.version, connect=(self.server, self.port), recv_ttl=False)
        self.out.append(OpenChannel(2, spec))

    def on_opened(self, token: int, channel: int, opened: Opened | int) -> None:
        if self.done:
            return
        if isinstance(opened, int):
            self._fail(None, _failure("send", server=self.server, reason=os.strerror(opened)))
            return
        self.channel = channel
        if opened.local is not None:
            self.local = (unmap(str(opened.local[0])), int(opened.local[1]))
        self.next_send = 0  # at once

    def on_sent(self, token: int, at: int, error: int | None) -> None:
        if error is not None and not self.done:
            self._fail(at, _failure("send", server=self.server, reason=os.strerror(error)))

    def on_packet(self, channel: int, packet: Received) -> None:
        if self.done:
            return
        at = packet.monotonic_ns
        if packet.error is not None:
            if packet.error.errno == errnos.ECONNREFUSED:
                self._fail(at, _failure("refused", server=self.server, port=self.port))
            else:
                reason = os.strerror(packet.error.errno)
                self._fail(at, _failure("recv", server=self.server, reason=reason))
            return
        answer = stun_answer(packet.data, self.txid)
        if answer is None:
            self.ignored += 1  # not an answer to our request: keep waiting (§6.3)
        elif isinstance(answer, SourceFailure):
            self._fail(at, answer)
        else:
            self.mapped, self.answered_at = answer, at

    def interrupt(self) -> None:
        self.interrupted = True

    def _fail(self, at: int | None, failure: SourceFailure) -> None:
        self.failure = failure
        self.ended_at = at

    def result(self) -> StunResult:
        failure = self.failure
        if self.interrupted and not (self.mapped or failure):
            failure = _failure("no-answer", sent=self.sent, ignored=self.ignored)
            failure = _cut(failure, "interrupted", None)
        end = self.answered_at if self.mapped is not None else self.ended_at
        local_address, local_port = self.local if self.local is not None else (None, None)
        return StunResult(
            endpoint=self.endpoint,
            server=self.server.split("%", 1)[0] if self.server else None,
            address=self.mapped.address if self.mapped is not None else None,
            port=self.mapped.port if self.mapped is not None else None,
            local_address=local_address,
            local_port=local_port,
            time=None if end is None else (end - self.started) / NS,
            requests=self.sent,
            ignored=self.ignored,
            error=failure,
            interrupted=self.interrupted and self.mapped is None and self.failure is None,
        )


def _cut(failure: SourceFailure | None, cut: str, after: float | None) -> SourceFailure:
    assert failure is not None
    return SourceFailure(failure.kind, failure.params, failure.http, cut, after)
