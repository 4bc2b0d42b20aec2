"""Reachability from entry points: exact outcomes, entry points and paths on the consent_flow fixture."""

from __future__ import annotations

import re
from collections import Counter

import pytest

import permaudit
from permaudit.model import ReachFacts, Status
from permaudit.model.reach import TIMING_CAVEAT

from .conftest import ROOT, corpus, corpus_labels, fixture

APP = "Lcom/example/fx/consent/"


def reach_of(name: str) -> ReachFacts:
    result = permaudit.audit(fixture(name))
    assert result.status is Status.COMPLETE, result.problems
    assert result.code is not None and result.code.reach is not None
    return result.code.reach


def steps(site) -> list[tuple[str, str, int, str]]:  # type: ignore[no-untyped-def]
    return [(s.class_name.removeprefix(APP), s.method, s.offset, s.edge.value) for s in site.steps]


def test_consent_flow_every_read_has_its_exact_outcome_entry_and_path() -> None:
    facts = reach_of("consent_flow.apk")
    got = {(s.category, s.site.class_name.removeprefix(APP), s.site.method, s.site.offset): s for s in facts.sites}
    assert set(got) == {("contacts", "ContactsSync;", "collect", 0x11), ("contacts", "ContactsBook;", "load", 0xB),
                        ("call_log", "BootReceiver;", "onReceive", 0xA), ("sms", "Unused;", "dumpSms", 0xE)}

    early = got[("contacts", "ContactsSync;", "collect", 0x11)]
    assert early.outcome.value == "before-consent"
    assert early.entry is not None and (early.entry.kind.value, early.entry.component, early.entry.signature) == (
        "application", "com.example.fx.consent.ConsentApp", APP + "ConsentApp;->onCreate()V")
    assert steps(early) == [("ConsentApp;", "onCreate", 0x3, "call"), ("Preloader;", "warmUp", 0x0, "callback"),
                            ("ContactsSync;", "run", 0x0, "call"), ("ContactsSync;", "collect", 0x11, "read")]
    assert early.steps[1].instruction == "new-instance v0, Lcom/example/fx/consent/ContactsSync;"
    assert early.consent is None and "without passing a consent screen" in early.note

    behind = got[("contacts", "ContactsBook;", "load", 0xB)]
    assert behind.outcome.value == "after-consent"
    assert behind.entry is not None and (behind.entry.kind.value, behind.entry.signature) == (
        "consent-screen", APP + "PrivacyPolicyActivity;->onClick(Landroid/view/View;)V")
    assert steps(behind) == [("PrivacyPolicyActivity;", "onClick", 0x2, "start"), ("MainActivity;", "onCreate", 0x3, "call"),
                             ("ContactsBook;", "load", 0xB, "read")]
    assert behind.steps[0].instruction == "const-class v1, Lcom/example/fx/consent/MainActivity;"
    assert behind.consent is not None and behind.consent.class_name == APP + "PrivacyPolicyActivity;"
    assert behind.other_entries == ()

    boot = got[("call_log", "BootReceiver;", "onReceive", 0xA)]
    assert boot.outcome.value == "before-consent"
    assert boot.entry is not None and boot.entry.kind.value == "boot-receiver"
    assert steps(boot) == [("BootReceiver;", "onReceive", 0xA, "read")]

    dead = got[("sms", "Unused;", "dumpSms", 0xE)]
    assert dead.outcome.value == "not-reached" and dead.entry is None and dead.steps == ()
    assert dead.note.startswith("no entry point reached within 2 calls (1 method searched)")

    assert facts.caveat == TIMING_CAVEAT and "cannot prove timing" in facts.caveat
    assert facts.cut == ()


def test_consent_screen_is_found_with_its_clues() -> None:
    facts = reach_of("consent_flow.apk")
    assert [s.component for s in facts.consent_screens] == ["com.example.fx.consent.PrivacyPolicyActivity"]
    clues = {(c.source.value, c.text, c.keyword) for c in facts.consent_screens[0].clues}
    assert clues == {("name", "com.example.fx.consent.PrivacyPolicyActivity", "privacy"),
                     ("label", "隐私政策 / Privacy policy", "privacy"),
                     ("resource", "同意 / Agree", "同意"),
                     ("layout", "res/layout/activity_privacy.xml", "WebView")}


