"""Built-in topologies.  Add one by writing a function that returns a Topology and naming it in
BUILTIN; tests may also build a Topology inline."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from netladder.errors import UsageError
from netladder.lab.topology import Link, Node, Segment, Service, Topology

__all__ = ["BUILTIN", "chain", "chain3", "demo", "get", "nat", "pair", "scan", "sweep"]

SSH_BANNER = "SSH-2.0-OpenSSH_9.2p1 netladder-lab"
SMTP_BANNER = "220 server.lab ESMTP netladder-lab"


def chain() -> Topology:
    """client — r1 — r2 — server, and a LAN (lan1..lan3) behind r1.

    ::

        client .2 ─203.0.113.0/30─ .1 r1 .5 ─203.0.113.4/30 (relay)─ .6 r2 .9 ─┐
                                      │ .65                 198.51.100.8/30 ─┘
                 198.51.100.64/26: lan1 .66, lan2 .67, lan3 .68     .10 server

    The server also answers for 198.18.0.0/17 (a `local` route), for sweeps.
    """
    return Topology(
        name="chain",
        description="client - r1 - r2 - server, plus a LAN behind r1",
        nodes=(
            Node("client"),
            Node("r1", "router"),
            Node("r2", "router"),
            Node("server", local_prefixes=("198.18.0.0/17",)),
            Node("lan1"),
            Node("lan2"),
            Node("lan3"),
        ),
        links=(
            Link("r1", "client", "203.0.113.0/30", "2001:db8:1::/64"),
            Link("r1", "r2", "203.0.113.4/30", "2001:db8:2::/64", relay=True),
            Link("r2", "server", "198.51.100.8/30", "2001:db8:3::/64"),
        ),
        segments=(
            Segment("lan", ("r1", "lan1", "lan2", "lan3"), "198.51.100.64/26", "2001:db8:10::/64"),
        ),
        services=(
            Service("server", "tcp", 22, {"banner": SSH_BANNER}),
            Service("server", "tcp", 25, {"banner": SMTP_BANNER}),
            Service("server", "http", 80),
            Service("server", "http", 8080, {"routes": {"/": {"status": 200, "body": "alt\n"}}}),
            Service("server", "udp-echo", 7),
            Service("lan1", "http", 80),
        ),
    )


def chain3() -> Topology:
    """client — r1 — r2 — r3 — server: three routers, for path checks (netladder trace).

    ::

        client .2 ─203.0.113.0/30─ .1 r1 .5 ─203.0.113.4/30 (relay)─ .6 r2 .9 ─┐
                  203.0.113.8/30 (relay) ─ .10 r3 .9 ─198.51.100.8/30─ .10 server

    The r1—r2 and r2—r3 links have relays so Delay works on them.  The server answers every
    probe with ICMP (no 1/s rate limit, which would look like loss), and the client allows
    unprivileged ICMP datagram sockets (ping_group_range).
    """
    return Topology(
        name="chain3",
        description="client - r1 - r2 - r3 - server",
        nodes=(
            Node("client", sysctls={"net.ipv4.ping_group_range": "0 2147483647"}),
            Node("r1", "router"),
            Node("r2", "router"),
            Node("r3", "router"),
            Node(
                "server", sysctls={"net.ipv4.icmp_ratelimit": "0", "net.ipv6.icmp.ratelimit": "0"}
            ),
        ),
        links=(
            Link("r1", "client", "203.0.113.0/30", "2001:db8:1::/64"),
            Link("r1", "r2", "203.0.113.4/30", "2001:db8:2::/64", relay=True),
            Link("r2", "r3", "203.0.113.8/30", "2001:db8:4::/64", relay=True),
            Link("r3", "server", "198.51.100.8/30", "2001:db8:3::/64"),
        ),
        services=(
            Service("server", "tcp", 22, {"banner": SSH_BANNER}),
            Service("server", "http", 80),
        ),
    )


def pair() -> Topology:
    """Two hosts on one link: the smallest lab, for unit-like lab tests and benchmarks."""
    return Topology(
        name="pair",
        description="a - b on one link",
        nodes=(Node("a"), Node("b")),
        links=(Link("a", "b", "198.51.100.0/30", "2001:db8:100::/64"),),
        services=(
            Service("b", "tcp", 22, {"banner": SSH_BANNER}),
            Service("b", "http", 80),
            Service("b", "udp-echo", 7),
        ),
    )


# The lab's DNS zone, served by `pub` in the `nat` topology: [name, ttl, type, rdata].
LAB_RECORDS: tuple[tuple[str, int, str, str], ...] = (
    ("@", 300, "NS", "ns"),
    ("ns", 300, "A", "203.0.113.6"),
    ("host", 60, "A", "203.0.113.6"),
    ("host", 60, "AAAA", "2001:db8:b::2"),
    ("web", 120, "CNAME", "host"),
    ("www", 300, "CNAME", "web"),
    ("stun", 300, "A", "203.0.113.6"),
    ("stun", 300, "AAAA", "2001:db8:b::2"),
    ("echo", 300, "A", "203.0.113.6"),
    ("echo", 300, "AAAA", "2001:db8:b::2"),
    ("v4only", 300, "A", "203.0.113.6"),
    ("mail", 300, "MX", "10 host"),
    ("txt", 300, "TXT", '"netladder lab" "second string"'),
    ("pinned", 300, "A", "203.0.113.6"),
    ("dangling", 300, "CNAME", "gone"),
    ("slow", 300, "A", "203.0.113.6"),
    *(("big", 300, "A", f"198.18.0.{i}") for i in range(1, 101)),
    ("6.113.0.203.in-addr.arpa.", 300, "PTR", "host.lab."),
)

NAT_MASQUERADE = """table inet nlnat {
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "to-pub" masquerade
  }
}
"""


def nat() -> Topology:
    """A client behind a masquerading router; DNS, STUN and HTTP echo on the "public" side.

    ::

        client .2 ─198.51.100.0/30─ .1 nat .5 ─203.0.113.4/30─ .6 pub
        IPv6: 2001:db8:a::/64 (inside), 2001:db8:b::/64 (outside); both families masqueraded

    pub serves the zone `lab.` (LAB_RECORDS) on 53 (slow.lab answers after 1.5 s,
    servfail.lab is SERVFAIL, garbage.lab gets a broken answer), STUN on 3478 (and misbehaving
    responders on 3479 garbage, 3480 silent, 3481 classic MAPPED-ADDRESS only, 3482 answering
    another transaction, 3483 a 500 error) and an HTTP echo
    on 80.  The router also runs an HTTP echo on 8080, which the client reaches without NAT.
    The client's resolv.conf names pub; its /etc/hosts pins pinned.lab to 203.0.113.99.
    """
    return Topology(
        name="nat",
        description="client behind a masquerading router; DNS, STUN and HTTP echo outside",
        nodes=(
            Node(
                "client",
                etc={
                    "resolv.conf": "nameserver 203.0.113.6\nsearch lab\n"
                    "options timeout:2 attempts:1\n",
                    "hosts": "127.0.0.1 localhost\n::1 localhost\n203.0.113.99 pinned.lab\n",
                    "nsswitch.conf": "hosts: files dns\n",
                },
            ),
            Node("nat", "router", setup=(NAT_MASQUERADE,)),
            Node("pub"),
        ),
        links=(
            Link("nat", "client", "198.51.100.0/30", "2001:db8:a::/64"),
            Link("nat", "pub", "203.0.113.4/30", "2001:db8:b::/64"),
        ),
        services=(
            Service(
                "pub",
                "dns",
                53,
                {
                    "zones": ["lab.", "113.0.203.in-addr.arpa."],
                    "records": [list(r) for r in LAB_RECORDS],
                    "slow": {"slow": 1500},
                    "servfail": ["servfail"],
                    "garbage": ["garbage"],
                },
            ),
            Service("pub", "stun", 3478),
            Service("pub", "stun", 3479, {"mode": "garbage"}),
            Service("pub", "stun", 3480, {"mode": "silent"}),
            Service("pub", "stun", 3481, {"mode": "classic"}),
            Service("pub", "stun", 3482, {"mode": "wrong-txid"}),
            Service("pub", "stun", 3483, {"mode": "error"}),
            Service("pub", "http-echo", 80),
            Service("nat", "http-echo", 8080),
        ),
    )


# Many full-size packets' worth of content: what a GET of a real page makes the server send.
BIG_BODY = "netladder lab: a body larger than one packet, for path-MTU trouble\n" * 300


def demo() -> Topology:
    """The chain with names: the server also serves the zone `lab.` (www.lab, server.lab,
    api.lab -> 198.51.100.10) on port 53, and the client resolves through it; its HTTP server
    answers /big with about 20 kB (path-MTU trouble shows on a GET of it, not on a HEAD).
    `make demo` and the diagnose tests use it."""
    base = chain()
    big = Service("server", "http", 80, {"routes": {"/big": {"status": 200, "body": BIG_BODY}}})
    zone = (
        ("@", 300, "NS", "ns"),
        ("ns", 300, "A", "198.51.100.10"),
        ("server", 300, "A", "198.51.100.10"),
        ("server", 300, "AAAA", "2001:db8:3::2"),
        ("www", 300, "CNAME", "server"),
        ("api", 300, "CNAME", "server"),
        ("lan1", 300, "A", "198.51.100.66"),
    )
    client = Node(
        "client",
        etc={
            "resolv.conf": "nameserver 198.51.100.10\nsearch lab\noptions timeout:1 attempts:2\n",
            "hosts": "127.0.0.1 localhost\n::1 localhost\n",
            "nsswitch.conf": "hosts: files dns\n",
        },
    )
    return replace(
        base,
        name="demo",
        description="client - r1 - r2 - server (with DNS for lab.), plus a LAN behind r1",
        nodes=tuple(client if n.name == "client" else n for n in base.nodes),
        services=(
            *(
                big if (s.node, s.kind, s.port) == ("server", "http", 80) else s
                for s in base.services
            ),
            Service("server", "dns", 53, {"zones": ["lab."], "records": [list(r) for r in zone]}),
        ),
    )


def scan() -> Topology:
    """A scanner and its target on one link: the bed for full port-scan benchmarks."""
    return Topology(
        name="scan",
        description="client - target on one link (port scans)",
        nodes=(Node("client"), Node("target")),
        links=(Link("client", "target", "198.51.100.12/30", "2001:db8:101::/64"),),
        services=(
            Service("target", "tcp", 22, {"banner": SSH_BANNER}),
            Service("target", "tcp", 25, {"banner": SMTP_BANNER}),
            Service("target", "http", 80),
            Service("target", "udp-echo", 7),
        ),
    )


def sweep() -> Topology:
    """client — target for sweeps and ping benchmarks: the target answers for 198.18.0.0/17 (a
    `local` route); the client sends all of 198.18.0.0/16 to it (its gateway), and the other
    half stays silent (the target is not a router, so it drops them without an ICMP error)."""
    return Topology(
        name="sweep",
        description="client - target answering half of 198.18.0.0/16",
        nodes=(
            Node("client", gateway="target"),
            Node("target", local_prefixes=("198.18.0.0/17",)),
        ),
        links=(Link("target", "client", "198.51.100.16/30", "2001:db8:200::/64"),),
    )


BUILTIN: dict[str, Callable[[], Topology]] = {
    "chain": chain,
    "chain3": chain3,
    "demo": demo,
    "nat": nat,
    "pair": pair,
    "scan": scan,
    "sweep": sweep,
}


def get(name: str) -> Topology:
    factory = BUILTIN.get(name)
    if factory is None:
        raise UsageError(f"unknown topology {name!r} (known: {', '.join(sorted(BUILTIN))})")
    return factory()
