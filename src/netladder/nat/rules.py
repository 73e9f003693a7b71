"""Port forwards as nftables rules: building them and reading them back, as pure functions.

netladder keeps its forwards in a table of its own, ``table inet netladder``, with three NAT base
chains at the standard priorities (prerouting ``dstnat`` = -100, output -100, postrouting
``srcnat`` = 100).  No other table is ever changed: every script built here names only that
table, and reading the ruleset (``nft -j list ruleset``) shows the NAT rules of every other table
read-only, so a rule that catches the same port first is visible.

Each rule carries its forward in its comment (``netladder id=3 proto=tcp port=80 to=:8080``), so
a forward is read back exactly as it was made.  Every change is one ``nft -f -`` script: nft
applies a script as one transaction, so a failure leaves nothing half-made.

NAT chains see only the first packet of a connection (conntrack remembers the binding), so a
rule's packet counter counts connections.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from netladder.model import record

__all__ = [
    "CHAINS",
    "TABLE",
    "ForeignRule",
    "Forward",
    "ForwardSpec",
    "RuleRef",
    "Ruleset",
    "build_add_script",
    "build_delete_script",
    "comment_for",
    "iptables_equivalent",
    "next_id",
    "parse_comment",
    "parse_ruleset",
    "parse_ruleset_text",
    "shadowing",
]

FAMILY = "inet"
TABLE_NAME = "netladder"
TABLE = f"{FAMILY} {TABLE_NAME}"
IDS_SET = "ids"  # the forward ids in use: reserving one is part of the add's transaction

# chain name -> (hook, priority); the priorities are nft's named ones (dstnat/srcnat), written as
# numbers because the names are not accepted for every hook by every nft version.
CHAINS: Mapping[str, tuple[str, int]] = {
    "prerouting": ("prerouting", -100),  # dstnat: traffic arriving from other hosts
    "output": ("output", -100),  # dstnat: connections made on this machine (--local)
    "postrouting": ("postrouting", 100),  # srcnat: masquerade for DNAT to another host
}
NAT_STATEMENTS = ("dnat", "snat", "redirect", "masquerade", "xt", "jump", "goto")
_DESTINATION_NAT = ("dnat", "redirect", "xt", "jump", "goto")

PROTOS = ("tcp", "udp")
COMMENT_PREFIX = "netladder"
_COMMENT = re.compile(
    r"^netladder id=(?P<id>\d+) proto=(?P<proto>tcp|udp) port=(?P<port>\d+)"
    r" to=(?P<dest>\[[0-9a-fA-F:.]+\]|[0-9.]+)?:(?P<to>\d+)(?P<local> local=1)?$"
)


@record
class ForwardSpec:
    """What a forward does: `port` on this machine goes to `dest`:`to_port` (this machine when
    `dest` is None: REDIRECT; another address: DNAT with masquerade)."""

    port: int
    to_port: int
    proto: str = "tcp"
    dest: str | None = None
    local: bool = False  # also connections made on this machine (the OUTPUT hook)

    __json_extra__ = ("kind", "hooks")

    @property
    def kind(self) -> str:
        return "redirect" if self.dest is None else "dnat"

    @property
    def dest_version(self) -> int | None:
        return None if self.dest is None else ipaddress.ip_address(self.dest).version

    @property
    def target(self) -> str:
        """The target as written in messages: `:8080` for this machine, `host:port` otherwise."""
        if self.dest is None:
            return f":{self.to_port}"
        return f"{_bracket(self.dest)}:{self.to_port}"

    @property
    def hooks(self) -> tuple[str, ...]:
        return ("prerouting", "output") if self.local else ("prerouting",)


# A forward's JSON views (`forward list`, `forward verify`) splice its spec's keys in: `port`
# is the forward's `spec.port`.
FORWARD_JSON = {
    "id": "id",
    **{
        key: f"spec.{key}" for key in ("port", "to_port", "proto", "dest", "local", "kind", "hooks")
    },
}


def _bracket(address: str) -> str:
    return f"[{address}]" if ":" in address else address


@record
class RuleRef:
    """One rule of a forward in netladder's table, with its counter."""

    chain: str
    handle: int
    packets: int
    bytes: int


