"""permaudit.dex.validate: every real dex is clean; each kind of crafted damage is named exactly.

The crafted inputs patch the committed fixture ``loan_harvest.apk`` (one 3 KB dex, two
classes) with struct, so these tests need no corpus; the clean-corpus check skips
without ../shared.
"""

from __future__ import annotations

import re
import struct
import zipfile
from functools import cache
from pathlib import Path

import pytest

from permaudit.dex import DexDamage, DexError, DexFile, validate
from tests.conftest import APKS, SHARED, corpus

UPLOADER = "Lcom/example/loanharvest/ContactsUploader;"
MAIN = "Lcom/example/loanharvest/MainActivity;"
DEX_NAME = re.compile(r"classes\d*\.dex")
# layout of the fixture's classes.dex (3036 bytes), checked by test_fixture_layout
CLASS_DEFS_OFF, MAP_OFF, CLASS_DATA = 0x428, 0xB3C, (0xB16, 0xB2E)


@cache
def base() -> bytes:
    with zipfile.ZipFile(APKS / "loan_harvest.apk") as z:
        return z.read("classes.dex")


def patched(offset: int, fmt: str, *values: int, data: bytes | None = None) -> DexFile:
    buf = bytearray(base() if data is None else data)
    struct.pack_into(fmt, buf, offset, *values)
    return DexFile(bytes(buf), "classes.dex")


def test_fixture_layout() -> None:
    d = DexFile(base(), "classes.dex")
    assert (d.header["class_defs_off"], d.header["map_off"], tuple(d._cd[6::8])) == (CLASS_DEFS_OFF, MAP_OFF, CLASS_DATA)
    assert d._class_data_span() == (0xB16, 0xB3C)
    assert [c.name for c in d.class_defs()] == [UPLOADER, MAIN]
    assert validate(d) == ()


def _dex_files() -> list[tuple[str, str]]:
    """(archive or dex path, member) of every dex in the fixtures, the corpus and the benchmark APK."""
    paths = sorted(APKS.glob("*.apk")) + sorted(APKS.glob("*.apk?"))
    corpus_dir = SHARED / "corpus"
    if corpus_dir.is_dir():
        paths += sorted((corpus_dir / "apk").glob("*.apk")) + sorted((corpus_dir / "dex").glob("*/classes.dex"))
    paths += [SHARED / "bench" / "mega-multidex.apk"] if (SHARED / "bench" / "mega-multidex.apk").is_file() else []
    out = []
    for path in paths:
        if path.suffix == ".dex":
            out.append((str(path), ""))
            continue
        try:
            with zipfile.ZipFile(path) as z:
                out += [(str(path), n) for n in z.namelist() if DEX_NAME.fullmatch(n)]
        except zipfile.BadZipFile:  # the corpus holds one damaged archive on purpose
            continue
    return out


def test_every_real_dex_validates_clean() -> None:
    """Every dex that opens (each fixture APK's; 35 in the corpus, one of them refused by its
    header; 8 in the benchmark APK) gives no damage at all."""
    files = _dex_files()
    fixtures = [f for f in files if f[0].startswith(str(APKS))]
    assert {path for path, _ in fixtures} == {str(p) for p in APKS.glob("*.apk")}
    opened = 0
    for path, member in files:
        if member:
            with zipfile.ZipFile(path) as z:
                data = z.read(member)
        else:
            data = Path(path).read_bytes()
        try:
            d = DexFile(data, member or "classes.dex")
        except DexError as exc:  # the corpus APK with a broken header_size, refused on open
            assert str(exc) == "classes.dex: header_size 0x1ae0 is not 0x70"
            continue
        opened += 1
        assert validate(d) == (), (path, member)
    corpus_dir, bench = SHARED / "corpus", SHARED / "bench" / "mega-multidex.apk"
    assert opened == len(fixtures) + (34 if corpus_dir.is_dir() else 0) + (8 if bench.is_file() else 0)


def test_corpus_is_part_of_the_clean_check() -> None:
    """Skips (rather than passing vacuously) when the corpus is absent."""
    corpus("apk")
    corpus_files = [f for f in _dex_files() if "/corpus/" in f[0]]
    assert len(corpus_files) == 35


