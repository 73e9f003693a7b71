"""L3 reachability: ICMP echo to one target (`ping`) and to many at once (`sweep`).

Submodules are imported on demand (start-up speed): `stats` (pure statistics), `targets`
(names, addresses, CIDR expansion), `ping` (the echo engine and its async API) and `sweep`.
"""
