"""Every parser that reads bytes from the network, fuzzed (issue 17 item 3).

Each property feeds a parser bytes a hostile or broken peer could send — valid messages with
bytes flipped, fields overwritten, cut short or extended, and plain random bytes — and asserts
that it returns a value of its documented type or fails with its one documented error, never
anything else.  Where a codec has a builder, what it builds parses back to what went in.

The suite runs each property with the "netladder" profile (tests/conftest.py); a long run is
`pytest tests/test_fuzz_codecs.py --hypothesis-profile=fuzz --hypothesis-show-statistics
--timeout 0` (NETLADDER_FUZZ_EXAMPLES examples per property, 10000 by default).
The random-bytes properties for ARP, NDP, TCP and STUN live beside their table tests
(test_proto_*.py); the ones here start from valid messages, so they reach past the first
length check.
"""

from __future__ import annotations

import ipaddress
import re
import struct
from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from netladder.l7.model import Hop, HttpCheck, HttpOptions
from netladder.l7.parse import parse_url
from netladder.l7.session import HttpSession
from netladder.names import resolve
from netladder.names.model import Attempt, Record, Resolution, Server, Status, Stray
from netladder.net.session import Connect, StartTls, Write
from netladder.path.probes import classify
from netladder.proto import arp, http1, icmp, ndp, stun, tcp
from netladder.proto.inet import (
    IPv4Header,
    checksum,
    ipv4_offsets,
    parse_ipv4_header,
    pseudo_header,
)
from netladder.render.dns import sentence as dns_sentence
from netladder.render.http import sentence as http_sentence
from sessions import FakeClock, connected, looked_up, start, tls_done

# -- strategies ------------------------------------------------------------------------------------

ipv4 = st.builds(lambda n: str(ipaddress.IPv4Address(n)), st.integers(0, 2**32 - 1))
ipv6 = st.builds(lambda n: str(ipaddress.IPv6Address(n)), st.integers(0, 2**128 - 1))
macs = st.builds(lambda b: arp.mac_str(b), st.binary(min_size=6, max_size=6))
u8, u16, u32 = st.integers(0, 0xFF), st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF)


@st.composite
def mutated(draw: st.DrawFn, seeds: st.SearchStrategy[bytes]) -> bytes:
    """A valid message, then up to five edits: a bit flipped, a byte set, a cut, bytes put
    in the middle or on the end — what a broken link or a hostile peer makes of it."""
    data = bytearray(draw(seeds))
    # Often none or one edit, so that many examples get past the first checks.
    for _ in range(draw(st.sampled_from((0, 0, 1, 1, 2, 3, 5)))):
        edit = draw(st.sampled_from(("flip", "set", "cut", "insert", "append")))
        if edit in ("flip", "set") and data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] = data[i] ^ (1 << draw(st.integers(0, 7))) if edit == "flip" else draw(u8)
        elif edit == "cut":
            del data[draw(st.integers(0, len(data))) :]
        elif edit == "insert":
            i = draw(st.integers(0, len(data)))
            data[i:i] = draw(st.binary(min_size=1, max_size=8))
        else:
            data += draw(st.binary(min_size=1, max_size=64))
    return bytes(data)


def fuzzed(seeds: st.SearchStrategy[bytes], max_size: int = 200) -> st.SearchStrategy[bytes]:
    return mutated(seeds) | st.binary(max_size=max_size)


def ipv4_header(src: str, dst: str, protocol: int, payload: bytes, ttl: int = 64) -> bytes:
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(payload),
        0x1234,
        0,
        ttl,
        protocol,
        0,
        ipaddress.IPv4Address(src).packed,
        ipaddress.IPv4Address(dst).packed,
    )
    return header[:10] + struct.pack("!H", checksum(header)) + header[12:]


def ipv6_header(src: str, dst: str, next_header: int, payload: bytes) -> bytes:
    return ndp.build_ipv6(src, dst, payload, next_header=next_header, hop_limit=64)


# -- ICMP and ICMPv6, with the datagram an error quotes (proto/icmp.py) ----------------------------


