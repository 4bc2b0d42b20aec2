"""permaudit.dex against real dex files, androguard, dexdump, and malformed input.

The real dex files are read in place from ../shared/corpus (TaintBench's classes.dex
files and the dex entries of the corpus APKs); tests that need them skip when the
corpus is absent. androguard and dexdump serve as independent oracles.
"""

from __future__ import annotations

import functools
import random
import re
import shutil
import struct
import subprocess
import zipfile
import zlib
from array import array
from pathlib import Path

import pytest

from permaudit.dex import DexDamage, DexError, DexFile, Insn, MethodRef, Ref, validate
from permaudit.dex.opcodes import OPCODES, PAYLOAD_NAMES, decode_insns
from permaudit.dex.reader import ClassDef, FieldRef

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / ".." / "shared"
CORPUS = SHARED / "corpus"
PROGRESS = "Lfrhfsd/siksdk/ujdsfjkfsd/WrehifsdkjsActivity$Progress;"
TAINTBENCH = ("beita_com_beita_contact", "cajino_baidu", "exprespam", "samsapo", "save_me")
BROKEN_HEADER_APK = "6e6b6754afb77e3c96ae0589cc4bcf6405779d5730da76a5476ff585cf1d125d.apk"
JUMBO_APK = "d5e26acca809e9cdfaece18afd8e63c60a26d7b6d566d70bd9f44d6934d5c433.apk"  # ABCore: const-string/jumbo
PROJECTSPY_APK = "29b0d86ae68d83f9578c3f36041df943195bc55a7f3f1d45a9c23f145d75af9d.apk"  # 7 MB classes.dex
DEXDUMP = shutil.which("dexdump")
needs_dexdump = pytest.mark.skipif(DEXDUMP is None, reason="dexdump (Debian package dexdump) is not installed")
BRANCH_FORMATS = {"10t", "20t", "30t", "21t", "22t", "31t"}
KINDS = ("string", "type", "field", "method")


# ----------------------------------------------------------------------------- corpus access


def corpus_path(*parts: str) -> Path:
    path = CORPUS.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"third-party corpus not present at {path} (it lives in ../shared, never in the repo)")
    return path


@functools.cache
def raw_dex(name: str) -> bytes:
    return corpus_path("dex", name, "classes.dex").read_bytes()


@functools.cache
def apk_member(apk: str, member: str = "classes.dex") -> bytes:
    with zipfile.ZipFile(corpus_path("apk", apk)) as z:
        return z.read(member)


@functools.cache
def dex(name: str) -> DexFile:
    return DexFile(raw_dex(name), name)


@functools.cache
def androguard_dex(name: str):
    mod = pytest.importorskip("androguard.core.dex")
    try:
        from loguru import logger

        logger.disable("androguard")
    except ImportError:  # pragma: no cover
        pass
    return mod.DEX(raw_dex(name))


def assert_one_line(exc: DexError, name: str) -> None:
    msg = str(exc)
    assert "\n" not in msg and msg.startswith(f"{name}: "), msg


def patched(data: bytes, offset: int, fmt: str, *values: int) -> bytes:
    buf = bytearray(data)
    struct.pack_into(fmt, buf, offset, *values)
    return bytes(buf)


def uleb(value: int, width: int | None = None) -> bytes:
    """ULEB128 of ``value``, padded with continuation bytes to ``width`` when given."""
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        more = value or (width is not None and len(out) + 1 < width)
        out.append(b | 0x80 if more else b)
        if not more:
            return bytes(out)


def methods_with_code(d: DexFile) -> list[int]:
    """Every method id with a body in this dex, from the code index."""
    return sorted(m for m, c in d._code_index().code_of.items() if c)


def string_bytes(d: DexFile, i: int) -> bytes:
    """The raw MUTF-8 bytes of string ``i``."""
    a, b = d._string_span(i)
    return d._data[a:b]


def full_decode_refs(d: DexFile, want: dict[str, set[int]]) -> list[Ref]:
    """The slow truth: decode every method body and keep the instructions using a target."""
    out = []
    for m in methods_with_code(d):
        for insn in d.code(m):
            if insn.opcode < 256 and insn.kind in want and insn.index in want[insn.kind]:
                out.append(Ref(m, insn.offset))
    return sorted(out)


# ----------------------------------------------------------------------------- dexdump oracle

_DD_METHOD = re.compile(r"^([0-9a-f]{6}):\s+\|\[([0-9a-f]{6})\] ")
_DD_INSN = re.compile(r"^[0-9a-f]{6}: [0-9a-f .]+\|([0-9a-f]{4,}): (\S+)(.*)$")
_DD_INDEX = re.compile(r"// (string|type|field|method)@([0-9a-f]+)")
_DD_PAYLOADS = {"packed-switch-data": "packed-switch-payload", "sparse-switch-data": "sparse-switch-payload",
                "array-data": "fill-array-data-payload"}


def dexdump_methods(path: Path) -> dict[int, list[tuple[int, str, str]]]:
    """code_item offset -> [(offset in code units, mnemonic, rest of the line)] from ``dexdump -d``."""
    out = subprocess.run([DEXDUMP, "-d", str(path)], capture_output=True, text=True, errors="replace",
                         check=False).stdout
    blocks: dict[int, list[tuple[int, str, str]]] = {}
    cur = None
    for line in out.splitlines():
        m = _DD_METHOD.match(line)
        if m:
            cur = blocks.setdefault(int(m.group(2), 16), [])
            continue
        m = _DD_INSN.match(line)
        if m and cur is not None:
            cur.append((int(m.group(1), 16), _DD_PAYLOADS.get(m.group(2), m.group(2)), m.group(3)))
        elif cur and cur[-1][1].startswith("const-string") and "// string@" not in cur[-1][2]:
            off, mnemonic, rest = cur[-1]  # a string with a newline continues on the next line
            cur[-1] = (off, mnemonic, rest + "\n" + line)
    return blocks


def dex_file_for_dexdump(name: str, data: bytes, tmp_path: Path) -> Path:
    """Write ``data`` for dexdump, with the adler32 checksum it insists on recomputed."""
    buf = bytearray(data)
    struct.pack_into("<I", buf, 8, zlib.adler32(bytes(buf[12:])))
    path = tmp_path / name.replace("/", "_")
    path.write_bytes(bytes(buf))
    return path


def canonical_code(d: DexFile) -> dict[int, int]:
    """code_item offset -> method idx, for the bodies code() answers with."""
    return {d.method_code_offset(m): m for m in methods_with_code(d)}


# ============================================================================= header validation


def test_truncated_header_is_a_dex_error() -> None:
    with pytest.raises(DexError) as e:
        DexFile(b"dex\n035\0" + bytes(40), "classes3.dex")
    assert_one_line(e.value, "classes3.dex")
    assert "truncated header" in str(e.value)


@pytest.mark.parametrize("magic", [b"dey\n035\0", b"dex\n03a\0", b"dex\n035 ", b"PK\x03\x04abcd"])
def test_bad_magic(magic: bytes) -> None:
    data = magic + raw_dex("exprespam")[8:]
    with pytest.raises(DexError) as e:
        DexFile(data, "classes.dex")
    assert_one_line(e.value, "classes.dex")
    assert "magic" in str(e.value)


@pytest.mark.parametrize("version", [b"034", b"042", b"009"])
def test_unsupported_versions_are_rejected(version: bytes) -> None:
    data = b"dex\n" + version + b"\0" + raw_dex("exprespam")[8:]
    with pytest.raises(DexError, match="unsupported dex version"):
        DexFile(data, "x.dex")


@pytest.mark.parametrize("version", [b"035", b"036", b"037", b"038", b"039", b"040"])
def test_versions_035_to_040_read_the_same(version: bytes) -> None:
    data = b"dex\n" + version + b"\0" + raw_dex("exprespam")[8:]
    d = DexFile(data, "x.dex")
    assert d.version == int(version)
    assert [d.string(i) for i in range(d.string_count)] == [dex("exprespam").string(i) for i in range(d.string_count)]
    assert d.refs(methods=range(d.method_count)) == dex("exprespam").refs(methods=range(d.method_count))


