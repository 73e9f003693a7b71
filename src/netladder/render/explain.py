"""`--explain`: the concept behind what a check found, as data.

One entry per verdict or finding kind (the typed findings the renderers already switch on),
keyed `layer.kind`; the same finding says the same thing whichever command found it (`neigh
--check` and `diagnose`'s L2 rung share `l2.mismatch`).  Each entry is a few plain sentences:
the layer, why this evidence means this cause, what the next command will show.  They are
translated like every other message; JSON carries them in English:

    "explain": [{"topic": "l2.mismatch", "layer": "l2", "text": "…"}]

`keys_*` read a command's result and name its entries; `lines(keys)` and `document(keys)` say
them.  Imported only when --explain is given (tests/test_cold_start_imports.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from netladder.i18n import N_, _, english

if TYPE_CHECKING:
    from netladder.diagnose.model import Diagnosis, Rung
    from netladder.l2.model import ArpResult, NeighCheck, NeighReport
    from netladder.l2.route import RouteDecision
    from netladder.l3.model import PingResult
    from netladder.l3.sweep_model import Sweep
    from netladder.l4.diag import SocketsResult
    from netladder.l4.model import ScanResult
    from netladder.l7.model import HttpCheck
    from netladder.names.model import Comparison, Resolution
    from netladder.names.model import MyIp as MyIpResult
    from netladder.path.model import TraceResult

__all__ = [
    "EXPLAIN",
    "LAYERS",
    "document",
    "keys_arp",
    "keys_code",
    "keys_comparison",
    "keys_diagnosis",
    "keys_forward",
    "keys_http",
    "keys_myip",
    "keys_neigh",
    "keys_neigh_check",
    "keys_ping",
    "keys_resolution",
    "keys_route",
    "keys_scan",
    "keys_sockets",
    "keys_sweep",
    "keys_trace",
    "emit_json",
    "lines",
    "say",
]

LAYERS: dict[str, str] = {
    "ladder": N_("the ladder"),
    "names": N_("names: DNS"),
    "route": N_("routing"),
    "l2": N_("L2: ARP/NDP"),
    "l3": N_("L3: ICMP"),
    "path": N_("the path"),
    "l4": N_("L4: ports"),
    "nat": N_("NAT: port forwarding"),
    "l7": N_("L7: HTTP"),
}

EXPLAIN: dict[str, str] = {
    # -- the ladder ------------------------------------------------------------------------------
    "ladder.all-pass": N_(
        "The ladder is checked bottom-up because each layer needs the one below it: the name "
        "becomes an address, the kernel picks a route and a next hop, the next hop's MAC address "
        "is found, IP packets reach the host along a path, a port accepts the connection, and "
        "the service answers. Every layer that could be checked passed, so the target is "
        "reachable as asked."
    ),
    # -- names -----------------------------------------------------------------------------------
    "names.records": N_(
        "DNS turns a name into records: A (IPv4 address), AAAA (IPv6), CNAME (an alias the "
        "resolver follows to the name that holds the records). Each record's TTL says how long a "
        "cache may keep it. netladder dns NAME --compare puts the system resolver beside the "
        "direct query, to show what programs on this host get."
    ),
    "names.nxdomain": N_(
        "NXDOMAIN is the DNS server saying that the name does not exist. It is an answer, not a "
        "failure to reach the server, and without an address nothing above the names layer can "
        "be checked. Check the spelling and the zone; netladder dns NAME --server ADDRESS asks "
        "another server, to see whether the answer is the same everywhere."
    ),
    "names.nodata": N_(
        "The name exists but has no record of the type asked for (NODATA): a host with only an "
        "IPv6 address has no A record, for example. netladder dns NAME --type AAAA (or another "
        "type) shows what the name does have."
    ),
    "names.rcode": N_(
        "The server answered with an error code instead of records: SERVFAIL means it could not "
        "produce an answer (a broken upstream, a lame delegation, a DNSSEC failure), REFUSED "
        "that it does not answer this client or this zone. The fault is the server's, not the "
        "name's: netladder dns NAME --server ADDRESS asks another one."
    ),
    "names.timeout": N_(
        "No DNS server answered in time. DNS runs over UDP port 53, so a lost query and a server "
        "that is down look the same: silence. Below the names layer, netladder route SERVER and "
        "netladder ping SERVER show whether the server can be reached at all."
    ),
    "names.unreachable": N_(
        "The DNS server could not be reached: nothing listens on port 53 there (an ICMP port "
        "unreachable came back), or there is no route to it. netladder route SERVER and "
        "netladder port SERVER 53 --udp show which."
    ),
    "names.referral": N_(
        "The server did not answer the question but named the servers of a zone below it (a "
        "referral): it is an authoritative server, not a recursive resolver. Ask a recursive "
        "resolver, or one of the servers it named, with netladder dns NAME --server ADDRESS."
    ),
    "names.cname": N_(
        "The answer ends at a CNAME (an alias) without the records of its target, or the "
        "aliases point at each other in a loop. A program then gets no address to connect to. "
        "netladder dns shows the chain step by step; the zone that holds the aliases needs "
        "fixing."
    ),
    "names.malformed": N_(
        "The server sent something that is not a valid DNS answer (too short, truncated, or an "
        "answer to another question): a broken server, or something on the way that rewrites "
        "DNS. netladder dns NAME --tcp asks over TCP, which middleboxes rewrite less often."
    ),
    "names.no-resolver": N_(
        "This host has no DNS server configured (resolv.conf is missing or names none), so no "
        "name can be resolved. Add a nameserver line to /etc/resolv.conf, or ask a server "
        "directly with netladder dns NAME --server ADDRESS."
    ),
    "names.system-only": N_(
        "A direct DNS query finds the name, but the system resolver (getaddrinfo), which every "
        "program uses, does not: something between them differs — /etc/hosts, the search list, "
        "nsswitch.conf or the resolver's own timeouts. netladder dns NAME --compare names the "
        "difference."
    ),
    "names.differ": N_(
        "The system resolver and the direct DNS query disagree. getaddrinfo reads /etc/hosts "
        "and nsswitch.conf, applies the search list and asks the servers of resolv.conf; the "
        "direct query asks one server about one name. Each reason listed names one of those "
        "differences."
    ),
    "names.agree": N_(
        "The system resolver and the direct DNS query agree: what programs on this host get for "
        "the name is what DNS says."
    ),
    # -- routing ---------------------------------------------------------------------------------
    "route.gateway": N_(
        "The kernel picks the route whose prefix matches the destination most closely. This one "
        "is off-link: packets are handed to a gateway, so what decides delivery next is the "
        "gateway's MAC address at L2. netladder neigh --check TARGET compares the ARP table's "
        "entry for it with a live answer."
    ),
    "route.on-link": N_(
        "The destination is on a directly connected network: packets go straight to its own MAC "
        "address, which ARP (IPv4) or NDP (IPv6) finds. netladder arp TARGET asks for that MAC "
        "live."
    ),
    "route.local": N_(
        "The address is this host's own: the kernel delivers packets to it locally, without any "
        "network, so no lower layer can fail."
    ),
    "route.no-route": N_(
        "The kernel has no route that matches the destination, so packets fail before they "
        "leave (network unreachable) and nothing on the network can change that. A default "
        "route or a route for that network is missing; netladder route shows the default "
        "routes."
    ),
    # -- L2 --------------------------------------------------------------------------------------
    "l2.ok": N_(
        "An IP address is logical; on an Ethernet link a frame needs the physical (MAC) address "
        "of the next hop, which ARP (IPv4) or NDP (IPv6) finds and the neighbour table keeps. "
        "The table's MAC for the next hop is the MAC that answers live, so frames reach the "
        "right station."
    ),
    "l2.mismatch": N_(
        "The ARP table holds a MAC for the next hop that is not the MAC answering for its "
        "address. Every frame goes to the wrong station, so everything above L2 fails at once "
        "although the route is right. A static (PERMANENT) entry never expires: it stays wrong "
        "until it is deleted. The fix deletes it, and the kernel learns the right MAC with its "
        "next ARP request."
    ),
    "l2.silent": N_(
        "The next hop does not answer ARP/NDP requests: it is down, not on this link, or drops "
        "ARP. Without its MAC no frame can be sent, and after about 3 s ping reports "
        "'Destination Host Unreachable' from this host itself. netladder arp ADDRESS repeats "
        "the request and shows whether anything answers."
    ),
    "l2.several-stations": N_(
        "Two or more stations answer for one IP address: a duplicate address, or a station "
        "answering for others (proxy ARP, spoofing). The table keeps whichever answer came "
        "last, so traffic flips between them; netladder neigh watch shows the entry changing "
        "(arpwatch's flip flop)."
    ),
    "l2.claimed": N_(
        "A station sends ARP frames claiming the next hop's address without being asked "
        "(gratuitous ARP). That is normal once, after an address moves; a station that keeps "
        "doing it for an address it does not own is misconfigured or spoofing, and can rewrite "
        "the table at any moment."
    ),
    "l2.table-only": N_(
        "Without CAP_NET_RAW netladder cannot send ARP itself, so it shows only what the "
        "neighbour table holds. Run it as root (or grant CAP_NET_RAW) to compare the table with "
        "a live answer."
    ),
    "l2.arp-reply": N_(
        "ARP (IPv4) and NDP (IPv6) ask the link 'who has this address?', and the station that "
        "owns it answers with its MAC. The time to the answer is the link's own round trip, "
        "without IP routing. One MAC answering is the healthy case."
    ),
    "l2.arp-no-reply": N_(
        "No station on this link answered for the address: it is unused, the host is down, or "
        "it does not answer ARP. Unlike ping, ARP is not routed: it only reaches the link the "
        "route points to."
    ),
    "l2.dad-free": N_(
        "Duplicate address detection (RFC 5227) asks from 0.0.0.0, so no table learns anything "
        "from it: silence means that no station uses the address, and it is free to take."
    ),
    "l2.dad-duplicate": N_(
        "A station answered the duplicate-address probe: the address is in use by that MAC. "
        "Taking it would put two stations with one address on the link."
    ),
    # -- L3 --------------------------------------------------------------------------------------
    "l3.replies": N_(
        "ICMP echo (ping) asks the host itself to answer, with no port: it checks that IP "
        "packets reach the host and come back. The RTT (round-trip time) is the time from a "
        "request to its reply, and loss is the share of requests without one. Every echo was "
        "answered."
    ),
    "l3.sweep-alive": N_(
        "A sweep (fping) sends ICMP echo to many targets at once, and a target is alive as "
        "soon as one of its echoes is answered: IP packets reach it and come back. A silent "
        "target is asked again with a longer timeout each time (--retries, --backoff) before "
        "it is called unreachable, so one lost packet does not make a host look down."
    ),
    "l3.loss": N_(
        "Some echoes got no reply: packets are lost on the way there or back. L3 alone does "
        "not say where; netladder trace TARGET --cycles 20 probes every hop many times and "
        "shows the hop where the loss starts and persists to the end."
    ),
    "l3.high-rtt": N_(
        "The replies come back, but slowly. The RTT adds up every link and every queue on the "
        "way there and back; netladder trace shows the hop where the added time appears."
    ),
    "l3.silent": N_(
        "No reply and no error came back. The host may be down or absent, or a firewall may "
        "drop ICMP: echo alone cannot tell these apart. A port check can: a host that answers "
        "TCP (netladder port TARGET PORT) is up."
    ),
    "l3.echo-error": N_(
        "A router (or this host) answered the echo with an ICMP error that says why it could "
        "not be delivered: host unreachable (no ARP answer on the last link), net unreachable "
        "(no route), administratively prohibited (a firewall) or time exceeded (a loop). The "
        "error's sender is where to look next."
    ),
    "l3.blocked": N_(
        "ICMP echo gets no answer, but the host answers TCP: it is up, and a firewall blocks "
        "ICMP echo. That is common and not a failure; a TCP trace (netladder trace TARGET "
        "--proto tcp -p PORT) measures the path instead."
    ),
    "l3.prohibited": N_(
        "A firewall answered the echo with ICMP administratively prohibited: it rejects the "
        "packets and says so. The error's sender is the firewall."
    ),
    "l3.ttl-exceeded": N_(
        "The echoes died on the way: a router answered ICMP time exceeded, so the TTL ran out "
        "before the host was reached — a routing loop, or a path longer than the TTL. netladder "
        "trace shows the hops that repeat."
    ),
    # -- the path --------------------------------------------------------------------------------
    "path.not-needed": N_(
        "The path is traced when L3 sees loss or a high RTT; it saw neither, so no trace was "
        "needed. A full-size echo with Don't Fragment set got through too: large packets pass as "
        "well as small ones."
    ),
    "path.ok": N_(
        "The trace reached the destination, and no hop adds delay or loss that persists to the end."
    ),
    "path.latency": N_(
        "A trace sends probes with a growing TTL (1, 2, 3…): the router where the TTL runs out "
        "answers ICMP time exceeded, which names each hop and the time to it. Delay that "
        "appears at one hop and stays at every hop after it is added on the link just before "
        "that hop; a hop that is slow alone is only slow to answer ICMP."
    ),
    "path.loss": N_(
        "Loss that starts at one hop and persists to the destination is real loss on the link "
        "just before that hop. Loss at one intermediate hop that does not persist is that "
        "router limiting its ICMP answers, not lost traffic — the most common misreading of "
        "mtr."
    ),
    "path.no-answer": N_(
        "The trace gets no answer beyond some hop: a router there does not forward, the "
        "destination is down or absent, or a filter drops the probes. The last hop that "
        "answered is the last place the packets are known to reach."
    ),
    "path.unreachable": N_(
        "A router answered the trace with an ICMP unreachable error (!H, !N, !X…): it could not "
        "or would not forward any further. The annotation says why, and the router's address "
        "where."
    ),
    "path.loop": N_(
        "The same routers repeat hop after hop: a routing loop, two routers each sending the "
        "packets to the other until the TTL runs out. Their routes to this destination need "
        "fixing."
    ),
    "path.quiet-hop": N_(
        "A router in the middle left some probes unanswered, yet the hops after it answer "
        "them all: the packets did pass through it. Routers answer ICMP time exceeded from "
        "their own CPU and limit how often they do, so this is the router being quiet, not "
        "loss on the path; only loss that persists to the destination is."
    ),
    "path.black-hole": N_(
        "A link on the way carries smaller packets than this host sends, and the ICMP message "
        "that should say so ('fragmentation needed', IPv6 'packet too big') is filtered: a path "
        "MTU black hole. Small packets (a TCP handshake, a ping) pass and full-size ones vanish, "
        "so connections open and then stall. ping -M do -s SIZE finds the largest size that "
        "passes."
    ),
    # -- L4 --------------------------------------------------------------------------------------
    "l4.open": N_(
        "A TCP port is open when a service listens on it: the SYN is answered with SYN/ACK and "
        "the handshake completes. One listening socket accepts many connections, each a socket "
        "of its own named by the client's address and port; netladder sockets PORT shows them on "
        "the server."
    ),
    "l4.closed": N_(
        "The host answered the SYN with a RST (connection refused): it is up and reachable, but "
        "nothing listens on that port. Start the service or check the port number; netladder "
        "sockets shows what a host listens on."
    ),
    "l4.filtered": N_(
        "No answer to the SYN, even after retries: something on the way drops the packets — a "
        "firewall rule, or a port forward or NAT that loses them or sends the replies back "
        "another way. A closed port would answer RST; silence means a filter. netladder trace "
        "TARGET --proto tcp -p PORT shows the last router the SYNs reach."
    ),
    "l4.rejected": N_(
        "An ICMP unreachable error came back instead of SYN/ACK or RST: a firewall (or a router "
        "without a route) rejected the connection and said so. The error's sender is the one "
        "that refused."
    ),
    "l4.open-filtered": N_(
        "UDP has no handshake: an open UDP service may answer nothing, and a filter says nothing "
        "either. Only an answer (open) or an ICMP port unreachable (closed) is conclusive; "
        "silence is open|filtered."
    ),
    "l4.listening": N_(
        "A server program opens a listening socket on a port (LISTEN; a UDP service an "
        "unconnected socket, UNCONN), and the kernel creates one connected socket per client "
        "from it, named by both ends' address and port. Recv-Q on a listener is the accept "
        "queue: connections the kernel has completed that the program has not accepted yet."
    ),
    "l4.not-listening": N_(
        "Nothing on this host listens on the port, so the kernel answers a SYN to it with a "
        "RST (connection refused) and a UDP datagram with ICMP port unreachable. Start the "
        "service, or check which port it is configured for; netladder sockets without a port "
        "lists every listener."
    ),
    "l4.forged-reset": N_(
        "The RST came back with a TTL that is not the host's own: something on the way (a "
        "firewall or an IPS) reset the connection in the host's name."
    ),
    # -- NAT -------------------------------------------------------------------------------------
    "nat.ok": N_(
        "A port forward rewrites the destination of packets arriving on a port (DNAT to another "
        "host, or REDIRECT to another port of this host); conntrack remembers each connection "
        "and rewrites its replies back. The connection through the forward got the target's "
        "own answer, and the forward's rule counted it."
    ),
    "nat.no-rule": N_(
        "netladder has no forward for this port, so connections to it reach whatever listens on "
        "the port itself. netladder forward list shows the forwards and every other table's NAT "
        "rules."
    ),
    "nat.not-hit": N_(
        "The forward exists but its rule's counter did not move: the connection never passed "
        "the hook the rule sits in. A rule in PREROUTING only sees packets arriving from other "
        "hosts; connections made on this host itself pass OUTPUT instead, so a REDIRECT without "
        "--local misses local traffic."
    ),
    "nat.forwarding-disabled": N_(
        "A DNAT forward sends packets on to another host, and the kernel forwards them only "
        "with IP forwarding on: net.ipv4.ip_forward is 0, so they are dropped after the "
        "rewrite. sysctl -w net.ipv4.ip_forward=1 turns it on."
    ),
    "nat.target": N_(
        "The forward leads to its target, but the target itself fails the same way when asked "
        "directly: the fault is at the target (a service down, a closed or filtered port), not "
        "in the forward."
    ),
    "nat.lost": N_(
        "The target answers directly but not through the forward: the rewritten packets are lost "
        "on the way, or the replies go back another way (without masquerade) and never meet the "
        "connection's conntrack entry."
    ),
    "nat.wrong-answer": N_(
        "Something answers through the forward, but not what the target says: the forward leads "
        "to another service (a wrong port or address), or another rule catches the port first."
    ),
    # -- L7 --------------------------------------------------------------------------------------
    "l7.ok": N_(
        "HTTP runs over the TCP connection: the client sends a request line and headers, the "
        "server answers with a status line (the status code), headers and content. A 2xx or 3xx "
        "status means the request worked (a 3xx points elsewhere with Location). The timings "
        "split the time into name lookup, TCP connect, TLS, server processing and transfer."
    ),
    "l7.4xx": N_(
        "A 4xx status says that the request was wrong in the server's eyes (not found, not "
        "allowed, not authenticated, too many): the server works, and the client must change "
        "the request. netladder codes CODE says what the code means and how it differs from its "
        "neighbours."
    ),
    "l7.5xx": N_(
        "A 5xx status says that the server failed to handle a valid request: the network and "
        "the HTTP server are up, the application behind them is not. 503 (Service Unavailable) "
        "is temporary and should say when to retry with Retry-After; 502 and 504 come from a "
        "proxy whose upstream failed or was too slow."
    ),
    "l7.request-failed": N_(
        "No complete HTTP response arrived: the request failed in one phase — connecting, the "
        "TLS handshake, waiting for the response, reading the content. The phase says where: a "
        "timeout while waiting for the response is the server's processing, a reset is the "
        "server or something on the way closing the connection."
    ),
    "l7.lint": N_(
        "The response breaks a rule of the HTTP specification (RFC 9110), so a client may "
        "misread it: a 503 without Retry-After cannot say when to retry, a 401 without "
        "WWW-Authenticate does not say how to authenticate. netladder http URL --lint lists "
        "every finding with its section."
    ),
    "l7.slo": N_(
        "A phase took longer than its threshold (--slo). The server phase is the time from the "
        "request sent to the first byte of the answer: the application's own time."
    ),
    # -- names: the public address ---------------------------------------------------------------
    "names.myip-nat": N_(
        "The public IP is the address that servers on the Internet see; the local address is "
        "the one on this host's interface. They differ, so a NAT (a home router, a carrier's "
        "NAT) rewrites the private source address to its public one. Hosts outside cannot open "
        "connections to this one unless a port forward on that NAT lets them."
    ),
    "names.myip-direct": N_(
        "The public address that servers see is this host's own: no NAT rewrites its source "
        "address, so hosts outside can reach it directly (as far as its firewall allows)."
    ),
    "names.myip-disagree": N_(
        "The sources saw different public addresses: traffic leaves by more than one NAT or "
        "path (a pool of NAT addresses, IPv4 and IPv6 taking different ways), so a server may "
        "see any of them."
    ),
    "names.myip-none": N_(
        "No source answered, so the public address is unknown: the echo services and STUN "
        "servers could not be reached. netladder diagnose checks the layers towards one of "
        "them."
    ),
    # -- status codes ----------------------------------------------------------------------------
    "l7.class-1xx": N_(
        "1xx responses are interim: the server received the request head and goes on (100 "
        "Continue) or switches protocols (101). A final response always follows."
    ),
    "l7.class-2xx": N_(
        "2xx means success: 200 with the content, 201 a new resource (named by Location), 204 "
        "success without content."
    ),
    "l7.class-3xx": N_(
        "3xx sends the client elsewhere, named by Location: 301 and 308 for good, 302 and 307 "
        "for now (307 and 308 keep the method), 303 to see the result of a POST, 304 to keep "
        "using the cached copy."
    ),
    "l7.class-4xx": N_(
        "4xx blames the request: 400 malformed, 401 not authenticated, 403 authenticated but "
        "not allowed, 404 nothing there, 405 a method the resource does not allow, 409 a "
        "conflict with its state, 422 well-formed but invalid, 429 too many requests. The "
        "client must change something before it tries again."
    ),
    "l7.class-5xx": N_(
        "5xx blames the server: 500 an unexpected failure, 502 and 504 a gateway whose upstream "
        "failed or was too slow, 503 unavailable for now (with Retry-After). The same request "
        "may work later."
    ),
}

_HEAD = N_("explain ({layer}): {text}")


def lines(keys: Iterable[str]) -> Iterator[str]:
    """The human output: a blank line, then one paragraph per entry."""
    chosen = list(dict.fromkeys(keys))
    if not chosen:
        return
    yield ""
    for key in chosen:
        layer = key.split(".", 1)[0]
        yield _(_HEAD).format(layer=_(LAYERS[layer]), text=_(EXPLAIN[key]))


def document(keys: Iterable[str]) -> list[dict[str, str]]:
    """JSON's `explain` field: English, whatever the language (JSON never changes with it)."""
    with english():
        return [
            {"topic": key, "layer": key.split(".", 1)[0], "text": EXPLAIN[key]}
            for key in dict.fromkeys(keys)
        ]


