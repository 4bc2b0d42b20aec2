"""The command line: output, determinism, exit codes, one-line errors."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from permaudit import __version__
from permaudit.cli import main

from .conftest import fixture


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_table_lists_permissions_contacts_first(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "audit", str(fixture("loan_harvest.apk")), "--manifest-only")
    assert (code, err) == (0, "")
    assert "com.example.loanharvest" in out and "QuickCash Loan" in out and "2.3.1 (7)" in out
    rows = [line.split() for line in out.splitlines() if line.startswith("android.permission.")]
    assert [r[0] for r in rows] == [
        "android.permission.READ_CONTACTS",
        "android.permission.READ_PHONE_STATE",
        "android.permission.ACCESS_FINE_LOCATION",
        "android.permission.INTERNET",
    ]
    assert rows[0] == ["android.permission.READ_CONTACTS", "contacts", "dangerous", "uses-permission", "-", "21+"]


TABLES = {
    "loan_declared_only.apk": [
        "android.permission.READ_CONTACTS contacts dangerous uses-permission - 21+",
        "android.permission.INTERNET - normal|instant uses-permission - 21+",
    ],
    "clean_app.apk": ["android.permission.INTERNET - normal|instant uses-permission - 21+"],
    "multidex_app.apk": [
        "android.permission.READ_CONTACTS contacts dangerous uses-permission - 21+",
        "android.permission.INTERNET - normal|instant uses-permission - 21+",
    ],
    "loan_bundle.xapk": [
        "android.permission.READ_CONTACTS contacts dangerous uses-permission - 21+",
        "android.permission.INTERNET - normal|instant uses-permission - 21+",
    ],
    "manifest_edge.apk": [
        "android.permission.READ_CONTACTS contacts dangerous uses-permission-sdk-23 - 23+",
        "android.permission.READ_CALL_LOG call_log dangerous uses-permission - 21+",
        "android.permission.READ_SMS sms dangerous uses-permission - 21+",
        "android.permission.READ_PHONE_STATE phone dangerous uses-permission 28 21-28",
        "android.permission.ACCESS_FINE_LOCATION location dangerous|instant uses-permission-sdk-23 30 23-30",
        "android.permission.READ_MEDIA_IMAGES media dangerous uses-permission - 21+",
        "android.permission.WRITE_EXTERNAL_STORAGE media dangerous uses-permission 18 never",
        "android.permission.GET_ACCOUNTS accounts dangerous uses-permission - 21+",
        "android.permission.QUERY_ALL_PACKAGES installed_apps normal uses-permission - 21+",
        "android.permission.INTERNET - normal|instant uses-permission - 21+",
    ],
}


@pytest.mark.parametrize("name", sorted(TABLES))
def test_permission_table_of_each_fixture(capsys: pytest.CaptureFixture[str], name: str) -> None:
    code, out, err = run(capsys, "audit", str(fixture(name)))
    assert (code, err) == (0, "")
    rows = [" ".join(line.split()) for line in out.splitlines() if line.startswith("android.permission.")]
    assert rows == TABLES[name]


def test_json_is_deterministic_and_versioned(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    first = tmp_path / "a.json"
    second = tmp_path / "b.json"
    assert run(capsys, "audit", str(fixture("manifest_edge.apk")), "--format", "json", "-o", str(first))[0] == 0
    assert run(capsys, "audit", str(fixture("manifest_edge.apk")), "--format", "json", "-o", str(second))[0] == 0
    assert first.read_bytes() == second.read_bytes()
    document = json.loads(first.read_text())
    assert document["schema_version"] == "2.1"
    assert document["tool"] == {"name": "permaudit", "version": __version__}
    assert "generated_at" not in document
    result = document["results"][0]
    assert result["manifest"]["package"] == "com.example.manifestedge"
    names = [(p["name"], p["element"]) for p in result["manifest"]["permissions"]]
    assert names == sorted(names)
    assert first.read_text() == json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def test_timestamp_only_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "audit", str(fixture("clean_app.apk")), "--format", "json", "--timestamp", "--manifest-only")
    assert code == 0 and "generated_at" in json.loads(out)


def test_bad_input_one_line_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "junk.apk").write_text("not an apk")
    code, out, err = run(capsys, "audit", str(tmp_path / "junk.apk"))
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("permaudit: ") and "not a zip archive" in err


def test_batch_continues_past_bad_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "junk.apk").write_text("not an apk")
    code, out, err = run(capsys, "audit", str(tmp_path / "missing.apk"), str(tmp_path / "junk.apk"), str(fixture("clean_app.apk")), "--format", "json", "--manifest-only")
    assert code == 2
    results = json.loads(out)["results"]
    assert [r["status"] for r in results] == ["failed", "failed", "complete"]
    assert results[2]["manifest"]["package"] == "com.example.cleanapp"
    assert len(err.splitlines()) == 2


def test_output_file_not_created_when_nothing_audited(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "report.txt"
    code, _, _ = run(capsys, "audit", str(tmp_path / "missing.apk"), "-o", str(target))
    assert code == 2 and not target.exists()


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["audit", str(fixture("clean_app.apk")), "--format", "pdf"])
    assert info.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.strip() == f"permaudit {__version__}"


def test_console_script_entry_point() -> None:
    """The installed command and ``python -m permaudit`` are the same program."""
    proc = subprocess.run([sys.executable, "-m", "permaudit", "audit", str(fixture("clean_app.apk")), "--manifest-only"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "com.example.cleanapp" in proc.stdout
    assert proc.stderr == ""  # androguard's loguru debug output stays silent


def test_the_program_ends_with_every_byte_written_and_its_exit_code(tmp_path: Path) -> None:
    """``entry`` ends an audit's process without the interpreter's teardown once the streams are
    flushed: the whole report reaches the pipe and the file, the problem line reaches stderr, and
    the exit code is the audit's, as ``main`` gives them in process."""
    apk, broken = fixture("loan_harvest.apk"), tmp_path / "broken.apk"
    broken.write_bytes(b"PK\x03\x04" + bytes(40))
    out = tmp_path / "report.json"
    runs = [
        ([str(apk), "--format", "json"], 0),
        ([str(apk), str(broken), "--format", "sarif", "--fail-on", "warning"], 2),
        ([str(apk), "--format", "json", "--output", str(out), "--category", "lending", "--fail-on", "violation"], 1),
    ]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # buffered, as the streams usually are
    for args, code in runs:
        proc = subprocess.run([sys.executable, "-m", "permaudit", "audit", *args], capture_output=True, text=True, check=False, env=env)
        assert proc.returncode == code, proc.stderr
        with contextlib.redirect_stdout(io.StringIO()) as captured, contextlib.redirect_stderr(io.StringIO()) as errors:
            assert main(["audit", *args]) == code
        assert proc.stdout == captured.getvalue() and proc.stderr == errors.getvalue()
    assert json.loads(out.read_text(encoding="utf-8"))["results"][0]["status"] == "complete"


