"""``model.record.record`` behaves as ``dataclass(frozen=True)``: the same equality, hash, repr,
immutability, pickling, ``replace`` and ``asdict``, field options included; and every result
class made with it is one."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import sys
from dataclasses import FrozenInstanceError, dataclass, field

import pytest

import permaudit
from permaudit.model.record import record

from .conftest import fixture


def _pair(post_init: bool = False) -> tuple[type, type]:
    """The same class made by ``record`` and by ``dataclass(frozen=True)``."""

    def body() -> dict[str, object]:
        namespace: dict[str, object] = {
            "__annotations__": {"name": "str", "size": "int", "tags": "tuple[str, ...]", "note": "str", "cache": "dict[str, int]", "hidden": "int"},
            "size": 0,
            "tags": (),
            "note": field(default="", compare=False),
            "cache": field(default_factory=dict, compare=False, hash=False, repr=False),
            "hidden": field(default=7, repr=False, init=False),
            "__module__": __name__,
        }
        if post_init:
            namespace["__post_init__"] = lambda self: object.__setattr__(self, "name", self.name.upper())
        return namespace

    return record(type("Thing", (), body())), dataclass(frozen=True)(type("Thing", (), body()))


@pytest.mark.parametrize("post_init", [False, True])
def test_a_record_compares_hashes_and_shows_itself_as_a_frozen_dataclass(post_init: bool) -> None:
    ours, theirs = _pair(post_init)
    a, b = ours("x", 1, ("t",), note="one"), ours("x", 1, ("t",), note="two")
    c, d = theirs("x", 1, ("t",), note="one"), theirs("x", 1, ("t",), note="two")
    assert (a == b, a != b, hash(a) == hash(b), repr(a)) == (c == d, c != d, hash(c) == hash(d), repr(c))
    assert a != ours("x", 2) and a != c and c != a  # another class, even with the same fields, is never equal
    assert a.__match_args__ == c.__match_args__ and [f.name for f in dataclasses.fields(a)] == [f.name for f in dataclasses.fields(c)]
    assert dataclasses.asdict(a) == dataclasses.asdict(c) and dataclasses.astuple(a) == dataclasses.astuple(c)
    assert dataclasses.replace(a, size=5) == ours(a.name, 5, ("t",)) and dataclasses.replace(a, size=5).hidden == 7


def test_a_record_cannot_be_changed_once_built() -> None:
    ours, _ = _pair()
    thing = ours("x")
    for name in ("name", "size", "note", "hidden", "new_attribute"):
        with pytest.raises(FrozenInstanceError):
            setattr(thing, name, 1)
        with pytest.raises(FrozenInstanceError):
            delattr(thing, name)
    assert (thing.name, thing.size, thing.hidden) == ("x", 0, 7) and not hasattr(thing, "new_attribute")


def test_a_record_survives_pickle_and_copy() -> None:
    result = permaudit.audit(fixture("loan_harvest.apk"))
    for again in (pickle.loads(pickle.dumps(result)), copy.copy(result), copy.deepcopy(result)):
        assert again == result and hash(again.artifacts[0]) == hash(result.artifacts[0]) and again.to_dict() == result.to_dict()
        with pytest.raises(FrozenInstanceError):
            again.path = "elsewhere"  # type: ignore[misc]


def test_a_class_with_its_own_comparison_is_refused() -> None:
    with pytest.raises(TypeError, match="defines __eq__"):
        record(type("Own", (), {"__annotations__": {"a": "int"}, "__eq__": lambda self, other: True, "__module__": __name__}))


def test_every_frozen_result_class_is_a_record_or_a_frozen_dataclass() -> None:
    """What ``record`` replaced still refuses changes, class by class."""
    seen = 0
    for name, module in list(sys.modules.items()):
        if not name.startswith("permaudit"):
            continue
        for value in vars(module).values():
            if isinstance(value, type) and dataclasses.is_dataclass(value) and value.__module__ == name and hasattr(value, "__record_fields__"):
                seen += 1
                assert value.__setattr__ is not object.__setattr__ and value.__hash__ is not None, value
    assert seen >= 60


def test_a_frozen_dataclass_may_subclass_a_record_and_a_mutable_one_may_not() -> None:
    from permaudit.model import Problem

    @dataclass(frozen=True)
    class Mine(Problem):
        extra: str = ""

    mine = Mine("code", "message\x1b", extra="x")
    assert mine == Mine("code", "message\x1b", extra="x") != Mine("code", "message", extra="y")
    assert mine.message == "message\\x1b" and hash(mine) == hash(Mine("code", "message\x1b", extra="x"))
    assert repr(mine).startswith("test_a_frozen_dataclass_may_subclass_a_record_and_a_mutable_one_may_not.<locals>.Mine(code='code'")
    with pytest.raises(FrozenInstanceError):
        mine.extra = "y"  # type: ignore[misc]
    with pytest.raises(TypeError, match="non-frozen"):
        dataclass(type("Loose", (Problem,), {"__annotations__": {"extra": "str"}, "extra": "", "__module__": __name__}))
