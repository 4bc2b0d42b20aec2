"""Manifest facts on the committed fixtures: exact values, one fixture at a time."""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import json
import re
import zipfile
from pathlib import Path

import pytest

import permaudit
from permaudit.facts import manifest as manifest_stage
from permaudit.facts.manifest import _protection_name
from permaudit.loading import load
from permaudit.loading.manifest_xml import parse_manifest
from permaudit.model import Component, Permission, Status
from permaudit.model.manifest import PermissionDefiner

from .conftest import ROOT, fixture

P = "android.permission."
PLATFORM = PermissionDefiner.PLATFORM

Row = tuple[str, str, int | None, str, bool, int | None, int | None]


def perms(result: permaudit.AuditResult) -> set[Row]:
    assert result.manifest is not None
    return {
        (p.name, p.element, p.max_sdk, p.protection_level, p.in_effect, p.device_api_min, p.device_api_max)
        for p in result.manifest.permissions
    }


def test_loan_harvest_identity_and_permissions() -> None:
    result = permaudit.audit(fixture("loan_harvest.apk"), code=False)
    assert result.status is Status.COMPLETE and result.problems == ()
    facts = result.manifest
    assert facts is not None
    assert (facts.package, facts.version_code, facts.version_name, facts.label) == ("com.example.loanharvest", "7", "2.3.1", "QuickCash Loan")
    assert (facts.min_sdk, facts.target_sdk, facts.max_sdk) == (21, 30, None)
    assert facts.main_activity == "com.example.loanharvest.MainActivity"
    assert perms(result) == {
        (P + "INTERNET", "uses-permission", None, "normal|instant", True, 21, None),
        (P + "READ_CONTACTS", "uses-permission", None, "dangerous", True, 21, None),
        (P + "READ_PHONE_STATE", "uses-permission", None, "dangerous", True, 21, None),
        (P + "ACCESS_FINE_LOCATION", "uses-permission", None, "dangerous|instant", True, 21, None),
    }
    assert facts.permission(P + "READ_CONTACTS").category == "contacts"  # type: ignore[union-attr]


def test_sdk23_and_max_sdk_bounds() -> None:
    facts = permaudit.audit(fixture("manifest_edge.apk"), code=False).manifest
    assert facts is not None
    assert (facts.min_sdk, facts.target_sdk) == (21, 33)
    table = {(p.name, p.element): p for p in facts.permissions}
    def state(p: Permission) -> tuple[bool, int | None, int | None, int | None, str]:
        return (p.in_effect, p.device_api_min, p.device_api_max, p.max_sdk, p.device_apis)

    assert state(table[(P + "READ_CONTACTS", "uses-permission-sdk-23")]) == (True, 23, None, None, "23+")
    # maxSdkVersion 18 below minSdkVersion 21: an empty range, kept so the reader sees why
    assert state(table[(P + "WRITE_EXTERNAL_STORAGE", "uses-permission")]) == (False, 21, 18, 18, "never")
    assert state(table[(P + "READ_PHONE_STATE", "uses-permission")]) == (True, 21, 28, 28, "21-28")
    assert state(table[(P + "ACCESS_FINE_LOCATION", "uses-permission-sdk-23")]) == (True, 23, 30, 30, "23-30")
    assert {p.defined_by for p in facts.permissions} == {PLATFORM}
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
        Component("activity", pkg + "HiddenActivity", True, False, "", (pkg + "action.HIDDEN",), ("android.intent.category.DEFAULT",)),
        Component("activity", pkg + "MainActivity", True, True, "", ("android.intent.action.MAIN",), ("android.intent.category.LAUNCHER",)),
        Component("provider", pkg + "DataProvider", False, True, ""),
        Component("receiver", pkg + "BootReceiver", True, True, "", ("android.intent.action.BOOT_COMPLETED",)),
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


