"""`netladder diagnose TARGET --via URL[,URL…]`: ask several agents (`netladder serve` at other
vantage points, `/api/v1/diagnose`) to run the ladder at once, and compare what they saw.

Every sentence is about the evidence: an agent that answered with a diagnosis is a vantage
point (it passed, or failed at a layer); an agent that could not be asked (refused, timed
out, answered an error) is none, and is named as such, never counted as a failure.

    fails from A and B, passes from C: the target answers C, so the fault is on A's and B's
    side of the path
    fails from A and B (both at L4): the fault is at the target or on the path they share
    passes from A, B and C

An agent behind serve's basic auth takes its credentials in the URL, as curl does
(`http://user:password@host:9115`); they go as `Authorization: Basic`, and the password is
never printed (the output and --json show the URL without it).  A 401 is that agent's failure
to be asked: it asks for credentials (none given) or refused those given.

The requests go out through the project's one HTTP client (l7.client), all at once; the
answers are records (diagnose/model.py) and the sentences `netladder.render.diagnose`'s.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from netladder.diagnose.model import AgentProblem, Answer, Reached, Unreached, ViaReport
from netladder.errors import UsageError
from netladder.net.reactor import gather

__all__ = ["Agent", "ask", "parse_agents", "via"]

AGENT_TIMEOUT = 60.0  # seconds for one agent's whole ladder (its L7 check alone may take 10)
MAX_ANSWER = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Agent:
    """An agent to ask.  Credentials are read from the URL as curl reads them
    (`http://user:password@host:port`, percent-encoded) and sent as basic auth; the password is
    never shown: `shown` (the URL in the output and --json) keeps the username only."""

    url: str  # the base URL asked, without its credentials
    shown: str
    name: str  # host:port/path
    credentials: tuple[str, str] | None = None  # (username, password)

    def authorization(self) -> str | None:
        if self.credentials is None:
            return None
        user, password = self.credentials
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def _without_password(url: str) -> str:
    """A URL that parsed (its only '@' in its authority) as it may be printed: the password
    taken out, the username kept."""
    scheme, _, rest = url.partition("://")
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    userinfo, at, hostport = rest[:end].rpartition("@")
    if not at:
        return url
    user = userinfo.partition(":")[0]
    return f"{scheme}://{user + '@' if user else ''}{hostport}{rest[end:]}"


def _redacted(url: str) -> str:
    """A URL refused as bad input, as it may be printed: all before its last '@' but the scheme
    taken out (where its credentials end cannot be trusted)."""
    if "@" not in url:
        return url
    scheme, sep, _ = url.partition("://")
    tail = url.rpartition("@")[2]
    return f"{scheme}://…@{tail}" if sep else f"…@{tail}"


def _agent(url: str) -> Agent:
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        raise UsageError(
            "--via {url!r}: not a URL (its host or port cannot be read)", url=_redacted(url)
        ) from None
    if "@" in parts.path + parts.query + parts.fragment:
        raise UsageError(
            "--via {url!r}: an '@' after the host (percent-encode a '/', '?' or '#' in the "
            "password)",
            url=_redacted(url),
        )
    if parts.scheme not in ("http", "https") or not host:
        raise UsageError(
            "--via {url!r}: expected an http:// or https:// URL of an agent", url=_redacted(url)
        )
    if parts.query or parts.fragment:
        raise UsageError("--via {url!r}: the agent's base URL takes no query", url=_redacted(url))
    hostport = parts.netloc.rpartition("@")[2]
    credentials = None
    if parts.username is not None:
        credentials = (unquote(parts.username), unquote(parts.password or ""))
    bare = urlunsplit((parts.scheme, hostport, parts.path, "", ""))
    return Agent(bare, _without_password(url), hostport + parts.path.rstrip("/"), credentials)


def parse_agents(text: str) -> list[Agent]:
    """`URL[,URL…]` → the agents (http:// or https://, no query; a comma in a password is
    written %2C)."""
    urls = [u.strip() for u in text.split(",") if u.strip()]
    if not urls:
        raise UsageError("--via: expected URL[,URL…]")
    agents = [_agent(url) for url in urls]
    if len({a.url for a in agents}) != len(agents):
        raise UsageError("--via: an agent is named twice")
    return agents


async def ask(agent: Agent, target: str, ports: Sequence[int]) -> Answer:
    from netladder.l7.client import HttpOptions, http_check

    query = "target=" + quote(target, safe="") + "".join(f"&port={p}" for p in ports)
    endpoint = agent.url.rstrip("/") + "/api/v1/diagnose?" + query
    headers = [("Accept", "application/json")]
    authorization = agent.authorization()
    if authorization is not None:
        headers.append(("Authorization", authorization))
    options = HttpOptions(
        url=endpoint,
        method="GET",
        headers=tuple(headers),
        timeout=AGENT_TIMEOUT,
        expect=((200, 299),),
        max_body=MAX_ANSWER,
        keep_body=MAX_ANSWER,
    )
    url, name = agent.shown, agent.name
    try:
        check = await http_check(options)
    except ValueError as exc:
        return Unreached(url, name, AgentProblem("bad-url", str(exc)))
    final = check.final
    if final.status is None:
        if check.error is not None:
            return Unreached(url, name, AgentProblem("failed", failure=check.error))
        return Unreached(url, name, AgentProblem("no-answer"))
    if final.status == 401:  # serve's basic auth
        if authorization is None:
            return Unreached(url, name, AgentProblem("auth-needed", status=401))
        return Unreached(url, name, AgentProblem("auth-refused", status=401))
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
    answers = await gather(*(ask(a, target, ports) for a in parse_agents(agents)))
    return ViaReport(target, tuple(answers))
