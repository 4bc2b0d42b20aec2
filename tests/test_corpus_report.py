"""The corpus report (permaudit.formats.corpus) over a store of real fixture audits: what each
format holds, in English and Chinese, and that hostile strings from an app stay inert (HTML
escaping, Markdown escaping, CSV formula injection)."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

import permaudit
from permaudit.formats.corpus import CORPUS_FORMATS, render_corpus
from permaudit.formats.corpus.csv import COLUMNS, safe
from permaudit.store import Store

from .conftest import fixture

HOSTILE_LABEL = "<script>alert(1)</script> Loan | `tick` \u202eRLO \x1b[31mRED\x1b[0m"
FORMULA = "=HYPERLINK(\"http:\\\\evil\",\"x\")"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    folder = tmp_path_factory.mktemp("corpus")
    opened = Store.open(folder / "corpus.db")
    for name in ("loan_harvest.apk", "hostile_strings.apk", "consent_flow.apk", "paths_flows.apk", "clean_app.apk"):
        result = permaudit.audit(fixture(name))
        assert result.hashes is not None
        opened.record(result, input_sha256=result.hashes.sha256, seconds=0.1)
    junk = folder / "junk.apk"
    junk.write_bytes(b"not a zip")
    failed = permaudit.audit(junk)
    opened.record(failed, input_sha256="f" * 64, seconds=0.0)
    # the same bytes as loan_harvest under a name a spreadsheet would run as a formula
    opened.add_name(FORMULA + ".apk", "89e8a604adb427b7c627d5af0c0b867205210720c591ab72c557deb9f3c982dd")
    yield opened
    opened.close()


def test_formats_and_unknown_format(store: Store) -> None:
    assert set(CORPUS_FORMATS) == {"csv", "html", "markdown"}
    with pytest.raises(ValueError, match="unknown corpus report format"):
        render_corpus(store, "pdf")
    with pytest.raises(ValueError, match="unknown language"):
        render_corpus(store, "html", lang="fr")


def test_html_is_self_contained_and_escapes_hostile_strings(store: Store) -> None:
    page = render_corpus(store, "html")
    assert page.startswith("<!DOCTYPE html>") and "Content-Security-Policy" in page
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Loan | `tick` \\u202eRLO \\x1b[31mRED\\x1b[0m" in page
    assert "\u202e" not in page and "\x1b" not in page
    assert not re.search(r"\b(src|href)\s*=", page), "no external resource, no link"
    assert "@import" not in page and "url(" not in page
    assert FORMULA not in page and html_escaped(FORMULA) in page


def html_escaped(text: str) -> str:
    import html

    return html.escape(text, quote=True)


def test_html_sections_and_charts(store: Store) -> None:
    page = render_corpus(store, "html")
    for title in ("Corpus report: 6 apps", "Summary", "Verdicts per policy", "Cross-app questions", "Apps"):
        assert title in page
    assert page.count("<svg") == 2
    # one stacked bar per policy: cn-lending has one violation (consent_flow), four without a finding
    assert "<title>cn-lending: violation 1</title>" in page and "<title>cn-lending: no finding 4</title>" in page
    assert "<title>complete 5</title>" in page and "<title>failed 1</title>" in page
    for qid in ("contacts-same-host", "shared-certificate", "shared-backend-host", "sdk-reading", "clause-counts"):
        assert f'id="{qid}"' in page
    # the shared debug key names all five fixtures
    assert "21ac232614d742fdc66516987ebe6afadd7f3236fe05d584c1683df35ffe5a08" in page


def test_html_in_chinese(store: Store) -> None:
    page = render_corpus(store, "html", lang="zh")
    assert '<html lang="zh-CN">' in page
    for title in ("语料报告：6 个应用", "摘要", "各政策配置的结论", "跨应用问题", "使用同一签名证书的应用", "违规"):
        assert title in page
    assert "&lt;script&gt;" in page and "<script" not in page.lower()


def test_markdown_escapes_and_has_every_section(store: Store) -> None:
    for lang, title in (("en", "# Corpus report: 6 apps"), ("zh", "# 语料报告：6 个应用")):
        text = render_corpus(store, "markdown", lang=lang)
        assert text.startswith(title)
        assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
        assert "\u202e" not in text and "\x1b" not in text
        assert "### " in text and "`shared-certificate`" in text
    text = render_corpus(store, "markdown")
    rows = [line for line in text.splitlines() if line.startswith(("| `com.example", "| `-`"))]
    assert len(rows) == 6  # one per app in the per-app table
    hostile = next(line for line in rows if "com.example.hostile" in line)
    assert hostile.count(" | ") == 11, "the | in the label cannot split the row"


def test_csv_one_row_per_app_with_injection_guard(store: Store) -> None:
    text = render_corpus(store, "csv")
    table = list(csv.reader(io.StringIO(text)))
    header, rows = table[0], table[1:]
    assert tuple(header[: len(COLUMNS)]) == COLUMNS
    assert header[len(COLUMNS):] == [f"verdict:{p}" for p in ("cn-lending", "google-play-contacts", "google-play-personal-loans",
                                                            "id-ojk", "in-rbi-digital-lending", "ke-dcp", "ng-fccpc", "ph-sec")]
    assert len(rows) == 6
    by_package = {r[header.index("package")]: dict(zip(header, r)) for r in rows}
    assert set(by_package) == {"com.example.loanharvest", "com.example.hostile", "com.example.fx.consent", "com.example.fx.paths",
                               "com.example.cleanapp", ""}
    loan = by_package["com.example.loanharvest"]
    assert loan["status"] == "complete" and loan["certificate_sha256"].startswith("21ac232614d7")
    assert loan["contacts_reads"] == "1" and loan["verdict:google-play-contacts"] == "info"
    assert loan["other_names"] == "'" + FORMULA + ".apk"
    assert by_package["com.example.fx.paths"]["contacts_destinations"] == "api.pathsfixturedemo.com pathsfixturedemo.com upload.pathsfixturedemo.com"
    assert by_package["com.example.fx.consent"]["verdict:cn-lending"] == "violation"
    assert by_package["com.example.hostile"]["label"] == "<script>alert(1)</script> Loan | `tick` \\u202eRLO \\x1b[31mRED\\x1b[0m"
    assert by_package[""]["status"] == "failed" and by_package[""]["verdict:cn-lending"] == ""
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    assert render_corpus(store, "csv", lang="zh") == text


def test_csv_guard_cell_by_cell() -> None:
    assert safe("=1+2") == "'=1+2"
    assert safe("+1") == "'+1" and safe("-1") == "'-1" and safe("@SUM(A1)") == "'@SUM(A1)"
    assert safe("\tx") == "\\x09x"  # a tab is written out by visible first: no cell starts with one
    assert safe("com.example") == "com.example" and safe(None) == "" and safe(3) == "3"


def test_csv_guard_on_a_path_recorded_as_a_formula(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    name = "=cmd|' -C calc'!A0.apk"
    (tmp_path / name).write_bytes(fixture("clean_app.apk").read_bytes())
    result = permaudit.audit(name)
    assert result.path == name
    with Store.open(tmp_path / "s.db") as store:
        store.record(result, input_sha256=result.hashes.sha256, seconds=0.1)
        rows = list(csv.DictReader(io.StringIO(render_corpus(store, "csv"))))
    assert rows[0]["path"] == "'" + name


def test_empty_store_renders(tmp_path: Path) -> None:
    with Store.open(tmp_path / "empty.db") as empty:
        for fmt in CORPUS_FORMATS:
            for lang in ("en", "zh"):
                assert render_corpus(empty, fmt, lang=lang)
        assert render_corpus(empty, "csv").count("\n") == 1
