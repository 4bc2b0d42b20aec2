"""The one zip reader: caps that hold against zip bombs, anomalies read as Android reads them,
and every copy of a duplicated member audited.

Hostile archives are built here from the committed fixtures: ``raw_apk`` writes a zip by
hand (so a member can carry any deflate stream and declare any size, CRC or local header),
``zipfile`` writes the duplicate names (it warns, but writes them).
"""

from __future__ import annotations

import dataclasses
import struct
import tracemalloc
import warnings
import zipfile
import zlib
from pathlib import Path

import pytest

import permaudit
from permaudit.errors import MemberError
from permaudit.loading import load
from permaudit.loading.members import Budget, Limits, open_archive
from permaudit.loading.signing import inspect_signing
from permaudit.model import Problem, Severity, Status

from .conftest import fixture

MiB = 1 << 20


@dataclasses.dataclass
class Raw:
    """One member as written: its name, stored bytes and what its headers declare."""

    name: str
    stream: bytes
    method: int
    crc: int
    size: int
    local_name: str | None = None
    local_method: int | None = None


def members_of(apk: Path) -> list[Raw]:
    """A fixture's members, each deflated afresh, with honest headers."""
    out = []
    with zipfile.ZipFile(apk) as archive:
        for info in archive.infolist():
            data = archive.read(info)
            deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
            out.append(Raw(info.filename, deflate.compress(data) + deflate.flush(), 8, zlib.crc32(data), len(data)))
    return out


def raw_apk(target: Path, members: list[Raw]) -> Path:
    """Write a zip exactly as ``members`` declare it (local headers, central directory, EOCD)."""
    body, central = bytearray(), bytearray()
    for m in members:
        name, local_name = m.name.encode(), (m.local_name or m.name).encode()
        local_method = m.method if m.local_method is None else m.local_method
        offset = len(body)
        body += struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, local_method, 0, 0, m.crc, len(m.stream), m.size, len(local_name), 0)
        body += local_name + m.stream
        central += struct.pack(
            "<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, m.method, 0, 0, m.crc, len(m.stream), m.size, len(name), 0, 0, 0, 0, 0, offset
        )
        central += name
    eocd = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(members), len(members), len(central), len(body), 0)
    target.write_bytes(bytes(body + central + eocd))
    return target


