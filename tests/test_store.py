"""The results store (permaudit.store, docs/store.md): real audit results recorded, exact rows
and exact answers to the cross-app questions, migrations, refusals, re-records, a writer killed
mid-transaction, and the cost of ``record`` next to the audit of the biggest corpus app."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

import permaudit
from permaudit.errors import PermauditError
from permaudit.model import AuditResult
from permaudit.store import (
    STORE_SCHEMA_VERSION,
    Store,
    StoreError,
    app_rows,
    migrations,
    questions,
)
from permaudit.store.rows import TABLES

from .conftest import ROOT, corpus, fixture

TEST_CERT = "21ac232614d742fdc66516987ebe6afadd7f3236fe05d584c1683df35ffe5a08"
LOAN = "89e8a604adb427b7c627d5af0c0b867205210720c591ab72c557deb9f3c982dd"
PROFILES = ("cn-lending", "google-play-contacts", "google-play-personal-loans", "id-ojk", "in-rbi-digital-lending", "ke-dcp", "ng-fccpc", "ph-sec")
BLACKLOAN = "7a9f0af7fee4a5fd335db3b96e571a3a4e123c32d0a06cd43f5517be8df0b6bb"
BIGGEST = "29b0d86ae68d83f9578c3f36041df943195bc55a7f3f1d45a9c23f145d75af9d"


@pytest.fixture(scope="module")
def audited() -> dict[str, AuditResult]:
    names = ["loan_harvest.apk", "clean_app.apk", "paths_flows.apk", "endpoints.apk", "http_apis.apk", "sdk_attributed.apk",
             "paths_more.apk", "consent_flow.apk", "loan_bundle.xapk", "hostile_strings.apk"]
    return {name: permaudit.audit(fixture(name)) for name in names}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _record(store: Store, result: AuditResult, seconds: float = 0.25) -> str:
    key = result.hashes.sha256 if result.hashes is not None else _sha(Path(result.path))
    store.record(result, input_sha256=key, seconds=seconds)
    return key


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


# -- recording -----------------------------------------------------------------------------------


def test_record_loan_harvest_exact_rows(tmp_path: Path, audited: dict[str, AuditResult]) -> None:
    result = audited["loan_harvest.apk"]
    with Store.open(tmp_path / "s.db") as store:
        assert _record(store, result, seconds=0.5) == LOAN
        assert store.recorded() == {LOAN: str(fixture("loan_harvest.apk"))}
        app = store.query("SELECT input_sha256, kind, status, sha256, size, package, version_code, version_name, label, min_sdk,"
                          " target_sdk, signer_sha256, category, category_strength, lending, policies, contacts_reads, tool_version,"
                          " result_schema, seconds FROM apps")
        assert app == ((LOAN, "apk", "complete", LOAN, 12683, "com.example.loanharvest", "7", "2.3.1", "QuickCash Loan", 21, 30,
                        TEST_CERT, "", "weak", 0, " ".join(PROFILES), 1, permaudit.__version__, permaudit.SCHEMA_VERSION, 0.5),)
        assert store.query("SELECT artifact, signer, sha256, subject, schemes FROM certificates") == (
            ("loan_harvest.apk", 1, TEST_CERT, "CN=permaudit test fixtures,O=permaudit,C=CN", "v1 v2 v3"),)
        assert store.query("SELECT name, category, protection_level, device_api_min FROM permissions ORDER BY name") == (
            ("android.permission.ACCESS_FINE_LOCATION", "location", "dangerous|instant", 21),
            ("android.permission.INTERNET", "", "normal|instant", 21),
            ("android.permission.READ_CONTACTS", "contacts", "dangerous", 21),
            ("android.permission.READ_PHONE_STATE", "phone", "dangerous", 21))
        # the read at ContactsUploader.collect@0x11, as README's first run shows it
        assert store.query("SELECT site, category, kind, dex, class_name, method, offset, owner, sdk FROM read_sites") == (
            (0, "contacts", "bulk", "classes.dex", "Lcom/example/loanharvest/ContactsUploader;", "collect", 0x11, "first-party", ""),)
        assert store.query("SELECT site, outcome, path_no, confidence, calls, sink_api, sink_kind, sink_method, dest_host FROM paths") == (
            (0, "path", 0, "within-calls", 2, "Ljava/net/HttpURLConnection;->getOutputStream()Ljava/io/OutputStream;", "network",
             "upload", None),)
        assert store.query("SELECT policy, rule, severity, confidence, clauses FROM findings") == (
            ("google-play-contacts", "contacts.declared", "info", "high", "gp-contacts-policy gp-contacts-preview"),)
        assert store.query("SELECT policy, clause, severity FROM finding_clauses") == (
            ("google-play-contacts", "gp-contacts-policy", "info"), ("google-play-contacts", "gp-contacts-preview", "info"))
        assert store.query("SELECT policy, severity, findings FROM verdicts ORDER BY policy") == tuple(
            (p, "info", 1) if p == "google-play-contacts" else (p, "none", 0) for p in PROFILES)
        assert store.query("SELECT COUNT(*) FROM problems") == ((0,),)
        assert store.query("SELECT COUNT(*) FROM endpoints") == ((0,),)
        # nothing of the result is lost: the whole of it is kept beside the tables
        assert store.result(LOAN) == json.loads(json.dumps(result.to_dict(), sort_keys=True))


def test_failed_result_keeps_its_app_row_and_problem(tmp_path: Path) -> None:
    junk = tmp_path / "junk.apk"
    junk.write_bytes(b"not a zip at all")
    result = permaudit.audit(junk)
    assert result.status.value == "failed" and result.hashes is None
    with Store.open(tmp_path / "s.db") as store:
        key = _record(store, result)
        assert key == _sha(junk)
        assert store.query("SELECT status, package, sha256, signer_sha256, policies, contacts_reads FROM apps") == (
            ("failed", None, None, None, "", 0),)
        assert store.query("SELECT code, severity, message FROM problems") == (
            ("not-a-zip", "failed", "junk.apk: not a zip archive (starts with b'not ')"),)
        assert store.recorded() == {key: str(junk)}
        assert store.summary().failed == 1


def test_rerecord_replaces_rows_and_names_accumulate(tmp_path: Path, audited: dict[str, AuditResult]) -> None:
    result = audited["paths_flows.apk"]
    key = result.hashes.sha256
    expected = {t: len(v) for t, v in app_rows(result, key, 0, "").tables.items()}
    with Store.open(tmp_path / "s.db") as store:
        store.record(result, input_sha256=key, seconds=1.0)
        store.record(result, input_sha256=key, seconds=2.0)
        counts = {t: store.query(f"SELECT COUNT(*) FROM {t}")[0][0] for t in expected}
        assert counts == expected and expected["paths"] == 5
        assert store.query("SELECT COUNT(*), MAX(seconds) FROM apps") == ((1, 2.0),)
        store.add_name("/elsewhere/copy-of-paths.apk", key)
        assert store.names() == {"/elsewhere/copy-of-paths.apk": key, str(fixture("paths_flows.apk")): key}
        assert store.recorded() == {key: str(fixture("paths_flows.apk"))}
        assert store.apps()[0].names == ("/elsewhere/copy-of-paths.apk",)


def test_input_sha256_must_match_an_apk(tmp_path: Path, audited: dict[str, AuditResult]) -> None:
    with Store.open(tmp_path / "s.db") as store:
        with pytest.raises(StoreError, match="is not the APK's"):
            store.record(audited["loan_harvest.apk"], input_sha256="0" * 64, seconds=0)
        assert store.recorded() == {}


# -- questions -----------------------------------------------------------------------------------


def test_two_fixtures_signed_with_one_key_share_a_certificate(tmp_path: Path, audited: dict[str, AuditResult]) -> None:
    with Store.open(tmp_path / "s.db") as store:
        _record(store, audited["loan_harvest.apk"])
        clean = _record(store, audited["clean_app.apk"])
        answer = store.ask("shared-certificate")
        assert answer.columns == ("certificate", "subject", "apps", "packages", "members")
        assert answer.rows == ((TEST_CERT, "CN=permaudit test fixtures,O=permaudit,C=CN", 2, 2,
                                f"com.example.cleanapp ({clean[:12]}), com.example.loanharvest ({LOAN[:12]})"),)
        assert store.ask("shared-certificate", min_apps=3).rows == ()
        assert len(store.ask("shared-certificate", min_packages=2).rows) == 1


def test_bundle_certificates_base_is_the_signer(tmp_path: Path, audited: dict[str, AuditResult]) -> None:
    with Store.open(tmp_path / "s.db") as store:
        _record(store, audited["loan_bundle.xapk"])
        assert store.query("SELECT artifact, signer, sha256 FROM certificates ORDER BY artifact") == (
            ("base.apk", 1, TEST_CERT), ("config.arm64_v8a.apk", 0, TEST_CERT), ("split_feature_sync.apk", 0, TEST_CERT))


def _repackaged(source: Path, target: Path) -> Path:
    """The same app with one more member: other bytes, other sha256, the same code (a repackaged clone)."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
        dst.writestr("assets/clone.txt", b"repackaged")
    return target


