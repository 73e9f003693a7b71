"""A line dialogue over TCP, as blackbox_exporter's tcp prober has it (prober/tcp.go,
query_response): connect (TLS at once when asked), then per step read lines until a regular
expression matches one, send a line filled from the match's groups, and upgrade to TLS
(STARTTLS) when the step says so.  A sans-IO session (net/session.py) over one kept
connection of the driver.

A hostile peer never hangs or floods it: the whole dialogue has one deadline, and a line
longer than `max_line` bytes ends it (bufio.Scanner's "token too long").  What happened comes
back as typed events (DialogueEvent) and one DialogueEnd; the sentences are the caller's.
"""

from __future__ import annotations

import re
from typing import Any

from netladder.l4.model import (
    DialogueEnd,
    DialogueEvent,
    DialogueKind,
    DialogueOptions,
    DialogueResult,
)
from netladder.net.session import (
    Close,
    Connect,
    ConnectOutcome,
    Session,
    StartTls,
    Step,
    TlsOutcome,
    Write,
)
from netladder.net.tls import TlsInfo

__all__ = ["DialogueSession", "go_expand"]

NS = 1_000_000_000
_TEMPLATE = re.compile(r"\$\$|\$\{(\w+)\}|\$(\w+)")


def go_expand(template: str, match: re.Match[str]) -> str:
    """Go's regexp.Expand: `$1`, `${1}`, `$name`, `${name}`, `$$`; an unknown group is empty."""

    def one(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1) or m.group(2)
        try:
            return match.group(int(name) if name.isdigit() else name) or ""
        except IndexError:
            return ""

    return _TEMPLATE.sub(one, template)


