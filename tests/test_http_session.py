"""l7/session.py without a socket: the HTTP check fed fabricated answers on a fake clock —
HTTP/1.1 framings, 1xx, redirects, truncation and hostile heads, HTTP/2 from h2's own server
side, and timings that are the differences of the driver's stamps (as curl's -w points)."""

from __future__ import annotations

import errno
from typing import Any

import h2.config
import h2.connection
import h2.events
import pytest

from netladder.l7.model import HttpCheck, HttpOptions
from netladder.l7.parse import parse_url
from netladder.l7.session import HttpSession
from netladder.net.session import Close, Connect, Lookup, StartTls, Step, Write
from netladder.render.http import sentence
from sessions import FakeClock, connected, looked_up, start, stream, tls_done, written

SERVER = "198.51.100.10"


def session(url: str = f"http://{SERVER}/", **options: Any) -> HttpSession:
    return HttpSession(HttpOptions(url, **options), parse_url(url))


def up(s: HttpSession, clock: FakeClock, token: int = 1, address: str = SERVER) -> Step:
    """Answer the lookup and the connect of request `token` (1 ms each); the next step."""
    s.poll(clock.now)  # a redirect's request starts on the poll after its hop was an event
    clock.advance(0.001)
    looked_up(s, token, address, address, clock)
    step = s.poll(clock.now)
    assert [type(a) for a in step.actions] == [Connect]
    clock.advance(0.001)
    connected(s, token, clock)
    return s.poll(clock.now)


def fetch(
    chunks: list[bytes], url: str = f"http://{SERVER}/", eof: bool = True, **options: Any
) -> tuple[HttpCheck, bytes, list[Step]]:
    """One plain request answered with `chunks`: the check, what was written, every step."""
    clock = FakeClock()
    s = session(url, **options)
    first = start(s, clock, opened=[])
    assert isinstance(first.actions[0], Lookup)
    request = up(s, clock)
    steps = stream(s, 1, chunks, clock, spacing=0.001, eof=eof)
    return s.result(), written([request]), steps


def message(check: HttpCheck) -> str:
    assert check.error is not None
    return sentence(check.error)


# -- HTTP/1.1 ---------------------------------------------------------------------------------