@record
class Forward:
    id: int
    spec: ForwardSpec
    rules: tuple[RuleRef, ...]

    def hits(self, chain: str | None = None) -> int:
        """Connections caught (NAT rules count the first packet of each connection)."""
        chains = (chain,) if chain else ("prerouting", "output")
        return sum(r.packets for r in self.rules if r.chain in chains)

    @property
    def packets(self) -> int:
        return self.hits()

    @property
    def bytes(self) -> int:
        return sum(r.bytes for r in self.rules if r.chain in ("prerouting", "output"))

    @property
    def complete(self) -> bool:
        """Every rule the spec needs is present (someone may have deleted one by hand)."""
        chains = {r.chain for r in self.rules}
        needed = set(self.spec.hooks) | ({"postrouting"} if self.spec.kind == "dnat" else set())
        return needed <= chains


@record
class ForeignRule:
    """A NAT rule of another table (iptables-nft's `ip nat`, a firewall's own table...)."""

    family: str
    table: str
    chain: str
    hook: str | None
    priority: int | None
    handle: int
    statement: str  # dnat, redirect, masquerade, snat, xt (an iptables target), jump, goto
    target: str | None  # the xt target name (REDIRECT, DNAT...) or the jump's chain
    protos: tuple[str, ...]  # empty: any protocol
    ports: tuple[tuple[int, int], ...] | None  # destination port ranges; None: any port
    text: str  # the rule as `nft list` prints it
    table_handle: int

    @property
    def where(self) -> str:
        return f"table {self.family} {self.table} chain {self.chain} handle {self.handle}"

    def catches(self, proto: str, port: int) -> bool:
        if self.protos and proto not in self.protos:
            return False
        return self.ports is None or any(lo <= port <= hi for lo, hi in self.ports)


@record
class Ruleset:
    forwards: tuple[Forward, ...]
    foreign: tuple[ForeignRule, ...]
    table_handle: int | None  # None: netladder's table does not exist
    chains: tuple[str, ...] = ()  # netladder's chains that exist
    ids: frozenset[int] = frozenset()  # ids reserved in the table's `ids` set
    # What else is in netladder's table: rules that are no forward's, chains and sets it does
    # not make (someone's hand edits).  A delete leaves the table to them.
    strays: tuple[str, ...] = ()

    def find(self, proto: str, port: int) -> Forward | None:
        for forward in self.forwards:
            if forward.spec.proto == proto and forward.spec.port == port:
                return forward
        return None

    def by_id(self, forward_id: int) -> Forward | None:
        for forward in self.forwards:
            if forward.id == forward_id:
                return forward
        return None


# -- building -------------------------------------------------------------------------------------


def comment_for(forward_id: int, spec: ForwardSpec) -> str:
    dest = "" if spec.dest is None else _bracket(spec.dest)
    local = " local=1" if spec.local else ""
    return (
        f"{COMMENT_PREFIX} id={forward_id} proto={spec.proto} port={spec.port}"
        f" to={dest}:{spec.to_port}{local}"
    )


def parse_comment(comment: str) -> tuple[int, ForwardSpec] | None:
    match = _COMMENT.match(comment)
    if not match:
        return None
    dest = match.group("dest")
    if dest:
        dest = dest.strip("[]")
    spec = ForwardSpec(
        port=int(match.group("port")),
        to_port=int(match.group("to")),
        proto=match.group("proto"),
        dest=dest or None,
        local=bool(match.group("local")),
    )
    return int(match.group("id")), spec


def _table_and_chains() -> list[str]:
    # `add` is idempotent for a table, chain or set that exists with the same definition, so
    # every script can start with these lines and work whether or not the table is there.
    lines = [f"add table {TABLE}"]
    for chain, (hook, priority) in CHAINS.items():
        lines.append(
            f"add chain {TABLE} {chain} {{ type nat hook {hook} priority {priority};"
            " policy accept; }"
        )
    lines.append(f"add set {TABLE} {IDS_SET} {{ type mark; }}")
    return lines


def rule_bodies(spec: ForwardSpec) -> list[tuple[str, str]]:
    """(chain, rule body without the comment) for every rule a forward needs."""
    match = f"fib daddr type local {spec.proto} dport {spec.port}"
    if spec.dest is None:
        action = f"redirect to :{spec.to_port}"
        return [(chain, f"{match} counter {action}") for chain in spec.hooks]
    version = spec.dest_version
    nfproto, family = ("ipv4", "ip") if version == 4 else ("ipv6", "ip6")
    action = f"dnat {family} to {spec.target}"
    rules = [(chain, f"meta nfproto {nfproto} {match} counter {action}") for chain in spec.hooks]
    # Masquerade only what this forward translated: the target's replies then come back
    # through this machine, whatever the target's own routes are.
    rules.append(
        (
            "postrouting",
            f"meta nfproto {nfproto} ct status dnat {family} daddr {spec.dest}"
            f" {spec.proto} dport {spec.to_port} ct original proto-dst {spec.port}"
            " counter masquerade",
        )
    )
    return rules


