"""Building, running and tearing down a lab made of network namespaces and veth pairs.

Every name the lab makes carries the prefix ``nl-<lab>-`` and every namespace, process and relay
it creates is written to a state file *before* it is made, so `down` (and `down --all` after a
crash) removes exactly what was made.  Lab namespaces are never connected to the machine's own
interfaces: veth pairs are created directly inside the namespaces at both ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netladder.errors import EnvError, UsageError
from netladder.lab import sh
from netladder.lab.topology import NodePlan, Plan, Topology, plan

__all__ = [
    "PREFIX",
    "Lab",
    "LabState",
    "down_all",
    "is_root",
    "list_states",
    "load_state",
    "run_dir",
]

PREFIX = "nl-"
# `ip netns exec NS` bind-mounts /etc/netns/NS/FILE over /etc/FILE (Node.etc).
ETC_NETNS = Path("/etc/netns")
AGENT_READY_TIMEOUT = 20.0

# Every namespace: no DAD delay (addresses usable at once), no router solicitations.
BASE_SYSCTLS = {
    "net.ipv6.conf.all.accept_dad": "0",
    "net.ipv6.conf.default.accept_dad": "0",
    "net.ipv6.conf.default.router_solicitations": "0",
}
ROUTER_SYSCTLS = {
    "net.ipv4.ip_forward": "1",
    "net.ipv6.conf.all.forwarding": "1",
    # Lab routers answer every probe with ICMP: rate limits would hide path faults in tests.
    "net.ipv4.icmp_ratelimit": "0",
    "net.ipv6.icmp.ratelimit": "0",
}


def run_dir() -> Path:
    return Path(os.environ.get("NETLADDER_RUN_DIR", "/run/netladder"))


def files_dir(name: str) -> Path:
    """Where a lab keeps its logs and relay control files (removed with the lab)."""
    return run_dir() / f"{name}.d"


def is_root() -> bool:
    return os.geteuid() == 0


def _require_lab_privileges() -> None:
    if not is_root():
        raise EnvError("the lab needs root (network namespaces)", "run it as root, e.g. with sudo")
    sh.require_tools("ip")


@dataclass
class LabState:
    """What a lab made; written before each thing is made so a crash leaves a trail."""

    name: str
    topology: str
    namespaces: list[str] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)
    # link key "a-b" -> {"ns": relay namespace, "control": control file, "pid": relay pid}
    relays: dict[str, dict[str, Any]] = field(default_factory=dict)
    complete: bool = False

    @property
    def path(self) -> Path:
        return run_dir() / f"{self.name}.json"

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.__dict__, indent=1))
        tmp.replace(self.path)


def load_state(name: str) -> LabState | None:
    path = run_dir() / f"{name}.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return LabState(name=name, topology="?")
    known = {k: v for k, v in data.items() if k in LabState.__dataclass_fields__}
    return LabState(**known)


def list_states() -> list[LabState]:
    directory = run_dir()
    if not directory.is_dir():
        return []
    states = []
    for path in sorted(directory.glob("*.json")):
        state = load_state(path.stem)
        if state is not None:
            states.append(state)
    return states


def existing_namespaces() -> list[str]:
    try:
        return sorted(os.listdir("/run/netns"))
    except FileNotFoundError:
        return []


# Processes this process started (agents, relays): kept so they are reaped, not leaked.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def _kill(pids: Sequence[int]) -> None:
    """SIGTERM each process group (agents and relays shut their services down), SIGKILL what
    is still there after 2 s."""
    alive = []
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
            alive.append(pid)
    deadline = time.monotonic() + 2.0
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if _exists(pid)]
        if alive:
            time.sleep(0.02)
    for pid in alive:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    for pid in pids:
        child = _CHILDREN.pop(pid, None)
        if child is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=2)


def _exists(pid: int) -> bool:
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None  # reaps our own children: no zombie looks alive
    return _running(pid)


def _running(pid: int) -> bool:
    """Alive and not a zombie.  After a crash the lab's agents belong to whatever reaps orphans
    (init, a container's process manager); one that is slow to reap leaves zombies, which hold
    no resources but answer kill(pid, 0) — waiting for them to vanish would wait for nothing."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[:1] != ["Z"]


def _netns_ids(names: Sequence[str]) -> set[tuple[int, int]]:
    """(device, inode) of each named namespace: how `ip netns pids` tells a process's own."""
    ids = set()
    for ns in names:
        with contextlib.suppress(OSError):
            st = os.stat(f"/run/netns/{ns}")
            ids.add((st.st_dev, st.st_ino))
    return ids


def _pids_inside(ids: set[tuple[int, int]]) -> list[int]:
    """Live processes in any of the namespaces `ids` (`ip netns pids`, for many namespaces in
    one pass over /proc)."""
    if not ids:
        return []
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            st = os.stat(f"/proc/{entry.name}/ns/net")
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in ids and _running(int(entry.name)):
            found.append(int(entry.name))
    return found


def _remove_namespaces(names: Sequence[str]) -> None:
    present = set(existing_namespaces())
    doomed = [ns for ns in names if ns in present]
    ids = _netns_ids(doomed)
    # Unregister first, so nothing new enters by name (`ip netns exec` opens /run/netns/NS),
    # then kill whatever is still inside (a command started with `lab exec`, an agent whose
    # lab crashed): the namespace goes when its last process does.
    if doomed:
        sh.run(
            ["ip", "-force", "-batch", "-"],
            input="".join(f"netns del {ns}\n" for ns in doomed),
            check=False,
        )
    deadline = time.monotonic() + 10.0
    while (inside := _pids_inside(ids)) and time.monotonic() < deadline:
        for pid in inside:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.01)  # SIGKILL is being delivered; look again until none is left
    for ns in names:
        shutil.rmtree(ETC_NETNS / ns, ignore_errors=True)