@st.composite
def icmp_messages(draw: st.DrawFn, version: int) -> bytes:
    """An echo reply or an error quoting one of our probes (UDP, ICMP echo or TCP)."""
    kind = draw(st.sampled_from(("echo", "error")))
    if kind == "echo":
        message = icmp.build_echo(version, draw(u16), draw(u16), draw(st.binary(max_size=64)))
        return bytes([icmp.ECHO_REPLY[version]]) + message[1:]
    proto = draw(st.sampled_from((17, 6, 1 if version == 4 else 58)))
    if proto in (1, 58):
        inner = icmp.build_echo(version, draw(u16), draw(u16), draw(st.binary(max_size=16)))
    else:
        inner = struct.pack("!HH", draw(u16), draw(u16)) + draw(st.binary(min_size=4, max_size=16))
    if version == 4:
        quoted = ipv4_header(draw(ipv4), draw(ipv4), proto, inner, ttl=draw(u8))
        icmp_type = draw(st.sampled_from(sorted(icmp.ERROR_TYPES[4])))
    else:
        quoted = ipv6_header(draw(ipv6), draw(ipv6), proto, inner) + inner
        icmp_type = draw(st.sampled_from(sorted(icmp.ERROR_TYPES[6])))
    head = struct.pack("!BBHI", icmp_type, draw(u8), 0, draw(u32))
    message = head + (quoted + inner if version == 4 else quoted)
    return message[:2] + struct.pack("!H", checksum(message)) + message[4:]


def check_icmp(got: icmp.IcmpMessage | None, version: int) -> None:
    # `event`s show, with --hypothesis-show-statistics, how deep the examples reached.
    event("none" if got is None else "quoted" if got.quoted else "message")
    if got is None:
        return
    assert isinstance(got, icmp.IcmpMessage) and got.version == version
    assert 0 <= got.type <= 255 and 0 <= got.code <= 255 and isinstance(got.payload, bytes)
    assert isinstance(got.checksum_ok, bool) and 0 <= got.identifier <= 0xFFFF
    assert isinstance(got.text, str) and isinstance(got.is_error, bool)
    assert got.mtu is None or 0 <= got.mtu <= 0xFFFFFFFF
    if got.quoted is not None:
        check_quoted(got.quoted, len(got.payload))
    # Every ICMP message the trace reads is named, whatever its type and code.
    kind, annotation, detail = classify(version, got.type, got.code, True, True, got.mtu or 0)
    assert kind in ("time-exceeded", "reply", "unreachable") and isinstance(detail, str)


def check_quoted(q: icmp.Quoted, size: int) -> None:
    assert isinstance(q, icmp.Quoted)
    assert ipaddress.ip_address(q.src).version == ipaddress.ip_address(q.dst).version
    assert 0 <= q.field_a <= 0xFFFF and 0 <= q.field_b <= 0xFFFF
    # the quoted header's 8 bytes are inside the quote; TCP's sequence is read, nothing else's
    assert 20 <= q.inner_offset and q.inner_offset + 8 <= size
    assert (q.seq is not None) == (q.protocol == 6)
    assert q.seq is None or 0 <= q.seq <= 0xFFFFFFFF


@pytest.mark.parametrize("version", [4, 6])
@given(data=st.data())
def test_icmp_messages_parse_to_a_message_or_none(version: int, data: st.DataObject) -> None:
    wire = data.draw(fuzzed(icmp_messages(version)))
    check_icmp(icmp.parse_icmp(wire, version), version)


@given(
    fuzzed(
        st.builds(lambda src, dst, m: ipv4_header(src, dst, 1, m) + m, ipv4, ipv4, icmp_messages(4))
    )
)
def test_icmp_behind_an_ipv4_header_parses_to_a_message_or_none(wire: bytes) -> None:
    got = icmp.parse_icmp(wire, 4, with_ip_header=True)
    check_icmp(got, 4)
    header = parse_ipv4_header(wire)
    assert header is None or isinstance(header, IPv4Header)
    if got is not None:
        assert header is not None and got.source == header.src and got.ttl == header.ttl


