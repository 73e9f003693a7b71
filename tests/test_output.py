"""The one path to JSON (`output.to_jsonable`) over records and what their fields declare
(`netladder.model`), and the English-only sentences JSON carries."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import random
from enum import Enum
from typing import ClassVar

import pytest

from netladder import i18n
from netladder.model import (
    field,
    json_decoded,
    json_flatten,
    json_ms,
    json_name,
    json_pick,
    json_skip,
    json_text,
    record,
)
from netladder.output import dump_json, emit_json, escape_controls, to_jsonable
from netladder.proto.text import escape_controls as pure_escape_controls


class State(Enum):
    OPEN = "open"


@record
class Target:
    name: str
    address: str
    version: int


@record
class Sample:
    seq: int
    rtt: float | None = field(default=None, metadata=json_ms("rtt_ms", digits=6))
    rtt_ns: int = field(default=0, metadata=json_skip())


@record
class Cert:
    subject: str
    lifetime: float = field(metadata=json_ms("lifetime_ms"))
    issuer: str = "ca"

    @property
    def short(self) -> str:
        return self.subject.split(".")[0]


@record
class Stats:
    __json_order__: ClassVar[tuple[str, ...]] = ("target", "transmitted", "loss_percent", "time")

    target: Target = field(metadata=json_flatten(target="name", address="address"))
    transmitted: int
    received: int
    time: float = field(metadata=json_ms("time_ms", digits=3))
    samples: tuple[Sample, ...] = ()
    cert: Cert | None = field(
        default=None, metadata=json_pick("tls", subject="subject", host="short")
    )
    certs: tuple[Cert, ...] = field(default=(), metadata=json_pick(life="lifetime"))
    state: State = State.OPEN
    peer: ipaddress.IPv4Address | None = None

    @property
    def loss_percent(self) -> float:
        return 100.0 * (1 - self.received / self.transmitted)


def stats(**changes: object) -> Stats:
    base: dict[str, object] = {
        "target": Target("www.lab", "198.51.100.10", 4),
        "transmitted": 4,
        "received": 3,
        "time": 3.0015,
    }
    base.update(changes)
    return Stats(**base)  # type: ignore[arg-type]


def test_keys_follow_the_declared_order_then_the_remaining_fields() -> None:
    doc = to_jsonable(stats())
    assert list(doc) == [
        "target",
        "address",
        "transmitted",
        "loss_percent",
        "time_ms",
        "received",
        "samples",
        "tls",
        "certs",
        "state",
        "peer",
    ]
    assert doc["target"] == "www.lab" and doc["address"] == "198.51.100.10"
    assert "version" not in doc  # json_flatten splices only what it names
    assert doc["loss_percent"] == 25.0
    assert doc["time_ms"] == 3001.5
    assert doc["state"] == "open"


def test_json_ms_reproduces_integer_nanoseconds_over_1e6_exactly() -> None:
    rng = random.Random(14)
    for _ in range(20_000):
        ns = rng.randrange(10**13)
        doc = to_jsonable(Sample(1, ns / 1e9, ns))
        assert doc == {"seq": 1, "rtt_ms": ns / 1e6}, ns


def test_json_pick_shows_only_the_named_attributes_with_their_own_conversion() -> None:
    cert = Cert("www.lab.example", 2.5)
    doc = to_jsonable(stats(cert=cert, certs=(cert, Cert("b", 0.001))))
    assert doc["tls"] == {"subject": "www.lab.example", "host": "www"}
    assert doc["certs"] == [{"life": 2500.0}, {"life": 1.0}]
    assert to_jsonable(stats())["tls"] is None


def test_a_picked_or_flattened_attribute_may_be_a_dotted_path() -> None:
    @record
    class Held:
        id: int
        cert: Cert

    @record
    class View:
        held: Held = field(
            metadata=json_flatten(id="id", subject="cert.subject", life="cert.lifetime")
        )
        picked: Held | None = field(default=None, metadata=json_pick(host="cert.short"))

    held = Held(3, Cert("www.lab.example", 2.5))
    doc = to_jsonable(View(held, held))
    # the last step keeps its field's own json_ms conversion; a property is read too
    assert doc == {"id": 3, "subject": "www.lab.example", "life": 2500.0, "picked": {"host": "www"}}
    assert to_jsonable(View(held))["picked"] is None


def test_a_flattened_none_splices_nothing() -> None:
    @record
    class Maybe:
        target: Target | None = field(default=None, metadata=json_flatten(target="name"))
        ok: bool = True

    assert to_jsonable(Maybe()) == {"ok": True}
    assert to_jsonable(Maybe(Target("a", "b", 4))) == {"target": "a", "ok": True}


def test_addresses_bytes_and_non_finite_floats() -> None:
    doc = to_jsonable(
        {
            "peer": ipaddress.ip_address("2001:db8::1"),
            "net": ipaddress.ip_network("198.51.100.0/24"),
            "raw": b"\x01\xff",
            "nan": float("nan"),
            "inf": float("inf"),
            "set": frozenset({1}),
        }
    )
    assert doc == {
        "peer": "2001:db8::1",
        "net": "198.51.100.0/24",
        "raw": "01ff",
        "nan": None,
        "inf": None,
        "set": [1],
    }


@record
class Finding:
    __json_text__: ClassVar[str] = "text"

    kind: str
    hop: int


def render_finding(finding: Finding) -> str:
    return i18n._("latency is added at hop {hop}").format(hop=finding.hop)


def test_a_json_sentence_comes_from_the_renderer_in_english(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    doc = {"findings": (Finding("latency", 3),)}
    assert to_jsonable(doc, render_finding) == {
        "findings": [{"kind": "latency", "hop": 3, "text": "latency is added at hop 3"}]
    }
    # Another language for the terminal never reaches the JSON.
    monkeypatch.setattr(i18n, "_gettext", lambda message: "KO:" + message)
    monkeypatch.setattr(i18n, "_language", "ko")
    assert render_finding(Finding("latency", 3)).startswith("KO:")
    assert to_jsonable(Finding("latency", 3), render_finding)["text"] == (
        "latency is added at hop 3"
    )
    assert i18n.current_language() == "ko"  # restored after the sentence
    assert render_finding(Finding("latency", 3)).startswith("KO:")


def test_a_record_with_a_sentence_needs_a_renderer() -> None:
    with pytest.raises(ValueError, match="sentence"):
        to_jsonable(Finding("latency", 3))


def test_emit_json_prints_one_document_with_sentences(capsys: pytest.CaptureFixture[str]) -> None:
    emit_json({"finding": Finding("loss", 2)}, sentence=lambda f: f"{f.kind} at {f.hop}")
    assert json.loads(capsys.readouterr().out) == {
        "finding": {"kind": "loss", "hop": 2, "text": "loss at 2"}
    }
    assert json.loads(dump_json([Sample(1, 0.5)])) == [{"seq": 1, "rtt_ms": 500.0}]


def test_a_dataclass_still_converts_for_the_lab_and_tests() -> None:
    @dataclasses.dataclass(frozen=True)
    class Old:
        __json_extra__: ClassVar[tuple[str, ...]] = ("double",)

        value: int
        seconds: float = dataclasses.field(default=0.25, metadata=json_ms("ms"))
        hidden: int = dataclasses.field(default=0, metadata=json_skip())
        named: int = dataclasses.field(default=1, metadata=json_name("renamed"))

        @property
        def double(self) -> int:
            return self.value * 2

    assert to_jsonable(Old(2)) == {"value": 2, "ms": 250.0, "renamed": 1, "double": 4}


def test_escape_controls_is_one_pure_function_the_output_layer_re_exports() -> None:
    assert escape_controls is pure_escape_controls
    assert escape_controls("ok\x1b[2Jgone\u2028") == "ok\\x1b[2Jgone\\u2028"
    assert escape_controls("a\nb\tc", keep="\n") == "a\nb\\tc"


def test_a_flattened_or_picked_sentence_is_the_renderers_not_an_attribute() -> None:
    @record
    class Check:
        target: str
        __json_text__ = "summary"

    @record
    class Rung:
        check: Check = field(metadata=json_flatten(target="target", summary="summary"))
        picked: Check = field(metadata=json_pick(summary="summary"))

    doc = to_jsonable(Rung(Check("a"), Check("b")), lambda c: f"{c.target} is fine")
    assert doc == {"target": "a", "summary": "a is fine", "picked": {"summary": "b is fine"}}


@record
class Note:
    kind: str
    port: int


@record
class Report:
    verdict: Note | None = field(default=None, metadata=json_text())
    notes: tuple[Note, ...] = field(default=(), metadata=json_text("remarks"))
    content: bytes | None = field(default=None, metadata=json_decoded("body"))


def test_a_typed_finding_shows_as_its_sentence_where_json_had_a_string() -> None:
    def say(note: Note) -> str:
        return i18n._("{kind} on port {port}").format(kind=note.kind, port=note.port)

    doc = Report(Note("open", 22), (Note("closed", 1), Note("open", 2)))
    assert to_jsonable(doc, say) == {
        "verdict": "open on port 22",
        "remarks": ["closed on port 1", "open on port 2"],
    }
    assert to_jsonable(Report(), say) == {"verdict": None, "remarks": []}
    with pytest.raises(ValueError, match="sentence"):
        to_jsonable(Report(Note("open", 22)))


def test_kept_bytes_show_as_text_and_bytes_not_kept_leave_no_key() -> None:
    assert to_jsonable(Report(content=b"caf\xc3\xa9 \xff")) == {
        "verdict": None,
        "remarks": [],
        "body": "caf\u00e9 \ufffd",
    }
    assert "body" not in to_jsonable(Report())
