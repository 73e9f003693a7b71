"""serve's tcp prober dialogue (blackbox's query_response) as a DialogueSession over
fabricated connections (issue 14 point 6): an expect that matches with groups, one that never
matches before the timeout, STARTTLS, a peer that closes mid-line, an endless line — no
socket, no root.  test_serve_http.py runs the same dialogues through `netladder serve` against
a real loopback server, and test_serve_blackbox.py beside blackbox_exporter."""

from __future__ import annotations

import errno
import re

from netladder.l4.dialogue import DialogueSession, go_expand
from netladder.l4.model import (
    DialogueEnd,
    DialogueKind,
    DialogueOptions,
    DialogueStep,
)
from netladder.net.session import Close, Connect, StartTls, Step, TlsOutcome, Write
from sessions import FakeClock, connected, stream, tls_done, written

ADDRESS = "198.51.100.10"


def opened(session: DialogueSession, clock: FakeClock) -> Step:
    session.start(clock.now)
    step = session.poll(clock.now)
    (connect,) = step.actions
    assert isinstance(connect, Connect) and connect.keep and connect.port == 6667
    clock.advance(0.001)
    connected(session, 0, clock)
    return session.poll(clock.now)


def kinds(session: DialogueSession) -> list[tuple[str, int, str]]:
    return [(e.kind.value, e.index, e.line) for e in session.result().events]


IRC = (
    DialogueStep(send="NICK prober"),
    DialogueStep(send="USER prober prober prober :prober"),
    DialogueStep(re.compile(r"PING :([^ ]+)"), "PONG ${1}"),
    DialogueStep(re.compile(r"^:[^ ]+ 001 (?P<nick>\w+)"), "JOIN #$nick"),
)


def test_an_expect_matches_with_groups_and_fills_the_next_line() -> None:
    clock = FakeClock()
    session = DialogueSession(DialogueOptions(ADDRESS, 6667, IRC, timeout=5.0))
    first = opened(session, clock)
    # The two sends without an expect go out at once, each with its newline.
    assert written([first]) == b"NICK prober\nUSER prober prober prober :prober\n"
    assert not first.done
    # A line in two pieces, a line that does not match, then the ones that do.
    steps = stream(
        session,
        0,
        [b":irc.lab NOTICE * :hel", b"lo\r\nPING :12", b"345\r\n:irc.lab 001 prober :Welcome\r\n"],
        clock,
        spacing=0.01,
        eof=False,
    )
    assert written(steps) == b"PONG 12345\nJOIN #prober\n"
    assert steps[-1].done and isinstance(steps[-1].actions[-1], Close)
    result = session.result()
    assert result.end is DialogueEnd.DONE and result.connect_time == 0.001
    assert kinds(session) == [
        ("entry", 0, ""),
        ("sent", 0, "NICK prober"),
        ("entry", 1, ""),
        ("sent", 1, "USER prober prober prober :prober"),
        ("entry", 2, ""),
        ("read", 2, ":irc.lab NOTICE * :hello"),
        ("read", 2, "PING :12345"),
        ("matched", 2, "PING :12345"),
        ("sent", 2, "PONG 12345"),
        ("entry", 3, ""),
        ("read", 3, ":irc.lab 001 prober :Welcome"),
        ("matched", 3, ":irc.lab 001 prober :Welcome"),
        ("sent", 3, "JOIN #prober"),
    ]


def test_go_expand_is_gos_regexp_expand() -> None:
    match = re.search(r"(?P<a>x)(y)?", "x")
    assert match is not None
    assert go_expand("$1-${a}-$2-$9-$$-$a", match) == "x-x---$-x"


def test_an_expect_that_never_matches_ends_at_the_timeout_with_what_was_read() -> None:
    clock = FakeClock()
    steps = (DialogueStep(re.compile("^SSH-2.0-")),)
    session = DialogueSession(DialogueOptions(ADDRESS, 6667, steps, timeout=2.0))
    step = opened(session, clock)
    assert step.wake_at == clock.at(2.0 - 0.001)  # one deadline from the start
    stream(session, 0, [b"220 mail.lab ESMTP\r\n"], clock, eof=False)
    clock.advance(1.0)
    assert not session.poll(clock.now).done  # silent, before the deadline: still waiting
    clock.advance(1.0)
    step = session.poll(clock.now)
    assert step.done and isinstance(step.actions[-1], Close)
    result = session.result()
    assert result.end is DialogueEnd.TIMEOUT and result.step == 0
    assert kinds(session) == [("entry", 0, ""), ("read", 0, "220 mail.lab ESMTP")]


def test_the_stream_ending_before_a_match_is_a_mismatch_naming_the_last_line() -> None:
    clock = FakeClock()
    steps = (DialogueStep(re.compile("^SSH-2.0-")),)
    session = DialogueSession(DialogueOptions(ADDRESS, 6667, steps, timeout=2.0))
    opened(session, clock)
    final = stream(session, 0, [b"first\r\n", b"second\n"], clock)  # then the end of stream
    assert final[-1].done
    result = session.result()
    assert result.end is DialogueEnd.MISMATCH and result.last_line == "second"


def test_a_peer_that_closes_mid_line_still_has_its_last_line_read() -> None:
    clock = FakeClock()
    steps = (DialogueStep(re.compile(r"^220 (\S+)"), "EHLO $1"),)
    session = DialogueSession(DialogueOptions(ADDRESS, 6667, steps, timeout=2.0))
    opened(session, clock)
    final = stream(session, 0, [b"220 mail.l", b"ab"], clock)  # no line end, then closed
    assert final[-1].done and written(final) == b"EHLO mail.lab\n"
    assert session.result().end is DialogueEnd.DONE
    # Closed mid-line without a match: a mismatch on that partial line.
    clock = FakeClock()
    session = DialogueSession(DialogueOptions(ADDRESS, 6667, steps, timeout=2.0))
    opened(session, clock)
    stream(session, 0, [b"421 go aw"], clock)
    result = session.result()
    assert result.end is DialogueEnd.MISMATCH and result.last_line == "421 go aw"


