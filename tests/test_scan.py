"""`permaudit scan`: workers under limits, each result written once as it arrives, resume, dedupe."""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from permaudit import audit
from permaudit.batch import (
    AuditOptions,
    Job,
    JsonlLog,
    LocalPool,
    Outcome,
    SinkError,
    audit_job,
    input_key,
    scan,
)
from permaudit.batch import local as local_module
from permaudit.cli import main
from permaudit.store import Store

from .conftest import APKS, SHARED, fixture

SUMMARY = re.compile(
    r"permaudit: (\d+) inputs, (\d+) audited in [\d.]+ s \([\d.]+ files/s\): (\d+) complete, (\d+) partial, (\d+) failed; "
    r"(\d+) findings \((\d+) violation, (\d+) warning, (\d+) info\) in (\d+) apps; (\d+) duplicates, (\d+) already recorded; results in (.+)$")
FORK = pytest.mark.skipif(sys.platform != "linux", reason="patching a worker's code reaches it only through fork (Linux)")


def cli(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "permaudit", *argv], capture_output=True, text=True, cwd=cwd, timeout=300, check=False)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def sample(tmp_path: Path, names: list[str]) -> Path:
    folder = tmp_path / "inputs"
    folder.mkdir()
    for name in names:
        shutil.copy(fixture(name), folder / name)
    return folder


def summary(stderr: str) -> tuple[int, ...]:
    match = SUMMARY.search(stderr)
    assert match, stderr
    return tuple(int(g) for g in match.groups()[:-1])


def test_scan_writes_every_input_once_with_the_audit_result(tmp_path: Path) -> None:
    """Each input's line holds exactly what `audit` says of it; the store holds the same inputs."""
    folder = sample(tmp_path, ["loan_harvest.apk", "picker.apk", "clean_app.apk"])
    shutil.copy(fixture("picker.apk"), folder / "picker-copy.apk")  # the same bytes under another name
    (folder / "broken.apk").write_bytes(b"PK\x03\x04 not really")
    (folder / "empty").mkdir()
    proc = cli("scan", str(folder), str(folder / "empty"), "--jobs", "2", "--db", str(tmp_path / "r.db"),
               "--jsonl", str(tmp_path / "r.jsonl"))
    assert proc.returncode == 2, proc.stderr  # a failed input fails the run, as in `audit`
    assert "Traceback" not in proc.stderr
    # 6 inputs: 5 audited (2 of them failed), the second copy of picker recorded as a name only
    counts = summary(proc.stderr)
    assert counts[:5] == (6, 5, 3, 0, 2) and counts[-2:] == (1, 0)
    entries = lines(tmp_path / "r.jsonl")
    audited = {Path(e["input"]["path"]).name: e for e in entries if "result" in e}
    assert set(audited) == {"loan_harvest.apk", "picker-copy.apk", "clean_app.apk", "broken.apk", "empty"}
    for name in ("loan_harvest.apk", "clean_app.apk"):
        entry = audited[name]
        assert entry["input"]["sha256"] == input_key(folder / name) == entry["result"]["hashes"]["sha256"]
        assert entry["result"] == json.loads(json.dumps(audit(folder / name).to_dict()))
    aliases = [(e["input"]["path"], e["same_as"]) for e in entries if "same_as" in e]
    assert aliases == [(str(folder / "picker.apk"), str(folder / "picker-copy.apk"))]
    assert audited["broken.apk"]["result"]["status"] == "failed"
    assert audited["empty"]["result"]["problems"][0]["code"] == "no-package"
    with Store.open(tmp_path / "r.db", create=False) as store:
        held = store.recorded()
    assert set(held) == {e["input"]["sha256"] for e in entries if "result" in e}
    assert len(held) == 5