@pytest.mark.parametrize("version", [4, 6])
@given(identifier=u16, sequence=st.integers(0, 2**20), payload=st.binary(max_size=200))
def test_an_echo_round_trips(version: int, identifier: int, sequence: int, payload: bytes) -> None:
    request = icmp.parse_icmp(icmp.build_echo(version, identifier, sequence, payload), version)
    assert request is not None and request.checksum_ok
    assert (request.type, request.code) == (icmp.ECHO_REQUEST[version], 0)
    assert (request.identifier, request.sequence) == (identifier, sequence & 0xFFFF)
    assert request.payload == payload and request.quoted is None


@given(version=st.sampled_from((4, 6)), icmp_type=u8, code=u8, target=st.booleans(), info=u16)
def test_the_trace_names_every_icmp_type_and_code(
    version: int, icmp_type: int, code: int, target: bool, info: int
) -> None:
    kind, annotation, detail = classify(version, icmp_type, code, target, True, info)
    assert kind in ("time-exceeded", "reply", "unreachable")
    assert isinstance(annotation, str) and detail


# -- TCP: SYN, and the ICMP errors quoting it (proto/tcp.py) ---------------------------------------


@given(
    v6=st.booleans(),
    sport=u16,
    dport=u16,
    seq=st.integers(0, 2**33),
    window=u16,
    mss=st.none() | u16,
    data=st.data(),
)
def test_a_syn_round_trips_with_a_checksum_over_its_addresses(
    v6: bool, sport: int, dport: int, seq: int, window: int, mss: int | None, data: st.DataObject
) -> None:
    size = 16 if v6 else 4
    src, dst = (data.draw(st.binary(min_size=size, max_size=size)) for _ in range(2))
    segment = tcp.build_syn(src, dst, sport, dport, seq, window=window, mss=mss)
    assert len(segment) == (20 if mss is None else 24)
    parsed = tcp.parse_tcp(segment)
    assert parsed == tcp.TcpSegment(sport, dport, seq & 0xFFFFFFFF, 0, tcp.SYN, window)
    assert tcp.HEAD.unpack_from(segment)[:4] == (sport, dport, seq & 0xFFFFFFFF, 0)
    assert checksum(pseudo_header(src, dst, len(segment), 6) + segment) == 0


@st.composite
def icmp4_quoting_a_syn(draw: st.DrawFn) -> bytes:
    src, dst = draw(ipv4), draw(ipv4)
    syn = tcp.build_syn(
        ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed, draw(u16), 80, 1
    )
    quoted = ipv4_header(src, dst, 6, syn) + syn[:8]
    message = struct.pack("!BBHI", 3, draw(u8), 0, 0) + quoted
    message = message[:2] + struct.pack("!H", checksum(message)) + message[4:]
    return ipv4_header(draw(ipv4), src, 1, message) + message


@st.composite
def icmp6_quoting_a_syn(draw: st.DrawFn) -> bytes:
    src, dst = draw(ipv6), draw(ipv6)
    syn = tcp.build_syn(
        ipaddress.IPv6Address(src).packed, ipaddress.IPv6Address(dst).packed, draw(u16), 80, 1
    )
    return struct.pack("!BBHI", 1, draw(u8), 0, 0) + ipv6_header(src, dst, 6, syn) + syn


def check_quote(got: icmp.IcmpMessage | None, version: int) -> None:
    """What the SYN scan reads of an ICMP error: a message, its quote of our SYN (the one quote
    parser), and nmap's reason for it."""
    event("none" if got is None else "quote" if got.quoted else "message")
    if got is None:
        return
    reason = tcp.icmp_reason(version, got.type, got.code)
    assert reason is None or isinstance(reason, str)
    if got.quoted is not None:
        check_quoted(got.quoted, len(got.payload))
        assert ipaddress.ip_address(got.quoted.dst).version == version


@given(fuzzed(icmp4_quoting_a_syn()))
def test_icmp4_errors_quoting_a_syn_parse_to_a_quote_or_none(wire: bytes) -> None:
    check_quote(icmp.parse_icmp(wire, 4, with_ip_header=True), 4)
    offsets = ipv4_offsets(wire)
    assert offsets is None or (20 <= offsets[0] <= min(60, len(wire)) and 0 <= offsets[1] <= 255)
    check_segment(tcp.parse_tcp(wire[20:]))


