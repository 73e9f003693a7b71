"""`forward add|list|delete` as results: what was (or would be) applied, the forwards with what
may catch their traffic first, what was deleted — records whose JSON is the commands' documents,
with every caveat a typed finding (render/forward.py says it)."""

from __future__ import annotations

import ipaddress
from collections.abc import Collection

from netladder.errors import EnvError, UsageError
from netladder.model import field, json_flatten, json_skip, json_text, record
from netladder.nat import nft
from netladder.nat.rules import (
    FORWARD_JSON,
    TABLE,
    ForeignRule,
    Forward,
    ForwardSpec,
    Ruleset,
    build_add_script,
    iptables_equivalent,
    next_id,
    shadowing,
)

__all__ = [
    "Added",
    "Caveat",
    "Deleted",
    "DryRun",
    "Forwarding",
    "Listed",
    "Listing",
    "add",
    "delete",
    "listing",
]


@record
class Caveat:
    """Something an added forward will not do, or may not do (a typed finding).

    kind: `shadowed` (`rule` may catch the port first), `forwarding-off` (`sysctl` is 0),
    `not-local` (this machine's own connections are not forwarded), `route-localnet` (127.0.0.1
    cannot be DNATed to another host), `loopback6` (nor ::1), `unread` (a dry run without the
    privilege to read the ruleset: the id may differ)."""

    kind: str
    rule: ForeignRule | None = None
    proto: str = ""
    port: int = 0
    sysctl: str = ""


@record
class Added:
    """`forward add`: the forward applied, its nft script and the same with iptables."""

    id: int
    spec: ForwardSpec
    nft: str
    iptables: tuple[str, ...]
    warnings: tuple[Caveat, ...] = field(default=(), metadata=json_text())

    __json_order__ = ("id", "spec", "dry_run", "nft", "iptables", "warnings")

    @property
    def dry_run(self) -> bool:
        return False


@record
class DryRun:
    """`forward add --dry-run`: what would be applied; `checked_by_nft` None when nft could
    not check the script (no privilege)."""

    id: int
    spec: ForwardSpec
    nft: str
    iptables: tuple[str, ...]
    checked_by_nft: bool | None
    warnings: tuple[Caveat, ...] = field(default=(), metadata=json_text())

    __json_order__ = ("id", "spec", "dry_run", "nft", "iptables", "checked_by_nft", "warnings")

    @property
    def dry_run(self) -> bool:
        return True


async def add(spec: ForwardSpec, *, dry_run: bool = False) -> Added | DryRun:
    """Add the forward `spec` (its `dest` an address), or only say what would be applied."""
    dest = spec.dest
    # A DNAT to one of this machine's own addresses is delivered here: no host is forwarded to.
    own = dest is not None and await nft.is_local_address(dest)
    if spec.to_port == spec.port and dest is None:
        raise UsageError("forward add: port {port} to itself does nothing", port=spec.port)
    if spec.to_port == spec.port and own and dest and not ipaddress.ip_address(dest).is_loopback:
        raise UsageError(
            "forward add: port {port} to itself at {dest}, this machine's own address, "
            "does nothing",
            port=spec.port,
            dest=dest,
        )
    warnings: list[Caveat] = []
    try:
        ruleset = await nft.read_ruleset()
    except EnvError:
        if not dry_run:
            raise
        ruleset = Ruleset((), (), None)
        warnings.append(Caveat("unread"))
    nft.require_port_free(ruleset, spec)
    forward_id = next_id(ruleset)
    script = build_add_script(forward_id, spec)
    warnings.extend(_caveats(spec, shadowing(ruleset, spec), to_another_host=not own))
    iptables = tuple(iptables_equivalent(forward_id, spec))
    if dry_run:
        checked: bool | None = None
        try:
            await nft.check_script(script)
            checked = True
        except EnvError:
            checked = None
        return DryRun(forward_id, spec, script, iptables, checked, tuple(warnings))
    forward_id, script = await nft.add_forward(forward_id, spec)
    return Added(forward_id, spec, script, iptables, tuple(warnings))


def _caveats(
    spec: ForwardSpec, shadows: tuple[ForeignRule, ...], *, to_another_host: bool
) -> list[Caveat]:
    out = [Caveat("shadowed", rule, spec.proto, spec.port) for rule in shadows]
    another = spec.dest is not None and to_another_host
    if another:
        version = spec.dest_version or 4
        if nft.forwarding_enabled(version) is False:
            sysctl = "net.ipv4.ip_forward" if version == 4 else "net.ipv6.conf.all.forwarding"
            out.append(Caveat("forwarding-off", sysctl=sysctl))
    if not spec.local:
        out.append(Caveat("not-local"))
    elif another and spec.dest_version == 4 and nft.route_localnet() is False:
        # Measured in the lab: the translated SYN with source 127.0.0.1 is dropped, and the
        # connection hangs until it times out.
        out.append(Caveat("route-localnet"))
    elif another:
        out.append(Caveat("loopback6"))
    return out


@record
class Listed:
    """One forward as `forward list` shows it, with the other tables' rules that may catch
    its traffic first."""

    forward: Forward = field(
        metadata=json_flatten(
            **FORWARD_JSON, **{key: key for key in ("packets", "bytes", "complete", "rules")}
        )
    )
    shadows: tuple[ForeignRule, ...] = field(default=(), metadata=json_skip())

    __json_extra__ = ("shadowed_by",)

    @property
    def shadowed_by(self) -> tuple[str, ...]:
        return tuple(rule.where for rule in self.shadows)


@record
class Forwarding:
    """The forwarding sysctls (None: unreadable)."""

    ipv4: bool | None
    ipv6: bool | None


@record
class Listing:
    """`forward list`: netladder's forwards with their counters, the NAT rules of every other
    table (read-only), and the forwarding sysctls."""

    table: str
    table_exists: bool
    forwards: tuple[Listed, ...]
    others: tuple[ForeignRule, ...]
    forwarding: Forwarding
    # The families whose forwarding is off while a forward DNATs to another host: its packets
    # will not pass (checked only when a sysctl is off).
    blocked: tuple[str, ...] = field(default=(), metadata=json_skip())


async def listing() -> Listing:
    ruleset = await nft.read_ruleset()
    forwarding = Forwarding(nft.forwarding_enabled(4), nft.forwarding_enabled(6))
    off = tuple(
        name for name, on in (("ipv4", forwarding.ipv4), ("ipv6", forwarding.ipv6)) if on is False
    )
    blocked = off if off and await _forwards_to_other_hosts(ruleset) else ()
    return Listing(
        TABLE,
        ruleset.table_handle is not None,
        tuple(Listed(f, shadowing(ruleset, f.spec)) for f in ruleset.forwards),
        ruleset.foreign,
        forwarding,
        blocked,
    )


async def _forwards_to_other_hosts(ruleset: Ruleset) -> bool:
    for forward in ruleset.forwards:
        if forward.spec.dest is not None and not await nft.is_local_address(forward.spec.dest):
            return True
    return False


@record
class Deleted:
    """`forward delete`: the ids deleted (none: there was nothing to delete)."""

    deleted: tuple[int, ...]


async def delete(ids: Collection[int] | None) -> Deleted:
    """Delete the forwards `ids` (every one when None).  A forward another run deleted first
    is bad input: the caller named it from a listing that is out of date."""
    deleted = await nft.delete_forwards(ids)
    if ids is not None and not deleted:
        raise UsageError(
            "forward delete: forward {id} was deleted meanwhile by another run",
            id=next(iter(ids)),
        )
    return Deleted(tuple(deleted))
