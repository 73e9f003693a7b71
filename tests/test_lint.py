"""The response lint: every RFC 9110 rule fires on a bad response and stays quiet on a good one.

(The same rules against real responses from the lab's scripted server: tests/test_http.py.)
"""

from __future__ import annotations

import pytest

from netladder.l7.lint import RULES, Exchange, Finding, lint, valid_retry_after
from netladder.render.http import sentence


def message(finding: Finding) -> str:
    """A finding's words: the renderer's template for its rule, filled with what it saw."""
    return sentence(finding)


DATE = ("Date", "Wed, 25 Nov 2026 10:00:00 GMT")
H = tuple[tuple[str, str], ...]


def x(
    status: int,
    *headers: tuple[str, str],
    method: str = "GET",
    content: int = 0,
    date: bool = True,
    get: tuple[int, H] | None = None,
) -> Exchange:
    hs = ((DATE,) if date else ()) + headers
    return Exchange(method, status, hs, content, get[0] if get else None, get[1] if get else None)


# rule id -> (a response that breaks it, one that keeps it)
CASES: dict[str, tuple[Exchange, Exchange]] = {
    "www-authenticate": (
        x(401, content=5),
        x(401, ("WWW-Authenticate", 'Basic realm="x"'), content=5),
    ),
    "proxy-authenticate": (x(407, content=5), x(407, ("Proxy-Authenticate", "Basic"), content=5)),
    "allow": (x(405, content=5), x(405, ("Allow", "GET, HEAD"), content=5)),
    "upgrade": (x(426, content=5), x(426, ("Upgrade", "h2c"), content=5)),
    "redirect-location": (x(308), x(308, ("Location", "/new"))),
    "see-other-location": (x(303), x(303, ("Location", "/result"))),
    "created-location": (x(201), x(201, ("Location", "/items/1"))),
    "no-content": (x(204, content=3), x(204)),
    "no-content-length": (x(204, ("Content-Length", "0")), x(204)),
    "reset-content": (x(205, content=2), x(205)),
    "head-content": (x(200, method="HEAD", content=5), x(200, method="HEAD")),
    "head-like-get": (
        x(
            200,
            ("Content-Type", "text/plain"),
            method="HEAD",
            get=(200, (DATE, ("Content-Type", "text/html"))),
        ),
        x(
            200,
            ("Content-Type", "text/plain"),
            method="HEAD",
            get=(200, (("Date", "other"), ("Content-Type", "text/plain"))),
        ),
    ),
    "content-range": (x(206, content=5), x(206, ("Content-Range", "bytes 0-4/10"), content=5)),
    "unsatisfied-range": (
        x(416, ("Content-Range", "bytes 0-1/10"), content=5),
        x(416, ("Content-Range", "bytes */10"), content=5),
    ),
    "retry-after": (
        x(503, ("Retry-After", "soon"), content=5),
        x(503, ("Retry-After", "120"), content=5),
    ),
    "date": (x(200, date=False), x(200)),
    "error-explained": (x(500), x(500, content=12)),
    "retry-after-missing": (x(503, content=5), x(503, ("Retry-After", "30"), content=5)),
    "content-length-with-transfer-encoding": (
        x(200, ("Transfer-Encoding", "chunked"), ("Content-Length", "5"), content=5),
        x(200, ("Transfer-Encoding", "chunked"), content=5),
    ),
    "content-length": (
        x(200, ("Content-Length", "5"), ("Content-Length", "6"), method="HEAD"),
        x(200, ("Content-Length", "5"), ("Content-Length", "5"), method="HEAD"),
    ),
    "location": (x(302, ("Location", "http://[::1")), x(302, ("Location", "http://[::1]/"))),
}


def test_every_rule_has_a_case() -> None:
    assert set(CASES) == set(RULES)


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_fires_on_a_bad_response_and_not_on_a_good_one(rule: str) -> None:
    bad, good = CASES[rule]
    fired = {f.rule for f in lint(bad)}
    assert rule in fired
    assert rule not in {f.rule for f in lint(good)}


def test_findings_carry_level_and_section() -> None:
    (finding,) = [f for f in lint(x(405, content=5)) if f.rule == "allow"]
    assert finding.level == "MUST" and "15.5.6" in finding.section and finding.failing
    (info,) = [f for f in lint(x(201)) if f.rule == "created-location"]
    assert not info.failing


def test_a_plain_good_response_has_no_findings() -> None:
    assert lint(x(200, ("Content-Type", "text/plain"), content=5)) == ()
    assert lint(x(404, content=10)) == ()
    assert lint(x(404, method="HEAD")) == ()  # HEAD errors need not explain themselves


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("0", True),
        ("120", True),
        ("Fri, 31 Dec 1999 23:59:59 GMT", True),
        ("Friday, 31-Dec-99 23:59:59 GMT", True),
        ("Fri Dec 31 23:59:59 1999", True),
        ("-1", False),
        ("1.5", False),
        ("soon", False),
        ("", False),
        ("١٢", False),
    ],
)
def test_retry_after_syntax(value: str, ok: bool) -> None:
    assert valid_retry_after(value) is ok


@pytest.mark.parametrize("status", [503, 429])
def test_a_missing_retry_after_is_a_hint_that_does_not_fail_lint(status: int) -> None:
    # Retry-After is a MAY (RFC 9110 §10.2.3, RFC 6585 §4): worth saying, below a SHOULD.
    (hint,) = [f for f in lint(x(status, content=5)) if f.rule == "retry-after-missing"]
    assert hint.level == "hint" and not hint.failing
    assert "§10.2.3" in hint.section and "RFC 6585 §4" in hint.section
    assert message(hint) == f"{status} without Retry-After: clients cannot tell when to retry"
    assert not [f for f in lint(x(500, content=5)) if f.rule == "retry-after-missing"]


@pytest.mark.parametrize("value", ["5, 6", "²", "-1", "0x10", "1" * 5000 + ", 2"])
def test_a_content_length_that_is_not_one_decimal_number_is_a_syntax_finding(value: str) -> None:
    (finding,) = [
        f
        for f in lint(x(200, ("Content-Length", value), method="HEAD"))
        if f.rule == "content-length"
    ]
    assert finding.failing and "RFC 9110 §8.6" in finding.section


@pytest.mark.parametrize(
    "value", ["http://[::1", "/a b", "/caf\xc3\xa9", "http://h:99999/", "/x\x1b[2J"]
)
def test_a_location_that_is_not_a_uri_reference_is_a_syntax_finding(value: str) -> None:
    (finding,) = [f for f in lint(x(302, ("Location", value))) if f.rule == "location"]
    assert finding.failing and "\x1b" not in message(finding)  # printed safely


def test_finding_messages_never_carry_raw_control_characters() -> None:
    hostile = "\x1b]0;owned\x07\x1b[2J"
    exchanges = [
        x(204, ("Content-Length", hostile)),
        x(416, ("Content-Range", hostile)),
        x(503, ("Retry-After", hostile)),
        x(302, ("Location", hostile)),
        x(200, ("Transfer-Encoding", hostile), ("Content-Length", hostile)),
        x(
            200,
            ("Content-Type", hostile),
            method="HEAD",
            get=(200, (DATE, ("Content-Type", "text/html"))),
        ),
    ]
    for exchange in exchanges:
        for finding in lint(exchange):
            assert message(finding).isprintable(), finding
