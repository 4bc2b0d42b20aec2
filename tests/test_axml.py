"""Our binary XML reader (``permaudit.loading.axml``) against androguard, its reference.

Every ``AndroidManifest.xml`` (each copy) of every corpus and fixture APK must give the
tree ``AXMLPrinter(raw).get_xml_obj()`` gives, equal once serialised; where androguard
raises, ours must raise too, and both must read the string pool ``manifest_xml`` rebuilds
for its lenient retry the same way. Manifests are the only binary XML read through this
reader (``facts.endpoints`` reads a network security config's string pool itself).
Hypothesis then mutates fixture manifests (bytes, attribute records, a UTF-8 string
pool) and checks the two readers still agree; hostile inputs must parse or raise
``ValueError`` without hanging. The data files androguard is the source of are rebuilt
and compared byte for byte.
"""

from __future__ import annotations

import functools
import importlib.util
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from permaudit.data import refresh_android
from permaudit.loading import axml
from permaudit.loading.manifest_xml import AXML_MAGIC, _terminate_utf16_strings
from permaudit.loading.members import Budget, Limits, open_archive

from .conftest import APKS, CORPUS

HAVE_ANDROGUARD = importlib.util.find_spec("androguard") is not None
needs_androguard = pytest.mark.skipif(not HAVE_ANDROGUARD, reason="androguard (the reference) is not installed")
CORPUS_APKS = sorted(p for p in (CORPUS / "apk").glob("*.apk")) if (CORPUS / "apk").is_dir() else []
FIXTURE_APKS = sorted(APKS.glob("*.apk"))
MANIFEST = "AndroidManifest.xml"

Outcome = tuple[str, bytes]  # ("tree", serialised) | ("none", b"") | ("raise", message)


def manifests(apk: Path) -> list[tuple[str, bytes]]:
    """Each copy of the manifest, read by the project's own zip reader (as ``load`` reads them)."""
    limits = Limits()
    archive = open_archive(apk.read_bytes(), limits, Budget(limits.package_bytes))
    return [(entry.label, archive.read(entry)) for entry in archive.entries if entry.name == MANIFEST]


@functools.cache
def fixture_manifests() -> tuple[bytes, ...]:
    return tuple(raw for apk in FIXTURE_APKS for _, raw in manifests(apk) if raw[:4] == AXML_MAGIC)


def androguard_parse(raw: bytes) -> etree._Element | None:
    from loguru import logger

    logger.disable("androguard")  # its debug line per attribute would flood the output
    from androguard.core.axml import AXMLPrinter

    printer = AXMLPrinter(raw)
    return printer.get_xml_obj() if printer.is_valid() else None


def outcome(reader: Callable[[bytes], etree._Element | None], raw: bytes, drop_unnamed: bool = False) -> Outcome:
    """What a reader makes of ``raw``, comparable across readers.

    ``drop_unnamed`` removes attributes with neither name nor resource ID: androguard names
    them with a random number, ours after their string index.
    """
    try:
        root = reader(raw)
    except Exception as exc:  # noqa: BLE001 - either reader may raise anything on hostile input
        return ("raise", str(exc).encode())
    if root is None:
        return ("none", b"")
    if drop_unnamed:
        for element in root.iter():
            for key in [k for k in element.attrib if "UNKNOWN_SYSTEM_ATTRIBUTE_" in k]:
                del element.attrib[key]
    return ("tree", etree.tostring(root))


def assert_same_as_androguard(raw: bytes, drop_unnamed: bool = False) -> Outcome:
    """Ours and androguard's outcomes agree: the same tree, or both None, or both raise."""
    ours, theirs = outcome(axml.parse, raw, drop_unnamed), outcome(androguard_parse, raw, drop_unnamed)
    assert ours[0] == theirs[0], (ours, theirs)
    if ours[0] == "tree":
        assert ours[1] == theirs[1]
    return theirs


# ---------------------------------------------------------------------- every real manifest