def test_the_program_ends_as_before_for_closed_streams_and_profilers(tmp_path: Path) -> None:
    """With stdout closed the exit code is still the audit's and no traceback appears; under a
    profiler the process ends through ``SystemExit``, so the profile is written."""
    apk, out, profile = fixture("loan_harvest.apk"), tmp_path / "report.json", tmp_path / "run.prof"
    proc = subprocess.run([sys.executable, "-m", "permaudit", "audit", str(apk), "-o", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True, check=False, preexec_fn=lambda: os.close(1))
    assert (proc.returncode, proc.stderr) == (0, "") and out.stat().st_size > 0
    proc = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "permaudit", "audit", str(apk), "--manifest-only"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and profile.stat().st_size > 0


def test_exit_code_precedence() -> None:
    """failed: 2; else a finding at or above --fail-on: 1, even on a partial result; else partial: 2; else 0."""
    from permaudit.batch import Tally
    from permaudit.cli import exit_code
    from permaudit.model import (
        AuditResult,
        Finding,
        FindingConfidence,
        PolicySeverity,
        Problem,
        Severity,
        Status,
    )

    warning = Finding("contacts.declared", "x", PolicySeverity.WARNING, FindingConfidence.HIGH, (), "m", "m", "s", ())
    clean = AuditResult("a.apk", "apk", Status.COMPLETE, None, findings=(warning,))
    partial = AuditResult("b.apk", "apk", Status.PARTIAL, None, problems=(Problem("bad-dex", "b.apk: bad"),))
    partial_warned = dataclasses.replace(partial, findings=(warning,))
    failed = AuditResult("c.apk", "apk", Status.FAILED, None, problems=(Problem("empty-file", "c.apk: empty", severity=Severity.FAILED),))
    assert exit_code(Tally.of([clean]), None) == 0
    assert exit_code(Tally.of([clean]), PolicySeverity.INFO) == 1
    assert exit_code(Tally.of([clean]), PolicySeverity.WARNING) == 1
    assert exit_code(Tally.of([clean]), PolicySeverity.VIOLATION) == 0
    assert exit_code(Tally.of([clean, partial]), PolicySeverity.WARNING) == 1  # the clean one already fails the gate
    assert exit_code(Tally.of([clean, partial]), PolicySeverity.VIOLATION) == 2  # nothing fails it, but one was read in part
    assert exit_code(Tally.of([partial_warned]), PolicySeverity.WARNING) == 1  # a partial result with a finding still says so
    assert exit_code(Tally.of([clean, failed]), PolicySeverity.WARNING) == 2


def test_a_bug_on_one_file_never_stops_the_batch(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from permaudit.facts import manifest

    real = manifest.extract

    def explode(package):  # type: ignore[no-untyped-def]
        if package.path.endswith("clean_app.apk"):
            raise RuntimeError("simulated bug")
        return real(package)

    monkeypatch.setattr(manifest, "extract", explode)
    code, out, err = run(capsys, "audit", str(fixture("clean_app.apk")), str(fixture("loan_declared_only.apk")), "--format", "json", "--manifest-only")
    assert code == 2
    results = json.loads(out)["results"]
    assert [r["status"] for r in results] == ["failed", "complete"]
    assert results[0]["problems"][0]["code"] == "internal-error"
    assert "RuntimeError at test_cli.py:" in err and err.count("\n") == 1
