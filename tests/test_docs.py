"""docs/ must explain every problem code, site kind, data category and output format the code can produce."""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
from pathlib import Path

import pytest

from permaudit import model
from permaudit.cli import main
from permaudit.data import category_order, load
from permaudit.formats import FORMATS

from .conftest import ROOT

DOCS = ROOT / "docs"


def documented(page: str) -> set[str]:
    """Values written as the first cell of a table row: | `code` | ..."""
    return set(re.findall(r"^\| `([^`]+)` \|", (DOCS / page).read_text(encoding="utf-8"), re.MULTILINE))


def test_every_problem_code_is_documented() -> None:
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "permaudit").rglob("*.py"))
    codes = set(re.findall(r'(?:Problem\(|stopped\([\w.]+,)\s*"([a-z-]+)"', source))
    assert len(codes) >= 15
    assert codes - documented("problems.md") == set()


def test_every_site_kind_is_documented() -> None:
    apis = load("apis")
    kinds = {e["kind"] for e in apis["query_apis"] + apis["data_apis"]} - {"query"} | {"bulk", "lookup", "picker"}
    assert kinds - documented("facts.md") == set()


def test_every_category_is_documented() -> None:
    apis = load("apis")
    categories = {e["category"] for e in apis["uri_fields"] + apis["uri_strings"] + apis["data_apis"]}
    facts = (DOCS / "facts.md").read_text(encoding="utf-8")
    assert {c for c in categories if f"`{c}`" not in facts} == set()
    assert set(category_order()) >= categories


def test_every_format_is_documented() -> None:
    text = (DOCS / "output-formats.md").read_text(encoding="utf-8")
    assert {name for name in FORMATS if f"## `{name}`" not in text} == set()


def shown_runs() -> list[tuple[str, str, str]]:
    """(page, command lines, output) of every code block in README.md and docs/ that starts with
    ``$ permaudit``; a block may hold several commands, each followed by its own output."""
    runs = []
    for page in [ROOT / "README.md", *sorted(DOCS.glob("**/*.md"))]:
        for block in re.findall(r"^```[a-z]*\n(.*?)^```", page.read_text(encoding="utf-8"), re.MULTILINE | re.DOTALL):
            if block.startswith("$ permaudit "):
                runs.append((page.name, "\n".join(re.findall(r"^\$ (permaudit .*)$", block, re.MULTILINE)), block))
    return runs


def test_docs_show_runs() -> None:
    pages = {page for page, _, _ in shown_runs()}
    assert {"README.md", "output-formats.md", "batch.md", "store.md"} <= pages


@pytest.mark.parametrize(("page", "commands", "shown"), shown_runs(), ids=[f"{page}:{commands}" for page, commands, _ in shown_runs()])
def test_every_run_shown_in_the_docs_is_the_real_output(page: str, commands: str, shown: str, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Each command's stdout, in order, is what the block shows after it. A block that writes a
    results store (``--db``) runs in an empty folder beside a link to ``fixtures/``."""
    if "--db" in commands:
        (tmp_path / "fixtures").symlink_to(ROOT / "fixtures")
        monkeypatch.chdir(tmp_path)
    else:
        monkeypatch.chdir(ROOT)
    real = ""
    for command in commands.splitlines():
        main(shlex.split(command)[1:])
        real += f"$ {command}\n" + capsys.readouterr().out
    assert real == shown


def json_keys(value: object) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in json_keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in json_keys(v)}
    return set()


def test_every_field_in_the_json_is_documented_and_every_documented_field_exists(capsys: pytest.CaptureFixture[str]) -> None:
    """facts.md and problems.md name every key the JSON has, and name no key it lacks."""
    fixtures = sorted(str(p) for p in (ROOT / "fixtures" / "apk").iterdir())
    main(["audit", *fixtures, "--format", "json"])
    keys = json_keys(json.loads(capsys.readouterr().out)) | {
        f.name for cls in vars(model).values() if dataclasses.is_dataclass(cls) for f in dataclasses.fields(cls)
    }
    text = "".join((DOCS / page).read_text(encoding="utf-8") for page in ("facts.md", "problems.md", "output-formats.md", "endpoints.md", "attribution.md", "paths.md", "reach.md", "findings.md", "category.md"))
    assert {k for k in keys if f"`{k}`" not in text and f"`{k}[]" not in text and f".{k}`" not in text} == set()
    listed = set(re.findall(r"^\| `([a-z_]+)`", (DOCS / "facts.md").read_text(encoding="utf-8"), re.MULTILINE))
    values = {v for v in listed if v in documented("facts.md") and not v.islower()}
    assert listed - keys - values - _documented_values() == set()


def _documented_values() -> set[str]:
    """First cells of facts.md tables that are values, not fields (kinds, categories, definers)."""
    apis = load("apis")
    kinds = {e["kind"] for e in apis["query_apis"] + apis["data_apis"]} | {"bulk", "lookup", "picker", "loader", "reflection"}
    return kinds | set(category_order()) | {d.value for d in model.PermissionDefiner}
