"""The human reports (table, markdown, html): exact content for loan_harvest in English and
Chinese, clause text by verification level, evidence chains and disassembly, every finding type
in every format, and hostile strings escaped for each format."""

from __future__ import annotations

import html
import json
import re

import pytest

import permaudit
from permaudit.formats import FORMATS, render
from permaudit.formats import report as rep
from permaudit.policy import profile

from .conftest import ROOT

APK = ROOT / "fixtures" / "apk"


@pytest.fixture(scope="module")
def loan() -> permaudit.AuditResult:
    return permaudit.audit(APK / "loan_harvest.apk", category="lending")


@pytest.fixture(scope="module")
def hostile() -> permaudit.AuditResult:
    return permaudit.audit(APK / "hostile_strings.apk", category="lending")


@pytest.fixture(scope="module")
def reports(loan: permaudit.AuditResult) -> dict[tuple[str, str], str]:
    excerpts = rep.excerpts(loan)
    return {(fmt, lang): render([loan], fmt, lang=lang, excerpts=excerpts) for fmt in ("markdown", "html", "table") for lang in ("en", "zh")}


ANSWER_EN = [
    ("can read contacts", "yes: android.permission.READ_CONTACTS (dangerous), device API 21+"),
    ("reads contacts", "bulk in 1 method"),
    ("sends them", "no endpoint tied to the send call; by network (1 send call)"),
    ("whose code", "first-party (1 read)"),
    ("lending app", "yes, stated (--category lending): lending-only verdicts apply"),
    ("verdicts", ("cn-lending: violation (8), google-play-contacts: info (1), google-play-personal-loans: violation (4), id-ojk: violation (7), "
                  "in-rbi-digital-lending: violation (5), ke-dcp: warning (2), ng-fccpc: warning (2), ph-sec: violation (3)")),
]
ANSWER_ZH = [
    ("能否读取通讯录", "能：android.permission.READ_CONTACTS（dangerous），设备 API 21+"),
    ("是否读取通讯录", "bulk，1 个方法"),
    ("发送到哪里", "未找到与发送调用关联的端点；经由 network（1 个发送调用）"),
    ("谁的代码", "first-party (1 处读取)"),
    ("借贷应用", "是，调用方已声明（--category lending）：适用仅针对借贷应用的结论"),
    ("结论", ("cn-lending: 违规 (8), google-play-contacts: 提示 (1), google-play-personal-loans: 违规 (4), id-ojk: 违规 (7), "
              "in-rbi-digital-lending: 违规 (5), ke-dcp: 警告 (2), ng-fccpc: 警告 (2), ph-sec: 违规 (3)")),
]


def md_escape(value: str) -> str:
    return re.sub(r"([\\`*_\[\]#!|~])", r"\\\1", value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_answer_comes_first(reports: dict[tuple[str, str], str], lang: str) -> None:
    lines = ANSWER_EN if lang == "en" else ANSWER_ZH
    page = reports[("html", lang)]
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in lines)
    assert f'<table class="answer">{rows}</table>' in page
    assert page.index('class="answer"') < page.index('class="kv"')  # before the identity
    md = reports[("markdown", lang)]
    assert "\n".join(f"| **{md_escape(k)}** | {md_escape(v)} |" for k, v in lines) in md
    table = reports[("table", lang)]
    body = table.split("\n\n")[1].splitlines()
    assert [line.split("  ", 1)[0] for line in body] == [k for k, _ in lines]
    assert [line.split("  ", 1)[1].strip() for line in body] == [v for _, v in lines]


