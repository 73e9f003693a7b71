"""`netladder diagnose TARGET --via URL[,URL…]`: ask several agents (`netladder serve` at other
vantage points, `/api/v1/diagnose`) to run the ladder at once, and compare what they saw.

Every sentence is about the evidence: an agent that answered with a diagnosis is a vantage
point (it passed, or failed at a layer); an agent that could not be asked (refused, timed
out, answered an error) is none, and is named as such, never counted as a failure.

    fails from A and B, passes from C: the target answers C, so the fault is on A's and B's
    side of the path
    fails from A and B (both at L4): the fault is at the target or on the path they share
    passes from A, B and C

The requests go out through the project's one HTTP client (l7.client), all at once; the
answers are records (diagnose/model.py) and the sentences `netladder.render.diagnose`'s.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from urllib.parse import quote, urlsplit

from netladder.diagnose.model import AgentProblem, Answer, Reached, Unreached, ViaReport
from netladder.errors import UsageError

__all__ = ["ask", "parse_agents", "via"]

AGENT_TIMEOUT = 60.0  # seconds for one agent's whole ladder (its L7 check alone may take 10)
MAX_ANSWER = 4 * 1024 * 1024


def parse_agents(text: str) -> list[str]:
    """`URL[,URL…]` → base URLs (http:// or https://, no query)."""
    urls = [u.strip() for u in text.split(",") if u.strip()]
    if not urls:
        raise UsageError("--via: expected URL[,URL…]")
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(
                "--via {url!r}: expected an http:// or https:// URL of an agent", url=url
            )
        if parts.query or parts.fragment:
            raise UsageError("--via {url!r}: the agent's base URL takes no query", url=url)
    if len(set(urls)) != len(urls):
        raise UsageError("--via: an agent is named twice")
    return urls


def _name(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc + parts.path.rstrip("/")


async def ask(url: str, target: str, ports: Sequence[int]) -> Answer:
    from netladder.l7.client import HttpOptions, http_check

    query = "target=" + quote(target, safe="") + "".join(f"&port={p}" for p in ports)
    endpoint = url.rstrip("/") + "/api/v1/diagnose?" + query
    options = HttpOptions(
        url=endpoint,
        method="GET",
        headers=(("Accept", "application/json"),),
        timeout=AGENT_TIMEOUT,
        expect=((200, 299),),
        max_body=MAX_ANSWER,
        keep_body=MAX_ANSWER,
    )
    name = _name(url)
    try:
        check = await http_check(options)
    except ValueError as exc:
        return Unreached(url, name, AgentProblem("bad-url", str(exc)))
    final = check.final
    if final.status is None:
        if check.error is not None:
            return Unreached(url, name, AgentProblem("failed", failure=check.error))
        return Unreached(url, name, AgentProblem("no-answer"))
    try:
        doc = json.loads(final.body or b"")
    except ValueError:
        doc = None
    if final.status != 200 or not isinstance(doc, dict) or "diagnosis" not in doc:
        if final.status == 200:
            return Unreached(url, name, AgentProblem("not-netladder", status=200))
        said = doc.get("error") if isinstance(doc, dict) else None
        return Unreached(url, name, AgentProblem("status", str(said or ""), final.status))
    diagnosis = doc["diagnosis"]
    if not isinstance(diagnosis, dict):
        return Unreached(url, name, AgentProblem("not-object"))
    return Reached(url, name, diagnosis)


async def via(target: str, ports: Sequence[int], agents: str) -> ViaReport:
    """Ask every agent at once (UsageError for a bad agent list)."""
    urls = parse_agents(agents)
    answers = await asyncio.gather(*(ask(u, target, ports) for u in urls))
    return ViaReport(target, tuple(answers))
