"""Bad and unusual inputs: each gives a structured problem with a one-line message, never a traceback."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

import permaudit
from permaudit.loading import discover
from permaudit.model import Severity, Status

from .conftest import corpus, fixture


def rezip(source: Path, target: Path, replace: dict[str, bytes | None]) -> Path:
    """Copy an APK member by member, replacing or dropping some (signatures then no longer verify)."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename in replace:
                data = replace[info.filename]
                if data is not None:
                    dst.writestr(info.filename, data)
            else:
                dst.writestr(info, src.read(info))
    return target


def one_line_failure(result: permaudit.AuditResult, code: str) -> str:
    assert result.status is Status.FAILED
    assert [p.code for p in result.problems] == [code]
    line = result.error_line()
    assert "\n" not in line and line
    return line


def test_missing_file(tmp_path: Path) -> None:
    line = one_line_failure(permaudit.audit(tmp_path / "nope.apk"), "missing-file")
    assert line.endswith("nope.apk: no such file")


def test_unreadable_path(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    one_line_failure(permaudit.audit(blocker / "app.apk"), "unreadable-file")


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.apk").write_bytes(b"")
    one_line_failure(permaudit.audit(tmp_path / "empty.apk"), "empty-file")


def test_not_a_zip(tmp_path: Path) -> None:
    (tmp_path / "text.apk").write_text("this is not an apk\n" * 20)
    line = one_line_failure(permaudit.audit(tmp_path / "text.apk"), "not-a-zip")
    assert "not a zip archive" in line


def test_truncated_zip_cut_in_half(tmp_path: Path) -> None:
    """The first half holds the manifest and classes.dex: recovered from local headers, as Android tools would."""
    data = fixture("loan_harvest.apk").read_bytes()
    (tmp_path / "cut.apk").write_bytes(data[: len(data) // 2])
    result = permaudit.audit(tmp_path / "cut.apk")
    assert result.status is Status.PARTIAL
    assert [(p.code, p.severity) for p in result.problems] == [("truncated-zip", Severity.PARTIAL)]
    assert "no End of Central Directory record" in result.problems[0].message
    assert result.manifest is not None and result.manifest.package == "com.example.loanharvest"
    assert result.code is not None and [s.location.method for s in result.code.sites if s.category == "contacts"] == ["collect"]


def test_nothing_recoverable_is_failed(tmp_path: Path) -> None:
    data = fixture("loan_harvest.apk").read_bytes()
    (tmp_path / "cut.apk").write_bytes(data[:20])
    line = one_line_failure(permaudit.audit(tmp_path / "cut.apk"), "truncated-zip")
    assert "no local file header could be read" in line


def test_empty_zip(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    zipfile.ZipFile(buffer, "w").close()
    (tmp_path / "empty.apk").write_bytes(buffer.getvalue())
    one_line_failure(permaudit.audit(tmp_path / "empty.apk"), "empty-zip")


def test_zip_without_manifest_is_partial_with_code(tmp_path: Path) -> None:
    apk = rezip(fixture("loan_harvest.apk"), tmp_path / "nomanifest.apk", {"AndroidManifest.xml": None})
    result = permaudit.audit(apk)
    assert result.status is Status.PARTIAL
    assert [p.code for p in result.problems] == ["no-manifest"]
    assert result.manifest is None
    assert result.code is not None and [d.name for d in result.code.dex] == ["classes.dex"]


def test_broken_dex_header_keeps_manifest(tmp_path: Path) -> None:
    with zipfile.ZipFile(fixture("loan_harvest.apk")) as src:
        dex = bytearray(src.read("classes.dex"))
    dex[0x24:0x28] = (0x80).to_bytes(4, "little")  # header_size must be 0x70
    apk = rezip(fixture("loan_harvest.apk"), tmp_path / "baddex.apk", {"classes.dex": bytes(dex)})
    result = permaudit.audit(apk)
    assert result.status is Status.PARTIAL
    assert [p.code for p in result.problems] == ["bad-dex"]
    assert result.problems[0].member == "classes.dex"
    assert result.manifest is not None and result.manifest.package == "com.example.loanharvest"


def test_malformed_resources_falls_back_to_package_name(tmp_path: Path) -> None:
    apk = rezip(fixture("loan_harvest.apk"), tmp_path / "badres.apk", {"resources.arsc": b"\x02\x00\x0c\x00" + b"\xff" * 64})
    result = permaudit.audit(apk, code=False)
    assert result.status is Status.PARTIAL
    assert [p.code for p in result.problems] == ["bad-resources"]
    assert result.manifest is not None
    assert result.manifest.label == "com.example.loanharvest"
    assert {p.name for p in result.manifest.permissions} >= {"android.permission.READ_CONTACTS"}


def test_geinimi_malformed_manifest_string_pool_corpus() -> None:
    """androguard's APK() raises ResParserError on this sample (a UTF-16 string without its
    terminator in the manifest's string pool); we read it as Android does and say so."""
    path = corpus("apk", "7d2a2656aa5f27587aea8dbf6ae445ce87ef6c1614ec3e4cdc17c88e69d49ace.apk")
    result = permaudit.audit(path)
    assert result.status is Status.COMPLETE  # read as Android reads it: a note
    assert [(p.code, p.severity) for p in result.problems] == [("malformed-manifest", Severity.NOTE)]
    facts = result.manifest
    assert facts is not None
    assert (facts.package, facts.label, facts.min_sdk) == ("com.splGUI", "SPL Meter FREE", 3)
    assert "android.permission.READ_CONTACTS" in {p.name for p in facts.permissions}
    assert result.code is not None and [d.name for d in result.code.dex] == ["classes.dex"]


def test_truncated_central_directory_corpus() -> None:
    path = corpus("apk", "1e332dc0b473de5fae8ef6c347672fe5386aba881a1b9ac77d0193092e308d9e.apk")
    result = permaudit.audit(path)
    assert result.status is Status.PARTIAL
    assert result.problems[0].code == "truncated-zip"
    assert "overlaps the End of Central Directory" in result.problems[0].message and "3 entries recovered" in result.problems[0].message
    assert result.manifest is not None and result.manifest.package == "android.appsecurity.cts.tinyapp"
    assert result.code is not None and [d.name for d in result.code.dex] == ["classes.dex"]  # its header used a data descriptor


@pytest.mark.parametrize("member", ["../evil.apk", "/abs/evil.apk", "a/../../evil.apk"])
def test_bundle_refuses_unsafe_member_names(tmp_path: Path, member: str) -> None:
    bundle = tmp_path / "evil.xapk"
    with zipfile.ZipFile(fixture("loan_bundle.xapk")) as src, zipfile.ZipFile(bundle, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        dst.writestr(member, fixture("clean_app.apk").read_bytes())
    result = permaudit.audit(bundle, code=False)
    assert result.status is Status.PARTIAL
    assert [p.code for p in result.problems] == ["unsafe-member"]
    assert result.manifest is not None and result.manifest.package == "com.example.loanbundle"


def test_bare_dex_and_dex_folder(tmp_path: Path) -> None:
    with zipfile.ZipFile(fixture("multidex_app.apk")) as src:
        (tmp_path / "classes.dex").write_bytes(src.read("classes.dex"))
        (tmp_path / "classes2.dex").write_bytes(src.read("classes2.dex"))
        (tmp_path / "AndroidManifest.xml").write_bytes(src.read("AndroidManifest.xml"))
    bare = permaudit.audit(tmp_path / "classes2.dex")
    assert (bare.kind, bare.status, bare.manifest) == ("dex", Status.COMPLETE, None)
    folder = permaudit.audit(tmp_path)
    assert (folder.kind, folder.status) == ("dex-folder", Status.COMPLETE)
    assert folder.manifest is not None and folder.manifest.package == "com.example.multidex"
    assert folder.code is not None and [d.name for d in folder.code.dex] == ["classes.dex", "classes2.dex"]


def test_text_manifest_in_dex_folder() -> None:
    result = permaudit.audit(corpus("dex", "exprespam"))
    assert result.kind == "dex-folder" and result.status is Status.COMPLETE
    assert result.manifest is not None
    assert "android.permission.READ_CONTACTS" in {p.name for p in result.manifest.permissions}


def test_discover_expands_folders_and_sniffs_hash_named_files(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.apk").write_bytes(fixture("clean_app.apk").read_bytes())
    (tmp_path / "0123abcd").write_bytes(fixture("clean_app.apk").read_bytes())
    (tmp_path / "notes.txt").write_text("analyst notes")
    dump = tmp_path / "dump"
    dump.mkdir()
    with zipfile.ZipFile(fixture("clean_app.apk")) as src:
        (dump / "classes.dex").write_bytes(src.read("classes.dex"))
    assert [p.relative_to(tmp_path).as_posix() for p in discover(tmp_path)] == ["0123abcd", "a/one.apk", "dump"]


def test_identity_hashes_and_certificate() -> None:
    path = fixture("clean_app.apk")
    result = permaudit.audit(path, code=False)
    import hashlib

    data = path.read_bytes()
    assert result.hashes is not None
    sums = dict(line.split()[::-1] for line in (path.parents[1] / "SHA256SUMS").read_text().splitlines())
    assert result.hashes.sha256 == sums["apk/clean_app.apk"]  # recorded when the fixture was built
    assert (result.hashes.sha1, result.hashes.md5, result.hashes.size) == (
        hashlib.sha1(data).hexdigest(), hashlib.md5(data).hexdigest(), len(data),
    )
    signing = result.signing
    assert signing is not None
    assert [c.sha256 for c in signing.certificates] == [TEST_CERT_SHA256]
    assert {s.scheme for s in signing.schemes if s.verified} == {"v1", "v2", "v3"}


TEST_CERT_SHA256 = "21ac232614d742fdc66516987ebe6afadd7f3236fe05d584c1683df35ffe5a08"  # fixtures/README.md


@pytest.mark.parametrize("name", ["clean_app.apk", "loan_bundle.xapk"])
def test_an_unsettled_package_gets_the_same_hashes_and_artifacts_once_settled(name: str) -> None:
    """``load(settle=False)`` (what ``audit`` does, to hash the file beside the stages) leaves the
    file's hashes and the artifact list to ``settle``, which fills in exactly what ``load`` gives."""
    from permaudit.loading import hashes_of, load

    path = fixture(name)
    settled = load(path, keep_dex=True)
    pending = load(path, keep_dex=True, settle=False)
    assert [a.kind for a in pending.artifacts] == (["bundle"] if name.endswith(".xapk") else []) and pending.pending
    assert [d.name for d in pending.dex] == [d.name for d in settled.dex]  # the stages' inputs are all there
    assert pending.settle() is pending and not pending.pending
    assert pending.hashes == settled.hashes == hashes_of(path.read_bytes())
    assert pending.artifacts == settled.artifacts and len(settled.artifacts) >= 1
    assert pending.artifacts[-1].hashes is not None and pending.artifacts[-1].signing is not None
    pending.settle()  # settling twice changes nothing
    assert pending.artifacts == settled.artifacts


def test_apkm_bundle_with_info_json(tmp_path: Path) -> None:
    """APKMirror's .apkm: base.apk + split_*.apk + info.json (pname)."""
    bundle = tmp_path / "app.apkm"
    with zipfile.ZipFile(fixture("loan_bundle.xapk")) as src, zipfile.ZipFile(bundle, "w") as dst:
        for name in ("base.apk", "split_feature_sync.apk"):
            dst.writestr(name, src.read(name))
        dst.writestr("info.json", '{"pname": "com.example.other", "versioncode": "12"}')
    result = permaudit.audit(bundle)
    assert result.kind == "apkm"
    assert result.manifest is not None and result.manifest.package == "com.example.loanbundle"
    assert [p.code for p in result.problems] == ["bundle-mismatch"]
    assert result.code is not None and [s.location.method for s in result.code.sites] == ["sync"]


def test_folder_with_a_stray_dex_is_a_folder_of_samples(tmp_path: Path) -> None:
    (tmp_path / "app.apk").write_bytes(fixture("clean_app.apk").read_bytes())
    with zipfile.ZipFile(fixture("clean_app.apk")) as src:
        (tmp_path / "stray.dex").write_bytes(src.read("classes.dex"))
    assert [p.name for p in discover(tmp_path)] == ["app.apk", "stray.dex"]


def test_damaged_deflate_stream_in_manifest(tmp_path: Path) -> None:
    """A member whose compressed bytes are corrupt: one problem, the rest still audited."""
    data = bytearray(fixture("loan_harvest.apk").read_bytes())
    with zipfile.ZipFile(fixture("loan_harvest.apk")) as archive:
        info = archive.getinfo("AndroidManifest.xml")
    assert info.compress_type == zipfile.ZIP_DEFLATED
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start : start + 8] = b"\xff" * 8
    (tmp_path / "broken.apk").write_bytes(bytes(data))
    result = permaudit.audit(tmp_path / "broken.apk")
    assert result.status is Status.PARTIAL
    assert "bad-manifest" in [p.code for p in result.problems]
    assert result.code is not None and [s.location.method for s in result.code.sites] == ["collect"]


def test_dex_string_table_pointing_past_the_file(tmp_path: Path) -> None:
    """The header is sound but a string id points outside the file: a bad-dex problem, no traceback."""
    import struct

    with zipfile.ZipFile(fixture("loan_harvest.apk")) as src:
        dex = bytearray(src.read("classes.dex"))
    string_ids_off = struct.unpack_from("<I", dex, 0x3C)[0]
    struct.pack_into("<I", dex, string_ids_off + 4 * 3, 0x7FFFFFF0)
    apk = rezip(fixture("loan_harvest.apk"), tmp_path / "badstrings.apk", {"classes.dex": bytes(dex)})
    result = permaudit.audit(apk)
    assert result.status is Status.PARTIAL
    assert [p.code for p in result.problems] == ["bad-dex"]
    assert result.manifest is not None and result.manifest.package == "com.example.loanharvest"


def test_a_split_that_is_not_a_zip_leaves_the_bundle_partial(tmp_path: Path) -> None:
    bundle = tmp_path / "junk.xapk"
    with zipfile.ZipFile(fixture("loan_bundle.xapk")) as src, zipfile.ZipFile(bundle, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        dst.writestr("split_junk.apk", b"not an apk at all" * 4)
    result = permaudit.audit(bundle, code=False)
    assert result.status is Status.PARTIAL
    assert [(p.code, p.member, p.severity) for p in result.problems] == [("not-a-zip", "split_junk.apk", Severity.PARTIAL)]
    assert result.manifest is not None and result.manifest.package == "com.example.loanbundle"