def teardown(state: LabState) -> None:
    # Only processes still inside the lab's namespaces are the lab's: after a crash and a long
    # wait, a pid in the state file may belong to someone else.
    ids = _netns_ids(state.namespaces)
    ours = set(_pids_inside(ids))
    listed = state.pids + [r["pid"] for r in state.relays.values() if r.get("pid")]
    _kill([pid for pid in listed if pid in ours or pid in _CHILDREN])
    _remove_namespaces(list(reversed(state.namespaces)))
    shutil.rmtree(files_dir(state.name), ignore_errors=True)
    with contextlib.suppress(FileNotFoundError):
        state.path.unlink()


def down_all() -> list[str]:
    """Remove every lab, also what a crashed run left behind (anything named with the prefix)."""
    _require_lab_privileges()
    removed = []
    for state in list_states():
        teardown(state)
        removed.append(state.name)
    leftovers = [ns for ns in existing_namespaces() if ns.startswith(PREFIX)]
    _remove_namespaces(leftovers)
    # A crash between writing a state file and renaming it, or files of a lab whose state is
    # gone: everything here and under /etc/netns with the prefix is a lab's.
    directory = run_dir()
    if directory.is_dir():
        for path in directory.glob("*.tmp"):
            path.unlink(missing_ok=True)
        for path in directory.glob("*.d"):
            shutil.rmtree(path, ignore_errors=True)
    for path in ETC_NETNS.glob(f"{PREFIX}*") if ETC_NETNS.is_dir() else ():
        shutil.rmtree(path, ignore_errors=True)
    return removed + [f"namespace {ns}" for ns in leftovers]


