"""The names part of `netladder lab demo`: the nat lab, `dns` and `myip` from its client."""

from __future__ import annotations

import shlex
import sys
import time

from netladder.output import paint

__all__ = ["STEPS", "run_names_demo"]

PUB = "203.0.113.6"

# (title, netladder arguments); every step runs on the nat lab's client, against lab endpoints.
STEPS: list[tuple[str, list[str]]] = [
    ("names: a CNAME chain, from the resolver in resolv.conf", ["dns", "www.lab"]),
    ("names: a name that does not exist", ["dns", "nope.lab"]),
    ("names: /etc/hosts against DNS", ["dns", "pinned.lab", "--compare", "-4"]),
    (
        "names: the public address behind the NAT, by HTTP echo and STUN",
        ["myip", "--http", f"http://{PUB}/", "--http", f"http://{PUB}/json", "--stun", PUB],
    ),
]


def run_names_demo(keep: bool = False) -> bool:
    from netladder.lab.core import Lab
    from netladder.lab.topologies import nat

    lab = Lab(nat())
    started = time.monotonic()
    lab.up()
    try:
        print()
        print(
            paint(
                f"nat lab up in {time.monotonic() - started:.1f} s: client behind a "
                "masquerading router, DNS/STUN/HTTP echo outside",
                "dim",
            )
        )
        for title, args in STEPS:
            print()
            print(paint(f"== {title}", "bold"))
            print(f"$ netladder {shlex.join(args)}   (from client)")
            result = lab.netladder("client", *args)
            sys.stdout.write(result.stdout)
            sys.stdout.write(result.stderr)
        return True
    finally:
        if not keep:
            lab.down()
            print(paint("nat lab removed", "dim"))