def test_the_request_is_curls_and_a_length_delimited_answer_ends_the_check() -> None:
    check, request, steps = fetch(
        [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", b"\r\nhel", b"lo"],
        eof=False,
        method="GET",
        keep_body=100,
    )
    assert request.startswith(b"GET / HTTP/1.1\r\nHost: 198.51.100.10\r\nUser-Agent: netladder/")
    assert request.endswith(b"\r\nAccept: */*\r\n\r\n")
    assert check.ok and check.status == 200 and check.final.body == b"hello"
    # done on the byte that completed the content, the connection closed (no EOF needed)
    assert steps[-1].done and Close(1) in steps[-1].actions


def test_chunked_content_is_decoded_and_a_bad_chunk_size_is_named() -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    check, _, _ = fetch(
        [head, b"5\r\nhel", b"lo\r\n6\r\n world\r\n0\r\n\r\n"], eof=False, method="GET"
    )
    assert check.error is None and check.final.body_bytes == 11
    check, _, _ = fetch([head, b"zz\r\nhello\r\n"], eof=False, method="GET")
    assert check.error is not None and check.error.phase == "body"
    assert message(check) == "invalid chunked content: invalid chunk size b'zz'"


def test_content_without_a_length_runs_to_the_close() -> None:
    check, _, steps = fetch([b"HTTP/1.1 200 OK\r\n\r\nall ", b"of it"], method="GET", keep_body=100)
    assert not steps[-2].done and steps[-1].done  # only the end of the stream ends it
    assert check.ok and check.final.body == b"all of it"


def test_informational_answers_come_before_the_final_one_and_a_flood_is_refused() -> None:
    check, _, _ = fetch(
        [
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\n\r\n",
            b"HTTP/1.1 204 No\r\n\r\n",
        ],
        eof=False,
    )
    assert check.final.interim == (100, 103) and check.status == 204
    flood = [b"HTTP/1.1 100 Continue\r\n\r\n"] * 11 + [b"HTTP/1.1 200 OK\r\n\r\n"]
    check, _, steps = fetch(flood, eof=False)
    assert message(check) == "more than 10 informational (1xx) responses"
    assert check.final.interim == ()  # no response came: none is shown
    assert steps[10].done  # stopped at the eleventh, without reading on


def test_truncation_in_the_head_and_in_the_content_says_where() -> None:
    check, _, _ = fetch([])
    assert message(check) == "the server closed the connection before sending anything"
    check, _, _ = fetch([b"HTTP/1.1 200 OK\r\nServ"])
    assert message(check) == (
        "the server closed the connection after 21 bytes, in the middle of the response head"
    )
    check, _, _ = fetch([b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello"], method="GET")
    assert message(check) == (
        "the server closed the connection after 5 bytes of content, before its end"
    )
    assert check.final.status == 200 and check.final.timings.total is None


def test_conflicting_lengths_and_an_endless_head_are_refused_at_once() -> None:
    check, _, _ = fetch(
        [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"],
        eof=False,
        method="GET",
    )
    assert message(check) == "conflicting Content-Length values: '5', '6'"
    endless = [b"HTTP/1.1 200 OK\r\n"] + [b"X-A: 1\r\n" * 50] * 10
    check, _, steps = fetch(endless, eof=False)
    assert message(check) == "more than 200 response header fields"
    assert steps[5].done and not steps[4].done  # refused when the limit was crossed


def test_content_is_counted_to_max_body_and_kept_to_keep_body() -> None:
    check, _, _ = fetch(
        [b"HTTP/1.1 200 OK\r\n\r\n", b"x" * 100, b"y" * 100],
        eof=False,
        method="GET",
        max_body=150,
        keep_body=10,
    )
    hop = check.final
    assert hop.body_truncated and hop.body_bytes == 150 and hop.body == b"x" * 10
    assert check.error is None


def test_a_reset_says_where_it_struck_and_how_much_had_come() -> None:
    clock = FakeClock()
    s = session(method="GET")
    start(s, clock, opened=[])
    up(s, clock)
    stream(s, 1, [b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\nabc"], clock, eof=False)
    s.on_error(1, errno.ECONNRESET, clock.now)
    assert s.poll(clock.now).done
    assert message(s.result()) == (
        "connection reset by the server in the middle of the content (42 bytes received)"
    )


def test_silence_ends_at_the_deadline_in_the_phase_it_struck() -> None:
    clock = FakeClock()
    s = session(timeout=2.0)
    first = start(s, clock, opened=[])
    assert first.wake_at == clock.at(2.0)  # the driver wakes it then, not before
    step = up(s, clock)
    assert isinstance(step.actions[0], Write)
    clock.advance(2.0)
    step = s.poll(clock.now)
    assert step.done and Close(1) in step.actions
    check = s.result()
    assert check.error is not None and check.error.phase == "timeout"
    assert message(check) == "timed out waiting for the response head after 2 s (0 bytes received)"
    assert check.total == pytest.approx(2.002)


def test_timings_are_the_differences_of_the_drivers_stamps() -> None:
    clock = FakeClock()
    s = session(method="GET")
    start(s, clock, opened=[])
    clock.advance(0.004)
    looked_up(s, 1, SERVER, SERVER, clock)
    s.poll(clock.now)
    clock.advance(0.010)
    connected(s, 1, clock)
    clock.advance(0.001)  # the turn that writes the request
    s.poll(clock.now)
    clock.advance(0.150)
    stream(s, 1, [b"HTTP/1.1 200 OK\r\n\r\n", b"x"], clock, spacing=0.020)
    t = s.result().final.timings
    assert (t.namelookup, t.connect, t.appconnect, t.pretransfer) == (0.004, 0.014, 0.0, 0.015)
    assert (t.starttransfer, t.total) == (0.165, 0.185)
    assert (t.dns, t.tcp, t.tls, t.server, t.transfer) == pytest.approx(
        (0.004, 0.010, 0.001, 0.150, 0.020)
    )


# -- redirects ------------------------------------------------------------------------------------


def redirect_chain(s: HttpSession, clock: FakeClock, answers: list[bytes]) -> list[Step]:
    """Answer request k (token k) with answers[k-1], each on its own connection."""
    start(s, clock, opened=[])
    steps = []
    for token, answer in enumerate(answers, 1):
        up(s, clock, token)
        steps += stream(s, token, [answer], clock, eof=False)
    return steps


def test_a_relative_redirect_is_followed_and_303_turns_post_into_get() -> None:
    clock = FakeClock()
    s = session(f"http://{SERVER}/a", method="POST", body=b"x=1", follow=True)
    start(s, clock, opened=[])
    request = up(s, clock)
    assert written([request]).endswith(b"Content-Length: 3\r\n\r\nx=1")
    steps = stream(
        s,
        1,
        [b"HTTP/1.1 303 See Other\r\nLocation: b?c=1\r\nContent-Length: 0\r\n\r\n"],
        clock,
        eof=False,
    )
    # The hop first — a caller may refuse its target (serve's allowlist) — and nothing, not
    # even a lookup, goes towards the target in the same step; the request on the next poll.
    assert steps[-1].wake_at == clock.now and steps[-1].events
    assert not any(isinstance(a, Lookup) for a in steps[-1].actions)
    (lookup,) = s.poll(clock.now).actions
    assert isinstance(lookup, Lookup) and (lookup.token, lookup.host) == (2, SERVER)
    assert lookup.wait == pytest.approx(10 - 0.002)  # what is left of the check's deadline
    clock.advance(0.001)
    looked_up(s, 2, SERVER, SERVER, clock)
    s.poll(clock.now)
    connected(s, 2, clock)
    second = s.poll(clock.now)
    assert written([second]).startswith(b"GET /b?c=1 HTTP/1.1\r\n")
    assert b"x=1" not in written([second])  # the content stays behind with the method
    stream(s, 2, [b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"], clock, eof=False)
    check = s.result()
    assert [h.status for h in check.hops] == [303, 200] and check.redirects == 1
    assert check.hops[0].location == f"http://{SERVER}/b?c=1" and check.method == "POST"


def test_a_redirect_loop_and_a_bad_target_are_failed_checks() -> None:
    clock = FakeClock()
    s = session(f"http://{SERVER}/a", follow=True)
    redirect_chain(
        s,
        clock,
        [
            b"HTTP/1.1 302 Found\r\nLocation: /b\r\n\r\n",
            b"HTTP/1.1 307 Temporary\r\nLocation: /a\r\n\r\n",
        ],
    )
    check = s.result()
    assert message(check) == (
        f"redirect loop: http://{SERVER}/a → http://{SERVER}/b → http://{SERVER}/a"
    )
    clock = FakeClock()
    s = session(f"http://{SERVER}/", follow=True)
    redirect_chain(s, clock, [b"HTTP/1.1 302 Found\r\nLocation: http://[::1\r\n\r\n"])
    check = s.result()
    assert check.error is not None and check.error.phase == "redirect"
    assert message(check) == (
        "cannot follow the redirect: malformed URL 'http://[::1': bad IPv6 address"
    )
    assert check.hops[0].location is None and len(check.hops) == 1


def test_each_hop_is_an_event_as_it_completes() -> None:
    clock = FakeClock()
    s = session(f"http://{SERVER}/a", follow=True, max_redirs=1)
    steps = redirect_chain(
        s,
        clock,
        [
            b"HTTP/1.1 301 Moved\r\nLocation: /b\r\n\r\n",
            b"HTTP/1.1 301 Moved\r\nLocation: /c\r\n\r\n",
        ],
    )
    events = [e for step in steps for e in step.events]
    assert [e.status for e in events] == [301, 301]
    assert message(s.result()) == "more than 1 redirects"


def test_an_interrupted_check_keeps_the_hops_it_completed() -> None:
    clock = FakeClock()
    s = session(f"http://{SERVER}/a", follow=True)
    redirect_chain(s, clock, [b"HTTP/1.1 302 Found\r\nLocation: /slow\r\n\r\n"])
    up(s, clock, 2)
    s.interrupt()
    check = s.result()
    assert check.interrupted and [h.status for h in check.hops] == [302]
    assert check.partial().hops[0].body is None


# -- TLS and HTTP/2 ----------------------------------------------------------------------------


def test_https_asks_for_tls_with_the_name_and_alpn_then_a_failure_is_the_certificates() -> None:
    clock = FakeClock()
    s = session("https://www.lab/", http2=True, cacert="/ca.pem")
    start(s, clock, opened=[])
    step = up(s, clock)
    assert step.actions == [StartTls(1, "www.lab", True, "/ca.pem", ("h2", "http/1.1"))]
    tls_done(s, 1, clock, error="certificate has expired", cause="certificate")
    assert s.poll(clock.now).done
    assert message(s.result()) == "certificate verify failed: certificate has expired"


class H2Server:
    """h2's own server side: reads what the session wrote, answers with real frames."""

    def __init__(self) -> None:
        config = h2.config.H2Configuration(client_side=False, header_encoding=None)
        self.conn = h2.connection.H2Connection(config)
        self.conn.initiate_connection()
        self.requests: list[h2.events.RequestReceived] = []

    def hear(self, data: bytes) -> None:
        for event in self.conn.receive_data(data):
            if isinstance(event, h2.events.RequestReceived):
                self.requests.append(event)

    def say(self) -> bytes:
        return self.conn.data_to_send()


def h2_exchange(s: HttpSession, clock: FakeClock) -> tuple[H2Server, Step]:
    start(s, clock, opened=[])
    up(s, clock)
    clock.advance(0.002)
    tls_done(s, 1, clock, alpn="h2")
    step = s.poll(clock.now)
    server = H2Server()
    server.hear(written([step]))
    return server, step


def test_http2_headers_and_data_make_the_response() -> None:
    clock = FakeClock()
    s = session("https://www.lab/ok", http2=True, method="GET", keep_body=100)
    server, _ = h2_exchange(s, clock)
    (request,) = server.requests
    fields = dict(request.headers)
    assert fields[b":method"] == b"GET" and fields[b":authority"] == b"www.lab"
    server.conn.send_headers(1, [(":status", "200"), ("server", "lab")])
    server.conn.send_data(1, b"hello", end_stream=True)
    steps = stream(s, 1, [server.say()], clock, eof=False)
    check = s.result()
    assert steps[-1].done and check.ok and check.final.http_version == "HTTP/2"
    assert check.final.headers == (("server", "lab"),) and check.final.body == b"hello"
    assert check.final.tls is not None and check.final.tls.alpn == "h2"


def test_http2_refuses_a_1xx_flood_and_names_a_reset_stream() -> None:
    clock = FakeClock()
    s = session("https://www.lab/", http2=True)
    server, _ = h2_exchange(s, clock)
    for _ in range(11):
        server.conn.send_headers(1, [(":status", "100")])
    stream(s, 1, [server.say()], clock, eof=False)
    assert message(s.result()) == "more than 10 informational (1xx) responses"

    clock = FakeClock()
    s = session("https://www.lab/", http2=True)
    server, _ = h2_exchange(s, clock)
    server.conn.reset_stream(1, error_code=2)
    stream(s, 1, [server.say()], clock, eof=False)
    assert message(s.result()) == "the server reset the stream (error code 2)"


def test_http2_bytes_that_are_not_a_settings_frame_are_refused_at_once() -> None:
    clock = FakeClock()
    s = session("https://www.lab/", http2=True)
    h2_exchange(s, clock)
    steps = stream(s, 1, [b"HTTP/1.1 200 OK\r\n\r\n"], clock, eof=False)
    assert steps[-1].done
    assert message(s.result()).startswith(
        "HTTP/2 protocol error: the server's first frame is not SETTINGS (RFC 9113 §3.4)"
    )


def test_a_name_that_does_not_resolve_is_a_dns_failure() -> None:
    clock = FakeClock()
    s = session("http://nope.lab/")
    start(s, clock, opened=[])
    looked_up(s, 1, "nope.lab", "Name or service not known", clock)
    assert s.poll(clock.now).done
    check = s.result()
    assert check.error is not None and check.error.phase == "dns"
    assert message(check) == "could not resolve 'nope.lab': Name or service not known"


def test_a_refused_connect_names_the_address_and_the_errno() -> None:
    clock = FakeClock()
    s = session()
    start(s, clock, opened=[])
    looked_up(s, 1, SERVER, SERVER, clock)
    s.poll(clock.now)
    connected(s, 1, clock, error=errno.ECONNREFUSED)
    assert s.poll(clock.now).done
    check = s.result()
    assert check.final.address is None and check.final.timings.namelookup is not None
    assert message(check) == (
        f"connect to {SERVER} port 80 failed: Connection refused (ECONNREFUSED)"
    )
