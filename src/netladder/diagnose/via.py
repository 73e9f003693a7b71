"""`netladder diagnose TARGET --via URL[,URL…]`: ask several agents (`netladder serve` at other
vantage points, `/api/v1/diagnose`) to run the ladder at once, and compare what they saw.

Every sentence is about the evidence: an agent that answered with a diagnosis is a vantage
point (it passed, or failed at a layer); an agent that could not be asked (refused, timed
out, answered an error) is none, and is named as such, never counted as a failure.

    fails from A and B, passes from C: the target answers C, so the fault is on A's and B's
    side of the path
    fails from A and B (both at L4): the fault is at the target or on the path they share
    passes from A, B and C

The requests go out through the project's one HTTP client (l7.client), all at once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from netladder.errors import EXIT_FAIL, EXIT_OK, UsageError

__all__ = ["Answer", "ask", "compare", "parse_agents", "run"]

AGENT_TIMEOUT = 60.0  # seconds for one agent's whole ladder (its L7 check alone may take 10)
MAX_ANSWER = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Answer:
    """One agent's answer: its diagnosis, or why it could not be asked."""

    url: str
    name: str
    diagnosis: dict[str, Any] | None = None
    problem: str | None = None

    @property
    def reached(self) -> bool:
        return self.diagnosis is not None

    @property
    def ok(self) -> bool:
        return self.diagnosis is not None and bool(self.diagnosis.get("ok"))

    @property
    def layer(self) -> str | None:
        if self.diagnosis is None:
            return None
        verdict = self.diagnosis.get("verdict") or {}
        layer = verdict.get("layer")
        return str(layer) if layer else None


def parse_agents(text: str) -> list[str]:
    """`URL[,URL…]` → base URLs (http:// or https://, no query)."""
    urls = [u.strip() for u in text.split(",") if u.strip()]
    if not urls:
        raise UsageError("--via: expected URL[,URL…]")
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"--via {url!r}: expected an http:// or https:// URL of an agent")
        if parts.query or parts.fragment:
            raise UsageError(f"--via {url!r}: the agent's base URL takes no query")
    if len(set(urls)) != len(urls):
        raise UsageError("--via: an agent is named twice")
    return urls


def _name(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc + parts.path.rstrip("/")


async def ask(url: str, target: str, ports: Sequence[int]) -> Answer:
    from netladder.l7.client import HttpOptions, http_check
    from netladder.render.http import sentence

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
        return Answer(url, name, problem=f"bad URL: {exc}")
    final = check.final
    if final.status is None:
        problem = sentence(check.error) if check.error is not None else "no answer"
        return Answer(url, name, problem=problem)
    try:
        doc = json.loads(final.body or b"")
    except ValueError:
        doc = None
    if final.status != 200 or not isinstance(doc, dict) or "diagnosis" not in doc:
        said = doc.get("error") if isinstance(doc, dict) else None
        text = f"answered {final.status}" + (f": {said}" if said else "")
        if final.status == 200:
            text = "answered 200 without a diagnosis (is it a netladder serve?)"
        return Answer(url, name, problem=text)
    diagnosis = doc["diagnosis"]
    if not isinstance(diagnosis, dict):
        return Answer(url, name, problem="answered a diagnosis that is not a JSON object")
    return Answer(url, name, diagnosis=diagnosis)


def _join(names: Sequence[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


_LAYER_TITLES = {"names": "names", "route": "route", "l2": "L2", "l3": "L3", "path": "path"}
_LAYER_TITLES.update({"l4": "L4", "l7": "L7"})


def compare(answers: Sequence[Answer]) -> str:
    """The one sentence that the answers support."""
    failing = [a for a in answers if a.reached and not a.ok]
    passing = [a for a in answers if a.ok]
    lost = [a for a in answers if not a.reached]
    parts: list[str] = []
    f_names = [a.name for a in failing]
    p_names = [a.name for a in passing]
    if failing and passing:
        whose = _join([n + "'s" for n in f_names]) if len(f_names) > 1 else f_names[0] + "'s"
        parts.append(
            f"fails from {_join(f_names)}, passes from {_join(p_names)}: the target answers "
            f"{_join(p_names)}, so the fault is on {whose} side of the path"
        )
    elif failing:
        layers = sorted({_LAYER_TITLES.get(a.layer or "", a.layer or "?") for a in failing})
        if len(failing) == 1:
            parts.append(f"fails from {f_names[0]} at {layers[0]} (the only agent that answered)")
        elif len(layers) == 1:
            parts.append(
                f"fails from {_join(f_names)} (all at {layers[0]}): the fault is at the target "
                "or on the path they share"
            )
        else:
            each = _join(
                [f"{a.name} at {_LAYER_TITLES.get(a.layer or '', a.layer)}" for a in failing]
            )
            parts.append(f"fails from {each}")
    elif passing:
        parts.append(f"passes from {_join(p_names)}")
    if lost:
        said = "; ".join(f"{a.name}: {a.problem}" for a in lost)
        if failing or passing:
            parts.append(f"not asked (no answer, not counted as a vantage point): {said}")
        else:
            parts.append(f"no agent could be asked: {said}")
    return "; ".join(parts)


async def gather(urls: Sequence[str], target: str, ports: Sequence[int]) -> list[Answer]:
    return list(await asyncio.gather(*(ask(u, target, ports) for u in urls)))


def run(target: str, ports: Sequence[int], via: str, as_json: bool) -> int:
    """The command's --via path: 0 when every agent that answered passes, 1 otherwise."""
    from netladder.output import emit_json, paint

    urls = parse_agents(via)
    answers = asyncio.run(gather(urls, target, ports))
    summary = compare(answers)
    ok = any(a.reached for a in answers) and all(a.ok for a in answers if a.reached)
    if as_json:
        emit_json(
            {
                "target": target,
                "ok": ok,
                "summary": summary,
                "agents": [
                    {
                        "url": a.url,
                        "name": a.name,
                        "reached": a.reached,
                        "ok": a.ok if a.reached else None,
                        "layer": a.layer,
                        "error": a.problem,
                        "diagnosis": a.diagnosis,
                    }
                    for a in answers
                ],
            }
        )
        return EXIT_OK if ok else EXIT_FAIL
    lines = [paint(f"diagnose {target} via {len(answers)} agents", "bold")]
    width = max(len(a.name) for a in answers)
    for a in answers:
        if a.diagnosis is None:
            lines.append(f"  {a.name:<{width}}  {paint('not asked', 'dim')}  {a.problem}")
            continue
        verdict = (a.diagnosis.get("verdict") or {}).get("text", "")
        status = paint("pass", "green") if a.ok else paint("fail", "red")
        lines.append(f"  {a.name:<{width}}  {status}  {verdict}")
    lines.append(paint(f"verdict: {summary}", "bold", "green" if ok else "red"))
    print("\n".join(lines))
    return EXIT_OK if ok else EXIT_FAIL
