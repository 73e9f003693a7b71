"""The network lab: namespaces, veth pairs, services and faults on one machine."""

from netladder.lab.core import Lab, down_all
from netladder.lab.faults import (
    BlockEcho,
    Delay,
    DropPort,
    Loss,
    NoTimeExceeded,
    RejectPort,
    WrongArp,
)
from netladder.lab.topologies import get as get_topology
from netladder.lab.topology import Link, Node, Segment, Service, Topology

__all__ = [
    "BlockEcho",
    "Delay",
    "DropPort",
    "Lab",
    "Link",
    "Loss",
    "Node",
    "NoTimeExceeded",
    "RejectPort",
    "Segment",
    "Service",
    "Topology",
    "WrongArp",
    "down_all",
    "get_topology",
]
