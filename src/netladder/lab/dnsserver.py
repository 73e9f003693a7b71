"""A small authoritative DNS server for the lab, built on dnspython, over UDP and TCP.

It serves the records of its zones (A, AAAA, CNAME chains followed inside the zones, MX, TXT, NS,
PTR, SOA; ANY returns every RRset of the name), NXDOMAIN and NODATA with the SOA in the
authority section, REFUSED for names outside its zones, a referral (the NS records, no AA) for
names below an NS record inside a zone, and on purpose: a slow answer, SERVFAIL, a garbage
answer and the hostile behaviours of HOSTILE_MODES for names listed in the options.  Answers
too big for the client's UDP size carry TC, so the client retries over TCP (RFC 1035 §4.2.1,
RFC 7766); with the option tcp = false nothing listens on TCP.
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

__all__ = ["HOSTILE_MODES", "DnsZoneData", "dns_service"]

MAX_CNAME_CHAIN = 16

# What a hostile server does to a query for a name listed under `hostile` (name: mode).
HOSTILE_MODES: dict[str, str] = {
    "wrong-id": "every answer carries another ID",
    "wrong-id-first": "an answer with another ID, then the real one",
    "wrong-question": "an answer with our ID for another question, never the real one",
    "wrong-question-first": "an answer with our ID for another question, then the real one",
    "truncated": "over UDP, the answer cut short mid-record with TC set (TCP answers in full)",
    "truncated-tcp": "the answer with TC set and no records, over TCP too",
    "silent": "never answers (over TCP: accepts and says nothing)",
    "twice": "the answer, twice",
    "short": "our ID and 3 more bytes: shorter than a DNS header",
    "pointer-loop": "an answer whose record name is a compression pointer to itself",
    "echo": "the query itself sent back (QR clear)",
    "flood": "50 answers with other IDs, then the real one",
    "other-name": "NOERROR with an A record for another name, none for the name asked",
    "nxdomain-answer": "NXDOMAIN, yet with the name's own records in the answer section",
}
FLOOD = 50


class DnsZoneData:
    """The records and scripted behaviours of one server, from the Service options:

    zones: origins it is authoritative for, e.g. ["lab.", "113.0.203.in-addr.arpa."]
    records: [[name, ttl, type, rdata], ...]; names relative to the first zone unless they end
        in a dot
    slow: {name: delay_ms}; servfail: [name, ...]; garbage: [name, ...]
    hostile: {name: mode} (HOSTILE_MODES)
    """

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.zones = [dns.name.from_text(z) for z in options.get("zones", ["lab."])]
        origin = self.zones[0]
        self.rrsets: dict[tuple[dns.name.Name, int], dns.rrset.RRset] = {}
        self.names: set[dns.name.Name] = set()
        for name_text, ttl, rdtype, rdata in options.get("records", []):
            name = dns.name.from_text(name_text, origin)
            rrset = dns.rrset.from_text_list(
                name, int(ttl), "IN", rdtype, [rdata], origin=origin, relativize=False
            )
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
                    zone, 60, "IN", "SOA", soa
                )
                self.names.add(zone)

        def names_of(key: str) -> set[dns.name.Name]:
            return {dns.name.from_text(n, origin) for n in options.get(key, [])}

        self.slow = {
            dns.name.from_text(n, origin): float(ms)
            for n, ms in dict(options.get("slow", {})).items()
        }
        self.servfail = names_of("servfail")
        self.garbage = names_of("garbage")
        self.hostile = {
            dns.name.from_text(n, origin): str(mode)
            for n, mode in dict(options.get("hostile", {})).items()
        }
        for mode in self.hostile.values():
            if mode not in HOSTILE_MODES:
                raise ValueError(f"dns hostile mode {mode!r}: one of {', '.join(HOSTILE_MODES)}")

    def zone_of(self, name: dns.name.Name) -> dns.name.Name | None:
        matches = [z for z in self.zones if name.is_subdomain(z)]
        return max(matches, key=len) if matches else None

    def delegation(self, name: dns.name.Name, zone: dns.name.Name) -> dns.rrset.RRset | None:
        """The NS RRset of a zone cut between `zone` and `name` (name itself included)."""
        current = name
        while current != zone and current.is_subdomain(zone):
            cut = self.rrsets.get((current, dns.rdatatype.NS))
            if cut is not None:
                return cut
            current = current.parent()
        return None

    def refer(self, response: dns.message.Message, cut: dns.rrset.RRset) -> None:
        """A referral (RFC 1034 §4.3.2 step 3b): the child's NS records, with their glue."""
        response.authority.append(cut)
        for ns in cut:
            for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
                glue = self.rrsets.get((ns.target, rdtype))
                if glue is not None:
                    response.additional.append(glue)

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
        cut = self.delegation(name, zone)
        if cut is not None:
            self.refer(response, cut)  # not authoritative for it: no AA
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
            target_zone = self.zone_of(target)
            if target_zone is None:
                break  # the resolver chases targets outside our zones
            current = target
            cut = self.delegation(target, target_zone)
            if cut is not None:
                self.refer(response, cut)  # and targets in zones delegated elsewhere
                return response
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