# ----------------------------------------------------------------------------- fatal: tables


def test_string_ids_into_the_header() -> None:
    d = patched(0x70 + 4 * 5, "<I", 0x10)
    assert validate(d) == (DexDamage("classes.dex: string_ids[5]: string_data at 0x10 lies outside the data area "
                                     "(0x468..0xbdc)", True),)


def test_many_offenders_are_counted_not_listed() -> None:
    buf = bytearray(base())
    struct.pack_into("<9I", buf, 0x70, *([0x20] * 9))
    got = validate(DexFile(bytes(buf), "classes.dex"))
    assert [x.message for x in got] == [
        *(f"classes.dex: string_ids[{i}]: string_data at 0x20 lies outside the data area (0x468..0xbdc)" for i in range(5)),
        "classes.dex: string_ids: 4 more like the above",
    ]
    assert all(x.fatal for x in got)


def test_type_and_method_ids_out_of_range() -> None:
    d = patched(0x190 + 4 * 3, "<I", 5000)
    assert validate(d) == (DexDamage("classes.dex: type_ids[3]: string 5000 of 72", True),)
    d = patched(0x318 + 8 * 2 + 2, "<H", 999)
    assert validate(d) == (DexDamage("classes.dex: method_ids[2]: proto 999 of 23", True),)


def test_map_list_damage() -> None:
    d = patched(MAP_OFF + 4 + 12 * 9, "<H", 0x1234)
    assert validate(d) == (DexDamage("classes.dex: map_list entry 9 (type 0x1234): unknown type code", True),)
    d = patched(MAP_OFF + 4 + 12 * 6 + 8, "<I", 0x430)
    assert validate(d) == (DexDamage("classes.dex: map_list entry 6 (type 0x0006): class_defs at 0x430, the header "
                                     "says 0x428", True),)
    d = patched(0x34, "<I", 0)
    assert validate(d) == (DexDamage("classes.dex: header: no map_list (map_off 0)", True),)


# ----------------------------------------------------------------------------- fatal: class_data


def test_class_data_outside_the_file() -> None:
    d = patched(CLASS_DEFS_OFF + 32 + 24, "<I", 0x2000)
    assert validate(d) == (
        DexDamage(f"classes.dex: class_def 1 ({MAIN}): class_data at 0x2000 lies outside the class_data section "
                  "(0xb16..0xb3c)", True, None, 1),
        DexDamage(f"classes.dex: class_defs[1] ({MAIN}): class_data at 0x2000 lies outside the file", False, None, 1),
    )
    with pytest.raises(DexError) as e:
        d.refs(methods=[0])
    assert str(e.value) == validate(d)[0].message
    with pytest.raises(DexError):
        d.code(9)


def test_class_data_shared_shifted_overlong() -> None:
    shared = patched(CLASS_DEFS_OFF + 32 + 24, "<I", CLASS_DATA[0])
    assert validate(shared) == (DexDamage(f"classes.dex: class_def 1 ({MAIN}): class_data at 0xb16 is also the "
                                          "class_data of class_def 0", True, None, 1),)
    shifted = patched(CLASS_DEFS_OFF + 32 + 24, "<I", CLASS_DATA[1] + 1)
    assert validate(shifted) == (DexDamage(f"classes.dex: class_def 1 ({MAIN}): class_data at 0xb2f is truncated "
                                           "(0+1 fields, 1+13 methods claimed, the class_data section ends at 0xb3c)",
                                           True, None, 1),)
    overlap = patched(CLASS_DEFS_OFF + 32 + 24, "<I", CLASS_DATA[0] + 8)  # inside class_def 0's item
    assert validate(overlap) == (DexDamage(f"classes.dex: class_def 1 ({MAIN}): class_data at 0xb1e overlaps the "
                                           "class_data of class_def 0", True, None, 1),)
    inside = patched(CLASS_DEFS_OFF + 32 + 24, "<I", CLASS_DATA[1] + 6)  # the 2nd byte of access flags 81 80 04
    assert validate(inside) == (DexDamage(f"classes.dex: class_def 1 ({MAIN}): class_data at 0xb34 starts inside a "
                                          "LEB128", True, None, 1),)
    item = b"\x00\x00\x01\x00" + b"\x8d\x80\x80\x80\x80\x00" + b"\x01\x00\x00\x00"  # a 6-byte method_idx_diff
    buf = bytearray(base())
    buf[CLASS_DATA[1]:CLASS_DATA[1] + len(item)] = item
    overlong = DexFile(bytes(buf), "classes.dex")
    assert validate(overlong) == (DexDamage(f"classes.dex: class_def 1 ({MAIN}): class_data at 0xb2e has an "
                                            "over-long LEB128", True, None, 1),)


