"""Port forwarding: NAT rules in netladder's own nftables table, their verification, and a
userspace forwarder.

- ``netladder.nat.rules``: pure functions — build the nft scripts (and the iptables equivalent),
  read ``nft -j list ruleset`` back into forwards and foreign NAT rules, find shadowing rules.
- ``netladder.nat.nft``: the I/O boundary (the nft binary, the forwarding sysctls).
- ``netladder.nat.verify``: ``await verify_forward(port, proto=, source=)`` -> ``VerifyResult``
  with the cause (the programmatic API used by ``netladder diagnose``).
- ``netladder.nat.proxy``: ``await run_proxy(listen, target, udp=)`` -> ``ProxyStats``.

Submodules are imported by whoever needs them, so importing this package costs nothing.
"""
