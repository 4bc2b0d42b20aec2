"""Policy profiles (permaudit/data/policies, permaudit/policy): every file against the JSON
Schema, every reference resolved, clause text traced to the reference notes and PIPL verbatim,
unverified text never stored, the issue's verdicts per profile, the precedence rule, the
loader's errors, and docs/policies.md naming every profile and clause."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from functools import cache
from typing import Any

import jsonschema
import pytest

from permaudit.data import category_order, load, permission_categories
from permaudit.model.policy import (
    Applicability,
    PolicySeverity,
    Profile,
    Verdict,
    Verification,
)
from permaudit.policy import (
    FINDINGS,
    ONLY_FOR,
    PLACEHOLDERS,
    PolicyError,
    parse,
    profile,
    profiles,
    verdicts_for,
)

from .conftest import ROOT, SHARED

POLICIES = ROOT / "permaudit" / "data" / "policies"
FILES = sorted(p for p in POLICIES.glob("*.json") if p.name != "schema.json")
REFERENCE = SHARED / "reference"
PIPL_MD = REFERENCE / "laws" / "pipl.md"
READ_CONTACTS = "android.permission.READ_CONTACTS"


def raw(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((POLICIES / f"{name}.json").read_text(encoding="utf-8"))
    return data


@cache
def validator() -> Any:
    schema = json.loads((POLICIES / "schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def all_clauses() -> list[tuple[str, dict[str, Any]]]:
    return [(f.stem, c) for f in FILES for c in raw(f.stem)["clauses"]]


def severities(verdicts: list[Verdict]) -> list[str]:
    return [v.severity.value for v in verdicts]


def cited(verdicts: list[Verdict]) -> set[str]:
    return {c for v in verdicts for c in v.clauses}


# ---- the files


def test_the_issue_profiles_are_all_there() -> None:
    assert set(profiles()) == {"cn-lending", "google-play-personal-loans", "google-play-contacts", "in-rbi-digital-lending",
                               "id-ojk", "ke-dcp", "ng-fccpc", "ph-sec"}
    assert [f.stem for f in FILES] == list(profiles())


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_profile_validates_against_the_schema(path: Any) -> None:
    errors = [f"{e.json_path}: {e.message}" for e in validator().iter_errors(json.loads(path.read_text(encoding="utf-8")))]
    assert errors == []


def test_finding_vocabulary_matches_the_schema_and_findings_json() -> None:
    schema = json.loads((POLICIES / "schema.json").read_text(encoding="utf-8"))
    pattern = schema["$defs"]["verdict"]["properties"]["finding"]["pattern"]
    head, tail = pattern.removeprefix("^(\\*|").removesuffix(")$").split(")\\.(\\*|")
    categories, kinds = head, tail
    assert tuple(categories.split("|")) == category_order()
    assert tuple(kinds.split("|")) == FINDINGS
    types = {t["type"]: t for t in load("findings")["types"]}
    assert tuple(types) == FINDINGS
    assert {k: tuple(t["categories"]) for k, t in types.items() if "categories" in t} == ONLY_FOR


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_every_verdict_cites_existing_clauses_and_a_valid_finding(path: Any) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    clause_ids = {c["id"] for c in data["clauses"]}
    source_ids = {s["id"] for s in data["sources"]}
    assert {c["source"] for c in data["clauses"]} <= source_ids
    for v in data["verdicts"]:
        assert set(v["clauses"]) <= clause_ids, v
        category, kind = v["finding"].split(".")
        assert category in ("*", *category_order()) and kind in ("*", *FINDINGS), v["finding"]
        assert kind not in ONLY_FOR or category in ("*", *ONLY_FOR[kind]), v["finding"]
        if data["applies_to"] == "lending":
            assert v["applies_to"] == "lending", v["finding"]
    assert {c for v in data["verdicts"] for c in v["clauses"]} == clause_ids, "every clause is cited by a verdict"


def test_clause_ids_are_unique_across_profiles_or_the_same_clause() -> None:
    seen: dict[str, dict[str, Any]] = {}
    for _, clause in all_clauses():
        assert seen.setdefault(clause["id"], clause) == clause, clause["id"]


def test_messages_use_only_the_placeholders_their_verdict_can_fill() -> None:
    for name, p in profiles().items():
        for v in p.verdicts:
            holes = set(re.findall(r"\{(\w+)\}", v.message.en + v.message.zh))
            assert holes <= set(PLACEHOLDERS), (name, v.finding)
            assert not holes & {"permission", "since"} or v.when.prohibited_permissions, (name, v.finding)
            assert "target_sdk" not in holes or v.when.target_sdk_max is not None or v.when.target_sdk_min is not None
            assert set(re.findall(r"\{(\w+)\}", v.message.en)) == set(re.findall(r"\{(\w+)\}", v.message.zh)), (name, v.finding)


# ---- clause text: verbatim, traced, never invented


def test_pipl_clauses_match_pipl_md_verbatim() -> None:
    if not PIPL_MD.is_file():
        pytest.skip(f"PIPL text not present at {PIPL_MD}")
    lines = PIPL_MD.read_text(encoding="utf-8").splitlines()
    pipl = [(n, c) for n, c in all_clauses() if c["source"] == "cn-pipl"]
    assert len(pipl) >= 8
    for _, clause in pipl:
        assert clause["level"] == "P" and clause["locator"], clause["id"]
        start = next(i for i, line in enumerate(lines) if line.startswith(clause["locator"] + " "))
        body = [lines[start][len(clause["locator"]) + 1 :]]
        for line in lines[start + 1 :]:
            if re.match(r"^(#|第[一二三四五六七八九十百零]+条 )", line):
                break
            if line.strip():
                body.append(line)
        assert clause["text"] == "\n".join(body), clause["id"]


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"^\s*>\s?", "", text.replace("*", ""), flags=re.MULTILINE)).strip()


def test_every_clause_text_comes_from_the_reference_notes() -> None:
    """Each line of each stored text, cut at its ellipses, is found in the notes: nothing is reworded or invented."""
    files = [REFERENCE / n for n in ("regulations.md", "cn-rules-verified.md", "legal-round2.md", "laws/pipl.md")]
    if not all(f.is_file() for f in files):
        pytest.skip(f"reference notes not present in {REFERENCE}")
    notes = _normal("\n".join(f.read_text(encoding="utf-8") for f in files))
    missing = [(c["id"], piece) for _, c in all_clauses() for line in c["text"].splitlines()
               for piece in re.split(r"…+", line) if _normal(piece) and _normal(piece) not in notes]
    assert missing == []


def test_unverified_clauses_store_no_text() -> None:
    unverified = [c for _, c in all_clauses() if c["level"] == "U"]
    assert unverified and all(c["text"] == "" and c["note"] for c in unverified)
    assert all(c["level"] == "U" for _, c in all_clauses() if not c["text"])
    for p in profiles().values():
        assert all(e.level is not Verification.U for e in p.prohibited_permissions().values())


def test_levels_follow_the_notes_where_they_were_corrected() -> None:
    cn = profile("cn-lending")
    item = cn.clause("cn-necessary-pi-2021-5-12")
    assert item.level is Verification.S and "日常生产经营周转" in item.text  # legal-round2 corrects 日常经营周转
    for necessary in ("注册用户移动电话号码", "借款人姓名", "证件类型和号码", "证件有效期限", "银行卡号码"):
        assert necessary in item.text
    assert "因为用户不同意" in cn.clause("cn-necessary-pi-2021-4").text
    assert cn.clause("cn-civil-code-1034").level is Verification.U
    for old, new in (("41", "43"), ("42", "44"), ("44", "46")):
        before, after = cn.clause(f"cn-csl-2016-{old}"), cn.clause(f"cn-csl-2025-{new}")
        assert before.level is Verification.P and before.until == "2025-12-31" and before.superseded_by == after.id
        assert after.level is Verification.U and after.date == "2026-01-01"
    assert profile("ph-sec").clause("ph-sec-mc18-1-contacts").level is Verification.U
    assert profile("google-play-personal-loans").clause("gp-loans-permission-list").level is Verification.U


# ---- the issue's verdicts


@pytest.mark.parametrize(("finding", "severity", "must_cite"), [
    ("contacts.bulk-read", "violation", {"cn-pipl-6", "cn-necessary-pi-2021-5-12"}),
    ("contacts.declared-unused", "warning", {"cn-pipl-6"}),
    ("contacts.sent", "violation", {"cn-pipl-6", "cn-csl-2016-41", "cn-csl-2025-43"}),
    ("contacts.sent-third-party", "violation", {"cn-pipl-23"}),
    ("contacts.before-consent", "violation", {"cn-pipl-13", "cn-pipl-14", "cn-pipl-17"}),
    ("contacts.picker-only", "info", set()),
    ("call_log.bulk-read", "violation", {"cn-necessary-pi-2021-5-12"}),
    ("installed_apps.sent", "violation", {"cn-necessary-pi-2021-5-12"}),
    ("location.bulk-read", "violation", {"cn-pipl-28", "cn-pipl-29"}),
])
def test_cn_lending_baseline(finding: str, severity: str, must_cite: set[str]) -> None:
    got = verdicts_for(profile("cn-lending"), finding, True)
    assert severities(got) == [severity]
    assert must_cite <= cited(got)


def test_cn_lending_rules_apply_to_lending_apps_and_pipl_to_all() -> None:
    cn = profile("cn-lending")
    assert verdicts_for(cn, "contacts.bulk-read", False) == []
    assert verdicts_for(cn, "contacts.declared-unused", False) == []
    other = verdicts_for(cn, "contacts.sent-third-party", False)
    assert severities(other) == ["warning"] and other[0].applies_to is Applicability.ALL and "cn-pipl-23" in other[0].clauses
    assert severities(verdicts_for(cn, "contacts.before-consent", False)) == ["violation"]
    assert verdicts_for(cn, "contacts.sent-third-party", True)[0].applies_to is Applicability.LENDING


def test_google_play_personal_loans_prohibits_declaring() -> None:
    gp = profile("google-play-personal-loans")
    declared = [READ_CONTACTS, "android.permission.INTERNET"]
    (verdict,) = verdicts_for(gp, "contacts.prohibited-permission", True, permissions=declared)
    assert verdict.severity is PolicySeverity.VIOLATION
    assert verdicts_for(gp, "contacts.prohibited-permission", False, permissions=declared) == []
    assert verdicts_for(gp, "location.prohibited-permission", True, permissions=declared) == []  # READ_CONTACTS is not location
    listed = gp.prohibited_permissions()
    assert listed[READ_CONTACTS].since == "2023-05-31" and listed["android.permission.QUERY_ALL_PACKAGES"].since == "2025-05-28"
    assert "android.permission.READ_CALL_LOG" not in listed  # contested: kept out of the list
    assert set(listed) <= set(permission_categories())
    text = verdict.say("en", permission=READ_CONTACTS, since=listed[READ_CONTACTS].since)
    assert text == "Declares android.permission.READ_CONTACTS, which Google Play prohibits for personal-loan apps (since 2023-05-31)."


def test_google_play_contacts_by_target_sdk() -> None:
    gp = profile("google-play-contacts")
    assert gp.applies_to is Applicability.ALL
    for finding in ("contacts.picker-only", "contacts.lookup-read"):
        for lending in (True, False):
            (v,) = verdicts_for(gp, finding, lending, target_sdk=37, permissions=[READ_CONTACTS])
            assert v.severity is PolicySeverity.VIOLATION and "Contact Picker" in v.message.en
    assert verdicts_for(gp, "contacts.picker-only", False, target_sdk=37, permissions=[]) == []  # the picker needs no permission
    assert severities(verdicts_for(gp, "contacts.bulk-read", False, target_sdk=38, permissions=[READ_CONTACTS])) == ["warning"]
    assert "Play Console" in verdicts_for(gp, "contacts.bulk-read", False, target_sdk=38, permissions=[READ_CONTACTS])[0].message.en
    (info,) = verdicts_for(gp, "contacts.declared", False, target_sdk=34, permissions=[READ_CONTACTS])
    assert info.severity is PolicySeverity.INFO and "2026-10-28" in info.message.en and "2026-10-28" in info.message.zh
    assert info.say("en", target_sdk=34).startswith("Targets API level 34:")
    assert verdicts_for(gp, "contacts.bulk-read", False, target_sdk=36, permissions=[READ_CONTACTS]) == []
    assert verdicts_for(gp, "contacts.picker-only", False, target_sdk=None, permissions=[READ_CONTACTS]) == []  # unknown target


@pytest.mark.parametrize(("name", "clause", "severity"), [
    ("in-rbi-digital-lending", "in-rbi-2025-12-i", "violation"),
    ("id-ojk", "id-seojk-19-2025-access", "violation"),
    ("ke-dcp", "ke-dcp-2022-contacts", "warning"),
    ("ng-fccpc", "ng-fccpc-2022-framework", "warning"),
    ("ph-sec", "ph-npc-20-01-interfaces", "violation"),
])
def test_national_contact_list_bans(name: str, clause: str, severity: str) -> None:
    p = profile(name)
    assert p.applies_to is Applicability.LENDING
    got = verdicts_for(p, "contacts.bulk-read", True)
    assert severities(got) == [severity] and clause in cited(got)
    assert p.clause(clause).text and p.clause(clause).level is not Verification.U
    assert verdicts_for(p, "contacts.bulk-read", False) == []


def test_ojk_allows_camera_location_microphone_only() -> None:
    ojk = profile("id-ojk")
    for category in ("camera", "location", "microphone"):
        assert severities(verdicts_for(ojk, f"{category}.bulk-read", True)) == ["info"]
    for category in ("contacts", "sms", "call_log", "device_id"):
        assert severities(verdicts_for(ojk, f"{category}.bulk-read", True)) == ["violation"]


# ---- precedence and errors


def _toy(verdicts: list[dict[str, Any]], applies_to: str = "all") -> Profile:
    return parse({
        "schema_version": 1, "id": "toy", "title": {"en": "Toy", "zh": "玩具"}, "jurisdiction": "XX", "version": "0.1.0",
        "as_of": "2026-01-01", "applies_to": applies_to,
        "sources": [{"id": "s", "title": "S", "title_en": "S", "publisher": "P", "url": "https://example.org", "date": None, "version": "1"}],
        "clauses": [{"id": "c", "citation": {"en": "art. 1"}, "text": "x", "lang": "en", "gloss_en": "x", "source": "s",
                     "date": "2020-01-01", "version": "1", "level": "S", "note": ""}],
        "verdicts": verdicts,
    }, "toy.json")


def _v(finding: str, severity: str = "info", applies_to: str = "all", **when: Any) -> dict[str, Any]:
    out = {"finding": finding, "severity": severity, "clauses": ["c"], "applies_to": applies_to, "message": {"en": finding, "zh": finding}}
    return out | ({"when": when} if when else {})


def test_precedence_named_category_then_named_finding_then_lending() -> None:
    toy = _toy([_v("*.*"), _v("*.bulk-read"), _v("contacts.*"), _v("contacts.bulk-read"), _v("contacts.bulk-read", "violation", "lending")])
    assert [v.finding for v in verdicts_for(toy, "contacts.bulk-read", False)] == ["contacts.bulk-read"]
    assert severities(verdicts_for(toy, "contacts.bulk-read", True)) == ["violation"]
    assert [v.finding for v in verdicts_for(toy, "contacts.sent", True)] == ["contacts.*"]
    assert [v.finding for v in verdicts_for(toy, "sms.bulk-read", True)] == ["*.bulk-read"]
    assert [v.finding for v in verdicts_for(toy, "sms.sent", True)] == ["*.*"]


def test_conditions_filter_before_ranking_and_ties_are_all_returned() -> None:
    toy = _toy([_v("*.bulk-read", "warning"), _v("contacts.bulk-read", "violation", target_sdk_min=37),
                _v("contacts.sent", "warning"), _v("contacts.sent", "violation", declares_any=[READ_CONTACTS])])
    assert severities(verdicts_for(toy, "contacts.bulk-read", False, target_sdk=30)) == ["warning"]
    assert severities(verdicts_for(toy, "contacts.bulk-read", False, target_sdk=37)) == ["violation"]
    assert severities(verdicts_for(toy, "contacts.sent", False, permissions=[READ_CONTACTS])) == ["warning", "violation"]


@pytest.mark.parametrize(("change", "error"), [
    (lambda d: d["verdicts"][0].update(clauses=["nope"]), "verdicts[0].clauses: unknown clause 'nope'"),
    (lambda d: d["verdicts"][0].update(finding="contact.bulk-read"), "verdicts[0].finding"),
    (lambda d: d["verdicts"][0].update(finding="sms.picker-only"), "picker-only exists only for contacts"),
    (lambda d: d["clauses"][0].update(level="U"), "clauses[0].text: an unverified (U) clause has empty text"),
    (lambda d: d["clauses"][0].update(text=""), "clauses[0].text: an unverified (U) clause has empty text"),
    (lambda d: d["clauses"][0].update(source="nope"), "clauses[0].source: unknown source 'nope'"),
    (lambda d: d["verdicts"][0].update(finding="contacts.prohibited-permission"), "verdicts[0].when: prohibited_permissions goes with"),
    (lambda d: d["verdicts"][0]["message"].update(en="Reads {contacts}"), "unknown placeholder {contacts}"),
    (lambda d: d.update(applies_to="lending"), "verdicts[0].applies_to: a lending profile has lending verdicts only"),
    (lambda d: d["verdicts"].append(copy.deepcopy(d["verdicts"][0])), "verdicts[1]: a second verdict for contacts.bulk-read"),
    (lambda d: d["clauses"][0].update(date="1 May 2021"), "clauses[0].date: '1 May 2021' is not an ISO date"),
    (lambda d: d["verdicts"][0].update(severity="high"), "verdicts[0].severity: 'high' is not one of info, warning, violation"),
    (lambda d: d.pop("sources"), "top level: missing 'sources'"),
    (lambda d: d["verdicts"][0].update(colour="red"), "verdicts[0]: unknown field 'colour'"),
])
def test_malformed_profiles_are_rejected_with_the_field_named(change: Any, error: str) -> None:
    data = json.loads(json.dumps({
        "schema_version": 1, "id": "toy", "title": {"en": "Toy", "zh": "玩具"}, "jurisdiction": "XX", "version": "0.1.0",
        "as_of": "2026-01-01", "applies_to": "all",
        "sources": [{"id": "s", "title": "S", "title_en": "S", "publisher": "P", "url": "https://example.org", "date": None, "version": "1"}],
        "clauses": [{"id": "c", "citation": {"en": "art. 1"}, "text": "x", "lang": "en", "gloss_en": "x", "source": "s",
                     "date": "2020-01-01", "version": "1", "level": "S", "note": ""}],
        "verdicts": [_v("contacts.bulk-read")],
    }))
    parse(data, "toy.json")
    change(data)
    with pytest.raises(PolicyError, match=re.escape(error)):
        parse(data, "toy.json")


def test_schema_rejects_what_it_can_express() -> None:
    good = raw("cn-lending")
    assert list(validator().iter_errors(good)) == []
    changes: list[Callable[[dict[str, Any]], None]] = [
        lambda d: d["clauses"][0].update(level="U"), lambda d: d["verdicts"][0].update(finding="contact.bulk-read"),
        lambda d: d["verdicts"][0].update(finding="contacts.prohibited-permission"),
        lambda d: d["verdicts"][0]["message"].update(en="Reads {contacts}"), lambda d: d["clauses"][0].update(date="2021-5-1")]
    for change in changes:
        bad = copy.deepcopy(good)
        change(bad)
        assert list(validator().iter_errors(bad)), change


def test_unknown_profile_is_one_line_naming_the_valid_ids() -> None:
    with pytest.raises(PolicyError) as caught:
        profile("cn-lendng")
    message = str(caught.value)
    assert "\n" not in message and "'cn-lendng'" in message and all(name in message for name in profiles())


def test_profiles_returns_a_fresh_dict() -> None:
    first = profiles()
    first.clear()
    assert profiles()


# ---- docs


def test_docs_explain_every_profile_and_clause() -> None:
    text = (ROOT / "docs" / "policies.md").read_text(encoding="utf-8")
    assert [name for name in profiles() if f"## `{name}`" not in text] == []
    assert sorted({c["id"] for _, c in all_clauses()} - set(re.findall(r"`([a-z0-9-]+)`", text))) == []


def test_docs_verdict_tables_match_the_profiles() -> None:
    text = (ROOT / "docs" / "policies.md").read_text(encoding="utf-8")
    for name, p in profiles().items():
        section = text.split(f"## `{name}`", 1)[1].split("\n## ", 1)[0]
        rows = re.findall(r"^\| `([^`]+)` \| (all|lending) \| (info|warning|violation) \|", section, re.MULTILINE)
        assert rows == [(v.finding, v.applies_to.value, v.severity.value) for v in p.verdicts], name


def test_docs_python_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    text = (ROOT / "docs" / "policies.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"^```python\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    exec(compile(block, "docs/policies.md", "exec"), {})  # noqa: S102 -- our own documented example, run to keep it true
    assert capsys.readouterr().out.startswith("violation Declares android.permission.READ_CONTACTS")
