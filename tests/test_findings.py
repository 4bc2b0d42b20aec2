"""Observations (permaudit/findings/observe.py): exact finding types, confidence and evidence on
the fixtures, absences only over code that was analysed, and the finding-type table."""

from __future__ import annotations

import dataclasses
from functools import cache

import pytest

import permaudit
from permaudit.findings import finding_types, observe
from permaudit.model import AuditResult
from permaudit.model.findings import EvidenceKind, FindingConfidence, Observation

from .conftest import CORPUS, ROOT, fixture


@cache
def _audit(name: str, code: bool = True) -> AuditResult:
    return permaudit.audit(fixture(name), code=code)


def _by_id(result: AuditResult) -> dict[str, Observation]:
    found = observe(result)
    assert len({o.finding for o in found}) == len(found)
    return {o.finding: o for o in found}


def test_loan_harvest_reads_in_bulk_and_sends() -> None:
    got = _by_id(_audit("loan_harvest.apk"))
    assert list(got) == ["contacts.declared", "contacts.requested", "contacts.bulk-read", "contacts.sent",
                         "phone.declared", "phone.declared-unused", "location.declared", "location.declared-unused"]
    (read,) = got["contacts.bulk-read"].evidence
    assert read.kind is EvidenceKind.READ and read.location is not None
    assert read.text == "bulk ContentResolver.query in Lcom/example/loanharvest/ContactsUploader;->collect()Lorg/json/JSONArray; @0x11 (first-party)"
    sent = got["contacts.sent"]
    assert sent.confidence is FindingConfidence.MEDIUM  # three calls between the read and the send
    (path,) = sent.evidence
    assert path.text == "collect@0x47 -> run@0x4 -> upload@0x1d -> HttpURLConnection.getOutputStream (within-calls)"
    assert path.location is not None and path.location.signature.startswith("Lcom/example/loanharvest/ContactsUploader;->upload")
    assert got["contacts.declared"].evidence[0].text == "android.permission.READ_CONTACTS (uses-permission, API 21+)"
    assert got["phone.declared-unused"].summary == "no read of device_id or phone in 1 dex file analysed"
    assert got["phone.declared-unused"].confidence is FindingConfidence.MEDIUM


def test_declared_only_is_declared_unused() -> None:
    got = _by_id(_audit("loan_declared_only.apk"))
    assert list(got) == ["contacts.declared", "contacts.declared-unused"]
    (absence,) = got["contacts.declared-unused"].evidence
    assert absence.kind is EvidenceKind.ABSENCE and absence.text.endswith("status complete")


def test_no_absence_is_claimed_over_code_not_analysed() -> None:
    got = _by_id(_audit("loan_declared_only.apk", code=False))
    assert list(got) == ["contacts.declared"]


def test_picker_only() -> None:
    got = _by_id(_audit("picker.apk"))
    assert list(got) == ["contacts.picker-only"]
    assert {e.kind for e in got["contacts.picker-only"].evidence} == {EvidenceKind.READ}


def test_texted_sent_and_before_consent() -> None:
    flows = _by_id(_audit("paths_flows.apk"))
    assert flows["contacts.texted"].confidence is FindingConfidence.HIGH  # read and SmsManager.sendTextMessage in one method
    assert flows["contacts.sent"].confidence is FindingConfidence.HIGH
    consent = _by_id(_audit("consent_flow.apk"))
    early = consent["contacts.before-consent"]
    (reach,) = early.evidence
    assert reach.kind is EvidenceKind.REACH
    assert reach.text == "application Lcom/example/fx/consent/ConsentApp;->onCreate: onCreate@0x3 -> warmUp@0x0 -> run@0x0 -> collect@0x11"
    assert "call_log.before-consent" in consent and "sms.before-consent" not in consent


def test_sent_to_a_third_party_names_the_service() -> None:
    got = _by_id(_audit("paths_more.apk"))
    assert "contacts.sent" in got
    assert "contacts.sent-third-party" not in got  # the fixture's hosts are nobody's
    sent = got["contacts.sent"]
    assert sent.summary == "9 reads reach a send call" and len(sent.evidence) == 5 and sent.more == 4
    assert {e.endpoint for e in sent.evidence} <= {f"https://{h}.pathsmoredemo.com{p}" for h, p in [
        ("risk", "/df/v3/contacts"), ("co", "/v1/sync"), ("exec", "/v1/phones"), ("post", "/p?d={?}"), ("msg", "/v1/book"),
        ("form", "/collect"), ("api", "/v1/contacts"), ("book", "/v2/phonebook"), ("task", "/upload")]}