def emit_json(result: Any, keys: Iterable[str], sentence: Any = None) -> None:
    """`--json --explain`: the command's document as `output.emit_json` prints it, with the
    `explain` field last."""
    from netladder.output import emit_json as emit
    from netladder.output import to_jsonable

    doc = to_jsonable(result, sentence)
    emit({**doc, "explain": document(keys)})


def say(keys: Iterable[str]) -> None:
    """`--explain` on a terminal: the paragraphs after the result, on stdout."""
    for line in lines(keys):
        print(line)


# -- which entries a result calls for ------------------------------------------------------------

_DNS = {
    "records": "names.records",
    "nxdomain": "names.nxdomain",
    "nodata": "names.nodata",
    "cname-loop": "names.cname",
    "cname-incomplete": "names.cname",
    "chase-loop": "names.cname",
    "chase-no-time": "names.cname",
    "chased": "names.cname",
    "referral": "names.referral",
    "rcode": "names.rcode",
    "malformed": "names.malformed",
    "tc-over-tcp": "names.malformed",
    "timeout": "names.timeout",
    "not-asked": "names.timeout",
    "unreachable": "names.unreachable",
    "no-resolver": "names.no-resolver",
}


def keys_resolution(r: Resolution) -> list[str]:
    key = _DNS.get(r.finding.kind)
    return [key] if key else []