@given(fuzzed(icmp6_quoting_a_syn()))
def test_icmp6_errors_quoting_a_syn_parse_to_a_quote_or_none(wire: bytes) -> None:
    check_quote(icmp.parse_icmp(wire, 6), 6)
    for cut in (0, 8):
        got = icmp.parse_quote(wire[cut:], 6)
        assert got is None or got.inner_offset == 40


def check_segment(got: tcp.TcpSegment | None) -> None:
    assert got is None or (isinstance(got, tcp.TcpSegment) and 0 <= got.flags <= 0xFF)


# -- ARP (proto/arp.py) ----------------------------------------------------------------------------


@given(op=st.sampled_from(list(arp.ArpOp)), sha=macs, spa=ipv4, tha=macs, tpa=ipv4, dst=macs)
def test_any_arp_frame_round_trips(
    op: arp.ArpOp, sha: str, spa: str, tha: str, tpa: str, dst: str
) -> None:
    frame = arp.build_ether(dst, sha, arp.ETH_P_ARP, arp.build_arp(op, sha, spa, tha, tpa))
    got = arp.parse_arp_frame(frame)
    assert got is not None
    ether, packet = got
    assert (ether.dst, ether.src, ether.ethertype) == (dst, sha, arp.ETH_P_ARP)
    assert packet == arp.ArpPacket(op, sha, spa, tha, tpa)


arp_frames = st.builds(
    lambda op, sha, spa, tha, tpa: arp.build_ether(
        arp.BROADCAST_MAC, sha, arp.ETH_P_ARP, arp.build_arp(op, sha, spa, tha, tpa)
    ),
    st.sampled_from(list(arp.ArpOp)),
    macs,
    ipv4,
    macs,
    ipv4,
)


@given(mutated(arp_frames))
def test_damaged_arp_frames_parse_to_a_frame_or_none(frame: bytes) -> None:
    got = arp.parse_arp_frame(frame)
    event("none" if got is None else "packet")
    if got is not None:
        ether, packet = got
        assert isinstance(ether, arp.EtherFrame) and isinstance(packet, arp.ArpPacket)
        assert ether.ethertype == arp.ETH_P_ARP and 0 <= packet.op <= 0xFFFF
        ipaddress.IPv4Address(packet.sender_ip)
        assert arp.mac_str(arp.mac_bytes(packet.sender_mac)) == packet.sender_mac


# -- NDP (proto/ndp.py) ----------------------------------------------------------------------------


@st.composite
def na_frames(draw: st.DrawFn) -> tuple[bytes, str, str, ndp.NeighborAdvert]:
    src, dst, target, mac = draw(ipv6), draw(ipv6), draw(ipv6), draw(macs)
    advert = ndp.NeighborAdvert(
        target,
        draw(st.booleans()),
        draw(st.booleans()),
        draw(st.booleans()),
        draw(macs | st.none()),
    )
    message = ndp.build_na(
        src,
        dst,
        target,
        advert.target_mac,
        router=advert.router,
        solicited=advert.solicited,
        override=advert.override,
    )
    frame = arp.build_ether(draw(macs), mac, arp.ETH_P_IPV6, ndp.build_ipv6(src, dst, message))
    return frame, mac, src, advert


@given(na_frames())
def test_any_neighbour_advertisement_round_trips(case: tuple[bytes, str, str, Any]) -> None:
    frame, mac, src, advert = case
    got = ndp.parse_na_frame(frame)
    assert got is not None
    assert (got[0], got[1].src, got[2]) == (mac, src, advert)


@given(src=ipv6, target=ipv6, mac=macs | st.none())
def test_any_neighbour_solicitation_round_trips(src: str, target: str, mac: str | None) -> None:
    dst = ndp.solicited_node(target)
    message = ndp.build_ns(src, dst, target, mac)
    assert ndp.parse_ns(message) == ndp.NeighborSolicit(target, mac)
    assert ndp.icmp6_checksum(src, dst, message) == 0  # the checksum covers the whole message


