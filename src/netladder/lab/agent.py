"""The process that runs a lab node's services inside its namespace.

Started by the lab as `python -m netladder.lab.agent CONFIG_JSON`; prints "ready" on stdout once
every service listens, then serves until SIGTERM.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import signal
import sys
from typing import Any

from netladder.lab.services import KINDS


async def serve(config: dict[str, Any]) -> None:
    for service in config["services"]:
        module_name, _, func = KINDS[service["kind"]].partition(":")
        start = getattr(importlib.import_module(module_name), func)
        await start(int(service["port"]), service.get("options", {}))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    # The lab closes its end of the pipe after "ready": nothing more may go to stdout.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    await stop.wait()


def main() -> None:
    config = json.loads(sys.argv[1])
    asyncio.run(serve(config))


if __name__ == "__main__":
    main()
