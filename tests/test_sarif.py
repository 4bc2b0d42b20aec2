"""SARIF 2.1.0 output (permaudit/formats/sarif.py; docs/output-formats.md, section `sarif`)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from permaudit.audit import audit_all
from permaudit.cli import main
from permaudit.findings import finding_types
from permaudit.formats import FORMATS, render
from permaudit.formats.sarif import FINGERPRINT, artifact_uri, fingerprint
from permaudit.model import AuditResult, CodeLocation, Status
from permaudit.model.findings import Evidence, EvidenceKind, Finding, FindingConfidence
from permaudit.model.policy import PolicySeverity

from .conftest import APKS, CORPUS, ROOT, SHARED, fixture

SCHEMA = SHARED / "reference" / "sarif" / "sarif-schema-2.1.0.json"
FIXTURES = sorted(str(p) for p in APKS.iterdir())
LEVELS = {"violation": "error", "warning": "warning", "info": "note"}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any], str]:
    code = main(["audit", *argv, "--format", "sarif"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


@pytest.fixture(scope="module")
def fixture_results() -> dict[str, list[AuditResult]]:
    """Every fixture audited under every profile, as a lending app and not."""
    return {
        "lending": list(audit_all(FIXTURES, category="lending")),
        "any": list(audit_all(FIXTURES)),
    }


@pytest.fixture(scope="module")
def corpus_results() -> list[AuditResult]:
    if not CORPUS.exists():
        pytest.skip(f"third-party corpus not present at {CORPUS} (it lives in ../shared, never in the repo)")
    paths = sorted(str(p) for p in (CORPUS / "apk").glob("*.apk")) + sorted(str(p) for p in (CORPUS / "dex").iterdir() if p.is_dir())
    return list(audit_all(paths, category="lending"))


@pytest.fixture(scope="module")
def validator() -> Any:
    if not SCHEMA.is_file():
        pytest.skip(f"SARIF schema not present at {SCHEMA} (it lives in ../shared, never in the repo)")
    import jsonschema

    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def sarif(results: list[AuditResult], **options: object) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(render(results, "sarif", **options))
    return document


def assert_valid(validator: Any, document: dict[str, Any]) -> None:
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    assert [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in errors[:10]] == []


def test_sarif_is_a_registered_format() -> None:
    assert "sarif" in FORMATS


@pytest.mark.parametrize("which", ["lending", "any"])
def test_every_fixture_validates_against_the_sarif_schema(fixture_results: dict[str, list[AuditResult]], validator: Any, which: str) -> None:
    results = fixture_results[which]
    assert_valid(validator, sarif(results))
    assert_valid(validator, sarif(results, lang="zh", timestamp="2026-11-30T12:00:00+00:00"))


@pytest.mark.parametrize("name", sorted(p.name for p in APKS.iterdir()))
def test_each_fixture_alone_validates(validator: Any, capsys: pytest.CaptureFixture[str], name: str) -> None:
    _, document, _ = run(capsys, str(fixture(name)), "--category", "lending")
    assert_valid(validator, document)


def test_manifest_only_validates(validator: Any, capsys: pytest.CaptureFixture[str]) -> None:
    _, document, _ = run(capsys, *FIXTURES, "--manifest-only")
    assert_valid(validator, document)
    assert {a["properties"]["skipped"] == ["code"] for a in document["runs"][0]["artifacts"]} == {True}


def test_the_corpus_validates_against_the_sarif_schema(corpus_results: list[AuditResult], validator: Any) -> None:
    assert_valid(validator, sarif(corpus_results))
    assert_valid(validator, sarif(corpus_results, lang="zh"))


def test_loan_harvest_rules_levels_and_locations(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    code, document, err = run(capsys, "fixtures/apk/loan_harvest.apk", "--category", "lending", "--policy", "cn-lending")
    assert (code, err) == (0, "")
    assert document["version"] == "2.1.0" and len(document["runs"]) == 1
    run_ = document["runs"][0]
    assert run_["tool"]["driver"]["name"] == "permaudit"
    rules = [r["id"] for r in run_["tool"]["driver"]["rules"]]
    assert rules == [
        "contacts.declared", "contacts.requested", "contacts.bulk-read", "contacts.sent",
        "phone.declared", "phone.declared-unused", "location.declared", "location.declared-unused",
    ]
    uri = "fixtures/apk/loan_harvest.apk"
    got = []
    for result in run_["results"]:
        (location,) = result["locations"]
        assert location["physicalLocation"]["artifactLocation"] == {"uri": uri, "index": 0}
        logical = location.get("logicalLocations", [{}])[0]
        got.append((result["ruleId"], result["level"], logical.get("fullyQualifiedName"), logical.get("properties", {}).get("offset")))
        assert "relatedLocations" not in result
        assert result["properties"]["policy"] == "cn-lending"
        assert result["message"]["text"].startswith("cn-lending: ")
    assert got == [
        ("contacts.declared", "note", None, None),
        ("contacts.requested", "warning", "Lcom/example/loanharvest/MainActivity;->onCreate(Landroid/os/Bundle;)V", 12),
        ("contacts.bulk-read", "error", "Lcom/example/loanharvest/ContactsUploader;->collect()Lorg/json/JSONArray;", 17),
        ("contacts.sent", "error", "Lcom/example/loanharvest/ContactsUploader;->upload(Lorg/json/JSONArray;)V", 29),
        ("phone.declared", "note", None, None),
        ("phone.declared-unused", "warning", None, None),
        ("location.declared", "note", None, None),
        ("location.declared-unused", "warning", None, None),
    ]
    bulk = run_["results"][2]
    assert bulk["locations"][0]["logicalLocations"][0]["kind"] == "function"
    assert bulk["locations"][0]["logicalLocations"][0]["properties"]["dex"] == "classes.dex"
    assert bulk["properties"]["confidence"] == "high" and bulk["properties"]["severity"] == "violation"
    assert bulk["properties"]["clauses"][:2] == ["cn-pipl-6", "cn-pipl-5"]
    assert bulk["properties"]["citations"][0] == "PIPL art. 6"
    assert run_["results"][0]["locations"][0]["message"]["text"] == "android.permission.READ_CONTACTS (uses-permission, API 21+)"
    assert run_["artifacts"][0]["location"]["uri"] == uri
    assert run_["artifacts"][0]["hashes"]["sha-256"] == "89e8a604adb427b7c627d5af0c0b867205210720c591ab72c557deb9f3c982dd"
    assert run_["invocations"] == [{"executionSuccessful": True, "toolExecutionNotifications": []}]


def test_rule_index_points_at_the_rule_and_rules_are_unique(fixture_results: dict[str, list[AuditResult]]) -> None:
    for results in fixture_results.values():
        run_ = sarif(results)["runs"][0]
        rules = run_["tool"]["driver"]["rules"]
        assert len({r["id"] for r in rules}) == len(rules)
        assert run_["results"]
        for result in run_["results"]:
            assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert {r["ruleId"] for r in run_["results"]} == {r["id"] for r in rules}


def test_every_finding_type_in_the_fixtures_renders(fixture_results: dict[str, list[AuditResult]]) -> None:
    results = fixture_results["lending"]
    findings = [f for r in results for f in r.findings]
    run_ = sarif(results)["runs"][0]
    assert [(r["ruleId"], r["level"], r["properties"]["policy"]) for r in run_["results"]] == [
        (f.rule, LEVELS[f.severity.value], f.policy) for f in findings
    ]
    types = finding_types()
    kinds = {f.rule.split(".", 1)[1] for f in findings}
    assert {"declared", "bulk-read", "sent", "before-consent", "picker-only", "prohibited-permission"} <= kinds
    for rule in run_["tool"]["driver"]["rules"]:
        entry = types[rule["id"].split(".", 1)[1]]
        assert rule["shortDescription"]["text"].startswith(entry["title"]["en"])  # type: ignore[index]
        assert rule["fullDescription"]["text"] == entry["detects"]
        assert rule["properties"]["docs"] == f"docs/rules/{rule['id'].split('.', 1)[1]}.md"


def test_a_file_that_cannot_be_read_is_a_notification(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    empty = tmp_path / "empty.apk"
    empty.write_bytes(b"")
    code, document, err = run(capsys, str(empty), str(fixture("clean_app.apk")), "--manifest-only")
    assert code == 2 and "file is empty" in err
    invocation = document["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    (note,) = invocation["toolExecutionNotifications"]
    assert note["level"] == "error" and note["descriptor"] == {"id": "empty-file"}
    assert note["message"]["text"].endswith("file is empty")
    assert note["locations"][0]["physicalLocation"]["artifactLocation"] == {"uri": artifact_uri(str(empty)), "index": 0}
    assert [a["properties"]["status"] for a in document["runs"][0]["artifacts"]] == ["failed", "complete"]
    assert "hashes" not in document["runs"][0]["artifacts"][0]


def test_a_run_where_every_package_failed_still_writes_the_document(capsys: pytest.CaptureFixture[str], tmp_path: Path, validator: Any) -> None:
    (tmp_path / "junk.apk").write_text("not an apk")
    code, document, _ = run(capsys, str(tmp_path / "junk.apk"))
    assert code == 2
    assert document["runs"][0]["results"] == []
    assert document["runs"][0]["invocations"][0]["toolExecutionNotifications"][0]["level"] == "error"
    assert_valid(validator, document)


def test_problem_severities_map_to_notification_levels(fixture_results: dict[str, list[AuditResult]]) -> None:
    results = fixture_results["any"]
    notes = sarif(results)["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    expected = [({"failed": "error", "partial": "warning", "note": "note"}[p.severity.value], p.code) for r in results for p in r.problems]
    assert [(n["level"], n["descriptor"]["id"]) for n in notes] == expected


def test_deterministic_and_no_time_unless_asked(fixture_results: dict[str, list[AuditResult]]) -> None:
    results = fixture_results["lending"]
    first = render(results, "sarif")
    assert first == render(results, "sarif")
    assert "endTimeUtc" not in first and "startTimeUtc" not in first
    stamped = sarif(results, timestamp="2026-11-30T12:00:00+00:00")
    assert stamped["runs"][0]["invocations"][0]["endTimeUtc"] == "2026-11-30T12:00:00Z"


def test_fingerprints_are_stable_and_tell_profiles_apart(fixture_results: dict[str, list[AuditResult]]) -> None:
    results = fixture_results["lending"]
    run_ = sarif(results)["runs"][0]
    seen = set()
    for result in run_["results"]:
        key = (result["analysisTarget"]["index"], result["partialFingerprints"][FINGERPRINT])
        assert key not in seen
        seen.add(key)
    harvest = next(r for r in results if r.path.endswith("loan_harvest.apk"))
    bulk = next(f for f in harvest.findings if f.rule == "contacts.bulk-read")
    moved = AuditResult(path="elsewhere/renamed.apk", kind="apk", status=Status.COMPLETE, hashes=None, manifest=harvest.manifest)
    assert fingerprint(moved, bulk) == fingerprint(harvest, bulk)


def test_one_fingerprint_per_prohibited_permission() -> None:
    def finding(permission: str) -> Finding:
        return Finding(rule="contacts.prohibited-permission", policy="google-play-personal-loans", severity=PolicySeverity.VIOLATION,
                       confidence=FindingConfidence.HIGH, clauses=(), message=f"Declares {permission}", message_zh="", summary="",
                       evidence=(Evidence(kind=EvidenceKind.PERMISSION, text=permission),))
    read, write = finding("android.permission.READ_CONTACTS"), finding("android.permission.WRITE_CONTACTS")
    result = AuditResult(path="x.apk", kind="apk", status=Status.COMPLETE, hashes=None, findings=(read, write, read))
    prints = [r["partialFingerprints"][FINGERPRINT] for r in sarif([result])["runs"][0]["results"]]
    assert len(set(prints)) == 3
    assert prints[:2] == [fingerprint(result, read), fingerprint(result, write)]


def test_lang_zh(capsys: pytest.CaptureFixture[str]) -> None:
    _, document, _ = run(capsys, str(fixture("loan_harvest.apk")), "--category", "lending", "--policy", "cn-lending", "--lang", "zh")
    run_ = document["runs"][0]
    assert run_["language"] == "zh-CN"
    harvest = next(iter(audit_all([str(fixture("loan_harvest.apk"))], policies=["cn-lending"], category="lending")))
    assert [r["message"]["text"].split(": ", 1)[1].startswith(f.message_zh) for r, f in zip(run_["results"], harvest.findings)] == [True] * 8
    assert run_["tool"]["driver"]["rules"][2]["shortDescription"]["text"] == "批量读取该数据（通讯录）"
    assert run_["results"][2]["properties"]["citations"][0] == "《个人信息保护法》第六条"


def test_lang_is_accepted_by_every_format(capsys: pytest.CaptureFixture[str]) -> None:
    for name in sorted(FORMATS):
        outputs = []
        for lang in ("en", "zh"):
            assert main(["audit", str(fixture("clean_app.apk")), "--manifest-only", "--format", name, "--lang", lang]) == 0
            outputs.append(capsys.readouterr().out)
        if name == "json":  # the facts have no language
            assert outputs[0] == outputs[1]


HOSTILE = 'Lcom/x/"}],\x1b[2J\u202eY;'


def test_strings_from_the_package_cannot_break_the_document_or_the_viewer() -> None:
    where = CodeLocation(dex="classes.dex", class_name=HOSTILE, method="m\u2028", descriptor="()V", offset=3, instruction="invoke-static {}, " + HOSTILE + "->x()V")
    finding = Finding(
        rule="contacts.bulk-read", policy="cn-lending", severity=PolicySeverity.VIOLATION, confidence=FindingConfidence.HIGH,
        clauses=("cn-pipl-6",), message="Reads \x1b[31m all", message_zh="", summary="1 method \ud800",
        evidence=(Evidence(kind=EvidenceKind.READ, text="bulk in " + HOSTILE, location=where), Evidence(kind=EvidenceKind.PATH, text="p", endpoint='http://x/"<b>', server="unknown")),
    )
    result = AuditResult(path='apps/a "b"\u202e.apk', kind="apk", status=Status.COMPLETE, hashes=None, findings=(finding,), policies=("cn-lending",))
    text = render([result], "sarif")
    document = json.loads(text)
    assert not re.search("[\x00-\x1f\x7f\u2028\u202e\ud800]", text.replace("\n", ""))
    result_ = document["runs"][0]["results"][0]
    logical = result_["locations"][0]["logicalLocations"][0]
    assert logical["fullyQualifiedName"] == 'Lcom/x/"}],\\x1b[2J\\u202eY;->m\\u2028()V'
    assert result_["message"]["text"].startswith("cn-lending: Reads \\x1b[31m all")
    assert result_["relatedLocations"][0]["id"] == 1 and result_["relatedLocations"][0]["properties"]["endpoint"] == 'http://x/"<b>'
    assert result_["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "apps/a%20%22b%22%E2%80%AE.apk"


@pytest.mark.parametrize(
    ("path", "uri"),
    [
        ("fixtures/apk/x.apk", "fixtures/apk/x.apk"),
        ("/tmp/a b/x.apk", "file:///tmp/a%20b/x.apk"),
        ("C:\\apps\\x.apk", "file:///C:/apps/x.apk"),
        ("odd:name.apk", "odd%3Aname.apk"),
        ("bad\udcff.apk", "bad%FF.apk"),
    ],
)
def test_artifact_uri(path: str, uri: str) -> None:
    assert artifact_uri(path) == uri


def test_the_excerpts_in_the_docs_are_the_real_output(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/output-formats.md shows a rule and a result of the loan_harvest run: they must be written as shown."""
    text = (ROOT / "docs" / "output-formats.md").read_text(encoding="utf-8")
    section = text.split("## `sarif`", 1)[1].split("\n## ", 1)[0]
    shown = [json.loads(block) for block in re.findall(r"^```json\n(.*?)^```", section, re.MULTILINE | re.DOTALL)]
    assert len(shown) == 2
    monkeypatch.chdir(ROOT)
    _, document, _ = run(capsys, "fixtures/apk/loan_harvest.apk", "--category", "lending", "--policy", "cn-lending")
    run_ = document["runs"][0]
    assert shown[0] in run_["tool"]["driver"]["rules"]
    assert shown[1] in run_["results"]
