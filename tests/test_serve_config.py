"""netladder serve's configuration: blackbox's modules file taken as it is, every key checked,
one line naming the key for every mistake (exit 2), netladder's sections typed."""

from __future__ import annotations

import ipaddress
import subprocess
import sys
from pathlib import Path

import pytest

from netladder.serve.config import (
    DEFAULT_CONFIG_TEXT,
    ConfigError,
    load,
    parse,
    parse_duration,
)

NETLADDER = str(Path(sys.executable).with_name("netladder"))


def test_the_default_is_debians_example_modules_without_grpc() -> None:
    config = parse(DEFAULT_CONFIG_TEXT)
    assert set(config.modules) == {
        "http_2xx",
        "http_post_2xx",
        "tcp_connect",
        "pop3s_banner",
        "ssh_banner",
        "irc_banner",
        "icmp",
        "icmp_ttl5",
    }
    assert config.modules["icmp_ttl5"].timeout == 5.0
    assert config.modules["icmp_ttl5"].icmp.ttl == 5
    assert config.modules["http_post_2xx"].http.method == "POST"
    irc = config.modules["irc_banner"].tcp.query_response
    assert irc[2].send == "PONG ${1}" and irc[2].expect is not None


def test_blackbox_defaults_are_kept() -> None:
    module = parse("modules: {m: {prober: http}}").modules["m"]
    assert module.timeout == 0.0  # the scrape's timeout decides
    assert module.http.preferred_ip_protocol == "ip6"
    assert module.http.ip_protocol_fallback is True
    assert module.http.valid_status_codes == ()  # 2xx
    assert module.http.follow_redirects is True
    assert module.http.method == "GET"
    icmp = parse("modules: {m: {prober: icmp}}").modules["m"].icmp
    assert (icmp.ttl, icmp.packets) == (64, 1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "modules: {m: {prober: http, http: {valid_status_code: [200]}}}",
            "modules.m.http.valid_status_code: unknown key",
        ),
        ("modules: {m: {prober: http, htpp: {}}}", "modules.m.htpp: unknown key"),
        ("modules: {}\nmonitor: []", "monitor: unknown key"),
        (
            "modules: {m: {prober: icmp, icmp: {ttl: 256}}}",
            'modules.m.icmp.ttl: "ttl" cannot exceed 255',
        ),
        (
            "modules: {m: {prober: icmp, icmp: {ttl: -1}}}",
            'modules.m.icmp.ttl: "ttl" cannot be negative',
        ),
        ("modules: {m: {prober: dns}}", "query name must be set for DNS module"),
        (
            "modules: {m: {prober: dns, dns: {query_name: x, query_type: BOGUS}}}",
            "query type 'BOGUS' is not valid",
        ),
        ("modules: {m: {prober: foo}}", "modules.m.prober: unknown prober 'foo'"),
        ("modules: {m: {prober: http, timeout: 5 seconds}}", "modules.m.timeout: invalid duration"),
        (
            "modules: {m: {prober: http, http: {proxy_url: 'http://p:3128'}}}",
            "modules.m.http.proxy_url: not supported by netladder",
        ),
        (
            "modules: {m: {prober: tcp, tcp: {query_response: [{expect: '(unclosed'}]}}}",
            "could not compile regular expression",
        ),
        ("modules: {m: {prober: http}, m: {prober: tcp}}", "mapping key 'm' already defined"),
        (
            "modules: {m: {prober: http, http: {preferred_ip_protocol: ipv4}}}",
            "expected ip4 or ip6",
        ),
        ("modules: {}\nallow: {networks: [198.51.100.300/24]}", "allow.networks[0]: not a network"),
        (
            "modules: {m: {prober: icmp}}\nmonitors: [{name: a, target: x, module: nope}]",
            "monitors[0].module: unknown module 'nope'",
        ),
        (
            "modules: {m: {prober: icmp}}\nmonitors: [{name: a, target: x, module: m},"
            " {name: a, target: y, module: m}]",
            "monitors[1].name: 'a' is used by another monitor",
        ),
        ("modules: [a]", "modules: expected a mapping"),
        ("modules: {m: {prober: http}}\n  bad indent: [", "line "),
    ],
)
def test_a_bad_config_is_one_line_naming_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_probers_blackbox_has_but_netladder_lacks_load_with_a_warning() -> None:
    text = DEFAULT_CONFIG_TEXT + (
        "  grpc:\n    prober: grpc\n    grpc:\n      tls: true\n"
        '      preferred_ip_protocol: "ip4"\n'
    )
    config = parse(text)
    assert not config.modules["grpc"].supported
    assert config.warnings == (
        "modules.grpc: prober 'grpc' is not supported by netladder; "
        "/probe answers 400 for this module",
    )
    with pytest.raises(ConfigError, match=r"modules.g.grpc.servce: unknown key"):
        parse("modules: {g: {prober: grpc, grpc: {servce: x}}}")


