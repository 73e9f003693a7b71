"""The README's deployment of `netladder serve`: its systemd unit passes `systemd-analyze
verify`, and the privilege model it sets up — an unprivileged user with CAP_NET_RAW and no
other capability — is enough for ICMP probes, which fail (saying why) without it."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
NETLADDER = str(Path(sys.executable).with_name("netladder"))


def unit_text() -> str:
    m = re.search(r"<!-- systemd-unit -->\s*```\w*\n(.*?)```", README.read_text(), re.S)
    assert m, "README has no systemd unit block"
    return m.group(1)


def unit_value(key: str) -> str:
    m = re.search(rf"^{key}=(.*)$", unit_text(), re.M)
    assert m, key
    return m.group(1)


def test_the_unit_runs_unprivileged_with_cap_net_raw_only() -> None:
    assert unit_value("User") == "netladder"
    assert unit_value("AmbientCapabilities") == "CAP_NET_RAW"
    assert unit_value("CapabilityBoundingSet") == "CAP_NET_RAW"
    assert unit_value("StateDirectory") == "netladder"  # /var/lib/netladder
    assert unit_value("ExecStart").split()[1] == "serve"
    assert unit_value("ExecReload") == "/bin/kill -HUP $MAINPID"


def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here (no systemd)")
    # The unit as written, with ExecStart pointing at this checkout's netladder (verify checks
    # that the program exists).
    text = unit_text().replace("/usr/local/bin/netladder", NETLADDER)
    unit = tmp_path / "netladder.service"
    unit.write_text(text)
    done = subprocess.run(
        [analyze, "verify", "--man=no", str(unit)], capture_output=True, text=True
    )
    # verify exits 0 even for an unknown key, which it reports on stderr: both must be clean.
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
    broken = tmp_path / "broken.service"
    broken.write_text(text.replace("AmbientCapabilities", "AmbientCapabilites"))
    done = subprocess.run(
        [analyze, "verify", "--man=no", str(broken)], capture_output=True, text=True
    )
    assert "Unknown key" in done.stderr  # the check can fail


def _probe_as_nobody(caps: str) -> str:
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.fail("setpriv (util-linux) is missing: run scripts/install-deps")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # +dac_read_search only lets nobody read the checkout and its .venv (a clone in a 0700
    # directory: tests/privileges.py); it opens no socket, so the claim stays "net_raw is all".
    caps = ",+dac_read_search" + caps
    argv = [
        setpriv,
        "--reuid=nobody",
        "--regid=nogroup",
        "--clear-groups",
        f"--inh-caps=-all{caps}",
        f"--ambient-caps=-all{caps}",
        f"--bounding-set=-all{caps}",
        NETLADDER,
        "serve",
        "--listen",
        f"127.0.0.1:{port}",
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        import urllib.request

        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.communicate()[1]
            try:
                url = f"http://127.0.0.1:{port}/probe?module=icmp&target=127.0.0.1"
                with urllib.request.urlopen(url, timeout=30) as answer:
                    return str(answer.read().decode())
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


@pytest.mark.lab
def test_cap_net_raw_is_all_an_icmp_probe_needs(lab_ok: None) -> None:
    # As on a stock system: no group may open unprivileged ICMP sockets (the default of a new
    # network namespace; another test of this run may have widened it).
    sysctl = Path("/proc/sys/net/ipv4/ping_group_range")
    before = sysctl.read_text()
    sysctl.write_text("1 0\n")
    try:
        with_cap = _probe_as_nobody(",+net_raw")
        without = _probe_as_nobody("")
    finally:
        sysctl.write_text(before)
    assert "probe_success 1" in with_cap
    assert "probe_success 0" in without
    assert 'probe_failure_info{layer="probe",reason="environment"} 1' in without