@given(mutated(na_frames().map(lambda case: case[0])))
def test_damaged_advertisements_parse_to_an_advert_or_none(frame: bytes) -> None:
    got = ndp.parse_na_frame(frame)
    event("none" if got is None else "advert")
    if got is not None:
        mac, packet, advert = got
        assert isinstance(packet, ndp.IPv6Packet) and isinstance(advert, ndp.NeighborAdvert)
        assert packet.hop_limit == ndp.NDP_HOP_LIMIT and len(mac) == 17
    ether = arp.parse_ether(frame)
    inner = ndp.parse_ipv6(ether.payload) if ether is not None else None
    if inner is not None:
        for parse in (ndp.parse_na, ndp.parse_ns):
            parsed = parse(inner.payload)
            assert parsed is None or isinstance(parsed, ndp.NeighborAdvert | ndp.NeighborSolicit)


# -- STUN (proto/stun.py) --------------------------------------------------------------------------


@st.composite
def stun_responses(draw: st.DrawFn) -> bytes:
    tid = draw(st.binary(min_size=12, max_size=12))
    if draw(st.booleans()):
        reason = draw(st.text(max_size=20)).encode()
        value = struct.pack("!HBB", 0, draw(st.integers(3, 6)), draw(st.integers(0, 99))) + reason
        return stun.build_message(
            stun.BINDING_ERROR,
            tid,
            (stun.Attribute(stun.ERROR_CODE, value),),
            fingerprint=draw(st.booleans()),
        )
    return stun.build_binding_response(
        tid,
        draw(ipv4 | ipv6),
        draw(u16),
        xor=draw(st.booleans()),
        classic=draw(st.booleans()),
        software=draw(st.text(max_size=30) | st.none()),
        fingerprint=draw(st.booleans()),
    )


@given(fuzzed(stun_responses()))
def test_damaged_stun_responses_parse_or_raise_stun_error(wire: bytes) -> None:
    try:
        message = stun.parse_message(wire)
    except stun.StunError:
        event("StunError")
        return
    event("message")
    assert isinstance(message, stun.StunMessage) and len(message.transaction_id) == 12
    assert message.klass in ("request", "indication", "success", "error")
    assert message.fingerprint_ok in (None, True, False)
    # What myip reads from a message: each accessor gives its type or raises StunError.
    for read in ("xor_mapped", "mapped", "reflexive", "software", "error"):
        try:
            value = getattr(message, read)
        except stun.StunError:
            continue
        if read == "software":
            assert value is None or isinstance(value, str)
        elif read == "error":
            assert value is None or (300 <= value[0] <= 699 and isinstance(value[1], str))
        elif value is not None:
            assert isinstance(value, stun.MappedAddress) and value.version in (4, 6)


# -- HTTP/1.1: status line, fields, framing, chunked content, trailers (proto/http1.py) ------------

field_names = st.sampled_from(
    ("Content-Length", "Transfer-Encoding", "Location", "Server", "X-A", "Retry-After")
)
field_values = st.sampled_from(("0", "5", "chunked", "gzip, chunked", "x", "")) | st.text(
    st.characters(codec="latin-1", exclude_characters="\r\n"), max_size=12
)


def header_lines(pairs: Iterable[tuple[str, str]]) -> str:
    return "".join(f"{k}: {v}\r\n" for k, v in pairs)


@st.composite
def chunked_bodies(draw: st.DrawFn) -> bytes:
    chunks = draw(st.lists(st.binary(min_size=1, max_size=40), max_size=4))
    wire = b"".join(
        b"%x%s\r\n%s\r\n" % (len(c), draw(st.sampled_from((b"", b";ext=1"))), c) for c in chunks
    )
    trailers = draw(st.lists(st.tuples(field_names, field_values), max_size=3))
    return wire + b"0\r\n" + header_lines(trailers).encode("latin-1") + b"\r\n"


