"""Argv prefixes that run a command with less privilege than the root test run has.

UNPRIVILEGED keeps uid 0 but drops every capability: what an unprivileged user can do, except
read root's files.  AS_NOBODY switches to uid/gid 65534 and keeps one capability,
CAP_DAC_READ_SEARCH, so it can still read the checkout and its .venv wherever they are — a clone
in root's home or in a `mktemp -d` directory is mode 0700, and without it Python cannot even
import netladder there.  Reading files is all it keeps: no CAP_NET_RAW, CAP_NET_ADMIN or
CAP_SYS_ADMIN, and it is not root.
"""

from __future__ import annotations

__all__ = ["AS_NOBODY", "UNPRIVILEGED"]

UNPRIVILEGED = ["setpriv", "--inh-caps=-all", "--bounding-set=-all", "--"]

AS_NOBODY = [
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
    "--inh-caps=-all,+dac_read_search",
    "--ambient-caps=+dac_read_search",
    "--bounding-set=-all,+dac_read_search",
    "--",
]