def test_without_a_consent_screen_nothing_is_called_before_consent() -> None:
    facts = reach_of("loan_harvest.apk")
    assert facts.consent_screens == ()
    (site,) = facts.sites
    assert site.outcome.value == "reachable"
    assert site.entry is not None and site.entry.kind.value == "launcher"
    assert site.note.startswith("no consent screen found in the app")
    assert [(s.method, s.offset, s.edge.value) for s in site.steps] == [("onCreate", 0x11, "callback"), ("run", 0x0, "call"), ("collect", 0x11, "read")]


def test_table_shows_the_reach_section() -> None:
    from permaudit.formats import table

    out = table.render([permaudit.audit(fixture("consent_flow.apk"))])
    assert "Reachable from entry points (2 of 4 reads before consent)" in out
    assert "ConsentApp.onCreate@0x3 -> Preloader.warmUp@0x0 (callback) -> ContactsSync.run@0x0 -> ContactsSync.collect@0x11" in out
    assert "consent screens: com.example.fx.consent.PrivacyPolicyActivity" in out
    assert TIMING_CAVEAT in out


def test_manifest_components_carry_actions_categories_and_labels() -> None:
    result = permaudit.audit(fixture("consent_flow.apk"), code=False)
    assert result.manifest is not None
    by_name = {c.name.rsplit(".", 1)[-1]: c for c in result.manifest.components}
    assert by_name["BootReceiver"].actions == ("android.intent.action.BOOT_COMPLETED",)
    assert by_name["SplashActivity"].categories == ("android.intent.category.LAUNCHER",)
    assert by_name["PrivacyPolicyActivity"].label.startswith("@")


def test_reach_doc_explains_every_field_and_outcome() -> None:
    import dataclasses

    from permaudit.model import reach

    text = (ROOT / "docs" / "reach.md").read_text(encoding="utf-8")
    fields = {f.name for cls in vars(reach).values() if dataclasses.is_dataclass(cls) for f in dataclasses.fields(cls)}
    assert {f for f in fields if f"`{f}`" not in text} == set()
    values = {v.value for e in (reach.ReachOutcome, reach.EntryKind, reach.ReachEdge, reach.ClueSource) for v in e}
    assert {v for v in values if f"`{v}`" not in text} == set()
    assert "cannot prove timing" in text


def test_stage_on_a_real_app_stays_within_its_bounds() -> None:
    """ProjectSpy: the search decodes at most the methods its bounds allow, the same ones on every
    run, and says where a bound stopped it (its time is measured by the benchmarks, never by a
    timed test)."""
    path = corpus("apk", "29b0d86ae68d83f9578c3f36041df943195bc55a7f3f1d45a9c23f145d75af9d.apk")
    from permaudit.dex import DexFile
    from permaudit.facts import reach as stage

    decoded: list[set[tuple[str, int]]] = []
    original, code = stage.extract, DexFile.code

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen: set[tuple[str, int]] = set()

        def counting(self: DexFile, idx: int, *a, **k):  # type: ignore[no-untyped-def]
            seen.add((self.name, idx))
            return code(self, idx, *a, **k)

        with pytest.MonkeyPatch.context() as inner:
            inner.setattr(DexFile, "code", counting)
            try:
                return original(*args, **kwargs)
            finally:
                decoded.append(seen)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(stage, "extract", counted)
        results = [permaudit.audit(path) for _ in range(2)]
    reach = results[0].code.reach if results[0].code else None
    assert reach is not None and reach.sites and all(": " in c for c in reach.cut)
    assert 0 < len(decoded[0]) <= stage.MAX_TOTAL + stage.MAX_SCREEN_METHODS
    assert decoded[0] == decoded[1] and results[0].code == results[1].code


