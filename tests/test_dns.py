"""`netladder dns` against the lab's DNS server, each case over UDP and TCP, beside `dig`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netladder.errors import UsageError
from netladder.lab import Lab
from netladder.lab.core import ETC_NETNS
from netladder.lab.topologies import nat
from netladder.names.model import Server
from netladder.names.resolve import (
    check_name,
    no_resolver,
    parse_hosts,
    parse_resolv_conf,
    parse_server,
    system_config,
)
from netladder.render.dns import sentence

DNS = "203.0.113.6"  # pub in the nat topology


@pytest.fixture(scope="module")
def lab(lab_ok: None) -> Iterator[Lab]:
    with Lab(nat(), name="ndns") as built:
        yield built


def ours(lab: Lab, *args: str, timeout: float = 30) -> tuple[int, dict[str, Any]]:
    result = lab.netladder("client", "dns", *args, "--json", timeout=timeout)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout)


def dig(lab: Lab, name: str, rdtype: str, tcp: bool) -> tuple[str, set[tuple[str, int, str, str]]]:
    """dig's status and answer section (name, ttl, type, value) from the same client."""
    out = lab.exec(
        "client",
        [
            "dig",
            f"@{DNS}",
            name,
            rdtype,
            "+tcp" if tcp else "+notcp",
            "+noall",
            "+comments",
            "+answer",
            "+tries=1",
            "+time=5",
        ],
        check=False,
    ).stdout
    status = re.search(r"status: (\w+)", out)
    assert status, out
    records = set()
    for line in out.splitlines():
        if line.strip() and not line.startswith(";"):
            owner, ttl, _cls, rtype, value = line.split(None, 4)
            records.add((owner, int(ttl), rtype, value.strip()))
    return status.group(1), records


CASES = [
    # name, type, our status, exit code
    ("www.lab", "A", "ok", 0),  # a CNAME chain of two
    ("www.lab", "AAAA", "ok", 0),
    ("host.lab", "ANY", "ok", 0),
    ("mail.lab", "MX", "ok", 0),
    ("txt.lab", "TXT", "ok", 0),
    ("lab", "NS", "ok", 0),
    ("6.113.0.203.in-addr.arpa", "PTR", "ok", 0),
    ("v4only.lab", "AAAA", "nodata", 1),
    ("nope.lab", "A", "nxdomain", 1),
    ("dangling.lab", "A", "nxdomain", 1),  # a CNAME to a name that does not exist
    ("servfail.lab", "A", "servfail", 1),
    ("example.com", "A", "refused", 1),  # outside the server's zones
    ("big.lab", "A", "ok", 0),  # 100 records: truncated over UDP, then TCP
]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize(("name", "rdtype", "status", "code"), CASES)
def test_each_case_matches_dig(
    lab: Lab, name: str, rdtype: str, status: str, code: int, transport: str
) -> None:
    tcp = transport == "tcp"
    args = [name, "--type", rdtype, "--server", DNS] + (["--tcp"] if tcp else [])
    rc, result = ours(lab, *args)
    dig_status, dig_records = dig(lab, name, rdtype, tcp)
    assert (result["status"], rc) == (status, code), result
    assert result["rcode"] == dig_status
    records = {
        (r["name"], r["ttl"], r["type"], r["value"]) for r in result["chain"] + result["answers"]
    }
    assert records == dig_records
    assert result["server"] == f"{DNS}:53"
    assert result["time_ms"] > 0
    if name == "big.lab" and not tcp:
        assert result["attempts"][0]["truncated"] is True
        assert result["transport"] == "tcp" and len(result["answers"]) == 100
    else:
        assert result["transport"] == transport


def test_the_cname_chain_is_listed_in_order_with_ttls(lab: Lab) -> None:
    rc, result = ours(lab, "www.lab", "--server", DNS)
    assert rc == 0
    assert [(r["name"], r["ttl"], r["value"]) for r in result["chain"]] == [
        ("www.lab.", 300, "web.lab."),
        ("web.lab.", 120, "host.lab."),
    ]
    assert [(r["name"], r["ttl"], r["value"]) for r in result["answers"]] == [
        ("host.lab.", 60, "203.0.113.6")
    ]
    assert result["authoritative"] is True
    text = lab.netladder("client", "dns", "www.lab").stdout
    assert "www.lab.   300  CNAME  web.lab." in text
    assert f"NOERROR from {DNS}:53 over udp in" in text


