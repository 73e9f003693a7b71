"""Korean reaches the setup errors that end in the OS's words (issue 16's leftovers): the prefix
`from_oserror` is given, its remedy, and the scans' "cannot send to" are templates the command
line translates; the OS's strerror stays English, and the English lines do not change.

Every case runs the real command, in the namespace `make test` runs in (scripts/isolated: only
loopback, no route): a port already taken, a port below 1024 as nobody, AF_PACKET as nobody, and
a destination the kernel has no route to, which fails at the send and sends nothing.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from privileges import AS_NOBODY

NOWHERE = "198.51.100.10"  # TEST-NET-2: with no route at all, the send fails locally

RAW_REMEDY = 'sudo setcap cap_net_raw+ep "$(readlink -f "$(command -v python3)")"'


def run_cli(*args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LANGUAGE", "LC_ALL", "LANG")}
    return subprocess.run(
        [*prefix, sys.executable, "-m", "netladder", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
        cwd="/",  # nobody can still read the checkout (CAP_DAC_READ_SEARCH), not write in it
    )


def said(*args: str, prefix: tuple[str, ...] = ()) -> dict[str, tuple[int, str]]:
    """The command's exit code and its one stderr line, in English and in Korean."""
    out = {}
    for lang in ("en", "ko"):
        result = run_cli(*args, "--lang", lang, prefix=prefix)
        assert result.stdout == "", result.stdout
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        out[lang] = (result.returncode, lines[0])
    return out


@pytest.fixture()
def no_route() -> None:
    """Only in a namespace with no IPv4 route (scripts/isolated): nothing may leave it."""
    if os.geteuid() != 0:
        pytest.skip("needs root (make test runs inside scripts/isolated)")
    routes = Path("/proc/net/route").read_text().splitlines()[1:]
    if routes:
        pytest.skip("needs a namespace without routes (make test: scripts/isolated)")


@pytest.fixture()
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_serve_on_a_taken_port_says_cannot_listen_in_korean(taken_port: int) -> None:
    where = f"127.0.0.1:{taken_port}"
    out = said("serve", "--listen", where)
    assert out["en"] == (1, f"netladder: cannot listen on {where}: Address already in use")
    assert out["ko"] == (
        1,
        f"netladder: {where}에서 수신 대기할 수 없습니다: Address already in use",
    )


def test_serve_on_a_privileged_port_as_nobody_translates_the_remedy_too() -> None:
    if os.geteuid() != 0:
        pytest.skip("setpriv to nobody needs root")
    out = said("serve", "--listen", "127.0.0.1:80", prefix=tuple(AS_NOBODY))
    assert out["en"] == (
        3,
        "netladder: cannot listen on 127.0.0.1:80: Permission denied "
        "(choose another address with --listen)",
    )
    assert out["ko"] == (
        3,
        "netladder: 127.0.0.1:80에서 수신 대기할 수 없습니다: Permission denied "
        "(--listen으로 다른 주소를 고르세요)",
    )


def test_neigh_check_without_cap_net_raw_says_what_and_the_remedy_in_korean() -> None:
    if os.geteuid() != 0:
        pytest.skip("setpriv to nobody needs root")
    out = said("neigh", "--check", prefix=tuple(AS_NOBODY))
    assert out["en"] == (
        3,
        "netladder: this check needs CAP_NET_RAW to send ARP/NDP frames (AF_PACKET): "
        f"Operation not permitted (run as root, or grant the capability: {RAW_REMEDY})",
    )
    assert out["ko"] == (
        3,
        "netladder: 이 검사는 ARP/NDP 프레임을 보내려면 CAP_NET_RAW 권한이 필요합니다 "
        "(AF_PACKET): Operation not permitted "
        f"(root로 실행하거나 권한을 주세요: {RAW_REMEDY})",
    )


