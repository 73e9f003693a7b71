"""Running the system tools the lab is made with (ip, nft, tc, sysctl, ethtool)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence

from netladder.errors import EnvError, NetladderError

__all__ = ["LabError", "require_tools", "run"]


class LabError(NetladderError):
    """A lab command failed; the message carries the command and what it printed."""


_REMEDY = {
    "ip": "apt-get install iproute2",
    "nft": "apt-get install nftables",
    "tc": "apt-get install iproute2",
    "ethtool": "apt-get install ethtool",
    "sysctl": "apt-get install procps",
}


def require_tools(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        remedy = "; ".join(sorted({_REMEDY.get(t, f"install {t}") for t in missing}))
        raise EnvError(f"the lab needs {', '.join(missing)}, which is not installed", remedy)


def run(
    argv: Sequence[str],
    *,
    input: str | None = None,
    check: bool = True,
    timeout: float = 30.0,
) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(
            list(argv), input=input, capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError:
        require_tools(argv[0])
        raise
    except subprocess.TimeoutExpired:
        raise LabError(f"{' '.join(argv)}: no answer within {timeout:.0f}s") from None
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise LabError(f"{' '.join(argv)}: {detail[-1] if detail else f'exit {result.returncode}'}")
    return result