def test_no_profile_applied_is_said() -> None:
    result = permaudit.audit(APK / "loan_harvest.apk", policies=())
    assert rep.answer(result)[-1] == ("verdicts", "no profile applied")
    assert "结论            未应用任何政策配置" in render([result], "table", lang="zh")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_identity_hashes_and_certificates(reports: dict[tuple[str, str], str], loan: permaudit.AuditResult, lang: str) -> None:
    assert loan.hashes is not None and loan.signing is not None
    for fmt in ("markdown", "html"):
        page = reports[(fmt, lang)]
        for value in (loan.hashes.sha256, loan.hashes.sha1, loan.hashes.md5, "com.example.loanharvest", "QuickCash Loan", "2.3.1 (7)",
                      loan.signing.certificates[0].sha256):
            assert value in page, (fmt, value)
    assert "<tr><th>signature v2</th><td><code>verified</code></td></tr>" in reports[("html", "en")]
    assert "<tr><th>签名 v3.1</th><td><code>不存在</code></td></tr>" in reports[("html", "zh")]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_primary_clause_is_quoted_verbatim(reports: dict[tuple[str, str], str], lang: str) -> None:
    clause = profile("cn-lending").clause("cn-pipl-6")
    assert clause.level.value == "P" and "\n" in clause.text
    label = "primary source, quoted verbatim" if lang == "en" else "一手来源，原文照录"
    page = reports[("html", lang)]
    block = page[page.index('id="clause-cn-pipl-6"'):]
    block = block[: block.index("</div>")]
    assert f'<blockquote lang="zh">{html.escape(clause.text)}</blockquote>' in block
    assert label in block and clause.citation.get(lang) in block and "2021-11-01" in block
    md = reports[("markdown", lang)]
    assert "\n>\n".join(f"> {md_escape(line)}" for line in clause.text.split("\n")) in md


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_secondary_clause_is_labelled_secondary(reports: dict[tuple[str, str], str], lang: str) -> None:
    clause = profile("cn-lending").clause("cn-necessary-pi-2021-4")
    assert clause.level.value == "S"
    label = "secondary source (not verified against the official text)" if lang == "en" else "二手来源（未与官方文本核对）"
    page = reports[("html", lang)]
    block = page[page.index('id="clause-cn-necessary-pi-2021-4"'):]
    block = block[: block.index("</div>")]
    assert f'<span class="level">{html.escape(label)}</span>' in block and html.escape(clause.text) in block
    assert f"`cn-necessary-pi-2021-4`: *{md_escape(label)}*" in reports[("markdown", lang)]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_unverified_clause_shows_its_citation_and_no_text(reports: dict[tuple[str, str], str], lang: str) -> None:
    clause = profile("cn-lending").clause("cn-civil-code-1034")
    assert clause.level.value == "U" and clause.text == ""
    label = "text not verified" if lang == "en" else "文本未经核实"
    for fmt in ("html", "markdown"):
        page = reports[(fmt, lang)]
        assert clause.citation.get(lang) in page
        assert label in page
        for words in (clause.gloss_en, clause.gloss_zh, clause.note):
            assert not words or words not in page  # nothing that reads as the clause's wording
    page = reports[("html", lang)]
    block = page[page.index('id="clause-cn-civil-code-1034"'):]
    assert "<blockquote" not in block[: block.index("</div>")]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_evidence_chain_from_read_to_send_with_offsets(reports: dict[tuple[str, str], str], lang: str) -> None:
    steps = [
        "com.example.loanharvest.ContactsUploader.collect@0x11",
        "com.example.loanharvest.ContactsUploader.collect@0x47（return）" if lang == "zh" else "com.example.loanharvest.ContactsUploader.collect@0x47 (return)",
        "com.example.loanharvest.ContactsUploader.run@0x4（call）" if lang == "zh" else "com.example.loanharvest.ContactsUploader.run@0x4 (call)",
        "HttpURLConnection.getOutputStream（network），位于 com.example.loanharvest.ContactsUploader.upload@0x1d" if lang == "zh"
        else "HttpURLConnection.getOutputStream (network) at com.example.loanharvest.ContactsUploader.upload@0x1d",
        "路径上未出现端点" if lang == "zh" else "no endpoint named on the path",
    ]
    page = reports[("html", lang)]
    sent = page[page.index("<code>contacts.sent</code></h3>"):]
    sent = sent[: sent.index("</ol>")]
    found = [m for m in re.findall(r'<span class="role">[^<]*</span> <code>([^<]*)</code>', sent)]
    assert found == [html.escape(s) for s in steps]
    md = reports[("markdown", lang)]
    sent_md = md[md.index("`contacts.sent`"):]
    positions = [sent_md.index(f"`{s}`") for s in steps]
    assert positions == sorted(positions)