def keys_comparison(c: Comparison) -> list[str]:
    return ["names.agree" if c.agree else "names.differ"]


def keys_route(d: RouteDecision) -> list[str]:
    if d.error is not None or not d.reachable:
        return ["route.no-route"]
    if d.type == "local":
        return ["route.local"]
    return ["route.gateway" if d.gateway else "route.on-link"]


_NEIGH = {
    "mismatch": "l2.mismatch",
    "silent": "l2.silent",
    "gateway-silent": "l2.silent",
    "silent-but-claimed": "l2.claimed",
    "claimed": "l2.claimed",
    "several-stations": "l2.several-stations",
    "ok": "l2.ok",
    "ok-no-mac": "l2.ok",
    "ok-no-entry": "l2.ok",
    "no-route": "route.no-route",
    "no-default-route": "route.no-route",
    "own-address": "route.local",
}


def keys_neigh_check(c: NeighCheck) -> list[str]:
    key = _NEIGH.get(c.finding)
    return [key] if key else []


def keys_neigh(report: NeighReport) -> list[str]:
    return [key for c in report.checks for key in keys_neigh_check(c)]


def keys_arp(result: ArpResult) -> list[str]:
    if result.interrupted and not result.replies:
        return []
    if result.setup.dad:
        return ["l2.dad-duplicate" if result.replies else "l2.dad-free"]
    if result.conflict:
        return ["l2.several-stations"]
    keys = ["l2.arp-reply" if result.replies else "l2.arp-no-reply"]
    if result.unsolicited:
        keys.append("l2.claimed")
    return keys