def test_v41_needs_its_longer_header() -> None:
    data = b"dex\n041\0" + raw_dex("exprespam")[8:]
    with pytest.raises(DexError) as e:
        DexFile(data, "classes.dex")
    assert str(e.value) == "classes.dex: header_size 0x70 is not 0x78"


def test_v41_single_dex_container() -> None:
    """A v041 file (header 0x78 with container_size/header_offset) reads like its v035 twin."""
    base = raw_dex("exprespam")
    d0 = dex("exprespam")
    sid_off, sid_size = d0.header["string_ids_off"], d0.header["string_ids_size"]
    table = base[sid_off:sid_off + 4 * sid_size]
    buf = bytearray(b"dex\n041\0" + base[8:])
    buf += bytes(-len(buf) % 4)
    new_off = len(buf)
    buf += table  # move string_ids out of the way of the 8 extra header bytes
    struct.pack_into("<I", buf, 0x24, 0x78)
    struct.pack_into("<I", buf, 0x3C, new_off)
    struct.pack_into("<I", buf, 0x20, len(buf))
    struct.pack_into("<II", buf, 0x70, len(buf), 0)
    d = DexFile(bytes(buf), "v41.dex")
    assert d.version == 41 and d.container_size == len(buf)
    assert [d.string(i) for i in range(d.string_count)] == [d0.string(i) for i in range(d0.string_count)]
    assert [d.method(i) for i in range(d.method_count)] == [d0.method(i) for i in range(d0.method_count)]
    m = d.find_method("Lfrhfsd/siksdk/ujdsfjkfsd/WrehifsdkjsActivity$Progress;", "getAddress", "()Ljava/util/ArrayList;")
    assert d.code(m) == d0.code(m)
    struct.pack_into("<I", buf, 0x74, 0x100)  # a later entry of a container
    with pytest.raises(DexError, match="header_offset"):
        DexFile(bytes(buf), "v41.dex")


def test_corpus_apk_with_broken_header_size() -> None:
    data = apk_member(BROKEN_HEADER_APK)
    with pytest.raises(DexError) as e:
        DexFile(data, "classes.dex")
    assert str(e.value) == "classes.dex: header_size 0x1ae0 is not 0x70"


HEADER_PATCHES = [
    ("endian", 0x28, "<I", 0x78563412, "big-endian"),
    ("endian-garbage", 0x28, "<I", 0xDEADBEEF, "bad endian tag"),
    ("header_size", 0x24, "<I", 0x80, "header_size 0x80 is not 0x70"),
    ("file_size", 0x20, "<I", 0x7FFFFFFF, "file_size"),
    ("string_ids past end", 0x38, "<I", 0x00FFFFFF, "string_ids"),
    ("string_ids inside header", 0x3C, "<I", 0x10, "string_ids"),
    ("type_ids past end", 0x44, "<I", 0xFFFFFFF0, "type_ids"),
    ("proto_ids size", 0x48, "<I", 0x100000, "proto_ids"),
    ("field_ids past end", 0x54, "<I", 0x7FFFFFFF, "field_ids"),
    ("method_ids size", 0x58, "<I", 0x01000000, "method_ids"),
    ("class_defs past end", 0x64, "<I", 0xFFFFFF00, "class_defs"),
    ("data past end", 0x68, "<I", 0x10000000, "data"),
    ("map past end", 0x34, "<I", 0xFFFFFFF0, "map_off"),
    ("link past end", 0x2C, "<II", (16, 0xFFFFFFF0), "link"),
]


@pytest.mark.parametrize("label,offset,fmt,value,expect", HEADER_PATCHES, ids=[p[0] for p in HEADER_PATCHES])
def test_header_fields_out_of_range(label: str, offset: int, fmt: str, value, expect: str) -> None:
    values = value if isinstance(value, tuple) else (value,)
    data = patched(raw_dex("samsapo"), offset, fmt, *values)
    with pytest.raises(DexError) as e:
        DexFile(data, "classes2.dex")
    assert_one_line(e.value, "classes2.dex")
    assert expect in str(e.value)


@pytest.mark.parametrize("keep", [0, 0x6F, 0x70, 0x1000, -1])
def test_truncated_files(keep: int) -> None:
    data = raw_dex("samsapo")
    with pytest.raises(DexError) as e:
        DexFile(data[:keep], "classes.dex")
    assert_one_line(e.value, "classes.dex")


def test_constructor_parses_no_tables() -> None:
    """Construction is O(1): a dex whose every id points at garbage still opens."""
    data = bytearray(raw_dex("exprespam"))
    d0 = dex("exprespam")
    off, n = d0.header["string_ids_off"], d0.header["string_ids_size"]
    data[off:off + 4 * n] = b"\xff" * (4 * n)
    d = DexFile(bytes(data), "classes.dex")
    with pytest.raises(DexError) as e:
        d.string(3)
    assert_one_line(e.value, "classes.dex")
    assert "outside the file" in str(e.value)


# ============================================================================= lazily found damage


def test_indices_out_of_range_raise_dex_error() -> None:
    d = dex("exprespam")
    for call in (lambda: d.string(d.string_count), lambda: d.type_name(-1), lambda: d.field(d.field_count),
                 lambda: d.method(10**6), lambda: d.proto_descriptor(d.proto_count), lambda: d.code(d.method_count),
                 lambda: d.method_annotations(-5)):
        with pytest.raises(DexError) as e:
            call()
        assert_one_line(e.value, "exprespam")


def test_field_with_type_index_out_of_range() -> None:
    d0 = dex("exprespam")
    data = patched(raw_dex("exprespam"), d0.header["field_ids_off"] + 8 * 2 + 2, "<H", 0xFFF0)
    d = DexFile(data, "classes.dex")
    with pytest.raises(DexError, match="type index 65520 out of range"):
        d.field(2)
    assert d.field(3) == d0.field(3)


def test_code_off_past_end_of_file() -> None:
    base = raw_dex("exprespam")
    d0 = dex("exprespam")
    m = d0.find_method("Lfrhfsd/siksdk/ujdsfjkfsd/WrehifsdkjsActivity$Progress;", "getAddress", "()Ljava/util/ArrayList;")
    code_off = d0.method_code_offset(m)
    token = uleb(code_off)
    bad = uleb(len(base) + 100, len(token))
    cdo = d0._cd[8 * d0.class_def_index("Lfrhfsd/siksdk/ujdsfjkfsd/WrehifsdkjsActivity$Progress;") + 6]
    where = base.index(token, cdo)
    data = base[:where] + bad + base[where + len(token):]
    d = DexFile(data, "classes.dex")
    where = f"classes.dex: method {m} {PROGRESS}->getAddress()Ljava/util/ArrayList;"
    outside = f"{where}: code_item at 0x{len(base) + 100:x} lies outside the file"
    with pytest.raises(DexError) as e:
        d.code(m)
    assert str(e.value) == outside
    # one bad body spoils that method only: refs() skips it, validate() names it, not fatal
    managed = d.find_methods(None, "managedQuery")
    assert d.refs(methods=managed) == [] and d.skipped == {m: f"{outside} ({len(data)} bytes)"}
    assert validate(d) == (DexDamage(f"{outside} ({len(data)} bytes)", False, m),)
    assert d0.refs(methods=managed) != []


def test_truncated_class_data() -> None:
    base = raw_dex("exprespam")
    d0 = dex("exprespam")
    data = patched(base, d0.header["class_defs_off"] + 32 * 5 + 24, "<I", len(base) - 2)
    with pytest.raises(DexError, match="class_data") as e:
        DexFile(data, "classes.dex").refs(methods=[1])
    assert_one_line(e.value, "classes.dex")