def test_go_regular_expressions_mean_what_they_mean_in_go() -> None:
    config = parse(
        "modules:\n  m:\n    prober: tcp\n    tcp:\n      query_response:\n"
        '      - expect: "^+OK"\n      - expect: "[[:digit:]]+\\\\z"\n      - expect: "[^+]"\n'
    )
    steps = [qr.expect for qr in config.modules["m"].tcp.query_response]
    assert steps[0] is not None and steps[0].search("OK ready") and not steps[0].search("+OK")
    assert steps[1] is not None and steps[1].search("x 42") and not steps[1].search("42\n")
    assert steps[2] is not None and steps[2].search("a") and not steps[2].search("+")


def test_netladders_sections_are_typed() -> None:
    config = parse(
        "modules:\n"
        "  smoke: {prober: icmp, icmp: {packets: 20, interval: 500ms}}\n"
        "  echo: {prober: udp, udp: {send: hello, expect: '^hello'}}\n"
        "  path: {prober: trace, trace: {protocol: udp, port: 33434, max_hops: 12}}\n"
        "  ladder: {prober: diagnose, diagnose: {ports: [22, 443]}}\n"
        "allow: {networks: [198.51.100.0/24, '2001:db8::/32'], names: [www.lab, '*.lab']}\n"
        "limits: {max_probes_in_flight: 8}\n"
        "monitors:\n"
        "  - {name: www, target: www.lab, module: smoke, interval: 5m, pings: 20,\n"
        "     alerts: {loss_percent: 10, rounds: 3, median_ms: 100}}\n"
        "history: {raw_days: 14, rollup_days: 400}\n"
    )
    smoke = config.modules["smoke"].icmp
    assert (smoke.packets, smoke.interval) == (20, 0.5)
    assert config.modules["echo"].udp.expect is not None
    assert config.modules["path"].trace.max_hops == 12
    assert config.modules["ladder"].diagnose.ports == (22, 443)
    assert config.limits.max_probes_in_flight == 8
    (monitor,) = config.monitors
    assert (monitor.interval, monitor.pings, monitor.alerts.rounds) == (300.0, 20, 3)
    allow = config.allow
    assert allow is not None
    assert allow.address_allowed("198.51.100.7") and allow.address_allowed("2001:db8::1")
    assert allow.address_allowed("::ffff:198.51.100.7")  # a mapped address reaches the v4 one
    assert not allow.address_allowed("203.0.113.1")
    assert allow.name_allowed("www.lab") and allow.name_allowed("a.b.lab")
    assert not allow.name_allowed("lab") and not allow.name_allowed("evil-lab")
    assert allow.networks[0] == ipaddress.ip_network("198.51.100.0/24")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5s", 5.0), ("1m30s", 90.0), ("500ms", 0.5), ("1.5h", 5400.0), ("0", 0.0), ("2d", 172800.0)],
)
def test_durations_read_as_prometheus_writes_them(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_basic_auth_reads_its_password_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret\n")
    config = parse(f"modules: {{}}\nbasic_auth: {{username: prom, password_file: {secret}}}\n")
    assert config.basic_auth is not None and config.basic_auth.password == "s3cret"
    with pytest.raises(ConfigError, match="basic_auth.password_file: cannot read"):
        parse(f"modules: {{}}\nbasic_auth: {{username: prom, password_file: {tmp_path}/no}}\n")


def test_config_check_exits_2_with_one_line_naming_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("modules:\n  m:\n    prober: http\n    http:\n      metod: GET\n")
    done = subprocess.run(
        [NETLADDER, "serve", "--config-check", str(bad)], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.strip() == f"netladder: config {bad}: modules.m.http.metod: unknown key"
    good = tmp_path / "good.yml"
    good.write_text(DEFAULT_CONFIG_TEXT)
    done = subprocess.run(
        [NETLADDER, "serve", "--config-check", str(good)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "valid: 8 modules" in done.stdout


def test_debians_own_blackbox_file_loads() -> None:
    debian = Path("/etc/prometheus/blackbox.yml")
    if not debian.exists():
        pytest.skip("prometheus-blackbox-exporter's file is not installed (scripts/install-deps)")
    config = load(str(debian))
    assert "http_2xx" in config.modules
    assert all(not m.supported for m in config.modules.values() if m.prober == "grpc")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--listen", "9115"], "--listen '9115': expected ADDR:PORT"),
        (["--listen", "www.example:9115"], "'www.example' is not an address"),
        (["--listen", "127.0.0.1:99999"], "port 99999 is outside 1-65535"),
        (["--db", "/nonexistent/dir/history.db"], "the directory /nonexistent/dir does not exist"),
        (["--timeout-offset", "-1"], "--timeout-offset: must be a number >= 0"),
    ],
)
def test_bad_serve_arguments_exit_2_with_one_line(argv: list[str], message: str) -> None:
    done = subprocess.run([NETLADDER, "serve", *argv], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert message in done.stderr and done.stderr.count("\n") == 1, done.stderr


def test_a_port_in_use_is_one_line_exit_1() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [NETLADDER, "serve", "--listen", f"127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode == 1
    assert done.stderr == f"netladder: cannot listen on 127.0.0.1:{port}: Address already in use\n"