def test_two_apps_whose_paths_reach_the_same_host(tmp_path: Path, audited: dict[str, AuditResult]) -> None:
    clone = permaudit.audit(_repackaged(fixture("paths_flows.apk"), tmp_path / "clone.apk"))
    with Store.open(tmp_path / "s.db") as store:
        first = _record(store, audited["paths_flows.apk"])
        second = _record(store, clone)
        assert first != second
        both = ", ".join(f"com.example.fx.paths ({k[:12]})" for k in sorted([first, second]))
        # ping.pathsfixturedemo.com is only co-located with the read (no flow): left out
        assert store.ask("contacts-same-host").rows == (
            ("api.pathsfixturedemo.com", 2, 1, both), ("pathsfixturedemo.com", 2, 1, both), ("upload.pathsfixturedemo.com", 2, 1, both))
        assert store.ask("contacts-same-domain").rows == (("pathsfixturedemo.com", 2, 1, both),)
        assert store.ask("contacts-same-host", min_apps=3).rows == ()
        assert [a.destinations for a in store.apps()] == [("api.pathsfixturedemo.com", "pathsfixturedemo.com", "upload.pathsfixturedemo.com")] * 2


def test_apps_sharing_a_backend(tmp_path: Path, audited: dict[str, AuditResult]) -> None:
    with Store.open(tmp_path / "s.db") as store:
        api = _record(store, audited["http_apis.apk"])
        loan = _record(store, audited["endpoints.apk"])
        both = f"com.apifixturedemo.app ({api[:12]}), com.loanfixturedemo.app ({loan[:12]})"
        assert store.ask("shared-backend-host").rows == (
            ("47.52.158.74", "47.52.158.74", "unknown", 2, 2, both), ("62.60.134.177", "62.60.134.177", "unknown", 2, 2, both))
        domains = store.ask("shared-backend-domain").rows
        assert [r[0] for r in domains] == ["47.52.158.74", "62.60.134.177", "datasink-fixture.net"]
        assert domains[2][3:] == (2, 2, both)
        # third-party hosts (data/hosts.json) never count as a shared backend
        third = {h for (h,) in store.query("SELECT host FROM endpoints WHERE owner = 'third-party'")}
        assert third and not third & {r[0] for r in store.ask("shared-backend-host", min_apps=1).rows}