def test_dangling_alias_names_the_missing_target(lab: Lab) -> None:
    _, result = ours(lab, "dangling.lab", "--server", DNS)
    assert "alias of gone.lab., which does not exist" in result["message"]


def test_the_system_resolver_configuration_is_the_default(lab: Lab) -> None:
    rc, result = ours(lab, "host.lab")
    assert rc == 0
    assert result["servers_from"] == "/etc/resolv.conf"
    assert result["server"] == f"{DNS}:53"


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_a_slow_answer_is_timed_and_a_short_timeout_names_the_timeout(
    lab: Lab, transport: str
) -> None:
    extra = ["--tcp"] if transport == "tcp" else []
    rc, result = ours(lab, "slow.lab", "--server", DNS, *extra)
    assert rc == 0 and result["answers"][0]["value"] == "203.0.113.6"
    assert 1400 <= result["time_ms"] < 4000  # the server waits 1.5 s
    assert "slow: over 1 s" in lab.netladder("client", "dns", "slow.lab", *extra).stdout
    rc, result = ours(lab, "slow.lab", "--server", DNS, "--timeout", "0.5", "--tries", "1", *extra)
    assert (rc, result["status"]) == (1, "timeout")
    assert result["message"].startswith("timeout: no answer from 203.0.113.6:53")


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_a_garbage_answer_is_named_malformed_and_never_crashes(lab: Lab, transport: str) -> None:
    extra = ["--tcp"] if transport == "tcp" else []
    rc, result = ours(lab, "garbage.lab", "--server", DNS, *extra)
    assert (rc, result["status"]) == (1, "malformed")
    assert "do not parse as a DNS message" in result["message"]
    human = lab.netladder("client", "dns", "garbage.lab", "--server", DNS, *extra)
    assert human.returncode == 1 and "malformed answer from 203.0.113.6:53" in human.stdout


def test_a_silent_server_is_skipped_for_the_next_one(lab: Lab) -> None:
    # 203.0.113.9 is nobody: the query vanishes, and the second server answers.
    rc, result = ours(
        lab,
        "www.lab",
        "--server",
        "203.0.113.9",
        "--server",
        DNS,
        "--timeout",
        "0.5",
        "--tries",
        "1",
    )
    assert rc == 0 and result["server"] == f"{DNS}:53"
    first, second = result["attempts"]
    assert (first["server"], first["outcome"]) == ("203.0.113.9:53", "timeout")
    assert second["rcode"] == "NOERROR"


def test_a_server_with_nothing_listening_is_unreachable(lab: Lab) -> None:
    rc, result = ours(lab, "www.lab", "--server", lab.addr("nat"))
    assert (rc, result["status"]) == (1, "unreachable")
    assert "nothing listens there" in result["message"]


def test_each_attempt_says_its_outcome_in_korean_too(lab: Lab) -> None:
    """The "tried" lines say timeout / malformed / unreachable as words of the language, not
    as the outcome's English word inside a Korean sentence (JSON keeps `outcome`; the parser's
    own words after a malformed answer, dnspython's, stay as it says them)."""
    servers = ("--server", "203.0.113.9", "--server", lab.addr("nat"), "--server", DNS)
    args = ("garbage.lab", *servers, "--timeout", "0.5", "--tries", "1")
    english = lab.netladder("client", "dns", *args, "--lang", "en")
    korean = lab.netladder("client", "dns", *args, "--lang", "ko")
    assert english.returncode == korean.returncode == 1
    tried = [line for line in english.stdout.splitlines() if line.startswith("  tried ")]
    assert [line.split(": ")[1].split(" in ")[0] for line in tried] == [
        "timeout",
        "unreachable",
        "malformed",
    ]
    said = [line for line in korean.stdout.splitlines() if " 시도: " in line]
    assert [line.split(" 시도: ")[1].split(", ")[0] for line in said] == [
        "시간 초과",
        "닿을 수 없음",
        "잘못된 형식의 응답",
    ]


