"""A small authoritative DNS server for the lab, built on dnspython, over UDP and TCP.

It serves the records of its zones (A, AAAA, CNAME chains followed inside the zones, MX, TXT, NS,
PTR, SOA; ANY returns every RRset of the name), NXDOMAIN and NODATA with the SOA in the
authority section, REFUSED for names outside its zones, and on purpose: a slow answer, SERVFAIL
and a garbage answer for names listed in the options.  Answers too big for the client's UDP
size carry TC, so the client retries over TCP (RFC 1035 §4.2.1, RFC 7766).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
from collections.abc import Mapping
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from netladder.lab.services import _SERVERS, dual_stack_socket

__all__ = ["DnsZoneData", "dns_service"]

MAX_CNAME_CHAIN = 16


class DnsZoneData:
    """The records and scripted behaviours of one server, from the Service options:

    zones: origins it is authoritative for, e.g. ["lab.", "113.0.203.in-addr.arpa."]
    records: [[name, ttl, type, rdata], ...]; names relative to the first zone unless they end
        in a dot
    slow: {name: delay_ms}; servfail: [name, ...]; garbage: [name, ...]
    """

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.zones = [dns.name.from_text(z) for z in options.get("zones", ["lab."])]
        origin = self.zones[0]
        self.rrsets: dict[tuple[dns.name.Name, int], dns.rrset.RRset] = {}
        self.names: set[dns.name.Name] = set()
        for name_text, ttl, rdtype, rdata in options.get("records", []):
            name = dns.name.from_text(name_text, origin)
            rrset = dns.rrset.from_text_list(name, int(ttl), "IN", rdtype, [rdata],
                                             origin=origin, relativize=False)
            key = (name, rrset.rdtype)
            if key in self.rrsets:
                self.rrsets[key].union_update(rrset)  # type: ignore[no-untyped-call]
            else:
                self.rrsets[key] = rrset
            self.names.add(name)
        for zone in self.zones:
            if (zone, dns.rdatatype.SOA) not in self.rrsets:
                soa = f"ns.{zone} hostmaster.{zone} 1 3600 600 86400 60"
                self.rrsets[(zone, dns.rdatatype.SOA)] = dns.rrset.from_text(
                    zone, 60, "IN", "SOA", soa)
                self.names.add(zone)

        def names_of(key: str) -> set[dns.name.Name]:
            return {dns.name.from_text(n, origin) for n in options.get(key, [])}

        self.slow = {dns.name.from_text(n, origin): float(ms)
                     for n, ms in dict(options.get("slow", {})).items()}
        self.servfail = names_of("servfail")
        self.garbage = names_of("garbage")

    def zone_of(self, name: dns.name.Name) -> dns.name.Name | None:
        matches = [z for z in self.zones if name.is_subdomain(z)]
        return max(matches, key=len) if matches else None

    def answer(self, query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        response.flags &= ~dns.flags.RA
        if not query.question:
            response.set_rcode(dns.rcode.FORMERR)
            return response
        question = query.question[0]
        name, rdtype = question.name, question.rdtype
        zone = self.zone_of(name)
        if zone is None or question.rdclass != dns.rdataclass.IN:
            response.set_rcode(dns.rcode.REFUSED)
            return response
        if name in self.servfail:
            response.set_rcode(dns.rcode.SERVFAIL)
            return response
        response.flags |= dns.flags.AA
        current = name
        for _ in range(MAX_CNAME_CHAIN):
            if rdtype == dns.rdatatype.ANY:
                found = [r for (n, _t), r in self.rrsets.items() if n == current]
                response.answer.extend(found)
                break
            rrset = self.rrsets.get((current, rdtype))
            if rrset is not None:
                response.answer.append(rrset)
                break
            cname = self.rrsets.get((current, dns.rdatatype.CNAME))
            if cname is None or rdtype == dns.rdatatype.CNAME:
                break
            response.answer.append(cname)
            target = cname[0].target
            if self.zone_of(target) is None:
                break  # the resolver chases targets outside our zones
            current = target
        if not response.answer or response.answer[-1].rdtype == dns.rdatatype.CNAME:
            last_zone = self.zone_of(current)
            if last_zone is not None and current not in self.names:
                # RFC 6604: the rcode belongs to the last name of the chain.
                response.set_rcode(dns.rcode.NXDOMAIN)
            if last_zone is not None and not (response.answer and rdtype == dns.rdatatype.CNAME):
                response.authority.append(self.rrsets[(last_zone, dns.rdatatype.SOA)])
        return response


def _udp_limit(query: dns.message.Message) -> int:
    return max(512, query.payload) if query.edns >= 0 else 512


def _truncated(query: dns.message.Message, response: dns.message.Message) -> bytes:
    short = dns.message.make_response(query)
    short.flags = response.flags | dns.flags.TC
    short.set_rcode(response.rcode())
    return short.to_wire()


class DnsServer:
    def __init__(self, data: DnsZoneData) -> None:
        self.data = data

    async def reply(self, wire: bytes, udp: bool) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            if len(wire) >= 2:  # FORMERR with the id, when there is one (RFC 1035 §4.1.1)
                return wire[:2] + b"\x80\x01" + b"\0" * 8
            return None
        if query.flags & dns.flags.QR:
            return None
        name = query.question[0].name if query.question else None
        if name is not None and name in self.data.slow:
            await asyncio.sleep(self.data.slow[name] / 1000)
        if name is not None and name in self.data.garbage:
            # The right id, then bytes that are not a DNS message.
            return wire[:2] + b"\x81\x80\x00\x01\x00\x01" + os.urandom(5)
        response = self.data.answer(query)
        if udp:
            try:
                return response.to_wire(max_size=_udp_limit(query))
            except dns.exception.TooBig:
                return _truncated(query, response)
        # Over TCP the client's EDNS UDP size does not apply (dnspython would cap at it).
        return response.to_wire(max_size=65535)


class _Udp(asyncio.DatagramProtocol):
    transport: asyncio.DatagramTransport

    def __init__(self, server: DnsServer) -> None:
        self.server = server
        self.tasks: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram transport

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        task = asyncio.ensure_future(self._answer(data, addr))  # a slow answer blocks nobody
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _answer(self, data: bytes, addr: tuple[Any, ...]) -> None:
        reply = await self.server.reply(data, udp=True)
        if reply is not None:
            self.transport.sendto(reply, addr)


async def dns_service(port: int, options: Mapping[str, Any]) -> None:
    """DNS over UDP and TCP on `port` (see DnsZoneData for the options)."""
    server = DnsServer(DnsZoneData(options))
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _Udp(server), sock=dual_stack_socket(socket.SOCK_DGRAM, port)
    )
    _SERVERS.append(transport)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # RFC 7766: a two-byte length before each message; several queries per connection.
        with contextlib.suppress(OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
            while True:
                size = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), 10))[0]
                wire = await asyncio.wait_for(reader.readexactly(size), 10)
                reply = await server.reply(wire, udp=False)
                if reply is None:
                    break
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        writer.close()

    tcp = await asyncio.start_server(handle, sock=dual_stack_socket(socket.SOCK_STREAM, port))
    _SERVERS.append(tcp)