def test_blackloan_and_the_fixtures_name_one_collector(tmp_path: Path, audited: dict[str, AuditResult]) -> None:
    sample = corpus("apk", f"{BLACKLOAN}.apk")
    with Store.open(tmp_path / "s.db") as store:
        _record(store, audited["http_apis.apk"])
        _record(store, audited["endpoints.apk"])
        _record(store, permaudit.audit(sample))
        rows = {r[0]: r for r in store.ask("shared-backend-host", min_apps=3).rows}
        assert set(rows) == {"47.52.158.74", "62.60.134.177"}
        assert "com.loan.test1 (7a9f0af7fee4)" in rows["62.60.134.177"][5]


def test_which_sdk_reads_contacts(tmp_path: Path, audited: dict[str, AuditResult]) -> None:
    with Store.open(tmp_path / "s.db") as store:
        tongdun = _record(store, audited["sdk_attributed.apk"])
        more = _record(store, audited["paths_more.apk"])
        _record(store, audited["loan_harvest.apk"])  # first-party reads: not an SDK's
        assert store.ask("sdk-reading").rows == (
            ("BaiQiShi (白骑士) BqsDF device-fingerprint SDK", "contacts", "bulk", 1, 1, f"com.example.fx.pathsmore ({more[:12]})"),
            ("TongDun (同盾) device-fingerprint / anti-fraud SDK (FMAgent, mobrisk)", "contacts", "bulk", 1, 1,
             f"com.example.fx.sdkattributed ({tongdun[:12]})"))
        assert store.ask("sdk-reading", min_apps=2).rows == ()
        assert store.ask("sdk-reading", category="sms").rows == ()


def test_verdicts_and_clause_counts(tmp_path: Path, audited: dict[str, AuditResult]) -> None:
    with Store.open(tmp_path / "s.db") as store:
        consent = _record(store, audited["consent_flow.apk"])
        _record(store, audited["loan_harvest.apk"])
        rows = {r[0]: r for r in store.ask("verdicts").rows}
        assert tuple(rows) == PROFILES
        assert rows["cn-lending"] == ("cn-lending", 1, 0, 0, 1, 2, f"com.example.fx.consent ({consent[:12]})")
        assert rows["google-play-contacts"][1:6] == (0, 0, 2, 0, 2)
        clauses = {(r[0], r[1]): r[2:] for r in store.ask("clause-counts").rows}
        assert clauses[("google-play-contacts", "gp-contacts-policy")][:4] == (0, 0, 2, 2)
        cn = [k for k in clauses if k[0] == "cn-lending"]
        assert cn and all(clauses[k] == (1, 0, 0, 1, f"com.example.fx.consent ({consent[:12]})") for k in cn)
        expected = {c for f in audited["consent_flow.apk"].findings if f.policy == "cn-lending" for c in f.clauses}
        assert {k[1] for k in cn} == expected


