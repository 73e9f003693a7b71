"""`@record`: frozen, slotted value classes without the cost of importing `dataclasses`.

Every result, option set and parsed packet in netladder is a record:

    @record
    class Sample:
        seq: int
        rtt: float | None = None
        flags: tuple[str, ...] = field(default=(), metadata=json_name("flags"))

A record behaves as `@dataclass(frozen=True, slots=True)` does — same `__init__` signature,
`__eq__` (same class, field tuples equal), `__hash__`, `__repr__`, `__match_args__`, pickling,
`replace()`, `fields()` — and type checkers read it as one (PEP 681).  It exists because a
one-shot command cannot afford `dataclasses` (it pulls in `inspect`, ~10 ms of a 50 ms ping)
and builds each class in about half the time (one small exec'd `__init__` per class; equality,
hashing and repr share one implementation over an `attrgetter`).

Deliberately smaller than dataclasses, checked when the class is decorated (TypeError): a
record never subclasses a record, has no `__post_init__`, and holds no mutable default (use
`default_factory`).  `ClassVar` annotations are class attributes, not fields.  A method the class
defines itself (`__eq__`, `__hash__`, `__repr__`) is kept.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, TypeVar, dataclass_transform

__all__ = [
    "MISSING",
    "Field",
    "FrozenInstanceError",
    "field",
    "fields",
    "is_record",
    "record",
    "replace",
]

T = TypeVar("T")
R = TypeVar("R")


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
_EMPTY: Mapping[str, Any] = MappingProxyType({})


class _Factory:
    """The default an `__init__` parameter shows when the field has a default_factory."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _Factory()


class FrozenInstanceError(AttributeError):
    """Assigning to or deleting a field of a record (as dataclasses.FrozenInstanceError)."""


