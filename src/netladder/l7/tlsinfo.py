"""TLS details of a connection: protocol, cipher, ALPN and the peer certificate (subject,
issuer, SANs, validity, hostname match), read from an ssl object after the handshake; and the
one sentence about a certificate's validity that every command prints (`describe_validity`)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from netladder.net.tls import (
    cert_time_iso,
    decode_der,
    hostname_matches,
    is_ip,
    name_text,
    validity_state,
)
from netladder.net.tls import (
    iso_seconds as _seconds,
)

if TYPE_CHECKING:
    import ssl

__all__ = [
    "TlsInfo",
    "cert_time_iso",
    "describe_validity",
    "hostname_matches",
    "is_ip",
    "tls_info",
    "validity_state",
]


@dataclass(frozen=True, slots=True)
class TlsInfo:
    version: str
    cipher: str
    alpn: str | None
    subject: str
    issuer: str
    sans: tuple[str, ...]
    not_before: str
    not_after: str
    days_to_expiry: float
    hostname_match: bool
    verified: bool  # the chain was verified (False with --insecure)
    # "valid" | "expired" | "not_yet_valid" | "unknown" (a time that could not be read), now
    validity: str = "unknown"


def tls_info(ssl_object: ssl.SSLObject, host: str, verified: bool) -> TlsInfo:
    cert: dict[str, Any] = dict(ssl_object.getpeercert() or {})
    if not cert:
        # Not verified (--insecure): the decoded form is only given for a verified peer, so
        # decode the DER ourselves through the ssl module's own decoder.
        der = ssl_object.getpeercert(binary_form=True)
        if der:
            cert = decode_der(der)
    subject = name_text(cert.get("subject", ()))
    issuer = name_text(cert.get("issuer", ()))
    sans = tuple(f"{kind}:{value}" for kind, value in cert.get("subjectAltName", ()))
    not_after = cert_time_iso(str(cert.get("notAfter", "")))
    not_before = cert_time_iso(str(cert.get("notBefore", "")))
    now = time.time()
    expires = _seconds(not_after)
    days = float("nan") if expires is None else (expires - now) / 86400
    cipher = ssl_object.cipher()
    return TlsInfo(
        version=ssl_object.version() or "",
        cipher=cipher[0] if cipher else "",
        alpn=ssl_object.selected_alpn_protocol(),
        subject=subject,
        issuer=issuer,
        sans=sans,
        not_before=not_before,
        not_after=not_after,
        days_to_expiry=days,
        hostname_match=hostname_matches(host, cert.get("subjectAltName", ())),
        verified=verified,
        validity=validity_state(not_before, not_after, now),
    )


def _days(seconds: float) -> str:
    days = int(abs(seconds) // 86400)  # whole days, as certificate tools count them
    if days == 0:
        return "less than a day"
    return f"{days} day{'s' if days != 1 else ''}"


def describe_validity(
    not_before: str, not_after: str, now: float | None = None
) -> tuple[str, bool]:
    """The validity of a certificate in the words every command uses, and whether it is a
    problem: "expires 2026-07-01 (in 29 days)"; "EXPIRED 2026-05-01 (36 days ago)";
    "NOT YET VALID: valid from 2026-07-01 (in 3 days), expires 2026-08-01"; "expiry unknown".
    `not_before` may be "" when a caller does not have it."""
    now = time.time() if now is None else now
    state = validity_state(not_before, not_after, now)
    end = _seconds(not_after)
    if state == "not_yet_valid":
        start = _seconds(not_before)
        assert start is not None
        tail = f", expires {not_after[:10]}" if end is not None else ""
        return f"NOT YET VALID: valid from {not_before[:10]} (in {_days(start - now)}){tail}", True
    if end is None:
        return "expiry unknown", False
    if state == "expired":
        return f"EXPIRED {not_after[:10]} ({_days(now - end)} ago)", True
    return f"expires {not_after[:10]} (in {_days(end - now)})", False