def _question_size(query: dns.message.Message) -> int:
    return len(query.question[0].name.to_wire() or b"") + 4 if query.question else 0


def _pointer_loop(wire: bytes, query: dns.message.Message) -> bytes:
    """Our ID and question, then one A record whose owner name points at itself."""
    question = wire[12 : 12 + _question_size(query)]
    at = 12 + len(question)
    header = wire[:2] + struct.pack("!HHHHH", 0x8180, 1 if question else 0, 1, 0, 0)
    record = struct.pack("!BBHHIH", 0xC0 | (at >> 8), at & 0xFF, 1, 1, 60, 4) + bytes(4)
    return header + question + record


class DnsServer:
    def __init__(self, data: DnsZoneData) -> None:
        self.data = data

    async def replies(self, wire: bytes, udp: bool) -> list[bytes]:
        """What to send back for one query: usually one message; none, or several, on purpose."""
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            if len(wire) >= 2:  # FORMERR with the id, when there is one (RFC 1035 §4.1.1)
                return [wire[:2] + b"\x80\x01" + b"\0" * 8]
            return []
        if query.flags & dns.flags.QR:
            return []
        name = query.question[0].name if query.question else None
        if name is not None and name in self.data.slow:
            await asyncio.sleep(self.data.slow[name] / 1000)
        if name is not None and name in self.data.garbage:
            # The right id, then bytes that are not a DNS message.
            return [wire[:2] + b"\x81\x80\x00\x01\x00\x01" + os.urandom(5)]
        mode = self.data.hostile.get(name) if name is not None else None
        if mode == "silent":
            return []
        if mode == "short":
            return [wire[:2] + b"\x81\x80\x00"]
        if mode == "echo":
            return [wire]
        if mode == "pointer-loop":
            return [_pointer_loop(wire, query)]
        response = self.data.answer(query)
        good = self._wire(query, response, udp)
        if mode in ("wrong-id", "wrong-id-first"):
            other = ((query.id ^ 0x5A5A) & 0xFFFF).to_bytes(2, "big") + good[2:]
            return [other] if mode == "wrong-id" else [other, good]
        if mode == "flood":
            return [
                ((query.id + i) & 0xFFFF).to_bytes(2, "big") + good[2:] for i in range(1, FLOOD + 1)
            ] + [good]
        if mode in ("wrong-question", "wrong-question-first") and name is not None:
            other_query = dns.message.make_query(
                dns.name.from_text("other", self.data.zone_of(name) or self.data.zones[0]),
                query.question[0].rdtype,
            )
            other_query.id = query.id
            other = self.data.answer(other_query).to_wire()
            return [other] if mode == "wrong-question" else [other, good]
        if mode == "truncated" and udp:
            cut = bytearray(response.to_wire(max_size=65535)[: 12 + _question_size(query) + 5])
            cut[2] |= 0x02  # TC
            return [bytes(cut)]
        if mode == "other-name" and name is not None:
            response.answer = [
                dns.rrset.from_text(
                    dns.name.from_text("other", self.data.zone_of(name) or self.data.zones[0]),
                    60,
                    "IN",
                    "A",
                    "198.51.100.99",
                )
            ]
            good = self._wire(query, response, udp)
        if mode == "nxdomain-answer":
            response.set_rcode(dns.rcode.NXDOMAIN)
            good = self._wire(query, response, udp)
        if mode == "truncated-tcp":
            return [_truncated(query, response)]
        if mode == "twice":
            return [good, good]
        return [good]

    @staticmethod
    def _wire(query: dns.message.Message, response: dns.message.Message, udp: bool) -> bytes:
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
        for reply in await self.server.replies(data, udp=True):
            self.transport.sendto(reply, addr)


async def dns_service(port: int, options: Mapping[str, Any]) -> None:
    """DNS over UDP and TCP on `port` (see DnsZoneData for the options; tcp = false: UDP
    only)."""
    server = DnsServer(DnsZoneData(options))
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _Udp(server), sock=dual_stack_socket(socket.SOCK_DGRAM, port)
    )
    _SERVERS.append(transport)
    if not options.get("tcp", True):
        return

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # RFC 7766: a two-byte length before each message; several queries per connection.
        with contextlib.suppress(OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
            while True:
                size = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), 10))[0]
                wire = await asyncio.wait_for(reader.readexactly(size), 10)
                replies = await server.replies(wire, udp=False)
                for reply in replies:
                    writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        writer.close()

    tcp = await asyncio.start_server(handle, sock=dual_stack_socket(socket.SOCK_STREAM, port))
    _SERVERS.append(tcp)
