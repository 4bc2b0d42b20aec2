"""The lending-app category signal: exact clues on the fixtures, the rule, the corpus, hostile input."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import pytest

from permaudit.dex import DexFile
from permaudit.errors import InputError
from permaudit.facts import category
from permaudit.facts import code as code_stage
from permaudit.facts import manifest as manifest_stage
from permaudit.loading import load
from permaudit.model import Component, ManifestFacts
from permaudit.model.category import (
    CategoryClue,
    CategoryClueKind,
    CategoryClueSource,
    CategorySignal,
    CategoryStrength,
)

from .conftest import CORPUS, SHARED, corpus, corpus_labels, fixture, with_members

L, S = CategoryClueKind.LENDING, CategoryClueKind.SDK


def signal_of(path: Path, *, dexes: Sequence[tuple[str, DexFile]] | None = None, code: bool = False) -> CategorySignal:
    package = load(path, keep_dex=True)
    manifest = manifest_stage.extract(package)
    facts = code_stage.extract(package) if code else None
    return category.extract(package, manifest, facts, dexes)


def clues(signal: CategorySignal) -> set[tuple[str, str, str, str, str]]:
    return {(c.source.value, c.kind.value, c.text, c.term, c.where) for c in signal.clues}


def facts_like(name: str = "clean_app.apk", **changes: object) -> ManifestFacts:
    """A real ManifestFacts (from a fixture) with some fields replaced: for the rule, without an APK per case."""
    facts = manifest_stage.extract(load(fixture(name)))
    assert facts is not None
    return dataclasses.replace(facts, **changes)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- fixtures


def test_loan_harvest_is_weak_on_its_name_alone_its_own_domain_is_not_independent() -> None:
    signal = signal_of(fixture("loan_harvest.apk"))
    assert (signal.looks_like, signal.strength, signal.reason) == (True, CategoryStrength.WEAK, "a lending term in the label or package only")
    assert clues(signal) == {
        ("label", "lending", "QuickCash Loan", "loan", ""),
        ("package", "lending", "com.example.loanharvest", "loan", ""),
        ("label", "finance", "QuickCash Loan", "cash", ""),
    }
    # https://api.quickcash-loan.example/... (ContactsUploader) and string/app_name repeat the label: not clues
    assert (signal.more, signal.note) == (0, "")


def test_loan_declared_only_is_weak_on_label_and_package() -> None:
    signal = signal_of(fixture("loan_declared_only.apk"))
    assert (signal.looks_like, signal.strength) == (True, CategoryStrength.WEAK)
    assert clues(signal) == {("label", "lending", "Loan Compare", "loan", ""), ("package", "lending", "com.example.loandeclared", "loan", "")}


@pytest.mark.parametrize("name", ["loan_bundle.xapk", "loan_bundle.apks"])
def test_loan_bundle_is_weak_on_label_and_package(name: str) -> None:
    signal = signal_of(fixture(name))
    assert (signal.looks_like, signal.strength) == (True, CategoryStrength.WEAK)
    assert clues(signal) == {("label", "lending", "Bundle Loan", "loan", ""), ("package", "lending", "com.example.loanbundle", "loan", "")}


@pytest.mark.parametrize("name", ["clean_app.apk", "picker.apk", "consent_flow.apk", "multidex_app.apk", "query_apis.apk", "http_apis.apk"])
def test_apps_that_lend_nothing_have_no_clue(name: str) -> None:
    signal = signal_of(fixture(name))
    assert (signal.looks_like, signal.strength, signal.clues, signal.more, signal.note) == (False, CategoryStrength.NONE, (), 0, "")


def test_endpoints_fixture_is_strong_through_an_api_path_its_brand_domain_is_cut() -> None:
    signal = signal_of(fixture("endpoints.apk"))
    assert (signal.strength, signal.reason) == (CategoryStrength.STRONG, "a lending term in the label or package, and in code")
    assert clues(signal) == {
        ("label", "lending", "Endpoint Fixture Loan", "loan", ""),
        ("package", "lending", "com.loanfixturedemo.app", "loan", ""),
        ("dex-string", "lending", "/loan/contacts.php", "loan", "classes.dex Lcom/loanfixturedemo/app/Api;->built()Ljava/lang/String; @0x19"),
    }
    # https://gateway.loanfixturedemo.com/api/ (string/api_base) and https://api.loanfixturedemo.com/...: the app's brand


def test_manifest_only_reads_no_dex_and_says_so() -> None:
    signal = signal_of(fixture("endpoints.apk"), dexes=())
    assert (signal.strength, signal.note) == (CategoryStrength.WEAK, "dex strings and classes not read (code not analysed, or no dex could be opened)")
    assert {c.source for c in signal.clues} == {CategoryClueSource.LABEL, CategoryClueSource.PACKAGE}


def test_already_opened_dex_files_give_the_same_signal() -> None:
    path = fixture("endpoints.apk")
    package = load(path, keep_dex=True)
    opened = [(s.name, DexFile(s.read(), s.name)) for s in package.dex]
    assert signal_of(path, dexes=opened) == signal_of(path)


def test_cordova_texts_in_assets_confirm_the_label() -> None:
    signal = signal_of(fixture("hybrid_cordova.apk"))
    assert signal.strength is CategoryStrength.STRONG
    assert ("asset", "lending", "<h1>Quick Loan</h1>", "loan", "assets/www/index.html line 5") in clues(signal)


def test_a_string_handed_to_a_webview_bridge_is_a_dex_string_clue() -> None:
    signal = signal_of(fixture("webview_bridge.apk"))
    assert ("dex-string", "lending", "LoanBridge", "loan",
            "classes.dex Lcom/example/fx/webviewbridge/MainActivity;->onCreate(Landroid/os/Bundle;)V @0x15") in clues(signal)  # dexdump: 0015: const-string v2, "LoanBridge"


def test_risk_control_sdks_are_shown_but_support_nothing() -> None:
    signal = signal_of(fixture("sdk_attributed.apk"), code=True)
    assert (signal.strength, signal.looks_like) == (CategoryStrength.NONE, False)
    sdk = [c for c in signal.clues if c.source is CategoryClueSource.SDK]
    assert [(c.kind, c.term, c.where) for c in sdk] == [(S, "risk-control", "cn.tongdun (classes.dex)")]


# ---------------------------------------------------------------------------- the rule, on manifest facts


@pytest.mark.parametrize(("label", "package", "activities", "strength", "reason"), [
    ("Loan Calculator", "com.tools.calc", (), CategoryStrength.WEAK, "a lending term in the label or package only"),
    ("Acme Bank", "com.acme.bank", ("LoanApplyActivity",), CategoryStrength.NONE, "a lending term in manifest activities only"),
    ("Kredit Pintar", "id.kp.app", ("PinjamanActivity",), CategoryStrength.WEAK,
     "a finance term in the label or package, and a lending term in manifest activities"),
    ("QuickCash", "com.qc.app", ("KtpCameraActivity",), CategoryStrength.NONE, "no lending term found (finance terms only)"),  # KYC alone: nothing
    ("贷款超市", "com.x.y", ("FaceLivenessActivity",), CategoryStrength.STRONG, "a lending term in the label or package, and a KYC flow or KYC/credit-scoring SDK"),
    ("Cash Wallet", "com.wallet.app", ("InstallmentActivity", "CashierActivity"), CategoryStrength.NONE, "no lending term found (finance terms only)"),
    ("Calendar", "com.example.calendar", ("BlenderActivity",), CategoryStrength.NONE, "no lending term found"),
    ("Acme Bank", "com.acme.bank", ("LoanActivity",), CategoryStrength.NONE, "a lending term in manifest activities only"),
])
def test_the_rule_on_names(label: str, package: str, activities: tuple[str, ...], strength: CategoryStrength, reason: str) -> None:
    components = tuple(Component("activity", f"{package}.{a}", False, False) for a in activities)
    signal = category.extract(None, facts_like(label=label, package=package, components=components), None)
    assert (signal.strength, signal.reason, signal.looks_like) == (strength, reason, strength is not CategoryStrength.NONE)


def test_the_package_name_does_not_make_its_own_activities_clues() -> None:
    components = (Component("activity", "com.loan.test1.MainActivity", True, True), Component("activity", "com.loan.test1.LoanListActivity", False, True))
    signal = category.extract(None, facts_like(label="Visa Master", package="com.loan.test1", components=components), None)
    assert signal.strength is CategoryStrength.STRONG  # LoanListActivity: the class name, not the package, says loan
    assert ("activity", "lending", ".LoanListActivity", "loan", "com.loan.test1.LoanListActivity") in clues(signal)
    assert not any(c.where == "com.loan.test1.MainActivity" for c in signal.clues)


def test_a_label_that_is_the_package_name_is_not_a_label() -> None:
    signal = category.extract(None, facts_like(label="com.loan.app", package="com.loan.app"), None)
    assert [c.source for c in signal.clues] == [CategoryClueSource.PACKAGE]


def test_no_manifest_no_package() -> None:
    signal = category.extract(None, None, None)
    assert (signal.strength, signal.clues, signal.note) == (CategoryStrength.NONE, (), "no manifest: no label, package or activity names")


@pytest.mark.parametrize(("text", "terms"), [
    ("calendar", []), ("Blender", []), ("lender", ["lend"]), ("getLoanAmount", ["loan"]), ("LOAN_ID", ["loan"]),
    ("quickcashloan", ["loan"]), ("akreditasi", []), ("KreditPintar", ["kredit"]), ("emission", []), ("EMI", ["EMI"]),
    ("emi", []), ("No KTP", ["KTP"]), ("ktp", []), ("Préstamos rápidos", ["préstamo"]), ("cashback", []), ("cash", ["cash"]),
    ("无视黑户，秒下5000额度", ["额度"]), ("已借款", ["借款"]), ("真要贷", ["贷"]), ("daikuanchaoshi", ["daikuan"]),
    ("Ajukan pinjaman", ["pinjaman"]), ("mkopo haraka", ["mkopo"]), ("payday advance", ["payday"]),
])
def test_terms_match_words_not_pieces_of_other_words(text: str, terms: list[str]) -> None:
    assert [t.term for t, _ in category.match_terms(text)] == terms


# ---------------------------------------------------------------------------- hostile input


def test_a_garbage_resource_table_is_a_note_not_an_error(tmp_path: Path) -> None:
    path = with_members(fixture("loan_harvest.apk"), tmp_path / "bad_arsc.apk", {"resources.arsc": b"\x02\x00\x0c\x00" + b"\xff" * 40})
    signal = signal_of(path)
    assert signal.note.startswith("resources.arsc unreadable for string resources")
    assert ("package", "lending", "com.example.loanharvest", "loan", "") in clues(signal)


def test_a_garbage_dex_is_a_note_not_an_error(tmp_path: Path) -> None:
    path = with_members(fixture("endpoints.apk"), tmp_path / "bad_dex.apk", {"classes.dex": b"dex\n035\x00" + b"\xff" * 100})
    signal = signal_of(path)
    assert signal.note.startswith("classes.dex not read (")
    assert signal.strength is CategoryStrength.WEAK


def test_clues_are_visible_text() -> None:
    signal = category.extract(None, facts_like(label="Loan\x1b[2J\u202eApp", package="com.x.y"), None)
    assert [c.text for c in signal.clues if c.source is CategoryClueSource.LABEL] == ["Loan\\x1b[2J\\u202eApp"]
    assert CategoryClue(CategoryClueSource.ASSET, L, "a\nb", "loan", "x\ty").where == "x\\x09y"


# ---------------------------------------------------------------------------- corpus


LOOKS_LENDING = {"tp-loan": CategoryStrength.WEAK, "loan-declared-only": CategoryStrength.STRONG}


def _corpus_rows() -> list[dict[str, str]]:
    if not CORPUS.exists():
        return []
    return corpus_labels()


@pytest.mark.parametrize("row", _corpus_rows() or [pytest.param({}, marks=pytest.mark.skip(reason=f"third-party corpus not present at {CORPUS}"))],
                         ids=lambda r: r.get("name", "absent"))
def test_corpus_signal(row: dict[str, str]) -> None:
    path = corpus(row["file"])
    try:
        signal = signal_of(path)
    except InputError as exc:  # the loader refuses some edge files (an empty zip): not this stage's business
        assert row["kind"] == "edge", exc
        return
    print(f"{row['kind']:<19} {row['name'][:36]:<36} {signal.strength.value:<6} {len(signal.clues) + signal.more:>3} clues  {signal.reason}")
    if row["kind"] in LOOKS_LENDING:
        assert (signal.looks_like, signal.strength) == (True, LOOKS_LENDING[row["kind"]])
    elif row["kind"] in ("tp", "neg", "legit-reader"):
        assert not signal.looks_like, signal
    assert len(signal.clues) <= category.MAX_CLUES


def test_corpus_loan_apps_exact_identity_clues() -> None:
    black = signal_of(corpus("apk/7a9f0af7fee4a5fd335db3b96e571a3a4e123c32d0a06cd43f5517be8df0b6bb.apk"))
    assert clues(black) == {("package", "lending", "com.loan.test1", "loan", "")}  # its label is "Visa Master"
    zhen = signal_of(corpus("apk/c685d369c2937b446786fe2a5030a2e7ac51c5b3871365d36923ec3866835763.apk"))
    assert {("label", "lending", "真要贷", "贷", ""), ("package", "lending", "com.shiding.daikuanchaoshi", "daikuan", ""),
            ("dex-string", "lending", "<font color='#999999'>已借款 </font><font color='#FF0000'>", "借款",
             "classes.dex Lcom/shiding/daikuanchaoshi/adapter/HomeListAdapter;->getView(ILandroid/view/View;Landroid/view/ViewGroup;)Landroid/view/View; @0xa9"),  # dexdump: 00a9: const-string v11
            } <= clues(zhen)
    assert len(zhen.clues) == category.MAX_CLUES and zhen.more > 0


def test_the_big_benchmark_stays_bounded() -> None:
    path = SHARED / "bench" / "mega-multidex.apk"
    if not path.exists():
        pytest.skip(f"benchmark APK not present at {path}")
    signal = signal_of(path)
    # eight dex files, one of them the 真要贷 loan app's code under another app's name: code alone is not enough
    assert (signal.strength, signal.reason) == (CategoryStrength.NONE, "a lending term in code only")
    assert len(signal.clues) == category.MAX_CLUES and signal.more > 0


# ---------------------------------------------------------------------------- docs


def test_docs_name_every_term_needle_field_and_source() -> None:
    import json

    from .conftest import ROOT

    text = (ROOT / "docs" / "category.md").read_text(encoding="utf-8")
    data = json.loads((ROOT / "permaudit" / "data" / "category.json").read_text(encoding="utf-8"))
    names = [t["term"] for t in data["terms"] + data["kyc"]] + [p["currency"] for p in data["amounts"]["patterns"]]
    names += data["needles"]["dex"] + [f.name for cls in (CategorySignal, CategoryClue) for f in dataclasses.fields(cls)]
    names += [s.value for s in CategoryClueSource] + [k.value for k in CategoryClueKind] + [s.value for s in CategoryStrength]
    assert [n for n in names if f"`{n}`" not in text and f" {n} " not in text and f"{n}," not in text] == []


def test_a_7_mb_dex_the_code_stage_opened_is_not_inflated_again() -> None:
    """ProjectSpy (a 7 MB classes.dex, 46k strings): given the dex files the code stage opened, the
    stage reads their tables and never inflates a dex again (its cost is measured by the
    benchmarks, never by a timed test)."""
    import dataclasses

    path = corpus("apk/29b0d86ae68d83f9578c3f36041df943195bc55a7f3f1d45a9c23f145d75af9d.apk")
    package = load(path, keep_dex=True)
    manifest = manifest_stage.extract(package)
    opened = [(s.name, DexFile(s.read(), s.name)) for s in package.dex]
    expected = category.extract(package, manifest, None, opened)

    def refused() -> bytes:
        raise AssertionError("the category stage inflated a dex the code stage had opened")

    package.dex = [dataclasses.replace(s, read=refused) for s in package.dex]
    signal = category.extract(package, manifest, None, opened)
    assert signal == expected and signal.strength is CategoryStrength.NONE
    assert "not read" not in signal.note
