"""The facts each speed-up of issue #7 §6 rests on, checked so a later change cannot break them silently.

No timings here (benchmarks/bench_bytecode.py measures); only that the fast paths give the
same answers as the slow ones they replaced.
"""

from __future__ import annotations

import random
import zipfile
import zlib
from pathlib import Path

import pytest

from permaudit.dex import DexFile
from permaudit.dex import index as dex_index
from permaudit.dex.opcodes import _KIND_OPS
from permaudit.errors import MemberError
from permaudit.loading import load
from permaudit.loading.members import Budget, Entry, Limits, open_archive
from permaudit.model import Hashes

from .conftest import fixture


def test_no_opcode_taking_an_index_is_a_folded_surrogate_byte() -> None:
    """refs() tests the opcode on the raw low byte although the candidate scan folds bytes
    0xD8-0xDF (surrogates in UTF-16): equivalent only while no such opcode takes an index."""
    assert not [op for ops in _KIND_OPS.values() for op in ops if 0xD8 <= op <= 0xDF]


@pytest.mark.parametrize("name", ["multidex_app.apk", "query_apis.apk", "interprocedural.apk"])
def test_refs_find_and_class_scans_agree(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """refs() finds few values with str.find and many with one character class: same refs."""
    with zipfile.ZipFile(fixture(name)) as z:
        data = z.read("classes.dex")
    rng = random.Random(7)
    wants = []
    for _ in range(6):
        d = DexFile(data, "classes.dex")
        wants.append({
            "methods": rng.sample(range(d.method_count), min(d.method_count, rng.choice([1, 5, 40]))),
            "strings": rng.sample(range(d.string_count), min(d.string_count, rng.choice([1, 5, 40]))),
            "fields": range(d.field_count),
        })
    found = []
    for limit in (0, 10**9):
        monkeypatch.setattr(dex_index, "_FIND_MAX", limit)
        found.append([DexFile(data, "classes.dex").refs(**w) for w in wants])  # type: ignore[arg-type]
    assert found[0] == found[1]
    assert any(found[0])


def test_dex_kept_from_the_v1_check_reads_the_same() -> None:
    """load(keep_dex=True) keeps the dex files the v1 check inflates: same bytes, same problems."""
    path = fixture("loan_harvest.apk")
    plain, kept = load(path), load(path, keep_dex=True)
    assert [s.read() for s in kept.dex] == [s.read() for s in plain.dex]
    assert kept.problems == plain.problems and kept.hashes == plain.hashes
    assert kept.artifacts == plain.artifacts


def test_dex_inflated_ahead_for_the_v1_check_records_what_a_plain_load_records(tmp_path: Path) -> None:
    """load(keep_dex=True) inflates the first dex files in threads while the signatures are read and
    the v1 check takes them from there: with a damaged CRC on classes.dex, the same problems in the
    same order, the same signature verdicts and the same bytes as a load that inflates in order."""
    damaged = tmp_path / "crc.apk"
    damaged.write_bytes(_corrupt_crc(fixture("clean_app.apk").read_bytes(), b"classes.dex"))
    for path in (fixture("clean_app.apk"), damaged):
        plain, kept = load(path), load(path, keep_dex=True)
        assert [s.read() for s in kept.dex] == [s.read() for s in plain.dex]
        assert kept.problems == plain.problems and kept.artifacts == plain.artifacts
    assert [p.code for p in kept.problems] == ["crc-mismatch"]
    v1 = kept.artifacts[0].signing.schemes[0]  # type: ignore[union-attr]
    assert v1.scheme == "v1" and v1.verified  # CRCs are not what v1 checks: its digests still match


@pytest.mark.parametrize(("name", "inflated"), [("multidex_app.apk", 2), ("clean_app.apk", 1), ("loan_bundle.xapk", 0)])
def test_load_inflates_at_most_two_dex_ahead_and_none_for_a_bundle(name: str, inflated: int) -> None:
    """The loader inflates the first two dex files of an APK in threads while it reads the
    signatures, and none of a bundle's splits (hundreds of splits would inflate at once)."""
    import threading

    names: list[str] = []
    real_start = threading.Thread.start

    def recording(self: threading.Thread) -> None:
        names.append(self.name)
        real_start(self)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(threading.Thread, "start", recording)
        package = load(fixture(name), keep_dex=True, settle=False)
    assert names.count("permaudit-inflate") == inflated
    assert len(package.dex) >= inflated and package.settle().artifacts


def test_the_file_is_hashed_once_the_first_dex_is_inflated(tmp_path: Path) -> None:
    """The whole file's hashes wait for the first dex's read-ahead: two helpers at once would
    take the core the loader's own work runs on. The hashes are the file's all the same."""
    import hashlib
    import os

    from permaudit.loading import package as loader
    from permaudit.loading.members import Archive

    apk = tmp_path / "big.apk"
    apk.write_bytes(_zip([("classes.dex", os.urandom(1 << 20), zipfile.ZIP_DEFLATED), ("assets/a", bytes(1 << 19), zipfile.ZIP_DEFLATED)]))
    events: list[str] = []
    inflate, hashes = Archive._clean_bytes, loader.hashes_of

    def inflating(self: Archive, entry: Entry) -> bytes | None:
        out = inflate(self, entry)
        events.append(f"inflated {entry.name}")
        return out

    def hashing(data: bytes) -> Hashes:
        events.append(f"hashing {len(data)}")
        return hashes(data)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Archive, "_clean_bytes", inflating)
        mp.setattr(loader, "hashes_of", hashing)
        package = load(apk, keep_dex=True, settle=False).settle()
    size = apk.stat().st_size
    assert events.index(f"hashing {size}") > events.index("inflated classes.dex")
    assert package.hashes is not None and package.hashes.sha256 == hashlib.sha256(apk.read_bytes()).hexdigest()


