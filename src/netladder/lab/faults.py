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

from netladder.errors import EnvError
from netladder.lab import sh

if TYPE_CHECKING:
    from netladder.lab.core import Lab

__all__ = [
    "BlockEcho",
    "Delay",
    "DropPort",
    "DropPorts",
    "Loss",
    "NoTimeExceeded",
    "RejectPort",
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
    """The port is filtered: packets to it vanish (nmap: filtered, no-response)."""

    node: str
    port: int
    proto: str = "tcp"

    def apply(self, lab: Lab) -> Undo:
        return _nft_fault(lab, self.node, "input", [f"{self.proto} dport {self.port} drop"])


@dataclass(frozen=True)
class DropPorts:
    """Many filtered ports in one rule (an nft set), e.g. 100 dropped ports for a scan."""

    node: str
    ports: tuple[int, ...]
    proto: str = "tcp"

    def apply(self, lab: Lab) -> Undo:
        ports = ", ".join(str(p) for p in sorted(set(self.ports)))
        return _nft_fault(lab, self.node, "input", [f"{self.proto} dport {{ {ports} }} drop"])


@dataclass(frozen=True)
class RejectPort:
    """The port answers with ICMP administratively prohibited (nmap: filtered, admin-prohibited)."""

    node: str
    port: int
    proto: str = "tcp"

    def apply(self, lab: Lab) -> Undo:
        match = f"{self.proto} dport {self.port}"
        return _nft_fault(
            lab,
            self.node,
            "input",
            [
                f"meta nfproto ipv4 {match} reject with icmp type admin-prohibited",
                f"meta nfproto ipv6 {match} reject with icmpv6 type admin-prohibited",
            ],
        )


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
                f"cannot delay {self.src}->{self.dst}: this kernel has no sch_netem and the link"
                " has no relay",
                "declare the link with relay=True, or load sch_netem (modprobe sch_netem)",
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
