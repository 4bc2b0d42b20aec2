"""Indented JSON text, the same characters ``json.dumps(value, indent=2, ensure_ascii=False)`` writes.

Why not ``json.dumps`` itself: with ``indent`` it falls back to the standard library's pure-Python
encoder, which passes every piece of text up through one generator per level of nesting; for a
result of a few hundred KB that was 7-12 ms of every ``--format json`` run, against about
2.5 ms here (each piece appended once; strings escaped by the same C function ``json`` uses).
The values are what ``AuditResult.to_dict`` and the formats build: dicts with string keys,
lists, tuples, strings, ints, floats, booleans and None (subclasses such as str enums are
written as their base type, as ``json`` writes them). Anything else is a TypeError, a
non-string key included (``json`` would convert it; nothing here makes one).
``tests/test_jsontext.py`` checks the text is ``json.dumps``'s, byte for byte.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from json.encoder import encode_basestring

_STEP = "  "


def dumps(value: object, *, sort_keys: bool = False) -> str:
    """``json.dumps(value, indent=2, ensure_ascii=False, sort_keys=sort_keys)``."""
    out: list[str] = []
    _write(value, out.append, "\n", sort_keys)
    return "".join(out)


def _write(value: object, put: Callable[[str], None], newline: str, sort_keys: bool) -> None:
    kind = type(value)
    if kind is str or (kind not in _PLAIN and isinstance(value, str)):  # a str enum is its text, as for json
        put(encode_basestring(value))  # type: ignore[arg-type]
    elif kind is dict or (kind not in _PLAIN and isinstance(value, dict)):
        _object(value, put, newline, sort_keys)  # type: ignore[arg-type]
    elif kind is list or kind is tuple or (kind not in _PLAIN and isinstance(value, (list, tuple))):
        _array(value, put, newline, sort_keys)  # type: ignore[arg-type]
    elif value is None:
        put("null")
    elif value is True:
        put("true")
    elif value is False:
        put("false")
    elif isinstance(value, int):
        put(int.__repr__(value))
    elif isinstance(value, float):
        put(_number(value))
    else:
        raise TypeError(f"Object of type {kind.__name__} is not JSON serializable")


_PLAIN = frozenset({str, dict, list, tuple, int, float, bool, type(None)})


def _object(items: dict[str, object], put: Callable[[str], None], newline: str, sort_keys: bool) -> None:
    if not items:
        put("{}")
        return
    inner = newline + _STEP
    before = "{" + inner
    for key in sorted(items) if sort_keys else items:
        if not isinstance(key, str):
            raise TypeError(f"keys must be str, not {type(key).__name__}")
        put(before)
        put(encode_basestring(key))
        put(": ")
        _write(items[key], put, inner, sort_keys)
        before = "," + inner
    put(newline + "}")


def _array(sequence: list[object] | tuple[object, ...], put: Callable[[str], None], newline: str, sort_keys: bool) -> None:
    if not sequence:
        put("[]")
        return
    inner = newline + _STEP
    before = "[" + inner
    for item in sequence:
        put(before)
        _write(item, put, inner, sort_keys)
        before = "," + inner
    put(newline + "]")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)