@needs_androguard
@pytest.mark.parametrize("apk", CORPUS_APKS + FIXTURE_APKS, ids=lambda p: p.name[:16])
def test_every_manifest_reads_as_androguard_reads_it(apk: Path) -> None:
    copies = manifests(apk)
    assert copies or apk in CORPUS_APKS, f"{apk.name}: no manifest"
    for label, raw in copies:
        if raw[:4] != AXML_MAGIC:
            continue  # text XML: lxml reads it in both worlds
        theirs = assert_same_as_androguard(raw)
        repaired = _terminate_utf16_strings(raw) if theirs[0] == "raise" else None
        # the lenient retry reads the rebuilt pool the same way too, and its note quotes the first error
        if repaired is not None and assert_same_as_androguard(repaired)[0] == "tree":
            assert outcome(axml.parse, raw)[1] == theirs[1], f"{apk.name}!{label}: another message in the malformed-manifest note"


@needs_androguard
def test_the_corpus_has_the_manifests_the_oracle_needs() -> None:
    """The comparisons above mean something: trees, a UTF-8 pool, and a sample androguard rejects."""
    if not CORPUS_APKS:
        pytest.skip(f"third-party corpus not present at {CORPUS}")
    raws = [raw for apk in CORPUS_APKS for _, raw in manifests(apk) if raw[:4] == AXML_MAGIC]
    kinds = [outcome(androguard_parse, raw)[0] for raw in raws]
    assert kinds.count("tree") >= 25 and "raise" in kinds
    assert any(struct.unpack_from("<I", raw, 24)[0] & 0x100 for raw in raws)  # a UTF-8 string pool


# ---------------------------------------------------------------------- mutated manifests