@pytest.fixture()
def client_etc(lab: Lab) -> Iterator[Path]:
    """The client's /etc/netns directory; every file is restored afterwards."""
    directory = ETC_NETNS / lab.ns("client")
    saved = {p.name: p.read_text() for p in directory.iterdir()}
    yield directory
    for p in directory.iterdir():
        p.unlink()
    for filename, content in saved.items():
        (directory / filename).write_text(content)


def test_no_resolver_configured_is_named_plainly(lab: Lab, client_etc: Path) -> None:
    (client_etc / "resolv.conf").write_text("search lab\noptions timeout:1\n")
    human = lab.netladder("client", "dns", "www.lab")
    assert human.returncode == 3
    assert human.stderr.strip() == (
        "netladder dns: no resolver configured: /etc/resolv.conf names no nameserver (add a "
        "nameserver line to /etc/resolv.conf, or ask one with --server IP)"
    )
    rc, result = ours(lab, "www.lab")
    assert (rc, result["status"]) == (3, "no_resolver")


def test_compare_agrees_when_hosts_and_dns_say_the_same(lab: Lab) -> None:
    result = lab.netladder("client", "dns", "www.lab", "--compare", "--json")
    data = json.loads(result.stdout)
    assert result.returncode == 0 and data["agree"] is True
    assert set(data["system"]["addresses"]) == {"203.0.113.6", "2001:db8:b::2"}
    assert data["system"]["canonical"] == "host.lab"


def test_compare_explains_an_etc_hosts_override(lab: Lab) -> None:
    result = lab.netladder("client", "dns", "pinned.lab", "--compare", "-4", "--json")
    data = json.loads(result.stdout)
    assert result.returncode == 1 and data["agree"] is False
    assert data["system"]["addresses"] == ["203.0.113.99"]
    assert data["direct"][0]["answers"][0]["value"] == "203.0.113.6"
    assert data["explanations"] == [
        "/etc/hosts maps pinned.lab to 203.0.113.99 (line 3); nsswitch.conf 'hosts: files dns' "
        "reads it before DNS, and the direct query never reads it"
    ]


def test_compare_explains_the_search_list(lab: Lab) -> None:
    data = json.loads(lab.netladder("client", "dns", "www", "--compare", "--json").stdout)
    assert data["agree"] is False
    assert data["direct"][0]["status"] == "refused"  # "www." is outside the server's zones
    assert "resolved www as www.lab" in data["explanations"][0]


def test_compare_explains_a_missing_dns_source(lab: Lab, client_etc: Path) -> None:
    (client_etc / "nsswitch.conf").write_text("hosts: files\n")
    data = json.loads(lab.netladder("client", "dns", "host.lab", "--compare", "--json").stdout)
    assert data["system"]["ok"] is False and data["direct"][0]["status"] == "ok"
    assert "does not consult DNS at all" in " ".join(data["explanations"])


# -- input, without a lab ------------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netladder", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["dns", ""],
        ["dns", "a..lab"],
        ["dns", ".lab"],
        ["dns", "a" * 64 + ".lab"],
        ["dns", ("a" * 62 + ".") * 4 + "lab"],  # 255 characters
        ["dns", "host.lab", "--type", "BOGUS"],
        ["dns", "host.lab", "--server", "203.0.113"],
        ["dns", "host.lab", "--server", "203.0.113.6:0"],
        ["dns", "host.lab", "--server", "203.0.113.6:65536"],
        ["dns", "host.lab", "--server", "[2001:db8::1"],
        ["dns", "host.lab", "--server", "ns.example"],
        ["dns", "host.lab", "--timeout", "0"],
        ["dns", "host lab"],
        ["dns", "host.lab", "--compare", "--type", "MX"],
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv: list[str]) -> None:
    result = run_cli(*argv)
    assert result.returncode == 2, result.stderr
    assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("text", "absolute"),
    [
        ("host.lab", "host.lab."),
        ("host.lab.", "host.lab."),
        ("_sip._tcp.lab", "_sip._tcp.lab."),
        (".", "."),
        (("a" * 63 + ".") * 3 + "b" * 61, ("a" * 63 + ".") * 3 + "b" * 61 + "."),  # 253
    ],
)
def test_valid_names(text: str, absolute: str) -> None:
    assert check_name(text) == absolute