class Field:
    """One field of a record: its name, default or default factory, and metadata."""

    __slots__ = ("default", "default_factory", "metadata", "name")

    def __init__(
        self,
        default: Any = MISSING,
        default_factory: Any = MISSING,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        if default is not MISSING and default_factory is not MISSING:
            raise ValueError("cannot specify both default and default_factory")
        self.name = ""
        self.default = default
        self.default_factory = default_factory
        self.metadata: Mapping[str, Any] = MappingProxyType(dict(metadata)) if metadata else _EMPTY

    def __repr__(self) -> str:
        return (
            f"Field(name={self.name!r}, default={self.default!r}, "
            f"default_factory={self.default_factory!r}, metadata={dict(self.metadata)!r})"
        )


def field(
    *,
    default: Any = MISSING,
    default_factory: Callable[[], Any] | Any = MISSING,
    metadata: Mapping[str, Any] | None = None,
) -> Any:
    """A field with a default, a default factory or metadata (`model.json_ms(...)`, …)."""
    return Field(default, default_factory, metadata)


def _is_classvar(annotation: object) -> bool:
    if isinstance(annotation, str):
        return annotation.startswith(("ClassVar", "typing.ClassVar", "t.ClassVar"))
    import typing

    return annotation is typing.ClassVar or typing.get_origin(annotation) is typing.ClassVar


def _frozen_setattr(self: object, name: str, value: object) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: object, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def _init_source(names: list[str], specs: list[Field]) -> str:
    params = ["self"]
    body = []
    for i, (name, spec) in enumerate(zip(names, specs, strict=True)):
        if spec.default is not MISSING:
            params.append(f"{name}=_d{i}")
        elif spec.default_factory is not MISSING:
            params.append(f"{name}=_F")
        else:
            params.append(name)
        if spec.default_factory is not MISSING:
            body.append(f"  _s{i}(self, _f{i}() if {name} is _F else {name})")
        else:
            body.append(f"  _s{i}(self, {name})")
    return f"def __init__({', '.join(params)}):\n" + ("\n".join(body) or "  pass") + "\n"


def _methods(names: tuple[str, ...]) -> dict[str, Any]:
    """__eq__, __hash__, __repr__ and pickling over one attrgetter (no code generation)."""
    if not names:

        def values(obj: object) -> tuple[Any, ...]:
            return ()

    elif len(names) == 1:
        one = operator.attrgetter(names[0])

        def values(obj: object) -> tuple[Any, ...]:
            return (one(obj),)

    else:
        values = operator.attrgetter(*names)  # type: ignore[assignment]

    def __eq__(self: object, other: object) -> bool:
        if other.__class__ is self.__class__:
            return values(self) == values(other)
        return NotImplemented

    def __hash__(self: object) -> int:
        return hash(values(self))

    def __repr__(self: object) -> str:
        pairs = ", ".join(f"{n}={v!r}" for n, v in zip(names, values(self), strict=True))
        return f"{self.__class__.__qualname__}({pairs})"

    def __getstate__(self: object) -> tuple[Any, ...]:
        return values(self)

    def __setstate__(self: object, state: tuple[Any, ...]) -> None:
        for name, value in zip(names, state, strict=True):
            object.__setattr__(self, name, value)

    return {
        "__eq__": __eq__,
        "__hash__": __hash__,
        "__repr__": __repr__,
        "__getstate__": __getstate__,
        "__setstate__": __setstate__,
    }


@dataclass_transform(frozen_default=True, field_specifiers=(field, Field))
def record(cls: type[T]) -> type[T]:
    """Make `cls` a frozen, slotted record (see the module docstring)."""
    for base in cls.__mro__[1:]:
        if "__record_fields__" in base.__dict__:
            raise TypeError(f"record {cls.__name__} may not subclass record {base.__name__}")
    if "__post_init__" in cls.__dict__:
        raise TypeError(f"record {cls.__name__}: __post_init__ is not supported")
    namespace = dict(cls.__dict__)
    annotations: dict[str, object] = namespace.get("__annotations__", {})
    names: list[str] = []
    specs: list[Field] = []
    seen_default = False
    for name, annotation in annotations.items():
        if _is_classvar(annotation):
            continue
        value = namespace.pop(name, MISSING)
        spec = value if isinstance(value, Field) else Field(default=value)
        spec.name = name
        if spec.default is not MISSING and spec.default.__class__.__hash__ is None:
            raise ValueError(
                f"record {cls.__name__}: mutable default {type(spec.default).__name__} "
                f"for field {name} is not allowed: use default_factory"
            )
        has_default = spec.default is not MISSING or spec.default_factory is not MISSING
        if seen_default and not has_default:
            raise TypeError(
                f"record {cls.__name__}: non-default field {name!r} follows a default field"
            )
        seen_default = seen_default or has_default
        names.append(name)
        specs.append(spec)
    if "__slots__" in namespace:
        raise TypeError(f"record {cls.__name__} declares __slots__ itself")
    namespace.pop("__dict__", None)
    namespace.pop("__weakref__", None)
    namespace["__slots__"] = tuple(names)
    namespace["__record_fields__"] = tuple(specs)
    namespace["__match_args__"] = tuple(names)
    own = cls.__dict__
    # Python sets __hash__ = None beside an __eq__ the class defines: that one is not explicit.
    explicit_hash = "__hash__" in own and not (own["__hash__"] is None and "__eq__" in own)
    for key, method in _methods(tuple(names)).items():
        if key not in own or (key == "__hash__" and not explicit_hash):
            namespace[key] = method
    namespace["__setattr__"] = _frozen_setattr
    namespace["__delattr__"] = _frozen_delattr
    metaclass: Any = type(cls)
    new: type[T] = metaclass(cls.__name__, cls.__bases__, namespace)
    new.__qualname__ = cls.__qualname__

    scope: dict[str, Any] = {"_F": _FACTORY}
    for i, (name, spec) in enumerate(zip(names, specs, strict=True)):
        scope[f"_s{i}"] = getattr(new, name).__set__  # the slot itself: frozen __setattr__ skipped
        scope[f"_d{i}"] = spec.default
        scope[f"_f{i}"] = spec.default_factory
    exec(_init_source(names, specs), scope)  # noqa: S102 - the source is built from field names
    init = scope["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    if "__init__" not in own:
        type.__setattr__(new, "__init__", init)
    return new


def is_record(obj: object) -> bool:
    """Whether `obj` is a record class or an instance of one."""
    cls = obj if isinstance(obj, type) else type(obj)
    return "__record_fields__" in cls.__dict__


def fields(obj_or_cls: object) -> tuple[Field, ...]:
    """The fields of a record (class or instance), in order."""
    cls = obj_or_cls if isinstance(obj_or_cls, type) else type(obj_or_cls)
    found: tuple[Field, ...] | None = cls.__dict__.get("__record_fields__")
    if found is None:
        raise TypeError(f"{cls.__name__} is not a record")
    return found


def replace(obj: R, /, **changes: Any) -> R:
    """A copy of the record `obj` with some fields changed (as dataclasses.replace)."""
    for spec in fields(obj):
        if spec.name not in changes:
            changes[spec.name] = getattr(obj, spec.name)
    return obj.__class__(**changes)
