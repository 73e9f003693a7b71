"""The one I/O boundary to the kernel's NAT: the nft binary, and the forwarding sysctls.

Reading is `nft -j list ruleset` (plus the text form for readable foreign rules); every change
is one script on `nft -f -`, which nft applies as a single transaction.  The two changes,
`add_forward` and `delete_forwards`, live here with their retries: each reads the ruleset, builds
its script from what it read, and lets the transaction itself fail when another netladder
changed the table in between (see rules.build_add_script and rules.build_delete_script).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from collections.abc import Collection
from pathlib import Path
from typing import Any

from netladder.errors import N_, EnvError, NetladderError, UsageError
from netladder.nat.rules import (
    ForwardSpec,
    Ruleset,
    build_add_script,
    build_delete_script,
    next_id,
    parse_ruleset,
    parse_ruleset_text,
)

__all__ = [
    "NftError",
    "add_forward",
    "apply_script",
    "check_script",
    "delete_forwards",
    "forwarding_enabled",
    "is_local_address",
    "read_ruleset",
    "require_nft",
    "require_port_free",
    "route_localnet",
]

NFT_REMEDY = N_("install nftables (apt-get install nftables)")
PRIVILEGE_REMEDY = N_("run as root or grant CAP_NET_ADMIN (e.g. sudo netladder forward ...)")
_SYSCTLS = {4: "net/ipv4/ip_forward", 6: "net/ipv6/conf/all/forwarding"}


class NftError(NetladderError):
    """nft refused a script; the message is nft's own first error line."""

    def __init__(self, message: str, raw: str = "", **params: Any) -> None:
        super().__init__(message, **params)
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


def _script_file(script: str) -> int:
    """The script, whole, in an anonymous memory file.  nft reads its script to the end and
    applies what it read: fed through a pipe by a process killed halfway through writing, it
    would apply the lines that arrived.  A file complete before nft starts cannot be cut."""
    fd = os.memfd_create("netladder-nft", os.MFD_CLOEXEC)
    data = memoryview(script.encode())
    while data:
        data = data[os.write(fd, data) :]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