def build_add_script(forward_id: int, spec: ForwardSpec) -> str:
    """The nft script (one transaction) that adds a forward, creating the table if needed."""
    comment = comment_for(forward_id, spec)
    lines = _table_and_chains()
    # `create` (unlike `add`) fails when the element exists: two adds racing for one id cannot
    # both commit, and the loser's whole transaction is dropped (see nft.ID_TAKEN).
    lines.append(f"create element {TABLE} {IDS_SET} {{ {forward_id} }}")
    for chain, body in rule_bodies(spec):
        lines.append(f'add rule {TABLE} {chain} {body} comment "{comment}"')
    return "\n".join(lines) + "\n"


def build_delete_script(
    ruleset: Ruleset, ids: Iterable[int] | None, *, drop_table: bool = True
) -> str:
    """The nft script (one transaction) that deletes the forwards `ids` (all when None) of
    `ruleset`, the table as it was read: their rules, by handle, and nothing else.

    Ids stay reserved in the `ids` set while the table lives, so an id is never reused and the
    set only grows.  When nothing else would remain, the table itself goes, so the ruleset is
    exactly what it was before the first add — but "nothing else" is what the table held when
    it was read, and an add may commit between that read and this transaction.  The script
    therefore decides inside the transaction: an add takes the lowest id above every reserved
    one (`next_id`) with `create element`, so any add committed since the read holds one of
    the ids that were free then, up to the first above the highest.  The script creates those
    same elements first: if any is taken, `create` fails and nft drops the whole transaction
    (the caller reads again and finds the new forward); if none is, no add came, and the table
    is deleted by its handle (a table deleted and made again in between has another handle, so
    that fails too).  The elements go with the table: nothing of the guard stays.
    `drop_table=False` leaves the table in any case."""
    if ruleset.table_handle is None:
        return ""
    doomed = {f.id for f in ruleset.forwards} if ids is None else set(ids)
    remaining = [f for f in ruleset.forwards if f.id not in doomed]
    guard = _free_ids(ruleset)
    if drop_table and not remaining and not ruleset.strays and guard:
        elements = ", ".join(str(i) for i in guard)
        return (
            f"add set {TABLE} {IDS_SET} {{ type mark; }}\n"
            f"create element {TABLE} {IDS_SET} {{ {elements} }}\n"
            f"delete table {FAMILY} handle {ruleset.table_handle}\n"
        )
    lines = [
        f"delete rule {TABLE} {r.chain} handle {r.handle}"
        for forward in ruleset.forwards
        if forward.id in doomed
        for r in forward.rules
    ]
    return "\n".join(lines) + "\n" if lines else ""


MAX_GUARD = 256  # free ids a table-dropping delete reserves; more (hand-made gaps): keep it


def _free_ids(ruleset: Ruleset) -> tuple[int, ...]:
    """Every id an add that read the table before `ruleset` was read may still take: the gaps
    below the highest reserved id (only hand edits make gaps) and the next one."""
    top = next_id(ruleset)
    free = tuple(i for i in range(1, top + 1) if i not in ruleset.ids)
    return free if len(free) <= MAX_GUARD else ()


def iptables_equivalent(forward_id: int, spec: ForwardSpec) -> list[str]:
    """The same forward in the seed's form (iptables -t nat), for --dry-run."""
    comment = ["-m", "comment", "--comment", comment_for(forward_id, spec)]
    match = ["-p", spec.proto, "--dport", str(spec.port), "-m", "addrtype", "--dst-type", "LOCAL"]
    chains = ["PREROUTING"] + (["OUTPUT"] if spec.local else [])
    commands: list[list[str]] = []
    if spec.dest is None:
        for tool in ("iptables", "ip6tables"):
            for chain in chains:
                commands.append(
                    [
                        tool,
                        "-t",
                        "nat",
                        "-A",
                        chain,
                        *match,
                        *comment,
                        "-j",
                        "REDIRECT",
                        "--to-ports",
                        str(spec.to_port),
                    ]
                )
    else:
        tool = "iptables" if spec.dest_version == 4 else "ip6tables"
        for chain in chains:
            commands.append(
                [
                    tool,
                    "-t",
                    "nat",
                    "-A",
                    chain,
                    *match,
                    *comment,
                    "-j",
                    "DNAT",
                    "--to-destination",
                    spec.target,
                ]
            )
        commands.append(
            [
                tool,
                "-t",
                "nat",
                "-A",
                "POSTROUTING",
                "-p",
                spec.proto,
                "-d",
                spec.dest,
                "--dport",
                str(spec.to_port),
                "-m",
                "conntrack",
                "--ctstate",
                "DNAT",
                "--ctorigdstport",
                str(spec.port),
                *comment,
                "-j",
                "MASQUERADE",
            ]
        )
        sysctl = "net.ipv4.ip_forward" if spec.dest_version == 4 else "net.ipv6.conf.all.forwarding"
        commands.append(["sysctl", "-w", f"{sysctl}=1"])
    return [shlex.join(c) for c in commands]