def test_device_range_fixture() -> None:
    """Target 22 does not bound anything: Android decides by the device's API level."""
    result = permaudit.audit(fixture("device_range.apk"), code=False)
    assert result.status is Status.COMPLETE and result.problems == ()
    facts = result.manifest
    assert facts is not None
    assert (facts.package, facts.min_sdk, facts.target_sdk, facts.max_sdk) == ("com.example.devicerange", 21, 22, 30)
    rows = {
        (p.name, p.element, p.max_sdk, p.in_effect, p.device_api_min, p.device_api_max, p.device_apis, p.defined_by, p.count, p.note)
        for p in facts.permissions
    }
    other, app, invalid = PermissionDefiner.OTHER, PermissionDefiner.APP, PermissionDefiner.INVALID
    assert rows == {
        # uses-permission-sdk-23 on a target-22 app: requested on API 23+ devices, up to the app's maxSdkVersion 30
        (P + "READ_CONTACTS", "uses-permission-sdk-23", None, True, 23, 30, "23-30", PLATFORM, 1, ""),
        # uses-permission-sdk-m is the same element under its old name
        (P + "READ_SMS", "uses-permission-sdk-23", None, True, 23, 30, "23-30", PLATFORM, 1, ""),
        # maxSdkVersion caps the device, not the target
        (P + "READ_CALL_LOG", "uses-permission", 28, True, 21, 28, "21-28", PLATFORM, 1, ""),
        ("READ_PRIVILEGED_PHONE_STATE", "uses-permission", None, False, None, None, "never", invalid, 1,
         "not a platform permission: did you mean android.permission.READ_PRIVILEGED_PHONE_STATE?"),
        (P + "READ_CONTACT", "uses-permission", None, True, 21, 30, "21-30", other, 1, "not in AOSP's permission tables (API 4-36)"),
        ("com.google.android.c2dm.permission.RECEIVE", "uses-permission", None, True, 21, 30, "21-30", other, 1, ""),
        ("com.example.devicerange.permission.C2D_MESSAGE", "uses-permission", None, True, 21, 30, "21-30", app, 1, ""),
        (P + "INTERNET", "uses-permission", None, True, 21, 30, "21-30", PLATFORM, 2, ""),
    }
    levels = {p.name: p.protection_level for p in facts.permissions}
    assert levels["com.example.devicerange.permission.C2D_MESSAGE"] == "signature"  # the app's own declaration
    assert levels[P + "INTERNET"] == "dangerous"  # AOSP's API 22 table (the target): normal only from API 23
    assert levels["READ_PRIVILEGED_PHONE_STATE"] == levels["com.google.android.c2dm.permission.RECEIVE"] == "unknown"
    assert {p.manifest for p in facts.permissions} == {"AndroidManifest.xml"}
    assert facts.permission(P + "READ_CONTACTS").category == "contacts"  # type: ignore[union-attr]
    assert facts.permission("READ_PRIVILEGED_PHONE_STATE").category == ""  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("dangerous|ephemeral", "dangerous|instant"),  # AOSP API 26-27 tables
        ("dangerous|instant", "dangerous|instant"),  # API 28+
        ("0x00001001", "dangerous|instant"),  # a compiled manifest
        ("signatureOrSystem", "signature|privileged"),
        ("system|signature", "signature|privileged"),
        ("signature|preinstalled|appop|pre23", "signature|appop|pre23|preinstalled"),  # flags in bit order
        ("0x00000012", "signature|privileged"),
        ("normal", "normal"),
        ("", "normal"),  # attribute absent: Android's default
        ("signature|futureFlag", "signature|futureFlag"),  # unknown tokens are kept
    ],
)
def test_protection_levels_have_one_spelling(raw: str, normal: str) -> None:
    assert _protection_name(raw) == normal


# the API levels facts/manifest.py read through androguard's load_permissions before the tables were shipped as data
ANDROGUARD_TABLES = (4, 5, 6, 7, 8, 9, 10, 13, 14, 15, 16, 17, 18, 19, *range(21, 37))


@pytest.mark.skipif(importlib.util.find_spec("androguard") is None, reason="androguard (the tables' source) is not installed")
def test_shipped_permission_tables_answer_as_androguards_did() -> None:
    """``permaudit/data/aosp_permissions.json`` gives what androguard's tables gave, for every target SDK."""
    from androguard.core.api_specific_resources import load_permissions
    from loguru import logger

    logger.disable("androguard")

    def old_table(api: int) -> dict[str, str]:
        return {name: _protection_name(str(entry.get("protectionLevel", ""))) for name, entry in load_permissions(api).items()}

    def table(target_sdk: int) -> dict[str, str]:
        api = manifest_stage._table_api(target_sdk)
        return {name: level for name in every if (level := manifest_stage._level(name, api)) is not None}

    assert manifest_stage._api_levels() == ANDROGUARD_TABLES
    old = {api: old_table(api) for api in ANDROGUARD_TABLES}
    every = set(manifest_stage._history()).union(*old.values())
    for target_sdk in range(40):
        api = max((a for a in ANDROGUARD_TABLES if a <= target_sdk), default=ANDROGUARD_TABLES[0])
        assert table(target_sdk) == old[api], target_sdk
    platform: dict[str, str] = {}
    for api in ANDROGUARD_TABLES:
        platform |= old[api]
    assert {name: level for name in every if (level := manifest_stage._platform_level(name)) is not None} == platform
    assert manifest_stage._platform_level(P + "READ_CONTACTS") == "dangerous"
    assert [manifest_stage._level(P + "INTERNET", manifest_stage._table_api(sdk)) for sdk in (22, 23, 30)] == ["dangerous", "normal", "normal|instant"]
    names = [P + "READ_CONTACTS", "READ_CONTACTS", "android.permission.read_contacts", "android.permission.NOT_A_THING",
             "com.example.OWN", P + "QUERY_ALL_PACKAGES", "com.android.launcher.permission.INSTALL_SHORTCUT"]
    notes = {name: manifest_stage._definer(name, {"com.example.OWN": "signature"}) for name in names}
    assert notes["READ_CONTACTS"] == (PermissionDefiner.INVALID, f"not a platform permission: did you mean {P}READ_CONTACTS?")
    assert notes[P + "NOT_A_THING"] == (PermissionDefiner.OTHER, "not in AOSP's permission tables (API 4-36)")
    assert notes["com.example.OWN"] == (PermissionDefiner.APP, "")
    assert notes[P + "QUERY_ALL_PACKAGES"] == (PLATFORM, "")


