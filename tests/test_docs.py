"""docs/ must explain every problem code, site kind, data category and output format the code can produce."""

from __future__ import annotations

import re

import pytest

from permaudit.cli import main
from permaudit.data import category_order, load
from permaudit.formats import FORMATS

from .conftest import ROOT

DOCS = ROOT / "docs"


def documented(page: str) -> set[str]:
    """Values written as the first cell of a table row: | `code` | ..."""
    return set(re.findall(r"^\| `([^`]+)` \|", (DOCS / page).read_text(encoding="utf-8"), re.M))


def test_every_problem_code_is_documented() -> None:
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "permaudit").rglob("*.py"))
    codes = set(re.findall(r'Problem\(\s*"([a-z-]+)"', source))
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


def test_readme_first_run_is_the_real_output(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    command = "$ permaudit audit fixtures/apk/loan_harvest.apk\n"
    shown = readme.split(command, 1)[1].split("```", 1)[0]
    monkeypatch.chdir(ROOT)
    assert main(["audit", "fixtures/apk/loan_harvest.apk"]) == 0
    assert capsys.readouterr().out == shown
