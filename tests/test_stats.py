"""Statistics as iputils ping and fping compute them (pure functions, table-driven)."""

from __future__ import annotations

import math

import pytest

from netladder.errors import UsageError
from netladder.l3.stats import (
    fmt_loss,
    fmt_reply_us,
    fping_loss,
    iputils_rtt,
    loss_percent,
    rtt_stats,
)
from netladder.l3.targets import block_size, expand, parse_range


@pytest.mark.parametrize(
    ("samples_us", "line"),
    [
        # hand-computed with iputils' integer arithmetic (ping_common.c: finish())
        ([1000, 2000, 3000], "rtt min/avg/max/mdev = 1.000/2.000/3.000/0.816 ms"),
        ([287, 465, 408], "rtt min/avg/max/mdev = 0.287/0.386/0.465/0.074 ms"),
        ([45], "rtt min/avg/max/mdev = 0.045/0.045/0.045/0.000 ms"),
        ([100_000, 300_000], "rtt min/avg/max/mdev = 100.000/200.000/300.000/100.000 ms"),
    ],
)
def test_iputils_summary_line_uses_integer_microseconds(samples_us: list[int], line: str) -> None:
    rtt = iputils_rtt(samples_us)
    assert rtt is not None and rtt.line() == line


@pytest.mark.parametrize(
    ("us", "text"),
    [
        # ping_common.c gather_statistics(): µs below 1 ms, then rounded half up
        (0, "0.000"),
        (222, "0.222"),
        (999, "0.999"),
        (1000, "1.00"),
        (1004, "1.00"),
        (1005, "1.01"),
        (9994, "9.99"),
        (9995, "10.0"),
        (10_049, "10.0"),
        (10_050, "10.1"),
        (99_949, "99.9"),
        (99_950, "100"),
        (123_456, "123"),
        (1_234_567, "1235"),
    ],
)
def test_reply_time_is_printed_from_whole_microseconds_like_iputils(us: int, text: str) -> None:
    assert fmt_reply_us(us) == text


def test_no_samples_no_rtt_line() -> None:
    assert iputils_rtt([]) is None and rtt_stats([]) is None


@pytest.mark.parametrize(
    ("sent", "received", "text"),
    [
        (3, 2, "33.3333"),
        (4, 3, "25"),
        (10, 10, "0"),
        (1, 0, "100"),
        (0, 0, "0"),
        (7, 1, "85.7143"),
    ],
)
def test_loss_is_printed_like_c_percent_g(sent: int, received: int, text: str) -> None:
    assert fmt_loss(loss_percent(sent, received)) == text


def test_duplicates_do_not_count_as_received_but_do_count_in_rtt() -> None:
    # 2 probes, 2 replies + 1 duplicate: loss 0 %, statistics over 3 samples.
    assert loss_percent(2, 2) == 0
    rtt = iputils_rtt([1000, 1000, 4000])
    assert rtt is not None and rtt.avg_us == 2000


def test_fping_loss_is_an_integer_percentage() -> None:
    assert fping_loss(3, 1) == 66 and fping_loss(4, 4) == 0 and fping_loss(0, 0) == 0


def test_extra_statistics_median_p95_jitter_and_sample_sd() -> None:
    stats = rtt_stats([1.0, 3.0, 2.0, 4.0])
    assert stats is not None
    assert stats.median_ms == 2.5
    assert stats.p95_ms == pytest.approx(3.85)
    assert stats.jitter_ms == pytest.approx((2 + 1 + 2) / 3)
    assert stats.mdev_ms == pytest.approx(math.sqrt(1.25))  # population SD, as iputils
    assert stats.sd_ms == pytest.approx(math.sqrt(5 / 3))  # sample SD, as mtr


@pytest.mark.parametrize(
    ("block", "first", "size"),
    [
        ("198.18.0.0/30", "198.18.0.1", 2),
        ("198.18.0.0/31", "198.18.0.0", 2),
        ("198.18.0.7/32", "198.18.0.7", 1),
        ("198.18.0.0/16", "198.18.0.1", 65534),
        ("198.18.1.77/24", "198.18.1.1", 254),  # host bits ignored, like fping -g
        ("2001:db8::/126", "2001:db8::1", 3),
    ],
)
def test_cidr_expansion_skips_network_and_broadcast_like_fping(
    block: str, first: str, size: int
) -> None:
    import ipaddress

    addresses = list(expand(block))
    assert len(addresses) == size == block_size(block)
    assert str(ipaddress.ip_address(addresses[0])) == first


@pytest.mark.parametrize("bad", ["198.18.0.0/33", "198.18.0.300/24", "nonsense/8", "0.0.0.0/0"])
def test_bad_or_huge_cidr_is_a_usage_error(bad: str) -> None:
    with pytest.raises(UsageError):
        list(expand(bad))


def test_ewma_is_iputils_fixed_point_smoothing() -> None:
    from netladder.l3.stats import ewma_us

    # rtt8 = 8·1000, then 8000 + 2000 − 8000/8 = 9000 → 1125 µs
    assert ewma_us([1000, 2000]) == 1125 and ewma_us([]) == 0


@pytest.mark.parametrize(
    ("text", "first", "size"),
    [
        ("198.18.0.1-198.18.0.20", "198.18.0.1", 20),  # both ends included, like fping -g A B
        ("198.18.0.0-198.18.1.255", "198.18.0.0", 512),  # nothing skipped inside
        ("198.18.0.7-198.18.0.7", "198.18.0.7", 1),
        ("2001:db8::1-2001:db8::3", "2001:db8::1", 3),
    ],
)
def test_a_range_is_every_address_from_a_to_b(text: str, first: str, size: int) -> None:
    import ipaddress

    found = parse_range(text)
    assert found is not None and found.size == size
    addresses = list(found.addresses())
    assert len(addresses) == size and str(ipaddress.ip_address(addresses[0])) == first


@pytest.mark.parametrize("name", ["my-host", "a-b.example", "198.18.0.1-", "-198.18.0.1", "x"])
def test_a_name_with_a_dash_is_not_a_range(name: str) -> None:
    assert parse_range(name) is None


@pytest.mark.parametrize(
    "bad", ["198.18.0.9-198.18.0.1", "198.18.0.1-2001:db8::1", "2001:db8::-2001:db8:1::"]
)
def test_a_reversed_mixed_or_huge_range_is_a_usage_error(bad: str) -> None:
    with pytest.raises(UsageError):
        parse_range(bad)
