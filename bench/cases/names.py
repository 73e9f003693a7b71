"""Names (issue 8): `netladder dns` beside dig, `netladder myip` beside curl, in the nat lab.

Both are one-shot commands, so the wall time is mostly interpreter start-up plus dnspython's
import (dns) or the HTTP and STUN sessions' (myip); the targets bound that overhead."""

from __future__ import annotations

import sys

from bench.harness import Case, Measurement

PUB = "203.0.113.6"  # the DNS, STUN and echo host of the nat topology


def _same_address(ours: list[Measurement], anchor: list[Measurement]) -> list[str]:
    bad = [m for m in ours if "203.0.113.5" not in m.stdout]
    return [f"{len(bad)} of our runs did not report 203.0.113.5"] if bad else []


CASES = [
    Case(
        name="dns_cname_chain_udp",
        topology="nat",
        ours=lambda lab: [sys.executable, "-m", "netladder", "dns", "www.lab", "--server", PUB],
        anchor=lambda lab: ["dig", f"@{PUB}", "www.lab", "A"],
        runs=15,
        max_ms=250.0,
        note="anchor: dig; ours pays Python start-up and the dnspython import",
    ),
    Case(
        name="myip_http_and_stun",
        topology="nat",
        ours=lambda lab: [
            sys.executable,
            "-m",
            "netladder",
            "myip",
            "--http",
            f"http://{PUB}/",
            "--stun",
            PUB,
        ],
        anchor=lambda lab: ["curl", "-s", f"http://{PUB}/"],
        runs=15,
        max_ms=250.0,
        note="anchor: curl against the same echo (one source); ours asks echo and STUN at once",
        compare=_same_address,
    ),
]
