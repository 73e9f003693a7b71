"""The client's input parsing, its phases, and certificate name matching (net/tls.py); pure —
the session is in tests/test_http_session.py, the network side in tests/test_http.py."""

from __future__ import annotations

import pytest

from netladder.l7.client import (
    join_location,
    parse_expect,
    parse_header,
    parse_resolve,
    parse_slo,
    parse_url,
)
from netladder.l7.model import Timings
from netladder.net.tls import hostname_matches


@pytest.mark.parametrize(
    ("text", "scheme", "host", "port", "target", "normal"),
    [
        ("http://198.51.100.10/", "http", "198.51.100.10", 80, "/", "http://198.51.100.10/"),
        ("198.51.100.10", "http", "198.51.100.10", 80, "/", "http://198.51.100.10/"),
        (
            "HTTPS://WWW.Lab.Test:8443/a?b=1#frag",
            "https",
            "www.lab.test",
            8443,
            "/a?b=1",
            "https://www.lab.test:8443/a?b=1",
        ),
        (
            "https://[2001:db8::1]:443/x",
            "https",
            "2001:db8::1",
            443,
            "/x",
            "https://[2001:db8::1]/x",
        ),
    ],
)
def test_urls(text: str, scheme: str, host: str, port: int, target: str, normal: str) -> None:
    url = parse_url(text)
    assert (url.scheme, url.host, url.port, url.target, url.text) == (
        scheme,
        host,
        port,
        target,
        normal,
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ftp://h/", "unsupported scheme"),
        ("http://", "no host"),
        ("http://h:0/", "port"),
        ("http://h:x/", "malformed"),
        ("http://[nope]/", "IPv6"),
        ("http://a b/", "malformed"),
        ("http://h_!/", "bad host"),
        ("", "malformed"),
        # values a server may put in Location: each one ValueError, never anything else
        ("http://[::1", "bad IPv6 address"),
        ("http://h:٢٢/", "bad port"),
        ("http://h:+80/", "port"),
        ("http://a..b/", "empty or too long label"),
        ("http://" + "a" * 64 + ".test/", "too long"),
        ("http://h\x00/", "malformed"),
    ],
)
def test_bad_urls(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_url(text)


def test_expect_slo_header_and_resolve() -> None:
    assert parse_expect("200,3xx,400-404") == ((200, 200), (300, 399), (400, 404))
    assert parse_slo("total=500, ttfb=200.5") == (("total", 0.5), ("ttfb", 0.2005))
    assert parse_header("X-A:  1 ") == ("X-A", "1")
    assert parse_header("Accept:") == ("Accept", "")
    assert parse_resolve("www.lab.test:443:[2001:db8::2]") == (("www.lab.test", 443), "2001:db8::2")
    for bad in ("7xx", "200-", "abc", "600"):
        with pytest.raises(ValueError):
            parse_expect(bad)
    for bad in ("total", "total=abc", "total=0", "total=inf", "speed=5"):
        with pytest.raises(ValueError):
            parse_slo(bad)


@pytest.mark.parametrize(
    ("host", "sans", "ok"),
    [
        ("www.lab.test", [("DNS", "www.lab.test")], True),
        ("WWW.lab.test.", [("DNS", "www.lab.test")], True),
        ("a.lab.test", [("DNS", "*.lab.test")], True),
        ("a.b.lab.test", [("DNS", "*.lab.test")], False),  # a wildcard covers one label only
        ("lab.test", [("DNS", "*.lab.test")], False),
        ("other.test", [("DNS", "www.lab.test")], False),
        ("198.51.100.18", [("IP Address", "198.51.100.18")], True),
        ("198.51.100.18", [("DNS", "198.51.100.18")], False),  # an address needs an IP SAN
        ("2001:db8::2", [("IP Address", "2001:DB8:0:0:0:0:0:2")], True),
    ],
)
def test_hostname_matching_follows_rfc_6125(
    host: str, sans: list[tuple[str, str]], ok: bool
) -> None:
    assert hostname_matches(host, sans) is ok


def test_phases_are_differences_of_curls_points() -> None:
    ms = 1_000_000
    t = Timings.from_ns(
        {
            "namelookup": 1 * ms,
            "connect": 3 * ms,
            "appconnect": 10 * ms,
            "pretransfer": 10 * ms + ms // 2,
            "starttransfer": 110 * ms + ms // 2,
            "total": 111 * ms,
        }
    )
    assert (t.dns, t.tcp, t.tls, t.server, t.transfer) == (0.001, 0.002, 0.0075, 0.1, 0.0005)
    partial = Timings.from_ns({"namelookup": 1 * ms, "connect": 3 * ms})
    assert partial.tcp == 0.002 and partial.server is None


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("http://caf\u00e9.lab.test/", "http://xn--caf-dma.lab.test/"),  # IDNA, as curl's libidn2
        ("http://h/caf\u00e9?q=\u20ac", "http://h/caf%C3%A9?q=%E2%82%AC"),  # RFC 3987 §3.1
        ("http://h/a\x1bb", "http://h/a%1Bb"),  # a control character is never sent raw
        ("http://h:/x", "http://h/x"),  # an empty port is the default (RFC 3986 §3.2.3)
    ],
)
def test_urls_are_made_safe_to_send(text: str, normal: str) -> None:
    assert parse_url(text).text == normal


def test_a_location_joins_or_says_it_cannot() -> None:
    assert join_location("http://h/a/b", "../c") == "http://h/c"
    assert join_location("http://h/a", "//other/x") == "http://other/x"
    assert join_location("http://h/", "http://[::1") is None


def test_expect_and_slo_refuse_what_would_be_misread() -> None:
    with pytest.raises(ValueError, match="reversed"):
        parse_expect("404-400")
    with pytest.raises(ValueError, match="given twice"):
        parse_slo("total=1,total=9999")
    with pytest.raises(ValueError, match="same phase"):
        parse_slo("server=1,processing=2")
    for bad in ("٢٠٠", "²⁰⁰", "200-٢٠٤"):
        with pytest.raises(ValueError):
            parse_expect(bad)
    with pytest.raises(ValueError):
        parse_resolve("h:٨٠:198.51.100.1")
    with pytest.raises(ValueError, match="control"):
        parse_header("X-A: a\x00b")