ORACLE = settings(max_examples=150, deadline=None, derandomize=True,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
U32 = st.one_of(st.sampled_from([0, 1, 2, 7, 8, 16, 20, 24, 28, 0x7F, 0x80, 0xFF, 0x8000, 0xFFFF, 0x10000,
                                 0x01010003, 0x7F0B001C, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]),
                st.integers(0, 0xFFFFFFFF))
EDITS = st.lists(st.tuples(st.integers(0, 1 << 20), st.sampled_from([1, 2, 4]), U32), min_size=1, max_size=4)
CUT = st.one_of(st.none(), st.integers(0, 1 << 20))
WHICH = st.integers(0, 1 << 10)
# (attribute number, field offset in the record, value): namespace, name, raw string, type byte, data
ATTRIBUTE_EDITS = st.lists(st.tuples(st.integers(0, 1 << 16), st.sampled_from([0, 4, 8, 15, 16]), U32), min_size=1, max_size=4)


def patch(raw: bytes, edits: list[tuple[int, int, int]], cut: int | None = None) -> bytes:
    """(position, width, value) edits, positions wrapped into the data; then a cut."""
    d = bytearray(raw)
    for pos, width, value in edits:
        at = pos % (len(d) - width + 1)
        d[at : at + width] = (value & ((1 << (8 * width)) - 1)).to_bytes(width, "little")
    return bytes(d[: cut % (len(d) + 1)] if cut is not None else d)


def attribute_records(raw: bytes) -> list[int]:
    """Offsets of the attribute records of every element start chunk (a well-formed file's)."""
    found, at = [], 8 + struct.unpack_from("<I", raw, 12)[0]
    while at + 8 <= len(raw):
        kind, _, size = struct.unpack_from("<HHI", raw, at)
        if kind == 0x0102:
            found += [at + 36 + 20 * i for i in range(struct.unpack_from("<H", raw, at + 28)[0])]
        at += max(size, 8)
    return found


def as_utf8(raw: bytes) -> bytes:
    """A well-formed UTF-16 manifest with its string pool rewritten in UTF-8 (as aapt2 writes resources)."""
    count, styles, flags, start, _ = struct.unpack_from("<5I", raw, 16)
    pool_size = struct.unpack_from("<I", raw, 12)[0]
    data = b""
    offsets = []
    for (offset,) in struct.iter_unpack("<I", raw[36 : 36 + 4 * count]):
        at = 8 + start + offset
        (length,) = struct.unpack_from("<H", raw, at)
        text = raw[at + 2 : at + 2 + 2 * length].decode("utf-16-le")
        encoded = text.encode("utf-8", "surrogatepass")
        offsets.append(len(data))
        data += _length8(len(text)) + _length8(len(encoded)) + encoded + b"\0"
    data += b"\0" * (-len(data) % 4)
    assert not styles
    body = struct.pack(f"<{count}I", *offsets) + data
    pool = struct.pack("<HHI5I", 1, 28, 28 + len(body), count, 0, flags | 0x100, 28 + 4 * count, 0) + body
    rest = raw[8 + pool_size :]
    return struct.pack("<HHI", 3, 8, 8 + len(pool) + len(rest)) + pool + rest


def _length8(n: int) -> bytes:
    return bytes([n]) if n < 0x80 else bytes([0x80 | n >> 8, n & 0xFF])


@needs_androguard
@ORACLE
@given(which=WHICH, edits=EDITS, cut=CUT)
def test_mutated_manifests_read_as_androguard_reads_them(which: int, edits: list[tuple[int, int, int]], cut: int | None) -> None:
    raws = fixture_manifests()
    assert_same_as_androguard(patch(raws[which % len(raws)], edits, cut), drop_unnamed=True)


@needs_androguard
@ORACLE
@given(which=WHICH, edits=ATTRIBUTE_EDITS, utf8=st.booleans())
def test_mutated_attributes_read_as_androguard_reads_them(which: int, edits: list[tuple[int, int, int]], utf8: bool) -> None:
    """Every typed value (references, colours, dimensions, fractions, floats, unknown types),
    names by resource ID or none, namespaces that are no URI, strings past the pool."""
    raws = fixture_manifests()
    raw = raws[which % len(raws)]
    if utf8:
        raw = as_utf8(raw)
    records = attribute_records(raw)
    d = bytearray(raw)
    for number, field, value in edits:
        at = records[number % len(records)] + field
        if field == 15:
            d[at] = value & 0xFF
        else:
            struct.pack_into("<I", d, at, value)
    assert_same_as_androguard(bytes(d), drop_unnamed=True)


@needs_androguard
@pytest.mark.parametrize("utf8", [False, True], ids=["utf16", "utf8"])
def test_fixture_manifests_truncated_anywhere_read_as_androguard_reads_them(utf8: bool) -> None:
    raw = fixture_manifests()[0]
    raw = as_utf8(raw) if utf8 else raw
    for cut in range(0, len(raw), 7):
        assert_same_as_androguard(raw[:cut])


@needs_androguard
def test_an_unterminated_utf16_string_raises_with_androguards_message() -> None:
    """The message becomes the ``malformed-manifest`` note, which must not change."""
    raw = bytearray(fixture_manifests()[0])
    count, _, _, start, _ = struct.unpack_from("<5I", raw, 16)
    (offset,) = struct.unpack_from("<I", raw, 36 + 4 * (count // 2))
    (length,) = struct.unpack_from("<H", raw, 8 + start + offset)
    raw[8 + start + offset + 2 + 2 * length] = ord("A")
    theirs = assert_same_as_androguard(bytes(raw))
    assert theirs == ("raise", f"UTF-16 String is not null terminated! At offset={offset + 2}".encode())


# ---------------------------------------------------------------------- hostile input


def _chunk(kind: int, body: bytes, header_size: int = 16) -> bytes:
    return struct.pack("<HHI", kind, header_size, 8 + len(body)) + body


def _pool(strings: list[str]) -> bytes:
    data, offsets = b"", []
    for text in strings:
        offsets.append(len(data))
        n = len(text)
        data += (struct.pack("<H", n) if n < 0x8000 else struct.pack("<HH", 0x8000 | n >> 16, n & 0xFFFF)) + text.encode("utf-16-le") + b"\0\0"
    data += b"\0" * (-len(data) % 4)
    body = struct.pack(f"<{len(offsets)}I", *offsets) + data
    return struct.pack("<HHI5I", 1, 28, 28 + len(body), len(offsets), 0, 0, 28 + 4 * len(offsets), 0) + body


def _start(name: int, attributes: int = 0, records: bytes = b"") -> bytes:
    return _chunk(0x0102, struct.pack("<IIIIHHHHHH", 1, axml._NO_INDEX, axml._NO_INDEX, name, 20, 20, attributes, 0, 0, 0) + records)


def _end(name: int) -> bytes:
    return _chunk(0x0103, struct.pack("<IIII", 1, axml._NO_INDEX, axml._NO_INDEX, name))


def _namespace(kind: int = 0x0100) -> bytes:
    return _chunk(kind, struct.pack("<IIII", 1, axml._NO_INDEX, 1, 2))


def _text(index: int) -> bytes:
    return _chunk(0x0104, struct.pack("<IIIHBBI", 1, axml._NO_INDEX, index, 8, 0, 0, 0))


STRINGS = ["manifest", "android", "http://schemas.android.com/apk/res/android", "name", "x" * 40000, "a"]
ROOT = _namespace() + _start(0)


def _document(body: bytes, strings: list[str] = STRINGS, resource_ids: list[int] | None = None) -> bytes:
    pool = _pool(strings)
    ids = _chunk(0x0180, struct.pack(f"<{len(resource_ids)}I", *resource_ids), 8) if resource_ids else b""
    return struct.pack("<HHI", 3, 8, 8 + len(pool) + len(ids) + len(body)) + pool + ids + body


def _edit(raw: bytes, at: int, fmt: str, *values: int) -> bytes:
    d = bytearray(raw)
    struct.pack_into(fmt, d, at, *values)
    return bytes(d)


ATTRIBUTE = struct.pack("<IIIII", 2, 3, 4, 0x03000008, 4)  # android:name = the 40,000-character string
SMALL_DOC = _document(ROOT + _start(5, 1, ATTRIBUTE) + _end(5) + _end(0) + _namespace(0x0101))
HOSTILE = {
    "well formed": SMALL_DOC,
    "string count says 2^32": _edit(SMALL_DOC, 16, "<I", 0xFFFFFFFF),
    "style count says 2^32": _edit(SMALL_DOC, 20, "<I", 0xFFFFFFFF),
    "strings start past the end": _edit(SMALL_DOC, 28, "<I", 0xFFFFFFF0),
    "styles start before the strings": _edit(_edit(SMALL_DOC, 20, "<I", 1), 32, "<I", 4),
    "a string offset far out of the pool": _edit(SMALL_DOC, 36, "<I", 0x7FFFFFFF),
    "a string longer than the pool": _edit(SMALL_DOC, 36 + 4 * len(STRINGS), "<HH", 0xFFFF, 0xFFFF),
    "file size past the end": _edit(SMALL_DOC, 4, "<I", 0xFFFFFFFF),
    "file size 0": _edit(SMALL_DOC, 4, "<I", 0),
    "pool size 0": _edit(SMALL_DOC, 12, "<I", 0),
    "pool header size 0": _edit(SMALL_DOC, 10, "<H", 0),
    "chunks of size 0": _document(ROOT + struct.pack("<HHI", 0x0102, 16, 0) * 20000),
    "chunks of header size 0 (no header for 160 kB)": _document(ROOT + struct.pack("<HHI", 0x0102, 0, 0) * 20000),
    "160 kB of zeros": _document(ROOT + bytes(160_000)),
    "element chunks claiming 65535 attributes past their end": _document(ROOT + _start(5, 0xFFFF) * 20000 + bytes(1 << 20)),
    "attributes of 0 bytes each": _document(ROOT + _chunk(0x0102, struct.pack("<IIIIHHHHHH", 1, axml._NO_INDEX, axml._NO_INDEX, 5, 20, 0, 2, 0, 0, 0) + ATTRIBUTE * 2)),
    "20,000 namespace declarations, then elements": _document(_namespace() * 20000 + _start(0) + (_start(5) + _namespace() + _end(5)) * 20000),
    "a 40,000-character value on 100,000 attributes": _document(ROOT + (_start(5, 50, ATTRIBUTE * 50) + _end(5)) * 2000),
    "a 40,000-character text in 20,000 elements": _document(ROOT + (_start(5) + _text(4) + _end(5)) * 20000),
    "elements nested 100,000 deep": _document(ROOT + _start(5) * 100_000),
    "a resource map of a million IDs": _document(ROOT + _start(5, 1, ATTRIBUTE), resource_ids=[0x01010003] * (1 << 20)),
    "text before any element": _document(_text(5) + ROOT),
    "an end tag with no element open": _document(_end(0) + ROOT),
    "a second root element": _document(ROOT + _end(0) + _start(5, 1, ATTRIBUTE)),
    "only the magic": AXML_MAGIC,
    "random bytes after the magic": AXML_MAGIC + struct.pack("<I", 4096 + 8) + bytes((i * 7919 + 13) % 251 for i in range(4096)),
    "random bytes after a good string pool": SMALL_DOC[: 8 + len(_pool(STRINGS))] + bytes((i * 104729) % 256 for i in range(1 << 16)),
    "over the size cap": AXML_MAGIC + struct.pack("<I", axml.MAX_BYTES + 16) + bytes(axml.MAX_BYTES + 8),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_binary_xml_parses_or_raises_value_error(name: str) -> None:
    """Each returns a tree or None, or raises ValueError, without hanging (the whole set runs in seconds)."""
    raw = HOSTILE[name]
    try:
        root = axml.parse(raw)
    except ValueError as exc:
        assert str(exc)
        return
    if root is not None:
        etree.tostring(root)


def test_synthetic_documents_read_as_written() -> None:
    root = axml.parse(HOSTILE["well formed"])
    assert root is not None and root.tag == "manifest" and root.nsmap == {"android": STRINGS[2]}
    assert [(e.tag, dict(e.attrib)) for e in root] == [("a", {f"{{{STRINGS[2]}}}name": STRINGS[4]})]
    second = axml.parse(HOSTILE["a second root element"])
    assert second is not None and len(second) == 0  # the document ends at a second root, as in androguard


def test_costs_beyond_the_input_are_refused() -> None:
    for name in ("element chunks claiming 65535 attributes past their end", "a 40,000-character value on 100,000 attributes",
                 "elements nested 100,000 deep", "20,000 namespace declarations, then elements", "160 kB of zeros"):
        with pytest.raises(axml.AxmlError):
            axml.parse(HOSTILE[name])


@needs_androguard
@pytest.mark.parametrize("name", [n for n in HOSTILE if len(HOSTILE[n]) < 300_000])
def test_small_hostile_inputs_read_as_androguard_reads_them(name: str) -> None:
    assert_same_as_androguard(HOSTILE[name])


# ---------------------------------------------------------------------- data from androguard


def test_an_audit_imports_neither_androguard_nor_loguru() -> None:
    """Both readers and the permission tables are ours at run time: androguard is only the reference."""
    import subprocess
    import sys

    script = ("import sys, permaudit; permaudit.audit(sys.argv[1]); "
              "print(sorted(m for m in sys.modules if m.split('.')[0] in ('androguard', 'loguru')))")
    proc = subprocess.run([sys.executable, "-c", script, str(FIXTURE_APKS[0])], capture_output=True, text=True, check=True)
    assert proc.stdout == "[]\n"


@needs_androguard
def test_shipped_android_tables_are_what_the_refresh_script_builds(tmp_path: Path) -> None:
    """``android_attrs.json`` and ``aosp_permissions.json`` rebuild byte for byte from the installed androguard."""
    from importlib import resources

    counts = refresh_android.refresh(tmp_path)
    assert counts["attributes"] > 1300 and counts["api_levels"] >= 30 and counts["permissions"] > 1000
    shipped = resources.files("permaudit.data")
    for name in (refresh_android.ATTRS, refresh_android.PERMISSIONS):
        assert (tmp_path / name).read_bytes() == shipped.joinpath(name).read_bytes(), name


@needs_androguard
def test_android_attribute_names_are_androguards() -> None:
    from androguard.core.resources import public

    assert axml._android_attrs() == public.SYSTEM_RESOURCES["attributes"]["inverse"]
