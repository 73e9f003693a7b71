"""Port lists as users write them: `22`, `20-25`, `22,80,443`, `1-65535`, `top`, `ssh,http`."""

from __future__ import annotations

import socket

from netladder.errors import UsageError

__all__ = ["TOP_TCP", "TOP_UDP", "parse_ports", "service_name"]

# The 100 most frequently open TCP ports by nmap's measured frequencies (nmap-services, the
# list `nmap -F` scans), ascending.
TOP_TCP: tuple[int, ...] = (
    7,
    9,
    13,
    21,
    22,
    23,
    25,
    26,
    37,
    53,
    79,
    80,
    81,
    88,
    106,
    110,
    111,
    113,
    119,
    135,
    139,
    143,
    144,
    179,
    199,
    389,
    427,
    443,
    444,
    445,
    465,
    513,
    514,
    515,
    543,
    544,
    548,
    554,
    587,
    631,
    646,
    873,
    990,
    993,
    995,
    1025,
    1026,
    1027,
    1028,
    1029,
    1110,
    1433,
    1720,
    1723,
    1755,
    1900,
    2000,
    2001,
    2049,
    2121,
    2717,
    3000,
    3128,
    3306,
    3389,
    3986,
    4899,
    5000,
    5009,
    5051,
    5060,
    5101,
    5190,
    5357,
    5432,
    5631,
    5666,
    5800,
    5900,
    6000,
    6001,
    6646,
    7070,
    8000,
    8008,
    8009,
    8080,
    8081,
    8443,
    8888,
    9100,
    9999,
    10000,
    32768,
    49152,
    49153,
    49154,
    49155,
    49156,
    49157,
)
# The 20 most frequently open UDP ports (same source), ascending.
TOP_UDP: tuple[int, ...] = (
    53,
    67,
    68,
    69,
    123,
    135,
    137,
    138,
    139,
    161,
    162,
    445,
    500,
    514,
    520,
    631,
    1434,
    1900,
    4500,
    49152,
)


def _port_number(text: str, proto: str) -> int:
    text = text.strip()
    if not text:
        raise UsageError("empty port in the port list")
    if text.isdigit():
        value = int(text)
        if not 1 <= value <= 65535:
            raise UsageError(f"port {value} is out of range (1-65535)")
        return value
    try:
        return socket.getservbyname(text.lower(), proto)
    except OSError:
        raise UsageError(
            f"unknown service name {text!r} (not in /etc/services for {proto})"
        ) from None


def parse_ports(text: str, proto: str = "tcp") -> tuple[int, ...]:
    """Ports in ascending order without duplicates; UsageError for anything malformed."""
    if not text.strip():
        raise UsageError("empty port list")
    ports: set[int] = set()
    for item in text.split(","):
        item = item.strip()
        if item.lower() == "top":
            ports.update(TOP_TCP if proto == "tcp" else TOP_UDP)
            continue
        if "-" in item and not item.startswith("-"):
            low_text, _, high_text = item.partition("-")
            low = _port_number(low_text, proto) if low_text.strip() else 1
            high = _port_number(high_text, proto) if high_text.strip() else 65535
            if low > high:
                raise UsageError(f"reversed port range {item!r} (write {high}-{low})")
            ports.update(range(low, high + 1))
            continue
        if item.startswith("-"):
            raise UsageError(f"bad port {item!r} (ports are 1-65535)")
        ports.add(_port_number(item, proto))
    return tuple(sorted(ports))


_NAMES: dict[tuple[int, str], str] = {}


def service_name(port: int, proto: str = "tcp") -> str:
    """The system's name for a port (`ssh`), or '' when it has none."""
    key = (port, proto)
    if key not in _NAMES:
        try:
            _NAMES[key] = socket.getservbyport(port, proto)
        except OSError:
            _NAMES[key] = ""
    return _NAMES[key]