def keys_http(check: HttpCheck) -> list[str]:
    status = check.final.status
    if check.error is not None or status is None:
        keys = ["l7.request-failed"]
    elif status >= 500:
        keys = ["l7.5xx"]
    elif status >= 400:
        keys = ["l7.4xx"]
    else:
        keys = ["l7.ok"]
    if check.final.lint:
        keys.append("l7.lint")
    if check.slo_violations:
        keys.append("l7.slo")
    return keys


def keys_myip(result: MyIpResult) -> list[str]:
    if not result.public:
        return ["names.myip-none"]
    kinds = {part.kind for part in result.verdict.parts}
    if "disagree" in kinds:
        return ["names.myip-disagree"]
    return ["names.myip-nat" if result.behind_nat else "names.myip-direct"]


def keys_code(code: int) -> list[str]:
    return [f"l7.class-{code // 100}xx"] if 1 <= code // 100 <= 5 else []


_FORWARD = {
    "ok": "nat.ok",
    "no_rule": "nat.no-rule",
    "rule_not_hit": "nat.not-hit",
    "forwarding_disabled": "nat.forwarding-disabled",
    "target_closed": "nat.target",
    "target_filtered": "nat.target",
    "target_unreachable": "nat.target",
    "target_no_reply": "nat.target",
    "no_answer_through_forward": "nat.lost",
    "wrong_answer": "nat.wrong-answer",
}


