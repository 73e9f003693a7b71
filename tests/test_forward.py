"""`netladder forward add|list|delete|verify` in the chain lab: real nftables rules in each node's
own ruleset, reached with curl and socat from other nodes.

    client 203.0.113.2 — r1 — (.6) r2 — server 198.51.100.10 (tcp 22/25, http 80/8080, udp 7)
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from netladder.lab import Lab
from netladder.lab.topologies import SMTP_BANNER, SSH_BANNER
from privileges import AS_NOBODY

pytestmark = pytest.mark.lab

SERVER = "198.51.100.10"
R2_FACING_CLIENT = "203.0.113.6"


def fwd(lab: Lab, node: str, *args: str) -> subprocess.CompletedProcess[str]:
    return lab.netladder(node, "forward", *args, timeout=30)


def fwd_json(lab: Lab, node: str, *args: str) -> dict[str, Any]:
    result = fwd(lab, node, *args, "--json")
    assert result.stdout, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def ruleset(lab: Lab, node: str) -> Any:
    return json.loads(lab.exec(node, ["nft", "-j", "list", "ruleset"]).stdout)


def curl(lab: Lab, node: str, url: str) -> str:
    return lab.exec(node, ["curl", "-s", "--max-time", "3", url], check=False).stdout


def banner(lab: Lab, node: str, address: str, port: int) -> str:
    return lab.exec(
        node, ["socat", "-T", "2", "-", f"TCP:{address}:{port}"], input="", check=False, timeout=10
    ).stdout.strip()


@pytest.fixture()
def lab(chain_lab: Lab) -> Iterator[Lab]:
    """The chain lab, with every node's NAT state put back after each test."""
    yield chain_lab
    for node in ("server", "r2"):
        fwd(chain_lab, node, "delete", "--all")
        chain_lab.exec(node, ["iptables", "-t", "nat", "-F"], check=False)
        chain_lab.exec(node, ["nft", "delete", "table", "ip", "other"], check=False)
    chain_lab.exec("r2", ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])


def test_redirect_80_to_8080_is_reached_from_another_host(lab: Lab) -> None:
    url = f"http://{SERVER}/"
    assert curl(lab, "client", url) == "netladder lab\n"  # port 80's own service
    added = fwd(lab, "server", "add", "--port", "80", "--to", "8080")
    assert added.returncode == 0, added.stderr
    assert "--local" in added.stderr  # the warning about this machine's own connections
    assert curl(lab, "client", url) == "alt\n"  # now 8080 answers on 80
    # The classic surprise: the host's own connections do not pass PREROUTING.
    assert curl(lab, "server", url) == "netladder lab\n"
    (forward,) = fwd_json(lab, "server", "list")["forwards"]
    assert (forward["kind"], forward["port"], forward["to_port"]) == ("redirect", 80, 8080)
    assert forward["packets"] >= 1 and forward["hooks"] == ["prerouting"]


def test_local_also_covers_connections_made_on_the_host(lab: Lab) -> None:
    assert fwd(lab, "server", "add", "--port", "80", "--to", "8080", "--local").returncode == 0
    assert curl(lab, "server", f"http://{SERVER}/") == "alt\n"
    assert curl(lab, "server", "http://127.0.0.1/") == "alt\n"
    assert curl(lab, "client", f"http://{SERVER}/") == "alt\n"
    result = fwd_json(lab, "server", "verify", "--port", "80")
    assert result["ok"] and result["cause"] == "ok", result
    assert result["hook"] == "output" and result["hits"] == 1