def test_garbage_method_body() -> None:
    """A payload claiming more units than the body has stops code() and is skipped by refs()."""
    base = bytearray(raw_dex("exprespam"))
    d0 = dex("exprespam")
    m = d0.find_method("Lfrhfsd/siksdk/ujdsfjkfsd/WrehifsdkjsActivity$Progress;", "getAddress", "()Ljava/util/ArrayList;")
    insns = d0.method_code_offset(m) + 16
    struct.pack_into("<HH", base, insns + 2 * 20, 0x0100, 0x7000)  # packed-switch-payload at unit 20, 0x7000 entries
    d = DexFile(bytes(base), "classes.dex")
    with pytest.raises(DexError) as e:
        d.code(m)
    assert str(e.value) == (f"classes.dex: method {m} {PROGRESS}->getAddress()Ljava/util/ArrayList;: "
                            "payload at code unit 20 runs past the end of the code")
    managed = d.find_methods(None, "managedQuery")
    refs = d.refs(methods=managed)
    assert refs == [Ref(m, 17)]  # the walk stops at the garbage; what came before is still exact
    assert d.skipped == {m: str(e.value)}
    assert validate(d) == ()  # the layout is sound: only decoding finds this


def test_fuzzed_dex_raises_only_dex_error() -> None:
    """Random damage to a real dex: every call either answers or raises DexError."""
    base = raw_dex("exprespam")
    rng = random.Random(20240601)
    d0 = dex("exprespam")
    hot = [d0.header[k] for k in ("string_ids_off", "type_ids_off", "proto_ids_off", "field_ids_off",
                                  "method_ids_off", "class_defs_off", "map_off")]
    hot += [d0.method_code_offset(m) for m in methods_with_code(d0)]
    errors = answered = 0
    for round_ in range(160):
        buf = bytearray(base)
        for _ in range(rng.randint(1, 6)):
            if rng.random() < 0.5:
                pos = min(rng.choice(hot) + rng.randint(0, 40), len(buf) - 1)
            else:
                pos = rng.randrange(0x20, len(buf))
            buf[pos] = rng.choice((0, 0xFF, 0x80, 0x7F, rng.randrange(256)))
        if round_ % 10 == 9:
            del buf[rng.randrange(0x70, len(buf)):]
        data = bytes(buf)
        try:
            d = DexFile(data, "fuzz.dex")
        except DexError as exc:
            assert_one_line(exc, "fuzz.dex")
            errors += 1
            continue
        sample = {k: rng.sample(range(n), min(n, 40)) for k, n in
                  (("methods", d.method_count), ("fields", d.field_count), ("strings", d.string_count), ("types", d.type_count))}
        calls = [
            lambda d: [d.string(i) for i in range(d.string_count)],
            lambda d: [d.type_name(i) for i in range(d.type_count)],
            lambda d: [d.field(i) for i in range(d.field_count)],
            lambda d: [d.method(i) for i in range(d.method_count)],
            lambda d: [d.proto_descriptor(i) for i in range(d.proto_count)],
            lambda d: d.class_defs(),
            lambda d: [d.find_string(s) for s in ("Landroid/app/Activity;", "managedQuery", "zzz")],
            lambda d: d.find_methods("Landroid/app/Activity;", "onCreate") + d.find_fields(None, "CONTENT_URI"),
            lambda d: d.strings_matching(rb"content://|\.php") + d.strings_matching(rb"^L.*;$"),
            lambda d: [d.code(m) for m in range(d.method_count)],
            lambda d: [d.method_annotations(m) for m in range(d.method_count)],
            lambda d: [d.code_info(m) for m in range(d.method_count)],
            lambda d, sample=sample: d.refs(**sample),
        ]
        for call in calls:
            try:
                call(d)
                answered += 1
            except DexError as exc:
                assert_one_line(exc, "fuzz.dex")
                errors += 1
    assert errors and answered  # both outcomes were exercised


def test_decoding_random_units_raises_only_dex_error() -> None:
    rng = random.Random(7)
    outcomes = {"ok": 0, "error": 0}
    for _ in range(3000):
        units = [rng.choice((rng.randrange(0x10000), rng.randrange(256), 0x0100, 0x0200, 0x0300))
                 for _ in range(rng.randint(1, 12))]
        try:
            insns = decode_insns(units, "fuzz")
            assert sum(i.length for i in insns) == len(units)
            outcomes["ok"] += 1
        except DexError as exc:
            assert str(exc).startswith("fuzz: ") and "\n" not in str(exc)
            outcomes["error"] += 1
    assert outcomes["ok"] > 100 and outcomes["error"] > 100


# ============================================================================= tables vs androguard


@pytest.mark.parametrize("name", TAINTBENCH)
def test_string_table_equals_androguard(name: str) -> None:
    d, ag = dex(name), androguard_dex(name)
    mine = [d.string(i) for i in range(d.string_count)]
    assert mine == [ag.CM.get_string(i) for i in range(len(mine))]
    assert sorted(mine) == sorted(ag.get_strings())  # androguard lists them in data order


@pytest.mark.parametrize("name", TAINTBENCH)
def test_ids_equal_androguard(name: str) -> None:
    d, ag = dex(name), androguard_dex(name)
    for i in range(d.method_count):
        ref = ag.CM.get_method_ref(i)
        assert d.method(i) == MethodRef(ref.get_class_name(), ref.get_name(), ref.get_descriptor().replace(" ", ""))
    for i in range(d.field_count):
        ref = ag.CM.get_field_ref(i)
        assert d.field(i) == FieldRef(ref.get_class_name(), ref.get_name(), ref.get_type())
    for i in range(d.type_count):
        assert d.type_name(i) == ag.CM.get_type(i)


def _ag_operands(ins) -> tuple:
    from androguard.core.dex.dex_types import Operand

    regs, idx, lit, off = [], [], None, None
    for op in ins.get_operands():
        kind, value = op[0], op[1]
        if kind == Operand.REGISTER:
            regs.append(value)
        elif kind == Operand.LITERAL:
            lit = value
        elif kind == Operand.OFFSET:
            off = value
        elif kind >= Operand.KIND:
            idx.append(value)
    return ins.get_name(), regs, idx, lit, off


def _my_operands(insn: Insn) -> tuple:
    if insn.opcode >= 256:
        return insn.mnemonic, [], [], None, None
    branch = OPCODES[insn.opcode][1] in BRANCH_FORMATS
    return (insn.mnemonic, list(insn.registers), [i for i in (insn.index, insn.index2) if i is not None],
            None if branch else insn.literal, insn.literal - insn.offset if branch else None)


@pytest.mark.parametrize("name", TAINTBENCH)
def test_decoded_methods_equal_androguard(name: str) -> None:
    d, ag = dex(name), androguard_dex(name)
    methods = [em for em in ag.get_encoded_methods() if em.get_code() is not None]
    rng = random.Random(name)
    sample = methods if len(methods) <= 600 else rng.sample(methods, 600)
    compared = 0
    for em in sample:
        m = em.get_method_idx()
        if d.method_code_offset(m) != em.get_code_off():
            continue  # a shadowed duplicate class: code() answers with the first definition
        theirs = list(em.get_instructions())
        mine = d.code(m)
        assert [_my_operands(i) for i in mine] == [_ag_operands(i) for i in theirs], d.method(m)
        offsets, at = [], 0
        for ins in theirs:
            offsets.append(at)
            at += ins.get_length() // 2
        assert [i.offset for i in mine] == offsets
        compared += 1
    assert compared >= min(len(sample), 20)


# the instructions refs() must report, named as in the brief (an oracle independent of OPCODES)
REF_MNEMONICS = {
    "string": {"const-string", "const-string/jumbo"},
    "type": {"const-class", "new-instance", "check-cast", "instance-of", "new-array", "filled-new-array",
             "filled-new-array/range"},
    "field": {f"{a}{s}" for a in ("iget", "iput", "sget", "sput")
              for s in ("", "-wide", "-object", "-boolean", "-byte", "-char", "-short")},
    "method": {f"invoke-{k}{r}" for k in ("virtual", "super", "direct", "static", "interface") for r in ("", "/range")}
    | {"invoke-polymorphic", "invoke-polymorphic/range"},
}