def test_a_name_of_254_characters_is_refused() -> None:
    with pytest.raises(UsageError, match="254 characters, the limit is 253"):
        check_name(("a" * 63 + ".") * 3 + "b" * 62)


@pytest.mark.parametrize(
    ("text", "server"),
    [
        ("203.0.113.6", Server("203.0.113.6", 53)),
        ("203.0.113.6:5353", Server("203.0.113.6", 5353)),
        ("2001:db8::53", Server("2001:db8::53", 53)),
        ("[2001:db8::53]:5353", Server("2001:db8::53", 5353)),
    ],
)
def test_server_forms(text: str, server: Server) -> None:
    assert parse_server(text) == server


@pytest.mark.parametrize("port", ["\u0665\u0663", "\u00b2", "0", "65536", ""])
def test_a_server_port_is_ascii_digits_1_to_65535(port: str) -> None:
    with pytest.raises(UsageError, match="port must be 1-65535"):
        parse_server(f"203.0.113.6:{port}")


def test_resolv_conf_parsing_follows_glibc() -> None:
    config = parse_resolv_conf(
        "# comment\nnameserver 203.0.113.6\nnameserver bogus\nnameserver 2001:db8::53%eth0\n"
        "nameserver 198.51.100.1\nnameserver 198.51.100.2\ndomain a.lab\nsearch lab b.lab.\n"
        "options ndots:2 timeout:3 attempts:4 rotate\n"
    )
    assert [str(s) for s in config.servers] == [
        "203.0.113.6:53",
        "[2001:db8::53]:53",
        "198.51.100.1:53",
    ]
    assert config.search == ("lab", "b.lab")
    assert (config.ndots, config.timeout_s, config.attempts) == (2, 3.0, 4)
    assert config.unreadable is None and config.usable
    empty = no_resolver("host.lab.", "A", parse_resolv_conf("search lab\n"))
    assert sentence(empty) == "no resolver configured: /etc/resolv.conf names no nameserver"
    unreadable = no_resolver("host.lab.", "A", system_config("/nonexistent/resolv.conf"))
    assert sentence(unreadable) == (
        "no resolver configured: cannot read /nonexistent/resolv.conf: No such file or directory"
    )


def test_hosts_parsing() -> None:
    table = parse_hosts("127.0.0.1 localhost\n# 1.2.3.4 commented\n203.0.113.99 Pinned.lab p\n")
    assert table["pinned.lab"] == [("203.0.113.99", 3)]
    assert table["p"] == [("203.0.113.99", 3)]
    assert "1.2.3.4" not in str(table)


API = """
import asyncio, json, sys
from netladder import api
from netladder.names.model import ResolveOptions, Server
from netladder.output import to_jsonable
from netladder.render.dns import sentence

async def main():
    server = (Server(sys.argv[1]),)
    got = await asyncio.gather(
        *(api.resolve(ResolveOptions(n, servers=server)) for n in sys.argv[2:])
    )
    return [to_jsonable(r, sentence) for r in got]

print(json.dumps(asyncio.run(main())))
"""


def test_the_api_resolves_many_names_at_once_on_one_loop_as_the_command_does(lab: Lab) -> None:
    names = ["www.lab", "nope.lab", "big.lab", "v4only.lab", "servfail.lab"]
    docs = json.loads(lab.exec("client", [sys.executable, "-c", API, DNS, *names * 8]).stdout)
    cli = {name: ours(lab, name, "--server", DNS)[1] for name in names}
    keys = ("name", "type", "status", "rcode", "server", "transport", "message")
    assert len(docs) == 40
    for name, doc in zip(names * 8, docs, strict=True):
        assert {k: doc[k] for k in keys} == {k: cli[name][k] for k in keys}
        records = sorted(map(str, doc["answers"] + doc["chain"]))
        assert records == sorted(map(str, cli[name]["answers"] + cli[name]["chain"]))
