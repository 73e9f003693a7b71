"""Faults the lab can inject at run time.  Each fault applies itself and returns its undo.

Packet faults are nftables rules in a table of their own inside the node's namespace
(``inet nlfault_N``), so reverting one is deleting its table and never disturbs another.
Delay uses tc netem where the kernel has sch_netem and otherwise the link's frame relay.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from netladder.errors import EnvError, UsageError
from netladder.lab import sh

if TYPE_CHECKING:
    from netladder.lab.core import Lab

__all__ = [
    "BlockEcho",
    "Delay",
    "DropPort",
    "DropPorts",
    "Loss",
    "NoArp",
    "NoTimeExceeded",
    "RejectPort",
    "RoutingLoop",
    "SmallMtu",
    "Undo",
    "WrongArp",
    "netem_available",
]

Undo = Callable[[], None]
_ids = itertools.count(1)


def _nft_fault(lab: Lab, node: str, hook: str, rules: list[str]) -> Undo:
    """A table with one chain on `hook` holding `rules`; the undo deletes the table."""
    sh.require_tools("nft")
    table = f"nlfault_{os.getpid()}_{next(_ids)}"
    body = "\n".join(f"    {rule}" for rule in rules)
    script = (
        f"table inet {table} {{\n  chain c {{\n"
        f"    type filter hook {hook} priority -150; policy accept;\n{body}\n  }}\n}}\n"
    )
    lab.exec(node, ["nft", "-f", "-"], input=script)

    def undo() -> None:
        lab.exec(node, ["nft", "delete", "table", "inet", table], check=False)

    return undo


@dataclass(frozen=True)
class Loss:
    """Drop `percent` % of packets travelling from node `src` to its neighbour `dst` (at dst's
    ingress), optionally only one protocol ("icmp", "tcp", "udp")."""

    src: str
    dst: str
    percent: float
    proto: str | None = None

    def apply(self, lab: Lab) -> Undo:
        iface = lab.iface(self.dst, self.src)
        match = f'iifname "{iface}"'
        if self.proto == "icmp":
            match += " meta l4proto { icmp, ipv6-icmp }"
        elif self.proto:
            match += f" meta l4proto {self.proto}"
        # numgen gives 0..9999 uniformly: drop when below percent·100.
        threshold = int(round(self.percent * 100))
        rule = f"{match} numgen random mod 10000 < {threshold} drop"
        return _nft_fault(lab, self.dst, "prerouting", [rule])


@dataclass(frozen=True)
class DropPort:
    """The port is filtered: packets to it vanish (nmap: filtered, no-response).  hook
    "output" drops the node's own packets to that port as they leave: its sends fail with
    EPERM (UDP's sendmsg; TCP's SYN is retried until the connect times out)."""

    node: str
    port: int
    proto: str = "tcp"
    hook: str = "input"

    def apply(self, lab: Lab) -> Undo:
        return _nft_fault(lab, self.node, self.hook, [f"{self.proto} dport {self.port} drop"])


@dataclass(frozen=True)
class DropPorts:
    """Many filtered ports in one rule (an nft set), e.g. 100 dropped ports for a scan."""

    node: str
    ports: tuple[int, ...]
    proto: str = "tcp"

    def apply(self, lab: Lab) -> Undo:
        ports = ", ".join(str(p) for p in sorted(set(self.ports)))
        return _nft_fault(lab, self.node, "input", [f"{self.proto} dport {{ {ports} }} drop"])


# How a REJECT answers: (IPv4, IPv6) nft reject statements; None where IPv6 has no such code.
_REJECTS: dict[str, tuple[str, str | None]] = {
    "admin-prohibited": ("icmp type admin-prohibited", "icmpv6 type admin-prohibited"),
    "port-unreachable": ("icmp type port-unreachable", "icmpv6 type port-unreachable"),
    "net-unreachable": ("icmp type net-unreachable", "icmpv6 type no-route"),
    "prot-unreachable": ("icmp type prot-unreachable", None),
    "tcp-reset": ("tcp reset", "tcp reset"),
}


@dataclass(frozen=True)
class RejectPort:
    """The port answers with ICMP administratively prohibited (nmap: filtered, admin-prohibited),
    or as `reject` says (iptables' --reject-with: port-unreachable is its default, tcp-reset
    forges the host's RST).  hook "forward" puts the rule on a router: it then rejects on the
    host's behalf."""

    node: str
    port: int
    proto: str = "tcp"
    reject: str = "admin-prohibited"
    hook: str = "input"

    def apply(self, lab: Lab) -> Undo:
        match = f"{self.proto} dport {self.port}"
        v4, v6 = _REJECTS[self.reject]
        rules = [f"meta nfproto ipv4 {match} reject with {v4}"]
        if v6 is not None:
            rules.append(f"meta nfproto ipv6 {match} reject with {v6}")
        return _nft_fault(lab, self.node, self.hook, rules)


@dataclass(frozen=True)
class RoutingLoop:
    """`node` (a router) routes `dest`'s addresses back to `via`, which routes them to `node`
    again: probes circle until their TTL runs out (ICMP time exceeded from one of the two)."""

    node: str
    dest: str
    via: str

    def apply(self, lab: Lab) -> Undo:
        routes = []
        for version in (4, 6):
            try:
                dest = lab.addr(self.dest, version)
                via = lab.addr_on(self.via, self.node, version)
            except UsageError:
                continue
            family = f"-{version}"
            lab.exec(self.node, ["ip", family, "route", "replace", dest, "via", via])
            routes.append((family, dest))

        def undo() -> None:
            for family, dest in routes:
                lab.exec(self.node, ["ip", family, "route", "del", dest], check=False)

        return undo


@dataclass(frozen=True)
class BlockEcho:
    """ICMP echo requests to the node are dropped (services still work)."""

    node: str

    def apply(self, lab: Lab) -> Undo:
        return _nft_fault(
            lab,
            self.node,
            "input",
            [
                "icmp type echo-request drop",
                "icmpv6 type echo-request drop",
            ],
        )


@dataclass(frozen=True)
class NoTimeExceeded:
    """A router that forwards but never says Time Exceeded (a `*` hop in traceroute)."""

    node: str

    def apply(self, lab: Lab) -> Undo:
        return _nft_fault(
            lab,
            self.node,
            "output",
            [
                "icmp type time-exceeded drop",
                "icmpv6 type time-exceeded drop",
            ],
        )


@dataclass(frozen=True)
class NoArp:
    """`node` neither answers nor sends ARP and NDP on its link to `peer`, and `peer` forgets
    what it knew: peer's entry for node goes INCOMPLETE, then FAILED — a gateway that is down
    or unplugged, as seen from the peer."""

    node: str
    peer: str

    def apply(self, lab: Lab) -> Undo:
        sh.require_tools("nft")
        iface = lab.iface(self.node, self.peer)
        table = f"nlfault_{os.getpid()}_{next(_ids)}"
        # Silent both ways: the peer also learns a MAC from the requests node sends itself.
        neighbour_discovery = "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert }"
        script = (
            f"table arp {table} {{\n"
            "  chain in {\n    type filter hook input priority 0; policy accept;\n"
            f'    meta iifname "{iface}" drop\n  }}\n'
            "  chain out {\n    type filter hook output priority 0; policy accept;\n"
            f'    meta oifname "{iface}" drop\n  }}\n}}\n'
            f"table ip6 {table} {{\n"
            "  chain in {\n    type filter hook input priority -150; policy accept;\n"
            f'    iifname "{iface}" {neighbour_discovery} drop\n  }}\n'
            "  chain out {\n    type filter hook output priority -150; policy accept;\n"
            f'    oifname "{iface}" {neighbour_discovery} drop\n  }}\n}}\n'
        )
        lab.exec(self.node, ["nft", "-f", "-"], input=script)
        peer_iface = lab.iface(self.peer, self.node)
        lab.exec(self.peer, ["ip", "neigh", "flush", "dev", peer_iface], check=False)

        def undo() -> None:
            for family in ("arp", "ip6"):
                lab.exec(self.node, ["nft", "delete", "table", family, table], check=False)
            lab.exec(self.peer, ["ip", "neigh", "flush", "dev", peer_iface], check=False)

        return undo


@dataclass(frozen=True)
class SmallMtu:
    """The link between `a` and `b` carries packets of at most `mtu` bytes.  With `black_hole`
    the routers at both ends also drop the ICMP "fragmentation needed" / ICMPv6 "packet too
    big" they send about it, so a sender of larger DF packets never learns the path MTU and its
    packets vanish: the PMTU black hole of RFC 2923 §2.1.  Undoing restores the MTU and flushes
    every node's route cache, so no path MTU learnt during the fault outlives it."""

    a: str
    b: str
    mtu: int = 1280
    black_hole: bool = True

    def apply(self, lab: Lab) -> Undo:
        ends = [(self.a, lab.iface(self.a, self.b)), (self.b, lab.iface(self.b, self.a))]
        before = {
            node: json.loads(lab.exec(node, ["ip", "-j", "link", "show", "dev", iface]).stdout)[0][
                "mtu"
            ]
            for node, iface in ends
        }
        for node, iface in ends:
            lab.exec(node, ["ip", "link", "set", "dev", iface, "mtu", str(self.mtu)])
        undo_drops: list[Undo] = []
        if self.black_hole:
            rules = [
                "icmp type destination-unreachable icmp code frag-needed drop",
                "icmpv6 type packet-too-big drop",
            ]
            undo_drops = [_nft_fault(lab, node, "output", rules) for node in (self.a, self.b)]

        def undo() -> None:
            for revert in undo_drops:
                revert()
            for node, iface in ends:
                lab.exec(
                    node, ["ip", "link", "set", "dev", iface, "mtu", str(before[node])], check=False
                )
            for node in lab.plan.nodes:
                for family in ("-4", "-6"):
                    lab.exec(node, ["ip", family, "route", "flush", "cache"], check=False)

        return undo


@dataclass(frozen=True)
class WrongArp:
    """A static neighbour entry on `node` for `peer`'s address on their shared link, pointing
    at a MAC that is not peer's — the seed's `arp -s GATEWAY OTHER_MAC`."""

    node: str
    peer: str
    mac: str = "02:00:5e:00:53:01"
    version: int = 4

    def apply(self, lab: Lab) -> Undo:
        iface = lab.iface(self.node, self.peer)
        peer_link = self.peer if self.peer in lab.plan.nodes else None
        target = lab.addr_on(self.peer, self.node, self.version) if peer_link else self.peer
        lab.exec(
            self.node,
            [
                "ip",
                "neigh",
                "replace",
                target,
                "lladdr",
                self.mac,
                "dev",
                iface,
                "nud",
                "permanent",
            ],
        )

        def undo() -> None:
            lab.exec(self.node, ["ip", "neigh", "del", target, "dev", iface], check=False)

        return undo


_NETEM: bool | None = None


def netem_available(lab: Lab, node: str, iface: str) -> bool:
    """Whether this kernel has sch_netem (tried once, on a real lab interface)."""
    global _NETEM
    if _NETEM is None:
        sh.require_tools("tc")
        probe = lab.exec(
            node, ["tc", "qdisc", "add", "dev", iface, "root", "netem", "delay", "0ms"], check=False
        )
        _NETEM = probe.returncode == 0
        if _NETEM:
            lab.exec(node, ["tc", "qdisc", "del", "dev", iface, "root"], check=False)
    return _NETEM


@dataclass(frozen=True)
class Delay:
    """Add `ms` of delay to frames travelling from `src` to its neighbour `dst` (one way, like
    netem on src's egress), so the round trip across the link grows by `ms`."""

    src: str
    dst: str
    ms: float

    def apply(self, lab: Lab) -> Undo:
        iface = lab.iface(self.src, self.dst)
        if netem_available(lab, self.src, iface):
            lab.exec(
                self.src,
                [
                    "tc",
                    "qdisc",
                    "replace",
                    "dev",
                    iface,
                    "root",
                    "netem",
                    "delay",
                    f"{self.ms}ms",
                    "limit",
                    "100000",
                ],
            )

            def undo() -> None:
                lab.exec(self.src, ["tc", "qdisc", "del", "dev", iface, "root"], check=False)

            return undo
        relay = lab.relay_control(self.src, self.dst)
        if relay is None:
            raise EnvError(
                "cannot delay {src}->{dst}: this kernel has no sch_netem and the link has no relay",
                "declare the link with relay=True, or load sch_netem (modprobe sch_netem)",
                src=self.src,
                dst=self.dst,
            )
        control, pid, forward = relay
        field = "delay_ab_ms" if forward else "delay_ba_ms"

        def set_delay(value: float) -> None:
            settings = json.loads(control.read_text())
            settings[field] = value
            settings["version"] = version = int(settings.get("version", 0)) + 1
            control.write_text(json.dumps(settings))
            os.kill(pid, signal.SIGHUP)
            # The relay re-reads the file asynchronously and then names the version it applied.
            applied = control.with_name(control.name + ".applied")
            deadline = time.monotonic() + 30
            while not (applied.exists() and applied.read_text() == str(version)):
                if time.monotonic() > deadline:
                    raise EnvError(
                        f"the relay {self.src}<->{self.dst} did not apply the delay within 30 s",
                        "check that the lab is intact: netladder lab status",
                    )
                time.sleep(0.005)

        set_delay(self.ms)
        return lambda: set_delay(0.0)
