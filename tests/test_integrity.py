"""Evidence integrity: the status never claims more than was read, damage is never dropped
in silence, one damage never costs what was found elsewhere, and no audit has process-wide
side effects."""

from __future__ import annotations

import json
import os
import struct
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import permaudit
from permaudit.audit import status_of
from permaudit.cli import main
from permaudit.dex import DexFile
from permaudit.model import Problem, Severity, Stage, Status

from .conftest import dex_of, fixture, with_members

HARVEST = "Lcom/example/loanharvest/ContactsUploader;"


def collect_code_item(dex: bytes) -> tuple[int, int]:
    """(file offset of the first code unit, insns_size) of ContactsUploader.collect()."""
    file = DexFile(dex)
    method = file.find_method(HARVEST, "collect", "()Lorg/json/JSONArray;")
    assert method is not None
    info = file.code_info(method)
    assert info is not None
    return info.code_off + 16, info.insns_size


def test_status_follows_the_worst_problem() -> None:
    note = Problem("malformed-manifest", "x", severity=Severity.NOTE)
    partial = Problem("bad-method", "y")
    assert status_of([], True) is Status.COMPLETE
    assert status_of([note], True) is Status.COMPLETE
    assert status_of([note, partial], True) is Status.PARTIAL
    assert status_of([Problem("no-package", "z", severity=Severity.FAILED)], True) is Status.FAILED
    assert status_of([note], False) is Status.FAILED


def test_a_method_that_cannot_be_decoded_is_a_problem_naming_it(tmp_path: Path) -> None:
    """The last code unit of collect() becomes an invoke (3 units long): it runs past the end."""
    apk = fixture("loan_harvest.apk")
    dex = bytearray(dex_of(apk))
    start, size = collect_code_item(bytes(dex))
    last = start + 2 * (size - 1)
    struct.pack_into("<H", dex, last, 0x006E)
    result = permaudit.audit(with_members(apk, tmp_path / "damaged.apk", {"classes.dex": bytes(dex)}))
    assert result.status is Status.PARTIAL
    damaged = [p for p in result.problems if p.code == "bad-method"]
    assert len(damaged) == 1 and damaged[0].member == "classes.dex"
    assert f"classes.dex: {HARVEST}->collect()Lorg/json/JSONArray;" in damaged[0].message
    assert result.manifest is not None and result.manifest.package == "com.example.loanharvest"
    assert [r.location.method for r in result.code.requests] == ["onCreate"]  # found elsewhere, kept


def test_a_bug_in_the_code_stage_keeps_the_manifest_and_signing_facts(monkeypatch: pytest.MonkeyPatch) -> None:
    from permaudit.facts import code

    def explode(package: object, **_: object) -> None:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(code, "extract", explode)
    result = permaudit.audit(fixture("loan_harvest.apk"))
    assert result.status is Status.PARTIAL
    assert result.manifest is not None and result.manifest.package == "com.example.loanharvest"
    assert result.signing is not None and [s.scheme for s in result.signing.schemes if s.verified] == ["v1", "v2", "v3"]
    assert result.code is None
    [problem] = result.problems
    assert problem.code == "internal-error" and "internal error in the code stage, RuntimeError at test_integrity.py:" in problem.message