def keys_forward(cause: str) -> list[str]:
    """`forward verify`'s cause (nat.verify.Cause's value)."""
    key = _FORWARD.get(cause)
    return [key] if key else []


# -- diagnose: the verdict's rung, and the warnings beside a pass ---------------------------------

# Keyed by the typed findings of the other engines, for their commands' --explain (wired by
# the final pass of issue 16): ping's verdict, the trace's verdict kind, nmap's port states.
PING_VERDICTS = {
    "reachable": "l3.replies",
    "silent": "l3.silent",
    "unreachable": "l3.echo-error",
    "prohibited": "l3.prohibited",
    "ttl-exceeded": "l3.ttl-exceeded",
}
TRACE_VERDICTS = {
    "ok": "path.ok",
    "latency": "path.latency",
    "loss": "path.loss",
    "unreachable": "path.unreachable",
    "no-answer": "path.no-answer",
}
PORT_STATES = {
    "open": "l4.open",
    "closed": "l4.closed",
    "filtered": "l4.filtered",
    "open|filtered": "l4.open-filtered",
}


def keys_ping(results: Iterable[PingResult]) -> list[str]:
    """ping's verdict per target: replies (all, or some: loss), or why none came."""
    keys = []
    for r in results:
        if not r.transmitted:
            continue
        verdict = r.verdict
        if verdict == "reachable":
            keys.append("l3.loss" if r.loss_percent > 0 else "l3.replies")
        else:
            keys.append(PING_VERDICTS[verdict])
    return keys