@st.composite
def responses(draw: st.DrawFn) -> bytes:
    """Zero or more 1xx heads, then a final head and content framed by its fields."""
    status = draw(st.sampled_from((200, 204, 206, 301, 304, 404, 500, 599)) | st.integers(100, 599))
    fields = draw(st.lists(st.tuples(field_names, field_values), max_size=6))
    framing = draw(st.sampled_from(("length", "chunked", "close")))
    body = draw(st.binary(max_size=80))
    if framing == "chunked":
        fields.append(("Transfer-Encoding", "chunked"))
        body = draw(chunked_bodies())
    elif framing == "length":
        fields.append(("Content-Length", str(len(body))))
    interim = b"".join(
        b"HTTP/1.1 %d Continue\r\n\r\n" % code
        for code in draw(st.lists(st.sampled_from((100, 102, 103)), max_size=2))
    )
    reason = draw(st.sampled_from(("OK", "", "Not Found")))
    head = f"HTTP/1.{draw(st.sampled_from((0, 1)))} {status} {reason}\r\n"
    return interim + (head + header_lines(fields) + "\r\n").encode("latin-1") + body


def check_head(head: http1.ResponseHead) -> None:
    assert isinstance(head, http1.ResponseHead) and 100 <= head.status <= 599
    # RFC 9112 §2.3: a higher minor version is read as the highest one we know (1.1).
    assert re.fullmatch(r"HTTP/1\.\d", head.version) and isinstance(head.reason, str)
    assert all(http1.is_token(k) and isinstance(v, str) for k, v in head.headers)


@given(fuzzed(responses(), max_size=300))
def test_a_response_head_parses_or_raises_protocol_error(wire: bytes) -> None:
    try:
        while True:  # past informational heads to the final one, as the client reads them
            end = http1.find_head_end(wire)
            if end is None:
                event("waiting for more")
                return
            head = http1.parse_head(wire[:end])
            check_head(head)
            wire = wire[end:]
            if not 100 <= head.status < 200 or head.status == 101:
                break
        framing = http1.body_framing("GET", head)
    except http1.ProtocolError:
        event("ProtocolError")
        return
    event(f"framing: {framing.kind}")
    assert framing.kind in ("none", "length", "chunked", "close") and framing.length >= 0


@given(fuzzed(chunked_bodies()), st.lists(st.integers(1, 50), max_size=6))
def test_chunked_content_decodes_or_raises_protocol_error(wire: bytes, cuts: list[int]) -> None:
    decoder = http1.ChunkedDecoder()
    content, pos = b"", 0
    try:
        for size in [*cuts, len(wire)]:
            content += decoder.feed(wire[pos : pos + size])
            pos += size
    except http1.ProtocolError:
        event("ProtocolError")
        return
    event("done" if decoder.done else "waiting for more")
    assert isinstance(content, bytes) and len(content) <= len(wire)


@given(st.lists(st.binary(max_size=40), max_size=5))
def test_chunked_content_round_trips(chunks: list[bytes]) -> None:
    wire = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks if c) + b"0\r\nX-T: 1\r\n\r\n"
    decoder = http1.ChunkedDecoder()
    assert b"".join(decoder.feed(wire[i : i + 7]) for i in range(0, len(wire), 7)) == b"".join(
        chunks
    )
    assert decoder.done


def split(wire: bytes, cuts: list[int]) -> list[bytes]:
    pieces, pos = [], 0
    for size in cuts:
        if pos < len(wire):
            pieces.append(wire[pos : pos + size])
            pos += size
    if pos < len(wire):
        pieces.append(wire[pos:])
    return pieces


SERVER = "198.51.100.10"


