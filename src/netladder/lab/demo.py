"""`netladder lab demo` (`make demo`): build the demo lab, reproduce each classic failure and
print netladder's diagnosis of it, then a healthy target; then the names lab; tear down."""

from __future__ import annotations

import shlex
import sys
import time

from netladder.lab.core import Lab
from netladder.lab.render import render_topology
from netladder.lab.topologies import demo
from netladder.output import paint

__all__ = ["run_demo"]


def run_demo(keep: bool = False) -> int:
    from netladder.lab.scenarios import SCENARIOS, diagnose_in_lab

    lab = Lab(demo())
    started = time.monotonic()
    lab.up()
    failures = []
    try:
        print(render_topology(lab))
        print(paint(f"lab up in {time.monotonic() - started:.1f} s", "dim"))
        for scenario in SCENARIOS:
            print()
            print(paint(f"== {scenario.title}", "bold"))
            print(f"$ netladder diagnose {shlex.join(scenario.args)}   (from client)")
            code, out, err = diagnose_in_lab(lab, scenario)
            sys.stdout.write(out)
            sys.stdout.write(err)
            sys.stdout.flush()
            expected = 0 if scenario.layer is None else 1
            if code != expected:
                failures.append(scenario.name)
        from netladder.lab.names_demo import run_names_demo

        if not run_names_demo(keep):
            failures.append("names")
    finally:
        if not keep:
            lab.down()
            print(paint("lab removed", "dim"))
    if failures:
        print(paint(f"unexpected outcome in: {', '.join(failures)}", "red"))
    return 1 if failures else 0
