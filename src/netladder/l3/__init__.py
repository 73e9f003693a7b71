"""L3 reachability: ICMP echo to one target (`ping`) and to many at once (`sweep`).

Submodules are imported on demand (start-up speed): `model` and `sweep_model` (the options,
events and results of each), `stats` (pure statistics), `targets` (CIDR blocks and ranges),
`ping` (PingSession) and `sweep` (SweepSession) — sans-IO sessions the driver runs
(net/driver.py); `netladder.api.ping` and `netladder.api.sweep` are their functions.
"""