def exchange(pieces: list[bytes], method: str, version: str) -> HttpCheck:
    """One request as `HttpSession` makes it (l7/session.py, without a socket): the lookup,
    the connect and the TLS handshake answered (ALPN h2 for HTTP/2), then the hostile server's
    bytes in the pieces it chose, then the end of the stream — until the session is done, as
    the driver stops feeding a session that said so.  A session still waiting after the end
    of the stream would hang a real check: that fails here."""
    url = "https://www.lab.test/"
    options = HttpOptions(url, method=method, max_body=100, keep_body=50, http2=version == "HTTP/2")
    session = HttpSession(options, parse_url(url))
    clock = FakeClock()
    start(session, clock, opened=[])
    looked_up(session, 1, "www.lab.test", SERVER, clock)
    step = session.poll(clock.now)
    assert [type(a) for a in step.actions] == [Connect]
    connected(session, 1, clock)
    step = session.poll(clock.now)
    assert [type(a) for a in step.actions] == [StartTls]
    tls_done(session, 1, clock, alpn="h2" if version == "HTTP/2" else "http/1.1")
    step = session.poll(clock.now)
    assert any(isinstance(a, Write) for a in step.actions)  # the request went out
    for piece in [*pieces, b""]:
        clock.advance(0.001)
        session.on_data(1, piece, clock.now)
        if session.poll(clock.now).done:
            break
    else:
        raise AssertionError("the session still waits after the server closed the connection")
    return session.result()


def check_response(hop: Hop, method: str, wire: bytes) -> None:
    assert hop.status is not None and 100 <= hop.status <= 599
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in hop.headers)
    # A GET reads at most max_body bytes of content; after a head that has none (HEAD, 204,
    # 304) what came with it is counted, never more than arrived.
    assert 0 <= hop.body_bytes <= len(wire) and len(hop.body or b"") <= 50
    if method == "GET" and hop.status not in (204, 304):
        assert hop.body_bytes <= 100
    assert all(100 <= code <= 199 for code in hop.interim)


# -- HTTP/2 frames as the session reads them (l7/session.py, over h2) -----------------------------


def frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return struct.pack("!I", len(payload))[1:] + struct.pack("!BBI", kind, flags, stream) + payload


@st.composite
def h2_responses(draw: st.DrawFn) -> bytes:
    import hpack

    status = draw(st.sampled_from((200, 200, 204, 404, 500, 103, 999, 42)))
    fields = [(":status", str(status))]
    names = st.sampled_from(("server", "x-a", "content-type", "server", ":path"))
    values = st.sampled_from(("lab", "text/plain", "1", "", "lab", "1", " padded ", "a\x00b"))
    fields += draw(st.lists(st.tuples(names, values), max_size=4))
    block = hpack.Encoder().encode(fields)
    body = draw(st.binary(max_size=60))
    frames = [
        frame(0x4, 0, 0, b""),  # the server's SETTINGS (its preface)
        frame(0x4, 0x1, 0, b""),  # SETTINGS ACK
        frame(0x1, 0x4, 1, block),  # HEADERS, END_HEADERS
        frame(0x0, 0x1, 1, body),  # DATA, END_STREAM
    ]
    extras = [
        frame(0x3, 0, 1, struct.pack("!I", draw(u32))),  # RST_STREAM
        frame(0x7, 0, 0, struct.pack("!II", 1, draw(u32))),  # GOAWAY
        frame(0x6, 0, 0, bytes(8)),  # PING
        frame(0x8, 0, draw(st.integers(0, 3)), struct.pack("!I", draw(u32))),  # WINDOW_UPDATE
        frame(0x9, 0x4, 1, block),  # CONTINUATION
        frame(draw(st.integers(0xA, 0xFF)), draw(u8), draw(u32), draw(st.binary(max_size=20))),
    ]
    for extra in draw(st.lists(st.sampled_from(extras), max_size=3)):
        frames.insert(draw(st.integers(1, len(frames))), extra)
    return b"".join(frames)


EXCHANGES = {"HTTP/1.1": responses, "HTTP/2": h2_responses}


@pytest.mark.parametrize("version", list(EXCHANGES))
@given(
    data=st.data(),
    cuts=st.lists(st.integers(1, 40), max_size=8),
    method=st.sampled_from(("GET", "HEAD")),
)
def test_exchanges_end_with_a_response_or_one_failure(
    version: str, data: st.DataObject, cuts: list[int], method: str
) -> None:
    wire = data.draw(fuzzed(EXCHANGES[version](), max_size=300))
    check = exchange(split(wire, cuts), method, version)
    if check.error is not None:
        assert check.error.phase in ("response", "body")
        assert http_sentence(check.error)  # the renderer has words for every failure
        event(f"failure in the {check.error.phase}")
        return
    event("response")
    hop = check.final
    # the protocol ALPN chose; HTTP/1.x as the status line said it (1.0 or 1.1, RFC 9112 §2.3)
    wanted = r"HTTP/2" if version == "HTTP/2" else r"HTTP/1\.[01]"
    assert hop.http_version is not None and re.fullmatch(wanted, hop.http_version)
    check_response(hop, method, wire)
    assert all(http_sentence(finding) for finding in hop.lint)  # and for every lint finding