def _apk_with_second_manifest(first: str, second: str, out: Path) -> Path:
    """``first``'s APK with ``second``'s compiled manifest added as a further AndroidManifest.xml entry."""
    extra = zipfile.ZipFile(fixture(second)).read("AndroidManifest.xml")
    buffer = io.BytesIO()
    with zipfile.ZipFile(fixture(first)) as source, zipfile.ZipFile(buffer, "w") as target:
        for info in source.infolist():
            target.writestr(info, source.read(info))
        with pytest.warns(UserWarning, match="Duplicate name"):
            target.writestr("AndroidManifest.xml", extra)
    out.write_bytes(buffer.getvalue())
    return out


def test_manifest_copies_cannot_hide_a_permission() -> None:
    """The two-manifest trick at the manifest stage alone: a package whose base carries a further copy."""
    package = load(fixture("clean_app.apk"))
    assert package.base is not None
    raw = zipfile.ZipFile(fixture("loan_harvest.apk")).read("AndroidManifest.xml")
    copy = parse_manifest(package, raw, "clean_app.apk!AndroidManifest.xml", "")
    assert copy is not None
    package.base.manifest_copies.append(copy)
    facts = manifest_stage.extract(package)
    assert facts is not None
    assert facts.package == "com.example.cleanapp"  # the other facts come from the manifest the loader chose
    rows = {(p.name, p.manifest, p.device_api_min, p.device_api_max, p.in_effect) for p in facts.permissions}
    assert rows == {
        (P + "INTERNET", "AndroidManifest.xml", 21, None, True),  # in both copies: listed once, from the first
        (P + "READ_CONTACTS", "AndroidManifest.xml#2", 21, None, True),
        (P + "READ_PHONE_STATE", "AndroidManifest.xml#2", 21, None, True),
        (P + "ACCESS_FINE_LOCATION", "AndroidManifest.xml#2", 21, None, True),
    }


def test_two_manifest_apk_end_to_end(tmp_path: Path) -> None:
    """A real archive holding AndroidManifest.xml twice: READ_CONTACTS only in the second copy is still reported."""
    path = _apk_with_second_manifest("clean_app.apk", "loan_harvest.apk", tmp_path / "two_manifests.apk")
    facts = permaudit.audit(path, code=False).manifest
    assert facts is not None and facts.package == "com.example.cleanapp"  # the loader reads the first copy as the manifest
    rows = {(p.name, p.manifest, p.device_apis) for p in facts.permissions}
    assert rows == {
        (P + "INTERNET", "AndroidManifest.xml", "21+"),
        (P + "READ_CONTACTS", "AndroidManifest.xml#2", "21+"),
        (P + "READ_PHONE_STATE", "AndroidManifest.xml#2", "21+"),
        (P + "ACCESS_FINE_LOCATION", "AndroidManifest.xml#2", "21+"),
    }


def test_every_permission_field_is_documented_with_real_output() -> None:
    """docs/facts.md's `permissions[]` table names every field, and each example is a value real output has."""
    text = (ROOT / "docs" / "facts.md").read_text(encoding="utf-8")
    section = text.split("### `permissions[]`", 1)[1].split("\n\n`defined_by`", 1)[0]
    rows = dict(re.findall(r"^\| `([a-z_]+)` \| [^|]+ \| .* \| `([^`]+)`", section, re.MULTILINE))
    assert set(rows) == {f.name for f in dataclasses.fields(Permission)}
    result = permaudit.audit(fixture("device_range.apk"), code=False).to_dict()
    output = result["manifest"]["permissions"]
    for field, example in rows.items():
        assert json.loads(example) in [p[field] for p in output], field


def test_components_carry_intent_filter_actions_categories_and_label() -> None:
    """The reach stage needs what starts each component: boot actions, MAIN/LAUNCHER, the label."""
    result = permaudit.audit(fixture("manifest_edge.apk"), code=False)
    assert result.manifest is not None
    by_name = {c.name.rsplit(".", 1)[-1]: c for c in result.manifest.components}
    assert by_name["BootReceiver"].actions == ("android.intent.action.BOOT_COMPLETED",)
    assert by_name["MainActivity"].actions == ("android.intent.action.MAIN",)
    assert by_name["MainActivity"].categories == ("android.intent.category.LAUNCHER",)
    assert by_name["HiddenActivity"].categories == ("android.intent.category.DEFAULT",)
    assert by_name["SyncService"].actions == () and by_name["SyncService"].label == "" and by_name["SyncService"].target_activity == ""
    assert manifest_stage.components(None) == () and manifest_stage.application_class(None) == ""
