"""`netladder myip` through the lab's NAT: HTTP echo and STUN see the router's outside address."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netladder.errors import UsageError
from netladder.lab import Lab
from netladder.lab.topologies import nat
from netladder.names.myip import (
    DEFAULT_HTTP,
    DEFAULT_STUN,
    ENV_CONFIG,
    ENV_HTTP,
    ENV_STUN,
    HttpEndpoint,
    StunEndpoint,
    endpoints,
    parse_echo_body,
    parse_stun_endpoint,
    parse_url,
)
from waiting import Counters, restore_sigint, wait_idle, wait_until

PUB = "203.0.113.6"
PUB6 = "2001:db8:b::2"


@pytest.fixture(scope="module")
def lab(lab_ok: None) -> Iterator[Lab]:
    with Lab(nat(), name="nmyip") as built:
        yield built


def myip(lab: Lab, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    prefix = ["env", *(f"{k}={v}" for k, v in (env or {}).items())]
    result = lab.exec(
        "client",
        [*prefix, sys.executable, "-m", "netladder", "myip", *args, "--json"],
        check=False,
        timeout=30,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout)


def by_endpoint(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["endpoint"]: s for s in data["sources"]}


def test_both_sources_give_the_routers_outside_address(lab: Lab) -> None:
    outside = lab.addr_on("nat", "pub")
    local = lab.addr("client")
    rc, data = myip(lab, "--http", f"http://{PUB}/", "--stun", PUB)
    assert rc == 0
    assert data["public"] == [outside] and data["local"] == [local]
    assert data["agree"] is True and data["behind_nat"] is True
    assert data["verdict"] == f"behind NAT: local {local}, public {outside}"
    for source in data["sources"]:
        assert (source["ok"], source["address"], source["local_address"]) == (True, outside, local)
    stun = by_endpoint(data)[f"{PUB}:3478"]
    assert stun["mapped_port"] == stun["local_port"]  # masquerade keeps free ports
    # The anchor: curl from the same client gets the same answer from the echo.
    curl = lab.exec("client", ["curl", "-s", "--max-time", "5", f"http://{PUB}/"]).stdout
    assert curl.strip() == outside


def test_ipv6_is_masqueraded_too(lab: Lab) -> None:
    outside = lab.addr_on("nat", "pub", 6)
    rc, data = myip(lab, "-6", "--http", f"http://[{PUB6}]/json", "--stun", "stun.lab")
    assert rc == 0 and data["public"] == [outside]
    assert data["local"] == [lab.addr("client", 6)]
    assert {s["server"] for s in data["sources"]} == {PUB6}  # stun.lab resolved via the lab DNS


def test_a_garbage_or_slow_echo_is_reported_and_hides_nothing(lab: Lab) -> None:
    started = time.monotonic()
    rc, data = myip(
        lab,
        "--http",
        f"http://{PUB}/garbage",
        "--http",
        f"http://{PUB}/slow",
        "--http",
        f"http://{PUB}/status/503",
        "--stun",
        PUB,
        "--timeout",
        "1.5",
    )
    took = time.monotonic() - started
    assert rc == 0 and data["public"] == [lab.addr_on("nat", "pub")]
    sources = by_endpoint(data)
    assert sources[f"http://{PUB}/garbage"]["error"] == (
        "unusable answer: the body is not an address: '<html><body>hello, world</body></html>'"
    )
    assert sources[f"http://{PUB}/slow"]["error"].startswith(
        f"timeout after 1.5 s: still waiting for the answer of {PUB}"
    )
    assert sources[f"http://{PUB}/status/503"]["error"] == "HTTP 503: no address"
    assert sources[f"{PUB}:3478"]["ok"] is True
    assert "(3 of 4 sources failed)" in data["verdict"]
    assert took < 8  # one deadline, not one per source


def test_broken_stun_servers_are_named_and_a_classic_one_works(lab: Lab) -> None:
    rc, data = myip(
        lab,
        "--stun",
        f"{PUB}:3479",
        "--stun",
        f"{PUB}:3480",
        "--stun",
        f"{PUB}:3481",
        "--stun",
        f"{PUB}:3999",
        "--timeout",
        "1.5",
    )
    sources = by_endpoint(data)
    assert sources[f"{PUB}:3479"]["error"].startswith("malformed STUN answer:")
    assert sources[f"{PUB}:3480"]["error"] == (
        "timeout after 1.5 s: no answer to 2 Binding request(s)"
    )  # sent at 0 and 0.5 s
    assert sources[f"{PUB}:3481"]["address"] == lab.addr_on("nat", "pub")  # MAPPED-ADDRESS
    assert "nothing listens" in sources[f"{PUB}:3999"]["error"]
    assert rc == 0


def test_a_stun_answer_to_another_transaction_or_an_error_is_no_address(lab: Lab) -> None:
    # Requests go out at 0, 0.5 and 1.5 s (RFC 8489 §6.2.1): a 2.5 s timeout leaves a second
    # either side of the last one, so a busy machine cannot change how many were sent.
    rc, data = myip(lab, "--stun", f"{PUB}:3482", "--stun", f"{PUB}:3483", "--timeout", "2.5")
    sources = by_endpoint(data)
    assert sources[f"{PUB}:3482"]["error"] == (
        "timeout after 2.5 s: no answer to 3 Binding request(s); 3 unrelated or unparsable "
        "datagram(s) ignored"
    )
    assert sources[f"{PUB}:3483"]["error"] == "STUN error 500 Server Error"
    assert rc == 1


def test_disagreeing_sources_are_explained(lab: Lab) -> None:
    inside = f"http://{lab.addr('nat')}:8080/"  # the router's own echo: no NAT on the way
    rc, data = myip(lab, "--http", inside, "--stun", PUB)
    assert rc == 0 and data["agree"] is False
    assert data["verdict"] == (
        f"IPv4 sources disagree: {inside} says {lab.addr('client')}; "
        f"{PUB}:3478 says {lab.addr_on('nat', 'pub')}"
    )
    assert any(n.startswith(f"{inside} saw this host's own address") for n in data["notes"])


def test_no_answer_at_all_fails(lab: Lab) -> None:
    rc, data = myip(lab, "--stun", f"{PUB}:3480", "--http", f"http://{PUB}:81/", "--timeout", "0.8")
    assert rc == 1 and data["public"] == []
    assert data["verdict"] == "no source gave an address"
    human = lab.exec(
        "client",
        [sys.executable, "-m", "netladder", "myip", "--stun", f"{PUB}:3480", "--timeout", "0.5"],
        check=False,
    )
    assert human.returncode == 1 and "failed: timeout after 0.5 s" in human.stdout


def test_ctrl_c_prints_what_was_gathered_and_exits_130(lab: Lab) -> None:
    counters = Counters(lab, "client")
    proc = lab.popen(
        "client",
        [
            sys.executable,
            "-m",
            "netladder",
            "myip",
            "--http",
            f"http://{PUB}/",
            "--stun",
            f"{PUB}:3480",
            "--timeout",
            "20",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=restore_sigint,
    )

    # The echo has answered (its connection opened and closed again) and been read; the
    # silent STUN server never will answer.
    def echo_done() -> bool:
        now = counters.now(proc.pid)
        return (
            now is not None
            and now["Tcp.ActiveOpens"] > counters.before["Tcp.ActiveOpens"]
            and now["Tcp.CurrEstab"] <= counters.before["Tcp.CurrEstab"]
        )

    wait_until("the HTTP echo's answer", echo_done)
    wait_idle(proc.pid)
    os.kill(proc.pid, signal.SIGINT)  # `ip netns exec` execs the command: this is netladder
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert f"behind NAT: local {lab.addr('client')}, public {lab.addr_on('nat', 'pub')}" in out
    assert f"{PUB}:3480" in out and "interrupted after" in out


def test_endpoints_from_the_environment_and_the_config_file(lab: Lab, tmp_path: Path) -> None:
    rc, data = myip(lab, env={ENV_STUN: PUB, ENV_HTTP: f"http://{PUB}/json"})
    assert rc == 0 and data["endpoints_from"] == "environment"
    assert {s["endpoint"] for s in data["sources"]} == {f"{PUB}:3478", f"http://{PUB}/json"}
    config = tmp_path / "myip.toml"
    config.write_text(f'http = ["http://{PUB}/ip"]\nstun = ["stun:{PUB}:3481"]\n')
    rc, data = myip(lab, env={ENV_CONFIG: str(config)})
    assert rc == 0 and data["endpoints_from"] == str(config)
    assert [s["ok"] for s in data["sources"]] == [True, True]
    # XDG_CONFIG_HOME/netladder/myip.toml is the default place.
    (tmp_path / "netladder").mkdir()
    config.rename(tmp_path / "netladder" / "myip.toml")
    rc, data = myip(lab, env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert data["endpoints_from"] == str(tmp_path / "netladder" / "myip.toml")


# -- input and configuration, without a lab -----------------------------------------------------


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netladder", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["--http", "ftp://203.0.113.6/"],
        ["--http", "203.0.113.6"],
        ["--http", "http://"],
        ["--http", "http://203.0.113.6:99999/"],
        ["--stun", "203.0.113.6:0"],
        ["--stun", "203.0.113.6:x"],
        ["--stun", "[2001:db8::1"],
        ["--stun", "a b"],
        ["--stun", PUB, "-4", "-6"],
        ["--stun", PUB, "--timeout", "-1"],
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv: list[str]) -> None:
    result = run_cli("myip", *argv)
    assert result.returncode == 2, result.stderr
    assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("port", ["\u0665\u0663", "\u00b2", "0", "65536"])
def test_a_stun_server_port_is_ascii_digits_1_to_65535(port: str) -> None:
    with pytest.raises(UsageError, match="port must be 1-65535"):
        parse_stun_endpoint(f"stun.example.test:{port}")


def test_a_bad_config_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "myip.toml"
    for content, message in [
        ("http = [", "not valid TOML"),
        ("http = 3", "'http' must be a list of strings"),
        ("htp = []", "unknown key(s) htp"),
        ('stun = ["a b"]', "invalid STUN server"),
    ]:
        config.write_text(content)
        result = run_cli("myip", env={ENV_CONFIG: str(config), ENV_HTTP: "", ENV_STUN: ""})
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("body", "address"),
    [
        (b"203.0.113.5\n", "203.0.113.5"),
        (b"  2001:db8:b::1 ", "2001:db8:b::1"),
        (b'{"ip": "203.0.113.5"}', "203.0.113.5"),
        (b'{"origin": "203.0.113.5, 198.51.100.9"}', "203.0.113.5"),
        (b'{"ip_addr": "2001:db8::5", "x": 1}', "2001:db8::5"),
    ],
)
def test_echo_bodies(body: bytes, address: str) -> None:
    assert parse_echo_body(body) == address


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty"),
        (b"<html>hi</html>", "not an address"),
        (b"{nope", "not valid JSON"),
        (b'{"ip": "localhost"}', "'ip' is not an address"),
        (b'{"addr": "203.0.113.5"}', "without an address field"),
        (b"203.0.113.5 extra", "not an address"),
    ],
)
def test_unusable_echo_bodies_say_why(body: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_echo_body(body)


@pytest.mark.parametrize(
    ("text", "endpoint"),
    [
        ("203.0.113.6", StunEndpoint("203.0.113.6", 3478)),
        ("stun.lab:19302", StunEndpoint("stun.lab", 19302)),
        ("stun:stun.lab", StunEndpoint("stun.lab", 3478)),
        ("2001:db8::1", StunEndpoint("2001:db8::1", 3478)),
        ("[2001:db8::1]:5349", StunEndpoint("2001:db8::1", 5349)),
    ],
)
def test_stun_endpoint_forms(text: str, endpoint: StunEndpoint) -> None:
    assert parse_stun_endpoint(text) == endpoint


def test_url_forms() -> None:
    assert parse_url("http://[2001:db8::2]:8080/ip?x=1") == HttpEndpoint(
        "http://[2001:db8::2]:8080/ip?x=1", "http", "2001:db8::2", 8080, "/ip?x=1"
    )
    assert parse_url("https://echo.lab").port == 443
    with pytest.raises(UsageError):
        parse_url("http://a b/")


def test_the_first_configured_place_supplies_every_endpoint(tmp_path: Path) -> None:
    config = tmp_path / "myip.toml"
    config.write_text('http = ["http://203.0.113.6/"]\nstun = ["203.0.113.6"]\n')
    env = {ENV_CONFIG: str(config), ENV_STUN: "203.0.113.6:3481"}
    # The command line wins over everything, and is not mixed with the environment.
    chosen = endpoints(["http://203.0.113.6/json"], [], env=env)
    assert (chosen.source, len(chosen.http), chosen.stun) == ("command line", 1, ())
    chosen = endpoints(env=env)
    assert chosen.source == "environment" and chosen.http == ()
    chosen = endpoints(env={ENV_CONFIG: str(config)})
    assert chosen.source == str(config) and len(chosen.http) == len(chosen.stun) == 1
    # Nothing configured: the public defaults (only listed here, never asked by a test).
    chosen = endpoints(env={ENV_CONFIG: str(tmp_path / "absent.toml")})
    assert chosen.source == "built-in defaults"
    assert [h.url for h in chosen.http] == list(DEFAULT_HTTP)
    assert [str(s) for s in chosen.stun] == list(DEFAULT_STUN)