# -- DNS: what a reply is, and what its answer means (names/resolve.py) ----------------------------

QNAME = "www.lab.test."
NAMES = (QNAME, "a.lab.test.", "b.lab.test.", "lab.test.", "other.example.")
RDATA = {
    "A": ("198.51.100.7", "203.0.113.9"),
    "AAAA": ("2001:db8::7",),
    "CNAME": NAMES,
    "MX": ("10 a.lab.test.",),
    "TXT": ('"hello"',),
    "NS": ("ns.lab.test.",),
    "SOA": ("ns.lab.test. admin.lab.test. 1 2 3 4 5",),
}


@st.composite
def dns_replies(draw: st.DrawFn) -> tuple[str, bytes]:
    import dns.flags
    import dns.message
    import dns.rcode
    import dns.rrset

    qtype = draw(st.sampled_from(("A", "AAAA", "CNAME", "MX", "TXT", "ANY")))
    query = dns.message.make_query(QNAME, qtype)
    reply = dns.message.make_response(query)
    reply.set_rcode(dns.rcode.Rcode(draw(st.sampled_from((0, 0, 0, 3, 2, 5, 1, 4)))))
    if draw(st.booleans()):
        reply.flags |= dns.flags.AA
    if draw(st.integers(0, 9)) == 0:
        reply.flags |= dns.flags.TC

    def rrsets(types: tuple[str, ...]) -> list[Any]:
        found = []
        for _ in range(draw(st.integers(0, 4))):
            # Often the type asked for, at the name asked for or along a CNAME chain.
            kind = draw(st.sampled_from(types + tuple(t for t in (qtype,) if t in types)))
            value = draw(st.sampled_from(RDATA[kind]))
            name = draw(st.sampled_from((QNAME, *NAMES)))
            found.append(dns.rrset.from_text(name, 300, "IN", kind, value))
        return found

    reply.answer.extend(rrsets(("A", "AAAA", "CNAME", "MX", "TXT")))
    reply.authority.extend(rrsets(("SOA", "NS")))
    return str(qtype), reply.to_wire(max_size=65535)


@given(st.data())
def test_dns_replies_are_read_and_interpreted_without_raising(data: st.DataObject) -> None:
    import dns.message

    qtype, wire = data.draw(dns_replies())
    wire = data.draw(fuzzed(st.just(wire), max_size=300))
    query = dns.message.make_query(QNAME, "ANY" if qtype == "ANY" else qtype)
    query.id = int.from_bytes(wire[:2], "big") if len(wire) >= 2 else query.id
    kind, value = resolve.read_reply(wire, query)
    event(kind)
    if kind == "stray":
        assert isinstance(value, Stray)
        return
    if kind == "malformed":
        assert isinstance(value, str) and value
        return
    if kind == "truncated":
        assert 0 <= value <= 15
        return
    assert kind == "reply" and isinstance(value, dns.message.Message)
    if value.rcode() not in (0, 3):  # the resolver asks the next server; nothing to interpret
        return
    server = Server("198.51.100.53")
    attempt = Attempt(str(server), "udp", "answer", 0.001)
    got = resolve.answered(QNAME, qtype, server, [attempt], value, 0.001, 0.001, "--server")
    assert isinstance(got, Resolution) and isinstance(got.status, Status)
    event(f"interpreted: {got.status}")
    assert dns_sentence(got)
    assert all(isinstance(r, Record) for r in got.chain + got.answers)
    assert got.status in (Status.OK, Status.NODATA, Status.NXDOMAIN, Status.INCOMPLETE)
    assert got.status is not Status.OK or got.answers