def test_the_loader_reads_ahead_within_what_the_manifests_left_of_the_budget(tmp_path: Path) -> None:
    """Dex files are inflated ahead only after the manifest is read and charged: a 2 MiB manifest
    and a 2 MiB dex under a 3 MiB budget never hold 4 MiB at once."""
    from permaudit.loading.members import Archive

    apk = tmp_path / "heavy.apk"
    apk.write_bytes(_zip([("AndroidManifest.xml", bytes(2 << 20), zipfile.ZIP_DEFLATED), ("classes.dex", bytes(2 << 20), zipfile.ZIP_DEFLATED)]))
    ahead: list[str] = []
    real = Archive.read_ahead

    def recording(self: Archive, entry: Entry, digest: str = "") -> object:
        started = real(self, entry, digest)
        if started is not None:
            ahead.append(entry.name)
        return started

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Archive, "read_ahead", recording)
        package = load(apk, Limits(package_bytes=3 << 20), keep_dex=True)
    assert ahead == []
    before = [p.code for p in package.problems]
    with pytest.raises(MemberError):
        package.dex[0].read()  # refused when read, as without read-ahead
    assert [p.code for p in package.problems] == [*before, "package-too-large"] and "package-too-large" not in before


def test_the_v1_check_takes_the_digest_of_a_dex_read_ahead_and_checks_it() -> None:
    """A signed APK's first dex is hashed where it is inflated ahead, and the JAR signature
    check compares that digest (SHA-256, as MANIFEST.MF asks) instead of hashing the dex again:
    the same verdict, and a wrong digest there is a failed check, never a pass."""
    from permaudit.loading.members import Archive

    taken: list[tuple[str, bool]] = []
    real_take, real_clean = Archive.take_ahead, Archive._clean_digested

    def recording(self: Archive, entry: Entry) -> tuple[bytes, tuple[str, bytes] | None] | None:
        got = real_take(self, entry)
        if got is not None and got[1] is not None:
            taken.append((f"{entry.name} {got[1][0]}", True))
        return got

    def wrong(self: Archive, entry: Entry, digest: str) -> tuple[bytes, tuple[str, bytes] | None] | None:
        got = real_clean(self, entry, digest)
        return None if got is None else (got[0], (digest, bytes(32)))

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Archive, "take_ahead", recording)
        package = load(fixture("clean_app.apk"), keep_dex=True)
    v1 = package.artifacts[0].signing.schemes[0]  # type: ignore[union-attr]
    assert ("classes.dex sha256", True) in taken and (v1.scheme, v1.verified) == ("v1", True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Archive, "_clean_digested", wrong)
        package = load(fixture("clean_app.apk"), keep_dex=True)
    v1 = package.artifacts[0].signing.schemes[0]  # type: ignore[union-attr]
    assert (v1.verified, v1.detail) == (False, "ZIP entry classes.dex: content does not match its SHA256 digest in MANIFEST.MF")