def next_id(ruleset: Ruleset) -> int:
    return max((*(f.id for f in ruleset.forwards), *ruleset.ids), default=0) + 1


# -- reading --------------------------------------------------------------------------------------


def parse_ruleset(
    document: Mapping[str, Any], texts: Mapping[tuple[str, str, int], str] | None = None
) -> Ruleset:
    """Read `nft -j list ruleset`: netladder's forwards (from the rule comments, with their
    counters) and the NAT rules of every other table.  `texts` maps (family, table, handle)
    to the rule as `nft -a list ruleset` prints it (see parse_ruleset_text)."""
    texts = texts or {}
    items = document.get("nftables", [])
    table_handles: dict[tuple[str, str], int] = {}
    chains: dict[tuple[str, str, str], tuple[str | None, int | None, str | None]] = {}
    ids: set[int] = set()
    strays: list[str] = []
    for item in items:
        for kind, obj in item.items():
            # Sets, maps, named counters, flowtables... of netladder's table: only `ids` is ours.
            if kind in ("metainfo", "table", "chain", "rule") or not isinstance(obj, Mapping):
                continue
            if (obj.get("family"), obj.get("table")) != (FAMILY, TABLE_NAME):
                continue
            if kind == "set" and obj.get("name") == IDS_SET:
                ids.update(e for e in obj.get("elem", []) if isinstance(e, int))
            else:
                strays.append(f"{kind} {obj.get('name')}")
        if "table" in item:
            t = item["table"]
            table_handles[(t["family"], t["name"])] = int(t.get("handle", 0))
        elif "chain" in item:
            c = item["chain"]
            chains[(c["family"], c["table"], c["name"])] = (
                c.get("hook"),
                c.get("prio"),
                c.get("type"),
            )
    # Keyed by the whole comment: two adds racing for one id stay two forwards.
    ours: dict[tuple[int, ForwardSpec], list[RuleRef]] = {}
    foreign: list[ForeignRule] = []
    for item in items:
        rule = item.get("rule")
        if rule is None:
            continue
        family, table, chain = rule["family"], rule["table"], rule["chain"]
        exprs = rule.get("expr", [])
        if family == FAMILY and table == TABLE_NAME:
            parsed = parse_comment(rule.get("comment", ""))
            if parsed is None:
                strays.append(f"rule handle {rule.get('handle')} in chain {chain}")
                continue
            forward_id, spec = parsed
            packets, nbytes = _counter(exprs)
            ours.setdefault((forward_id, spec), []).append(
                RuleRef(chain, int(rule["handle"]), packets, nbytes)
            )
            continue
        hook, prio, kind = chains.get((family, table, chain), (None, None, None))
        statement = _nat_statement(exprs)
        if statement is None:
            continue
        if kind not in (None, "nat") and statement[0] not in (
            "dnat",
            "redirect",
            "snat",
            "masquerade",
        ):
            continue  # a jump in a filter chain is not NAT
        handle = int(rule["handle"])
        foreign.append(
            ForeignRule(
                family=family,
                table=table,
                chain=chain,
                hook=hook,
                priority=prio,
                handle=handle,
                statement=statement[0],
                target=statement[1],
                protos=_protos(exprs),
                ports=_dports(exprs),
                text=texts.get((family, table, handle), ""),
                table_handle=table_handles.get((family, table), 0),
            )
        )
    forwards = tuple(
        Forward(i, spec, tuple(refs))
        for (i, spec), refs in sorted(ours.items(), key=lambda kv: kv[0][0])
    )
    our_chains = tuple(name for (fam, tab, name) in chains if fam == FAMILY and tab == TABLE_NAME)
    strays.extend(f"chain {name}" for name in our_chains if name not in CHAINS)
    return Ruleset(
        forwards,
        tuple(foreign),
        table_handles.get((FAMILY, TABLE_NAME)),
        our_chains,
        frozenset(ids),
        tuple(strays),
    )


def _counter(exprs: Sequence[Mapping[str, Any]]) -> tuple[int, int]:
    for e in exprs:
        counter = e.get("counter")
        if isinstance(counter, Mapping):
            return int(counter.get("packets", 0)), int(counter.get("bytes", 0))
    return 0, 0