def keys_sweep(sweep: Sweep) -> list[str]:
    """A sweep's targets: the alive, the unreachable that an ICMP error explains, the silent."""
    keys = []
    alive = any(r.alive_indices() for r in sweep.results)
    if alive:
        keys.append("l3.sweep-alive")
    errored = silent = False
    for r in sweep.results:
        errors = {i for i, _type, _code, _sender in r.error_events()}
        unreachable = set(r.unreachable_indices())
        errored = errored or bool(unreachable & errors)
        silent = silent or bool(unreachable - errors)
    if errored:
        keys.append("l3.echo-error")
    if silent:
        keys.append("l3.silent")
    return keys


def keys_trace(result: TraceResult) -> list[str]:
    """`trace`'s verdict, and its quiet hops (a router slow to answer is no loss)."""
    v = result.verdict
    if result.interrupted and not result.hops:
        return []
    keys = ["path.loop" if v.loop else TRACE_VERDICTS.get(v.kind, "path.no-answer")]
    if v.quiet.hops:
        keys.append("path.quiet-hop")
    return keys


def keys_scan(result: ScanResult) -> list[str]:
    """`port`'s states, each once, in the order nmap ranks them; a reset from before the host
    and an ICMP rejection say more than their state."""
    from netladder.l4.model import PortState

    keys = []
    rows = [(p.state, p.reason, bool(p.reset_hops_before)) for p in result.ports]
    rows += [(g.state, g.reason, bool(g.reset_hops_before)) for g in result.not_shown]
    for state in (PortState.OPEN, PortState.OPEN_FILTERED, PortState.CLOSED, PortState.FILTERED):
        mine = [(reason, forged) for s, reason, forged in rows if s is state]
        if not mine:
            continue
        if state is PortState.FILTERED:
            if any(reason == "no-response" for reason, _forged in mine):
                keys.append("l4.filtered")
            if any(reason != "no-response" for reason, _forged in mine):
                keys.append("l4.rejected")
            continue
        keys.append(PORT_STATES[state.value])
        if state is PortState.CLOSED and any(forged for _reason, forged in mine):
            keys.append("l4.forged-reset")
    return keys


