"""docs/schema/permaudit-result-2.json describes the `--format json` document exactly.

The schema is committed, reviewed and readable (descriptions from the dataclasses' field
docstrings); these tests keep it honest: the output of every fixture and of the corpus
validates against it, and its shape is the shape the dataclasses imply, so a field added to
a dataclass without the schema (or typed differently there) fails here, naming the field.
``python3 -m tests.test_json_schema`` prints the schema the dataclasses imply, with
descriptions, to copy from when a field is added.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import inspect
import itertools
import json
import textwrap
import types
import typing
from pathlib import Path
from typing import Any

import pytest

import permaudit.model
from permaudit.audit import audit_all
from permaudit.cli import main
from permaudit.formats import render
from permaudit.model import SCHEMA_VERSION, AuditResult

from .conftest import APKS, CORPUS, ROOT

SCHEMA_FILE = ROOT / "docs" / "schema" / "permaudit-result-2.json"
FIXTURES = sorted(str(p) for p in APKS.iterdir())


def load_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return schema


@pytest.fixture(scope="module")
def validator() -> Any:
    import jsonschema

    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def assert_valid(validator: Any, document: object) -> None:
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    assert [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in errors[:10]] == []


# --- the shape the dataclasses imply --------------------------------------------------------


def implied(describe: bool = False) -> dict[str, Any]:
    """``$defs`` for ``AuditResult`` and everything it holds, from the dataclasses' type hints."""
    defs: dict[str, Any] = {}

    def of(tp: Any) -> dict[str, Any]:
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin in (typing.Union, types.UnionType):
            (inner,) = [a for a in args if a is not type(None)]
            schema = of(inner)
            if set(schema) == {"type"} and isinstance(schema["type"], str):
                return {"type": [schema["type"], "null"]}
            return {"anyOf": [schema, {"type": "null"}]}
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": of(args[0])}
        if origin is dict:
            return {"type": "object", "additionalProperties": of(args[1])}
        simple = {str: "string", bool: "boolean", int: "integer", float: "number"}
        if tp in simple:
            return {"type": simple[tp]}
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            if tp.__name__ not in defs:
                defs[tp.__name__] = {**_doc(tp, describe), "enum": [m.value for m in tp]}
            return {"$ref": f"#/$defs/{tp.__name__}"}
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            add(tp)
            return {"$ref": f"#/$defs/{tp.__name__}"}
        raise TypeError(f"no JSON Schema for {tp!r}")

    def add(cls: type) -> None:
        if cls.__name__ in defs:
            return
        defs[cls.__name__] = {}
        hints = typing.get_type_hints(cls, localns=vars(permaudit.model))
        notes = _field_docs(cls) if describe else {}
        fields = dataclasses.fields(cls)
        properties = {f.name: {**({"description": notes[f.name]} if f.name in notes else {}), **of(hints[f.name])} for f in fields}
        defs[cls.__name__] = {
            **_doc(cls, describe),
            "type": "object",
            "required": [f.name for f in fields],
            "properties": properties,
            "additionalProperties": False,
        }

    add(AuditResult)
    defs["AuditResult"]["properties"]["schema_version"] = {"const": SCHEMA_VERSION}
    return dict(sorted(defs.items()))


def _doc(cls: type, describe: bool) -> dict[str, str]:
    return {"description": _clean(cls.__doc__ or "")} if describe and cls.__doc__ else {}


def _clean(text: str) -> str:
    return " ".join(text.split()).replace("``", "`")


def _field_docs(cls: type) -> dict[str, str]:
    """Field -> the docstring written under it in the class body."""
    body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0].body  # type: ignore[attr-defined]
    docs = {}
    for node, after in itertools.pairwise(body):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str):
            docs[node.target.id] = _clean(after.value.value)
    return docs