def test_disassembly_around_each_step(reports: dict[tuple[str, str], str]) -> None:
    listing = (
        "   ```smali\n"
        "     000e: const/4 v4, 0x0\n"
        "     000f: const/4 v5, 0x0\n"
        "     0010: const/4 v6, 0x0\n"
        "   > 0011: invoke-virtual/range {v1, v2, v3, v4, v5, v6}, Landroid/content/ContentResolver;->query(Landroid/net/Uri;[Ljava/lang/String;"
        "Ljava/lang/String;[Ljava/lang/String;Ljava/lang/String;)Landroid/database/Cursor;\n"
        "     0014: move-result-object v1\n"
        "     0015: if-eqz v1, :0047\n"
        "     0017: invoke-interface {v1}, Landroid/database/Cursor;->moveToNext()Z\n"
        "   ```"
    )
    assert listing in reports[("markdown", "en")]
    page = reports[("html", "zh")]
    assert ('<span class="cited">&gt; 001d: invoke-virtual {v0}, Ljava/net/HttpURLConnection;-&gt;getOutputStream()Ljava/io/OutputStream;</span>'
            "  0020: move-result-object v1\n") in page
    assert "  0003: move-result-object v0\n<span class=\"cited\">&gt; 0004: invoke-direct {v2, v0}, Lcom/example/loanharvest/ContactsUploader;-&gt;upload" in page


def test_how_to_verify_by_hand(reports: dict[tuple[str, str], str], loan: permaudit.AuditResult) -> None:
    md = reports[("markdown", "en")]
    path = loan.path
    assert " " not in path and "'" not in path
    for command in (f"apksigner verify --print-certs -v {path}", f"aapt dump permissions {path}", f"baksmali d --code-offsets {path} -o smali-out",
                    f"unzip -o {path} classes.dex -d dex-out && dexdump -d dex-out/classes.dex"):
        assert f"`{command}`" in md
        assert f"<pre>{html.escape(command)}</pre>" in reports[("html", "zh")]
    assert ("<tr><td><code>classes.dex</code></td><td><code>Lcom/example/loanharvest/ContactsUploader;</code></td>"
            "<td><code>collect()Lorg/json/JSONArray;</code></td><td><code>0x11</code></td>") in reports[("html", "en")]


def test_table_findings_section_and_chinese_messages(reports: dict[tuple[str, str], str], loan: permaudit.AuditResult) -> None:
    en, zh = reports[("table", "en")], reports[("table", "zh")]
    assert f"Findings ({len(loan.findings)})" in en and f"发现（{len(loan.findings)}）" in zh
    for finding in loan.findings:
        assert finding.message in en and finding.message_zh in zh
    assert "com.example.loanharvest.ContactsUploader.collect@0x11" in en
    assert "Lcom/example/loanharvest/ContactsUploader;->collect()Lorg/json/JSONArray; @0x11" not in en.split("Findings (")[1].split("\n\n")[1:]


def test_table_wraps_to_the_width_given(loan: permaudit.AuditResult) -> None:
    wide = render([loan], "table", width=0)
    narrow = render([loan], "table", width=120)
    assert max(len(line) for line in wide.splitlines()) > 200
    assert max(len(line) for line in narrow.splitlines()) <= 120
    answer_narrow, answer_wide = narrow.split("\n\n")[1], wide.split("\n\n")[1]
    assert answer_narrow.count("\n") > answer_wide.count("\n") and answer_narrow.split() == answer_wide.split()
    assert render([loan], "table") == wide  # not a terminal: never wrapped, the same bytes everywhere


def _all_results() -> list[permaudit.AuditResult]:
    return [permaudit.audit(p, category="lending") for p in sorted(APK.iterdir())]


@pytest.fixture(scope="module")
def everything() -> list[permaudit.AuditResult]:
    return _all_results()


def test_every_finding_type_renders_in_every_format(everything: list[permaudit.AuditResult]) -> None:
    rules = {f.rule for r in everything for f in r.findings}
    types = {rule.split(".", 1)[1] for rule in rules}
    assert {"declared", "declared-unused", "prohibited-permission", "requested", "bulk-read", "sent"} <= types
    for fmt in sorted(FORMATS):
        for lang in ("en", "zh"):
            for result in everything:
                if not result.findings:
                    continue
                out = render([result], fmt, lang=lang, excerpts={})
                missing = {f.rule for f in result.findings if f.rule not in out}
                assert missing == set(), (fmt, lang, result.path)


def _cells(row: str) -> int:
    return len(re.split(r"(?<!\\)\|", row.strip())) - 2


def _outside_code(md: str) -> str:
    """Markdown with fenced blocks and inline code spans removed (their content is shown as text by CommonMark)."""
    md = re.sub(r"^( *)(`{3,})[^\n]*\n.*?^\1\2 *$", "", md, flags=re.MULTILINE | re.DOTALL)
    return re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "", md)


