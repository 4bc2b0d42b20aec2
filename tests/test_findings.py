"""Observations (permaudit/findings/observe.py): exact finding types, confidence and evidence on
the fixtures, absences only over code that was analysed, and the finding-type table."""

from __future__ import annotations

import dataclasses
from functools import cache

import pytest

import permaudit
from permaudit.findings import finding_types, observe
from permaudit.model import AuditResult
from permaudit.model.findings import Confidence, EvidenceKind, Observation

from .conftest import CORPUS, fixture


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
    assert sent.confidence is Confidence.MEDIUM  # three calls between the read and the send
    (path,) = sent.evidence
    assert path.text == "collect@0x47 -> run@0x4 -> upload@0x1d -> HttpURLConnection.getOutputStream (within-calls)"
    assert path.location is not None and path.location.signature.startswith("Lcom/example/loanharvest/ContactsUploader;->upload")
    assert got["contacts.declared"].evidence[0].text == "android.permission.READ_CONTACTS (uses-permission, API 21+)"
    assert got["phone.declared-unused"].summary == "no read of device_id or phone in 1 dex file analysed"
    assert got["phone.declared-unused"].confidence is Confidence.MEDIUM


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
    assert flows["contacts.texted"].confidence is Confidence.HIGH  # read and SmsManager.sendTextMessage in one method
    assert flows["contacts.sent"].confidence is Confidence.HIGH
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
