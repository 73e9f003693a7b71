"""One root exception, split by cause; each maps to an exit code (SPEC.md conventions)."""

from __future__ import annotations

import errno

__all__ = [
    "EXIT_ENV",
    "EXIT_FAIL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "EnvError",
    "NetladderError",
    "UsageError",
    "from_oserror",
]

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_USAGE = 2
EXIT_ENV = 3
EXIT_INTERRUPTED = 130


class NetladderError(Exception):
    """A failure the user should read as one line; never shown with a traceback."""

    exit_code = EXIT_FAIL


class UsageError(NetladderError):
    """Bad input: an unknown option, a malformed address, an impossible value."""

    exit_code = EXIT_USAGE


class EnvError(NetladderError):
    """The environment lacks a privilege, kernel feature or tool; the message names the remedy."""

    exit_code = EXIT_ENV

    def __init__(self, problem: str, remedy: str | None = None) -> None:
        self.problem = problem
        self.remedy = remedy
        super().__init__(f"{problem} ({remedy})" if remedy else problem)


_PRIVILEGE_ERRNOS = {errno.EPERM, errno.EACCES}


def from_oserror(exc: OSError, what: str, remedy: str | None = None) -> NetladderError:
    """Translate an OSError met at an I/O boundary into the error the user should see."""
    reason = exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))
    if exc.errno in _PRIVILEGE_ERRNOS:
        return EnvError(f"{what}: {reason}", remedy or "run as root or grant CAP_NET_RAW")
    if exc.errno in {errno.EAFNOSUPPORT, errno.EPROTONOSUPPORT, errno.ENOPROTOOPT}:
        return EnvError(f"{what}: {reason}", remedy or "the kernel lacks this feature")
    return NetladderError(f"{what}: {reason}")