def keys_sockets(result: SocketsResult) -> list[str]:
    """`sockets`: what a listening socket is, or what it means that none listens."""
    if result.port is not None and not result.listeners:
        return ["l4.not-listening"]
    return ["l4.listening"] if result.listeners else []


def keys_diagnosis(d: Diagnosis) -> list[str]:
    from netladder.diagnose.model import Status

    failing = next((r for r in d.rungs if r.status is Status.FAIL), None)
    if failing is not None:
        return _rung_keys(failing)
    if d.verdict.layer == "interrupted":
        return []
    keys = ["ladder.all-pass"]
    for rung in d.rungs:
        if rung.status is Status.WARN:
            keys += _rung_keys(rung)
    return keys


def _rung_keys(rung: Rung) -> list[str]:
    from netladder.diagnose.model import (
        BlackHole,
        Echoes,
        Http,
        NextHop,
        PortsFailed,
        TableOnly,
        Trace,
        Unresolved,
    )

    e = rung.evidence
    finding = rung.finding
    if isinstance(e, Unresolved):
        if finding == "system-only":
            return ["names.system-only"]
        return keys_resolution(e.dns)
    if rung.layer == "route" and finding in ("no-route", "local", "gateway", "on-link"):
        return [f"route.{finding}"]
    if isinstance(e, NextHop):
        return keys_neigh_check(e.check)
    if isinstance(e, TableOnly):
        return ["l2.table-only"]
    if isinstance(e, Echoes):
        if e.blocked is not None:
            return ["l3.blocked"]
        if finding in ("silent", "echo-error", "loss", "high-rtt"):
            return [f"l3.{finding}"]
        return []
    if isinstance(e, Trace):
        keys = [TRACE_VERDICTS.get(e.verdict.kind, "path.no-answer")]
        return ["path.loop"] if e.verdict.loop else keys
    if isinstance(e, BlackHole):
        return ["path.black-hole"]
    if isinstance(e, PortsFailed):
        f = e.failure
        if f.state == "closed":
            return ["l4.forged-reset" if f.forged is not None else "l4.closed"]
        if f.reason == "no-response":
            return ["l4.filtered"]
        return ["l4.rejected"]
    if isinstance(e, Http):
        keys = []
        if finding == "request-failed" or e.status is None:
            keys.append("l7.request-failed")
        elif e.status >= 500:
            keys.append("l7.5xx")
        elif e.status >= 400:
            keys.append("l7.4xx")
        if e.lint:
            keys.append("l7.lint")
        return keys
    return []
