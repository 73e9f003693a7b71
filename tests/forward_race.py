"""Race `forward delete` against concurrent `forward add`s, many times, inside one namespace.

Run as a script inside a lab node (tests/test_forward.py does); prints one JSON document with
every trial.  The commands run as they do from the shell (`netladder.cli.main`), each in a
thread of its own, so their nft reads and transactions interleave for real: nft processes run
side by side and the kernel orders their transactions.  Threads instead of processes keep a
trial at tens of milliseconds, so a test can afford many.

    python tests/forward_race.py one TRIALS     # delete 1  beside  add
    python tests/forward_race.py all TRIALS     # delete --all  beside  two adds
"""

from __future__ import annotations

import asyncio
import io
import json
import random
import sys
import threading
from typing import Any

from netladder.cli import main
from netladder.nat import nft


class _PerThreadStdout(io.TextIOBase):
    """Each thread's prints go to its own buffer (sys.stdout is shared by all threads)."""

    def __init__(self) -> None:
        self.local = threading.local()

    def write(self, text: str) -> int:
        buffer = getattr(self.local, "buffer", None)
        if buffer is not None:
            buffer.write(text)
        return len(text)

    def isatty(self) -> bool:
        return False


STDOUT = _PerThreadStdout()


def run(argv: list[str]) -> tuple[int, str]:
    STDOUT.local.buffer = io.StringIO()
    code = main(argv)
    return code, STDOUT.local.buffer.getvalue()


def concurrently(*argvs: list[str]) -> list[tuple[int, str]]:
    """Start the commands together (a barrier, then a random 0-20 ms head start each, so the
    interleavings vary) and return each one's exit code and stdout."""
    results: list[tuple[int, str]] = [(-1, "")] * len(argvs)
    barrier = threading.Barrier(len(argvs))
    delays = [random.uniform(0, 0.02) for _ in argvs]

    def one(i: int) -> None:
        barrier.wait()
        threading.Event().wait(delays[i])
        results[i] = run(argvs[i])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(argvs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def add(port: int) -> list[str]:
    return ["forward", "add", "--port", str(port), "--to", "8080", "--json"]


def state() -> dict[int, tuple[int, bool]]:
    """port -> (forward id, complete) for every forward in the ruleset now."""
    ruleset = asyncio.run(nft.read_ruleset())
    return {f.spec.port: (f.id, f.complete) for f in ruleset.forwards}


def trial_one() -> dict[str, Any]:
    code, _ = run(add(7000))
    assert code == 0, "setting up forward 1 failed"
    first = state()[7000][0]
    (deleted, _), (added, out) = concurrently(
        ["forward", "delete", str(first), "--json"], add(7001)
    )
    after = state()
    added_id = json.loads(out)["id"] if added == 0 else None
    lost = added == 0 and after.get(7001) != (added_id, True)
    record = {
        "delete_rc": deleted,
        "add_rc": added,
        "lost": lost,
        "left": sorted(after),
        "table_exists": asyncio.run(nft.read_ruleset()).table_handle is not None,
    }
    run(["forward", "delete", "--all"])
    return record


def trial_all() -> dict[str, Any]:
    for port in (7000, 7001):
        assert run(add(port))[0] == 0, "setting up the forwards failed"
    (deleted, listed), (a1, out1), (a2, out2) = concurrently(
        ["forward", "delete", "--all", "--json"], add(7002), add(7003)
    )
    after = state()
    removed = json.loads(listed)["deleted"] if deleted == 0 else []
    lost = []
    for port, code, out in ((7002, a1, out1), (7003, a2, out2)):
        if code != 0:
            continue
        added_id = json.loads(out)["id"]
        # An add that reported success must find its forward either still there, or named by
        # the delete --all, which then listed it (and said so): nothing else may remove it.
        if after.get(port) != (added_id, True) and added_id not in removed:
            lost.append(port)
    record = {
        "delete_rc": deleted,
        "add_rcs": [a1, a2],
        "deleted": removed,
        "lost": lost,
        "left": sorted(after),
    }
    run(["forward", "delete", "--all"])
    return record


def main_() -> None:
    kind, trials = sys.argv[1], int(sys.argv[2])
    sys.stdout, real = STDOUT, sys.stdout
    trial = trial_one if kind == "one" else trial_all
    records = [trial() for _ in range(trials)]
    real.write(json.dumps(records) + "\n")


if __name__ == "__main__":
    main_()