def test_resume_skips_what_is_recorded_and_audits_the_rest(tmp_path: Path) -> None:
    folder = sample(tmp_path, ["loan_harvest.apk", "picker.apk"])
    db, log = tmp_path / "r.db", tmp_path / "r.jsonl"
    assert cli("scan", str(folder), "--db", str(db), "--jsonl", str(log)).returncode == 0
    shutil.copy(fixture("clean_app.apk"), folder / "clean_app.apk")
    proc = cli("scan", str(folder), "--db", str(db), "--jsonl", str(log), "--resume")
    assert proc.returncode == 0, proc.stderr
    assert summary(proc.stderr)[:2] == (3, 1) and summary(proc.stderr)[-1] == 2
    assert [Path(e["input"]["path"]).name for e in lines(log)] == ["loan_harvest.apk", "picker.apk", "clean_app.apk"] or \
        sorted(Path(e["input"]["path"]).name for e in lines(log)) == ["clean_app.apk", "loan_harvest.apk", "picker.apk"]
    # without --resume the log starts again and the store's rows are replaced, not doubled
    assert cli("scan", str(folder), "--db", str(db), "--jsonl", str(log)).returncode == 0
    assert len(lines(log)) == 3
    with Store.open(db, create=False) as store:
        assert len(store.recorded()) == 3


def _wait_for_lines(path: Path, count: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if path.exists() and path.read_bytes().count(b"\n") >= count:
            return
        time.sleep(0.005)
    pytest.fail(f"the scan ended or stalled before writing {count} lines")


def _inputs(tmp_path: Path) -> tuple[Path, set[str]]:
    folder = tmp_path / "inputs"
    folder.mkdir()
    for apk in sorted(APKS.iterdir()):
        shutil.copy(apk, folder / apk.name)
    return folder, {input_key(p) for p in folder.iterdir()}


@pytest.mark.parametrize("how", ["SIGKILL", "SIGINT", "SIGINT-dask"])
def test_an_interrupted_run_resumed_records_every_input_exactly_once(tmp_path: Path, how: str) -> None:
    """Killed midway (SIGKILL to the parent alone, or Ctrl-C to the whole group, a local Dask
    cluster's processes included), then resumed: every input is in the store and the log exactly
    once, no worker outlives its scan, and no traceback reaches the terminal."""
    if how.endswith("dask"):
        pytest.importorskip("distributed")
    folder, keys = _inputs(tmp_path)
    db, log = tmp_path / "r.db", tmp_path / "r.jsonl"
    where = ["--dask-local", "2"] if how.endswith("dask") else ["--jobs", "2"]
    argv = [sys.executable, "-m", "permaudit", "scan", str(folder), *where, "--db", str(db), "--jsonl", str(log)]
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, start_new_session=True)
    _wait_for_lines(log, 4, proc)
    if how == "SIGKILL":
        proc.kill()
    else:
        os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    if how.startswith("SIGINT"):
        assert proc.returncode == 130 and "Traceback" not in err and "ERROR" not in err, err
        assert err.rstrip().endswith("permaudit: interrupted; run the same command with --resume to continue")
    for _ in range(100):  # the workers die with their parent
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("a worker outlived the killed scan")
    before = len(lines(log))
    assert 4 <= before < len(keys)
    resumed = subprocess.run([*argv, "--resume"], capture_output=True, text=True, timeout=300, check=False)
    assert resumed.returncode == 0, resumed.stderr
    assert summary(resumed.stderr)[-1] == before
    recorded = [e["input"]["sha256"] for e in lines(log)]
    assert sorted(recorded) == sorted(keys)  # each exactly once
    with Store.open(db, create=False) as store:
        assert set(store.recorded()) == keys


def test_a_torn_last_line_is_cut_before_resuming(tmp_path: Path) -> None:
    folder = sample(tmp_path, ["picker.apk", "clean_app.apk"])
    log = tmp_path / "r.jsonl"
    assert cli("scan", str(folder), "--jsonl", str(log)).returncode == 0
    whole = log.read_bytes()
    first = whole.split(b"\n")[0]
    log.write_bytes(first + b"\n" + whole.split(b"\n")[1][:50])  # killed while writing the second line
    proc = cli("scan", str(folder), "--jsonl", str(log), "--resume")
    assert proc.returncode == 0, proc.stderr
    assert summary(proc.stderr)[1] == 1 and len(lines(log)) == 2
    assert not (tmp_path / "permaudit.db").exists()  # --jsonl alone writes no store


def test_a_log_that_is_not_ours_is_refused_on_resume(tmp_path: Path) -> None:
    log = tmp_path / "r.jsonl"
    log.write_text("hello\n", encoding="utf-8")
    proc = cli("scan", str(fixture("picker.apk")), "--jsonl", str(log), "--resume")
    assert (proc.returncode, proc.stderr) == (2, f"permaudit: {log}:1: not a permaudit result line; resume with the log the scan wrote\n")
    with pytest.raises(SinkError):
        JsonlLog(log, resume=True)


