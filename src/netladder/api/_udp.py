"""`exchange`: one UDP datagram out, the first datagram or ICMP error back — l4.banner's
UdpExchange on the one driver; `netladder serve`'s udp prober is its caller."""

from __future__ import annotations

from netladder.errors import UsageError
from netladder.l4.banner import Datagram, UdpExchange
from netladder.l4.model import UdpOptions
from netladder.net.driver import run
from netladder.net.targets import literal

__all__ = ["Datagram", "UdpOptions", "exchange"]


async def exchange(options: UdpOptions) -> Datagram:
    """Send `options.data` to `options.address` (an address, not a name) and wait up to
    `options.timeout` seconds for what comes back.  A socket that does not open, a send that
    fails, an ICMP error or silence is in the Datagram (`error`, `icmp`, `timed_out`), never
    an exception; UsageError for options that cannot be run."""
    if not options.timeout > 0:
        raise UsageError("the timeout must be positive, not {timeout:g} s", timeout=options.timeout)
    if not 0 < options.port < 65536:
        raise UsageError("the port must be 1-65535, not {port}", port=options.port)
    if literal(options.address) is None or options.address.startswith("["):
        raise UsageError("not an address: {address!r}", address=options.address)
    session = UdpExchange(
        options.address,
        options.port,
        options.data,
        options.timeout,
        netns=options.netns,
        source=options.source,
    )
    await run([session])
    return session.result()
