"""``record``: a frozen dataclass that compiles one method instead of six.

``dataclass(frozen=True)`` writes and compiles ``__init__``, ``__repr__``, ``__eq__``,
``__hash__``, ``__setattr__`` and ``__delattr__`` for every class, about 0.4 ms a class on
Python 3.11; over the result classes that was a third of ``import permaudit``, paid by every
command. ``record`` lets ``dataclass`` compile ``__init__`` alone and gives every class the
same five functions below, which read the class's field names from attributes set once.

A record behaves as ``dataclass(frozen=True)`` does: ``fields``, ``replace`` and ``asdict``
work; equality (same class only) and the hash use the fields that ``compare`` (and ``hash``)
select; the repr is the same; assigning or deleting an attribute raises
``FrozenInstanceError``; ``__dataclass_params__`` says frozen, so a frozen dataclass may
subclass a record (and a mutable one may not). The difference is the price of building one: each field set by
``__init__`` passes through ``__setattr__`` (a fraction of a microsecond), so the classes
built tens of thousands of times an audit (dex references, dataflow values, zip entries)
stay plain frozen dataclasses.
"""

from __future__ import annotations

import reprlib
from collections.abc import Callable
from dataclasses import MISSING, FrozenInstanceError, dataclass, field, fields
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform

T = TypeVar("T", bound=type)

_SHARED = ("__eq__", "__hash__", "__repr__", "__setattr__", "__delattr__")


def _nothing(_: object) -> tuple[()]:
    return ()


def _key(names: list[str]) -> Callable[[Any], Any]:
    """The values of ``names`` as one tuple (``attrgetter`` gives a bare value for one name)."""
    if not names:
        return _nothing
    if len(names) == 1:
        one = attrgetter(names[0])
        return lambda obj: (one(obj),)
    return attrgetter(*names)


def _eq(self: Any, other: object) -> object:
    key: Callable[[object], Any] = self.__record_compare__
    if other.__class__ is self.__class__:
        return bool(key(self) == key(other))
    return NotImplemented


def _hash(self: Any) -> int:
    return hash(self.__record_hash__(self))


@reprlib.recursive_repr()
def _repr(self: Any) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__record_repr__)
    return f"{self.__class__.__qualname__}({shown})"


def _setattr(self: Any, name: str, value: object) -> None:
    """Each field ``__init__`` sets, once, as it sets it; nothing after, and nothing else."""
    if name in self.__dict__ or name not in self.__record_fields__:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")
    object.__setattr__(self, name, value)


def _delattr(self: Any, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: T) -> T:
    """Make ``cls`` a frozen dataclass (see the module's docstring)."""
    own = [name for name in _SHARED if name in cls.__dict__ and not (name == "__hash__" and cls.__dict__[name] is None)]
    if own:
        raise TypeError(f"{cls.__qualname__} defines {', '.join(own)}: use dataclass(frozen=True)")
    dataclass(eq=False, repr=False)(cls)  # the same class, with __init__ and its fields
    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    params.repr = params.eq = params.frozen = True  # what it is: so a frozen dataclass may subclass it, and no other
    every = fields(cls)
    # what the generated __init__ assigns (a field left out of it keeps its class default): nothing else, ever
    cls.__record_fields__ = frozenset(f.name for f in every if f.init or f.default_factory is not MISSING)  # type: ignore[attr-defined]
    cls.__record_compare__ = staticmethod(_key([f.name for f in every if f.compare]))  # type: ignore[attr-defined]
    cls.__record_hash__ = staticmethod(_key([f.name for f in every if (f.compare if f.hash is None else f.hash)]))  # type: ignore[attr-defined]
    cls.__record_repr__ = tuple(f.name for f in every if f.repr)  # type: ignore[attr-defined]
    cls.__eq__ = _eq  # type: ignore[assignment]
    cls.__hash__ = _hash  # type: ignore[assignment]
    cls.__repr__ = _repr  # type: ignore[assignment]
    cls.__setattr__ = _setattr  # type: ignore[assignment]
    cls.__delattr__ = _delattr  # type: ignore[assignment]
    return cls