def test_read_ahead_stays_within_the_package_budget() -> None:
    """A member is inflated ahead only while it and those already in flight fit the package's
    remaining budget; past that it is read in order, where the budget refuses it as before."""
    blob = _zip([(f"classes{n}.dex", bytes(40_000), zipfile.ZIP_DEFLATED) for n in ("", "2", "3")])
    archive = open_archive(blob, Limits(package_bytes=100_000), Budget(100_000))
    for entry in archive.entries:
        archive.read_ahead(entry)
    assert sorted(archive._ahead) == ["classes.dex", "classes2.dex"]  # a third would pass 100,000 bytes
    problems: list = []
    for threads in (True, False):
        problems = []
        archive = open_archive(blob, Limits(package_bytes=100_000), Budget(100_000), problems=problems, threads=threads)
        for entry in archive.entries:
            archive.read_ahead(entry)
        got = []
        for entry in archive.entries:
            try:
                got.append(len(archive.read(entry)))
            except Exception as exc:  # noqa: BLE001 - the refusal itself is compared
                got.append(str(exc))
        assert got[:2] == [40_000, 40_000] and "exceeds the 100000-byte cap" in str(got[2])
    assert [p.code for p in problems] == ["package-too-large"]


def test_no_thread_to_be_had_means_the_work_is_done_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under a memory limit starting a thread can fail: the audit then inflates and hashes in the
    calling thread, with the same result."""
    import threading

    import permaudit

    expected = permaudit.audit(fixture("multidex_app.apk")).to_dict()

    def refused(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refused)
    assert permaudit.audit(fixture("multidex_app.apk")).to_dict() == expected


def _zip(members: list[tuple[str, bytes, int]]) -> bytes:
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, data, method in members:
            z.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return buffer.getvalue()


def _corrupt_crc(blob: bytes, name: bytes) -> bytes:
    """Change the CRC-32 the central directory and local header give for ``name``."""
    out = bytearray(blob)
    at = out.find(b"PK\x03\x04")
    while at >= 0:
        if out[at + 30 : at + 30 + len(name)] == name:
            out[at + 14 : at + 18] = bytes(b ^ 0xFF for b in out[at + 14 : at + 18])
        at = out.find(b"PK\x03\x04", at + 4)
    at = out.find(b"PK\x01\x02")
    while at >= 0:
        if out[at + 46 : at + 46 + len(name)] == name:
            out[at + 16 : at + 20] = bytes(b ^ 0xFF for b in out[at + 16 : at + 20])
        at = out.find(b"PK\x01\x02", at + 4)
    return bytes(out)


@pytest.mark.parametrize("package_bytes", [1 << 30, 150_000])
def test_read_ahead_records_what_a_plain_read_records(package_bytes: int) -> None:
    """Members inflated ahead in a thread give the same bytes, problems and refusals as plain reads."""
    rng = random.Random(3)
    payload = bytes(rng.getrandbits(8) for _ in range(60_000))
    blob = _zip([
        ("classes.dex", payload, zipfile.ZIP_DEFLATED),
        ("classes2.dex", payload[::-1], zipfile.ZIP_STORED),
        ("classes3.dex", payload[:1000] * 60, zipfile.ZIP_DEFLATED),
        ("classes4.dex", payload[:5000], zipfile.ZIP_DEFLATED),
    ])
    blob = _corrupt_crc(blob, b"classes4.dex")
    outcomes = []
    for ahead in (False, True):
        problems: list = []
        archive = open_archive(blob, Limits(package_bytes=package_bytes), Budget(package_bytes), problems=problems)
        got = []
        for entry in archive.entries:
            if ahead:
                archive.read_ahead(entry)
        for entry in archive.entries:
            try:
                got.append(zlib.crc32(archive.read(entry)))
            except Exception as exc:  # noqa: BLE001 - the refusal itself is compared
                got.append(f"{type(exc).__name__}: {exc}")
        outcomes.append((got, problems))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][1]  # the damaged CRC (and, with the small budget, the refusals) were recorded


def test_decoded_instructions_equal_their_dataclass_construction() -> None:
    """_decode builds Insn with plain slot stores and a ``__class__`` assignment: the same
    objects ``Insn(...)`` makes, frozen as they are."""
    from dataclasses import FrozenInstanceError, astuple, fields

    from permaudit.dex.opcodes import Insn

    with zipfile.ZipFile(fixture("query_apis.apk")) as z:
        d = DexFile(z.read("classes.dex"), "classes.dex")
    methods = sorted(m for m, c in d._code_index().code_of.items() if c)
    seen = 0
    for m in methods:
        for insn in d.code(m) or []:
            twin = Insn(*astuple(insn)) if insn.payload is None else Insn(**{f.name: getattr(insn, f.name) for f in fields(Insn)})
            assert insn == twin and hash(insn) == hash(twin) and repr(insn) == repr(twin)
            assert type(insn) is Insn
            seen += 1
    assert seen > 100
    with pytest.raises(FrozenInstanceError):
        insn.offset = 1  # type: ignore[misc]


def test_members_named_scan_equals_the_plain_loop() -> None:
    with zipfile.ZipFile(fixture("multidex_app.apk")) as z:
        d = DexFile(z.read("classes.dex"), "classes.dex")
    for name in ("<init>", "query", "toString", "no such member name"):
        sid = d.find_string(name)
        for words, off, count in ((d._mid_i, d.header["method_ids_off"], d.method_count),
                                  (d._fid_i, d.header["field_ids_off"], d.field_count)):
            plain = [i for i, v in enumerate(words[1::2]) if v == sid] if sid is not None else []
            assert d._members_named(off, count, name) == plain


@pytest.mark.parametrize("name", ["multidex_app.apk", "query_apis.apk", "interprocedural.apk"])
def test_prefetched_and_remembered_scans_give_the_same_refs(name: str) -> None:
    """refs() after prefetch() of a superset, and refs() asked again, answer as a fresh dex does
    (the same refs and the same skipped methods): the scan is shared, never the answer."""
    with zipfile.ZipFile(fixture(name)) as z:
        data = z.read("classes.dex")
    rng = random.Random(11)
    probe = DexFile(data, "classes.dex")
    wants = [{
        "methods": rng.sample(range(probe.method_count), min(probe.method_count, rng.choice([1, 5, 40]))),
        "strings": rng.sample(range(probe.string_count), min(probe.string_count, rng.choice([1, 5, 40]))),
        "fields": rng.sample(range(probe.field_count), min(probe.field_count, 3)),
    } for _ in range(6)]
    fresh = []
    for w in wants:
        d = DexFile(data, "classes.dex")
        fresh.append((d.refs(**w), dict(d.skipped)))  # type: ignore[arg-type]
    shared = DexFile(data, "classes.dex")
    shared.prefetch(**{k: [v for w in wants[:3] for v in w[k]] for k in wants[0]})  # type: ignore[arg-type]
    for w, (refs, skipped) in zip(wants + wants, fresh + fresh):
        assert shared.refs(**w) == refs  # type: ignore[arg-type]
    assert shared.skipped == {k: v for _, s in fresh for k, v in s.items()}
    assert any(refs for refs, _ in fresh)


def test_remembered_strings_matching_is_a_fresh_list_each_time() -> None:
    with zipfile.ZipFile(fixture("query_apis.apk")) as z:
        data = z.read("classes.dex")
    d = DexFile(data, "classes.dex")
    first = d.strings_matching(rb"^L")
    assert first and first == DexFile(data, "classes.dex").strings_matching(rb"^L")
    first.clear()
    assert d.strings_matching(rb"^L") == DexFile(data, "classes.dex").strings_matching(rb"^L")


@pytest.mark.parametrize("tampered", [(), ("assets/config.json",), ("classes.dex",), ("classes.dex", "assets/config.json")])
def test_the_v1_check_hashes_the_dex_read_ahead_last_and_names_the_first_failure_in_file_order(
        tmp_path: Path, tampered: tuple[str, ...]) -> None:
    """The v1 check hashes the entries being inflated ahead (the first dex files) after every other
    entry, so it need not wait for them while other entries are left to hash. Its verdict, the
    failure it names and the problems are those of the check in file order (``threads=False``
    inflates nothing ahead): with classes.dex and a later entry both altered, classes.dex's."""
    from permaudit.loading import signing

    path = tmp_path / "altered.apk"
    with zipfile.ZipFile(fixture("endpoints.apk")) as old, zipfile.ZipFile(path, "w") as new:
        for info in sorted(old.infolist(), key=lambda i: i.header_offset):
            data = old.read(info)
            if info.filename in tampered:
                data = data[:-1] + bytes([data[-1] ^ 1])
            new.writestr(info, data, compress_type=info.compress_type)
    checked: list[list[str]] = []
    real = signing._check_digest

    def recording(zf: object, entry: Entry, expected: tuple[str, bytes]) -> bool:
        checked[-1].append(entry.name)
        return real(zf, entry, expected)  # type: ignore[arg-type]

    results = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(signing, "_check_digest", recording)
        for threads in (True, False):
            checked.append([])
            results.append(load(path, keep_dex=True, threads=threads))
    threaded, in_order = results
    v1 = [p.artifacts[0].signing.schemes[0] for p in results]  # type: ignore[union-attr]
    assert (v1[0].verified, v1[0].detail) == (v1[1].verified, v1[1].detail)
    assert threaded.problems == in_order.problems
    first_in_file_order = next((n for n in ("classes.dex", "assets/config.json") if n in tampered), None)
    assert v1[0].verified is (first_in_file_order is None)
    if first_in_file_order is not None:
        assert v1[0].detail == f"ZIP entry {first_in_file_order}: content does not match its SHA256 digest in MANIFEST.MF"
    assert checked[1][:2] == ["AndroidManifest.xml", "classes.dex"]  # file order
    if not tampered:
        assert checked[0][0] == "AndroidManifest.xml" and checked[0][-1] == "classes.dex"
        assert sorted(checked[0]) == sorted(checked[1])