def test_a_reset_mid_dialogue_is_broken_with_its_errno() -> None:
    clock = FakeClock()
    steps = (DialogueStep(re.compile("^OK")),)
    session = DialogueSession(DialogueOptions(ADDRESS, 6667, steps, timeout=2.0))
    opened(session, clock)
    stream(session, 0, [b"WAIT"], clock, eof=False)
    session.on_error(0, errno.ECONNRESET, clock.now)
    step = session.poll(clock.now)
    assert step.done and not any(isinstance(a, Close) for a in step.actions)  # already closed
    result = session.result()
    assert result.end is DialogueEnd.BROKEN and result.read_error == errno.ECONNRESET


def test_an_endless_line_ends_the_dialogue_at_the_line_limit() -> None:
    clock = FakeClock()
    steps = (DialogueStep(re.compile("never")),)
    session = DialogueSession(DialogueOptions(ADDRESS, 6667, steps, timeout=2.0, max_line=1024))
    opened(session, clock)
    steps_seen = stream(session, 0, [b"A" * 1000, b"A" * 24], clock, eof=False)
    assert not steps_seen[-1].done  # 1024 bytes without a line end: still a line
    steps_seen = stream(session, 0, [b"A" * 4096] * 64, clock, eof=False)
    assert steps_seen[0].done  # one byte past the limit ends it: the rest is never read
    result = session.result()
    assert result.end is DialogueEnd.TOO_LONG and result.events[-1].kind is DialogueKind.ENTRY
    assert len(session.buffer) <= 1024 + 4096


def test_starttls_upgrades_after_the_send_and_the_dialogue_goes_on_inside() -> None:
    clock = FakeClock()
    steps = (
        DialogueStep(re.compile("^220 "), "STARTTLS", starttls=True),
        DialogueStep(send="EHLO prober"),
        DialogueStep(re.compile("^250 ")),
    )
    options = DialogueOptions(
        ADDRESS, 6667, steps, server_name="mail.lab", cafile="/ca.pem", timeout=5.0
    )
    session = DialogueSession(options)
    opened(session, clock)
    step = stream(session, 0, [b"220 ready\r\n"], clock, eof=False)[-1]
    # The line first, then the handshake on the same connection: in this order.
    assert [type(a) for a in step.actions] == [Write, StartTls]
    assert written([step]) == b"STARTTLS\n"
    assert step.actions[1] == StartTls(0, "mail.lab", verify=True, cafile="/ca.pem")
    assert session.poll(clock.now).actions == []  # nothing more until the handshake ends
    clock.advance(0.01)
    tls_done(session, 0, clock)
    step = session.poll(clock.now)
    assert written([step]) == b"EHLO prober\n" and not step.done
    step = stream(session, 0, [b"250 ok\r\n"], clock, eof=False)[-1]
    assert step.done
    result = session.result()
    assert result.end is DialogueEnd.DONE
    tls = [e for e in result.events if e.kind is DialogueKind.TLS]
    assert len(tls) == 1 and tls[0].tls is not None and tls[0].tls.version == "TLSv1.3"
    assert [e.kind.value for e in result.events][:5] == [
        "entry",
        "read",
        "matched",
        "sent",
        "starttls",
    ]


def test_a_failed_starttls_ends_it_with_openssls_reason() -> None:
    clock = FakeClock()
    steps = (DialogueStep(starttls=True), DialogueStep(send="never sent"))
    session = DialogueSession(DialogueOptions(ADDRESS, 6667, steps, timeout=5.0))
    opened(session, clock)
    failed = TlsOutcome(
        clock.now, "certificate verify failed", None, False, "certificate",
        "CERTIFICATE_VERIFY_FAILED",
    )  # fmt: skip
    session.on_tls(0, failed)
    step = session.poll(clock.now)
    assert step.done and written([step]) == b""
    result = session.result()
    assert result.end is DialogueEnd.STARTTLS and result.step == 0
    assert (result.tls_reason, result.tls_cause) == ("CERTIFICATE_VERIFY_FAILED", "certificate")


def test_tls_at_connect_comes_before_any_step_and_a_refused_connect_ends_it() -> None:
    clock = FakeClock()
    steps = (DialogueStep(send="hello"),)
    session = DialogueSession(DialogueOptions(ADDRESS, 6667, steps, tls=True, timeout=5.0))
    session.start(clock.now)
    session.poll(clock.now)
    connected(session, 0, clock)
    step = session.poll(clock.now)
    assert [type(a) for a in step.actions] == [StartTls]
    tls_done(session, 0, clock)
    step = session.poll(clock.now)
    assert written([step]) == b"hello\n" and step.done
    assert session.result().tls is not None
    refused = DialogueSession(DialogueOptions(ADDRESS, 6667, steps, timeout=5.0))
    refused.start(clock.now)
    refused.poll(clock.now)
    connected(refused, 0, clock, error=errno.ECONNREFUSED)
    step = refused.poll(clock.now)
    assert step.done and step.actions == []
    result = refused.result()
    assert (result.end, result.error) == (DialogueEnd.CONNECT, errno.ECONNREFUSED)
    assert result.events == ()
