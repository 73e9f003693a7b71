"""Waiting for the state a test needs instead of sleeping "long enough".

A Ctrl-C test must interrupt a command after it has gathered something (a hop, a reply) and
before it ends.  A fixed sleep guesses how long start-up and the answers take, and a busy
machine breaks the guess.  These helpers watch what the kernel and the process show instead:

- `Counters`: the IP/ICMP/TCP/UDP counters of the node's network namespace (/proc/net/snmp
  and snmp6), read before the command starts and then through /proc/PID/net, so a test sees
  the answers arrive;
- `wait_idle(pid)`: the process sleeps in epoll_wait with nothing ready, so whatever had
  arrived has been read and handled.

Usage: read the counters, start the command, wait until they grow by what the test needs,
wait until the process is idle, then send the signal.  A predicate counts answers of the kind
the command's probes draw (time exceeded, echo replies, connections opened); tests run one at
a time, so in a lab node those are the command's.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from netladder.lab import Lab

__all__ = ["Counters", "restore_sigint", "unlimited_icmp", "wait_idle", "wait_until"]

DEADLINE = 60.0  # seconds: far beyond any healthy wait, well inside pytest's timeout


def _parse(text: str) -> dict[str, int]:
    """/proc/net/snmp ("Icmp: InMsgs ..." header lines, each followed by its values) and
    /proc/net/snmp6 ("Icmp6InMsgs 3") as one table: "Icmp.InTimeExcds", "Icmp6InMsgs"."""
    found: dict[str, int] = {}
    pending: tuple[str, list[str]] | None = None
    for line in text.splitlines():
        first, _, rest = line.partition(" ")
        if first.endswith(":"):
            if pending is None or pending[0] != first:
                pending = (first, rest.split())
                continue
            for key, value in zip(pending[1], rest.split(), strict=True):
                found[f"{first[:-1]}.{key}"] = int(value)
            pending = None
        elif rest.strip():
            found[first] = int(rest)
    return found


class Counters:
    """A node's counters, read before a command starts, to see later what it received."""

    def __init__(self, lab: Lab, node: str) -> None:
        self.netns = Path("/run/netns", lab.ns(node)).stat().st_ino
        self.before = _parse(lab.exec(node, ["cat", "/proc/net/snmp", "/proc/net/snmp6"]).stdout)

    def now(self, pid: int) -> dict[str, int] | None:
        """The counters as the process sees them; None until it has entered the node's
        namespace (`ip netns exec` switches before it execs the command)."""
        try:
            if Path(f"/proc/{pid}/ns/net").stat().st_ino != self.netns:
                return None
            return _parse(
                Path(f"/proc/{pid}/net/snmp").read_text()
                + Path(f"/proc/{pid}/net/snmp6").read_text()
            )
        except FileNotFoundError:  # it ended: a predicate on it can no longer come true
            raise AssertionError(f"process {pid} ended before the state a test waits for") from None

    def grown(self, pid: int, **wanted: int) -> Callable[[], bool]:
        """A predicate: each counter (its dot written as __) grew by at least the number
        given, in the process's namespace."""

        def check() -> bool:
            now = self.now(pid)
            return now is not None and all(
                now[key.replace("__", ".")] - self.before[key.replace("__", ".")] >= n
                for key, n in wanted.items()
            )

        return check


def wait_until(what: str, predicate: Callable[[], bool], timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        time.sleep(0.01)


def _sleeping_in_epoll(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat").read_text()
    state = stat.rpartition(")")[2].split()[0]
    wchan = Path(f"/proc/{pid}/wchan").read_text()
    return state == "S" and "epoll" in wchan


def wait_idle(pid: int, timeout: float = DEADLINE) -> None:
    """Until the process has twice in a row been found asleep in epoll_wait: its event loop
    has handled everything that was ready (a datagram or an error queued for it wakes it)."""
    deadline = time.monotonic() + timeout
    seen = 0
    while seen < 2:
        assert time.monotonic() < deadline, f"process {pid} never went idle"
        seen = seen + 1 if _sleeping_in_epoll(pid) else 0
        time.sleep(0.02)


def restore_sigint() -> None:
    """preexec_fn for a command a test will interrupt: a run started in the background of a
    non-interactive shell (`make test &`, some CI runners) ignores SIGINT, every process it
    starts inherits that, and Python then installs no Ctrl-C handler at all."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextmanager
def unlimited_icmp(lab: Lab, node: str) -> Iterator[None]:
    """Lift a node's ICMP error rate limit for a block.  A host sends a source ~6 errors at
    once, then one a second (net.ipv4.icmp_ratelimit, net.ipv6.icmp.ratelimit, per
    namespace), and whatever test ran just before may have spent them: a test that compares
    answers with an anchor's (traceroute's port unreachable, nmap's REJECT reasons) must not
    depend on the bucket's refill.  The tests of the limit itself do not use this."""
    keys = ("net.ipv4.icmp_ratelimit", "net.ipv6.icmp.ratelimit")
    before = lab.exec(node, ["sysctl", "-n", *keys]).stdout.split()
    lab.exec(node, ["sysctl", "-qw", *(f"{key}=0" for key in keys)])
    try:
        yield
    finally:
        lab.exec(node, ["sysctl", "-qw", *(f"{k}={v}" for k, v in zip(keys, before, strict=True))])