def test_every_finding_type_is_known_and_frozen() -> None:
    types = finding_types()
    assert list(types) == ["declared", "declared-unused", "prohibited-permission", "requested", "bulk-read", "lookup-read",
                           "picker-only", "sent", "sent-third-party", "texted", "before-consent"]
    for name in ("loan_harvest.apk", "picker.apk", "consent_flow.apk", "paths_more.apk"):
        for o in observe(_audit(name)):
            assert o.finding.split(".", 1)[1] in types and o.finding.startswith(o.category + ".")
            with pytest.raises(dataclasses.FrozenInstanceError):
                o.summary = "x"  # type: ignore[misc]


@pytest.mark.skipif(not CORPUS.exists(), reason=f"third-party corpus not present at {CORPUS}")
def test_loan_malware_observations() -> None:
    got = _by_id(permaudit.audit(CORPUS / "apk/7a9f0af7fee4a5fd335db3b96e571a3a4e123c32d0a06cd43f5517be8df0b6bb.apk"))
    assert {"contacts.declared", "contacts.bulk-read", "contacts.sent", "contacts.texted"} <= set(got)
    assert "phone.declared-unused" not in got  # it reads device ids, which READ_PHONE_STATE unlocks
    assert {e.endpoint for e in got["contacts.sent"].evidence} == {"http://62.60.134.177:7702/app/input.php"}


# ---------------------------------------------------------------------------------- findings


def _judged(name: str, **kw: object) -> list[tuple[str, str, str]]:
    result = permaudit.audit(fixture(name), **kw)  # type: ignore[arg-type]
    return [(f.policy, f.rule, f.severity.value) for f in result.findings]


def test_lending_app_under_cn_lending_clause_by_clause() -> None:
    result = permaudit.audit(fixture("loan_harvest.apk"), policies=["cn-lending"], category="lending")
    assert result.policies == ("cn-lending",) and result.lending
    got = {f.rule: f for f in result.findings}
    assert [(f.rule, f.severity.value) for f in result.findings] == [
        ("contacts.declared", "info"), ("contacts.requested", "warning"), ("contacts.bulk-read", "violation"), ("contacts.sent", "violation"),
        ("phone.declared", "info"), ("phone.declared-unused", "warning"), ("location.declared", "info"), ("location.declared-unused", "warning")]
    bulk = got["contacts.bulk-read"]
    assert bulk.clauses[:3] == ("cn-pipl-6", "cn-pipl-5", "cn-necessary-pi-2021-5-12")
    assert bulk.message == "Reads all of the contacts data: beyond the minimum necessary for a lending app (PIPL art. 6; 2021 rules, item (十二))."
    assert bulk.message_zh.startswith("批量读取通讯录数据")
    assert bulk.confidence is FindingConfidence.HIGH and bulk.evidence == _by_id(_audit("loan_harvest.apk"))["contacts.bulk-read"].evidence
    assert got["contacts.sent"].confidence is FindingConfidence.MEDIUM  # the evidence's, whatever the severity


def test_lending_only_verdicts_need_the_lending_category() -> None:
    assert _judged("loan_harvest.apk") == [("google-play-contacts", "contacts.declared", "info")]
    stated = _judged("loan_harvest.apk", policies=["google-play-personal-loans"], category="lending")
    assert stated == [("google-play-personal-loans", "contacts.bulk-read", "violation"), ("google-play-personal-loans", "contacts.sent", "violation"),
                      ("google-play-personal-loans", "contacts.prohibited-permission", "violation"),
                      ("google-play-personal-loans", "location.prohibited-permission", "violation")]


def test_prohibited_permissions_name_the_permission_and_its_date() -> None:
    result = permaudit.audit(fixture("loan_harvest.apk"), policies=["google-play-personal-loans"], category="lending")
    prohibited = [f for f in result.findings if f.rule.endswith(".prohibited-permission")]
    assert [f.message for f in prohibited] == [
        "Declares android.permission.READ_CONTACTS, which Google Play prohibits for personal-loan apps (since 2023-05-31).",
        "Declares android.permission.ACCESS_FINE_LOCATION, which Google Play prohibits for personal-loan apps (since 2023-05-31)."]
    assert [e.text for e in prohibited[0].evidence] == ["android.permission.READ_CONTACTS"]


