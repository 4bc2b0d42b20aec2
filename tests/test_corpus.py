"""The real-world corpus in ../shared (read in place, never copied): no traceback, facts
that agree with aapt, every labelled contacts reader found, every label's note explained,
and the TaintBench contacts sources found."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from contextlib import redirect_stderr, redirect_stdout
from functools import cache
from pathlib import Path

import pytest

import permaudit
from permaudit.cli import main
from permaudit.model import AuditResult, Status

from .conftest import CORPUS, corpus, corpus_labels

APKS = sorted((CORPUS / "apk").glob("*.apk")) if CORPUS.exists() else []
DEX_FOLDERS = sorted(p for p in (CORPUS / "dex").iterdir() if p.is_dir()) if CORPUS.exists() else []
ALL = APKS + DEX_FOLDERS
pytestmark = pytest.mark.skipif(not CORPUS.exists(), reason=f"third-party corpus not present at {CORPUS}")


@cache
def audited(name: str) -> AuditResult:
    return permaudit.audit(CORPUS / name)


def contacts_sites(result: AuditResult) -> dict[str, set[str]]:
    """``Lcls;->method`` -> kinds of the contacts sites in it."""
    found: dict[str, set[str]] = {}
    for site in result.code.sites if result.code else ():
        if site.category == "contacts":
            found.setdefault(f"{site.location.class_name}->{site.location.method}", set()).add(site.kind)
    return found


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name[:12])
def test_cli_gives_facts_or_one_line_error(path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["audit", str(path), "--format", "json"])
    result = json.loads(out.getvalue())["results"][0]
    lines = err.getvalue().splitlines()
    if code == 0:
        assert result["status"] == "complete"
        notes = [p for p in result["problems"] if p["severity"] == "note"]
        assert notes == result["problems"]
        assert lines == ([f"permaudit: note: {path}" + lines[0].split(str(path), 1)[1]] if notes else [])
    else:
        assert code == 2 and len(lines) == 1 and lines[0].startswith(f"permaudit: {path}")
        assert result["status"] in ("partial", "failed") and result["problems"]
    assert result["manifest"] is not None or result["code"] is not None or result["status"] == "failed"


def _badging(path: Path) -> str | None:
    proc = subprocess.run(["aapt", "dump", "badging", str(path)], capture_output=True, text=True, check=False)
    return proc.stdout if proc.returncode == 0 and "package: name=" in proc.stdout else None


@pytest.mark.skipif(shutil.which("aapt") is None, reason="aapt (Debian package aapt) not installed")
@pytest.mark.parametrize("path", APKS, ids=lambda p: p.name[:12])
def test_manifest_agrees_with_aapt(path: Path) -> None:
    badging = _badging(path)
    if badging is None:
        pytest.skip("aapt cannot read this file either")
    facts = audited(f"apk/{path.name}").manifest
    assert facts is not None
    assert facts.package == re.search(r"package: name='([^']*)'", badging).group(1)  # type: ignore[union-attr]
    sdk = re.search(r"^sdkVersion:'(\d+)'", badging, re.M)
    target = re.search(r"^targetSdkVersion:'(\d+)'", badging, re.M)
    if sdk:
        assert facts.min_sdk == int(sdk.group(1))
    if target:
        assert facts.target_sdk == int(target.group(1))
    # aapt also prints permissions it infers (e.g. READ_EXTERNAL_STORAGE from WRITE_...); compare the declared ones
    declared = set(re.findall(r"^uses-permission(?:-sdk-23)?: name='([^']*)'", badging, re.M))
    implied = set(re.findall(r"^uses-implied-permission: name='([^']*)'", badging, re.M))
    ours = {p.name for p in facts.permissions}
    assert ours == declared - (implied - ours)


@pytest.mark.parametrize("row", corpus_labels() if CORPUS.exists() else [], ids=lambda r: r["name"][:24])
def test_every_labelled_reading_method_is_found(row: dict[str, str]) -> None:
    labelled = re.findall(r"L[^;\s]+;->[\w$<>]+", row["reference_reading_methods"])
    found = contacts_sites(audited(row["file"]))
    assert [m for m in labelled if m not in found] == []
    if row["kind"] in ("neg", "loan-declared-only") or row["file"].startswith("apk/24be606a"):
        assert found == {}


def test_twitter_loader_read_is_explained() -> None:
    result = audited("apk/a46949d4b0b8264c7d48c02a0897f106b9f61a4784e855e8707c7190918db8b1.apk")
    assert contacts_sites(result) == {"Lcom/twitter/android/s;->loadInBackground": {"loader"}}
    site = next(s for s in result.code.sites if s.category == "contacts")  # type: ignore[union-attr]
    assert site.source == "Landroid/provider/ContactsContract$Data;->CONTENT_URI"
    assert any("UsersFragment;->onCreateLoader" in line and "sget-object" in line for line in site.evidence)
    references = {r.location.class_name for r in result.code.references}  # type: ignore[union-attr]
    assert "Lcom/twitter/android/platform/RemoveRawContactsService;" in references


def test_tabbedout_picker_is_never_a_bulk_read() -> None:
    result = audited("apk/88b5f8084b8061647064a0a5ca920f99e7a64ed46bfc8593c478019ea987d5a5.apk")
    found = contacts_sites(result)
    assert found["Lcom/atxinnovation/tabbedout/BillDetailsScreen;->onActivityResult"] == {"picker"}
    assert all(kinds == {"picker"} for kinds in found.values()), found
    assert all(s.source.startswith("Landroid/provider/Contacts$") or "getData" in s.source for s in result.code.sites if s.category == "contacts")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "name",
    ["apk/c685d369c2937b446786fe2a5030a2e7ac51c5b3871365d36923ec3866835763.apk", "apk/25dd032ece0704af538ad5d8e14d1d478841c104fc4b51d31a37646f9d8c6810.apk"],
    ids=["loan-declared-only", "gmscore"],
)
def test_declared_but_never_used(name: str) -> None:
    result = audited(name)
    assert result.manifest is not None and result.manifest.permission("android.permission.READ_CONTACTS") is not None
    assert result.code is not None
    assert [s for s in result.code.sites if s.category == "contacts"] == []
    assert [r for r in result.code.references if r.category == "contacts"] == []
    assert [h for h in result.code.hybrid if h.category == "contacts"] == []


def test_carrieriq_refs_without_permission() -> None:
    result = audited("apk/1249d3702a701c8fa5ccf10da469acc7449d729a7138161b821f554d61138223.apk")
    assert result.manifest is not None and result.manifest.permission("android.permission.READ_CONTACTS") is None
    assert contacts_sites(result) == {}
    scanner = {(r.location.method, r.source) for r in result.code.references if "CallScanner" in r.location.class_name}  # type: ignore[union-attr]
    assert scanner == {("<clinit>", "content://com.android.contacts/data/phones"), ("<clinit>", "content://contacts/phones")}


def test_a2dp_reads_one_name() -> None:
    assert contacts_sites(audited("apk/fb913cccb0957c5b52caea48c3ef7a3ce1d616219b47eed65482097920fe8cc5.apk")) == {"La2dp/Vol/service;->GetName": {"lookup"}}


def test_broken_dex_header_is_partial() -> None:
    result = audited("apk/6e6b6754afb77e3c96ae0589cc4bcf6405779d5730da76a5476ff585cf1d125d.apk")
    assert result.status is Status.PARTIAL
    assert [(p.code, p.message) for p in result.problems] == [("bad-dex", "classes.dex: header_size 0x1ae0 is not 0x70")]
    assert result.manifest is not None and result.manifest.package == "com.strazzere.APKrypter"


def _taintbench_methods(folder: Path) -> set[str]:
    """Source methods of TaintBench flows whose source queries a contacts URI."""
    findings = json.loads(next(folder.glob("*_findings.json")).read_text())["findings"]
    methods = set()
    for finding in findings:
        source = finding["source"]
        if re.search(r"(query|managedQuery)\(\s*(Contacts|Phone|Email|ContactsContract[\w.]*)\.CONTENT_URI", source["statement"]):
            name = re.search(r"(\w+)\(", source["methodName"]).group(1)  # type: ignore[union-attr]
            methods.add(f"{source['className']}->{name}")
    return methods


@pytest.mark.parametrize("folder", DEX_FOLDERS, ids=lambda p: p.name)
def test_taintbench_contacts_sources_found(folder: Path) -> None:
    wanted = _taintbench_methods(corpus("dex", folder.name))
    # TaintBench writes inner classes with dots: frhfsd...WrehifsdkjsActivity.Progress
    found = {re.sub(r"^L|;$", "", k.split(";->")[0]).replace("/", ".").replace("$", ".") + "->" + k.split("->")[1]: v for k, v in contacts_sites(audited(f"dex/{folder.name}")).items()}
    assert {m for m in wanted if m not in found} == set()
    assert all(found[m] == {"bulk"} for m in wanted)


def test_taintbench_has_contacts_flows() -> None:
    """The two apps whose flows start at a contacts query are where we look."""
    assert _taintbench_methods(corpus("dex", "exprespam")) == {"frhfsd.siksdk.ujdsfjkfsd.WrehifsdkjsActivity.Progress->getAddress"}
    assert _taintbench_methods(corpus("dex", "beita_com_beita_contact")) == {"com.beita.contact.MyContacts->getContactsInfoListFromPhone"}
