"""Manifest facts on the committed fixtures: exact values, one fixture at a time."""

from __future__ import annotations

import pytest

import permaudit
from permaudit.model import Component, Status

from .conftest import fixture

P = "android.permission."


def perms(result: permaudit.AuditResult) -> set[tuple[str, str, int | None, str, bool, str]]:
    assert result.manifest is not None
    return {(p.name, p.element, p.max_sdk, p.protection_level, p.in_effect, p.effective_sdks) for p in result.manifest.permissions}


def test_loan_harvest_identity_and_permissions() -> None:
    result = permaudit.audit(fixture("loan_harvest.apk"), code=False)
    assert result.status is Status.COMPLETE and result.problems == ()
    facts = result.manifest
    assert facts is not None
    assert (facts.package, facts.version_code, facts.version_name, facts.label) == ("com.example.loanharvest", "7", "2.3.1", "QuickCash Loan")
    assert (facts.min_sdk, facts.target_sdk, facts.max_sdk) == (21, 30, None)
    assert facts.main_activity == "com.example.loanharvest.MainActivity"
    assert perms(result) == {
        (P + "INTERNET", "uses-permission", None, "normal|instant", True, "21-30"),
        (P + "READ_CONTACTS", "uses-permission", None, "dangerous", True, "21-30"),
        (P + "READ_PHONE_STATE", "uses-permission", None, "dangerous", True, "21-30"),
        (P + "ACCESS_FINE_LOCATION", "uses-permission", None, "dangerous|instant", True, "21-30"),
    }
    assert facts.permission(P + "READ_CONTACTS").category == "contacts"  # type: ignore[union-attr]


def test_sdk23_and_max_sdk_bounds() -> None:
    facts = permaudit.audit(fixture("manifest_edge.apk"), code=False).manifest
    assert facts is not None
    assert (facts.min_sdk, facts.target_sdk) == (21, 33)
    table = {(p.name, p.element): p for p in facts.permissions}
    contacts = table[(P + "READ_CONTACTS", "uses-permission-sdk-23")]
    assert (contacts.in_effect, contacts.effective_sdks, contacts.max_sdk) == (True, "23-33", None)
    storage = table[(P + "WRITE_EXTERNAL_STORAGE", "uses-permission")]
    assert (storage.in_effect, storage.effective_sdks, storage.max_sdk) == (False, "", 18)
    phone = table[(P + "READ_PHONE_STATE", "uses-permission")]
    assert (phone.in_effect, phone.effective_sdks, phone.max_sdk) == (True, "21-28", 28)
    location = table[(P + "ACCESS_FINE_LOCATION", "uses-permission-sdk-23")]
    assert (location.in_effect, location.effective_sdks, location.max_sdk) == (True, "23-30", 30)
    assert {name for name, _ in table} == {
        P + n
        for n in (
            "READ_CONTACTS", "WRITE_EXTERNAL_STORAGE", "READ_PHONE_STATE", "ACCESS_FINE_LOCATION", "INTERNET",
            "QUERY_ALL_PACKAGES", "READ_SMS", "READ_CALL_LOG", "GET_ACCOUNTS", "READ_MEDIA_IMAGES",
        )
    }
    levels = {name.removeprefix(P): p.protection_level for (name, _), p in table.items()}
    assert levels == {
        "ACCESS_FINE_LOCATION": "dangerous|instant",
        "GET_ACCOUNTS": "dangerous",
        "INTERNET": "normal|instant",
        "QUERY_ALL_PACKAGES": "normal",
        "READ_CALL_LOG": "dangerous",
        "READ_CONTACTS": "dangerous",
        "READ_MEDIA_IMAGES": "dangerous",  # added in API 33, the target
        "READ_PHONE_STATE": "dangerous",
        "READ_SMS": "dangerous",
        "WRITE_EXTERNAL_STORAGE": "dangerous",
    }
    assert facts.query_all_packages is True


def test_manifest_security_facts() -> None:
    facts = permaudit.audit(fixture("manifest_edge.apk"), code=False).manifest
    assert facts is not None
    assert facts.uses_cleartext_traffic is True
    assert facts.network_security_config == "res/xml/network_security_config.xml"
    assert facts.queries == ("intent:android.intent.action.VIEW scheme=https", "package:com.whatsapp")
    assert [(d.name, d.protection_level) for d in facts.declared_permissions] == [("com.example.manifestedge.permission.SYNC", "signature")]
    pkg = "com.example.manifestedge."
    assert facts.components == (
        Component("activity", pkg + "HiddenActivity", True, False, ""),
        Component("activity", pkg + "MainActivity", True, True, ""),
        Component("provider", pkg + "DataProvider", False, True, ""),
        Component("receiver", pkg + "BootReceiver", True, True, ""),
        Component("service", pkg + "SyncService", True, True, pkg + "permission.SYNC"),
    )


@pytest.mark.parametrize(
    ("name", "package", "label", "expected"),
    [
        ("loan_declared_only.apk", "com.example.loandeclared", "Loan Compare", {P + "INTERNET", P + "READ_CONTACTS"}),
        ("clean_app.apk", "com.example.cleanapp", "Clean Notes", {P + "INTERNET"}),
        ("multidex_app.apk", "com.example.multidex", "Multi Dex", {P + "INTERNET", P + "READ_CONTACTS"}),
    ],
)
def test_simple_fixtures(name: str, package: str, label: str, expected: set[str]) -> None:
    facts = permaudit.audit(fixture(name), code=False).manifest
    assert facts is not None
    assert (facts.package, facts.label) == (package, label)
    assert {p.name for p in facts.permissions if p.in_effect} == expected


@pytest.mark.parametrize("name", ["loan_bundle.xapk", "loan_bundle.apks"])
def test_bundle_reads_base_and_every_split(name: str) -> None:
    result = permaudit.audit(fixture(name), code=False)
    assert result.status is Status.COMPLETE, result.problems
    assert result.kind == name.rsplit(".", 1)[1]
    facts = result.manifest
    assert facts is not None
    assert (facts.package, facts.version_code, facts.version_name, facts.label) == ("com.example.loanbundle", "12", "1.2", "Bundle Loan")
    assert facts.splits == ("config.arm64_v8a", "feature_sync")
    kinds = sorted((a.kind, a.split) for a in result.artifacts)
    assert kinds == [("apk", ""), ("bundle", ""), ("split", "config.arm64_v8a"), ("split", "feature_sync")]
