"""A userspace Ethernet frame relay between two interfaces, adding delay without sch_netem.

`python -m netladder.lab.relay IF_A IF_B CONTROL_JSON` copies every frame that arrives on one
interface out of the other, after the delay named in the control file for that direction
(`delay_ab_ms`: frames from A towards B).  SIGHUP re-reads the control file.  Frames keep their
order per direction: they wait in a FIFO and leave when their time has come.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import signal
import socket
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
MAX_FRAME = 65535


def packet_socket(ifname: str) -> socket.socket:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
    sock.bind((ifname, 0))
    sock.setblocking(False)
    return sock


class Direction:
    """Frames from `src` to `dst`, held for `delay` seconds each."""

    def __init__(self, loop: asyncio.AbstractEventLoop, src: socket.socket, dst: socket.socket):
        self.loop = loop
        self.src = src
        self.dst = dst
        self.delay = 0.0
        self.queue: collections.deque[tuple[float, bytes]] = collections.deque()
        self.timer: asyncio.TimerHandle | None = None

    def readable(self) -> None:
        while True:
            try:
                frame, addr = self.src.recvfrom(MAX_FRAME)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            if addr[2] == PACKET_OUTGOING:
                continue  # our own transmissions on this interface
            if self.delay <= 0 and not self.queue:
                self._send(frame)
            else:
                self.queue.append((time.monotonic() + self.delay, frame))
        self._schedule()

    def _send(self, frame: bytes) -> None:
        with contextlib.suppress(OSError):  # a full queue drops, as a real link would
            self.dst.send(frame)

    def _schedule(self) -> None:
        if self.timer is None and self.queue:
            due = self.queue[0][0]
            self.timer = self.loop.call_at(
                self.loop.time() + max(0.0, due - time.monotonic()), self.flush
            )

    def flush(self) -> None:
        self.timer = None
        now = time.monotonic()
        while self.queue and self.queue[0][0] <= now + 0.0001:
            self._send(self.queue.popleft()[1])
        self._schedule()


async def relay(if_a: str, if_b: str, control: str) -> None:
    loop = asyncio.get_running_loop()
    a, b = packet_socket(if_a), packet_socket(if_b)
    ab, ba = Direction(loop, a, b), Direction(loop, b, a)

    def reload() -> None:
        with contextlib.suppress(OSError, ValueError):
            settings = json.loads(open(control).read())
            ab.delay = float(settings.get("delay_ab_ms", 0.0)) / 1000
            ba.delay = float(settings.get("delay_ba_ms", 0.0)) / 1000
            # Say which version of the file is in force: whoever changed it waits for this
            # instead of guessing how long a busy machine takes to deliver SIGHUP.
            applied = f"{control}.applied"
            with open(f"{applied}.tmp", "w") as out:
                out.write(str(settings.get("version", 0)))
            os.replace(f"{applied}.tmp", applied)

    reload()
    loop.add_reader(a.fileno(), ab.readable)
    loop.add_reader(b.fileno(), ba.readable)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGHUP, reload)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    await stop.wait()


def main() -> None:
    if_a, if_b, control = sys.argv[1:4]
    asyncio.run(relay(if_a, if_b, control))


if __name__ == "__main__":
    main()