def _nat_statement(exprs: Sequence[Mapping[str, Any]]) -> tuple[str, str | None] | None:
    for e in exprs:
        for key in NAT_STATEMENTS:
            if key in e:
                value = e[key]
                if key == "xt" and isinstance(value, Mapping):
                    if value.get("type") != "target":
                        continue
                    return key, str(value.get("name"))
                if key in ("jump", "goto") and isinstance(value, Mapping):
                    return key, str(value.get("target"))
                return key, None
    return None


def _protos(exprs: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    for e in exprs:
        match = e.get("match")
        if not isinstance(match, Mapping):
            continue
        left = match.get("left", {})
        if isinstance(left, Mapping):
            payload = left.get("payload")
            if isinstance(payload, Mapping) and payload.get("protocol") in PROTOS:
                return (str(payload["protocol"]),)
            meta = left.get("meta")
            if isinstance(meta, Mapping) and meta.get("key") == "l4proto":
                right = match.get("right")
                if isinstance(right, str):
                    return (right,)
                if isinstance(right, Mapping) and "set" in right:
                    return tuple(str(x) for x in right["set"])
    return ()


def _dports(exprs: Sequence[Mapping[str, Any]]) -> tuple[tuple[int, int], ...] | None:
    for e in exprs:
        match = e.get("match")
        if not isinstance(match, Mapping):
            continue
        left = match.get("left", {})
        payload = left.get("payload") if isinstance(left, Mapping) else None
        if not (isinstance(payload, Mapping) and payload.get("field") == "dport"):
            continue
        ranges = _port_ranges(match.get("right"))
        if match.get("op") == "!=":
            return None  # "everything but": treat as any port
        return ranges
    return None


def _port_ranges(right: Any) -> tuple[tuple[int, int], ...]:
    if isinstance(right, int):
        return ((right, right),)
    if isinstance(right, Mapping):
        if "range" in right:
            lo, hi = right["range"]
            return ((int(lo), int(hi)),)
        if "set" in right:
            out: list[tuple[int, int]] = []
            for element in right["set"]:
                out.extend(_port_ranges(element))
            return tuple(out)
    return ()


def shadowing(ruleset: Ruleset, spec: ForwardSpec) -> tuple[ForeignRule, ...]:
    """Rules of other tables that may catch the forward's traffic before netladder's rule.

    The NAT core stops at the first chain of a hook that binds a connection, and chains of one
    hook run in priority order.  At equal priority the kernel puts a newly registered hook in
    front of the existing ones (nf_hook_entries_grow), so the chain registered last runs first:
    in practice the newer table, the higher handle.  A table made after netladder's therefore
    shadows it; one made before does not (and netladder's table, when it is still to be made,
    will be the newest)."""
    ours = ruleset.table_handle
    found = []
    for rule in ruleset.foreign:
        if rule.hook not in spec.hooks or rule.statement not in _DESTINATION_NAT:
            continue
        if rule.statement in ("jump", "goto") and rule.ports is None:
            # A catch-all jump (Docker's `fib daddr type local jump DOCKER`) leads to rules of
            # its own, listed on their own; only a jump for this very port is a suspect.
            continue
        priority = rule.priority if rule.priority is not None else 0
        _, our_priority = CHAINS[rule.hook]
        first = priority < our_priority or (
            priority == our_priority and ours is not None and rule.table_handle > ours
        )
        if first and rule.catches(spec.proto, spec.port):
            found.append(rule)
    return tuple(found)


_TABLE_LINE = re.compile(r"^table (\S+) (\S+) \{")
_RULE_HANDLE = re.compile(r"^(.*?)\s*# handle (\d+)$")


def parse_ruleset_text(text: str) -> dict[tuple[str, str, int], str]:
    """Rule texts from `nft -a list ruleset`, keyed by (family, table, handle).  The text form is
    kept because nft translates iptables-nft's rules (opaque `xt` in JSON) into readable
    statements such as `redirect to :8080`."""
    out: dict[tuple[str, str, int], str] = {}
    family = table = ""
    for raw in text.splitlines():
        line = raw.strip()
        if m := _TABLE_LINE.match(line):
            family, table = m.group(1), m.group(2)
            continue
        if line.startswith(("chain ", "type ", "table ", "}", "set ", "map ", "policy ")):
            continue
        if m := _RULE_HANDLE.match(line):
            body = re.sub(r"counter packets \d+ bytes \d+ ", "counter ", m.group(1))
            out[(family, table, int(m.group(2)))] = body
    return out