async def _nft(args: list[str], script: str | None = None) -> str:
    nft = require_nft()
    stdin = _script_file(script) if script is not None else asyncio.subprocess.DEVNULL
    try:
        proc = await asyncio.create_subprocess_exec(
            nft,
            *args,
            stdin=stdin,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    finally:
        if script is not None:
            os.close(stdin)
    out, err = await proc.communicate()
    if proc.returncode != 0:
        message = err.decode(errors="replace").strip()
        if "Operation not permitted" in message or "Permission denied" in message:
            raise EnvError("nft: operation not permitted", PRIVILEGE_REMEDY)
        raise describe_error(message, script, proc.returncode)
    return out.decode(errors="replace")


_WHERE = re.compile(r"^/dev/stdin:(\d+):[\d-]+:\s*")


def describe_error(message: str, script: str | None, returncode: int | None) -> NftError:
    """nft's first error as one line, with the script line it is about; nft's own words
    (`message`, kept whole as `raw`) stay as nft says them."""
    lines = [ln for ln in message.splitlines() if "Error" in ln] or message.splitlines()
    if not lines:
        return NftError("nft failed (exit {code})", message, code=returncode)
    first = lines[0]
    where = _WHERE.match(first)
    if where is None or script is None:
        said = "nft: " + first  # nft's line as it is: nothing to translate
        return NftError(said, message)
    reason = first[where.end() :].removeprefix("Error: ")
    number = int(where.group(1))
    script_lines = script.splitlines()
    line = script_lines[number - 1] if 0 < number <= len(script_lines) else "?"
    return NftError(
        "nft refused '{line}': {reason} (nothing was applied)", message, line=line, reason=reason
    )


async def read_ruleset() -> Ruleset:
    document, text = await asyncio.gather(
        _nft(["-j", "list", "ruleset"]), _nft(["-a", "list", "ruleset"])
    )
    try:
        parsed = json.loads(document) if document.strip() else {"nftables": []}
    except ValueError as exc:
        raise NftError("nft -j printed something that is not JSON: {error}", error=exc) from None
    return parse_ruleset(parsed, parse_ruleset_text(text))


async def apply_script(script: str) -> None:
    """Apply one script atomically: nft commits all of it or nothing."""
    if script:
        await _nft(["-f", "-"], script)


def require_port_free(ruleset: Ruleset, spec: ForwardSpec) -> None:
    existing = ruleset.find(spec.proto, spec.port)
    if existing is not None:
        raise UsageError(
            "{proto} port {port} is already forwarded by netladder "
            "(forward {id} -> {target}); delete it first",
            proto=spec.proto,
            port=spec.port,
            id=existing.id,
            target=existing.spec.target,
        )


async def add_forward(forward_id: int, spec: ForwardSpec) -> tuple[int, str]:
    """Add a forward under `forward_id` (from `next_id` of a fresh read); returns the id it got
    and the script applied.  The transaction reserves the id (`create element`), so when
    another add took the same id first, nothing of this one was applied: take the next free id
    and try again."""
    script = build_add_script(forward_id, spec)
    for _ in range(20):
        try:
            await apply_script(script)
            return forward_id, script
        except NftError as exc:
            if not exc.id_taken:
                raise
        ruleset = await read_ruleset()
        require_port_free(ruleset, spec)  # another add may have taken this very port
        forward_id = next_id(ruleset)
        script = build_add_script(forward_id, spec)
    raise NetladderError("forward add: other adds kept taking the free id; try again")


DELETE_ATTEMPTS = 5


async def delete_forwards(ids: Collection[int] | None) -> list[int]:
    """Delete the forwards `ids` (every forward when None) and return the ids deleted.

    What is deleted is what the first read named: a forward another netladder adds meanwhile
    is never removed, not even by "all".  When the transaction fails because the table changed
    under it (an add took an id the guard reserves, another delete removed a rule first), read
    again and delete what is left of the named forwards."""
    named: set[int] | None = None
    table: int | None = None
    for attempt in range(DELETE_ATTEMPTS):
        ruleset = await read_ruleset()
        if named is None:
            table = ruleset.table_handle
            present = {f.id for f in ruleset.forwards}
            named = present if ids is None else set(ids)
            missing = sorted(named - present)
            if missing:
                raise UsageError(
                    "forward delete: no forward with id {id} (see netladder forward list)",
                    id=missing[0],
                )
        elif ruleset.table_handle != table:
            return []  # the table went (another delete --all): the named forwards with it
        doomed = sorted(named & {f.id for f in ruleset.forwards})
        # Nothing named is left: the script is empty, or (no forward at all) drops the table.
        # Adds that keep coming may keep failing the guard: the last attempt leaves the table.
        last = attempt == DELETE_ATTEMPTS - 1
        try:
            await apply_script(build_delete_script(ruleset, doomed, drop_table=not last))
            return doomed
        except NftError:
            if last:
                raise
    return []  # unreachable: the last attempt returns or raises


async def check_script(script: str) -> None:
    """Have nft parse and evaluate the script without committing it (nft -c)."""
    await _nft(["-c", "-f", "-"], script)


def route_localnet() -> bool | None:
    """Whether IPv4 loopback addresses may be routed out (needed to DNAT 127.0.0.1 elsewhere)."""
    try:
        return Path("/proc/sys/net/ipv4/conf/all/route_localnet").read_text().strip() != "0"
    except OSError:
        return None


async def is_local_address(address: str) -> bool:
    """Whether the kernel routes `address` as this machine's own (`ip route get` says local,
    as `fib daddr type local` sees it): a forward to it is delivered here, never forwarded."""
    from netladder.l2.route import lookup_route

    return lookup_route(address).type == "local"


def forwarding_enabled(version: int) -> bool | None:
    """The namespace's forwarding sysctl (None when it cannot be read)."""
    try:
        return Path("/proc/sys", _SYSCTLS[version]).read_text().strip() != "0"
    except OSError:
        return None
