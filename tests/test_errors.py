"""The one error tree and the one OSError map: templates translated at the edge, errno causes."""

from __future__ import annotations

import errno
import socket

import pytest

from netladder import cli, i18n
from netladder.errors import (
    EXIT_ENV,
    EXIT_USAGE,
    EnvError,
    NetladderError,
    OsCause,
    UsageError,
    Word,
    errno_name,
    from_oserror,
    os_cause,
)
from netladder.net.targets import ResolveError


def test_a_template_is_english_text_with_its_parameters() -> None:
    exc = UsageError("{name}: port {port} is outside 1-65535", name="www.lab", port=70000)
    assert str(exc) == "www.lab: port 70000 is outside 1-65535"
    assert exc.template == "{name}: port {port} is outside 1-65535"
    assert exc.params == {"name": "www.lab", "port": 70000}
    assert exc.exit_code == EXIT_USAGE


def test_a_preformatted_message_is_taken_as_it_is_even_with_braces() -> None:
    exc = UsageError("invalid target '{x}'")
    assert str(exc) == "invalid target '{x}'"
    assert exc.render(lambda text: text.upper()) == "INVALID TARGET '{X}'"


def test_parameters_are_never_read_as_templates() -> None:
    exc = ResolveError("{evil}", "Name or service not known")
    assert str(exc) == "{evil}: Name or service not known"
    assert exc.name == "{evil}" and isinstance(exc, UsageError)


def test_an_env_error_says_the_remedy_in_brackets() -> None:
    exc = EnvError("cannot open {what}", "grant {cap}", what="a raw socket", cap="CAP_NET_RAW")
    assert str(exc) == "cannot open a raw socket (grant CAP_NET_RAW)"
    assert exc.problem == "cannot open a raw socket" and exc.remedy == "grant CAP_NET_RAW"
    assert exc.exit_code == EXIT_ENV
    assert str(EnvError("no nft")) == "no nft"
    assert exc.render(lambda t: "<" + t + ">") == "<cannot open a raw socket> (<grant CAP_NET_RAW>)"


def test_from_oserror_splits_privilege_and_kernel_features_from_the_rest() -> None:
    denied = from_oserror(OSError(errno.EPERM, "Operation not permitted"), "cannot open")
    assert isinstance(denied, EnvError) and "CAP_NET_RAW" in str(denied)
    missing = from_oserror(OSError(errno.EAFNOSUPPORT, "nope"), "cannot open")
    assert isinstance(missing, EnvError) and "kernel" in str(missing)
    other = from_oserror(OSError(errno.EIO, "Input/output error"), "cannot read")
    assert type(other) is NetladderError
    assert str(other) == "cannot read: Input/output error"


def test_from_oserror_takes_a_template_and_says_the_os_reason_after_it_untranslated() -> None:
    """The prefix and the remedy are templates the edge translates; strerror is the OS's."""
    catalog = {
        "cannot listen on {where}": "{where}에서 수신 대기할 수 없습니다",
        "pick {other}": "{other}을(를) 고르세요",
        "Address already in use": "NOT TO BE TRANSLATED",
    }
    busy = from_oserror(
        OSError(errno.EADDRINUSE, "Address already in use"),
        "cannot listen on {where}",
        where="{x}:80",
    )
    assert type(busy) is NetladderError
    assert str(busy) == "cannot listen on {x}:80: Address already in use"
    assert busy.template == "cannot listen on {where}" and busy.params == {"where": "{x}:80"}
    assert busy.cause == "Address already in use"
    assert busy.render(lambda t: catalog.get(t, t)) == (
        "{x}:80에서 수신 대기할 수 없습니다: Address already in use"
    )
    denied = from_oserror(
        OSError(errno.EACCES, "Permission denied"),
        "cannot listen on {where}",
        "pick {other}",
        where="::1:80",
        other="8080",
    )
    assert isinstance(denied, EnvError)
    assert str(denied) == "cannot listen on ::1:80: Permission denied (pick 8080)"
    assert denied.problem == "cannot listen on ::1:80: Permission denied"
    assert denied.remedy == "pick 8080"
    assert denied.render(lambda t: catalog.get(t, t)) == (
        "::1:80에서 수신 대기할 수 없습니다: Permission denied (8080을(를) 고르세요)"
    )
    plain = NetladderError("cannot reach {address}", address="192.0.2.1").because("No route")
    assert str(plain) == "cannot reach 192.0.2.1: No route" and plain.args == (str(plain),)