def test_default_store_and_fail_on(tmp_path: Path) -> None:
    proc = cli("scan", str(fixture("loan_harvest.apk")), "--fail-on", "violation", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr  # not judged as a lending app: one info finding
    assert summary(proc.stderr)[5:10] == (1, 0, 0, 1, 1)
    proc = cli("scan", str(fixture("loan_harvest.apk")), "--fail-on", "violation", "--category", "lending", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert summary(proc.stderr)[5:10] == (32, 14, 12, 6, 1)
    assert proc.stderr.rstrip().endswith("results in permaudit.db")
    with Store.open(tmp_path / "permaudit.db", create=False) as store:
        assert list(store.recorded().values()) == [str(fixture("loan_harvest.apk"))]


def test_time_limit_is_recorded_and_the_run_goes_on(tmp_path: Path) -> None:
    # one worker: the parent waits on it as soon as it hands it a job (with two, starting the second
    # worker can take longer than a small audit, whose finished result is then kept, as it should be)
    proc = cli("scan", str(fixture("picker.apk")), str(fixture("clean_app.apk")), "--timeout", "0.001", "--jobs", "1",
               "--jsonl", str(tmp_path / "r.jsonl"))
    assert proc.returncode == 2
    entries = lines(tmp_path / "r.jsonl")
    assert [e["result"]["problems"][0]["code"] for e in entries] == ["time-limit", "time-limit"]
    assert entries[0]["result"]["problems"][0]["message"].endswith(": stopped at the time limit (0.001 s)")
    assert summary(proc.stderr)[2:5] == (0, 0, 2)


def _jobs(*names: str, **limits: float) -> list[Job]:
    options = AuditOptions(**limits)  # type: ignore[arg-type]
    return [Job(str(fixture(n)), input_key(fixture(n)), options) for n in names]


@FORK
def test_a_runaway_is_killed_at_its_deadline_and_the_next_job_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    def slow_on_picker(job: Job) -> Outcome:
        if job.path.endswith("picker.apk"):
            time.sleep(60)
        return audit_job(job)

    monkeypatch.setattr(local_module, "audit_job", slow_on_picker)
    started = time.monotonic()
    outcomes = {Path(o.path).name: o for o in LocalPool(1, method="fork").run(iter(_jobs("picker.apk", "clean_app.apk", timeout=1.0)))}
    assert time.monotonic() - started < 20
    assert outcomes["picker.apk"].result.problems[0].code == "time-limit"
    assert outcomes["clean_app.apk"].result.status.value == "complete"


@FORK
def test_a_stopped_audit_is_retried_without_the_bytecode_stage(monkeypatch: pytest.MonkeyPatch) -> None:
    """What can be read still comes back: the manifest-only retry makes the result partial, with
    the stop as its problem, and the JSON text made for the sinks says the same."""
    def slow_bytecode(job: Job) -> Outcome:
        if job.options.code and job.path.endswith("loan_harvest.apk"):
            time.sleep(60)
        return audit_job(job)

    monkeypatch.setattr(local_module, "audit_job", slow_bytecode)
    (outcome,) = LocalPool(1, method="fork").run(iter(_jobs("loan_harvest.apk", timeout=1.0)))
    result = outcome.result
    assert (result.status.value, outcome.stop, result.code) == ("partial", "time-limit", None)
    assert "android.permission.READ_CONTACTS" in [p.name for p in result.manifest.permissions]  # type: ignore[union-attr]
    assert [(p.code, p.severity.value) for p in result.problems] == [("time-limit", "partial")]
    assert json.loads(outcome.document) == json.loads(json.dumps(result.to_dict()))


@FORK
@pytest.mark.parametrize(("death", "why"), [(lambda: os._exit(3), "exit code 3"),
                                             (lambda: os.kill(os.getpid(), signal.SIGKILL), "killed by SIGKILL; the system may have run out of memory")])
def test_a_worker_that_dies_is_recorded_and_replaced(monkeypatch: pytest.MonkeyPatch, death, why: str) -> None:
    def die_on_picker(job: Job) -> Outcome:
        if job.path.endswith("picker.apk"):
            death()
        return audit_job(job)

    monkeypatch.setattr(local_module, "audit_job", die_on_picker)
    outcomes = list(LocalPool(1, method="fork").run(iter(_jobs("picker.apk", "clean_app.apk", "picker.apk"))))
    assert [(Path(o.path).name, o.result.status.value) for o in outcomes] == [
        ("picker.apk", "failed"), ("clean_app.apk", "complete"), ("picker.apk", "failed")]
    assert outcomes[0].result.problems[0].message == f"{fixture('picker.apk')}: the worker auditing it died ({why})"


@FORK
def test_memory_limit_stops_the_audit_and_replaces_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """A real allocation past the limit in the worker: recorded as memory-limit, the next job runs."""
    def hungry_on_picker(job: Job) -> Outcome:
        if job.path.endswith("picker.apk") and job.options.code:
            monkeypatch.setattr(sys.modules["permaudit.audit"], "load", lambda *a, **k: bytearray(400 * 1024 * 1024))
        return audit_job(job)

    monkeypatch.setattr(local_module, "audit_job", hungry_on_picker)
    outcomes = list(LocalPool(1, method="fork").run(iter(_jobs("picker.apk", "clean_app.apk", max_memory=100))))
    assert [o.result.problems[0].code if o.result.problems else "" for o in outcomes] == ["memory-limit", ""]
    # the patch lived in the replaced worker: the retry without the bytecode stage, in a fresh one, reads what it can
    picker = outcomes[0].result
    assert (picker.status.value, picker.manifest.package, picker.code) == ("partial", "com.example.fx.picker", None)  # type: ignore[union-attr]
    assert picker.problems[0].message == (f"{fixture('picker.apk')}: stopped at the memory limit (100 MB); "
                                          "audited again without the bytecode stage: manifest, signatures and hashes only")
    assert outcomes[0].stop == "memory-limit" and picker.skipped == ()


def test_progress_bar_on_a_terminal_only(tmp_path: Path) -> None:
    folder = sample(tmp_path, ["picker.apk", "clean_app.apk"])
    quiet = cli("scan", str(folder), "--jsonl", str(tmp_path / "a.jsonl"))
    assert "\r" not in quiet.stderr and quiet.stderr.count("\n") == 1
    primary, secondary = pty.openpty()
    proc = subprocess.run([sys.executable, "-m", "permaudit", "scan", str(folder), "--jsonl", str(tmp_path / "b.jsonl")],
                          stderr=secondary, stdout=subprocess.DEVNULL, timeout=300, check=False)
    os.close(secondary)
    shown = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(primary)
    assert proc.returncode == 0
    assert b"\r\x1b[K[########################] 2/2 " in shown and b" files/s, 0:00 left" in shown


def test_hostile_names_reach_the_terminal_escaped(tmp_path: Path) -> None:
    folder = tmp_path / "inputs"
    folder.mkdir()
    (folder / "evil\x1b[2J\u202e.apk").write_bytes(b"not a zip")
    proc = cli("scan", str(folder), "--jsonl", str(tmp_path / "r.jsonl"))
    assert proc.returncode == 2 and "\x1b" not in proc.stderr and "\u202e" not in proc.stderr
    assert "evil\\x1b[2J\\u202e.apk" in proc.stderr


@pytest.mark.parametrize(("argv", "message"), [
    (["--jobs", "0"], "argument --jobs/-j: must be above 0: '0'"),
    (["--timeout", "soon"], "argument --timeout: not a number: 'soon'"),
    (["--dask-send-bytes"], "--dask-send-bytes needs --scheduler or --dask-local"),
    (["--scheduler", "tcp://x:1", "--dask-local", "2"], "argument --dask-local: not allowed with argument --scheduler"),
    (["--db", "same.out", "--jsonl", "./same.out"], "--db and --jsonl name the same file"),
])
def test_usage_errors_are_one_line(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    try:
        code = main(["scan", str(fixture("picker.apk")), *argv])
    except SystemExit as exc:
        code = exc.code
    assert (code, capsys.readouterr().err) == (2, f"permaudit: error: {message}\n")


@pytest.mark.parametrize(("jobs", "threads"), [([], False), (["--jobs", "4"], False), (["--jobs", "2"], True), (["--jobs", "1"], True)])
def test_workers_use_background_threads_only_where_cores_are_left_idle(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: list[str], threads: bool) -> None:
    """On 4 cores: the default (a worker a core) and ``--jobs 4`` audit without background threads
    (they would only contend with the other workers); fewer workers use the idle cores."""
    import importlib

    from permaudit import cli

    scan_module = importlib.import_module("permaudit.batch.scan")

    seen: list[AuditOptions] = []

    def recording(paths, executor, sinks, *, options, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(options)
        return real(paths, executor, sinks, options=options, **kwargs)

    real = scan_module.scan
    monkeypatch.setattr(cli, "_cores", lambda: 4)
    monkeypatch.setattr(scan_module, "scan", recording)
    assert main(["scan", str(fixture("picker.apk")), "--jsonl", str(tmp_path / "log.jsonl"), *jobs]) == 0
    assert [o.threads for o in seen] == [threads]
    line = json.loads((tmp_path / "log.jsonl").read_text().splitlines()[0])
    assert line["result"]["status"] == "complete"


def test_scan_in_process_counts(tmp_path: Path) -> None:
    """The library call: a summary that counts what it wrote, with the log as the only sink."""
    folder = sample(tmp_path, ["loan_harvest.apk", "picker.apk"])
    log = JsonlLog(tmp_path / "r.jsonl", resume=False)
    result = scan([folder, folder / "picker.apk"], LocalPool(2), [log])
    log.close()
    assert (result.inputs, result.audited, result.duplicates, result.recorded, result.interrupted) == (2, 2, 0, 0, False)
    assert result.tally.statuses["complete"] == 2


@pytest.mark.skipif(not (SHARED / "bench" / "mega-multidex.apk").exists(), reason="../shared/bench not present")
def test_a_real_slow_app_hits_the_time_limit_while_a_small_one_passes(tmp_path: Path) -> None:
    proc = cli("scan", str(SHARED / "bench" / "mega-multidex.apk"), str(fixture("picker.apk")), "--jobs", "1",
               "--timeout", "1", "--jsonl", str(tmp_path / "r.jsonl"))
    outcomes = {Path(e["input"]["path"]).name: e["result"] for e in lines(tmp_path / "r.jsonl")}
    mega = outcomes["mega-multidex.apk"]
    assert [(p["code"], p["severity"]) for p in mega["problems"]] == [("time-limit", "partial")]
    assert mega["status"] == "partial" and mega["manifest"]["package"] and mega["code"] is None
    assert outcomes["picker.apk"]["status"] == "complete"
    assert proc.returncode == 2


def test_dask_cluster_resumes_the_same_store(tmp_path: Path) -> None:
    """`--dask-local`: the same store, the same resume: only the input not recorded yet is sent."""
    pytest.importorskip("distributed")
    folder = sample(tmp_path, ["loan_harvest.apk", "picker.apk"])
    db, log = tmp_path / "r.db", tmp_path / "r.jsonl"
    assert cli("scan", str(folder), "--db", str(db), "--jsonl", str(log)).returncode == 0
    shutil.copy(fixture("clean_app.apk"), folder / "clean_app.apk")
    proc = cli("scan", str(folder), "--db", str(db), "--jsonl", str(log), "--resume", "--dask-local", "1", "--dask-send-bytes")
    assert proc.returncode == 0, proc.stderr
    assert summary(proc.stderr)[:3] == (3, 1, 1) and summary(proc.stderr)[-1] == 2
    entries = lines(log)
    assert [Path(e["input"]["path"]).name for e in entries][-1] == "clean_app.apk"
    assert entries[-1]["result"] == json.loads(json.dumps(audit(folder / "clean_app.apk").to_dict()))
    with Store.open(db, create=False) as store:
        assert len(store.recorded()) == 3


def test_unreachable_scheduler_is_one_line(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    proc = cli("scan", str(fixture("picker.apk")), "--scheduler", "tcp://127.0.0.1:9", "--jsonl", str(tmp_path / "r.jsonl"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("permaudit: cannot reach the Dask scheduler at tcp://127.0.0.1:9 within ")


def test_query_and_report_over_a_scanned_store(tmp_path: Path) -> None:
    """The regulator's questions from the command line: the ring's collector, its certificate, a report."""
    folder = sample(tmp_path, ["ring_a.apk", "ring_b.apk", "picker.apk"])
    db = tmp_path / "r.db"
    assert cli("scan", str(folder), "--db", str(db)).returncode == 0
    host = cli("query", "contacts-same-host", "--db", str(db), "--format", "csv")
    assert (host.returncode, host.stderr) == (0, "")
    assert host.stdout.splitlines() == [
        "host,apps,packages,members",
        'collect.ring-fixture.net,2,2,"com.example.ring.cashpeso (983b7cb68d2a), com.example.ring.rupeefast (8cfeb1ab0e45)"']
    certs = json.loads(cli("query", "shared-certificate", "--db", str(db), "--format", "json", "--min-apps", "3").stdout)
    assert [row["apps"] for row in certs["rows"]] == [3]
    report = cli("report", "--db", str(db), "--format", "html", "--lang", "zh", "-o", str(tmp_path / "corpus.html"))
    assert (report.returncode, report.stdout, report.stderr) == (0, "", "")
    page = (tmp_path / "corpus.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "collect.ring-fixture.net" in page and "<svg" in page
    rows = cli("report", "--db", str(db), "--format", "csv").stdout.splitlines()
    assert len(rows) == 4 and sum("com.example.ring." in r for r in rows) == 2


@pytest.mark.parametrize(("argv", "message"), [
    (["query", "who-knows", "--db", "{db}"], "permaudit: no question 'who-knows'; `permaudit query --db FILE` lists the 8 questions\n"),
    (["query", "verdicts", "--db", "{missing}"], "permaudit: {missing}: no such store\n"),
    (["report", "--db", "{missing}"], "permaudit: {missing}: no such store\n"),
    (["query", "verdicts", "--db", "{db}", "--min-apps", "0"], "permaudit: error: argument --min-apps: must be above 0: '0'\n"),
])
def test_query_and_report_errors_are_one_line(tmp_path: Path, argv: list[str], message: str) -> None:
    db, missing = tmp_path / "r.db", tmp_path / "none.db"
    assert cli("scan", str(fixture("picker.apk")), "--db", str(db)).returncode == 0
    proc = cli(*[a.format(db=db, missing=missing) for a in argv])
    assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", message.format(missing=missing))
    assert not missing.exists()  # asking never creates a store


@pytest.mark.skipif(sys.platform != "linux", reason="file names of undecodable bytes are a POSIX matter")
def test_an_undecodable_file_name_is_recorded_not_lost(tmp_path: Path) -> None:
    """A name that is not UTF-8 holds lone surrogates in Python, which SQLite refuses as text:
    the store spells them out (``\\udcff``), the log escapes them as JSON does, and resume works."""
    folder = tmp_path / "inputs"
    folder.mkdir()
    name = os.fsdecode(b"\xff\xfe.apk")
    shutil.copy(fixture("picker.apk"), folder / name)
    db, log = tmp_path / "r.db", tmp_path / "r.jsonl"
    proc = cli("scan", str(folder), "--db", str(db), "--jsonl", str(log))
    assert proc.returncode == 0, proc.stderr
    assert lines(log)[0]["input"]["path"] == str(folder / name)
    with Store.open(db, create=False) as store:
        assert list(store.recorded().values()) == [f"{folder}/\\udcff\\udcfe.apk"]
    resumed = cli("scan", str(folder), "--db", str(db), "--jsonl", str(log), "--resume")
    assert summary(resumed.stderr)[1] == 0 and summary(resumed.stderr)[-1] == 1
    assert len(lines(log)) == 1


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_inputs_refused_unread_are_never_hashed_and_say_why(tmp_path: Path) -> None:
    """A FIFO named directly would block whoever reads it, a missing path has nothing to hash:
    each is recorded with the problem `audit` gives it, and the run does not hang."""
    fifo = tmp_path / "pipe.apk"
    os.mkfifo(fifo)
    missing = tmp_path / "gone.apk"
    log = tmp_path / "r.jsonl"
    proc = cli("scan", str(fifo), str(missing), str(fixture("picker.apk")), "--jsonl", str(log))
    assert proc.returncode == 2
    codes = {Path(e["input"]["path"]).name: [p["code"] for p in e["result"]["problems"]] for e in lines(log)}
    assert codes == {"pipe.apk": ["special-file"], "gone.apk": ["missing-file"], "picker.apk": []}


def test_a_name_written_before_its_result_does_not_count_as_recorded(tmp_path: Path) -> None:
    """Killed after writing the second name of an input still being audited: the log holds the
    name but no result. Resuming audits the input, and writes neither it nor the name twice."""
    folder = sample(tmp_path, ["picker.apk"])
    shutil.copy(fixture("picker.apk"), folder / "picker-copy.apk")
    key = input_key(folder / "picker.apk")
    log = tmp_path / "r.jsonl"
    alias = {"input": {"path": str(folder / "picker.apk"), "sha256": key}, "same_as": str(folder / "picker-copy.apk")}
    log.write_text(json.dumps(alias) + "\n", encoding="utf-8")
    proc = cli("scan", str(folder), "--jsonl", str(log), "--resume")
    assert proc.returncode == 0, proc.stderr
    entries = lines(log)
    assert entries[0] == alias and len(entries) == 2
    assert entries[1]["input"] == {"path": str(folder / "picker-copy.apk"), "sha256": key} and "result" in entries[1]


def test_values_sqlite_cannot_hold_are_recorded_as_text(tmp_path: Path) -> None:
    """A decoded text manifest may claim any number: one beyond SQLite's 64-bit integers is stored
    as SQLite takes its digits (an approximate REAL in an integer column), exact in the whole
    result, never an error that stops the run."""
    from .conftest import dex_of

    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / "classes.dex").write_bytes(dex_of(fixture("picker.apk")))
    huge = "123456789012345678901234567890"
    (dump / "AndroidManifest.xml").write_text(
        '<manifest xmlns:android="http://schemas.android.com/apk/res/android" package="com.example.huge" '
        f'android:versionCode="{huge}"><uses-sdk android:minSdkVersion="{huge}"/></manifest>', encoding="utf-8")
    db = tmp_path / "r.db"
    proc = cli("scan", str(dump), "--db", str(db))
    assert proc.returncode == 0, proc.stderr
    with Store.open(db, create=False) as store:
        assert store.query("SELECT package, min_sdk, typeof(min_sdk) FROM apps") == (("com.example.huge", float(huge), "real"),)
        (key,) = store.recorded()
        assert store.result(key)["manifest"]["min_sdk"] == int(huge)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize(("argv", "message"), [
    (["query", "verdicts", "--db", "{fifo}"], "permaudit: {fifo}: is a FIFO, not a results store\n"),
    (["scan", "{apk}", "--db", "{fifo}"], "permaudit: {fifo}: is a FIFO, not a results store\n"),
    (["scan", "{apk}", "--jsonl", "{fifo}", "--resume"], "permaudit: {fifo}: is a FIFO; --resume reads the log file an earlier scan wrote\n"),
])
def test_a_fifo_named_as_store_or_log_is_refused_not_waited_on(tmp_path: Path, argv: list[str], message: str) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    proc = cli(*[a.format(fifo=fifo, apk=fixture("picker.apk")) for a in argv])
    assert (proc.returncode, proc.stderr) == (2, message.format(fifo=fifo))


def test_a_file_rewritten_during_the_scan_is_recorded_as_audited(tmp_path: Path) -> None:
    """The worker read other bytes than the scan hashed: the result is recorded under what was
    audited, with a note, and the run goes on (the store would refuse the mismatched key)."""
    folder = sample(tmp_path, ["picker.apk", "clean_app.apk"])
    actual = input_key(folder / "picker.apk")

    class Rewritten:
        def run(self, jobs):  # type: ignore[no-untyped-def]
            for job in jobs:
                yield audit_job(Job(job.path, "f" * 64 if job.path.endswith("picker.apk") else job.key, job.options))

    from permaudit.batch import StoreSink

    store_sink = StoreSink(tmp_path / "r.db")
    summary_ = scan([folder], Rewritten(), [store_sink])
    store_sink.close()
    assert summary_.audited == 2
    with Store.open(tmp_path / "r.db", create=False) as store:
        assert store.recorded()[actual] == str(folder / "picker.apk")
        (code, message), = store.query("SELECT code, message FROM problems WHERE input_sha256 = ?", (actual,))
    assert code == "changed-during-scan" and message.endswith(f"hashed as {'f' * 64}, audited as {actual}")