def test_ref_opcodes_are_the_ones_asked_for() -> None:
    for kind, names in REF_MNEMONICS.items():
        assert {n for n, _, k in OPCODES if k == kind} == names


def test_refs_equal_androguard_on_a_small_dex() -> None:
    from androguard.core.dex.dex_types import Kind, Operand

    d, ag = dex("exprespam"), androguard_dex("exprespam")
    want = {"method": set(range(0, d.method_count, 3)), "field": set(range(d.field_count)),
            "string": set(range(0, d.string_count, 2)), "type": set(range(d.type_count))}
    kinds = {Kind.METH: "method", Kind.STRING: "string", Kind.FIELD: "field", Kind.TYPE: "type"}
    expected = []
    for em in ag.get_encoded_methods():
        if em.get_code() is None:
            continue
        at = 0
        for ins in em.get_instructions():
            for op in ins.get_operands():
                kind = kinds.get(op[0] - Operand.KIND) if op[0] >= Operand.KIND else None
                if kind and ins.get_name() in REF_MNEMONICS[kind] and op[1] in want[kind]:
                    expected.append(Ref(em.get_method_idx(), at))
            at += ins.get_length() // 2
    got = d.refs(methods=want["method"], fields=want["field"], strings=want["string"], types=want["type"])
    assert got == sorted(expected) and len(got) > 100


# ============================================================================= refs exactness


REF_SOURCES = [("dex", n) for n in TAINTBENCH] + [
    ("apk", JUMBO_APK, "classes.dex"), ("apk", JUMBO_APK, "classes2.dex"),
    ("apk", "f39b1a25c299ff532df840c6216fee41c8eb70787aba5e51624aae7b8eccc12c.apk", "classes.dex"),
]


def source_dex(src: tuple) -> DexFile:
    if src[0] == "dex":
        return DexFile(raw_dex(src[1]), src[1])
    return DexFile(apk_member(src[1], src[2]), f"{src[1][:8]}/{src[2]}")


@pytest.mark.parametrize("src", REF_SOURCES, ids=lambda s: "/".join(x[:12] for x in s[1:]))
def test_refs_equal_a_full_linear_decode(src: tuple) -> None:
    d = source_dex(src)
    rng = random.Random(str(src))
    want = {
        "method": set(rng.sample(range(d.method_count), min(400, d.method_count))),
        "field": set(rng.sample(range(d.field_count), min(150, d.field_count))),
        "string": set(rng.sample(range(d.string_count), min(150, d.string_count))),
        "type": set(rng.sample(range(d.type_count), min(60, d.type_count))),
    }
    got = d.refs(methods=want["method"], fields=want["field"], strings=want["string"], types=want["type"])
    assert got == full_decode_refs(d, want)
    assert len(got) > 50
    assert all(r.index in want[r.kind] for r in got)
    assert not d.skipped
    # one kind at a time finds the same instructions
    for kind, arg in (("method", "methods"), ("field", "fields"), ("string", "strings"), ("type", "types")):
        assert d.refs(**{arg: want[kind]}) == [r for r in got if r.kind == kind]


def test_refs_find_const_string_jumbo() -> None:
    """ABCore (merged dex) loads strings with const-string/jumbo even below index 0x10000."""
    d = source_dex(("apk", JUMBO_APK, "classes.dex"))
    jumbo = {}
    for m in methods_with_code(d):
        for insn in d.code(m):
            if insn.mnemonic == "const-string/jumbo":
                jumbo.setdefault(insn.index, insn)
    assert len(jumbo) > 100
    want = set(sorted(jumbo)[::3])
    got = d.refs(strings=want)
    assert {r.opcode for r in got} >= {0x1B}
    assert got == full_decode_refs(d, {"string": want})
    insn = jumbo[min(want)]
    assert insn.length == 3 and insn.text(d) == f"const-string/jumbo v{insn.registers[0]}, " + _quoted(d.string(insn.index))