def test_every_question_is_complete_data() -> None:
    qs = questions()
    assert {"contacts-same-host", "contacts-same-domain", "shared-certificate", "shared-backend-host", "shared-backend-domain",
            "sdk-reading", "clause-counts", "verdicts"} <= set(qs)
    for q in qs.values():
        assert q.title.en and q.title.zh and q.description.en and q.description.zh, q.id
        assert all(c.title.en and c.title.zh for c in q.columns), q.id
        assert any(p.name == "min_apps" for p in q.params), q.id


def test_every_question_runs_on_an_empty_store(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.db") as store:
        for qid, q in questions().items():
            answer = store.ask(qid)
            assert answer.columns == q.column_ids and answer.rows == ()


def test_unknown_question_or_parameter_is_a_store_error(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.db") as store:
        with pytest.raises(StoreError, match="no question 'who-knows'"):
            store.ask("who-knows")
        with pytest.raises(StoreError, match="has no parameter min_app"):
            store.ask("shared-certificate", min_app=2)
        with pytest.raises(StoreError, match="must be an integer"):
            store.ask("shared-certificate", min_apps="2")
        with pytest.raises(StoreError, match="must be an integer"):
            store.ask("shared-certificate", min_apps=True)
        with pytest.raises(StoreError, match="at least 1"):
            store.ask("shared-certificate", min_apps=0)
        with pytest.raises(StoreError, match="must be a string"):
            store.ask("sdk-reading", category=3)
    assert issubclass(StoreError, PermauditError)


# -- opening, versions, migrations ---------------------------------------------------------------


def test_new_store_schema_meta_and_pragmas(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.db") as store:
        assert store.schema_version == STORE_SCHEMA_VERSION == len(migrations()) == 2
        meta = store.meta()
        assert meta["created_by"] == meta["migrated_by"] == permaudit.__version__
        assert meta["migration.1"] == "001_initial.sql" and meta["migration.2"] == "002_question_indexes.sql"
        assert store.query("PRAGMA journal_mode") == (("wal",),)
        assert store.query("PRAGMA synchronous") == ((1,),)  # NORMAL


def test_a_version_1_store_with_data_is_migrated(tmp_path: Path, audited: dict[str, AuditResult]) -> None:
    path = tmp_path / "v1.db"
    result = audited["loan_harvest.apk"]
    rows = app_rows(result, LOAN, 0.5, "2026-01-01T00:00:00Z")
    db = sqlite3.connect(path)
    db.executescript(migrations()[0].sql)
    db.execute("INSERT INTO meta VALUES ('created_by', '0.0.9')")
    db.execute("PRAGMA user_version = 1")
    db.execute(f"INSERT INTO apps VALUES ({', '.join('?' * len(rows.app))})", rows.app)
    for table, values in rows.tables.items():
        if values:
            db.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(values[0]))})", values)
    db.commit()
    db.close()
    with Store.open(path, create=False) as store:
        assert store.schema_version == 2
        assert store.meta()["created_by"] == "0.0.9" and store.meta()["migrated_by"] == permaudit.__version__
        assert store.recorded() == {LOAN: str(fixture("loan_harvest.apk"))}
        assert ("paths_dest_host",) in store.query("SELECT name FROM sqlite_master WHERE type = 'index'")
        assert store.ask("verdicts").rows[1][:6] == ("google-play-contacts", 0, 0, 1, 0, 1)


