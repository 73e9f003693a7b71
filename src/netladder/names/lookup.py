"""The DNS coroutines: a name resolved at its servers, the system resolver beside direct
queries, one raw exchange, getaddrinfo alone.  Each builds its sessions (`names/session.py`)
and awaits only `net.driver.run`, so it runs under asyncio and under the CLI's selector alike;
`api.resolve` is these, typed by the options it is given."""

from __future__ import annotations

from typing import TYPE_CHECKING

from netladder.errors import UsageError
from netladder.names.model import (
    CompareOptions,
    Comparison,
    Exchange,
    ExchangeOptions,
    Reason,
    Resolution,
    ResolveOptions,
    ResolverConfig,
    SystemLookup,
)
from netladder.names.resolve import (
    RESOLV_CONF,
    agree,
    check_name,
    check_type,
    explain,
    no_resolver,
    search_candidates,
    system_addresses,
    system_config,
)
from netladder.net.driver import run

if TYPE_CHECKING:
    from netladder.names.session import DnsSession

__all__ = ["compare", "exchange", "resolve", "system_lookup"]


def _checked(wait: float, tries: int) -> None:
    if not wait > 0:
        raise UsageError("the wait must be more than 0 s, not {wait}", wait=wait)
    if tries < 1:
        raise UsageError("at least one try, not {tries}", tries=tries)


def _session(
    qname: str,
    qtype: str,
    options: ResolveOptions | CompareOptions,
    config: ResolverConfig,
    *,
    tries: int | None = None,
    tcp: bool | None = None,
) -> DnsSession | Resolution:
    """The session that resolves one question, or — without any server to ask — the
    resolution that says so."""
    from netladder.names.session import DnsSession

    servers = options.servers or config.servers
    if not servers:
        return no_resolver(qname, qtype, config)
    return DnsSession(
        qname,
        qtype,
        servers,
        tcp=options.tcp if tcp is None else tcp,
        wait=options.wait,
        tries=options.tries if tries is None else tries,
        deadline=options.deadline if isinstance(options, ResolveOptions) else None,
        servers_from="--server" if options.servers else config.path,
    )


async def _all(sessions: list[DnsSession | Resolution]) -> list[Resolution]:
    from netladder.names.session import DnsSession

    running = [s for s in sessions if isinstance(s, DnsSession)]
    if running and await run(running):
        raise KeyboardInterrupt
    return [s.result() if isinstance(s, DnsSession) else s for s in sessions]


async def resolve(options: ResolveOptions) -> Resolution:
    """Resolve as a stub resolver does (ResolveOptions); never raises for what the servers
    did: the resolution says it."""
    qname = check_name(options.name)
    qtype = check_type(options.type)
    _checked(options.wait, options.tries)
    if options.servers:
        config = ResolverConfig("--server", options.servers)  # resolv.conf is not read
    else:
        config = system_config(options.resolv_conf or RESOLV_CONF)
    (resolution,) = await _all([_session(qname, qtype, options, config)])
    return resolution


async def compare(options: CompareOptions) -> Comparison:
    """getaddrinfo beside direct A/AAAA queries, any disagreement explained."""
    from netladder.names.session import SystemSession

    qname = check_name(options.name)
    _checked(options.wait, options.tries)
    families = tuple(v for v in options.families if v in (4, 6)) or (4, 6)
    config = system_config()
    types = [t for v, t in ((4, "A"), (6, "AAAA")) if v in families]
    system = SystemSession(options.name, wait=max(10.0, options.wait * 4))
    sessions = [_session(qname, t, options, config) for t in types]
    running = [s for s in sessions if not isinstance(s, Resolution)]
    if await run([system, *running]):
        raise KeyboardInterrupt
    found = system.result()
    direct = [s if isinstance(s, Resolution) else s.result() for s in sessions]
    agreed = agree(found, direct, families)
    reasons: tuple[Reason, ...] = ()
    if not agreed:
        hit = None
        wanted = system_addresses(found, families)
        for candidate in search_candidates(options.name, config, found):
            name = check_name(candidate)
            tried = await _all(
                [_session(name, t, options, config, tries=2, tcp=False) for t in ("A", "AAAA")]
            )
            if {a for r in tried for a in r.addresses} & wanted:
                hit = candidate
                break
        reasons = explain(options.name, found, direct, families, config, options.servers, hit)
    return Comparison(qname, found, tuple(direct), agreed, reasons)


async def exchange(options: ExchangeOptions) -> Exchange:
    """One query, one answer (ExchangeOptions)."""
    import dns.flags
    import dns.message
    import dns.rdataclass
    import dns.rdatatype

    from netladder.names.session import ExchangeSession

    if not options.wait > 0:
        raise UsageError("the wait must be more than 0 s, not {wait}", wait=options.wait)
    try:
        query = dns.message.make_query(
            options.name,
            dns.rdatatype.from_text(options.type),
            dns.rdataclass.from_text(options.rdclass),
            use_edns=options.edns,
        )
    except Exception as exc:  # dnspython names what it cannot build in many exception types
        raise UsageError(
            "cannot make a query for {name} {type} {rdclass}: {why}",
            name=options.name,
            type=options.type,
            rdclass=options.rdclass,
            why=str(exc) or type(exc).__name__,
        ) from None
    if not options.recursion:
        query.flags &= ~dns.flags.RD
    session = ExchangeSession(options, query)
    if await run([session]):
        raise KeyboardInterrupt
    return session.result()


async def system_lookup(name: str, wait: float = 10.0) -> SystemLookup:
    """getaddrinfo(name): what every program here gets; a hung lookup is cut off at `wait`."""
    from netladder.names.session import SystemSession

    session = SystemSession(name, wait)
    if await run([session]):
        raise KeyboardInterrupt
    return session.result()
