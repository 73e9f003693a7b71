"""A lab as text: its nodes, interfaces, routes and services (`lab up`, `lab status`, the demo).

Its own module so that the lab's command and its demo both use it without importing each other.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from netladder.i18n import _
from netladder.output import paint

if TYPE_CHECKING:
    from netladder.lab.core import Lab
    from netladder.lab.status import Labs

__all__ = ["render_topology", "status_lines"]


def render_topology(lab: Lab) -> str:
    lines = [paint(f"lab {lab.name}: {lab.topology.description or lab.topology.name}", "bold")]
    for name, plan in lab.plan.nodes.items():
        lines.append(f"  {paint(name, 'cyan')} ({plan.node.kind}, netns {lab.ns(name)})")
        for iface in plan.interfaces:
            addrs = " ".join(str(a) for a in iface.addresses)
            lines.append(f"      {iface.name:<10} -> {iface.peer:<8} {addrs}")
        for route in plan.routes:
            lines.append(
                "      "
                + _("route {destination} via {via}").format(
                    destination=route.destination, via=route.via
                )
            )
    services = [f"{s.node}:{s.port}/{s.kind}" for s in lab.topology.services]
    if services:
        lines.append("  " + _("services: {services}").format(services=", ".join(services)))
    return "\n".join(lines)


def status_lines(found: Labs) -> Iterator[str]:
    """`lab status`: each lab's health, and a built-in topology's nodes."""
    from netladder.lab.status import BuiltLab

    if not found.labs:
        yield _("no lab is up")
    for lab in found.labs:
        status = lab.status if isinstance(lab, BuiltLab) else lab
        health = _("up") if status.healthy else _("BROKEN (run 'netladder lab down --all')")
        yield f"lab {status.name} ({status.topology}): {health}"
        if isinstance(lab, BuiltLab):
            yield render_topology(lab.lab)
