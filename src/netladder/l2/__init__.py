"""L2 and routing: the kernel's route decision, the neighbour table, live ARP/NDP probes.

The programmatic API (async; each returns frozen result dataclasses):

- `netladder.l2.route.lookup_route(destination)` -> `RouteDecision`
- `netladder.l2.route.default_routes()` -> `tuple[DefaultRoute, ...]`
- `netladder.l2.neigh.neighbour_table()` -> `NeighTable`
- `netladder.l2.neigh.check_next_hop(destination)` -> `NeighCheck` (with a `verdict`)
- `netladder.l2.neigh.check_gateways()` -> `tuple[NeighCheck, ...]`
- `netladder.l2.probe.probe(target, ...)` -> `ProbeResult`
- `netladder.l2.watch.watch(on_event)` -> follows neighbour changes as arpwatch events
"""
