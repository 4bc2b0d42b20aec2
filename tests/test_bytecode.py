"""Bytecode evidence on the fixtures: every site exactly as the fixture's author wrote it down.

Each ``fixtures/src/<name>/expected.json`` was written with the smali, its offsets read
from dexdump; the detector must find exactly those sites, requests and hybrid evidence,
and nothing in the methods listed under ``must_not_report``.
"""

from __future__ import annotations

import pytest

import permaudit
from permaudit.model import AuditResult, Status

from .conftest import FIXTURES, expected, fixture

APPS = sorted(p.parent.name for p in FIXTURES.glob("src/*/expected.json"))


def audited(name: str) -> AuditResult:
    result = permaudit.audit(fixture(f"{name}.apk"))
    assert result.status is Status.COMPLETE, result.problems
    assert result.code is not None
    return result


def site_keys(result: AuditResult, dex_prefix: str = "") -> set[tuple[object, ...]]:
    assert result.code is not None
    return {
        (s.category, s.kind, s.location.dex.removeprefix(dex_prefix), s.location.class_name, s.location.method,
         s.location.descriptor, s.location.offset, s.api, s.source, s.bridge)
        for s in result.code.sites
    }


def expected_keys(truth: dict) -> set[tuple[object, ...]]:
    return {
        (e["category"], e["kind"], e["dex"], e["class"], e["method"], e["descriptor"], e["offset"], e["api"],
         e.get("uri") or e.get("mime") or e.get("setting") or "", bool(e.get("bridge")))
        for e in truth["sites"]
    }


@pytest.mark.parametrize("name", APPS)
def test_sites_match_ground_truth(name: str) -> None:
    assert site_keys(audited(name)) == expected_keys(expected(name))


@pytest.mark.parametrize("name", APPS)
def test_nothing_reported_in_decoy_methods(name: str) -> None:
    result = audited(name)
    assert result.code is not None
    reported = {(s.location.class_name, s.location.method, s.location.descriptor) for s in result.code.sites}
    for decoy in expected(name)["must_not_report"]:
        assert (decoy["class"], decoy["method"], decoy["descriptor"]) not in reported, decoy["why"]


@pytest.mark.parametrize("name", APPS)
def test_runtime_requests_resolved(name: str) -> None:
    result = audited(name)
    assert result.code is not None
    got = {(r.location.class_name, r.location.method, r.location.descriptor, r.location.offset, r.api, r.permissions) for r in result.code.requests}
    want = {(e["class"], e["method"], e["descriptor"], e["offset"], e["api"], tuple(e["permissions"])) for e in expected(name)["runtime_requests"]}
    assert got == want


@pytest.mark.parametrize("name", APPS)
def test_hybrid_evidence(name: str) -> None:
    result = audited(name)
    assert result.code is not None
    got = {(h.framework, h.evidence_kind, h.path) for h in result.code.hybrid}
    want = {(e["framework"], e["evidence_kind"], e.get("path") or e["class"]) for e in expected(name)["hybrid"]}
    assert got == want


def test_sdk_attribution() -> None:
    result = audited("sdk_attributed")
    assert result.code is not None
    owners = {s.location.method: (s.attribution.owner, s.attribution.prefix) for s in result.code.sites}
    assert owners == {"collect": ("third-party", "cn.tongdun"), "read": ("first-party", "")}
    tongdun = next(s for s in result.code.sites if s.location.method == "collect")
    assert tongdun.attribution.sdk and tongdun.attribution.source


def test_evidence_chain_names_the_uri() -> None:
    result = audited("uri_forms")
    assert result.code is not None
    base64 = next(s for s in result.code.sites if s.location.method == "base64Uri")
    assert any("Y29udGVudDovL2NvbS5hbmRyb2lkLmNvbnRhY3RzL2RhdGEvcGhvbmVz" in line for line in base64.evidence)
    scanned = next(s for s in result.code.sites if s.location.method == "scan")
    assert any("Holder;->CONTACTS" in line for line in scanned.evidence)
    assert scanned.location.instruction.startswith("invoke-virtual")


@pytest.mark.parametrize("name", ["loan_bundle.xapk", "loan_bundle.apks"])
def test_bundle_split_code_is_audited(name: str) -> None:
    result = permaudit.audit(fixture(name))
    assert result.code is not None
    truth = expected("loan_bundle/feature_sync")
    split = "split_feature_sync.apk!" if name.endswith(".xapk") else "splits/feature_sync-master.apk!"
    assert site_keys(result, split) == expected_keys(truth)
    assert [d.name for d in result.code.dex] == [f"{'base.apk' if name.endswith('.xapk') else 'splits/base-master.apk'}!classes.dex", f"{split}classes.dex"]


def test_columns_taken_from_each_contact() -> None:
    result = audited("loan_harvest")
    assert result.code is not None
    [site] = result.code.sites
    assert (site.kind, site.columns) == ("bulk", ("display_name", "data1"))
    assert any(line.startswith("cursor iterated: ") and "moveToNext" in line for line in site.evidence)