@pytest.mark.parametrize(
    ("args", "english", "korean"),
    [
        (
            ("trace", NOWHERE),
            f"cannot send to {NOWHERE}",
            f"{NOWHERE}에 보낼 수 없습니다",
        ),
        (
            ("port", "--syn", NOWHERE, "80"),
            f"no route to {NOWHERE}",
            f"{NOWHERE}(으)로 가는 경로가 없습니다",
        ),
        (
            ("port", "--udp", NOWHERE, "53"),
            f"cannot reach {NOWHERE}",
            f"{NOWHERE}에 닿을 수 없습니다",
        ),
    ],
)
def test_a_destination_without_a_route_is_said_in_korean(
    no_route: None, args: tuple[str, ...], english: str, korean: str
) -> None:
    out = said(*args)
    assert out["en"] == (1, f"netladder: {english}: Network is unreachable")
    assert out["ko"] == (1, f"netladder: {korean}: Network is unreachable")


def test_an_unknown_interface_is_said_in_korean() -> None:
    out = said("ping", "-c", "1", "-I", "no-such-if0", "127.0.0.1")
    assert out["en"] == (2, "netladder: unknown interface 'no-such-if0'")
    assert out["ko"] == (2, "netladder: 그런 인터페이스가 없습니다: 'no-such-if0'")


@pytest.mark.parametrize(
    ("args", "english", "korean"),
    [
        (
            ("sweep", "--count", "x", "127.0.0.1"),
            "argument --count: invalid count 'x'",
            "인자 --count: 잘못된 횟수 값 'x'",
        ),
        (
            ("sweep", "--retries", "-1", "127.0.0.1"),
            "argument --retries: retries must be at least 0: '-1'",
            "인자 --retries: 재시도 횟수은(는) 0 이상이어야 합니다: '-1'",
        ),
        (
            ("ping", "-s", "99999", "127.0.0.1"),
            "argument -s: size 99999 out of range 0-65527",
            "인자 -s: 크기 99999이(가) 범위(0-65527)를 벗어났습니다",
        ),
    ],
)
def test_the_name_of_a_bad_number_is_said_in_korean_too(
    args: tuple[str, ...], english: str, korean: str
) -> None:
    """The word filled into "invalid {what}" is a message too, not English in a Korean line."""
    command = args[0]
    out = said(*args)
    assert out["en"] == (2, f"netladder {command}: {english} (see 'netladder {command} --help')")
    assert out["ko"] == (2, f"netladder {command}: {korean} ('netladder {command} --help' 참고)")


@pytest.mark.parametrize(
    ("args", "english", "korean"),
    [
        (("ping", "bad..name"), "invalid target 'bad..name'", "잘못된 대상 'bad..name'"),
        (("ping", "-4", "::1"), "::1: not an IPv4 address", "::1: IPv4 주소가 아닙니다"),
        (
            ("serve", "--listen", "127.0.0.1:99999"),
            "--listen '127.0.0.1:99999': port 99999 is outside 1-65535",
            "--listen '127.0.0.1:99999': 포트 99999이(가) 1-65535 범위를 벗어났습니다",
        ),
        (
            ("serve", "--listen", "bad:80"),
            "--listen 'bad:80': 'bad' is not an address",
            "--listen 'bad:80': 'bad'은(는) 주소가 아닙니다",
        ),
        (
            ("serve", "--db", "/nonexistent/x.db", "--listen", "127.0.0.1:19115"),
            "--db /nonexistent/x.db: the directory /nonexistent does not exist",
            "--db /nonexistent/x.db: 디렉터리 /nonexistent이(가) 없습니다",
        ),
        (
            ("myip", "--http", "ftp://x/"),
            "invalid URL 'ftp://x/': the scheme must be http or https",
            "잘못된 URL 'ftp://x/': 스킴은 http나 https여야 합니다",
        ),
        (
            ("myip", "--stun", "1.2.3.4:99999"),
            "invalid STUN server '1.2.3.4:99999': port must be 1-65535",
            "잘못된 STUN 서버 '1.2.3.4:99999': 포트는 1-65535여야 합니다",
        ),
    ],
)
def test_the_target_checks_speak_korean(args: tuple[str, ...], english: str, korean: str) -> None:
    """net.targets' bad-input lines, which every command shares, serve's --listen / --db and
    myip's endpoint checks are templates too."""
    out = said(*args)
    assert out["en"] == (2, f"netladder: {english}")
    assert out["ko"] == (2, f"netladder: {korean}")