def test_dnat_from_a_router_reaches_the_server_behind_it(lab: Lab) -> None:
    assert banner(lab, "client", R2_FACING_CLIENT, 8022) == ""  # nothing there yet
    added = fwd(lab, "r2", "add", "--port", "8022", "--to", "22", "--dest", SERVER)
    assert added.returncode == 0, added.stderr
    assert banner(lab, "client", R2_FACING_CLIENT, 8022) == SSH_BANNER
    result = fwd_json(lab, "r2", "verify", "--port", "8022", "--from", lab.ns("client"))
    assert result["ok"], result
    assert result["via"] == R2_FACING_CLIENT
    assert result["through"]["answer"] == result["direct"]["answer"] == SSH_BANNER
    assert result["hits"] == 1
    # The lab node's short name works too, and the human form says OK.
    human = fwd(lab, "r2", "verify", "--port", "8022", "--from", "client")
    assert human.returncode == 0 and "OK: the intended target 198.51.100.10:22" in human.stdout


def test_dnat_over_ipv6_and_from_the_router_itself_with_local(lab: Lab) -> None:
    server6 = lab.addr("server", 6)
    added = fwd(lab, "r2", "add", "--port", "8022", "--to", "22", "--dest", server6, "--local")
    assert added.returncode == 0, added.stderr
    assert "::1 cannot be sent to another host" in added.stderr
    r2_v6 = lab.addr_on("r2", "r1", 6)
    assert banner(lab, "client", f"[{r2_v6}]", 8022) == SSH_BANNER
    result = fwd_json(lab, "r2", "verify", "--port", "8022", "--from", "client")
    assert result["ok"] and result["via"] == r2_v6, result
    # --local: the router's own connections to its own address are forwarded too.
    local = fwd_json(lab, "r2", "verify", "--port", "8022")
    assert local["ok"] and local["hook"] == "output", local


def test_local_dnat_works_from_the_router_and_warns_about_loopback(lab: Lab) -> None:
    added = fwd(lab, "r2", "add", "--port", "8022", "--to", "22", "--dest", SERVER, "--local")
    assert "net.ipv4.conf.all.route_localnet=1" in added.stderr
    assert banner(lab, "r2", R2_FACING_CLIENT, 8022) == SSH_BANNER
    assert banner(lab, "client", R2_FACING_CLIENT, 8022) == SSH_BANNER
    local = fwd_json(lab, "r2", "verify", "--port", "8022")
    assert local["ok"] and local["via"] != "127.0.0.1", local


def test_a_udp_redirect_is_verified_with_a_datagram(lab: Lab) -> None:
    added = fwd(lab, "server", "add", "--proto", "udp", "--port", "7007", "--to", "7")
    assert added.returncode == 0
    echo = lab.exec("client", ["socat", "-T", "2", "-", f"UDP:{SERVER}:7007"], input="hi\n")
    assert echo.stdout == "hi\n"
    result = fwd_json(
        lab, "server", "verify", "--proto", "udp", "--port", "7007", "--from", "client"
    )
    assert result["ok"], result


