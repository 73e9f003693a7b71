"""The kernel's route decision for a destination, and the default routes, read from netlink."""

from __future__ import annotations

import errno
import ipaddress
import socket

from netladder.errors import UsageError
from netladder.l2.netlink import TABLE_NAMES, Netlink, NetlinkError, Route
from netladder.model import field, json_pick, record

__all__ = [
    "DefaultRoute",
    "RouteDecision",
    "RouteReport",
    "default_routes",
    "ifname",
    "lookup_route",
    "parse_destination",
    "route_report",
]

# What a refused lookup means (net/ipv4/fib_semantics.c fib_props, net/ipv6/route.c).
_REFUSALS = {
    errno.ENETUNREACH: "unreachable",
    errno.EHOSTUNREACH: "unreachable",
    errno.EACCES: "prohibit",
    errno.EINVAL: "blackhole",
}


@record
class RouteDecision:
    """What `ip route get DESTINATION` says, plus the matching route's prefix and metric."""

    destination: str
    version: int
    type: str  # unicast, local, broadcast, multicast, unreachable, prohibit, blackhole, ...
    iface: str | None
    gateway: str | None
    prefsrc: str | None
    table: str | None
    metric: int | None
    prefix: str | None  # the route that matched: "default", "198.51.100.64/26", ...
    error: str | None = None  # the kernel's reason when there is no usable route
    source: str | None = None  # the source asked about (`ip route get ... from SOURCE`)

    @property
    def reachable(self) -> bool:
        return self.error is None and self.type in {"unicast", "local", "broadcast", "multicast"}

    @property
    def on_link(self) -> bool:
        return self.reachable and self.type == "unicast" and self.gateway is None

    @property
    def next_hop(self) -> str | None:
        """The neighbour a packet to the destination is handed to."""
        if not self.reachable or self.type != "unicast":
            return None
        return self.gateway or self.destination


@record
class DefaultRoute:
    version: int
    gateway: str | None
    iface: str | None
    metric: int | None
    table: str
    type: str


# `netladder route --json`'s view of a decision: every field, then the derived verdicts.
_DECISION_JSON = json_pick(
    **{
        key: key
        for key in (
            *("destination", "version", "type", "iface", "gateway", "prefsrc", "table"),
            *("metric", "prefix", "error", "source", "reachable", "on_link", "next_hop"),
        )
    }
)


@record
class RouteReport:
    """`netladder route [TARGET]`: the decision for TARGET (None without one) and the default
    routes."""

    target: str | None
    decision: RouteDecision | None = field(metadata=_DECISION_JSON)
    defaults: tuple[DefaultRoute, ...] = ()


def ifname(index: int | None) -> str | None:
    if index is None:
        return None
    try:
        return socket.if_indextoname(index)
    except OSError:
        return str(index)


# Where iproute2 reads table names (lib/rt_names.c): the file, then its .d directory's *.conf.
RT_TABLES = (
    "/etc/iproute2/rt_tables",
    "/usr/share/iproute2/rt_tables",
    "/usr/lib/iproute2/rt_tables",
)


def table_names(paths: tuple[str, ...] = RT_TABLES) -> dict[int, str]:
    """`ip`'s names for routing tables: "NUMBER NAME" lines, `#` comments."""
    import glob

    names: dict[int, str] = {}
    for path in paths:
        for name in (path, *sorted(glob.glob(path + ".d/*.conf"))):
            try:
                with open(name, encoding="utf-8", errors="replace") as f:
                    lines = f.read().splitlines()
            except OSError:
                continue
            for line in lines:
                fields = line.split("#", 1)[0].split()
                if len(fields) >= 2:
                    try:
                        number = int(fields[0], 0)
                    except ValueError:
                        continue
                    names.setdefault(number, fields[1])
        if names:
            break  # like iproute2: the first file found wins over the fallbacks
    return names


def _table(number: int) -> str:
    if number in TABLE_NAMES:
        return TABLE_NAMES[number]
    return table_names().get(number, str(number))


