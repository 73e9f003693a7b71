"""`netladder lab lesson [TOPIC]`: a guided walk through the classic sequence, in the demo lab.

Each topic runs the real command in the right node and shows its output, explains it, then
breaks something (a wrong gateway MAC, a dropped port, a REDIRECT that misses local traffic, a
slow link, a 503) and asks the learner to find it with netladder.  The learner's command runs
in the same node; a second run of it with --json is read by the task's check for that command
(`Task.accept`), so an answer counts only when its evidence shows the fault.  `--yes` answers
with the task's own command (and fails when its check does not pass: the lesson is tested
that way); on a terminal the learner types, and Enter goes on; with stdin not a terminal the
learner's answers are read from it, one a line.

The texts are catalog data (N_, translated like every other message); the checks read JSON,
which never changes with the language.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import IO, Any

from netladder.i18n import N_, _
from netladder.lab.core import Lab
from netladder.lab.faults import BlockEcho, Delay, DropPort, WrongArp
from netladder.output import paint

__all__ = ["TOPICS", "Answer", "Lesson", "Task", "Topic", "run_lesson"]

SERVER = "198.51.100.10"  # the demo lab's server (lab/scenarios.py)
GATEWAY = "203.0.113.1"  # the client's default gateway, r1

Check = Callable[[dict[str, Any]], bool]
Setup = Callable[[Lab], AbstractContextManager[None]]


@dataclass(frozen=True)
class Show:
    """Run a command in a node, show its output, then say what it shows."""

    node: str
    args: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class Task:
    """Something is broken: find it.  `accept` maps a netladder command (its first word) to
    the check of its --json document; any other command is turned away with `hint`."""

    node: str
    question: str
    accept: dict[str, Check]
    answer: tuple[str, ...]  # the command --yes gives
    hint: str
    found: str


@dataclass(frozen=True)
class Topic:
    name: str
    title: str
    intro: str
    shows: tuple[Show, ...]
    breaks: str  # what is about to break (said before the task)
    task: Task
    fixed: str  # said once the lab is repaired
    broken: bool = True  # False: the task is a question, nothing was broken for it
    fault: Setup = field(default=lambda lab: contextlib.nullcontext())
    setup: Setup = field(default=lambda lab: contextlib.nullcontext())


# -- what counts as finding it --------------------------------------------------------------------


def _layer(layer: str | None) -> Check:
    """diagnose --json: the verdict names this layer (None: every layer passes)."""
    return lambda doc: (doc.get("verdict") or {}).get("layer") == layer


def _l3_blocked(doc: dict[str, Any]) -> bool:
    """diagnose --json passes and its L3 rung says echo is blocked while TCP answers."""
    l3: dict[str, Any] = next((r for r in doc.get("layers", ()) if r.get("layer") == "l3"), {})
    return _layer(None)(doc) and bool((l3.get("evidence") or {}).get("blocked"))


def _port_state(state: str) -> Check:
    return lambda doc: any(p.get("state") == state for p in doc.get("ports", ()))


def _neigh_mismatch(doc: dict[str, Any]) -> bool:
    return any(c.get("verdict") == "mismatch" for c in doc.get("checks", ()))


def _trace_delay_at(ttl: int, ms: float) -> Check:
    """trace --json: the verdict puts added latency at `ttl`, or the hops show it (the hop
    before under `ms`, this one over): a destination that rate-limits its ICMP errors may
    leave the verdict without the end of the path, not without the hop."""

    def check(doc: dict[str, Any]) -> bool:
        verdict = doc.get("verdict") or {}
        if verdict.get("kind") == "latency" and verdict.get("hop") == ttl:
            return True
        avg = {h.get("ttl"): (h.get("stats") or {}).get("avg_ms") for h in doc.get("hops", ())}
        before, at = avg.get(ttl - 1), avg.get(ttl)
        return before is not None and at is not None and before < ms <= at

    return check


def _forward_cause(cause: str) -> Check:
    return lambda doc: doc.get("cause") == cause


def _http_503_without_retry_after(doc: dict[str, Any]) -> bool:
    rules = {f.get("rule") for f in doc.get("findings", ())}
    return doc.get("status") == 503 and "retry-after-missing" in rules


def _code(code: int) -> Check:
    return lambda doc: doc.get("code") == code


@contextlib.contextmanager
def _redirect_8080(lab: Lab) -> Iterator[None]:
    """On the server: port 8080 forwarded to its web server on 80, for other hosts only (the
    server also runs another service on 8080 itself)."""
    lab.netladder("server", "forward", "add", "--port", "8080", "--to", "80")
    try:
        yield
    finally:
        lab.netladder("server", "forward", "delete", "--all")


# -- the topics, in the order of the classic sequence ---------------------------------------------

TOPICS: tuple[Topic, ...] = (
    Topic(
        "ip",
        N_("ping: does the IP answer?"),
        N_(
            "ICMP echo (ping) asks a host to answer at the IP layer itself. ICMP has no port: it "
            "checks that packets reach the host and come back, and measures the round-trip time "
            "(RTT) and the loss."
        ),
        (
            Show(
                "client",
                ("ping", "-c", "3", "-i", "0.2", SERVER),
                N_(
                    "Each reply line is one echo answered, with its RTT; the summary counts what "
                    "was sent and received. The server answers: L3 works."
                ),
            ),
        ),
        N_("Now the server's firewall drops ICMP echo."),
        Task(
            "client",
            N_(
                "ping {server} gets no reply any more. Is the server down? Find out with "
                "netladder (from the client)."
            ),
            {"port": _port_state("open"), "diagnose": _l3_blocked},
            ("port", SERVER, "22"),
            N_(
                "ping alone cannot tell a host that is down from one that drops ICMP: ask for "
                "something else, a TCP port (port {server} 22) or the whole ladder (diagnose)."
            ),
            N_(
                "The server answers on a TCP port, so it is up: only ICMP echo is blocked. A "
                "silent ping is not proof that a host is down."
            ),
        ),
        N_("The firewall rule is gone: the server answers ping again."),
        fault=lambda lab: lab.fault(BlockEcho("server")),
    ),
    Topic(
        "path",
        N_("trace: where along the way does the time go?"),
        N_(
            "A trace sends probes with TTL 1, 2, 3…; each router where the TTL runs out answers "
            "ICMP time exceeded. That names every hop and the time to it."
        ),
        (
            Show(
                "client",
                ("trace", "--proto", "icmp", SERVER),
                N_(
                    "Three hops: r1, r2 and the server, each a fraction of a millisecond away. "
                    "The verdict says whether delay or loss starts at some hop."
                ),
            ),
        ),
        N_("Now one link on the way gets slow."),
        Task(
            "client",
            N_("Replies from {server} take over 100 ms now. Find the hop where the time is added."),
            {"trace": _trace_delay_at(2, 50.0), "diagnose": _layer("path")},
            ("trace", "--proto", "icmp", SERVER),
            N_("A per-hop view shows where: trace --proto icmp {server} (or diagnose {server})."),
            N_(
                "The delay appears at hop 2 and stays on every hop after it: it is added on the "
                "link between r1 and r2."
            ),
        ),
        N_("The link is fast again."),
        fault=lambda lab: lab.fault(Delay("r1", "r2", 100)),
    ),
    Topic(
        "arp",
        N_("ARP: from an IP address to a MAC address"),
        N_(
            "To send a packet off its own network, the client hands it to its default gateway. "
            "On Ethernet that needs the gateway's MAC address, which ARP finds and the ARP table "
            "keeps."
        ),
        (
            Show(
                "client",
                ("route", SERVER),
                N_(
                    "The route to the server goes via the gateway {gateway}: the kernel's "
                    "routing table picks it, and the default route covers every address that "
                    "no other route does."
                ),
            ),
            Show(
                "client",
                ("arp", "-c", "2", "-i", "0.2", GATEWAY),
                N_(
                    "ARP asks the link who has {gateway}; the gateway answers with its MAC. "
                    "That pair is what the ARP table keeps."
                ),
            ),
        ),
        N_("Now someone writes a wrong static ARP entry for the gateway on the client."),
        Task(
            "client",
            N_(
                "The client reaches nothing outside its own link any more, though its route is "
                "right. Find the cause with netladder."
            ),
            {"neigh": _neigh_mismatch, "diagnose": _layer("l2")},
            ("neigh", "--check"),
            N_(
                "Compare the ARP table's entry for the gateway with what really answers: neigh "
                "--check (or diagnose {server})."
            ),
            N_(
                "The table's MAC for the gateway is not the MAC that answers: every frame goes "
                "to a station that does not exist. A static entry never expires; deleting it "
                "fixes it."
            ),
        ),
        N_("The wrong entry is deleted: the client learns the gateway's real MAC again."),
        fault=lambda lab: lab.fault(WrongArp("client", "r1")),
    ),
    Topic(
        "port",
        N_("ports: does the service accept connections?"),
        N_(
            "A service listens on a TCP port; a client connects to it (what telnet HOST PORT "
            "does by hand). One listening port holds many connections, a socket each."
        ),
        (
            Show(
                "client",
                ("port", SERVER, "22", "--banner"),
                N_(
                    "Port 22 is open: the SYN got a SYN/ACK, and the SSH service greets with "
                    "its banner."
                ),
            ),
            Show(
                "server",
                ("sockets", "22"),
                N_(
                    "On the server, one socket listens on port 22; each connection to it gets "
                    "a socket of its own, named by the client's address and port."
                ),
            ),
        ),
        N_("Now a firewall on the server drops port 22."),
        Task(
            "client",
            N_("SSH to {server} hangs. Find out what happens to the connection."),
            {"port": _port_state("filtered"), "diagnose": _layer("l4")},
            ("port", SERVER, "22"),
            N_("Check the port itself: port {server} 22 (or diagnose {server}:22)."),
            N_(
                "Port 22 is filtered: no answer at all to the SYN, while the host answers "
                "ping. A closed port would answer RST at once; silence means a filter drops "
                "the packets."
            ),
        ),
        N_("The firewall rule is gone: port 22 is open again."),
        fault=lambda lab: lab.fault(DropPort("server", 22)),
    ),
    Topic(
        "forward",
        N_("port forwarding: a REDIRECT and what it misses"),
        N_(
            "A port forward rewrites the destination port of packets as they arrive: here the "
            "server forwards its port 8080 to its web server on port 80 (an iptables/nft "
            "REDIRECT in the PREROUTING hook)."
        ),
        (
            Show(
                "server",
                ("forward", "list"),
                N_("The forward: tcp port 8080 to local port 80, for traffic from other hosts."),
            ),
        ),
        N_(
            "The server itself also runs another service on port 8080. A colleague on the "
            "server says: 'curl http://127.0.0.1:8080 does not give me the web server'."
        ),
        Task(
            "server",
            N_("Find out why the forward does not work from the server itself."),
            {"forward": _forward_cause("rule_not_hit")},
            ("forward", "verify", "--port", "8080"),
            N_(
                "Verify the forward from where it fails: forward verify --port 8080 (on the "
                "server)."
            ),
            N_(
                "The rule was never hit: connections made on the server itself go through the "
                "OUTPUT hook, not PREROUTING, so the REDIRECT does not see them and they reach "
                "the other service on 8080. forward add --local covers them."
            ),
        ),
        N_("The forward is removed."),
        setup=_redirect_8080,
    ),
    Topic(
        "http",
        N_("HTTP: what does the server answer?"),
        N_(
            "Once a port is open, the service must answer properly. For HTTP, curl -I shows "
            "the status line and the headers; netladder http adds how long each phase took."
        ),
        (
            Show(
                "client",
                ("http", "http://www.lab/"),
                N_(
                    "200 OK with its headers, then the timings: name lookup, TCP connect, server "
                    "processing, transfer."
                ),
            ),
        ),
        N_("The API at http://www.lab/status/503 is failing for its users."),
        Task(
            "client",
            N_(
                "Clients of http://www.lab/status/503 retry at once and make it worse. Find "
                "what the server answers and what is missing."
            ),
            {"http": _http_503_without_retry_after},
            ("http", "http://www.lab/status/503"),
            N_("Look at the response itself: http http://www.lab/status/503."),
            N_(
                "503 Service Unavailable is temporary, but the response has no Retry-After: "
                "the clients cannot tell when to come back."
            ),
        ),
        N_("That is the end of the HTTP topic."),
        broken=False,
    ),
    Topic(
        "codes",
        N_("status codes: choosing among close neighbours"),
        N_(
            "A status code tells the client what to do next. Codes close to each other mean "
            "different things: 401 or 403, 400 or 422, 503 or 429."
        ),
        (
            Show(
                "client",
                ("codes", "4xx"),
                N_(
                    "The 4xx codes, with how many well-known APIs document each: 400, 401, 403, "
                    "404 and 429 are the common ones."
                ),
            ),
        ),
        N_("Your API must answer a client that sends too many requests."),
        Task(
            "client",
            N_("Which status code should it answer? Look it up with netladder codes CODE."),
            {"codes": _code(429)},
            ("codes", "429"),
            N_(
                "Not that one: think of the code whose name is the situation (the 4xx list "
                "above), and prefer a standard code."
            ),
            N_(
                "429 Too Many Requests, with Retry-After to say when to come back. 420 was "
                "Twitter's non-standard code for it, and 503 says the whole service is down."
            ),
        ),
        N_("That is the end of the status codes topic."),
        broken=False,
    ),
)

_BY_NAME = {t.name: t for t in TOPICS}


@dataclass
class Answer:
    """Where the learner's answers come from: typed at a terminal, read from a pipe, or given
    by the lesson itself (--yes)."""

    auto: bool
    stream: IO[str] = field(default_factory=lambda: sys.stdin)

    @property
    def tty(self) -> bool:
        return not self.auto and self.stream.isatty()

    def pause(self) -> None:
        if self.tty:
            with contextlib.suppress(EOFError):
                input(_("(Enter to go on) "))

    def read(self) -> str | None:
        """The learner's next command, None when there is none (end of input)."""
        if self.tty:
            try:
                return input("netladder> ")
            except EOFError:
                return None
        line = self.stream.readline()
        if not line:
            return None
        print(f"netladder> {line.strip()}")
        return line.strip()