def test_the_code_stage_inflates_ahead_what_the_dex_being_read_covers() -> None:
    """While one dex is read and validated, the next ones inflate in threads: as many as its own
    size covers, so a small dex (read before its successor could inflate) starts the one after too."""
    import functools

    from permaudit.facts.code import _read_ahead
    from permaudit.loading import DexSource

    started: list[str] = []
    sizes = {"classes.dex": 7_000_000, "classes2.dex": 300_000, "classes3.dex": 7_300_000, "classes4.dex": 7_100_000}
    sources = [DexSource(name, bytes, functools.partial(started.append, name), size) for name, size in sizes.items()]
    _read_ahead(sources, 0)
    assert started == ["classes2.dex", "classes3.dex"]
    started.clear()
    _read_ahead(sources, 1)
    assert started == ["classes3.dex"]
    started.clear()
    _read_ahead(sources, 3)
    assert started == []
    _read_ahead([DexSource("a.dex", bytes), DexSource("b.dex", bytes)], 0)  # a dex folder: nothing to inflate
    assert started == []
    package = load(fixture("multidex_app.apk"), keep_dex=True)  # the loader gives each dex its declared size
    with zipfile.ZipFile(fixture("multidex_app.apk")) as z:
        assert [s.size for s in package.dex] == [z.getinfo(s.name).file_size for s in package.dex] and len(package.dex) == 2
    tiny = [DexSource(f"classes{n}.dex", bytes, functools.partial(started.append, n), 100) for n in range(2, 300)]
    _read_ahead([sources[0], *tiny], 0)  # a big dex then hundreds of small ones: two threads, not hundreds
    assert started == [2, 3]


