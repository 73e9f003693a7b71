"""`netladder lab status`: the labs that are up, whether each is whole, and — for a built-in
topology — its nodes, interfaces and routes, as records (`--json` is their `to_jsonable`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from netladder.model import field, json_flatten, json_skip, record

if TYPE_CHECKING:
    from netladder.lab.core import Lab

__all__ = ["BuiltLab", "LabIface", "LabNode", "LabRoute", "LabStatus", "Labs", "status"]


@record
class LabIface:
    name: str
    peer: str
    addresses: tuple[str, ...]


@record
class LabRoute:
    to: str
    via: str


@record
class LabNode:
    name: str
    kind: str
    namespace: str
    interfaces: tuple[LabIface, ...]
    routes: tuple[LabRoute, ...]


@record
class LabStatus:
    """A lab from its state file: `healthy` when it was built whole and no namespace is gone."""

    name: str
    topology: str
    complete: bool
    healthy: bool
    namespaces: tuple[str, ...]
    missing_namespaces: tuple[str, ...]


_STATUS = json_flatten(
    **{
        key: key
        for key in ("name", "topology", "complete", "healthy", "namespaces", "missing_namespaces")
    }
)


@record
class BuiltLab:
    """A lab of a built-in topology: its status and its plan (the topology a test defines
    itself is not known here)."""

    status: LabStatus = field(metadata=_STATUS)
    nodes: tuple[LabNode, ...]
    lab: Lab = field(metadata=json_skip())


@record
class Labs:
    labs: tuple[LabStatus | BuiltLab, ...]


def status(name: str | None = None) -> Labs:
    """Every lab that is up (only `name` when given)."""
    from netladder.lab import core
    from netladder.lab.topologies import BUILTIN, get

    states = core.list_states()
    if name is not None:
        states = [s for s in states if s.name == name]
    present = set(core.existing_namespaces())
    labs: list[LabStatus | BuiltLab] = []
    for state in states:
        missing = tuple(ns for ns in state.namespaces if ns not in present)
        found = LabStatus(
            state.name,
            state.topology,
            state.complete,
            state.complete and not missing,
            tuple(state.namespaces),
            missing,
        )
        if state.topology in BUILTIN:
            lab = core.Lab(get(state.topology), state.name)
            labs.append(BuiltLab(found, _nodes(lab), lab))
        else:
            labs.append(found)
    return Labs(tuple(labs))


def _nodes(lab: Lab) -> tuple[LabNode, ...]:
    return tuple(
        LabNode(
            name,
            plan.node.kind,
            lab.ns(name),
            tuple(
                LabIface(i.name, i.peer, tuple(str(a) for a in i.addresses))
                for i in plan.interfaces
            ),
            tuple(LabRoute(r.destination, str(r.via)) for r in plan.routes),
        )
        for name, plan in lab.plan.nodes.items()
    )