def zeros_deflated(size: int) -> bytes:
    """A raw deflate stream that inflates to ``size`` zero bytes (about 1000:1)."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = bytes(MiB)
    return b"".join(deflate.compress(block) for _ in range(size // MiB)) + deflate.flush()


def replaced(apk: Path, name: str, **change: object) -> list[Raw]:
    members = members_of(apk)
    return [dataclasses.replace(m, **change) if m.name == name else m for m in members]  # type: ignore[arg-type]


def codes(problems: list[Problem]) -> list[tuple[str, str, Severity]]:
    return [(p.code, p.member, p.severity) for p in problems]


def peak_while(action: object) -> int:
    """Peak bytes Python allocated while running ``action``."""
    tracemalloc.start()
    try:
        action()  # type: ignore[operator]
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# --- caps ----------------------------------------------------------------------------------


def test_bomb_lying_about_its_size_is_stopped_at_the_member_cap(tmp_path: Path) -> None:
    """classes.dex declares 1 KiB and inflates to 64 MiB: inflation stops at the 4 MiB cap."""
    bomb = zeros_deflated(64 * MiB)
    apk = raw_apk(tmp_path / "bomb.apk", replaced(fixture("loan_harvest.apk"), "classes.dex", stream=bomb, crc=0, size=1024))
    limits = Limits(member_bytes=4 * MiB)
    package = load(apk, limits)
    [dex] = package.dex

    def read() -> None:
        with pytest.raises(MemberError, match="inflates past the 4194304-byte member cap"):
            dex.read()

    assert peak_while(read) < 4 * MiB + 2 * MiB  # the cap plus one chunk, never the 64 MiB
    read()  # a second read is refused again, not recorded again
    assert codes(package.problems)[-1] == ("member-too-large", "classes.dex", Severity.PARTIAL)
    assert [p.code for p in package.problems].count("member-too-large") == 1  # recorded once, however often read
    assert package.manifest is not None and package.manifest.get("package") == "com.example.loanharvest"


def test_bomb_declaring_4_gib_is_refused_before_inflating(tmp_path: Path) -> None:
    """0xFFFFFFFF (a ZIP64 marker, i.e. 4 GiB or more) is over the default cap: nothing is inflated."""
    apk = raw_apk(tmp_path / "bomb.apk", replaced(fixture("loan_harvest.apk"), "classes.dex", stream=zeros_deflated(8 * MiB), size=0xFFFFFFFF))
    package = load(apk)

    def read() -> None:
        with pytest.raises(MemberError, match="declares 4294967295 bytes inflated"):
            package.dex[0].read()

    assert peak_while(read) < 256 * 1024
    [problem] = [p for p in package.problems if p.code == "member-too-large"]
    assert problem == Problem(
        "member-too-large",
        f"classes.dex: declares 4294967295 bytes inflated, over the {256 * MiB}-byte member cap; not read",
        "classes.dex",
        Severity.PARTIAL,
    )


def test_bomb_audit_is_partial_with_the_manifest(tmp_path: Path) -> None:
    apk = raw_apk(tmp_path / "bomb.apk", replaced(fixture("loan_harvest.apk"), "classes.dex", stream=zeros_deflated(8 * MiB), size=0xFFFFFFFF))
    result = permaudit.audit(apk)
    assert result.status is Status.PARTIAL
    assert "member-too-large" in [p.code for p in result.problems]
    assert result.manifest is not None and "android.permission.READ_CONTACTS" in {p.name for p in result.manifest.permissions}


def test_package_budget_counts_every_member_and_the_signature_check(tmp_path: Path) -> None:
    """Three 3 MiB members under a 4 MiB member cap, 8 MiB for the package: the third read is refused."""
    members = members_of(fixture("loan_harvest.apk")) + [
        Raw(f"assets/blob{i}.bin", zeros_deflated(3 * MiB), 8, zlib.crc32(bytes(3 * MiB)), 3 * MiB) for i in range(3)
    ]
    apk = raw_apk(tmp_path / "many.apk", members)
    archive = open_archive(apk.read_bytes(), Limits(member_bytes=4 * MiB, package_bytes=8 * MiB), Budget(8 * MiB))
    sizes = []
    for label in ("assets/blob0.bin", "assets/blob1.bin", "assets/blob2.bin"):
        entry = archive.find(label)
        assert entry is not None
        try:
            sizes.append(len(archive.read(entry)))
        except MemberError as exc:
            assert "cap on all bytes inflated for this package" in str(exc)
    assert sizes == [3 * MiB, 3 * MiB]
    assert codes(archive.problems) == [("package-too-large", "assets/blob2.bin", Severity.PARTIAL)]


def test_too_many_members_reads_the_first_ones() -> None:
    archive = open_archive(fixture("loan_harvest.apk").read_bytes(), Limits(members=2), Budget(MiB))
    assert archive.names() == ["AndroidManifest.xml", "classes.dex"]
    assert codes(archive.problems) == [("too-many-members", "", Severity.PARTIAL)]
    assert archive.problems[0].message == "6 entries, over the cap of 2; only the first 2 read"


def test_too_many_splits_reads_the_base_first() -> None:
    package = load(fixture("loan_bundle.xapk"), Limits(splits=1))
    assert [a.name for a in package.apks] == ["base.apk"]
    assert [p.code for p in package.problems] == ["too-many-splits"]
    assert package.manifest is not None and package.manifest.get("package") == "com.example.loanbundle"


def test_signature_check_inflates_within_the_caps() -> None:
    """v1 hashes every entry through the same reader: a cap below classes.dex leaves v1 unchecked, and says so."""
    data = fixture("loan_harvest.apk").read_bytes()
    archive = open_archive(data, Limits(member_bytes=1024), Budget(MiB))
    v1 = inspect_signing(data, archive).schemes[0]
    assert (v1.scheme, v1.present, v1.verified) == ("v1", True, False)
    assert "over the 1024-byte member cap" in v1.detail
    assert "member-too-large" in [p.code for p in archive.problems]


# --- anomalies Android reads through (or refuses): read by the central directory, noted ----


def test_crc_mismatch_is_a_note_and_the_member_is_read(tmp_path: Path) -> None:
    apk = raw_apk(tmp_path / "crc.apk", replaced(fixture("loan_harvest.apk"), "classes.dex", crc=0x12345678))
    package = load(apk)
    dex = package.dex[0].read()
    assert dex[:4] == b"dex\n"
    assert codes(package.problems) == [("crc-mismatch", "classes.dex", Severity.NOTE)]
    assert f"CRC-32 is {zlib.crc32(dex):08x}, declared 12345678" in package.problems[0].message


def test_declared_size_mismatch_is_a_note_and_the_member_is_read_in_full(tmp_path: Path) -> None:
    apk = raw_apk(tmp_path / "size.apk", replaced(fixture("loan_harvest.apk"), "classes.dex", size=100))
    package = load(apk)
    assert len(package.dex[0].read()) > 100
    assert codes(package.problems) == [("size-mismatch", "classes.dex", Severity.NOTE)]


@pytest.mark.parametrize(
    ("change", "said", "v1"),
    [
        ({"local_name": "classes.dey"}, "name 'classes.dey'", False),  # apksig rejects a local header naming another entry
        ({"local_method": 0}, "compression method 0 (central directory: 8)", True),  # apksig, too, goes by the directory's method
    ],
)
def test_local_header_disagreeing_with_the_central_directory(tmp_path: Path, change: dict[str, object], said: str, v1: bool) -> None:
    apk = raw_apk(tmp_path / "local.apk", replaced(fixture("loan_harvest.apk"), "classes.dex", **change))
    package = load(apk)
    assert package.dex[0].read()[:4] == b"dex\n"  # read by the central directory
    assert codes(package.problems) == [("local-header-mismatch", "classes.dex", Severity.NOTE)]
    assert said in package.problems[0].message
    assert package.apks[0].signing is not None and package.apks[0].signing.schemes[0].verified is v1


def test_damaged_deflate_stream_is_bad_member(tmp_path: Path) -> None:
    members = replaced(fixture("loan_harvest.apk"), "classes.dex")
    dex = next(m for m in members if m.name == "classes.dex")
    dex.stream = dex.stream[: len(dex.stream) // 2]
    package = load(raw_apk(tmp_path / "cut.apk", members))
    with pytest.raises(MemberError, match="deflate data ends before the end of its stream"):
        package.dex[0].read()
    assert codes(package.problems) == [("bad-member", "classes.dex", Severity.PARTIAL)]


def test_entries_are_recovered_from_local_headers_without_a_central_directory() -> None:
    data = fixture("loan_harvest.apk").read_bytes()
    cut = data[: data.rindex(b"PK\x01\x02")]  # no central directory, no EOCD
    archive = open_archive(cut, Limits(), Budget(MiB))
    assert archive.recovered and archive.eocd == -1
    with zipfile.ZipFile(fixture("loan_harvest.apk")) as whole:
        assert archive.names() == whole.namelist()
        assert all(archive.read(archive.entries[i]) == whole.read(name) for i, name in enumerate(whole.namelist()))


# --- duplicate names --------------------------------------------------------------------------


def two_of_each(target: Path) -> Path:
    """clean_app.apk with a second AndroidManifest.xml and classes.dex taken from loan_harvest.apk
    appended (the two-manifest trick: the second copy holds READ_CONTACTS)."""
    with zipfile.ZipFile(fixture("loan_harvest.apk")) as src:
        hidden = {name: src.read(name) for name in ("AndroidManifest.xml", "classes.dex")}
    with zipfile.ZipFile(fixture("clean_app.apk")) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "Duplicate name": the point of the test
            for name, data in hidden.items():
                dst.writestr(name, data)
    return target


def test_every_copy_of_a_duplicated_manifest_and_dex_is_read(tmp_path: Path) -> None:
    package = load(two_of_each(tmp_path / "dup.apk"))
    apk = package.apks[0]
    permissions = [
        [e.get("{http://schemas.android.com/apk/res/android}name") for e in root.iter("uses-permission")]
        for root in [apk.manifest, *apk.manifest_copies]
        if root is not None
    ]
    assert len(permissions) == 2
    assert "android.permission.READ_CONTACTS" not in permissions[0]
    assert "android.permission.READ_CONTACTS" in permissions[1]
    assert [d.name for d in package.dex] == ["classes.dex", "classes.dex#2"]
    first, second = (d.read() for d in package.dex)
    with zipfile.ZipFile(fixture("loan_harvest.apk")) as src:
        assert second == src.read("classes.dex") != first
    assert codes(package.problems) == [
        ("duplicate-member", "AndroidManifest.xml", Severity.NOTE),
        ("duplicate-member", "classes.dex", Severity.NOTE),
    ]
    assert package.problems[0].message.startswith("AndroidManifest.xml: 2 entries share this name")
    assert package.problems[0].message.endswith("the later ones as AndroidManifest.xml#2")
    assert "AndroidManifest.xml#2" in apk.files() and apk.read("classes.dex#2") == second


def test_duplicate_dex_is_audited_and_v1_is_not_verified(tmp_path: Path) -> None:
    result = permaudit.audit(two_of_each(tmp_path / "dup.apk"))
    assert result.code is not None and [d.name for d in result.code.dex] == ["classes.dex", "classes.dex#2"]
    assert {(s.location.dex, s.location.method) for s in result.code.sites if s.category == "contacts"} == {("classes.dex#2", "collect")}
    assert result.signing is not None and "duplicate ZIP entry" in result.signing.schemes[0].detail
    assert {("duplicate-member", Severity.NOTE)} <= {(p.code, p.severity) for p in result.problems}


def test_duplicate_split_in_a_bundle_is_labelled(tmp_path: Path) -> None:
    bundle = tmp_path / "dup.xapk"
    with zipfile.ZipFile(fixture("loan_bundle.xapk")) as src, zipfile.ZipFile(bundle, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            dst.writestr("base.apk", fixture("loan_harvest.apk").read_bytes())
    package = load(bundle)
    assert [a.name for a in package.apks][:2] == ["base.apk", "base.apk#2"]
    assert ("duplicate-member", "base.apk", Severity.NOTE) in codes(package.problems)
    assert "base.apk#2!classes.dex" in [d.name for d in package.dex]


def test_too_many_members_recovered_from_local_headers() -> None:
    data = fixture("loan_harvest.apk").read_bytes()
    archive = open_archive(data[: data.rindex(b"PK\x01\x02")], Limits(members=2), Budget(MiB))
    assert archive.recovered and archive.names() == ["AndroidManifest.xml", "classes.dex"]
    assert [p.message for p in archive.problems] == ["more than 2 entries, over the cap of 2; only the first 2 read"]
