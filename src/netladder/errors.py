"""One root exception, split by cause; each maps to an exit code (SPEC.md conventions).

    NetladderError                 exit 1: a failure the user reads as one line
    ├── UsageError                 exit 2: bad input (net.targets.ResolveError is one)
    └── EnvError                   exit 3: a missing privilege, kernel feature or tool + remedy

A message is a template with named parameters, so that the command line can translate it at the
edge (`cli._print_error`) while `str(exc)` stays the English text:

    raise UsageError("{name}: port {port} is outside 1-65535", name=name, port=port)

A preformatted string (no parameters) is taken as it is.

The one OSError map lives here too.  A setup failure (a socket that cannot be opened) becomes
an exception through `from_oserror`, whose `what` (and remedy) is a template like any other
message, the OS's strerror appended after it untranslated (`because`):

    raise from_oserror(exc, "cannot listen on {where}", "choose another address", where=where)

A failure met while probing is data, stored as its errno and `os_cause(errno)` — a stable word
a renderer says and JSON may carry.  A message kept in a variable (a remedy shared by several
errors) is marked with `N_` where it is written, as i18n.N_ marks one: the layers below the
renderers may not import i18n.  A word filled into a template that is English too ("got a
list") is a `Word(N_("a list"))`, translated with the template; an error given as a parameter
(one error wrapping another: "config {path}: {problem}") is rendered in the same language.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from enum import StrEnum
from typing import Any, Self

__all__ = [
    "EXIT_ENV",
    "EXIT_FAIL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "EnvError",
    "N_",
    "NetladderError",
    "OsCause",
    "UsageError",
    "Word",
    "errno_name",
    "from_oserror",
    "os_cause",
]

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_USAGE = 2
EXIT_ENV = 3
EXIT_INTERRUPTED = 130


def N_(message: str) -> str:  # noqa: N802 - gettext's conventional name
    """Mark a message for extraction (scripts/messages.py) where it is written; the error that
    carries it translates it at the edge."""
    return message


def _identity(text: str) -> str:
    return text


def _fill(template: str, params: dict[str, Any]) -> str:
    return template.format(**params) if params else template


class Word(str):
    """A word or phrase filled into a template that is itself a message ("a mapping", "the
    file"): marked with `N_` where it is written, translated with the template at the edge.

        raise UsageError("{w}: expected a list, got {kind}", w=w, kind=Word(N_("a string")))
    """

    __slots__ = ()


def _words(params: dict[str, Any], translate: Callable[[str], str]) -> dict[str, Any]:
    """The parameters as said in the language of `translate`: a Word translated, an error
    given as a parameter (one error wrapping another's message) rendered from its template."""
    if translate is _identity:
        return params
    return {
        k: translate(v)
        if isinstance(v, Word)
        else v.render(translate)
        if isinstance(v, NetladderError)
        else v
        for k, v in params.items()
    }


class NetladderError(Exception):
    """A failure the user should read as one line; never shown with a traceback."""

    exit_code = EXIT_FAIL
    # The OS's own words (strerror) after the message: "cannot bind to ::1: Address already in
    # use".  Never translated: they are the OS's, as iputils prints them too.
    cause: str | None = None

    def __init__(self, message: str, **params: Any) -> None:
        self.template = message
        self.params = params
        super().__init__(_fill(message, params))

    def because(self, cause: str) -> Self:
        """This error with the OS's words after its message (`from_oserror` says them so)."""
        self.cause = cause
        self.args = (self.render(),)
        return self

    def _caused(self, text: str) -> str:
        return f"{text}: {self.cause}" if self.cause is not None else text

    def render(self, translate: Callable[[str], str] = _identity) -> str:
        """The message with its template translated (`i18n._`); English by default."""
        return self._caused(_fill(translate(self.template), _words(self.params, translate)))


class UsageError(NetladderError):
    """Bad input: an unknown option, a malformed address, an impossible value."""

    exit_code = EXIT_USAGE


class EnvError(NetladderError):
    """The environment lacks a privilege, kernel feature or tool; the message names the remedy."""

    exit_code = EXIT_ENV

    def __init__(self, problem: str, remedy: str | None = None, **params: Any) -> None:
        self.problem = _fill(problem, params)
        self.remedy = _fill(remedy, params) if remedy else None
        super().__init__(problem, **params)
        self.remedy_template = remedy
        self.args = (self.render(),)

    def because(self, cause: str) -> Self:
        super().because(cause)
        self.problem = self._caused(_fill(self.template, self.params))
        return self

    def render(self, translate: Callable[[str], str] = _identity) -> str:
        params = _words(self.params, translate)
        problem = self._caused(_fill(translate(self.template), params))
        if not self.remedy_template:
            return problem
        return f"{problem} ({_fill(translate(self.remedy_template), params)})"

    def __str__(self) -> str:
        return self.render()


_PRIVILEGE_ERRNOS = {errno.EPERM, errno.EACCES}


def from_oserror(
    exc: OSError, what: str, remedy: str | None = None, **params: Any
) -> NetladderError:
    """Translate an OSError met at an I/O boundary into the error the user should see: `what`
    (a template filled with `params`, as every error's message) then the OS's reason.  The
    command line translates `what` and `remedy`; scripts/messages.py extracts both."""
    reason = exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))
    error: NetladderError
    if exc.errno in _PRIVILEGE_ERRNOS:
        error = EnvError(what, remedy or N_("run as root or grant CAP_NET_RAW"), **params)
    elif exc.errno in {errno.EAFNOSUPPORT, errno.EPROTONOSUPPORT, errno.ENOPROTOOPT}:
        error = EnvError(what, remedy or N_("the kernel lacks this feature"), **params)
    else:
        error = NetladderError(what, **params)
    return error.because(reason)


