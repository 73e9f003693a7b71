"""TLS details of a connection: protocol, cipher, ALPN and the peer certificate (subject,
issuer, SANs, validity, hostname match), read from an ssl object after the handshake."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from netladder.net.certs import decode_der

if TYPE_CHECKING:
    import ssl

__all__ = ["TlsInfo", "hostname_matches", "is_ip", "tls_info"]


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



def tls_info(ssl_object: ssl.SSLObject, host: str, verified: bool) -> TlsInfo:
    import ssl

    cert: dict[str, Any] = dict(ssl_object.getpeercert() or {})
    if not cert:
        # Not verified (--insecure): the decoded form is only given for a verified peer, so
        # decode the DER ourselves through the ssl module's own decoder.
        der = ssl_object.getpeercert(binary_form=True)
        if der:
            cert = decode_der(der)
    subject = _name(cert.get("subject", ()))
    issuer = _name(cert.get("issuer", ()))
    sans = tuple(f"{kind}:{value}" for kind, value in cert.get("subjectAltName", ()))
    not_after = str(cert.get("notAfter", ""))
    not_before = str(cert.get("notBefore", ""))
    days = float("nan")
    if not_after:
        days = (ssl.cert_time_to_seconds(not_after) - time.time()) / 86400
    cipher = ssl_object.cipher()
    return TlsInfo(
        version=ssl_object.version() or "", cipher=cipher[0] if cipher else "",
        alpn=ssl_object.selected_alpn_protocol(), subject=subject, issuer=issuer, sans=sans,
        not_before=_iso(not_before), not_after=_iso(not_after), days_to_expiry=days,
        hostname_match=hostname_matches(host, cert.get("subjectAltName", ())),
        verified=verified,
    )


def _name(rdns: Sequence[Sequence[tuple[str, str]]]) -> str:
    short = {"commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU",
             "countryName": "C", "localityName": "L", "stateOrProvinceName": "ST"}
    return ", ".join(f"{short.get(k, k)}={v}" for rdn in rdns for k, v in rdn)


def _iso(when: str) -> str:
    if not when:
        return ""
    import datetime
    import ssl

    seconds = ssl.cert_time_to_seconds(when)
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def hostname_matches(host: str, sans: Sequence[tuple[str, str]]) -> bool:
    """RFC 6125 §6.4: DNS names (a wildcard only as the whole leftmost label) and IP SANs."""
    host = host.lower().rstrip(".")
    if is_ip(host):
        ip = ipaddress.ip_address(host)
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


def _same_ip(value: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    try:
        return ipaddress.ip_address(value.strip()) == ip
    except ValueError:
        return False


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True