def test_a_store_from_a_newer_permaudit_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    Store.open(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {STORE_SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    before = _files(tmp_path)
    for create in (True, False):
        with pytest.raises(StoreError, match=f"schema version {STORE_SCHEMA_VERSION + 1} is newer than this permaudit"):
            Store.open(path, create=create)
    assert _files(tmp_path) == before


def test_not_an_sqlite_file_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "app.apk"
    path.write_bytes(fixture("loan_harvest.apk").read_bytes())
    before = _files(tmp_path)
    with pytest.raises(StoreError, match="not an SQLite file") as caught:
        Store.open(path)
    assert "\n" not in str(caught.value)
    assert _files(tmp_path) == before


def test_an_sqlite_file_of_something_else_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    before = _files(tmp_path)
    with pytest.raises(StoreError, match="not a permaudit results store"):
        Store.open(path)
    assert _files(tmp_path) == before


def test_missing_store_without_create(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no such store"):
        Store.open(tmp_path / "absent.db", create=False)
    assert not (tmp_path / "absent.db").exists()
    with pytest.raises(StoreError, match="cannot open the store|unable to open"):
        Store.open(tmp_path / "no" / "such" / "folder" / "s.db")


def test_a_locked_store_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    Store.open(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError, match="locked"):
            Store.open(path, timeout=0.2)
        with Store.open(path, create=False, timeout=0.2) as reader:  # a report can read while a scan writes
            assert reader.recorded() == {}
    finally:
        holder.execute("ROLLBACK")
        holder.close()


# -- a writer killed mid-way ---------------------------------------------------------------------

CHILD = textwrap.dedent("""
    import sys, time
    import permaudit
    from permaudit.store import Store
    from permaudit.store.rows import app_rows
    store_path, n, *apks = sys.argv[1:]
    store = Store.open(store_path)
    for apk in apks[: int(n)]:
        result = permaudit.audit(apk)
        store.record(result, input_sha256=result.hashes.sha256, seconds=0.1)
    result = permaudit.audit(apks[int(n)])
    rows = app_rows(result, result.hashes.sha256, 0.1, "x")
    db = store._db
    db.execute("BEGIN IMMEDIATE")  # the next record, half written when the kill comes
    db.execute("INSERT INTO apps VALUES (" + ", ".join("?" * len(rows.app)) + ")", rows.app)
    db.executemany("INSERT INTO permissions VALUES (" + ", ".join("?" * 13) + ")", rows.tables["permissions"])
    print("mid-record", flush=True)
    time.sleep(60)
""")


def test_a_writer_killed_midway_leaves_exactly_the_committed_apps(tmp_path: Path, audited: dict[str, AuditResult]) -> None:
    names = ["loan_harvest.apk", "clean_app.apk", "paths_flows.apk", "sdk_attributed.apk"]
    path = tmp_path / "s.db"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), "3", *(str(fixture(n)) for n in names)],
                             stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "mid-record"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    with Store.open(path) as store:
        recorded = store.recorded()
        assert sorted(recorded.values()) == sorted(str(fixture(n)) for n in names[:3])
        for name in names[:3]:
            result = audited[name]
            key = result.hashes.sha256
            for table, rows in app_rows(result, key, 0.1, "").tables.items():
                assert store.query(f"SELECT COUNT(*) FROM {table} WHERE input_sha256 = ?", (key,)) == ((len(rows),),), (name, table)
        killed = audited["sdk_attributed.apk"].hashes.sha256
        assert store.query("SELECT COUNT(*) FROM permissions WHERE input_sha256 = ?", (killed,)) == ((0,),)
        # resuming: the one not committed is recorded now
        store.record(audited["sdk_attributed.apk"], input_sha256=killed, seconds=0.1)
        assert len(store.recorded()) == 4


# -- cost ----------------------------------------------------------------------------------------


def test_record_is_one_transaction_of_one_statement_a_row(tmp_path: Path) -> None:
    """Recording the biggest corpus app runs one transaction: a lookup, the app row, one insert
    per row of each table and the name, no query per row (its time is measured by
    benchmarks/bench_scan.py, never by a timed test). A re-scan adds one delete per table."""
    sample = corpus("apk", f"{BIGGEST}.apk")
    biggest = max(sample.parent.glob("*.apk"), key=lambda p: p.stat().st_size)
    result = permaudit.audit(biggest)
    assert result.hashes is not None
    key = result.hashes.sha256
    rows = sum(len(r) for r in app_rows(result, key, 0.1, "").tables.values())
    assert rows > 100
    with Store.open(tmp_path / "s.db") as store:
        for rescan in (False, True):
            statements: list[str] = []
            store._db.set_trace_callback(statements.append)
            store.record(result, input_sha256=key, seconds=0.1)
            store._db.set_trace_callback(None)
            verbs = [s.split(None, 1)[0].upper() for s in statements]
            assert verbs[0] == "BEGIN" and verbs[-1] == "COMMIT" and verbs.count("BEGIN") == 1, verbs[:3]
            deletes = len(TABLES) + 1 if rescan else 0
            assert verbs.count("DELETE") == deletes
            assert verbs.count("INSERT") == 1 + rows + 1  # the app row, every table row, the name
            assert verbs.count("SELECT") == 1 and len(statements) == 2 + 1 + deletes + rows + 2
