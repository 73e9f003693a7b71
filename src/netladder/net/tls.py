"""TLS details of a connection, the one type every prober reports them in: protocol, cipher,
ALPN and the peer certificate (subject, issuer, SANs, validity, hostname match), read from an
ssl object after the handshake — verified or not (`port --tls`, `http -k`).

The driver builds a `TlsInfo` for every `StartTls` (`TlsOutcome.info`); a command shows the part
it pinned through a `model.json_pick` view (`port`: `days_left` and the `+00:00` form of
`not_after`; `http`: `days_to_expiry` and `validity`), never through a second type.  Sentences
about a certificate (expires in N days, EXPIRED, NOT YET VALID) belong to the renderers.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from netladder.proto.certtime import iso_seconds, validity_state
from netladder.proto.record import record

if TYPE_CHECKING:
    import ssl

__all__ = [
    "TlsInfo",
    "cert_time_iso",
    "decode_der",
    "hostname_matches",
    "is_ip",
    "iso_seconds",
    "name_text",
    "tls_info",
    "validity_state",
]


@record
class TlsInfo:
    """A completed handshake (or, with `error`, one that failed: the other fields empty)."""

    version: str  # "TLSv1.3"
    cipher: str
    alpn: str | None
    subject: str  # "CN=server.lab, O=Lab"
    issuer: str
    sans: tuple[str, ...]  # ("DNS:www.lab", "IP Address:198.51.100.10")
    not_before: str  # ISO 8601 UTC, "2026-06-01T12:00:00Z"; "" when unreadable
    not_after: str
    hostname_match: bool
    verified: bool  # the chain was verified (False with --insecure / port --tls)
    checked_at: float  # wall clock (Unix seconds) when the certificate was read
    error: str | None = None  # the handshake failed: why

    @property
    def not_after_s(self) -> float | None:
        """notAfter as a Unix time; None when unreadable."""
        return iso_seconds(self.not_after)

    @property
    def days_to_expiry(self) -> float:
        """Days from `checked_at` to notAfter (negative once expired); NaN when unreadable."""
        end = self.not_after_s
        return float("nan") if end is None else (end - self.checked_at) / 86400

    @property
    def days_left(self) -> int:
        """Whole days to notAfter, floored as a datetime difference's `.days` (port --tls);
        0 when unreadable."""
        end = self.not_after_s
        return 0 if end is None else int((end - self.checked_at) // 86400)

    @property
    def not_after_offset(self) -> str:
        """notAfter as `datetime.isoformat()` writes it ("2026-07-01T12:00:00+00:00")."""
        return self.not_after[:-1] + "+00:00" if self.not_after.endswith("Z") else self.not_after

    @property
    def validity(self) -> str:
        """ "valid", "expired", "not_yet_valid" or "unknown", at `checked_at`."""
        return validity_state(self.not_before, self.not_after, self.checked_at)

    @classmethod
    def failed(cls, error: str, checked_at: float | None = None) -> TlsInfo:
        """A handshake that did not complete, and why."""
        at = time.time() if checked_at is None else checked_at
        return cls("", "", None, "", "", (), "", "", False, False, at, error)


def tls_info(
    ssl_object: ssl.SSLObject | ssl.SSLSocket,
    host: str,
    verified: bool,
    checked_at: float | None = None,
) -> TlsInfo:
    """The details of a completed handshake, for the name the client asked for (`host`)."""
    cert: dict[str, Any] = dict(ssl_object.getpeercert() or {})
    if not cert:
        # Not verified: ssl decodes the certificate only for a verified peer, so decode the
        # DER form with the ssl module's own decoder.
        der = ssl_object.getpeercert(binary_form=True)
        if der:
            cert = decode_der(der)
    cipher = ssl_object.cipher()
    return TlsInfo(
        version=ssl_object.version() or "",
        cipher=cipher[0] if cipher else "",
        alpn=ssl_object.selected_alpn_protocol(),
        subject=name_text(cert.get("subject", ())),
        issuer=name_text(cert.get("issuer", ())),
        sans=tuple(f"{kind}:{value}" for kind, value in cert.get("subjectAltName", ())),
        not_before=cert_time_iso(str(cert.get("notBefore", ""))),
        not_after=cert_time_iso(str(cert.get("notAfter", ""))),
        hostname_match=hostname_matches(host, cert.get("subjectAltName", ())),
        verified=verified,
        checked_at=time.time() if checked_at is None else checked_at,
    )


_SHORT_NAMES = {
    "commonName": "CN",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "localityName": "L",
    "stateOrProvinceName": "ST",
}


def name_text(rdns: Sequence[Sequence[tuple[str, str]]] | None) -> str:
    """ssl's decoded name ((('commonName', 'x'),), …) as `CN=x, O=y`."""
    return ", ".join(f"{_SHORT_NAMES.get(k, k)}={v}" for rdn in rdns or () for k, v in rdn)


def decode_der(der: bytes) -> dict[str, Any]:
    """The certificate's fields as ssl.getpeercert() gives them, also for a certificate the
    handshake did not verify.  CPython's own decoder only reads files, hence the temporary
    file; {} on other Pythons or an undecodable certificate (never raises)."""
    import os
    import ssl
    import tempfile

    decode = getattr(getattr(ssl, "_ssl", None), "_test_decode_cert", None)
    if decode is None:  # pragma: no cover - other Pythons
        return {}
    fd, path = tempfile.mkstemp(suffix=".pem")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(ssl.DER_cert_to_PEM_cert(der))
        result: dict[str, Any] = decode(path)
        return result
    except (OSError, ValueError):
        return {}
    finally:
        os.unlink(path)


def cert_time_iso(when: str) -> str:
    """ssl's "Jun  1 12:00:00 2026 GMT" as ISO 8601 UTC; "" when it cannot be read (a
    hostile certificate may say year 0, which neither ssl nor datetime takes)."""
    if not when:
        return ""
    import datetime
    import ssl

    try:
        seconds = ssl.cert_time_to_seconds(when)
        moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    except (ValueError, OverflowError, OSError):
        return ""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def hostname_matches(host: str, sans: Sequence[tuple[str, str]]) -> bool:
    """RFC 6125 §6.4: DNS names (a wildcard only as the whole leftmost label) and IP SANs."""
    import ipaddress

    host = host.lower().rstrip(".")
    if is_ip(host):
        ip = ipaddress.ip_address(host.split("%", 1)[0])
        return any(kind == "IP Address" and _same_ip(value, ip) for kind, value in sans)
    for kind, value in sans:
        if kind != "DNS":
            continue
        pattern = value.lower().rstrip(".")
        if pattern == host:
            return True
        if pattern.startswith("*.") and "." in host:
            if host.split(".", 1)[1] == pattern[2:] and host.split(".", 1)[0]:
                return True
    return False


def _same_ip(value: str, ip: object) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(value.strip()) == ip
    except ValueError:
        return False


def is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True
