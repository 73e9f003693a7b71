"""`@record` behaves as `@dataclass(frozen=True, slots=True)` does, without `dataclasses`."""

from __future__ import annotations

import copy
import dataclasses
import math
import pickle
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netladder.proto.record import (
    FrozenInstanceError,
    field,
    fields,
    is_record,
    record,
    replace,
)

# -- the same class built twice: as a record and as a frozen slotted dataclass -----------------

VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=5),
    st.binary(max_size=5),
    st.tuples(st.integers(), st.text(max_size=3)),
    st.frozensets(st.integers(), max_size=3),
)


@st.composite
def specs(draw: st.DrawFn) -> list[tuple[str, str, Any]]:
    """Fields as (name, how: "plain" | "default" | "factory", default value)."""
    names = draw(st.lists(st.sampled_from("abcdefgh"), unique=True, max_size=6))
    out = []
    for name in names:
        how = draw(st.sampled_from(["plain", "default", "factory"]))
        out.append((name, how, draw(VALUES)))
    # Fields without a default come first, as both decorators require.
    return sorted(out, key=lambda spec: spec[1] != "plain")


_serial = 0


def constant(value: Any) -> Callable[[], Any]:
    return lambda: value


def pickled(value: Any) -> Any:
    return pickle.loads(pickle.dumps(value))


def build(fields_: list[tuple[str, str, Any]]) -> tuple[type[Any], type[Any]]:
    """The record and the dataclass, both importable by pickle from this module."""
    global _serial
    _serial += 1
    made: list[type[Any]] = []
    for kind in ("record", "dataclass"):
        namespace: dict[str, Any] = {"__annotations__": {}, "__module__": __name__}
        for name, how, value in fields_:
            namespace["__annotations__"][name] = "Any"
            if how == "default":
                namespace[name] = value
            elif how == "factory":
                make = field if kind == "record" else dataclasses.field
                namespace[name] = make(default_factory=constant(value))
        name = f"Made{_serial}"
        namespace["__qualname__"] = name
        cls = type(name, (), namespace)
        if kind == "record":
            cls = record(cls)
        else:
            cls = dataclasses.dataclass(frozen=True, slots=True)(cls)
        made.append(cls)
    # Each lives under its own module attribute so pickle finds it; the repr shows __qualname__.
    globals()[f"Made{_serial}"] = made[0]
    globals()[f"_dataclass_made{_serial}"] = made[1]
    made[1].__qualname__ = f"_dataclass_made{_serial}"
    return made[0], made[1]


def same_repr(a: object, b: object) -> bool:
    return repr(a).split("(", 1)[1] == repr(b).split("(", 1)[1]


@settings(max_examples=150, deadline=None)
@given(specs(), st.data())
def test_a_record_behaves_as_the_equivalent_frozen_slotted_dataclass(
    fields_: list[tuple[str, str, Any]], data: st.DataObject
) -> None:
    rec_cls, dc_cls = build(fields_)
    assert [f.name for f in fields(rec_cls)] == [f.name for f in dataclasses.fields(dc_cls)]
    assert rec_cls.__match_args__ == dc_cls.__match_args__

    required = [name for name, how, _ in fields_ if how == "plain"]
    args = {name: data.draw(VALUES) for name in required}
    optional = [name for name, how, _ in fields_ if how != "plain"]
    for name in data.draw(st.lists(st.sampled_from(optional), unique=True)) if optional else []:
        args[name] = data.draw(VALUES)

    rec, dc = rec_cls(**args), dc_cls(**args)
    twin_rec, twin_dc = rec_cls(**args), dc_cls(**args)
    assert same_repr(rec, dc)
    assert (rec == twin_rec) == (dc == twin_dc)  # NaN: equal only when the same object
    if dc == twin_dc:
        assert hash(rec) == hash(twin_rec)
    assert hash(rec) == hash(tuple(getattr(rec, n) for n in rec_cls.__match_args__))
    assert rec != dc and not (rec == dc)  # another class is never equal
    assert not hasattr(rec, "__dict__")

    if fields_:
        name = data.draw(st.sampled_from([spec[0] for spec in fields_]))
        value = data.draw(VALUES)
        assert same_repr(replace(rec, **{name: value}), dataclasses.replace(dc, **{name: value}))
        with pytest.raises(AttributeError):
            setattr(dc, name, value)
        with pytest.raises(FrozenInstanceError):
            setattr(rec, name, value)
        with pytest.raises(AttributeError):
            delattr(rec, name)

    for how in (pickled, copy.copy, copy.deepcopy):
        clone, dc_clone = how(rec), how(dc)
        assert type(clone) is rec_cls
        assert (clone == rec) == (dc_clone == dc)  # a pickled NaN is another object


