"""net/tls.py: the one TLS-details type, and the views `port --tls` and `http` pin on it."""

from __future__ import annotations

import datetime as dt
import math
import random

from netladder.net.tls import TlsInfo, cert_time_iso, hostname_matches, validity_state


def info(not_before: str, not_after: str, checked_at: float) -> TlsInfo:
    return TlsInfo(
        "TLSv1.3", "TLS_AES_128_GCM_SHA256", None, "CN=a", "CN=b", (), not_before, not_after,
        False, False, checked_at,
    )  # fmt: skip


def test_days_left_and_not_after_keep_port_s_formats() -> None:
    rng = random.Random(14)
    for _ in range(2000):
        now = 1_780_000_000 + rng.uniform(-1e8, 1e8)
        end = 1_780_000_000 + rng.randrange(-(10**8), 10**8)
        not_after = cert_time_iso(
            dt.datetime.fromtimestamp(end, dt.UTC).strftime("%b %d %H:%M:%S %Y GMT")
        )
        record = info("", not_after, now)
        # What `port --tls` computed before: a datetime difference's whole days, isoformat().
        expires = dt.datetime.fromisoformat(not_after)
        assert record.days_left == (expires - dt.datetime.fromtimestamp(now, dt.UTC)).days
        assert record.not_after_offset == expires.isoformat()
        assert math.isclose(record.days_to_expiry, (end - now) / 86400, abs_tol=1e-9)


def test_validity_is_read_at_the_time_the_certificate_was_checked() -> None:
    start, end = "2026-06-01T00:00:00Z", "2026-07-01T00:00:00Z"
    june = dt.datetime(2026, 6, 15, tzinfo=dt.UTC).timestamp()
    may = dt.datetime(2026, 5, 15, tzinfo=dt.UTC).timestamp()
    august = dt.datetime(2026, 8, 1, tzinfo=dt.UTC).timestamp()
    assert info(start, end, june).validity == "valid"
    assert info(start, end, may).validity == "not_yet_valid"
    assert info(start, end, august).validity == "expired"
    assert info("", "", june).validity == "unknown"
    assert math.isnan(info("", "", june).days_to_expiry) and info("", "", june).days_left == 0
    assert validity_state(start, end, june) == "valid"


def test_a_failed_handshake_is_a_record_with_its_reason() -> None:
    failed = TlsInfo.failed("WRONG_VERSION_NUMBER", checked_at=5.0)
    assert failed.error == "WRONG_VERSION_NUMBER" and failed.version == ""
    assert failed.checked_at == 5.0 and failed.validity == "unknown"


def test_hostile_certificate_times_read_as_unknown() -> None:
    assert cert_time_iso("Jan  1 00:00:00 0000 GMT") == ""
    assert cert_time_iso("") == ""


def test_hostname_matching_follows_rfc_6125() -> None:
    sans = [("DNS", "*.lab"), ("DNS", "www.example"), ("IP Address", "198.51.100.10")]
    assert hostname_matches("a.lab", sans)
    assert not hostname_matches("a.b.lab", sans)  # a wildcard covers one label
    assert hostname_matches("WWW.example.", sans)
    assert hostname_matches("198.51.100.10", sans)
    assert not hostname_matches("198.51.100.11", sans)
