"""L2 and routing: the kernel's route decision, the neighbour table, live ARP/NDP probes.

- `netladder.api.arp(ArpOptions)` -> `ArpResult`: the probe (`l2/probe.py` ArpSession)
- `netladder.l2.route.lookup_route(destination)` -> `RouteDecision`, `default_routes()`
  (netlink, synchronous: the kernel answers inside the call)
- `netladder.l2.neigh.neighbour_table()` -> `NeighTable` (synchronous)
- `netladder.l2.neigh.check_next_hop(destination)`, `check_gateways()` -> `NeighCheck`s
  (async: their live probes run on the driver)
- `netladder.l2.watch.watch(on_event)` -> follows neighbour changes as arpwatch events
"""