class Lesson:
    """One walk through some topics, on one lab."""

    MAX_TRIES = 3

    def __init__(self, lab: Lab, answers: Answer, language: str) -> None:
        self.lab = lab
        self.answers = answers
        self.language = language
        self.failed: list[str] = []

    def netladder(self, node: str, args: tuple[str, ...]) -> tuple[int, str, str]:
        result = self.lab.netladder(node, "--lang", self.language, *args, timeout=120)
        return result.returncode, result.stdout, result.stderr

    def show(self, node: str, args: tuple[str, ...]) -> None:
        print(paint(f"$ netladder {shlex.join(args)}", "bold") + paint(f"   ({node})", "dim"))
        _code, out, err = self.netladder(node, args)
        sys.stdout.write(out + err)
        sys.stdout.flush()

    def say(self, text: str, **params: str) -> None:
        print(_(text).format(server=SERVER, gateway=GATEWAY, **params))

    def topic(self, topic: Topic, number: int, total: int) -> None:
        print()
        head = _("== lesson {number}/{total}: {title}").format(
            number=number, total=total, title=_(topic.title)
        )
        print(paint(head, "bold"))
        self.say(topic.intro)
        with topic.setup(self.lab):
            for step in topic.shows:
                print()
                self.show(step.node, step.args)
                self.say(step.text)
                self.answers.pause()
            print()
            heading = _("-- something breaks --") if topic.broken else _("-- your turn --")
            print(paint(heading, "yellow"))
            self.say(topic.breaks)
            with topic.fault(self.lab):
                if not self.task(topic.task):
                    self.failed.append(topic.name)
            print()
            self.say(topic.fixed)

    def task(self, task: Task) -> bool:
        print(paint(_("find it: ") + _(task.question).format(server=SERVER), "bold"))
        for _try in range(self.MAX_TRIES):
            line = " ".join(task.answer) if self.answers.auto else self.answers.read()
            if self.answers.auto:
                print(f"netladder> {line}" + paint(_("   (--yes: the lesson answers)"), "dim"))
            if line is None:
                break
            if self.check(task, line):
                print(paint(_("found it: ") + _(task.found), "green"))
                return True
            if self.answers.auto:
                return False  # the lesson's own answer must find it
            print(paint(_("not yet: ") + _(task.hint).format(server=SERVER), "yellow"))
        print(
            paint(
                _("the answer: netladder {command}").format(command=shlex.join(task.answer)),
                "yellow",
            )
        )
        self.show(task.node, task.answer)
        print(_(task.found))
        return False

    def check(self, task: Task, line: str) -> bool:
        """Run the learner's command (shown), then its --json, and apply the task's check."""
        try:
            words = shlex.split(line)
        except ValueError:
            return False
        if words[:1] == ["netladder"]:
            words = words[1:]
        if not words or words[0] not in task.accept:
            return False
        args = tuple(w for w in words if w not in ("--json", "--lang"))
        _code, out, err = self.netladder(task.node, args)
        sys.stdout.write(out + err)
        _code, out, _err = self.netladder(task.node, (*args, "--json"))
        try:
            doc = json.loads(out)
        except ValueError:
            return False
        return isinstance(doc, dict) and task.accept[words[0]](doc)


def topics(name: str | None) -> tuple[Topic, ...]:
    if name is None or name == "all":
        return TOPICS
    return (_BY_NAME[name],)


def run_lesson(
    topic: str | None, *, auto: bool, language: str, keep: bool, stream: IO[str] | None = None
) -> int:
    """The walk (all topics in order, or one); 0 when every task was found."""
    from netladder.lab.topologies import demo

    chosen = topics(topic)
    lab = Lab(demo(), name="lesson")
    lab.up()
    lesson = Lesson(lab, Answer(auto, stream or sys.stdin), language)
    try:
        for number, t in enumerate(chosen, 1):
            lesson.topic(t, number, len(chosen))
    finally:
        if not keep:
            lab.down()
    print()
    if lesson.failed:
        print(paint(_("not found: {topics}").format(topics=", ".join(lesson.failed)), "red"))
        return 1
    print(paint(_("lesson done"), "green"))
    return 0