class OsCause(StrEnum):
    """Why an operation on the network failed, as the errno says it: stable words for JSON and
    for renderers' templates.  Linux maps ICMP errors to errnos in net/ipv4/icmp.c
    (icmp_err_convert) and net/ipv6/icmp.c (icmpv6_err_convert)."""

    REFUSED = "refused"  # ECONNREFUSED: an RST, or ICMP port unreachable (3/3, ICMPv6 1/4)
    RESET = "reset"  # ECONNRESET, ECONNABORTED, EPIPE: the peer ended a connection it had
    HOST_UNREACHABLE = "host-unreachable"  # EHOSTUNREACH, EHOSTDOWN: 3/1, 3/10, 3/13, no ARP
    NET_UNREACHABLE = "net-unreachable"  # ENETUNREACH, ENETDOWN: 3/0, 3/9, no route
    PROHIBITED = "prohibited"  # EACCES, EPERM: this host's own firewall or policy refused it
    TIMED_OUT = "timed-out"  # ETIMEDOUT: no answer within the kernel's retries
    NO_BUFFERS = "no-buffers"  # ENOBUFS, ENOMEM, EAGAIN: a local queue was full
    NO_ADDRESS = "no-address"  # EADDRNOTAVAIL, EADDRINUSE: no usable local address or port
    MESSAGE_SIZE = "message-size"  # EMSGSIZE: larger than the path MTU with DF set (3/4)
    OTHER = "other"


_CAUSES: dict[int, OsCause] = {
    errno.ECONNREFUSED: OsCause.REFUSED,
    errno.ECONNRESET: OsCause.RESET,
    errno.ECONNABORTED: OsCause.RESET,
    errno.EPIPE: OsCause.RESET,
    errno.EHOSTUNREACH: OsCause.HOST_UNREACHABLE,
    errno.EHOSTDOWN: OsCause.HOST_UNREACHABLE,
    errno.ENETUNREACH: OsCause.NET_UNREACHABLE,
    errno.ENETDOWN: OsCause.NET_UNREACHABLE,
    errno.EACCES: OsCause.PROHIBITED,
    errno.EPERM: OsCause.PROHIBITED,
    errno.ETIMEDOUT: OsCause.TIMED_OUT,
    errno.ENOBUFS: OsCause.NO_BUFFERS,
    errno.ENOMEM: OsCause.NO_BUFFERS,
    errno.EAGAIN: OsCause.NO_BUFFERS,
    errno.EADDRNOTAVAIL: OsCause.NO_ADDRESS,
    errno.EADDRINUSE: OsCause.NO_ADDRESS,
    errno.EMSGSIZE: OsCause.MESSAGE_SIZE,
}


def os_cause(code: int | None) -> OsCause:
    """The cause an errno stands for (OTHER for any errno not in the table, and for None)."""
    return _CAUSES.get(code or 0, OsCause.OTHER)


def errno_name(code: int | None) -> str:
    """The errno's symbolic name ("ECONNREFUSED"); "E<number>" for one Python does not know."""
    return errno.errorcode.get(code or 0, f"E{code or 0}")