class Lab:
    """A topology brought up (or to be brought up) under a lab name."""

    def __init__(self, topology: Topology, name: str | None = None) -> None:
        self.topology = topology
        self.name = name or topology.name
        if not self.name.replace("_", "").isalnum() or len(self.name) > 16:
            raise UsageError(f"lab name {self.name!r}: use up to 16 letters, digits or _")
        self.plan: Plan = plan(topology)
        self.state = LabState(self.name, topology.name)

    # -- naming ----------------------------------------------------------------------------

    def ns(self, node: str) -> str:
        if node not in self.plan.nodes:
            raise UsageError(f"lab {self.name!r} has no node {node!r}")
        return f"{PREFIX}{self.name}-{node}"

    def node(self, node: str) -> NodePlan:
        self.ns(node)
        return self.plan.nodes[node]

    def addr(self, node: str, version: int = 4) -> str:
        address = self.node(node).address(version)
        if address is None:
            raise UsageError(f"node {node!r} has no IPv{version} address")
        return str(address)

    def iface(self, node: str, peer: str) -> str:
        return self.node(node).interface_to(peer).name

    def addr_on(self, node: str, peer: str, version: int = 4) -> str:
        """The node's address on the interface facing `peer` (a node or segment name)."""
        for a in self.node(node).interface_to(peer).addresses:
            if a.version == version:
                return str(a.ip)
        raise UsageError(f"node {node!r} has no IPv{version} address towards {peer!r}")

    def mac(self, node: str, peer: str) -> str:
        out = self.exec(node, ["ip", "-j", "link", "show", "dev", self.iface(node, peer)]).stdout
        return str(json.loads(out)[0]["address"])

    # -- running things inside ---------------------------------------------------------------

    def exec(
        self,
        node: str,
        argv: Sequence[str],
        *,
        check: bool = True,
        input: str | None = None,
        timeout: float = 60.0,
    ) -> subprocess.CompletedProcess[str]:
        return sh.run(
            ["ip", "netns", "exec", self.ns(node), *argv], check=check, input=input, timeout=timeout
        )

    def popen(self, node: str, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        return subprocess.Popen(["ip", "netns", "exec", self.ns(node), *argv], **kwargs)

    def netladder(
        self, node: str, *args: str, timeout: float = 60.0, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the netladder CLI inside a node (never raises on a non-zero exit)."""
        return self.exec(
            node,
            [sys.executable, "-m", "netladder", *args],
            check=False,
            timeout=timeout,
            input=input,
        )

    # -- life cycle --------------------------------------------------------------------------

    def is_up(self) -> bool:
        state = load_state(self.name)
        if state is None or not state.complete:
            return False
        present = set(existing_namespaces())
        return all(ns in present for ns in state.namespaces)

    def up(self) -> Lab:
        """Build the lab; harmless when it is already up; removes what it made if it fails."""
        _require_lab_privileges()
        if self.is_up():
            loaded = load_state(self.name)
            assert loaded is not None
            self.state = loaded
            return self
        previous = load_state(self.name)
        if previous is not None:
            teardown(previous)  # a half-built or crashed lab of the same name
        self.state = LabState(self.name, self.topology.name)
        self.state.save()
        try:
            self._build()
        except BaseException:
            teardown(self.state)
            raise
        self.state.complete = True
        self.state.save()
        return self

    def down(self) -> None:
        state = load_state(self.name) or self.state
        teardown(state)

    def __enter__(self) -> Lab:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()

    # -- building ----------------------------------------------------------------------------

    def _add_namespace(self, ns: str, sysctls: dict[str, str]) -> None:
        self.state.namespaces.append(ns)
        self.state.save()
        sh.run(["ip", "netns", "add", ns])
        shutil.rmtree(ETC_NETNS / ns, ignore_errors=True)  # stale files of an earlier lab
        settings = [f"{k}={v}" for k, v in sysctls.items()]
        sh.run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", *settings])
        sh.run(["ip", "-n", ns, "link", "set", "lo", "up"])

    def _build(self) -> None:
        topo = self.topology
        for node in topo.nodes:
            sysctls = dict(BASE_SYSCTLS)
            if node.kind == "router":
                sysctls.update(ROUTER_SYSCTLS)
            sysctls.update(node.sysctls)
            self._add_namespace(self.ns(node.name), sysctls)

        batches: dict[str, list[str]] = {self.ns(n.name): [] for n in topo.nodes}

        for seg in topo.segments:
            sw = f"{PREFIX}{self.name}-sw-{seg.name}"
            self._add_namespace(sw, dict(BASE_SYSCTLS))
            sh.run(["ip", "-n", sw, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0"])
            for member in seg.members:
                port = f"p-{member}"[:15]
                ifname = self.iface(member, seg.name)
                sh.run(
                    [
                        "ip",
                        "link",
                        "add",
                        ifname,
                        "netns",
                        self.ns(member),
                        "type",
                        "veth",
                        "peer",
                        "name",
                        port,
                        "netns",
                        sw,
                    ]
                )
                sh.run(["ip", "-n", sw, "link", "set", port, "master", "br0", "up"])
            sh.run(["ip", "-n", sw, "link", "set", "br0", "up"])

        relay_starts: list[tuple[str, str, str, str]] = []
        for link in topo.links:
            a_if, b_if = self.iface(link.a, link.b), self.iface(link.b, link.a)
            a_ns, b_ns = self.ns(link.a), self.ns(link.b)
            if not link.relay:
                sh.run(
                    [
                        "ip",
                        "link",
                        "add",
                        a_if,
                        "netns",
                        a_ns,
                        "type",
                        "veth",
                        "peer",
                        "name",
                        b_if,
                        "netns",
                        b_ns,
                    ]
                )
                continue
            key = f"{link.a}-{link.b}"
            rns = f"{PREFIX}{self.name}-rl-{key}"
            self._add_namespace(rns, dict(BASE_SYSCTLS))
            sh.run(
                [
                    "ip",
                    "link",
                    "add",
                    a_if,
                    "netns",
                    a_ns,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    "ra",
                    "netns",
                    rns,
                ]
            )
            sh.run(
                [
                    "ip",
                    "link",
                    "add",
                    b_if,
                    "netns",
                    b_ns,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    "rb",
                    "netns",
                    rns,
                ]
            )
            # The relay copies frames with AF_PACKET: every frame must be whole and checksummed,
            # so no segmentation or checksum offload on either side of it.
            sh.require_tools("ethtool")
            for ns, ifname in ((a_ns, a_if), (b_ns, b_if), (rns, "ra"), (rns, "rb")):
                sh.run(
                    [
                        "ip",
                        "netns",
                        "exec",
                        ns,
                        "ethtool",
                        "-K",
                        ifname,
                        "tx",
                        "off",
                        "tso",
                        "off",
                        "gso",
                        "off",
                        "gro",
                        "off",
                    ],
                    check=False,
                )
            sh.run(["ip", "-n", rns, "link", "set", "ra", "up"])
            sh.run(["ip", "-n", rns, "link", "set", "rb", "up"])
            files_dir(self.name).mkdir(parents=True, exist_ok=True)
            control = str(files_dir(self.name) / f"relay-{key}.json")
            Path(control).write_text(json.dumps({"delay_ab_ms": 0.0, "delay_ba_ms": 0.0}))
            self.state.relays[key] = {"ns": rns, "control": control, "pid": None}
            relay_starts.append((key, rns, control, key))

        for name, node_plan in self.plan.nodes.items():
            batch = batches[self.ns(name)]
            for iface in node_plan.interfaces:
                for address in iface.addresses:
                    extra = " nodad" if address.version == 6 else ""
                    batch.append(f"address add {address} dev {iface.name}{extra}")
                batch.append(f"link set {iface.name} up")
            for prefix in node_plan.node.local_prefixes:
                batch.append(f"route add local {prefix} dev lo")
            for route in node_plan.routes:
                # The family follows from the gateway's address (batch lines take no -6).
                batch.append(f"route add {route.destination} via {route.via}")
        for ns, batch in batches.items():
            if batch:
                sh.run(["ip", "-n", ns, "-batch", "-"], input="\n".join(batch) + "\n")
        for node in topo.nodes:
            for filename, content in node.etc.items():
                directory = ETC_NETNS / self.ns(node.name)
                directory.mkdir(parents=True, exist_ok=True)
                (directory / filename).write_text(content)
            for script in node.setup:
                sh.require_tools("nft")
                sh.run(["ip", "netns", "exec", self.ns(node.name), "nft", "-f", "-"], input=script)

        self._start_processes(relay_starts)

    def _start_processes(self, relay_starts: list[tuple[str, str, str, str]]) -> None:
        logs = files_dir(self.name)
        logs.mkdir(parents=True, exist_ok=True)
        starting: list[tuple[str, subprocess.Popen[bytes], Path]] = []
        by_node: dict[str, list[dict[str, Any]]] = {}
        for svc in self.topology.services:
            by_node.setdefault(svc.node, []).append(
                {"kind": svc.kind, "port": svc.port, "options": dict(svc.options)}
            )
        for node, services in by_node.items():
            config = json.dumps({"node": node, "services": services})
            argv = [sys.executable, "-m", "netladder.lab.agent", config]
            log = logs / f"{node}.log"
            starting.append((f"agent {node}", self._spawn(self.ns(node), argv, log), log))
        for key, rns, control, _ in relay_starts:
            argv = [sys.executable, "-m", "netladder.lab.relay", "ra", "rb", control]
            log = logs / f"relay-{key}.log"
            proc = self._spawn(rns, argv, log)
            self.state.relays[key]["pid"] = proc.pid
            starting.append((f"relay {key}", proc, log))
        self.state.save()
        deadline = time.monotonic() + AGENT_READY_TIMEOUT
        for what, proc, log in starting:
            _wait_ready(what, proc, deadline, log)

    def _spawn(self, ns: str, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
        with open(log, "ab") as log_file:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", ns, *argv],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log_file,
                start_new_session=True,
            )
        self.state.pids.append(proc.pid)
        _CHILDREN[proc.pid] = proc
        return proc

    # -- faults ------------------------------------------------------------------------------

    def relay_control(self, a: str, b: str) -> tuple[Path, int, bool] | None:
        """The relay between a and b: (control file, pid, whether a is the relay's 'a' side)."""
        state = load_state(self.name) or self.state
        for key, forward in ((f"{a}-{b}", True), (f"{b}-{a}", False)):
            relay = state.relays.get(key)
            if relay and relay.get("pid"):
                return Path(relay["control"]), int(relay["pid"]), forward
        return None

    @contextlib.contextmanager
    def fault(self, *faults: Any) -> Iterator[None]:
        """Apply faults for the duration of a with-block; always reverted."""
        undo = []
        try:
            for f in faults:
                undo.append(f.apply(self))
            yield
        finally:
            for revert in reversed(undo):
                revert()


def _last_line(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return lines[-1] if lines else "no output"


def _wait_ready(what: str, proc: subprocess.Popen[bytes], deadline: float, log: Path) -> None:
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise sh.LabError(f"{what} did not start in time: {_last_line(log)}")
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            line = proc.stdout.readline()
            proc.stdout.close()
            if line.strip() == b"ready":
                return
            raise sh.LabError(f"{what} failed to start: {_last_line(log)}")