# -- what a record refuses and what it keeps ----------------------------------------------------


def test_a_classvar_is_a_class_attribute_not_a_field() -> None:
    @record
    class Sample:
        unit: ClassVar[str] = "s"
        rtt: float

    assert [f.name for f in fields(Sample)] == ["rtt"]
    assert Sample.unit == "s" and Sample(0.5).unit == "s"


def test_properties_methods_and_metadata_stay() -> None:
    @record
    class Stats:
        sent: int
        received: int = field(default=0, metadata={"json": "rx"})

        @property
        def loss(self) -> float:
            return 1 - self.received / self.sent

    stats = Stats(4, 3)
    assert stats.loss == 0.25
    assert fields(stats)[1].metadata == {"json": "rx"}
    with pytest.raises(TypeError):
        fields(stats)[1].metadata["json"] = "x"  # type: ignore[index]
    match stats:
        case Stats(sent, received):
            assert (sent, received) == (4, 3)


def test_methods_the_class_defines_are_kept() -> None:
    @record
    class Loose:
        value: float

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Loose) and math.isclose(self.value, other.value)

        def __repr__(self) -> str:
            return "loose"

    assert Loose(1.0) == Loose(1.0 + 1e-12)
    assert repr(Loose(1.0)) == "loose"
    hash(Loose(1.0))  # Python's implicit __hash__ = None beside __eq__ is replaced


def test_defaults_and_factories_are_the_init_defaults() -> None:
    made: list[int] = []

    def make_tags() -> tuple[str, ...]:
        made.append(1)
        return ("a",)

    @record
    class Options:
        target: str
        count: int = 3
        tags: tuple[str, ...] = field(default_factory=make_tags)

    assert Options("x") == Options("x", 3, ("a",))
    assert len(made) == 1  # the factory ran for the one instance that needed it
    assert Options("x", tags=("b",)).tags == ("b",)
    with pytest.raises(TypeError):
        Options()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Options("x", bogus=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        replace(Options("x"), bogus=1)


def test_a_generic_record() -> None:
    T = TypeVar("T")

    @record
    class Box(Generic[T]):
        item: T

    assert Box[int](3) == Box(3)
    assert is_record(Box) and is_record(Box(3)) and not is_record(3)


@pytest.mark.parametrize(
    "source, error",
    [
        ("@record\nclass A:\n  x: int\n@record\nclass B(A):\n  y: int", TypeError),
        ("@record\nclass A:\n  x: int\n  def __post_init__(self): pass", TypeError),
        ("@record\nclass A:\n  x: list = []", ValueError),
        ("@record\nclass A:\n  x: int = 1\n  y: int", TypeError),
        ("@record\nclass A:\n  __slots__ = ('x',)\n  x: int", TypeError),
    ],
    ids=["subclass", "post_init", "mutable_default", "order", "own_slots"],
)
def test_what_a_record_refuses_when_it_is_decorated(source: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        exec(source, {"record": record})


def test_fields_of_something_else_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        fields(object())


# -- type checkers read a record as a frozen dataclass (PEP 681) -------------------------------


def test_mypy_reports_assignment_and_missing_arguments(tmp_path: Path) -> None:
    snippet = tmp_path / "snippet.py"
    snippet.write_text(
        textwrap.dedent(
            """
            from netladder.proto.record import field, record

            @record
            class Point:
                x: int
                y: int = field(default=0)

            p = Point(1)
            p.x = 2
            Point()
            Point(1, 2, 3)
            Point("a")
            ok: int = Point(1, y=2).y
            """
        )
    )
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(snippet)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parent.parent,
        env={"MYPYPATH": "src", "PATH": "/usr/bin:/bin"},
    )
    out = run.stdout
    assert "snippet.py:10: error" in out and "read-only" in out  # p.x = 2
    assert "snippet.py:11: error: Missing positional argument" in out
    assert "snippet.py:12: error: Too many arguments" in out
    assert "snippet.py:13: error: Argument 1" in out
    assert "snippet.py:14" not in out
