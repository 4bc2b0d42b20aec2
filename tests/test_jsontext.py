"""``formats.jsontext.dumps`` writes the characters ``json.dumps(indent=2, ensure_ascii=False)`` writes:
on every fixture's result and SARIF log, and on generated values (escapes, non-ASCII, str and
int enums, special floats, deep nesting), with and without sorted keys."""

from __future__ import annotations

import enum
import json
from typing import Any

import pytest

import permaudit
from permaudit.formats import jsontext, sarif

from .conftest import APKS

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings
from hypothesis import strategies as st


class Colour(str, enum.Enum):
    RED = "red\u202e"


class Level(enum.IntEnum):
    HIGH = 3


def _std(value: object, sort_keys: bool) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=sort_keys)


@pytest.mark.parametrize("apk", sorted(APKS.glob("*.apk")), ids=lambda p: p.name)
def test_every_fixture_result_and_sarif_log_is_written_as_json_writes_it(apk: Any) -> None:
    result = permaudit.audit(apk)
    document = {"results": [result.to_dict()], "schema_version": "2.1"}
    assert jsontext.dumps(document, sort_keys=True) == _std(document, True)
    log = sarif.document([result])
    assert jsontext.dumps(log) == _std(log, False)


leaves = (st.none() | st.booleans() | st.integers() | st.floats() | st.text()
          | st.sampled_from([Colour.RED, Level.HIGH, -0.0, float("inf"), float("-inf"), 10**40, "\x1b[31m\u0000\ud800"]))
values = st.recursive(leaves, lambda inner: st.lists(inner) | st.tuples(inner, inner) | st.dictionaries(st.text(), inner), max_leaves=60)


@settings(max_examples=400, deadline=None)
@given(value=values, sort_keys=st.booleans())
def test_generated_values_are_written_as_json_writes_them(value: object, sort_keys: bool) -> None:
    assert jsontext.dumps(value, sort_keys=sort_keys) == _std(value, sort_keys)


@pytest.mark.parametrize("value", [{1: "a"}, {"a": {1, 2}}, [b"bytes"], object()])
def test_what_json_cannot_write_is_a_type_error(value: object) -> None:
    with pytest.raises(TypeError):
        jsontext.dumps(value)