def test_the_command_line_translates_the_template_at_the_edge(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = {"{name}: port {port} is outside 1-65535": "{name}: 포트 {port}는 1-65535 밖입니다"}
    monkeypatch.setattr(i18n, "_gettext", lambda message: catalog.get(message, message))
    cli._print_error(UsageError("{name}: port {port} is outside 1-65535", name="a", port=0))
    cli._print_error(UsageError("not in the catalog"))
    cli._print_error("netladder: a plain line")
    assert capsys.readouterr().err.splitlines() == [
        "netladder: a: 포트 0는 1-65535 밖입니다",
        "netladder: not in the catalog",
        "netladder: a plain line",
    ]


def test_a_word_parameter_and_a_wrapped_error_are_translated_with_the_template() -> None:
    """A Word filled into a template ("a list") is a message too, and an error given as a
    parameter (config {path}: <the key's error>) is rendered from its own template."""
    catalog = {
        "{where}: expected a mapping, got {kind}": "{where}: 매핑이어야 하는데 {kind}입니다",
        "a list": "목록",
        "config {path}: {problem}": "설정 {path}: {problem}",
    }
    inner = UsageError("{where}: expected a mapping, got {kind}", where="m", kind=Word("a list"))
    outer = UsageError("config {path}: {problem}", path="c.yml", problem=inner)
    assert str(outer) == "config c.yml: m: expected a mapping, got a list"
    assert (
        outer.render(lambda m: catalog.get(m, m)) == "설정 c.yml: m: 매핑이어야 하는데 목록입니다"
    )
    plain = UsageError("{where}: got {value}", where="m", value="a list")  # a str, not a Word
    assert plain.render(lambda m: catalog.get(m, m)) == "m: got a list"


@pytest.mark.parametrize(
    "code, cause",
    [
        (errno.ECONNREFUSED, OsCause.REFUSED),
        (errno.ECONNRESET, OsCause.RESET),
        (errno.EPIPE, OsCause.RESET),
        (errno.EHOSTUNREACH, OsCause.HOST_UNREACHABLE),
        (errno.EHOSTDOWN, OsCause.HOST_UNREACHABLE),
        (errno.ENETUNREACH, OsCause.NET_UNREACHABLE),
        (errno.EACCES, OsCause.PROHIBITED),
        (errno.EPERM, OsCause.PROHIBITED),
        (errno.ETIMEDOUT, OsCause.TIMED_OUT),
        (errno.ENOBUFS, OsCause.NO_BUFFERS),
        (errno.EAGAIN, OsCause.NO_BUFFERS),
        (errno.EADDRNOTAVAIL, OsCause.NO_ADDRESS),
        (errno.EMSGSIZE, OsCause.MESSAGE_SIZE),
        (errno.EIO, OsCause.OTHER),
        (None, OsCause.OTHER),
    ],
)
def test_each_errno_has_one_cause(code: int | None, cause: OsCause) -> None:
    assert os_cause(code) is cause
    assert str(cause) == cause.value  # the JSON word


def test_the_kernel_says_refused_for_a_closed_loopback_port() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
    # Nothing listens on it now: the kernel answers the SYN with an RST.
    with socket.socket() as client:
        code = client.connect_ex(("127.0.0.1", port))
    assert os_cause(code) is OsCause.REFUSED
    assert errno_name(code) == "ECONNREFUSED"


def test_errno_names() -> None:
    assert errno_name(errno.EHOSTUNREACH) == "EHOSTUNREACH"
    assert errno_name(9999) == "E9999"
