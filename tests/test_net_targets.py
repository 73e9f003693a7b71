"""The one target resolver: one validation for every command, literals as given, names once."""

from __future__ import annotations

import asyncio

import pytest

from netladder.errors import UsageError
from netladder.net.driver import lookup
from netladder.net.targets import check_host, literal, resolve, split_host_port


@pytest.mark.parametrize(
    "text",
    [
        "198.51.100.10",
        "2001:db8::1",
        "[2001:db8::1]",
        "fe80::1%eth0",
        "www.lab",
        "www.lab.",
        "a-b.example",
        "_dmarc.example",
        "localhost",
    ],
)
def test_addresses_and_host_names_are_accepted(text: str) -> None:
    assert check_host(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "300.1.2.3",
        "1.2.3",
        "a b",
        "-x",
        ".lab",
        "lab..x",
        "ex!ample",
        "٢٢.lab",
        "a" * 64,
        ".".join(["a" * 60] * 5),
        "ünicode.lab",
    ],
)
def test_what_is_neither_an_address_nor_a_name_is_bad_input(text: str) -> None:
    with pytest.raises(UsageError):
        check_host(text)


def test_a_literal_is_normalised_and_keeps_its_scope() -> None:
    t = resolve("2001:DB8:0::1")
    assert (t.name, t.address, t.version, t.is_literal) == ("2001:DB8:0::1", "2001:db8::1", 6, True)
    t = resolve("[fe80::1%lo]")
    assert (t.address, t.scope) == ("fe80::1", "lo")
    assert resolve("198.51.100.10").name == "198.51.100.10"
    with pytest.raises(UsageError, match="not an IPv6 address"):
        resolve("198.51.100.10", 6)


def test_split_host_port_takes_ascii_ports_in_range() -> None:
    assert split_host_port("www.lab:8080") == ("www.lab", 8080)
    assert split_host_port("[2001:db8::1]:22") == ("2001:db8::1", 22)
    assert split_host_port("2001:db8::1") == ("2001:db8::1", None)
    for bad in ("www.lab:٢٢", "www.lab:0", "www.lab:65536", "[::1]x", "[::1"):
        with pytest.raises(UsageError):
            split_host_port(bad)


def test_split_host_port_says_a_bad_bracket_in_english_and_as_a_template() -> None:
    from netladder import i18n

    with pytest.raises(UsageError) as missing:
        split_host_port("[::1", "--to")
    with pytest.raises(UsageError) as after:
        split_host_port("[::1]x", "--to")
    assert str(missing.value) == "--to: missing ']'"
    assert str(after.value) == "--to: expected ':PORT' after ']'"
    i18n.set_language("ko")
    try:
        assert missing.value.render(i18n._) == "--to: ']'가 빠졌습니다"
        assert after.value.render(i18n._) == "--to: ']' 뒤에 ':포트'가 와야 합니다"
    finally:
        i18n.set_language("en")


def test_names_resolve_through_the_system_resolver_with_a_preferred_family() -> None:
    # /etc/hosts names localhost for both families on Debian; nothing leaves the machine.
    t = resolve("localhost", prefer=6)
    assert t.version in (4, 6) and not t.is_literal and t.lookup_s > 0
    assert resolve("localhost", 4).address == "127.0.0.1"
    assert asyncio.run(lookup("localhost", 4)).address == "127.0.0.1"
    assert literal("[::1]") is not None and literal("www.lab") is None
