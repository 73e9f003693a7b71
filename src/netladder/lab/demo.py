"""`netladder lab demo` (`make demo`): build the chain lab, run the checks across it, tear down."""

from __future__ import annotations

import shlex
import sys
import time

from netladder.lab.command import render_topology
from netladder.lab.core import Lab
from netladder.lab.topologies import chain
from netladder.output import paint

__all__ = ["STEPS", "run_demo"]

# (title, node, netladder arguments).  Every step runs inside the lab, from the client.
STEPS: list[tuple[str, str, list[str]]] = []


def _banner_check(lab: Lab) -> bool:
    """Until the layer commands exist: a TCP connection across both routers, banner read."""
    server = lab.addr("server")
    code = (
        "import socket,time;t=time.monotonic();"
        f"s=socket.create_connection(('{server}',22),timeout=3);"
        "b=s.recv(200).decode().strip();"
        "print(f'connected in {(time.monotonic()-t)*1000:.2f} ms, banner: {b}')"
    )
    result = lab.exec("client", [sys.executable, "-c", code], check=False)
    print(f"$ lab exec client -- tcp connect {server}:22")
    print((result.stdout or result.stderr).rstrip())
    return result.returncode == 0


def run_demo(keep: bool = False) -> int:
    lab = Lab(chain())
    started = time.monotonic()
    lab.up()
    ok = True
    try:
        print(render_topology(lab))
        print(paint(f"lab up in {time.monotonic() - started:.1f} s", "dim"))
        print()
        ok = _banner_check(lab) and ok
        for title, node, args in STEPS:
            print()
            print(paint(f"== {title}", "bold"))
            print(f"$ netladder {shlex.join(args)}   (from {node})")
            result = lab.netladder(node, *args)
            sys.stdout.write(result.stdout)
            sys.stdout.write(result.stderr)
        from netladder.names.demo import run_names_demo

        ok = run_names_demo(keep) and ok
    finally:
        if not keep:
            lab.down()
            print(paint("lab removed", "dim"))
    return 0 if ok else 1