def test_an_unknown_format_is_refused_by_name(hostile: permaudit.AuditResult) -> None:
    """Formats are imported by name: a name outside FORMATS (a path, a dunder) never reaches the import."""
    for name in ("pdf", "__init__", "corpus.html", "../json"):
        with pytest.raises(ValueError, match=f"unknown format {re.escape(repr(name))}"):
            render([hostile], name)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_hostile_strings_are_escaped_for_every_format(hostile: permaudit.AuditResult, fmt: str, lang: str) -> None:
    assert hostile.manifest is not None
    assert hostile.manifest.label == "<script>alert(1)</script> Loan | `tick` \u202eRLO \x1b[31mRED\x1b[0m"
    out = render([hostile], fmt, lang=lang)
    if fmt == "json":
        assert json.loads(out)["results"][0]["manifest"]["label"] == hostile.manifest.label
        return
    assert "\x1b" not in out and "\u202e" not in out and "\x00" not in out
    if fmt in ("table", "markdown", "html"):  # the label is shown, written out
        assert "\\u202e" in out and "\\x1b" in out
    if fmt == "html":
        assert "<script" not in out.lower()
        assert "&lt;script&gt;alert(1)&lt;/script&gt; Loan | `tick` \\u202eRLO \\x1b[31mRED\\x1b[0m" in out
        assert '<span class="cited">&gt;' in out and "&lt;/pre&gt;&lt;script&gt;alert(3)" in out  # code strings in the disassembly too
        assert "http-equiv=\"Content-Security-Policy\"" in out and "script-src 'none'" in out
        assert not re.search(r"<(link|img|iframe|object|embed|base)\b|\ssrc=|@import|url\(", out, re.IGNORECASE)
    if fmt == "markdown":
        assert "<script" not in _outside_code(out).lower()
        table: list[str] = []
        for line in out.splitlines() + [""]:
            if line.startswith("|"):
                table.append(line)
                continue
            if table:
                assert {_cells(row) for row in table} == {_cells(table[0])}, table
                table = []
        assert "alert(3)" in out and "alert(4)" in out and "alert(5)" in out  # the fixture's code strings reach the report
    if fmt == "table":
        assert "<script>alert(1)</script> Loan | `tick` \\u202eRLO \\x1b[31mRED\\x1b[0m" in out


def test_markdown_code_spans_and_fences_outrun_backticks() -> None:
    from permaudit.formats.markdown import block, code, text

    assert code("a`b") == "`` a`b ``"  # CommonMark strips one space on each side
    assert code("``x") == "``` ``x ```"
    assert code("a|b", cell=True) == "`a\\|b`"
    assert block(["x ```` y"]).startswith("`````") and block(["x ```` y"]).endswith("\n`````")
    assert text("<b>|*_[x](y)`") == "&lt;b&gt;\\|\\*\\_\\[x\\](y)\\`"
    assert text("a\nb\u202e") == "a\\\\x0ab\\\\u202e"


def test_every_label_has_english_and_chinese_with_the_same_placeholders() -> None:
    from string import Formatter

    from permaudit.data import load

    labels = load("labels")["labels"]
    for key, entry in labels.items():
        assert entry["en"] and entry["zh"], key
        names = [{f for _, f, _, _ in Formatter().parse(entry[form]) if f} for form in ("en", "zh", "en_plural") if form in entry]
        assert all(n == names[0] for n in names), key
    source = "\n".join((ROOT / "permaudit" / "formats" / f).read_text(encoding="utf-8") for f in ("table.py", "markdown.py", "html.py", "report.py"))
    used = set(re.findall(r"""\b(?:t|tr|out\.t|out\.n|count)\(\s*(?:n=)?[^"'()]*?["']([a-z][a-z0-9.-]+\.[a-z0-9.-]+)["']""", source))
    used |= set(re.findall(r"""["']((?:answer|can|reads|sends|verdicts|table|col|id|clause|finding|verify|section|profile|chain|role|report|reach|perm|paths|endpoints|site|n|limits)\.[a-z0-9-]+)["']""", source))
    assert used - set(labels) == set()
    assert len(used) > 100


def test_unknown_language_falls_back_to_english(loan: permaudit.AuditResult) -> None:
    assert render([loan], "table", lang="fr") == render([loan], "table")