class DialogueSession(Session[DialogueResult]):
    """Run `options.steps` over a connection to `options.address`:`options.port`."""

    def __init__(self, options: DialogueOptions) -> None:
        self.options = options
        self.timeout = round(options.timeout * NS)
        self.phase = "connect"  # connect, tls, expect, starttls, done
        self.started = 0
        self.due = 0
        self.pending: list[Any] = []
        self.events: list[DialogueEvent] = []
        self.step = 0
        self.entered = False  # the current step's ENTRY event is out
        self.buffer = bytearray()  # bytes read and not yet a line
        self.eof = False
        self.last_line = ""
        self.end = DialogueEnd.TIMEOUT
        self.error = 0
        self.immediate = False
        self.tls: TlsInfo | None = None
        self.tls_error: str | None = None
        self.tls_reason: str | None = None
        self.tls_cause: str | None = None
        self.read_error: int | None = None
        self.connected_at: int | None = None
        self.ended = 0

    def _start_tls(self) -> StartTls:
        o = self.options
        return StartTls(0, o.server_name, verify=o.verify, cafile=o.cafile)

    def start(self, now: int) -> None:
        o = self.options
        self.started = now
        self.due = now + self.timeout
        self.pending.append(
            Connect(0, o.address, o.port, source=o.source, keep=True, netns=o.netns)
        )

    def poll(self, now: int) -> Step:
        if self.phase != "done" and now >= self.due:
            self._finish(DialogueEnd.TIMEOUT, now)
        actions, self.pending = self.pending, []
        if self.phase == "done":
            return Step(actions, None, (), True)
        return Step(actions, self.due)

    def on_connect(self, token: int, outcome: ConnectOutcome) -> None:
        if self.phase != "connect":
            return
        if outcome.error:
            self.error, self.immediate = outcome.error, outcome.immediate
            self._finish(DialogueEnd.CONNECT, outcome.at, close=False)
        elif self.options.tls:
            self.phase = "tls"
            self.pending.append(self._start_tls())
        else:
            self.connected_at = outcome.at
            self._run(outcome.at)

    def on_tls(self, token: int, outcome: TlsOutcome) -> None:
        if self.phase not in ("tls", "starttls"):
            return
        at_connect = self.phase == "tls"
        if outcome.error is not None:
            self.tls_error, self.tls_reason = outcome.error, outcome.reason
            self.tls_cause = outcome.cause
            self._finish(DialogueEnd.TLS if at_connect else DialogueEnd.STARTTLS, outcome.at)
            return
        if at_connect:
            self.tls = outcome.info
            self.connected_at = outcome.at
        else:
            self.events.append(DialogueEvent(DialogueKind.TLS, self.step, tls=outcome.info))
            self._next_step()
        self._run(outcome.at)

    def on_data(self, token: int, data: bytes, at: int) -> None:
        if self.phase == "done" or self.eof:
            return
        if data:
            self.buffer += data
        else:
            self.eof = True
        if self.phase == "expect":
            self._run(at)

    def on_error(self, token: int, error: int, at: int) -> None:
        if self.phase != "done":
            self.read_error = error
            end = DialogueEnd.TLS if self.phase == "tls" else DialogueEnd.BROKEN
            self._finish(end, at, close=False)

    def interrupt(self) -> None:
        if self.phase != "done":
            self._finish(DialogueEnd.TIMEOUT, self.started)

    def _next_step(self) -> None:
        self.step += 1
        self.entered = False
        self.last_line = ""

    def _run(self, at: int) -> None:
        """Run steps from the current one until one waits for input or a handshake."""
        steps = self.options.steps
        while self.step < len(steps):
            step = steps[self.step]
            if not self.entered:
                self.entered = True
                self.events.append(DialogueEvent(DialogueKind.ENTRY, self.step))
            send = step.send
            if step.expect is not None:
                match = self._expect(step.expect, at)
                if match is None:
                    return  # waiting for more, or finished
                send = go_expand(send, match)
            if send:
                self.events.append(DialogueEvent(DialogueKind.SENT, self.step, send))
                self.pending.append(Write(0, send.encode("utf-8") + b"\n"))
            if step.starttls:
                self.events.append(DialogueEvent(DialogueKind.STARTTLS, self.step))
                self.phase = "starttls"
                self.pending.append(self._start_tls())
                return
            self._next_step()
        self._finish(DialogueEnd.DONE, at)

    def _expect(self, expect: re.Pattern[str], at: int) -> re.Match[str] | None:
        """Read lines until one matches `expect`: the match, or None when more must come
        first (phase "expect") or the dialogue ended (a mismatch, a line too long)."""
        limit = self.options.max_line
        while True:
            end = self.buffer.find(b"\n")
            if end > limit or (end < 0 and len(self.buffer) > limit):
                self._finish(DialogueEnd.TOO_LONG, at)
                return None
            if end >= 0:
                raw = bytes(self.buffer[: end + 1])
                del self.buffer[: end + 1]
            elif not self.eof:
                self.phase = "expect"
                return None
            elif self.buffer:  # the last line, without its line end
                raw = bytes(self.buffer)
                self.buffer.clear()
            else:
                self._finish(DialogueEnd.MISMATCH, at)
                return None
            line = raw.rstrip(b"\n").rstrip(b"\r").decode("utf-8", "replace")
            self.last_line = line
            self.events.append(DialogueEvent(DialogueKind.READ, self.step, line))
            match = expect.search(line)
            if match is not None:
                self.events.append(DialogueEvent(DialogueKind.MATCHED, self.step, line))
                return match

    def _finish(self, end: DialogueEnd, at: int, close: bool = True) -> None:
        self.end = end
        self.ended = max(at, self.started)
        if close:
            self.pending.append(Close(0))
        self.phase = "done"

    def result(self) -> DialogueResult:
        return DialogueResult(
            self.end,
            tuple(self.events),
            self.step,
            self.error,
            self.immediate,
            self.tls,
            self.tls_error,
            self.tls_reason,
            self.tls_cause,
            self.last_line,
            self.read_error,
            None if self.connected_at is None else (self.connected_at - self.started) / NS,
            (self.ended - self.started) / NS,
        )