@pytest.mark.parametrize(
    ("yaml_text", "english", "korean"),
    [
        (  # the filled-in word ("a list") is a message too
            "modules: [1]\n",
            "modules: expected a mapping, got a list",
            "modules: 매핑이어야 하는데 목록입니다",
        ),
        (  # the why in parentheses is translated with the sentence around it
            "modules:\n  h:\n    prober: http\n    http:\n      proxy_url: http://x\n",
            "modules.h.http.proxy_url: not supported by netladder"
            " (the HTTP engine has no such option yet)",
            "modules.h.http.proxy_url: netladder가 지원하지 않습니다"
            " (HTTP 엔진에 아직 그런 옵션이 없습니다)",
        ),
        (
            "modules:\n  t:\n    prober: icmp\n    timeout: 5x\n",
            "modules.t.timeout: invalid duration '5x' (use e.g. 5s, 1m30s, 500ms)",
            "modules.t.timeout: 잘못된 기간 '5x' (예: 5s, 1m30s, 500ms)",
        ),
        (  # blackbox_exporter's own words in English, Korean under --lang ko
            "modules:\n  i:\n    prober: icmp\n    icmp:\n      ttl: 300\n",
            'modules.i.icmp.ttl: "ttl" cannot exceed 255',
            'modules.i.icmp.ttl: "ttl"은 255를 넘을 수 없습니다',
        ),
        (
            "monitors:\n  - name: m\n    target: 127.0.0.1\n    module: nope\n",
            "monitors[0].module: unknown module 'nope'",
            "monitors[0].module: 알 수 없는 모듈 'nope'",
        ),
        (  # YAML's own description stays as the parser says it; the line is a template
            "a: [\n",
            "line 2: expected the node content, but found '<stream end>'",
            "2번째 줄: expected the node content, but found '<stream end>'",
        ),
    ],
)
def test_serve_config_check_names_the_key_in_korean(
    tmp_path: Path, yaml_text: str, english: str, korean: str
) -> None:
    """serve's configuration errors: the key named, the sentence a template, the file named by
    the template that wraps the key's own (translated) error."""
    bad = tmp_path / "bad.yml"
    bad.write_text(yaml_text)
    out = said("serve", "--config-check", str(bad))
    assert out["en"] == (2, f"netladder: config {bad}: {english}")
    assert out["ko"] == (2, f"netladder: 설정 {bad}: {korean}")


def test_an_unreadable_config_is_said_in_korean(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yml"
    out = said("serve", "--config-check", str(missing))
    assert out["en"] == (
        2,
        f"netladder: config {missing}: cannot read it: No such file or directory",
    )
    assert out["ko"] == (
        2,
        f"netladder: 설정 {missing}: 읽을 수 없습니다: No such file or directory",
    )


def test_myip_names_where_a_bad_endpoint_came_from_in_korean(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The endpoint's error, wrapped with its source: both said in Korean under --lang ko."""
    monkeypatch.setenv("NETLADDER_MYIP_HTTP", "ftp://x/")
    out = said("myip")
    assert out["en"] == (
        2,
        "netladder: invalid URL 'ftp://x/': the scheme must be http or https (from environment)",
    )
    assert out["ko"] == (
        2,
        "netladder: 잘못된 URL 'ftp://x/': 스킴은 http나 https여야 합니다 (환경 변수에서)",
    )