def test_verify_without_a_rule_says_so(lab: Lab) -> None:
    result = fwd(lab, "server", "verify", "--port", "9999", "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout)["cause"] == "no_rule"


def test_verify_from_the_host_itself_names_the_missing_output_hook(lab: Lab) -> None:
    assert fwd(lab, "server", "add", "--port", "80", "--to", "8080").returncode == 0
    result = fwd(lab, "server", "verify", "--port", "80")
    assert result.returncode == 1
    assert "FAIL (rule_not_hit)" in result.stdout and "--local" in result.stdout


def test_a_shadowing_iptables_rule_is_shown_and_named_by_verify(lab: Lab) -> None:
    # iptables' `ip nat` table must be made after netladder's (below); an earlier test may
    # have left it (the fixture flushes its rules, not the table).
    lab.exec("server", ["nft", "delete", "table", "ip", "nat"], check=False)
    added = fwd(lab, "server", "add", "--port", "80", "--to", "8080")
    assert added.returncode == 0 and "table ip nat" not in added.stderr
    # Someone else's rule, made after: iptables-nft's `ip nat` table is newer, and at equal
    # priority the newest hook runs first, so it catches port 80 before netladder's rule.
    lab.exec(
        "server",
        [
            "iptables",
            "-t",
            "nat",
            "-A",
            "PREROUTING",
            "-p",
            "tcp",
            "--dport",
            "80",
            "-j",
            "REDIRECT",
            "--to-port",
            "25",
        ],
    )
    listing = fwd_json(lab, "server", "list")
    (other,) = listing["others"]
    assert (other["family"], other["table"], other["target"]) == ("ip", "nat", "REDIRECT")
    assert "redirect to :25" in other["text"]
    assert listing["forwards"][0]["shadowed_by"] == [
        f"table ip nat chain PREROUTING handle {other['handle']}"
    ]
    assert banner(lab, "client", SERVER, 80) == SMTP_BANNER  # the other rule wins
    result = fwd_json(lab, "server", "verify", "--port", "80", "--from", "client")
    assert result["cause"] == "rule_not_hit", result
    assert "table ip nat chain PREROUTING" in result["detail"]
    assert result["through"]["answer"] == SMTP_BANNER


def test_verify_names_disabled_forwarding(lab: Lab) -> None:
    assert fwd(lab, "r2", "add", "--port", "8022", "--to", "22", "--dest", SERVER).returncode == 0
    lab.exec("r2", ["sysctl", "-q", "-w", "net.ipv4.ip_forward=0"])
    result = fwd(
        lab, "r2", "verify", "--port", "8022", "--from", "client", "--timeout", "1", "--json"
    )
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["cause"] == "forwarding_disabled" and data["forwarding"] is False
    assert "net.ipv4.ip_forward" in data["detail"]
    assert "forwarding is disabled for ipv4" in fwd(lab, "r2", "list").stdout
    another = fwd(lab, "r2", "add", "--port", "8023", "--to", "22", "--dest", SERVER)
    assert "net.ipv4.ip_forward is 0" in another.stderr


def test_verify_names_a_closed_target_port(lab: Lab) -> None:
    assert fwd(lab, "r2", "add", "--port", "8022", "--to", "2222", "--dest", SERVER).returncode == 0
    result = fwd_json(lab, "r2", "verify", "--port", "8022", "--from", "client")
    assert result["cause"] == "target_closed", result
    assert result["direct"]["outcome"] == "refused" and result["hits"] == 1


def test_delete_restores_the_ruleset_exactly_and_leaves_others_alone(lab: Lab) -> None:
    lab.exec(
        "server",
        [
            "iptables",
            "-t",
            "nat",
            "-A",
            "PREROUTING",
            "-p",
            "tcp",
            "--dport",
            "81",
            "-j",
            "REDIRECT",
            "--to-port",
            "8080",
        ],
    )
    lab.exec(
        "server",
        ["nft", "-f", "-"],
        input=(
            "table ip other {\n chain pre {\n  type nat hook prerouting priority -100;\n"
            "  tcp dport 82 counter redirect to :8080\n }\n}\n"
        ),
    )
    before = ruleset(lab, "server")
    assert fwd(lab, "server", "add", "--port", "80", "--to", "8080").returncode == 0
    middle = ruleset(lab, "server")
    assert middle != before
    assert (
        fwd(
            lab, "server", "add", "--port", "53", "--to", "5353", "--proto", "udp", "--local"
        ).returncode
        == 0
    )
    ids = [f["id"] for f in fwd_json(lab, "server", "list")["forwards"]]
    assert ids == [1, 2]
    assert fwd(lab, "server", "delete", "2").returncode == 0
    assert ruleset(lab, "server") == middle
    assert fwd(lab, "server", "delete", "1").returncode == 0
    assert ruleset(lab, "server") == before
    for port in ("80", "443"):
        assert fwd(lab, "server", "add", "--port", port, "--to", "8080").returncode == 0
    assert fwd(lab, "server", "delete", "--all").returncode == 0
    assert ruleset(lab, "server") == before
    # Idempotent: nothing left to delete is not an error; an unknown id is a usage error.
    assert fwd(lab, "server", "delete", "--all").returncode == 0
    gone = fwd(lab, "server", "delete", "1")
    assert gone.returncode == 2 and len(gone.stderr.strip().splitlines()) == 1
    assert ruleset(lab, "server") == before


def test_a_failing_change_applies_nothing(lab: Lab) -> None:
    # A chain of the wrong type where netladder's nat chain should be: the script's second line
    # fails, and nft's transaction drops the whole script.
    lab.exec(
        "server",
        ["nft", "-f", "-"],
        input=(
            "table inet netladder {\n chain prerouting {\n"
            "  type filter hook prerouting priority 0;\n }\n}\n"
        ),
    )
    before = ruleset(lab, "server")
    result = fwd(lab, "server", "add", "--port", "80", "--to", "8080")
    assert result.returncode == 1
    assert "nothing was applied" in result.stderr and len(result.stderr.splitlines()) == 1
    assert ruleset(lab, "server") == before


def test_concurrent_adds_get_distinct_ids(lab: Lab) -> None:
    procs = [
        lab.popen(
            "server",
            [
                sys.executable,
                "-m",
                "netladder",
                "forward",
                "add",
                "--port",
                str(9100 + i),
                "--to",
                "8080",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(6)
    ]
    assert [p.wait(30) for p in procs] == [0] * 6
    forwards = fwd_json(lab, "server", "list")["forwards"]
    assert sorted(f["port"] for f in forwards) == list(range(9100, 9106))
    assert len({f["id"] for f in forwards}) == 6 and all(f["complete"] for f in forwards)


def test_dry_run_prints_nft_and_iptables_and_changes_nothing(lab: Lab) -> None:
    before = ruleset(lab, "r2")
    result = fwd(lab, "r2", "add", "--port", "8022", "--to", "22", "--dest", SERVER, "--dry-run")
    assert result.returncode == 0
    assert "add rule inet netladder prerouting" in result.stdout
    assert (
        "iptables -t nat -A PREROUTING -p tcp --dport 8022 -m addrtype --dst-type LOCAL"
        in result.stdout
    )
    assert ruleset(lab, "r2") == before
    data = fwd_json(lab, "r2", "add", "--port", "8022", "--to", "22", "--dest", SERVER, "--dry-run")
    assert data["checked_by_nft"] is True and data["dry_run"] is True


def test_a_second_forward_of_the_same_port_is_refused(lab: Lab) -> None:
    assert fwd(lab, "server", "add", "--port", "80", "--to", "8080").returncode == 0
    again = fwd(lab, "server", "add", "--port", "80", "--to", "25")
    assert again.returncode == 2 and "already forwarded" in again.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("add", "--port", "0", "--to", "80"),
        ("add", "--port", "80", "--to", "70000"),
        ("add", "--port", "http", "--to", "80"),
        ("delete", "nope"),
        ("delete",),
        ("verify", "--port", "80", "--from", "no-such-namespace"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(lab: Lab, args: tuple[str, ...]) -> None:
    result = fwd(lab, "server", *args)
    assert result.returncode == 2, result
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_no_nft_or_no_privilege_is_exit_3_with_the_remedy(lab: Lab) -> None:
    no_nft = lab.exec(
        "server",
        ["env", "PATH=/nonexistent", sys.executable, "-m", "netladder", "forward", "list"],
        check=False,
    )
    assert no_nft.returncode == 3 and "apt-get install nftables" in no_nft.stderr
    unprivileged = lab.exec(
        "server",
        [
            *AS_NOBODY,
            sys.executable,
            "-m",
            "netladder",
            "forward",
            "list",
        ],
        check=False,
    )
    assert unprivileged.returncode == 3, unprivileged.stderr
    assert "CAP_NET_ADMIN" in unprivileged.stderr
    # A dry run needs no privilege: it prints what it would do.
    dry = lab.exec(
        "server",
        [
            *AS_NOBODY,
            sys.executable,
            "-m",
            "netladder",
            "forward",
            "add",
            "--port",
            "80",
            "--to",
            "8080",
            "--dry-run",
        ],
        check=False,
    )
    assert dry.returncode == 0 and "iptables -t nat -A PREROUTING" in dry.stdout, dry.stderr
