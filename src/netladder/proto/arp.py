"""Ethernet II framing and ARP for IPv4 over Ethernet (RFC 826), with the RFC 5227 probe.

Pure codecs: `build_*` return bytes, `parse_*` return frozen dataclasses or None for bytes that
are not a whole packet of the expected kind.  MAC addresses are lower-case colon strings, IP
addresses strings, as `ip -j neigh` prints them.
"""

from __future__ import annotations

import ipaddress
import struct
from enum import IntEnum

from netladder.proto.record import record

__all__ = [
    "ARP_LEN",
    "BROADCAST_MAC",
    "ETH_HLEN",
    "ETH_P_ARP",
    "ETH_P_IPV6",
    "ZERO_MAC",
    "ArpOp",
    "ArpPacket",
    "EtherFrame",
    "build_arp",
    "build_arp_probe",
    "build_arp_request",
    "build_ether",
    "mac_bytes",
    "mac_str",
    "parse_arp",
    "parse_arp_frame",
    "parse_ether",
]

# IEEE 802 EtherTypes.
ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
ETH_HLEN = 14

BROADCAST_MAC = "ff:ff:ff:ff:ff:ff"
ZERO_MAC = "00:00:00:00:00:00"

# RFC 826: hardware type 1 = Ethernet, protocol type = IPv4's EtherType, lengths 6 and 4.
_HTYPE_ETHER = 1
_ARP_FMT = "!HHBBH6s4s6s4s"
ARP_LEN = struct.calcsize(_ARP_FMT)  # 28


class ArpOp(IntEnum):
    """ARP operation codes (RFC 826; IANA "ARP Parameters", operation codes)."""

    REQUEST = 1
    REPLY = 2


def mac_bytes(mac: str) -> bytes:
    parts = mac.replace("-", ":").split(":")
    if len(parts) != 6:
        raise ValueError(f"not a MAC address: {mac!r}")
    return bytes(int(p, 16) for p in parts)


def mac_str(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


@record
class EtherFrame:
    dst: str
    src: str
    ethertype: int
    payload: bytes


@record
class ArpPacket:
    op: int
    sender_mac: str
    sender_ip: str
    target_mac: str
    target_ip: str

    @property
    def is_probe(self) -> bool:
        """An RFC 5227 §2.1.1 probe: a request whose sender IP is all zeroes."""
        return self.op == ArpOp.REQUEST and self.sender_ip == "0.0.0.0"


def build_ether(dst: str, src: str, ethertype: int, payload: bytes) -> bytes:
    frame = mac_bytes(dst) + mac_bytes(src) + struct.pack("!H", ethertype) + payload
    # Ethernet's minimum frame is 60 bytes before the FCS; veth would not care, a NIC pads.
    return frame.ljust(60, b"\x00")


def parse_ether(frame: bytes) -> EtherFrame | None:
    if len(frame) < ETH_HLEN:
        return None
    dst, src, ethertype = struct.unpack_from("!6s6sH", frame)
    return EtherFrame(mac_str(dst), mac_str(src), ethertype, frame[ETH_HLEN:])


def build_arp(op: int, sender_mac: str, sender_ip: str, target_mac: str, target_ip: str) -> bytes:
    return struct.pack(
        _ARP_FMT,
        _HTYPE_ETHER,
        ETH_P_IP,
        6,
        4,
        op,
        mac_bytes(sender_mac),
        ipaddress.IPv4Address(sender_ip).packed,
        mac_bytes(target_mac),
        ipaddress.IPv4Address(target_ip).packed,
    )


def build_arp_request(
    sender_mac: str, sender_ip: str, target_ip: str, dst_mac: str = BROADCAST_MAC
) -> bytes:
    """A whole Ethernet frame asking who has target_ip (broadcast unless dst_mac is given)."""
    payload = build_arp(ArpOp.REQUEST, sender_mac, sender_ip, ZERO_MAC, target_ip)
    return build_ether(dst_mac, sender_mac, ETH_P_ARP, payload)


def build_arp_probe(sender_mac: str, target_ip: str) -> bytes:
    """RFC 5227 §2.1.1: an ARP request with sender IP 0.0.0.0 and target MAC zero, broadcast,
    so that probing for an address never pollutes anyone's ARP cache."""
    return build_arp_request(sender_mac, "0.0.0.0", target_ip)


def parse_arp(data: bytes) -> ArpPacket | None:
    """An ARP packet for IPv4 over Ethernet, or None for anything else."""
    if len(data) < ARP_LEN:
        return None
    htype, ptype, hlen, plen, op, sha, spa, tha, tpa = struct.unpack_from(_ARP_FMT, data)
    if htype != _HTYPE_ETHER or ptype != ETH_P_IP or hlen != 6 or plen != 4:
        return None
    return ArpPacket(
        op,
        mac_str(sha),
        str(ipaddress.IPv4Address(spa)),
        mac_str(tha),
        str(ipaddress.IPv4Address(tpa)),
    )


def parse_arp_frame(frame: bytes) -> tuple[EtherFrame, ArpPacket] | None:
    ether = parse_ether(frame)
    if ether is None or ether.ethertype != ETH_P_ARP:
        return None
    arp = parse_arp(ether.payload)
    return None if arp is None else (ether, arp)
