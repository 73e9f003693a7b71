"""net/linux.py holds the kernel's numbers: each one equals its header's, and the struct offsets
read what the running kernel writes."""

from __future__ import annotations

import re
import socket
import struct
from pathlib import Path

import pytest

from netladder.net import linux

INCLUDE = Path("/usr/include")
# constant -> (header under /usr/include, the macro it is defined by there)
HEADERS: dict[str, tuple[str, str]] = {
    "IP_MTU_DISCOVER": ("linux/in.h", "IP_MTU_DISCOVER"),
    "IP_RECVERR": ("linux/in.h", "IP_RECVERR"),
    "IP_RECVTTL": ("linux/in.h", "IP_RECVTTL"),
    "IP_MTU": ("linux/in.h", "IP_MTU"),
    "IP_PMTUDISC_DONT": ("linux/in.h", "IP_PMTUDISC_DONT"),
    "IP_PMTUDISC_DO": ("linux/in.h", "IP_PMTUDISC_DO"),
    "IPV6_CHECKSUM": ("linux/in6.h", "IPV6_CHECKSUM"),
    "IPV6_MTU_DISCOVER": ("linux/in6.h", "IPV6_MTU_DISCOVER"),
    "IPV6_MTU": ("linux/in6.h", "IPV6_MTU"),
    "IPV6_RECVERR": ("linux/in6.h", "IPV6_RECVERR"),
    "IPV6_RECVHOPLIMIT": ("linux/in6.h", "IPV6_RECVHOPLIMIT"),
    "IPV6_HOPLIMIT": ("linux/in6.h", "IPV6_HOPLIMIT"),
    "IPV6_DONTFRAG": ("linux/in6.h", "IPV6_DONTFRAG"),
    "ICMP_FILTER": ("linux/icmp.h", "ICMP_FILTER"),
    "ICMP6_FILTER": ("linux/icmpv6.h", "ICMPV6_FILTER"),
    "SO_RCVBUFFORCE": ("asm-generic/socket.h", "SO_RCVBUFFORCE"),
    "SO_TIMESTAMPNS": ("asm-generic/socket.h", "SO_TIMESTAMPNS_OLD"),
    "SO_MEMINFO": ("asm-generic/socket.h", "SO_MEMINFO"),
    "SO_EE_ORIGIN_NONE": ("linux/errqueue.h", "SO_EE_ORIGIN_NONE"),
    "SO_EE_ORIGIN_LOCAL": ("linux/errqueue.h", "SO_EE_ORIGIN_LOCAL"),
    "SO_EE_ORIGIN_ICMP": ("linux/errqueue.h", "SO_EE_ORIGIN_ICMP"),
    "SO_EE_ORIGIN_ICMP6": ("linux/errqueue.h", "SO_EE_ORIGIN_ICMP6"),
    "ETH_P_IP": ("linux/if_ether.h", "ETH_P_IP"),
    "ETH_P_ARP": ("linux/if_ether.h", "ETH_P_ARP"),
    "ETH_P_IPV6": ("linux/if_ether.h", "ETH_P_IPV6"),
    "PACKET_STATISTICS": ("linux/if_packet.h", "PACKET_STATISTICS"),
    "PACKET_HOST": ("linux/if_packet.h", "PACKET_HOST"),
    "PACKET_BROADCAST": ("linux/if_packet.h", "PACKET_BROADCAST"),
    "PACKET_MULTICAST": ("linux/if_packet.h", "PACKET_MULTICAST"),
    "PACKET_OTHERHOST": ("linux/if_packet.h", "PACKET_OTHERHOST"),
    "PACKET_OUTGOING": ("linux/if_packet.h", "PACKET_OUTGOING"),
}


def _define(header: str, macro: str) -> int | None:
    path = INCLUDE / header
    if not path.exists():
        return None
    found = re.search(rf"^#define\s+{macro}\s+(0x[0-9a-fA-F]+|\d+)\b", path.read_text(), re.M)
    return int(found.group(1), 0) if found else None


@pytest.mark.parametrize("name", sorted(HEADERS))
def test_each_constant_equals_its_header(name: str) -> None:
    header, macro = HEADERS[name]
    value = _define(header, macro)
    if value is None:
        pytest.skip(f"{header} is not installed here (linux-libc-dev)")
    assert getattr(linux, name) == value


def test_every_constant_is_checked_against_a_header_or_the_kernel() -> None:
    checked_live = {
        "SCM_TIMESTAMPNS",  # = SO_TIMESTAMPNS
        "SOL_PACKET",  # include/linux/socket.h is not a uapi header
        "TCP_INFO_RTT_OFFSET",
        "TCP_INFO_SIZE",
        "TCP_STATE_ESTABLISHED",
        "TCP_STATE_SYN_SENT",
    }
    assert set(linux.__all__) == set(HEADERS) | checked_live
    assert linux.SCM_TIMESTAMPNS == linux.SO_TIMESTAMPNS


def test_sol_packet_is_the_level_the_kernel_answers_packet_statistics_on() -> None:
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    except PermissionError:
        pytest.skip("AF_PACKET needs CAP_NET_RAW")
    with sock:
        tp_packets, tp_drops = struct.unpack(
            "=II", sock.getsockopt(linux.SOL_PACKET, linux.PACKET_STATISTICS, 8)
        )
    assert tp_drops == 0


def test_tcp_info_offsets_read_the_state_and_the_rtt_of_a_loopback_connection() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with socket.create_connection(listener.getsockname()) as client:
            info = client.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, linux.TCP_INFO_SIZE)
            assert len(info) == linux.TCP_INFO_SIZE
            assert info[0] == linux.TCP_STATE_ESTABLISHED
            (rtt_us,) = struct.unpack_from("=I", info, linux.TCP_INFO_RTT_OFFSET)
            # The handshake over loopback: more than nothing, far less than a second.
            assert 0 < rtt_us < 1_000_000