def test_google_play_contacts_policy_by_target_sdk() -> None:
    """Below API 37 the contacts policy is informational, with the date it applies."""
    result = permaudit.audit(fixture("loan_harvest.apk"), policies=["google-play-contacts"])
    (only,) = result.findings
    assert (only.rule, only.severity.value) == ("contacts.declared", "info")
    assert "30" in only.message and "2026-10-28" in only.message


def test_picker_only_is_compliant_under_cn_lending() -> None:
    result = permaudit.audit(fixture("picker.apk"), policies=["cn-lending"], category="lending")
    assert [(f.rule, f.severity.value) for f in result.findings] == [("contacts.picker-only", "info")]


def test_before_consent_is_a_violation_of_notice_and_consent() -> None:
    result = permaudit.audit(fixture("consent_flow.apk"), policies=["cn-lending"], category="lending")
    early = [f for f in result.findings if f.rule == "contacts.before-consent"]
    assert [f.severity.value for f in early] == ["violation"]
    assert {"cn-pipl-13", "cn-pipl-14", "cn-pipl-17"} <= set(early[0].clauses)


def test_no_profiles_no_findings() -> None:
    result = permaudit.audit(fixture("loan_harvest.apk"), policies=())
    assert result.findings == () and result.policies == ()


@pytest.mark.parametrize(("args", "code"), [
    (["fixtures/apk/loan_harvest.apk", "--category", "lending", "--fail-on", "violation"], 1),
    (["fixtures/apk/loan_harvest.apk", "--fail-on", "violation"], 0),  # not stated lending: Google's contacts policy is informational below API 37
    (["fixtures/apk/loan_harvest.apk", "--fail-on", "info"], 1),
    (["fixtures/apk/picker.apk", "--category", "lending", "--fail-on", "warning", "--policy", "cn-lending"], 0),
    (["fixtures/apk/loan_declared_only.apk", "--category", "lending", "--fail-on", "warning", "--policy", "cn-lending"], 1),
])
def test_fail_on_gates(args: list[str], code: int, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from permaudit.cli import main

    monkeypatch.chdir(ROOT)
    assert main(["audit", *args, "--format", "json"]) == code


@pytest.mark.skipif(not CORPUS.exists(), reason=f"third-party corpus not present at {CORPUS}")
def test_loan_malware_under_cn_lending() -> None:
    result = permaudit.audit(CORPUS / "apk/7a9f0af7fee4a5fd335db3b96e571a3a4e123c32d0a06cd43f5517be8df0b6bb.apk", policies=["cn-lending"], category="lending")
    got = {f.rule: f.severity.value for f in result.findings if f.category == "contacts"}
    assert got == {"contacts.declared": "info", "contacts.bulk-read": "violation", "contacts.sent": "violation", "contacts.texted": "warning"}


# ---------------------------------------------------------------------------------- rule pages

SECTIONS = ("## What it detects", "## Why it matters", "## Verdicts and clauses", "## How to verify it by hand", "## Example")


@pytest.mark.parametrize("kind", list(finding_types()))
def test_every_rule_has_its_page_with_every_section(kind: str) -> None:
    page = (ROOT / "docs" / "rules" / f"{kind}.md").read_text(encoding="utf-8")
    entry = finding_types()[kind]
    assert page.startswith(f"# `{kind}`: {entry['title']['en']}")  # type: ignore[index]
    assert entry["title"]["zh"] in page and str(entry["detects"]) in page  # type: ignore[index]
    assert [s for s in SECTIONS if s in page] == list(SECTIONS)
    assert f"$ permaudit explain {kind}\n" in page  # checked against real output by test_docs
    assert f"[`{kind}`](rules/{kind}.md)" in (ROOT / "docs" / "findings.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("kind", list(finding_types()))
def test_a_rule_page_example_is_real_output(kind: str) -> None:
    """An example that names a fixture quotes that fixture's observation and evidence exactly."""
    page = (ROOT / "docs" / "rules" / f"{kind}.md").read_text(encoding="utf-8")
    example = page.split("## Example", 1)[1]
    if not example.lstrip().startswith("On `fixtures/apk/"):
        return  # described in prose (no fixture has this observation yet): nothing to compare
    name = example.split("`fixtures/apk/", 1)[1].split("`", 1)[0]
    got = next(o for o in observe(_audit(name)) if o.finding.endswith("." + kind))
    assert f"the observation `{got.finding}` ({got.confidence.value} confidence): {got.summary}." in example
    shown = example.split("```\n", 1)[1].split("```", 1)[0].splitlines()
    assert shown == [f"{e.kind.value}: {e.text}" + (f" -> {e.endpoint} ({e.server})" if e.endpoint else "") for e in got.evidence]


@pytest.mark.parametrize("fmt", ["table", "json", "sarif", "markdown", "html"])
def test_every_finding_type_renders_in_every_format(fmt: str) -> None:
    """Each finding type, including those no fixture shows yet (lookup-read, sent-third-party),
    renders under its id in every format, in both languages."""
    from permaudit.formats import render

    base = permaudit.audit(fixture("loan_harvest.apk"), policies=["cn-lending"], category="lending")
    template = next(f for f in base.findings if f.rule == "contacts.sent")
    findings = tuple(dataclasses.replace(template, rule=f"contacts.{kind}", message=f"message for {kind}", message_zh=f"{kind} 的说明")
                     for kind in finding_types())
    result = dataclasses.replace(base, findings=findings)
    for lang in ("en", "zh"):
        text = render([result], fmt, lang=lang, excerpts={})
        for kind in finding_types():
            assert f"contacts.{kind}" in text, (fmt, lang, kind)
            if fmt in ("markdown", "html", "table"):
                assert (f"{kind} 的说明" if lang == "zh" else f"message for {kind}") in text, (fmt, lang, kind)


def _contacts_verdicts(result: AuditResult) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    for f in result.findings:
        if f.category == "contacts":
            out.setdefault(f.policy, []).append((f.rule.split(".", 1)[1], f.severity.value))
    return out


@pytest.mark.skipif(not CORPUS.exists(), reason=f"third-party corpus not present at {CORPUS}")
def test_corpus_verdicts_per_profile() -> None:
    loan = permaudit.audit(CORPUS / "apk/7a9f0af7fee4a5fd335db3b96e571a3a4e123c32d0a06cd43f5517be8df0b6bb.apk", category="lending")
    assert _contacts_verdicts(loan) == {
        "cn-lending": [("declared", "info"), ("bulk-read", "violation"), ("sent", "violation"), ("texted", "warning")],
        "google-play-contacts": [("declared", "info")],
        "google-play-personal-loans": [("bulk-read", "violation"), ("sent", "violation"), ("prohibited-permission", "violation")],
        "id-ojk": [("declared", "warning"), ("bulk-read", "violation"), ("sent", "violation"), ("texted", "violation")],
        "in-rbi-digital-lending": [("declared", "warning"), ("bulk-read", "violation"), ("sent", "violation")],
        "ke-dcp": [("bulk-read", "warning"), ("sent", "warning"), ("texted", "warning")],
        "ng-fccpc": [("bulk-read", "warning"), ("sent", "warning")],
        "ph-sec": [("declared", "warning"), ("bulk-read", "violation"), ("sent", "violation"), ("texted", "warning")],
    }
    # its label is "Visa Master": the lending signal is weak, so --category auto does not apply the lending verdicts
    auto = permaudit.audit(CORPUS / "apk/7a9f0af7fee4a5fd335db3b96e571a3a4e123c32d0a06cd43f5517be8df0b6bb.apk", category="auto")
    assert not auto.lending and _contacts_verdicts(auto) == {"google-play-contacts": [("declared", "info")]}
    # the loan-comparison app that declares READ_CONTACTS and never reads: a strong signal, so auto applies them
    declared = permaudit.audit(CORPUS / "apk/c685d369c2937b446786fe2a5030a2e7ac51c5b3871365d36923ec3866835763.apk", category="auto")
    assert declared.lending and _contacts_verdicts(declared) == {
        "cn-lending": [("declared", "info"), ("declared-unused", "warning")],
        "google-play-contacts": [("declared", "info")],
        "google-play-personal-loans": [("prohibited-permission", "violation")],
        "id-ojk": [("declared", "warning")],
        "in-rbi-digital-lending": [("declared", "warning")],
        "ph-sec": [("declared", "warning")],
    }
    # a reader that is not a lending app: only the policy for every app speaks
    twitter = permaudit.audit(CORPUS / "apk/a46949d4b0b8264c7d48c02a0897f106b9f61a4784e855e8707c7190918db8b1.apk", category="auto")
    assert _contacts_verdicts(twitter) == {"google-play-contacts": [("declared", "info")]}