def test_notes_alone_leave_the_result_complete_and_exit_zero(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from permaudit.facts import manifest

    real = manifest.extract

    def noted(package):  # type: ignore[no-untyped-def]
        package.problems.append(Problem("crc-mismatch", f"{Path(package.path).name}!classes.dex: CRC differs; read as Android reads it", "classes.dex", Severity.NOTE))
        return real(package)

    monkeypatch.setattr(manifest, "extract", noted)
    code = main(["audit", str(fixture("clean_app.apk")), "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0
    [result] = json.loads(out)["results"]
    assert result["status"] == "complete"
    assert result["problems"] == [{"code": "crc-mismatch", "member": "classes.dex", "severity": "note", "message": "clean_app.apk!classes.dex: CRC differs; read as Android reads it"}]
    assert err == f"permaudit: note: {fixture('clean_app.apk')}!classes.dex: CRC differs; read as Android reads it\n"


def test_manifest_only_says_code_was_not_analysed_by_choice(capsys: pytest.CaptureFixture[str]) -> None:
    result = permaudit.audit(fixture("loan_harvest.apk"), code=False)
    assert (result.status, result.skipped, result.code, result.problems) == (Status.COMPLETE, (Stage.CODE,), None, ())
    assert main(["audit", str(fixture("loan_harvest.apk")), "--manifest-only"]) == 0
    assert "Personal-data access in code: not analysed (--manifest-only)" in capsys.readouterr().out
    main(["audit", str(fixture("loan_harvest.apk")), "--manifest-only", "--format", "json"])
    assert json.loads(capsys.readouterr().out)["results"][0]["skipped"] == ["code"]


def test_audit_all_takes_one_path_as_a_string_or_path() -> None:
    for path in (str(fixture("clean_app.apk")), fixture("clean_app.apk")):
        assert [r.path for r in permaudit.audit_all(path, code=False)] == [str(path)]


def test_a_folder_with_no_package_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.txt").write_text("nothing to audit")
    assert main(["audit", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert err == f"permaudit: {tmp_path}: no APK, bundle or dex file found in this folder\n"


def test_a_deep_folder_and_a_symlink_loop_are_walked_once(tmp_path: Path) -> None:
    os.symlink(tmp_path, tmp_path / "loop")
    here = os.getcwd()
    try:
        os.chdir(tmp_path)
        for _ in range(1200):  # deeper than Python's recursion limit
            os.mkdir("d")
            os.chdir("d")
        Path("deep.apk").write_bytes(fixture("clean_app.apk").read_bytes())
    finally:
        os.chdir(here)
    try:
        results = list(permaudit.audit_all(tmp_path, code=False))
    finally:
        _remove_deep(tmp_path / "d")
    assert [(Path(r.path).name, r.status) for r in results] == [("deep.apk", Status.COMPLETE)]


def _remove_deep(top: Path) -> None:
    """shutil.rmtree recurses: undo a 1,200-level folder from the bottom up."""
    path = top
    while (path / "d").is_dir():
        path = path / "d"
    (path / "deep.apk").unlink()
    while path != top.parent:
        os.rmdir(path)
        path = path.parent


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_special_files_are_refused_never_opened(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "app.apk")
    [result] = permaudit.audit_all(tmp_path)
    assert result.status is Status.FAILED
    assert [(p.code, p.message) for p in result.problems] == [("special-file", f"{tmp_path / 'app.apk'}: refused, a FIFO is not a file")]
    assert permaudit.audit(tmp_path / "app.apk").problems[0].code == "special-file"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_named_like_a_dex_in_a_dump_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "classes.dex").write_bytes(dex_of(fixture("loan_harvest.apk")))
    os.mkfifo(tmp_path / "classes2.dex")
    result = permaudit.audit(tmp_path)
    assert result.status is Status.PARTIAL
    assert [(p.code, p.member) for p in result.problems] == [("special-file", "classes2.dex")]
    assert [s.location.class_name for s in result.code.sites] == [HARVEST]


def test_terminal_escapes_in_a_package_are_shown_not_interpreted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    evil = "\x1b[2J\x1b]0;pwned\x07\u202eSTNETNOC_DAER"
    apk = tmp_path / "evil.apk"
    apk.write_bytes(fixture("hybrid_rn.apk").read_bytes())
    import zipfile

    with zipfile.ZipFile(apk, "a") as archive:
        archive.writestr(f"assets/index.android.bundle{evil}", b"not deflated right")
    code = main(["audit", str(apk)])
    out, err = capsys.readouterr()
    for stream in (out, err):
        assert "\x1b" not in stream and "\u202e" not in stream and "\x07" not in stream
    assert code in (0, 2)


def test_two_threads_give_the_same_results_as_one_after_the_other() -> None:
    names = ["loan_harvest.apk", "picker.apk", "interprocedural.apk", "loan_bundle.xapk", "hybrid_rn.apk", "multidex_app.apk"] * 2
    sequential = [permaudit.audit(fixture(n)).to_dict() for n in names]
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(lambda n: permaudit.audit(fixture(n)).to_dict(), names))
    assert threaded == sequential


def test_an_audit_without_background_threads_gives_the_same_result(tmp_path: Path) -> None:
    """``threads=False`` (a pool worker whose siblings keep every core busy) inflates and hashes in
    the calling thread: the same result, problems included, on sound, damaged and bundled input."""
    import threading

    damaged = tmp_path / "crc.apk"
    blob = bytearray(fixture("loan_harvest.apk").read_bytes())
    at = blob.find(b"PK\x01\x02")  # the first central-directory record's CRC: a crc-mismatch note on read
    blob[at + 16] ^= 0xFF
    damaged.write_bytes(bytes(blob))
    started = []
    real_start = threading.Thread.start

    def counting(self: threading.Thread) -> None:
        started.append(self.name)
        real_start(self)

    names = [fixture("loan_harvest.apk"), fixture("multidex_app.apk"), fixture("loan_bundle.xapk"), damaged]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(threading.Thread, "start", counting)
        alone = [permaudit.audit(n, threads=False).to_dict() for n in names]
        assert started == []  # not one thread started
    assert alone == [permaudit.audit(n).to_dict() for n in names]
    assert any(p["code"] == "crc-mismatch" for p in alone[-1]["problems"])


def test_importing_and_auditing_leaves_the_standard_streams_alone() -> None:
    """androguard's androconf wraps stdout/stderr with colorama at import; we never import it."""
    import subprocess

    script = "import sys; out, err = sys.stdout, sys.stderr; import permaudit; permaudit.audit(sys.argv[1]); print(sys.stdout is out and sys.stderr is err)"
    proc = subprocess.run([sys.executable, "-c", script, str(fixture("loan_harvest.apk"))], capture_output=True, text=True, check=True)
    assert proc.stdout == "True\n"


def test_the_signature_libraries_load_only_when_a_signature_is_read(tmp_path: Path) -> None:
    """asn1crypto and cryptography (about 30 ms of imports) are not imported by ``import permaudit``
    nor by an audit that meets no signature; auditing an APK signed with an ordinary RSA key
    imports asn1crypto only (its PKCS #1 v1.5 signatures are checked without cryptography)."""
    import subprocess

    dex = tmp_path / "classes.dex"
    dex.write_bytes(dex_of(fixture("clean_app.apk")))
    script = ("import sys, permaudit; loaded = lambda: sorted({m.split('.')[0] for m in sys.modules} & {'asn1crypto', 'cryptography'}); "
              "print(loaded()); r = permaudit.audit(sys.argv[1]); print(r.status.value, loaded()); "
              "r = permaudit.audit(sys.argv[2]); print(r.status.value, [s.verified for s in r.signing.schemes][:3], loaded())")
    proc = subprocess.run([sys.executable, "-c", script, str(dex), str(fixture("clean_app.apk"))], capture_output=True, text=True, check=True)
    assert proc.stdout.splitlines() == ["[]", "complete []", "complete [True, True, True] ['asn1crypto']"]


def test_a_bug_outside_any_package_is_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from permaudit import cli

    def explode(*_: object, **__: object) -> str:
        raise RuntimeError("simulated formatter bug")

    monkeypatch.setattr(cli, "render", explode)
    assert main(["audit", str(fixture("clean_app.apk")), "--manifest-only"]) == 2
    out, err = capsys.readouterr()
    assert (out, err) == ("", "permaudit: internal error RuntimeError: simulated formatter bug (please report)\n")


def test_a_damaged_dex_is_partial_even_where_no_contacts_api_is_involved(tmp_path: Path) -> None:
    """clean_app reads nothing personal; a string id pointing into its dex header is still damage."""
    apk = fixture("clean_app.apk")
    dex = bytearray(dex_of(apk))
    string_ids_off = struct.unpack_from("<I", dex, 0x3C)[0]
    struct.pack_into("<I", dex, string_ids_off, 0x10)  # string 0's data inside the header
    result = permaudit.audit(with_members(apk, tmp_path / "damaged.apk", {"classes.dex": bytes(dex)}))
    assert result.status is Status.PARTIAL
    assert [(p.code, p.member) for p in result.problems] == [("bad-dex", "classes.dex")]
    assert "string" in result.problems[0].message and "0x10" in result.problems[0].message
    assert result.manifest is not None and result.manifest.package == "com.example.cleanapp"


def test_a_damaged_annotations_directory_costs_the_bridge_flag_not_the_read(tmp_path: Path) -> None:
    """Once a single annotations_off past the end of the file dropped every site of the package."""
    apk = fixture("webview_bridge.apk")
    dex = bytearray(dex_of(apk))
    class_defs_off = struct.unpack_from("<I", dex, 0x64)[0]
    assert struct.unpack_from("<I", dex, class_defs_off + 20)[0]  # class_def 0, Bridge, has annotations
    struct.pack_into("<I", dex, class_defs_off + 20, len(dex) + 100)
    result = permaudit.audit(with_members(apk, tmp_path / "damaged.apk", {"classes.dex": bytes(dex)}))
    assert result.status is Status.PARTIAL
    assert [p.code for p in result.problems] == ["bad-dex", "bad-dex"]
    assert "annotations_directory at 0x" in result.problems[0].message and "outside the file" in result.problems[0].message
    assert "getContacts()Ljava/lang/String;: annotations unreadable" in result.problems[1].message
    [site] = result.code.sites
    assert (site.category, site.location.method, site.bridge) == ("contacts", "getContacts", False)


def test_a_second_copy_of_an_asset_is_scanned_like_the_first(tmp_path: Path) -> None:
    """A duplicated member name must not hide a server: the copy labelled ``#2`` is read too."""
    import zipfile

    apk = tmp_path / "dup.apk"
    apk.write_bytes(fixture("clean_app.apk").read_bytes())
    with zipfile.ZipFile(apk, "a") as archive, pytest.warns(UserWarning, match="Duplicate name"):
        archive.writestr("assets/config.json", b'{"api": "https://first.dup-fixture.net/a"}')
        archive.writestr("assets/config.json", b'{"api": "http://62.60.134.177:7702/app/input.php"}')
    result = permaudit.audit(apk)
    assert result.code is not None and result.code.endpoints is not None
    found = {e.value: [s.member for s in e.sources] for e in result.code.endpoints.endpoints}
    assert found["https://first.dup-fixture.net/a"] == ["assets/config.json"]
    assert found["http://62.60.134.177:7702/app/input.php"] == ["assets/config.json#2"]
    assert "duplicate-member" in [p.code for p in result.problems]