def _shape(value: Any) -> Any:
    """A schema without its descriptions and comments: what the tests compare."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items() if k not in ("description", "$comment", "title", "examples")}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return value


# --- tests ------------------------------------------------------------------------------------


def test_the_schema_is_a_valid_2020_12_schema() -> None:
    import jsonschema

    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_schema_version_is_the_one_the_code_writes() -> None:
    schema = load_schema()
    assert schema["properties"]["schema_version"]["const"] == SCHEMA_VERSION
    assert schema["$defs"]["AuditResult"]["properties"]["schema_version"]["const"] == SCHEMA_VERSION
    assert SCHEMA_VERSION.split(".")[0] == SCHEMA_FILE.stem.rsplit("-", 1)[1]


def test_every_dataclass_field_is_in_the_schema() -> None:
    defs = load_schema()["$defs"]
    want = implied()
    missing = sorted(f"{name}.{field}" for name, d in want.items() for field in d.get("properties", {}) if field not in defs.get(name, {}).get("properties", {}))
    assert missing == [], f"add these fields to {SCHEMA_FILE.relative_to(ROOT)} (python3 -m tests.test_json_schema prints them)"
    extra = sorted(f"{name}.{field}" for name, d in defs.items() for field in d.get("properties", {}) if field not in want.get(name, {}).get("properties", {}))
    assert extra == [], "the schema names fields no dataclass has"
    assert sorted(set(want) - set(defs)) == [] and sorted(set(defs) - set(want)) == []


@pytest.mark.parametrize("name", sorted(implied()))
def test_each_definition_has_the_shape_of_its_dataclass(name: str) -> None:
    assert _shape(load_schema()["$defs"][name]) == _shape(implied()[name])


def test_the_schema_is_readable() -> None:
    """Reviewed by people: every object says what it is, and the file is indented JSON."""
    text = SCHEMA_FILE.read_text(encoding="utf-8")
    schema = json.loads(text)
    assert text == json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    assert [n for n, d in schema["$defs"].items() if not d.get("description")] == []


@pytest.mark.parametrize("category", ["lending", None])
def test_every_fixture_validates(validator: Any, category: str | None) -> None:
    results = list(audit_all(FIXTURES, category=category))
    assert_valid(validator, json.loads(render(results, "json", timestamp="2026-11-30T12:00:00+00:00")))


def test_manifest_only_and_failed_inputs_validate(validator: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "empty.apk").write_bytes(b"")
    (tmp_path / "junk.apk").write_text("not an apk")
    main(["audit", str(tmp_path), *FIXTURES[:3], "--manifest-only", "--format", "json"])
    document = json.loads(capsys.readouterr().out)
    assert {r["status"] for r in document["results"]} >= {"failed", "complete"}
    assert_valid(validator, document)


def test_the_corpus_validates(validator: Any) -> None:
    if not CORPUS.exists():
        pytest.skip(f"third-party corpus not present at {CORPUS} (it lives in ../shared, never in the repo)")
    paths = sorted(str(p) for p in (CORPUS / "apk").glob("*.apk")) + sorted(str(p) for p in (CORPUS / "dex").iterdir() if p.is_dir())
    assert_valid(validator, json.loads(render(list(audit_all(paths, category="lending")), "json")))


def test_the_schema_rejects_what_the_tool_never_writes(validator: Any) -> None:
    document = json.loads(render(list(audit_all([FIXTURES[0]])), "json"))
    assert_valid(validator, document)
    document["results"][0]["surprise"] = 1
    assert list(validator.iter_errors(document))
    del document["results"][0]["surprise"]
    document["results"][0]["status"] = "fine"
    assert list(validator.iter_errors(document))


if __name__ == "__main__":  # print the schema the dataclasses imply, descriptions included
    current = load_schema()
    print(json.dumps({**current, "$defs": implied(describe=True)}, indent=2, ensure_ascii=False))


@pytest.mark.parametrize("name", ["loan_harvest.apk", "paths_flows.apk", "loan_bundle.xapk"])
def test_to_dict_holds_plain_json_values_only(name: str) -> None:
    """Every value ``to_dict`` gives is a dict, list or exact JSON scalar type: each enum (most are
    ``str`` subclasses, so a type test that let ``str`` through would keep them) becomes its value."""
    result = permaudit.audit(APKS / name)
    assert result.findings and result.code is not None and result.code.sites

    def walk(value: Any, where: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                assert type(key) is str, where
                walk(item, f"{where}.{key}")
        elif isinstance(value, list):
            for k, item in enumerate(value):
                walk(item, f"{where}[{k}]")
        else:
            assert type(value) in (str, int, float, bool, type(None)), f"{where}: {type(value).__name__}"

    plain = result.to_dict()
    walk(plain, "result")
    assert plain["status"] == result.status.value and plain["findings"][0]["severity"] == result.findings[0].severity.value