def _quoted(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def test_refs_ignore_payload_and_operand_bytes() -> None:
    """Bytes that look like `invoke-static {}, method@M` inside an array payload are not calls."""
    base = bytearray(raw_dex("samsapo"))
    d0 = dex("samsapo")
    m, insn = next((m, i) for m in methods_with_code(d0) for i in d0.code(m)
                   if i.mnemonic == "fill-array-data-payload" and len(i.payload[1]) >= 8)
    target = 5
    start = d0.method_code_offset(m) + 16 + 2 * (insn.offset + 4)
    fake = bytes([0x71, 0x00]) + struct.pack("<H", target) + bytes([0x6E, 0x10]) + struct.pack("<H", target)
    base[start:start + 8] = fake
    d = DexFile(bytes(base), "samsapo")
    assert fake in d._data  # the raw bytes do hold the lookalike...
    got = d.refs(methods=[target])
    assert all(r.method_idx != m for r in got)  # ...but no instruction of m calls it
    assert got == full_decode_refs(d, {"method": {target}})


# ============================================================================= dexdump oracle


DEXDUMP_SOURCES = [("dex", "exprespam"), ("dex", "samsapo"), ("apk", JUMBO_APK, "classes2.dex")]


@needs_dexdump
@pytest.mark.parametrize("src", DEXDUMP_SOURCES, ids=lambda s: "/".join(x[:12] for x in s[1:]))
def test_every_method_decodes_like_dexdump(src: tuple, tmp_path: Path) -> None:
    d = source_dex(src)
    blocks = dexdump_methods(dex_file_for_dexdump(d.name, d._data, tmp_path))
    owners = canonical_code(d)
    assert blocks and set(owners) <= set(blocks)
    for code_off, lines in blocks.items():
        if code_off not in owners:
            continue
        mine = d.code(owners[code_off])
        assert [(i.offset, i.mnemonic) for i in mine] == [(o, mn) for o, mn, _ in lines], d.method(owners[code_off])
        for insn, (_, _, rest) in zip(mine, lines):
            m = _DD_INDEX.search(rest)
            if m:
                assert insn.kind == m.group(1) and insn.index == int(m.group(2), 16), rest
            if insn.opcode < 256 and OPCODES[insn.opcode][1] in ("10t", "20t", "30t", "21t", "22t"):
                assert insn.literal == int(rest.split("//")[0].split(",")[-1].strip(), 16), rest


@needs_dexdump
@pytest.mark.parametrize("src", DEXDUMP_SOURCES, ids=lambda s: "/".join(x[:12] for x in s[1:]))
def test_refs_of_every_index_equal_dexdump(src: tuple, tmp_path: Path) -> None:
    d = source_dex(src)
    blocks = dexdump_methods(dex_file_for_dexdump(d.name, d._data, tmp_path))
    owners = canonical_code(d)
    expected = set()
    for code_off, lines in blocks.items():
        if code_off not in owners:
            continue
        for off, mnemonic, rest in lines:
            m = _DD_INDEX.search(rest)
            if m and mnemonic not in ("const-method-handle", "const-method-type"):
                expected.add((code_off, off, m.group(1), int(m.group(2), 16)))
    got = d.refs(methods=range(d.method_count), fields=range(d.field_count), strings=range(d.string_count),
                 types=range(d.type_count))
    assert {(d.method_code_offset(r.method_idx), r.offset, r.kind, r.index) for r in got} == expected


# ============================================================================= known facts


EXPRESPAM_ACTIVITY = "Lfrhfsd/siksdk/ujdsfjkfsd/WrehifsdkjsActivity;"
MANAGED_QUERY_DESC = "(Landroid/net/Uri;[Ljava/lang/String;Ljava/lang/String;[Ljava/lang/String;Ljava/lang/String;)Landroid/database/Cursor;"


def test_exprespam_reads_contacts_in_get_address() -> None:
    """TaintBench exprespam: managedQuery over Contacts, Phone and Email URIs (offsets as dexdump shows)."""
    d = dex("exprespam")
    # the app calls Activity.managedQuery through its own subclass, so the method id names the subclass
    assert d.find_methods("Landroid/app/Activity;", "managedQuery") == []
    managed = d.find_methods(None, "managedQuery")
    assert [str(d.method(m)) for m in managed] == [f"{EXPRESPAM_ACTIVITY}->managedQuery{MANAGED_QUERY_DESC}"]
    assert d.find_method(EXPRESPAM_ACTIVITY, "managedQuery", MANAGED_QUERY_DESC) == managed[0]
    email = d.find_fields("Landroid/provider/ContactsContract$CommonDataKinds$Email;", "CONTENT_URI")
    phone = d.find_fields("Landroid/provider/ContactsContract$CommonDataKinds$Phone;", "CONTENT_URI")
    (contacts,) = d.find_fields("Landroid/provider/ContactsContract$Contacts;", "CONTENT_URI")
    assert len(email) == len(phone) == 1
    refs = d.refs(methods=managed, fields=email + phone + [contacts])
    (method,) = {r.method_idx for r in refs}
    assert str(d.method(method)) == f"{EXPRESPAM_ACTIVITY[:-1]}$Progress;->getAddress()Ljava/util/ArrayList;"
    assert [(r.offset, r.kind, r.index) for r in refs] == [
        (0x0B, "field", contacts), (0x11, "method", managed[0]),
        (0x61, "field", phone[0]), (0x67, "method", managed[0]),
        (0x8B, "field", email[0]), (0x9F, "method", managed[0]),
    ]
    code = {i.offset: i for i in d.code(method)}
    assert code[0x8B].text(d) == "sget-object v7, Landroid/provider/ContactsContract$CommonDataKinds$Email;->CONTENT_URI:Landroid/net/Uri;"
    assert code[0x9F].text(d) == f"invoke-virtual/range {{v6, v7, v8, v9, v10, v11}}, {EXPRESPAM_ACTIVITY}->managedQuery{MANAGED_QUERY_DESC}"
    assert code[0x9F].registers == (6, 7, 8, 9, 10, 11) and code[0x9F].mnemonic == "invoke-virtual/range"
    assert code[0x19].mnemonic == "if-nez" and code[0x19].literal == 0x1C and code[0x19].text(d) == "if-nez v1, :001c"
    assert code[0x1C].text(d) == 'const-string v1, "_id"'
    assert d.method_code_offset(method) == 0x1070 and d.code_info(method).insns_size == 283


def test_exprespam_posts_to_php_endpoints() -> None:
    d = dex("exprespam")
    php = d.strings_matching(rb"\.php$")
    assert [d.string(i) for i in php] == [
        "https://ftukguhilcom.globat.com/cgi-bin/confirmUserData.php",
        "https://ftukguhilcom.globat.com/cgi-bin/registerAddressData.php",
    ]
    execute = d.find_methods("Lorg/apache/http/impl/client/DefaultHttpClient;", "execute")
    users = {str(d.method(r.method_idx)) for r in d.refs(methods=execute)}
    assert users == {f"{EXPRESPAM_ACTIVITY[:-1]}$Progress;->doPost(Ljava/lang/String;Ljava/lang/String;)Ljava/lang/String;"}


@needs_dexdump
def test_class_defs_equal_dexdump() -> None:
    d = dex("samsapo")
    text = subprocess.run([DEXDUMP, "-d", str(corpus_path("dex", "samsapo", "classes.dex"))], capture_output=True,
                          text=True, check=False).stdout
    classes = re.findall(r"  Class descriptor  : '(.*)'\n  Access flags      : 0x([0-9a-f]+).*\n"
                         r"  Superclass        : '(.*)'\n  Interfaces        -\n((?:    #\d+ +: '.*'\n)*)", text)
    sources = re.findall(r"  source_file_idx   : (\d+) \((.*)\)\n", text)
    mine = d.class_defs()
    assert isinstance(mine[0], ClassDef) and len(mine) == len(classes) == len(sources)
    for c, (name, flags, sup, ifaces), (_, src) in zip(mine, classes, sources):
        assert (c.name, c.access_flags, c.superclass, c.interfaces) == (
            name, int(flags, 16), sup, tuple(re.findall(r": '(.*)'", ifaces)))
        assert c.source_file == (src if src != "unknown" else None)
    name, sup, ifaces, flags, src = mine[0]  # unpacks as the documented 5-tuple
    assert name == classes[0][0]
    assert [d.class_def_index(c.name) for c in mine[:50]] == list(range(50))
    assert d.class_def_index("Lno/such/Class;") is None


@needs_dexdump
def test_method_annotations_equal_dexdump() -> None:
    d = dex("samsapo")
    text = subprocess.run([DEXDUMP, "-a", str(corpus_path("dex", "samsapo", "classes.dex"))], capture_output=True,
                          text=True, check=False).stdout
    expected: dict[int, list[str]] = {}
    for m in re.finditer(r"Annotations on method #(\d+) '.*'\n((?:  VISIBILITY_\w+ .*\n)*)", text):
        expected[int(m.group(1))] = re.findall(r"  VISIBILITY_\w+ (\S+)", m.group(2))
    assert len(expected) > 100
    for m, types in expected.items():
        assert d.method_annotations(m) == types
    seen = set(expected)
    assert all(d.method_annotations(m) == [] for m in range(d.method_count) if m not in seen)
    open_tx = d.find_method("Landroid/support/v4/app/FragmentManager;", "openTransaction",
                            "()Landroid/support/v4/app/FragmentTransaction;")
    assert d.method_annotations(open_tx) == ["Ljava/lang/Deprecated;"]


# ============================================================================= lookups


@pytest.mark.parametrize("name", ["samsapo", "exprespam"])
def test_lookups_round_trip(name: str) -> None:
    d = dex(name)
    assert all(d.find_string(d.string(i)) == i for i in range(d.string_count))
    assert all(d._find_type(d.type_name(t)) == t for t in range(d.type_count))
    for m in range(d.method_count):
        ref = d.method(m)
        assert m in d.find_methods(ref.class_name, ref.name)
        assert d.find_method(ref.class_name, ref.name, ref.descriptor) == m
    for f in range(d.field_count):
        ref = d.field(f)
        assert f in d.find_fields(ref.class_name, ref.name)
    cls = d.method(d.method_count // 2).class_name
    assert d.find_methods(cls) == [m for m in range(d.method_count) if d.method(m).class_name == cls]
    assert d.find_methods(None, "toString") == [m for m in range(d.method_count) if d.method(m).name == "toString"]
    for missing in ("", "Lno/such/Class;", "\uffff\uffff", "a\0b", "\U0001f600"):
        if missing not in {d.string(i) for i in range(d.string_count)}:
            assert d.find_string(missing) is None
    assert d._find_type("Lno/such/Class;") is None and d.find_methods("Lno/such/Class;", "x") == []
    assert d.find_fields("Lno/such/Class;") == [] and d.find_method(cls, "noSuchName", "()V") is None


@pytest.mark.parametrize("every", [32, 1])
@pytest.mark.parametrize("name", ["beita_com_beita_contact", "cajino_baidu"])
def test_find_string_narrowed_by_samples_agrees_with_the_full_search(name: str, every: int,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """find_string first bisects prefixes of every 32nd string (C speed), then searches between two:
    every string, and its neighbours (a byte more or less, a NUL appended), is found or missed exactly
    as the binary search over the whole table finds or misses it. A string holding a NUL (C0 80 sorts
    unlike its UTF-16 unit) is never a sample: ``every=1`` offers each string as one."""
    from permaudit.dex import reader as dex_reader

    monkeypatch.setattr(dex_reader, "_SAMPLE_EVERY", every)
    d, plain = dex(name), dex(name)
    plain._samples = False
    samples = d._sample_strings()
    assert samples
    prefixes, ids = samples
    with_nul = [i for i in range(d.string_count) if "\0" in d.string(i)]
    assert len(ids) == len(range(0, d.string_count, every)) - len([i for i in with_nul if i % every == 0])
    assert not set(ids) & set(with_nul) and prefixes == sorted(prefixes)
    for i in range(d.string_count):
        s = d.string(i)
        assert d._find_string(s) == i
        for near in (s + "x", s[:-1], s + "\0", "\0" + s):
            assert d._find_string(near) == plain._find_string(near)
    if name == "beita_com_beita_contact":
        assert len(with_nul) == 1


def test_members_named_reads_only_the_name_column(monkeypatch: pytest.MonkeyPatch) -> None:
    """find_methods/find_fields(None, name) find the name id's bytes in the raw table: a match
    in the class/proto or type columns (or straddling two columns) must not count."""
    d = dex("exprespam")
    for name in {d.method(m).name for m in range(d.method_count)}:
        assert d.find_methods(None, name) == [m for m in range(d.method_count) if d.method(m).name == name]
    for name in {d.field(f).name for f in range(d.field_count)}:
        assert d.find_fields(None, name) == [f for f in range(d.field_count) if d.field(f).name == name]
    # one row's class_idx/proto_idx spell the name id of another method, another row's proto and
    # name columns straddle it: neither is a hit
    m = d.find_methods(None, "managedQuery")[0]
    sid = d._mid_i[2 * m + 1]
    data = bytearray(d._data)
    off = d.header["method_ids_off"]
    k, j = [i for i in range(3) if i != m][:2]
    data[off + 8 * k:off + 8 * k + 4] = sid.to_bytes(4, "little")
    data[off + 8 * j + 2:off + 8 * j + 6] = sid.to_bytes(4, "little")
    crafted = DexFile(bytes(data), "crafted.dex")
    want = [i for i in range(crafted.method_count) if crafted._mid_i[2 * i + 1] == sid]
    assert crafted.find_methods(None, "managedQuery") == want and k not in want and j not in want
    # every row's class/proto columns spell it (past the walk's bound: the name column is searched itself)
    for i in range(crafted.method_count):
        if i != m:
            data[off + 8 * i:off + 8 * i + 4] = sid.to_bytes(4, "little")
    from permaudit.dex import reader as dex_reader

    searched = []
    real = dex_reader._column_matches
    monkeypatch.setattr(dex_reader, "_column_matches", lambda column, value: searched.append(value) or real(column, value))
    flooded = DexFile(bytes(data), "flooded.dex")
    assert flooded.method_count - 1 > dex_reader._MISPLACED
    named = [i for i in range(flooded.method_count) if flooded._mid_i[2 * i + 1] == sid]
    assert flooded.find_methods(None, "managedQuery") == named and m in named and searched == [sid]


def test_method_and_field_refs_render_as_smali() -> None:
    d = dex("exprespam")
    m = d.find_methods(None, "managedQuery")[0]
    assert d.method(m).signature == str(d.method(m)) == f"{EXPRESPAM_ACTIVITY}->managedQuery{MANAGED_QUERY_DESC}"
    f = d.find_fields("Landroid/provider/ContactsContract$Contacts;", "CONTENT_URI")[0]
    assert str(d.field(f)) == "Landroid/provider/ContactsContract$Contacts;->CONTENT_URI:Landroid/net/Uri;"
    assert d.proto_descriptor(d._mid_h[4 * m + 1]) == MANAGED_QUERY_DESC


# ============================================================================= strings_matching


PATTERNS = [rb"content://", rb"http", rb"^L[a-z]+/", rb";$", rb"(?i)^get[A-Z]", rb"\bsms\b", rb"(?<=/)[A-Z]\w+;",
            rb"^$", rb"a.{0,3}b", rb"[^\x00-\x7f]", rb"\Aandroid\.", rb"x(?!.)"]


@pytest.mark.parametrize("name", ["samsapo", "cajino_baidu"])
@pytest.mark.parametrize("pattern", PATTERNS)
def test_strings_matching_equals_per_string_search(name: str, pattern: bytes) -> None:
    d = dex(name)
    rx = re.compile(pattern)
    expected = [i for i in range(d.string_count) if rx.search(string_bytes(d, i))]
    assert d.strings_matching(pattern) == expected
    assert d.strings_matching(rx) == expected


def test_strings_matching_with_unsorted_string_data() -> None:
    """String ids whose data offsets are not ascending (legal: only the values must sort)."""
    base = raw_dex("exprespam")
    d0 = dex("exprespam")
    off = d0.header["string_ids_off"]
    ids = list(struct.unpack_from(f"<{d0.string_count}I", base, off))
    ids[10], ids[150] = ids[150], ids[10]
    ids[20] = ids[21]  # two ids sharing one string_data_item
    d = DexFile(patched(base, off, f"<{len(ids)}I", *ids), "classes.dex")
    for pattern in (rb"http", rb"^L", rb"\.php$", rb"e"):
        rx = re.compile(pattern)
        assert d.strings_matching(pattern) == [i for i in range(d.string_count) if rx.search(string_bytes(d, i))]


def test_strings_matching_needs_bytes() -> None:
    with pytest.raises(TypeError):
        dex("exprespam").strings_matching("content://")  # type: ignore[arg-type]


def test_mutf8_strings() -> None:
    """Non-ASCII strings decode like androguard's MUTF-8 decoder and are found again."""
    d = dex("cajino_baidu")
    odd = [i for i in range(d.string_count) if not string_bytes(d, i).isascii()]
    assert len(odd) > 20
    for i in odd:
        assert d.find_string(d.string(i)) == i
    assert any(ord(c) > 0x7FF for i in odd for c in d.string(i))


# ============================================================================= decoding formats


def _all_opcode_stream(idx: dict[str, int], skip: range | tuple = ()) -> tuple[list[int], dict[int, tuple]]:
    """One instruction of every opcode (but ``skip``) with distinctive operands, then the three payloads.

    Returns the code units and {offset: (mnemonic, registers, index, literal, index2)} expected.
    """
    units: list[int] = []
    expect: dict[int, tuple] = {}
    fixups: list[tuple[int, str]] = []
    for op, (name, fmt, kind) in enumerate(OPCODES):
        if op in skip:
            continue
        at = len(units)
        i = {"string": idx["string"], "type": idx["type"], "field": idx["field"], "method": idx["method"],
             "proto": idx["proto"], "call_site": 0, "method_handle": 0}.get(kind or "", 0)
        if fmt != "31c":
            i &= 0xFFFF
        regs: tuple = ()
        index = literal = index2 = None
        if fmt == "10x":
            units += [op]
        elif fmt == "12x":
            units += [op | 0x2100]
            regs = (1, 2)
        elif fmt == "11n":
            units += [op | 0xE300]
            regs, literal = (3,), -2
        elif fmt == "11x":
            units += [op | 0x0400]
            regs = (4,)
        elif fmt == "10t":
            units += [op | 0xFF00]
            literal = at - 1
        elif fmt == "20t":
            units += [op, 2]
            literal = at + 2
        elif fmt == "22x":
            units += [op | 0x0500, 300]
            regs = (5, 300)
        elif fmt == "21t":
            units += [op | 0x0600, 0xFFFE]
            regs, literal = (6,), at - 2
        elif fmt == "21s":
            units += [op | 0x0700, 0xFFFE]
            regs, literal = (7,), -2
        elif fmt == "21h":
            units += [op | 0x0800, 0x8001]
            regs, literal = (8,), (-0x7FFF << 16) if op == 0x15 else (-0x7FFF << 48)
        elif fmt == "21c":
            units += [op | 0x0900, i]
            regs, index = (9,), i
        elif fmt == "23x":
            units += [op | 0x0100, 0x0302]
            regs = (1, 2, 3)
        elif fmt == "22b":
            units += [op | 0x0100, 0xFE02]
            regs, literal = (1, 2), -2
        elif fmt == "22t":
            units += [op | 0x2100, 3]
            regs, literal = (1, 2), at + 3
        elif fmt == "22s":
            units += [op | 0x2100, 0x8000]
            regs, literal = (1, 2), -0x8000
        elif fmt == "22c":
            units += [op | 0x2100, i]
            regs, index = (1, 2), i
        elif fmt == "30t":
            units += [op, 3, 0]
            literal = at + 3
        elif fmt == "32x":
            units += [op, 256, 257]
            regs = (256, 257)
        elif fmt == "31i":
            units += [op | 0x0100, 0xFFFF, 0x7FFF]
            regs, literal = (1,), 0x7FFFFFFF
        elif fmt == "31t":
            units += [op | 0x0100, 0, 0]
            regs = (1,)
            fixups.append((at, {0x26: "fill", 0x2B: "packed", 0x2C: "sparse"}[op]))
        elif fmt == "31c":
            units += [op | 0x0100, i & 0xFFFF, i >> 16]
            regs, index = (1,), i
        elif fmt == "35c":
            units += [op | 0x5600, i, 0x5432]
            regs, index = (2, 3, 4, 5, 6), i
        elif fmt == "3rc":
            units += [op | 0x0300, i, 10]
            regs, index = (10, 11, 12), i
        elif fmt == "45cc":
            units += [op | 0x2000, i, 0x0021, idx["proto"]]
            regs, index, index2 = (1, 2), i, idx["proto"]
        elif fmt == "4rcc":
            units += [op | 0x0200, i, 20, idx["proto"]]
            regs, index, index2 = (20, 21), i, idx["proto"]
        elif fmt == "51l":
            units += [op | 0x0100, 0x0001, 0, 0, 0x8000]
            regs, literal = (1,), -0x7FFFFFFFFFFFFFFF
        else:  # pragma: no cover
            raise AssertionError(fmt)
        expect[at] = (name, regs, index, literal, index2)
    if len(units) % 2:
        units.append(0)
    payload_at = {}
    payload_at["packed"] = len(units)
    units += [0x0100, 2, 0xFFFF, 0xFFFF, 4, 0, 6, 0]  # keys -1, 0
    payload_at["sparse"] = len(units)
    units += [0x0200, 2, 3, 0, 9, 0, 8, 0, 10, 0]  # keys 3, 9
    payload_at["fill"] = len(units)
    units += [0x0300, 2, 3, 0, 0x0071, idx["method"], 0xBEEF]  # an invoke-static lookalike as data
    for at, which in fixups:
        rel = payload_at[which] - at
        units[at + 1], units[at + 2] = rel & 0xFFFF, rel >> 16
        name, regs, *_ = expect[at]
        expect[at] = (name, regs, None, payload_at[which], None)
    expect[payload_at["packed"]] = ("packed-switch-payload", (), None, None, None)
    expect[payload_at["sparse"]] = ("sparse-switch-payload", (), None, None, None)
    expect[payload_at["fill"]] = ("fill-array-data-payload", (), None, None, None)
    return units, expect


def test_decode_every_format() -> None:
    ids = {"string": 0x12345, "type": 7, "field": 8, "method": 9, "proto": 3}
    units, expect = _all_opcode_stream(ids)
    insns = decode_insns(units, "synthetic")
    got = {i.offset: (i.mnemonic, i.registers, i.index, i.literal, i.index2) for i in insns}
    assert got == expect
    assert sum(i.length for i in insns) == len(units)
    by_name = {i.mnemonic: i for i in insns}
    assert by_name["packed-switch-payload"].payload == ((-1, 4), (0, 6))
    assert by_name["sparse-switch-payload"].payload == ((3, 8), (9, 10))
    assert by_name["fill-array-data-payload"].payload == (2, struct.pack("<3H", 0x71, 9, 0xBEEF))
    assert by_name["invoke-polymorphic"].text() == "invoke-polymorphic {v1, v2}, method@9, proto@3"
    assert by_name["invoke-static/range"].text() == "invoke-static/range {v10, v11, v12}, method@9"
    assert by_name["const-wide"].text() == "const-wide v1, -0x7fffffffffffffff"
    assert by_name["unused-3e"].length == 1 and by_name["unused-3e"].kind is None
    assert decode_insns(array("H", units).tobytes()) == insns
    assert len(PAYLOAD_NAMES) == 3 and len(OPCODES) == 256


@pytest.mark.parametrize("units", [[0x006E, 1], [0x0018, 0, 0, 0], [0x0100, 4, 0, 0], [0x0200], [0x0300, 1, 9, 0, 0],
                                   [0x00FA, 0, 0]])
def test_truncated_instructions(units: list[int]) -> None:
    with pytest.raises(DexError) as e:
        decode_insns(units, "m")
    assert str(e.value).startswith("m: ") and ("runs past the end" in str(e.value) or "truncated" in str(e.value))


@needs_dexdump
def test_every_opcode_in_a_real_method_body_decodes_like_dexdump(tmp_path: Path) -> None:
    """Write one instruction of each of the 256 opcodes into a long method of a real dex,
    check code() and refs() against dexdump (incl. formats the corpus lacks: 45cc, 4rcc...)."""
    d0 = dex("samsapo")
    base = bytearray(raw_dex("samsapo"))
    ids = {"string": 1, "type": 1, "field": 1, "method": 9, "proto": 0}
    # the dexdump build here still knows the odex "-quick" opcodes at 0xe3-0xea; the dex
    # format leaves 0xe3-0xf9 unused (1 unit), so leave them out of this comparison
    units, expect = _all_opcode_stream(ids, skip=range(0xE3, 0xFA))
    m = max(methods_with_code(d0), key=lambda m: d0.code_info(m).insns_size)
    info = d0.code_info(m)
    assert info.insns_size >= len(units) and not info.tries_size
    body = units + [0] * (info.insns_size - len(units))
    struct.pack_into(f"<{len(body)}H", base, info.code_off + 16, *body)
    d = DexFile(bytes(base), "samsapo")
    mine = d.code(m)
    assert {i.offset: (i.mnemonic, i.registers, i.index, i.literal, i.index2) for i in mine if i.offset in expect} == expect
    path = dex_file_for_dexdump("patched.dex", bytes(base), tmp_path)
    lines = dexdump_methods(path)[info.code_off]
    odex_names = {"return-void-no-barrier": "unused-73"}
    assert [(o, odex_names.get(mn, mn)) for o, mn, _ in lines] == [(i.offset, i.mnemonic) for i in mine]
    calls = d.refs(methods=[9])
    in_m = [r.offset for r in calls if r.method_idx == m]
    assert in_m == sorted(o for o, (name, _, index, _, _) in expect.items()
                          if name.startswith("invoke-") and "custom" not in name and index == 9)


def test_insn_text_without_dex() -> None:
    (i,) = decode_insns([0x0062, 0x0004])
    assert i == Insn(0, 0x62, "sget-object", (0,), 4, None, 2) and i.kind == "field"
    assert i.text() == "sget-object v0, field@4" == str(i)


# ============================================================================= duplicate classes


def _class_data_methods(data: bytes, off: int) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
    """(direct, virtual) ``(method_idx, access, code_off)`` of the class_data_item at ``off`` (an oracle)."""
    counts = []
    p = off
    for _ in range(4):
        v, p = _leb(data, p)
        counts.append(v)
    for _ in range(2 * (counts[0] + counts[1])):
        _, p = _leb(data, p)
    groups: list[list[tuple[int, int, int]]] = []
    for n in counts[2:]:
        group, idx = [], 0
        for _ in range(n):
            diff, p = _leb(data, p)
            acc, p = _leb(data, p)
            code, p = _leb(data, p)
            idx += diff
            group.append((idx, acc, code))
        groups.append(group)
    return groups[0], groups[1]


def _with_extra_class_def(base: bytes, d0: DexFile, copy_of: int, insert_at: int, new_class_data: bytes) -> bytes:
    """Move the class_data section to the end with one more item, and add a class_defs table
    with a duplicate of class_def ``copy_of`` using it (the map follows the move)."""
    h = d0.header
    cds = [bytearray(base[h["class_defs_off"] + 32 * i:h["class_defs_off"] + 32 * (i + 1)]) for i in range(d0.class_count)]
    lo, hi = d0._class_data_span()
    buf = bytearray(base)
    moved = len(buf)
    buf += base[lo:hi] + new_class_data
    buf += bytes(-len(buf) % 4)
    for c in cds:
        if struct.unpack_from("<I", c, 24)[0]:
            struct.pack_into("<I", c, 24, struct.unpack_from("<I", c, 24)[0] + moved - lo)
    dup = bytearray(cds[copy_of])
    struct.pack_into("<I", dup, 24, moved + hi - lo)
    struct.pack_into("<I", dup, 20, 0)  # no annotations
    cds.insert(insert_at, dup)
    table_off = len(buf)
    for c in cds:
        buf += c
    entries = [t for t, _, _ in d0.map_list()]
    k = entries.index(0x2000)
    count = d0.map_list()[k][1]
    struct.pack_into("<II", buf, h["map_off"] + 4 + 12 * k + 4, count + 1, moved)
    k = entries.index(0x0006)
    struct.pack_into("<II", buf, h["map_off"] + 4 + 12 * k + 4, len(cds), table_off)
    struct.pack_into("<II", buf, 0x60, len(cds), table_off)
    struct.pack_into("<I", buf, 0x20, len(buf))
    return bytes(buf)


@pytest.mark.parametrize("duplicate_first", [False, True])
def test_duplicate_class_first_definition_wins(duplicate_first: bool) -> None:
    """Two class_defs for one class with different bodies: code() and refs() follow the first."""
    base = raw_dex("exprespam")
    d0 = dex("exprespam")
    progress = f"{EXPRESPAM_ACTIVITY[:-1]}$Progress;"
    ci = d0.class_def_index(progress)
    direct, virtual = _class_data_methods(base, d0._cd[8 * ci + 6])
    with_code = [(m, acc, c) for m, acc, c in direct + virtual if c]
    # the duplicate's bodies: every method of Progress gets the body of the first one (<init> or so)
    shared = with_code[0][2]
    item = uleb(0) + uleb(0) + uleb(len(direct)) + uleb(len(virtual))
    for group in (direct, virtual):
        prev = 0
        for m, acc, c in group:
            item += uleb(m - prev) + uleb(acc) + uleb(shared if c else 0)
            prev = m
    data = _with_extra_class_def(base, d0, ci, ci if duplicate_first else ci + 1, item)
    d = DexFile(data, "dup.dex")
    assert validate(d) == ()
    assert [c.name for c in d.class_defs()].count(progress) == 2
    get_address = d.find_method(progress, "getAddress", "()Ljava/util/ArrayList;")
    managed = d.find_methods(None, "managedQuery")
    if duplicate_first:
        assert d.method_code_offset(get_address) == shared
        assert d.code(get_address) == d0.code(with_code[0][0])
        assert d.refs(methods=managed) == []
        assert methods_with_code(d) == methods_with_code(d0)
    else:
        assert d.method_code_offset(get_address) == d0.method_code_offset(get_address)
        assert d.code(get_address) == d0.code(get_address)
        assert d.refs(methods=managed) == d0.refs(methods=managed)


# ============================================================================= a large real dex


def test_projectspy_contact_reader() -> None:
    """ProjectSpy (labels.tsv): ContactUtils.getRawContacts queries the contacts provider."""
    d = DexFile(apk_member(PROJECTSPY_APK, "classes2.dex"), "classes2.dex")
    query = d.find_methods("Landroid/content/ContentResolver;", "query")
    uris = d.find_fields(None, "CONTENT_URI")
    contacts = [f for f in uris if d.field(f).class_name.startswith("Landroid/provider/ContactsContract$")]
    assert len(query) == 1 and len(contacts) == 2
    got = d.refs(methods=query, fields=contacts)
    readers = {r.method_idx for r in got if r.kind == "field"} & {r.method_idx for r in got if r.kind == "method"}
    assert "Lcom/android/googleservices/MyCode/Services/ContactUtils;->getRawContacts" in {
        f"{d.method(m).class_name}->{d.method(m).name}" for m in readers}
    assert got == full_decode_refs(d, {"method": set(query), "field": set(contacts)})


def test_large_dex_refs_equal_full_decode() -> None:
    """ProjectSpy's 7 MB classes.dex (also classes.dex of the benchmark APK)."""
    d = DexFile(apk_member(PROJECTSPY_APK), "classes.dex")
    assert d.method_count > 40000
    want = {
        "method": set(d.find_methods("Landroid/content/ContentResolver;", "query") + d.find_methods("Landroid/net/Uri;")
                      + d.find_methods("Ljava/net/HttpURLConnection;")),
        "string": set(d.strings_matching(rb"^https?://")),
        "type": {t for t in (d._find_type("Lorg/json/JSONObject;"), d._find_type("Ljava/net/URL;")) if t is not None},
    }
    assert all(want.values())
    got = d.refs(methods=want["method"], strings=want["string"], types=want["type"])
    assert len(got) > 50
    assert got == full_decode_refs(d, want)


# ============================================================================= the benchmark APK's layouts


def _leb(data: bytes, p: int, signed: bool = False) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = data[p]
        p += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            break
    if signed and b & 0x40:
        value -= 1 << shift
    return value, p


def walk_code_items(data: bytes) -> list[int]:
    """Offsets of every code_item, walking the map's code section item by item (an oracle
    independent of the class_data items the index is built from)."""
    map_off = struct.unpack_from("<I", data, 0x34)[0]
    (count,) = struct.unpack_from("<I", data, map_off)
    sections = {struct.unpack_from("<H", data, map_off + 4 + 12 * i)[0]: struct.unpack_from("<II", data, map_off + 8 + 12 * i)
                for i in range(count)}
    n, off = sections[0x2001]
    out = []
    for _ in range(n):
        off = (off + 3) & ~3
        out.append(off)
        _, _, _, tries, _, size = struct.unpack_from("<4HII", data, off)
        p = off + 16 + 2 * size
        if tries:
            p += 2 * (size & 1) + 8 * tries
            handlers, p = _leb(data, p)
            for _ in range(handlers):
                catches, p = _leb(data, p, True)
                for _ in range(2 * abs(catches) + (catches <= 0)):
                    _, p = _leb(data, p)
        off = p
    return out


def test_benchmark_apk_layouts() -> None:
    """mega-multidex.apk: 8 dex files from different tool chains, with their sections in
    different orders (class_data before or after code, strings first or last)."""
    path = SHARED / "bench" / "mega-multidex.apk"
    if not path.is_file():
        pytest.skip(f"benchmark APK not present at {path}")
    orders = set()
    with zipfile.ZipFile(path) as z:
        names = sorted(n for n in z.namelist() if re.fullmatch(r"classes\d*\.dex", n))
        assert len(names) == 8
        for name in names:
            data = z.read(name)
            d = DexFile(data, name)
            assert {d.method_code_offset(m) for m in methods_with_code(d)} == set(walk_code_items(data))
            orders.add(tuple(sorted((0x2000, 0x2001, 0x2002), key=lambda t, data=data: _section_off(data, t))))
            if name in ("classes2.dex", "classes5.dex"):
                rng = random.Random(name)
                want = {"method": set(rng.sample(range(d.method_count), 300)),
                        "field": set(rng.sample(range(d.field_count), 100)),
                        "string": set(rng.sample(range(d.string_count), 100))}
                got = d.refs(methods=want["method"], fields=want["field"], strings=want["string"])
                assert got == full_decode_refs(d, want) and got
    assert len(orders) >= 3


def _section_off(data: bytes, type_code: int) -> int:
    map_off = struct.unpack_from("<I", data, 0x34)[0]
    (count,) = struct.unpack_from("<I", data, map_off)
    for i in range(count):
        if struct.unpack_from("<H", data, map_off + 4 + 12 * i)[0] == type_code:
            return struct.unpack_from("<I", data, map_off + 12 + 12 * i)[0]
    raise AssertionError(type_code)