def test_corpus_contacts_reads_all_get_an_outcome(capsys: pytest.CaptureFixture[str]) -> None:
    rows = [r for r in corpus_labels() if r["kind"] in ("tp", "tp-loan")]
    seen = 0
    for row in rows:
        path = corpus(row["file"])
        result = permaudit.audit(path)
        if result.code is None or result.code.reach is None:
            continue
        contacts = [s for s in result.code.reach.sites if s.category == "contacts"]
        assert len(contacts) == len({(s.location.dex, s.location) for s in result.code.sites if s.category == "contacts"})
        for s in contacts:
            seen += 1
            assert s.outcome.value in {"before-consent", "after-consent", "reachable", "not-reached", "cut", "not-searched"}
            if s.outcome.value in ("not-reached", "cut", "not-searched"):
                assert s.note
            else:
                assert s.entry is not None and s.steps and s.steps[-1].offset == s.site.offset
        with capsys.disabled():
            counts = Counter(s.outcome.value for s in contacts)
            entries = Counter(s.entry.kind.value for s in contacts if s.entry is not None)
            print(f"\n{row['name']}: {dict(counts)} entries {dict(entries)} screens {[c.component for c in result.code.reach.consent_screens]}")
    assert seen > 0
    assert re.fullmatch(r"\d+", str(seen))


def _opened(name: str):  # type: ignore[no-untyped-def]
    from permaudit.dex import DexFile
    from permaudit.loading import load

    package = load(fixture(name))
    return package, [(s.name, DexFile(s.read(), s.name)) for s in package.dex]


def test_bounds_cut_the_search_and_say_so() -> None:
    from permaudit.facts import reach

    result = permaudit.audit(fixture("consent_flow.apk"))
    assert result.code is not None
    package, dexes = _opened("consent_flow.apk")
    facts = reach.extract(result.code, dexes, package, max_depth=1)
    got = {s.site.method: s for s in facts.sites}
    assert got["collect"].outcome.value == "cut"
    assert got["collect"].note == "paths longer than 1 calls not followed; an entry point may lie beyond"
    assert got["onReceive"].outcome.value == "before-consent"  # the read is in the entry point itself
    assert any(line.endswith("paths longer than 1 calls not followed") for line in facts.cut)
    assert facts.limits[0].startswith("depth 1 calls back")


def test_without_the_manifest_or_the_dex_nothing_is_claimed() -> None:
    from permaudit.facts import reach

    result = permaudit.audit(fixture("consent_flow.apk"))
    assert result.code is not None
    _, dexes = _opened("consent_flow.apk")
    bare = reach.extract(result.code, dexes)  # a dex dump without a manifest: no entry point at all
    assert bare.consent_screens == () and bare.entry_points == 0
    assert {s.outcome.value for s in bare.sites} <= {"not-reached", "cut"}
    none = reach.extract(result.code, [])
    assert {(s.outcome.value, s.note) for s in none.sites} == {("not-searched", "dex classes.dex not given to the search")}


def test_corpus_known_paths_from_start_up() -> None:
    """blackLoan's handler is built by its service's constructor, which the launcher starts;
    ProjectSpy schedules a job (``const-class`` of the service) from its launcher."""
    loan = permaudit.audit(corpus("apk", "7a9f0af7fee4a5fd335db3b96e571a3a4e123c32d0a06cd43f5517be8df0b6bb.apk"))
    assert loan.code is not None and loan.code.reach is not None
    contacts = [s for s in loan.code.reach.sites if s.category == "contacts"]
    assert len(contacts) == 10
    for s in contacts:
        assert s.outcome.value == "reachable" and s.note.startswith("no consent screen found in the app")
        assert s.entry is not None and s.entry.signature == "Lcom/loan/test1/MainActivity;->onResume()V"
        assert s.steps[0].edge.value == "start" and s.steps[1].method == "<init>"
    spy = permaudit.audit(corpus("apk", "29b0d86ae68d83f9578c3f36041df943195bc55a7f3f1d45a9c23f145d75af9d.apk"))
    assert spy.code is not None and spy.code.reach is not None
    (first, *_) = [s for s in spy.code.reach.sites if s.category == "contacts"]
    assert [(st.class_name.rsplit("/", 1)[-1], st.method, st.offset, st.edge.value) for st in first.steps] == [
        ("MainActivity;", "onCreate", 0x6F, "call"), ("MainActivity;", "schedualOtherDataJob", 0x2, "start"),
        ("OtherDataJobsService;", "onStartJob", 0x8B, "call"), ("OtherDataJobsService;", "initContactsList", 0xB, "call"),
        ("ContactUtils;", "getRawContacts", 0x1F, "read")]
