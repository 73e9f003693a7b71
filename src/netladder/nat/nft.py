"""The one I/O boundary to the kernel's NAT: the nft binary, and the forwarding sysctls.

Reading is `nft -j list ruleset` (plus the text form for readable foreign rules); every change
is one script on `nft -f -`, which nft applies as a single transaction.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from pathlib import Path

from netladder.errors import EnvError, NetladderError
from netladder.nat.rules import Ruleset, parse_ruleset, parse_ruleset_text

__all__ = [
    "NftError",
    "apply_script",
    "check_script",
    "forwarding_enabled",
    "read_ruleset",
    "require_nft",
    "route_localnet",
]

NFT_REMEDY = "install nftables (apt-get install nftables)"
PRIVILEGE_REMEDY = "run as root or grant CAP_NET_ADMIN (e.g. sudo netladder forward ...)"
_SYSCTLS = {4: "net/ipv4/ip_forward", 6: "net/ipv6/conf/all/forwarding"}


class NftError(NetladderError):
    """nft refused a script; the message is nft's own first error line."""

    def __init__(self, message: str, raw: str = "") -> None:
        super().__init__(message)
        self.raw = raw

    @property
    def id_taken(self) -> bool:
        """The script's `create element` met an id another add took first."""
        return "File exists" in self.raw and "create element" in str(self)


def require_nft() -> str:
    path = shutil.which("nft")
    if path is None:
        raise EnvError("forward needs the nft tool, which is not installed", NFT_REMEDY)
    return path


async def _nft(args: list[str], script: str | None = None) -> str:
    nft = require_nft()
    proc = await asyncio.create_subprocess_exec(
        nft,
        *args,
        stdin=asyncio.subprocess.PIPE if script is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate(script.encode() if script is not None else None)
    if proc.returncode != 0:
        message = err.decode(errors="replace").strip()
        if "Operation not permitted" in message or "Permission denied" in message:
            raise EnvError("nft: operation not permitted", PRIVILEGE_REMEDY)
        raise NftError(describe_error(message, script, proc.returncode), message)
    return out.decode(errors="replace")


_WHERE = re.compile(r"^/dev/stdin:(\d+):[\d-]+:\s*")


def describe_error(message: str, script: str | None, returncode: int | None) -> str:
    """nft's first error as one line, with the script line it is about."""
    lines = [ln for ln in message.splitlines() if "Error" in ln] or message.splitlines()
    if not lines:
        return f"nft failed (exit {returncode})"
    first = lines[0]
    where = _WHERE.match(first)
    if where is None or script is None:
        return f"nft: {first}"
    reason = first[where.end() :].removeprefix("Error: ")
    number = int(where.group(1))
    script_lines = script.splitlines()
    line = script_lines[number - 1] if 0 < number <= len(script_lines) else "?"
    return f"nft refused '{line}': {reason} (nothing was applied)"


async def read_ruleset() -> Ruleset:
    document, text = await asyncio.gather(
        _nft(["-j", "list", "ruleset"]), _nft(["-a", "list", "ruleset"])
    )
    try:
        parsed = json.loads(document) if document.strip() else {"nftables": []}
    except ValueError as exc:
        raise NftError(f"nft -j printed something that is not JSON: {exc}") from None
    return parse_ruleset(parsed, parse_ruleset_text(text))


async def apply_script(script: str) -> None:
    """Apply one script atomically: nft commits all of it or nothing."""
    if script:
        await _nft(["-f", "-"], script)


async def check_script(script: str) -> None:
    """Have nft parse and evaluate the script without committing it (nft -c)."""
    await _nft(["-c", "-f", "-"], script)


def route_localnet() -> bool | None:
    """Whether IPv4 loopback addresses may be routed out (needed to DNAT 127.0.0.1 elsewhere)."""
    try:
        return Path("/proc/sys/net/ipv4/conf/all/route_localnet").read_text().strip() != "0"
    except OSError:
        return None


def forwarding_enabled(version: int) -> bool | None:
    """The namespace's forwarding sysctl (None when it cannot be read)."""
    try:
        return Path("/proc/sys", _SYSCTLS[version]).read_text().strip() != "0"
    except OSError:
        return None
