"""Full 1-65535 scans of a lab host with 100 dropped ports (issue 5): netladder's connect and SYN
scans against `nmap -n -Pn -sT -p-` and `nmap -n -Pn -sS -p-`; ours must take at most half the
wall time and find the same states."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable

from bench.harness import Case, Measurement
from netladder.lab import Lab
from netladder.lab.faults import DropPorts

DROPPED = tuple(range(2000, 2100))
NODE, TARGET = "client", "target"


def _drop(lab: Lab) -> Callable[[], None]:
    return DropPorts(TARGET, DROPPED).apply(lab)


def _addr(lab: Lab | None) -> str:
    assert lab is not None
    return lab.addr(TARGET)


def _ours_states(stdout: str) -> dict[str, int]:
    doc = json.loads(stdout)
    counts: dict[str, int] = {}
    for row in doc["ports"]:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    for group in doc["not_shown"]:
        counts[group["state"]] = counts.get(group["state"], 0) + group["count"]
    return counts


def _nmap_states(stdout: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for m in re.finditer(r"Not shown: (.*)", stdout):
        for n, state in re.findall(r"(\d+) (\w+) tcp ports", m.group(1)):
            counts[state] = counts.get(state, 0) + int(n)
    for state in re.findall(r"^\d+/tcp\s+(\S+)", stdout, re.M):
        counts[state] = counts.get(state, 0) + 1
    return counts


def _compare(ours: list[Measurement], anchor: list[Measurement]) -> list[str]:
    notes = []
    ours_states = {json.dumps(_ours_states(m.stdout), sort_keys=True) for m in ours}
    nmap_states = {json.dumps(_nmap_states(m.stdout), sort_keys=True) for m in anchor}
    same = ours_states == nmap_states and len(ours_states) == 1
    notes.append(
        f"states ours {sorted(ours_states)} nmap {sorted(nmap_states)}: "
        + ("SAME" if same else "DIFFERENT")
    )
    return notes


def _case(name: str, flag: str, nmap_flag: str) -> Case:
    return Case(
        name=name,
        topology="scan",
        node=NODE,
        ours=lambda lab: [
            sys.executable,
            "-m",
            "netladder",
            "port",
            _addr(lab),
            "1-65535",
            flag,
            "--json",
        ],
        anchor=lambda lab: ["nmap", "-n", "-Pn", nmap_flag, "-p-", _addr(lab)],
        runs=5,
        max_ratio=0.5,
        setup=_drop,
        compare=_compare,
        note="lab host with 100 dropped ports (2000-2099), scanner and target on one link",
    )


CASES = [
    _case("port_connect_full", "--connect", "-sT"),
    _case("port_syn_full", "--syn", "-sS"),
]