def _prefix(route: Route) -> str:
    if route.dst_len == 0:
        return "default"
    return f"{route.dst}/{route.dst_len}" if route.dst else f"?/{route.dst_len}"


def parse_destination(text: str) -> str:
    """An IP address as the kernel will see it; names are resolved by `dns`, not here."""
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        raise UsageError("not an IP address: {text!r}", text=text) from None
    return str(address)


def ifindex(name: str) -> int:
    try:
        return socket.if_nametoindex(name)
    except OSError:
        raise UsageError("no such interface: {name!r}", name=name) from None


def lookup_route(
    destination: str, iface: str | None = None, nl: Netlink | None = None, source: str | None = None
) -> RouteDecision:
    """The kernel's decision for one destination (what `ip route get DESTINATION [from SOURCE]
    [oif IFACE]` prints), policy rules included: `table` is the table they led to."""
    address = ipaddress.ip_address(parse_destination(destination))
    src = parse_destination(source) if source is not None else None
    if src is not None and ipaddress.ip_address(src).version != address.version:
        raise UsageError(
            "{source} and {destination} are not of one IP version",
            source=source,
            destination=destination,
        )
    oif = ifindex(iface) if iface else None
    own = nl is None
    link = nl or Netlink()
    try:
        try:
            got = link.route_get(str(address), oif, source=src)
        except NetlinkError as exc:
            if (
                src is not None
                and address.version == 4
                and (src not in {a.address for a in link.addrs(socket.AF_INET)})
            ):
                # IPv4 looks up an output route only from an address of this host; the
                # kernel's "Network is unreachable" would blame the route.
                raise UsageError("{source} is not an address of this host", source=source) from None
            return RouteDecision(
                str(address),
                address.version,
                _REFUSALS.get(exc.errno or 0, "unreachable"),
                None,
                None,
                None,
                None,
                None,
                None,
                exc.strerror or str(exc),
                src,
            )
        try:
            match: Route | None = link.route_get(str(address), oif, fib_match=True, source=src)
        except NetlinkError:
            match = None  # older kernels lack fibmatch; the decision stands without it
        metric = got.priority if got.priority is not None else (match.priority if match else None)
        return RouteDecision(
            destination=str(address),
            version=address.version,
            type=got.type,
            iface=ifname(got.ifindex),
            gateway=got.gateway,
            prefsrc=got.prefsrc,
            table=_table(match.table if match else got.table),
            metric=metric if metric is not None else 0 if address.version == 4 else None,
            prefix=_prefix(match) if match else None,
            source=src,
        )
    finally:
        if own:
            link.close()


def default_routes(nl: Netlink | None = None) -> tuple[DefaultRoute, ...]:
    """Every default route in every table but `local`, v4 then v6, lowest metric first."""
    own = nl is None
    link = nl or Netlink()
    found: list[DefaultRoute] = []
    try:
        for family, version in ((socket.AF_INET, 4), (socket.AF_INET6, 6)):
            routes = [
                r
                for r in link.routes(family)
                if r.dst_len == 0 and r.table != 255 and r.type != "local"
            ]
            for r in sorted(routes, key=lambda r: (r.table != 254, r.priority or 0)):
                hops = [(h.gateway, h.ifindex) for h in r.nexthops] or [(r.gateway, r.ifindex)]
                for gateway, index in hops:
                    found.append(
                        DefaultRoute(
                            version,
                            gateway,
                            ifname(index),
                            r.priority if r.priority is not None else 0,
                            _table(r.table),
                            r.type,
                        )
                    )
    finally:
        if own:
            link.close()
    return tuple(found)


def route_report(
    target: str | None, iface: str | None = None, source: str | None = None
) -> RouteReport:
    """The kernel's decision for `target` (an address: `parse_destination`), asked as if the
    packet left by `iface` and came from `source`, and every default route — over one netlink
    socket."""
    with Netlink() as nl:
        decision = lookup_route(target, iface, nl=nl, source=source) if target else None
        return RouteReport(target, decision, default_routes(nl))
