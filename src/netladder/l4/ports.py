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


def _service(text: str, proto: str) -> int | None:
    """The port /etc/services gives a name (`ssh`, `http-alt`), or None."""
    if not text.isascii():
        return None
    try:
        return socket.getservbyname(text.lower(), proto)
    except OSError:
        return None


def _port(text: str, proto: str) -> int | None:
    """A port number (0-9 digits only: str.isdigit() also takes '٢٢') or service name; None
    when it is neither.  UsageError for a number out of range."""
    if text.isascii() and text.isdigit():
        value = int(text)
        if not 1 <= value <= 65535:
            raise UsageError("port {value} is out of range (1-65535)", value=value)
        return value
    return _service(text, proto)


def _port_number(text: str, proto: str) -> int:
    text = text.strip()
    if not text:
        raise UsageError("empty port in the port list")
    value = _port(text, proto)
    if value is not None:
        return value
    if text.isdigit():  # digits, but not 0-9
        raise UsageError("bad port {text!r}: write port numbers with the digits 0-9", text=text)
    raise UsageError(
        "unknown service name {text!r} (not in /etc/services for {proto})", text=text, proto=proto
    )


def _range(item: str, proto: str) -> range:
    """`low-high` (either end may be a service name, and may be left out: `-1024`, `1024-`)."""
    low_text, _, high_text = (part.strip() for part in item.partition("-"))
    low = _port(low_text, proto) if low_text else 1
    high = _port(high_text, proto) if high_text else 65535
    if low is None or high is None:
        bad = [t for t, v in ((low_text, low), (high_text, high)) if v is None]
        if len(bad) > 1:
            raise UsageError(
                "bad port range {item!r}: {first!r} and {second!r} are neither a port number "
                "(1-65535, digits 0-9) nor a service name in /etc/services for {proto}",
                item=item,
                first=bad[0],
                second=bad[1],
                proto=proto,
            )
        raise UsageError(
            "bad port range {item!r}: {what!r} is neither a port number (1-65535, digits 0-9) "
            "nor a service name in /etc/services for {proto}",
            item=item,
            what=bad[0],
            proto=proto,
        )
    if low > high:
        raise UsageError(
            "reversed port range {item!r} (write {high}-{low})", item=item, high=high, low=low
        )
    return range(low, high + 1)


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
        if item.startswith("-"):
            raise UsageError("bad port {item!r} (ports are 1-65535)", item=item)
        named = _service(item, proto) if "-" in item else None
        if named is not None:  # a name with a dash in it (http-alt, ms-sql-s): not a range
            ports.add(named)
        elif "-" in item:
            ports.update(_range(item, proto))
        else:
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