def test_class_defs_pointing_at_the_string_ids() -> None:
    """Every class_data_off is then a string data offset: fatal, found without re-reading anything."""
    d = patched(0x64, "<I", 0x70)
    got = validate(d)
    assert [(x.message, x.fatal) for x in got] == [
        ("classes.dex: map_list entry 6 (type 0x0006): class_defs at 0x428, the header says 0x70", True),
        # class_def 0 is string_ids[0..7]: class_data_off is string_ids[6], the class type string_ids[0] (0x468)
        ("classes.dex: class_def 0: class_data at 0x4a9 lies outside the class_data section (0xb16..0xb3c)", True),
        ("classes.dex: class_def 1: class_data at 0x517 lies outside the class_data section (0xb16..0xb3c)", True),
        ("classes.dex: class_defs[0]: class type 1128 of 25", False),
        ("classes.dex: class_defs[1]: class type 1200 of 25", False),
        ("classes.dex: class_defs[0]: superclass type 1149 of 25", False),
        ("classes.dex: class_defs[1]: superclass type 1209 of 25", False),
        ("classes.dex: class_defs[0]: source_file string 1186 of 72", False),
        ("classes.dex: class_defs[1]: source_file string 1241 of 72", False),
        ("classes.dex: class_defs[0]: interfaces type_list at 0x494 (1852785420 entries) runs past the end of the file",
         False),
        ("classes.dex: class_defs[1]: interfaces type_list at 0x4c1 is unaligned or outside the file", False),
    ]
    assert d._cd[6] == 0x4A9 and d._cd[0] == 0x468
    with pytest.raises(DexError) as e:
        d.refs(methods=[0])
    assert str(e.value) == got[1].message  # the first damage of the class_data


# ----------------------------------------------------------------------------- one method


def test_code_item_past_the_end_spoils_one_method() -> None:
    buf = bytearray(base())
    at = buf.index(b"\xc8\x12", CLASS_DATA[0])  # code_off 0x948 of method 9, a 2-byte LEB128
    buf[at:at + 2] = b"\x80\x60"  # 0x3000
    d = DexFile(bytes(buf), "classes.dex")
    msg = f"classes.dex: method 9 {UPLOADER}-><init>(Landroid/content/Context;)V: code_item at 0x3000 lies outside the file"
    assert validate(d) == (DexDamage(f"{msg} (3036 bytes)", False, 9),)
    with pytest.raises(DexError) as e:
        d.code(9)
    assert str(e.value) == msg
    assert d.code(10) == DexFile(base()).code(10)
    d.refs(methods=[0])
    assert d.skipped == {9: f"{msg} (3036 bytes)"}


def test_overlapping_code_items() -> None:
    d = patched(0x948 + 12, "<I", 100)  # method 9's insns_size: 100 units run into the next code_item
    assert validate(d) == (DexDamage(f"classes.dex: method 9 {UPLOADER}-><init>(Landroid/content/Context;)V: "
                                     "code_item at 0x948 (100 code units) overlaps the code_item at 0x964", False, 9),)


def test_code_item_running_past_the_end() -> None:
    last = max(DexFile(base())._code_index().code_of.values())
    d = patched(last + 12, "<I", 5000)
    m = next(m for m, c in d._code_index().code_of.items() if c == last)
    assert validate(d) == (DexDamage(f"classes.dex: {d.describe_method(m)}: code_item at 0x{last:x} (5000 code units) "
                                     "runs past the end of the file", False, m),)