def _variant(tmp_path: Path, name: str, change: str) -> Path:
    """endpoints.apk with one kind of damage the v1 check meets while classes.dex inflates ahead."""
    import struct

    data = bytearray(fixture("endpoints.apk").read_bytes())
    locals_at = {}
    at = data.find(b"PK\x03\x04")
    while at >= 0:
        nlen, xlen = struct.unpack_from("<HH", data, at + 26)
        locals_at[bytes(data[at + 30:at + 30 + nlen]).decode()] = (at, at + 30 + nlen + xlen)
        at = data.find(b"PK\x03\x04", at + 4)
    if change == "big-asset":  # re-zipped with a 60,000-byte asset: the package budget runs out somewhere
        path = tmp_path / name
        with zipfile.ZipFile(fixture("endpoints.apk")) as old, zipfile.ZipFile(path, "w") as new:
            for info in sorted(old.infolist(), key=lambda i: i.header_offset):
                new.writestr(info, b" " * 60_000 if info.filename == "assets/config.json" else old.read(info),
                             compress_type=info.compress_type)
        return path
    if change == "local-crcs":  # both local headers disagree with the directory: two notes, in file order
        for member in ("classes.dex", "resources.arsc"):
            data[locals_at[member][0] + 14] ^= 1
    if change == "dex-unreadable-and-later-altered":  # file order stops at classes.dex, never reads resources.arsc
        data[locals_at["classes.dex"][1]:locals_at["classes.dex"][1] + 4] = b"\xff\xff\xff\xff"
        data[locals_at["resources.arsc"][1] + 100] ^= 1
    path = tmp_path / name
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("change", ["local-crcs", "dex-unreadable-and-later-altered", "big-asset"])
def test_the_v1_check_reading_past_a_dex_inflating_ahead_records_what_file_order_records(
        tmp_path: Path, change: str) -> None:
    """Checking the other entries while classes.dex still inflates must record exactly what the
    check in file order records (``threads=False``): where it would not (the dex read ahead did not
    read cleanly and its notes would come after the others', it fails and file order reads nothing
    after it, or the package budget ran out, charged in another order) the check undoes its reads
    and checks again in file order. Same verdict, same problems in the same order."""
    from permaudit.loading import signing

    path = _variant(tmp_path, "altered.apk", change)
    budgets = range(path.stat().st_size, 80_000, 997) if change == "big-asset" else [Limits().package_bytes]
    calls: list[bool] = []
    real = signing._check_entries

    def recording(*args: object, ahead_last: bool, **kwargs: object) -> object:
        calls.append(ahead_last)
        return real(*args, ahead_last=ahead_last, **kwargs)  # type: ignore[arg-type]

    replayed = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(signing, "_check_entries", recording)
        for budget in budgets:
            got = []
            for threads in (True, False):
                calls.clear()
                package = load(path, Limits(package_bytes=budget), keep_dex=True, threads=threads)
                v1 = package.artifacts[0].signing.schemes[0]  # type: ignore[union-attr]
                got.append((v1.verified, v1.detail, package.problems))
                replayed.append((threads, calls == [True, False]))
            assert got[0] == got[1], budget
    assert (False, True) not in replayed  # nothing inflates ahead without threads: nothing to read again
    if change == "big-asset":  # read again in order only where the budget ran out
        assert (True, True) in replayed and (True, False) in replayed
    else:
        assert replayed == [(True, True), (False, False)]
