"""A lean reader over the tables of a dex file, built for the audit's hot path.

androguard's ``DEX()`` parses every method of every dex before it answers anything;
on a large multidex app that costs minutes and gigabytes. The audit only needs a few
indices (the method id of ``ContentResolver.query``, the field id of a
``ContactsContract`` ``CONTENT_URI``, the string ids that hold ``content://`` URIs),
the instructions that use them, and the decoded bodies of the few methods involved.

:class:`DexFile` answers exactly that, in pure Python over the raw bytes:

* the constructor checks the header and that every table lies inside the file, and
  parses nothing else;
* the id tables are zero-copy ``memoryview`` casts, searched by bisection (the dex
  format keeps them sorted); strings are decoded (MUTF-8) one at a time, on demand;
* :meth:`DexFile.refs` builds one compact index (method <-> code_item, from the
  class_data items, tokenised by a regex and decoded with big-integer lane arithmetic),
  finds candidate instruction sites with one regex pass over the code region viewed as
  16-bit code units (target index, preceded by an opcode of the right kind), then
  confirms each candidate by walking the instruction lengths of the one method that
  holds it, so a match inside an operand or a switch/array payload is never reported;
* :meth:`DexFile.code` decodes one method on demand, with a full Dalvik opcode table
  (formats 10x..51l, 45cc/4rcc, and the three payload pseudo-instructions).

Malformed input raises :class:`DexError` with a one-line message naming the dex; it
never leaks ``IndexError`` or ``struct.error``. Only the standard library is used.

Semantics worth knowing:

* a method id with bodies in several class_defs (duplicate classes) gets the body of
  the first class_def; :meth:`DexFile.refs` ignores the shadowed bodies, as ART does;
* ``refs`` is exact for every dex ART would load (code_items 4-aligned, not
  overlapping); a body that cannot be walked is left out and named in
  :attr:`DexFile.skipped`;
* dex 035-040 are read alike; a 041 file is read when it holds one dex (or is the
  first entry of a container); big-endian dex files are refused;
* opcodes the format leaves unused decode as one-unit ``unused-XX``, as dexdump shows.
"""

from __future__ import annotations

import functools
import gc
import re
import struct
import sys
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import accumulate, chain, islice, repeat
from operator import lt
from permaudit.errors import DexError
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypeAlias, cast

__all__ = [
    "FORMAT_UNITS",
    "OPCODES",
    "PAYLOAD_NAMES",
    "ClassDef",
    "CodeInfo",
    "DexError",
    "DexFile",
    "FieldRef",
    "Insn",
    "MethodRef",
    "Ref",
    "TryBlock",
    "decode_insns",
    "opcode_info",
]

NO_INDEX = 0xFFFFFFFF
_LITTLE = sys.byteorder == "little"

if TYPE_CHECKING:  # typeshed has no stubs for re._constants / re._parser, only for these old aliases of them
    import sre_constants as C
    import sre_parse as P
else:
    try:  # the regex parser, to tell anchors from look-alike characters in a pattern
        from re import _constants as C
        from re import _parser as P
    except ImportError:  # pragma: no cover
        C = P = None

_Words: TypeAlias = "memoryview[int] | array[int]"
"""A table of 16- or 32-bit words as :func:`_cast` returns it."""
_Payload: TypeAlias = "tuple[tuple[int, int], ...] | tuple[int, bytes]"
"""switch payloads: ``((key, relative target), ...)``; fill-array-data: ``(element_width, raw bytes)``."""
_ReNode: TypeAlias = "tuple[int, Any]"
"""``(opcode, argument)`` in a parsed regex; the argument's shape depends on the opcode (a tagged
union mypy cannot narrow on an int opcode), hence Any, confined to :func:`_assertions`."""
_ClassData: TypeAlias = (
    "tuple[list[tuple[int, int]], list[tuple[int, int]], list[tuple[int, int, int]], list[tuple[int, int, int]]]"
)


# --------------------------------------------------------------------------- opcodes

# Length in 16-bit code units of each instruction format.
FORMAT_UNITS: dict[str, int] = {
    "10x": 1, "12x": 1, "11n": 1, "11x": 1, "10t": 1,
    "20t": 2, "20bc": 2, "22x": 2, "21t": 2, "21s": 2, "21h": 2, "21c": 2,
    "23x": 2, "22b": 2, "22t": 2, "22s": 2, "22c": 2,
    "30t": 3, "32x": 3, "31i": 3, "31t": 3, "31c": 3, "35c": 3, "3rc": 3,
    "45cc": 4, "4rcc": 4,
    "51l": 5,
}


def _build_opcodes() -> list[tuple[str, str, str | None]]:
    ops: list[tuple[str, str, str | None]] = [(f"unused-{i:02x}", "10x", None) for i in range(256)]

    def put(op: int, name: str, fmt: str, kind: str | None = None) -> None:
        ops[op] = (name, fmt, kind)

    table = """
    00 nop 10x
    01 move 12x
    02 move/from16 22x
    03 move/16 32x
    04 move-wide 12x
    05 move-wide/from16 22x
    06 move-wide/16 32x
    07 move-object 12x
    08 move-object/from16 22x
    09 move-object/16 32x
    0a move-result 11x
    0b move-result-wide 11x
    0c move-result-object 11x
    0d move-exception 11x
    0e return-void 10x
    0f return 11x
    10 return-wide 11x
    11 return-object 11x
    12 const/4 11n
    13 const/16 21s
    14 const 31i
    15 const/high16 21h
    16 const-wide/16 21s
    17 const-wide/32 31i
    18 const-wide 51l
    19 const-wide/high16 21h
    1a const-string 21c string
    1b const-string/jumbo 31c string
    1c const-class 21c type
    1d monitor-enter 11x
    1e monitor-exit 11x
    1f check-cast 21c type
    20 instance-of 22c type
    21 array-length 12x
    22 new-instance 21c type
    23 new-array 22c type
    24 filled-new-array 35c type
    25 filled-new-array/range 3rc type
    26 fill-array-data 31t
    27 throw 11x
    28 goto 10t
    29 goto/16 20t
    2a goto/32 30t
    2b packed-switch 31t
    2c sparse-switch 31t
    fa invoke-polymorphic 45cc method
    fb invoke-polymorphic/range 4rcc method
    fc invoke-custom 35c call_site
    fd invoke-custom/range 3rc call_site
    fe const-method-handle 21c method_handle
    ff const-method-type 21c proto
    """
    for line in table.strip().splitlines():
        parts = line.split()
        put(int(parts[0], 16), parts[1], parts[2], parts[3] if len(parts) > 3 else None)
    for i, n in enumerate(("cmpl-float", "cmpg-float", "cmpl-double", "cmpg-double", "cmp-long")):
        put(0x2D + i, n, "23x")
    for i, n in enumerate(("eq", "ne", "lt", "ge", "gt", "le")):
        put(0x32 + i, f"if-{n}", "22t")
        put(0x38 + i, f"if-{n}z", "21t")
    sfx = ("", "-wide", "-object", "-boolean", "-byte", "-char", "-short")
    for i, s in enumerate(sfx):
        put(0x44 + i, f"aget{s}", "23x")
        put(0x4B + i, f"aput{s}", "23x")
        put(0x52 + i, f"iget{s}", "22c", "field")
        put(0x59 + i, f"iput{s}", "22c", "field")
        put(0x60 + i, f"sget{s}", "21c", "field")
        put(0x67 + i, f"sput{s}", "21c", "field")
    for i, n in enumerate(("virtual", "super", "direct", "static", "interface")):
        put(0x6E + i, f"invoke-{n}", "35c", "method")
        put(0x74 + i, f"invoke-{n}/range", "3rc", "method")
    unops = (
        "neg-int", "not-int", "neg-long", "not-long", "neg-float", "neg-double",
        "int-to-long", "int-to-float", "int-to-double", "long-to-int", "long-to-float",
        "long-to-double", "float-to-int", "float-to-long", "float-to-double",
        "double-to-int", "double-to-long", "double-to-float", "int-to-byte",
        "int-to-char", "int-to-short",
    )
    for i, n in enumerate(unops):
        put(0x7B + i, n, "12x")
    binops = (
        "add-int", "sub-int", "mul-int", "div-int", "rem-int", "and-int", "or-int",
        "xor-int", "shl-int", "shr-int", "ushr-int", "add-long", "sub-long", "mul-long",
        "div-long", "rem-long", "and-long", "or-long", "xor-long", "shl-long", "shr-long",
        "ushr-long", "add-float", "sub-float", "mul-float", "div-float", "rem-float",
        "add-double", "sub-double", "mul-double", "div-double", "rem-double",
    )
    for i, n in enumerate(binops):
        put(0x90 + i, n, "23x")
        put(0xB0 + i, f"{n}/2addr", "12x")
    lit16 = ("add-int", "rsub-int", "mul-int", "div-int", "rem-int", "and-int", "or-int", "xor-int")
    for i, n in enumerate(lit16):
        put(0xD0 + i, n if n == "rsub-int" else f"{n}/lit16", "22s")
    lit8 = lit16 + ("shl-int", "shr-int", "ushr-int")
    for i, n in enumerate(lit8):
        put(0xD8 + i, f"{n}/lit8", "22b")
    return ops


OPCODES: list[tuple[str, str, str | None]] = _build_opcodes()
"""``OPCODES[op] = (mnemonic, format, index kind or None)`` for every opcode byte.

Opcodes the format leaves unused decode as ``unused-XX`` (format 10x, one code unit),
as dexdump shows them. Index kinds: ``string``, ``type``, ``field``, ``method``,
``proto``, ``call_site``, ``method_handle``. Format 20bc (``throw-verification-error``)
only exists in optimised dex and is listed in :data:`FORMAT_UNITS` for completeness.
"""

PAYLOAD_NAMES = {0x0100: "packed-switch-payload", 0x0200: "sparse-switch-payload", 0x0300: "fill-array-data-payload"}

_KIND_OPS: dict[str, tuple[int, ...]] = {}
for _op, (_n, _f, _k) in enumerate(OPCODES):
    if _k in ("string", "type", "field", "method"):
        _KIND_OPS.setdefault(_k, ())
        _KIND_OPS[_k] += (_op,)
_OP_KIND: list[str | None] = [None] * 256
for _k, _ops in _KIND_OPS.items():
    for _op in _ops:
        _OP_KIND[_op] = _k

_FMT_IDS = {f: i for i, f in enumerate(FORMAT_UNITS)}
_OP_FMT = bytes(_FMT_IDS[f] for _, f, _ in OPCODES)
_OP_NAME = tuple(n for n, _, _ in OPCODES)
_FMT_LEN = tuple(FORMAT_UNITS.values())
_OP_LEN = bytes(FORMAT_UNITS[f] for _, f, _ in OPCODES)
# Length in code units keyed by the whole first code unit (opcode in the low byte);
# 0 marks the three payload identifiers whose length must be computed.
_unit_len = bytearray(_OP_LEN * 256)
for _ident in PAYLOAD_NAMES:
    _unit_len[_ident] = 0
_UNIT_LEN = bytes(_unit_len)
del _unit_len

(F10X, F12X, F11N, F11X, F10T, F20T, F20BC, F22X, F21T, F21S, F21H, F21C, F23X, F22B, F22T,
 F22S, F22C, F30T, F32X, F31I, F31T, F31C, F35C, F3RC, F45CC, F4RCC, F51L) = range(len(FORMAT_UNITS))


def opcode_info(op: int) -> tuple[str, str, str | None]:
    """``(mnemonic, format, index kind)`` of an opcode byte."""
    return OPCODES[op & 0xFF]


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, order=True)
class MethodRef:
    """A method id: ``Lcom/x/Y;``, ``name`` and ``(Landroid/net/Uri;)V``-style descriptor."""

    class_name: str
    name: str
    descriptor: str

    @property
    def signature(self) -> str:
        """``Lcom/x/Y;->name(...)R`` as smali writes it."""
        return f"{self.class_name}->{self.name}{self.descriptor}"

    def __str__(self) -> str:
        return self.signature


@dataclass(frozen=True, order=True)
class FieldRef:
    """A field id: ``Lcom/x/Y;``, ``name`` and type descriptor."""

    class_name: str
    name: str
    type: str

    @property
    def signature(self) -> str:
        """``Lcom/x/Y;->name:Ltype;`` as smali writes it."""
        return f"{self.class_name}->{self.name}:{self.type}"

    def __str__(self) -> str:
        return self.signature


@dataclass(frozen=True, slots=True)
class Insn:
    """One decoded instruction (or payload pseudo-instruction) of a method body."""

    offset: int
    """In 16-bit code units from the start of the method's insns, as dexdump and smali show it."""
    opcode: int
    """The opcode byte; for payloads the identifier 0x100, 0x200 or 0x300."""
    mnemonic: str
    registers: tuple[int, ...]
    """vA, vB, ... in order; for invoke/filled-new-array the argument registers (range expanded)."""
    index: int | None
    """string/type/field/method/proto/call-site/method-handle index operand, if any."""
    literal: int | None
    """Constant value; absolute branch target (code units) for goto/if-*; absolute payload
    offset for packed-switch, sparse-switch and fill-array-data; verification kind for 20bc."""
    length: int = 1
    """Size in code units."""
    index2: int | None = None
    """Second index: the proto of invoke-polymorphic(/range)."""
    payload: _Payload | None = None
    """packed/sparse-switch-payload: ``((key, relative target), ...)``;
    fill-array-data-payload: ``(element_width, raw bytes)``."""

    @property
    def kind(self) -> str | None:
        """What :attr:`index` refers to (``string``, ``type``, ``field``, ``method``, ...)."""
        return OPCODES[self.opcode][2] if self.opcode < 256 else None

    def text(self, dex: DexFile | None = None) -> str:
        """Smali-like text, e.g. ``invoke-virtual {v0, v1}, Lx/Y;->m(I)V``.

        With ``dex`` the index operand is resolved to its string, type, field or method;
        without it (or when it cannot be resolved) it shows as ``kind@N``.
        """
        if self.opcode >= 256:
            if self.opcode == 0x0300 and self.payload:
                return f"{self.mnemonic} (width {self.payload[0]}, {len(self.payload[1])} bytes)"
            return f"{self.mnemonic} ({len(self.payload or ())} entries)"
        _, fmt, kind = OPCODES[self.opcode]
        parts: list[str] = []
        if fmt in ("35c", "3rc", "45cc", "4rcc"):
            parts.append("{" + ", ".join(f"v{r}" for r in self.registers) + "}")
        else:
            parts.extend(f"v{r}" for r in self.registers)
        if self.index is not None:
            parts.append(_render_index(dex, kind or "kind", self.index, fmt))
        if self.index2 is not None:
            parts.append(_render_index(dex, "proto", self.index2, fmt))
        if self.literal is not None:
            if fmt in ("10t", "20t", "30t", "21t", "22t", "31t"):
                parts.append(f":{self.literal:04x}")
            elif fmt == "20bc":
                parts.append(f"#{self.literal}")
            else:
                parts.append(f"{'-' if self.literal < 0 else ''}0x{abs(self.literal):x}")
        return self.mnemonic + (" " + ", ".join(parts) if parts else "")

    def __str__(self) -> str:
        return self.text()


def _render_index(dex: DexFile | None, kind: str, idx: int, fmt: str) -> str:
    if dex is not None:
        try:
            if kind == "string":
                return _quote(dex.string(idx))
            if kind == "type":
                return dex.type_name(idx)
            if kind == "field":
                return dex.field(idx).signature
            if kind == "method":
                return dex.method(idx).signature
            if kind == "proto":
                return dex.proto_descriptor(idx)
        except DexError:
            pass
    return f"{kind}@{idx}"


def _quote(s: str) -> str:
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif o < 0x20 or 0x7F <= o < 0xA0 or 0xD800 <= o < 0xE000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


@dataclass(frozen=True, order=True)
class Ref:
    """An instruction that uses a target index: the method holding it and its offset.

    Equality, hashing and order use ``(method_idx, offset)`` only; ``kind``, ``index``
    and ``opcode`` tell which target matched.
    """

    method_idx: int
    offset: int
    """In code units from the start of the method's insns."""
    kind: str = field(default="", compare=False)
    index: int = field(default=-1, compare=False)
    opcode: int = field(default=-1, compare=False)


class ClassDef(NamedTuple):
    """One ``class_def_item``; unpacks as the 5-tuple ``(name, superclass, interfaces,
    access_flags, source_file)``."""

    name: str
    superclass: str | None
    interfaces: tuple[str, ...]
    access_flags: int
    source_file: str | None


class CodeInfo(NamedTuple):
    """The header of a ``code_item``."""

    code_off: int
    registers_size: int
    ins_size: int
    outs_size: int
    tries_size: int
    debug_info_off: int
    insns_size: int
    """In code units."""


class TryBlock(NamedTuple):
    """One ``try_item`` with its handlers: ``((exception type or None for catch-all, address), ...)``."""

    start: int
    count: int  # type: ignore[assignment]  # a public field name that shadows tuple.count()
    handlers: tuple[tuple[str | None, int], ...]


class _Count(int):
    """An int that can also be called, so ``dex.string_count`` and ``dex.string_count()`` agree."""

    def __call__(self) -> int:
        return int(self)


# --------------------------------------------------------------------------- helpers

_HEADER_FIELDS = (
    "file_size", "header_size", "endian_tag", "link_size", "link_off", "map_off",
    "string_ids_size", "string_ids_off", "type_ids_size", "type_ids_off",
    "proto_ids_size", "proto_ids_off", "field_ids_size", "field_ids_off",
    "method_ids_size", "method_ids_off", "class_defs_size", "class_defs_off",
    "data_size", "data_off",
)
_CODE_HEADER = struct.Struct("<4HII")
_ULEB_TOKEN = re.compile(rb"[\x80-\xff]*[\x00-\x7f]")
_ANCHORS = re.compile(rb"\^|\$|\\[AZbB]|\(\?<?[=!]")
_EVEN_BYTES = bytes(range(0, 256, 2))
# Bytes 0xD8-0xDF would make surrogate code units when the code is decoded as UTF-16;
# fold them into 0xD7 for the candidate scan (every candidate is re-checked on the raw bytes).
_NO_SURROGATES = bytes(b if not 0xD8 <= b <= 0xDF else 0xD7 for b in range(256))


def _fold(unit: int) -> int:
    return _NO_SURROGATES[unit & 0xFF] | (_NO_SURROGATES[unit >> 8] << 8)


def _uleb_value(tok: bytes) -> int:
    if len(tok) == 1:
        return tok[0]
    v = int.from_bytes(tok, "little")
    return (v & 0x7F) | ((v >> 1) & 0x3F80) | ((v >> 2) & 0x1FC000) | ((v >> 3) & 0xFE00000) | ((v >> 4) & 0xF0000000)


def _uleb_values(toks: list[bytes]) -> list[int]:
    joined = b"".join(toks)
    if len(joined) == len(toks):
        return list(joined)
    return [t[0] if len(t) == 1 else _uleb_value(t) for t in toks]


_LANE_MASKS = (b"\x7f\x00\x00\x00", b"\x80\x3f\x00\x00", b"\x00\xc0\x1f\x00", b"\x00\x00\xe0\x0f")


def _uleb_many(toks: list[bytes]) -> list[int] | array[int]:
    """Decode many ULEB128 tokens at once (big-integer lane arithmetic instead of a loop)."""
    n = len(toks)
    joined = b"".join(toks)
    if len(joined) == n:
        return list(joined)
    longest = max(map(len, toks))
    if longest > 5:
        raise ValueError("over-long LEB128")
    if longest == 5:
        return [_uleb_value(t) for t in toks]
    v = int.from_bytes(b"".join(map(bytes.ljust, toks, repeat(4), repeat(b"\0"))), "little")
    m0, m1, m2, m3 = (int.from_bytes(m * n, "little") for m in _LANE_MASKS)
    r = (v & m0) | ((v >> 1) & m1) | ((v >> 2) & m2) | ((v >> 3) & m3)
    out = array("I", r.to_bytes(4 * n, "little"))
    if not _LITTLE:  # pragma: no cover
        out.byteswap()
    return out


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while building big flat tables (nothing built there forms cycles)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _s8(x: int) -> int:
    return (x ^ 0x80) - 0x80


def _s16(x: int) -> int:
    return (x ^ 0x8000) - 0x8000


def _s32(x: int) -> int:
    return (x ^ 0x80000000) - 0x80000000


def _s64(x: int) -> int:
    return (x ^ 0x8000000000000000) - 0x8000000000000000


def _cast(buf: bytes | memoryview, fmt: Literal["H", "I"]) -> _Words:
    """A native-order view of little-endian data (copied and swapped on big-endian hosts)."""
    mv = memoryview(buf)
    if _LITTLE:
        return mv.cast(fmt)
    arr = array(fmt, mv.tobytes())  # pragma: no cover - big-endian hosts only
    arr.byteswap()  # pragma: no cover
    return arr  # pragma: no cover


def _mutf8(raw: bytes) -> str:
    """Decode MUTF-8 (Java's modified UTF-8: NUL as C0 80, supplementary chars as surrogate pairs)."""
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        pass
    try:
        s = raw.replace(b"\xc0\x80", b"\x00").decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return _mutf8_lenient(raw)
    if any(0xD800 <= ord(c) <= 0xDFFF for c in s):
        # join surrogate pairs into one code point; lone surrogates stay as they are
        s = s.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    return s


def _mutf8_lenient(raw: bytes) -> str:
    units: list[int] = []
    i, n = 0, len(raw)
    while i < n:
        b = raw[i]
        if b < 0x80:
            units.append(b)
            i += 1
        elif b & 0xE0 == 0xC0 and i + 1 < n and raw[i + 1] & 0xC0 == 0x80:
            units.append(((b & 0x1F) << 6) | (raw[i + 1] & 0x3F))
            i += 2
        elif b & 0xF0 == 0xE0 and i + 2 < n and raw[i + 1] & 0xC0 == 0x80 and raw[i + 2] & 0xC0 == 0x80:
            units.append(((b & 0x0F) << 12) | ((raw[i + 1] & 0x3F) << 6) | (raw[i + 2] & 0x3F))
            i += 3
        else:
            units.append(0xFFFD)
            i += 1
    data = array("H", units).tobytes()
    return data.decode("utf-16-le" if _LITTLE else "utf-16-be", "surrogatepass")


def _mutf8_encode(s: str) -> bytes:
    """Encode text as MUTF-8 (the inverse of :func:`_mutf8` for well-formed strings)."""
    if s.isascii() and "\0" not in s:
        return s.encode("ascii")
    if any(ord(c) > 0xFFFF for c in s):
        s = s.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
        s = "".join(c if ord(c) <= 0xFFFF else
                    chr(0xD800 + ((ord(c) - 0x10000) >> 10)) + chr(0xDC00 + ((ord(c) - 0x10000) & 0x3FF))
                    for c in s)
    return s.encode("utf-8", "surrogatepass").replace(b"\x00", b"\xc0\x80")


_INLINE_FLAGS = re.compile(rb"^\(\?[aiLmsux]+\)")


def _assertions(rx: re.Pattern[bytes]) -> tuple[bool, bool, bool]:
    """(leading ^/\\A, trailing $/\\Z, any other assertion) of a compiled bytes pattern."""
    if C is None or P is None:  # pragma: no cover - private module layout changed
        return False, False, bool(_ANCHORS.search(rx.pattern))
    try:
        # typeshed types parse() for str only; the parser takes bytes patterns just as well
        tree = P.parse(rx.pattern, rx.flags & ~re.DEBUG)  # type: ignore[arg-type]
    except (re.error, TypeError, AttributeError):  # pragma: no cover
        return False, False, bool(_ANCHORS.search(rx.pattern))
    items: list[_ReNode] = list(tree.data)
    lead = bool(items) and items[0][0] is C.AT and items[0][1] in (C.AT_BEGINNING, C.AT_BEGINNING_STRING)
    trail = (len(items) > lead and items[-1][0] is C.AT and items[-1][1] in (C.AT_END, C.AT_END_STRING))
    body = items[int(lead):len(items) - int(trail)]

    def other(seq: Iterable[_ReNode]) -> bool:
        for op, av in seq:
            if op in (C.AT, C.ASSERT, C.ASSERT_NOT):
                return True
            if op is C.SUBPATTERN and other(av[-1]):
                return True
            if op is C.BRANCH and any(other(b) for b in av[1]):
                return True
            if op in (C.MAX_REPEAT, C.MIN_REPEAT, getattr(C, "POSSESSIVE_REPEAT", None)) and other(av[2]):
                return True
            if op is getattr(C, "ATOMIC_GROUP", None) and other(av):
                return True
            if op is C.GROUPREF_EXISTS and (other(av[1]) or (av[2] is not None and other(av[2]))):
                return True
        return False

    return lead, trail, other(body)


def _without_edge_anchors(rx: re.Pattern[bytes]) -> re.Pattern[bytes] | None:
    """``rx`` without its leading ``^``/``\\A`` and trailing ``$``/``\\Z``: it matches wherever
    ``rx`` does, so it can find candidates to confirm; None when other assertions remain."""
    lead, trail, other = _assertions(rx)
    if other:
        return None
    pat = rx.pattern
    m = _INLINE_FLAGS.match(pat)
    prefix, core = (pat[:m.end()], pat[m.end():]) if m else (b"", pat)
    if lead:
        if core.startswith(b"^"):
            core = core[1:]
        elif core.startswith(b"\\A"):
            core = core[2:]
        else:
            return None
    if trail:
        if core.endswith(b"\\Z"):
            core = core[:-2]
        elif core.endswith(b"$"):
            core = core[:-1]
        else:  # pragma: no cover - the parser saw an anchor the text does not end with
            return None
    try:
        relaxed = re.compile(prefix + core, rx.flags)
    except re.error:
        return None
    return relaxed if _assertions(relaxed) == (False, False, False) else None


def _utf16_key(s: str) -> bytes:
    """Sort key giving the dex string order (UTF-16 code unit order)."""
    return s.encode("utf-16-be", "surrogatepass")


@functools.lru_cache(maxsize=16)
def _opcode_units_class(kinds: tuple[str, ...]) -> str:
    """A regex class of every code unit whose low byte is an opcode using one of ``kinds``."""
    return _charclass(op | (r << 8) for kind in kinds for op in _KIND_OPS[kind] for r in range(256))


def _charclass(codepoints: Iterable[int]) -> str:
    cps = sorted(set(codepoints))
    out: list[str] = []
    i = 0
    while i < len(cps):
        j = i
        while j + 1 < len(cps) and cps[j + 1] == cps[j] + 1:
            j += 1
        out.append(f"\\u{cps[i]:04x}" if i == j else f"\\u{cps[i]:04x}-\\u{cps[j]:04x}")
        i = j + 1
    return "[" + "".join(out) + "]"


def _payload_len(H: Sequence[int], i: int, end: int, where: str, start: int = 0) -> int:
    """Length in code units of the payload at unit ``i`` (``start`` is the body's first unit)."""
    u = H[i]
    if i + 2 > end:
        raise DexError(f"{where}: payload at code unit {i - start} is truncated")
    size = H[i + 1]
    if u == 0x0100:
        n = 4 + 2 * size
    elif u == 0x0200:
        n = 2 + 4 * size
    else:
        if i + 4 > end:
            raise DexError(f"{where}: fill-array-data payload at code unit {i - start} is truncated")
        count = H[i + 2] | (H[i + 3] << 16)
        n = 4 + (size * count + 1) // 2
    if i + n > end:
        raise DexError(f"{where}: payload at code unit {i - start} runs past the end of the code")
    return n

def _decode(H: Sequence[int], s: int, e: int, where: str) -> list[Insn]:
    """Decode code units ``H[s:e]`` linearly (branches ordered by how common each format is)."""
    out: list[Insn] = []
    append = out.append
    op_fmt, op_name, fmt_len = _OP_FMT, _OP_NAME, _FMT_LEN
    i = s
    while i < e:
        u = H[i]
        op = u & 0xFF
        off = i - s
        if not op and u in PAYLOAD_NAMES:
            n = _payload_len(H, i, e, where, s)
            append(Insn(off, u, PAYLOAD_NAMES[u], (), None, None, n, None, _payload(H, i, n)))
            i += n
            continue
        f = op_fmt[op]
        n = fmt_len[f]
        if i + n > e:
            raise DexError(f"{where}: {op_name[op]} at code unit {off} runs past the end of the code")
        hi = u >> 8
        if f == F35C:
            w = H[i + 2]
            append(Insn(off, op, op_name[op], (w & 15, (w >> 4) & 15, (w >> 8) & 15, w >> 12, hi & 15)[: hi >> 4],
                        H[i + 1], None, 3))
        elif f == F22C:
            append(Insn(off, op, op_name[op], (hi & 15, hi >> 4), H[i + 1], None, 2))
        elif f == F11X:
            append(Insn(off, op, op_name[op], (hi,), None, None, 1))
        elif f == F21C:
            append(Insn(off, op, op_name[op], (hi,), H[i + 1], None, 2))
        elif f == F11N:
            append(Insn(off, op, op_name[op], (hi & 15,), None, ((hi >> 4) ^ 8) - 8, 1))
        elif f == F21T:
            append(Insn(off, op, op_name[op], (hi,), None, off + _s16(H[i + 1]), 2))
        elif f == F22X:
            append(Insn(off, op, op_name[op], (hi, H[i + 1]), None, None, 2))
        elif f == F10T:
            append(Insn(off, op, op_name[op], (), None, off + _s8(hi), 1))
        elif f == F10X:
            append(Insn(off, op, op_name[op], (), None, None, 1))
        elif f == F12X:
            append(Insn(off, op, op_name[op], (hi & 15, hi >> 4), None, None, 1))
        elif f == F22T:
            append(Insn(off, op, op_name[op], (hi & 15, hi >> 4), None, off + _s16(H[i + 1]), 2))
        elif f == F23X:
            w = H[i + 1]
            append(Insn(off, op, op_name[op], (hi, w & 0xFF, w >> 8), None, None, 2))
        elif f == F21S:
            append(Insn(off, op, op_name[op], (hi,), None, _s16(H[i + 1]), 2))
        elif f == F22B:
            w = H[i + 1]
            append(Insn(off, op, op_name[op], (hi, w & 0xFF), None, _s8(w >> 8), 2))
        elif f == F3RC:
            c = H[i + 2]
            append(Insn(off, op, op_name[op], tuple(range(c, c + hi)), H[i + 1], None, 3))
        elif f == F20T:
            append(Insn(off, op, op_name[op], (), None, off + _s16(H[i + 1]), 2))
        elif f == F21H:
            append(Insn(off, op, op_name[op], (hi,), None, _s16(H[i + 1]) << (16 if op == 0x15 else 48), 2))
        elif f == F31T:
            append(Insn(off, op, op_name[op], (hi,), None, off + _s32(H[i + 1] | (H[i + 2] << 16)), 3))
        elif f == F51L:
            lit = _s64(H[i + 1] | (H[i + 2] << 16) | (H[i + 3] << 32) | (H[i + 4] << 48))
            append(Insn(off, op, op_name[op], (hi,), None, lit, 5))
        elif f == F31I:
            append(Insn(off, op, op_name[op], (hi,), None, _s32(H[i + 1] | (H[i + 2] << 16)), 3))
        elif f == F31C:
            append(Insn(off, op, op_name[op], (hi,), H[i + 1] | (H[i + 2] << 16), None, 3))
        elif f == F32X:
            append(Insn(off, op, op_name[op], (H[i + 1], H[i + 2]), None, None, 3))
        elif f == F30T:
            append(Insn(off, op, op_name[op], (), None, off + _s32(H[i + 1] | (H[i + 2] << 16)), 3))
        elif f == F22S:
            append(Insn(off, op, op_name[op], (hi & 15, hi >> 4), None, _s16(H[i + 1]), 2))
        elif f == F45CC:
            w = H[i + 2]
            append(Insn(off, op, op_name[op], (w & 15, (w >> 4) & 15, (w >> 8) & 15, w >> 12, hi & 15)[: hi >> 4],
                        H[i + 1], None, 4, H[i + 3]))
        elif f == F4RCC:
            c = H[i + 2]
            append(Insn(off, op, op_name[op], tuple(range(c, c + hi)), H[i + 1], None, 4, H[i + 3]))
        else:  # F20BC: no standard opcode uses it
            append(Insn(off, op, op_name[op], (), H[i + 1], hi, 2))
        i += n
    return out


def _payload(H: Sequence[int], i: int, n: int) -> _Payload:
    """The decoded contents of the payload at unit ``i`` (``n`` units long)."""
    u, size = H[i], H[i + 1]
    if u == 0x0100:
        first = _s32(H[i + 2] | (H[i + 3] << 16))
        return tuple((first + k, _s32(H[i + 4 + 2 * k] | (H[i + 5 + 2 * k] << 16))) for k in range(size))
    if u == 0x0200:
        keys = [_s32(H[i + 2 + 2 * k] | (H[i + 3 + 2 * k] << 16)) for k in range(size)]
        b = i + 2 + 2 * size
        return tuple((keys[k], _s32(H[b + 2 * k] | (H[b + 1 + 2 * k] << 16))) for k in range(size))
    count = H[i + 2] | (H[i + 3] << 16)
    raw = array("H", H[i + 4:i + n])
    if not _LITTLE:  # pragma: no cover
        raw.byteswap()
    return (size, raw.tobytes()[: size * count])


def decode_insns(code: bytes | Iterable[int], where: str = "insns") -> list[Insn]:
    """Decode a raw instruction stream: little-endian bytes, or 16-bit code units.

    Raises DexError (prefixed with ``where``) when an instruction or payload runs past the end.
    """
    if isinstance(code, (bytes, bytearray, memoryview)):
        raw = bytes(code)
        if len(raw) & 1:
            raise DexError(f"{where}: odd number of bytes ({len(raw)}) for 16-bit code units")
        units = _cast(raw, "H")
    else:
        units = array("H", code)
    return _decode(units, 0, len(units), where)


# --------------------------------------------------------------------------- the reader


class DexFile:
    """Read-only, lazy access to one dex file's tables and code.

    ``data`` is the whole dex; ``name`` (``classes2.dex``) prefixes every error message.
    Construction validates the header and table bounds only; everything else is read on
    demand and cached.
    """

    def __init__(self, data: bytes, name: str = "classes.dex") -> None:
        if not isinstance(data, bytes):
            data = bytes(data)
        self.name = name
        self._data = data
        n = len(data)
        if n < 0x70:
            raise DexError(f"{name}: truncated header ({n} bytes, a dex header needs 112)")
        magic = data[:8]
        if magic[:4] != b"dex\n" or magic[7] != 0 or not magic[4:7].isdigit():
            raise DexError(f"{name}: bad magic {magic!r}, not a dex file")
        self.version = int(magic[4:7])
        if not 35 <= self.version <= 41:
            raise DexError(f"{name}: unsupported dex version {magic[4:7].decode()}")
        h: dict[str, int] = dict(zip(_HEADER_FIELDS, struct.unpack_from("<20I", data, 32)))
        self.header = h
        if h["endian_tag"] != 0x12345678:
            if h["endian_tag"] == 0x78563412:
                raise DexError(f"{name}: big-endian dex (reverse endian tag) is not supported")
            raise DexError(f"{name}: bad endian tag 0x{h['endian_tag']:08x}")
        want = 0x78 if self.version >= 41 else 0x70
        if h["header_size"] != want:
            raise DexError(f"{name}: header_size 0x{h['header_size']:x} is not 0x{want:x}")
        if h["file_size"] > n:
            raise DexError(f"{name}: file_size {h['file_size']} exceeds the {n} bytes present (truncated?)")
        if h["file_size"] < want:
            raise DexError(f"{name}: file_size {h['file_size']} is smaller than the header")
        limit = h["file_size"]
        self.container_size = self.header_offset = 0
        if self.version >= 41:
            if n < 0x78:  # pragma: no cover - file_size check above already needs 0x78
                raise DexError(f"{name}: truncated v41 header")
            self.container_size, self.header_offset = struct.unpack_from("<II", data, 0x70)
            if self.header_offset != 0:
                raise DexError(f"{name}: dex container entry at header_offset 0x{self.header_offset:x} is not supported")
            if not limit <= self.container_size <= n:
                raise DexError(f"{name}: container_size {self.container_size} does not fit the {n} bytes present")
            limit = self.container_size  # the data section may be shared across the container
        self._size = limit
        for label, size, off, item in (
            ("string_ids", h["string_ids_size"], h["string_ids_off"], 4),
            ("type_ids", h["type_ids_size"], h["type_ids_off"], 4),
            ("proto_ids", h["proto_ids_size"], h["proto_ids_off"], 12),
            ("field_ids", h["field_ids_size"], h["field_ids_off"], 8),
            ("method_ids", h["method_ids_size"], h["method_ids_off"], 8),
            ("class_defs", h["class_defs_size"], h["class_defs_off"], 32),
            ("data", h["data_size"], h["data_off"], 1),
            ("link", h["link_size"], h["link_off"], 1),
        ):
            if size and (off < want or off + size * item > limit):
                raise DexError(
                    f"{name}: {label} (offset 0x{off:x}, {size} x {item} bytes) lies outside the file ({limit} bytes)"
                )
        if h["type_ids_size"] > 0xFFFF:
            raise DexError(f"{name}: type_ids_size {h['type_ids_size']} exceeds 65535")
        if h["proto_ids_size"] > 0xFFFF:
            raise DexError(f"{name}: proto_ids_size {h['proto_ids_size']} exceeds 65535")
        if h["map_off"] and h["map_off"] + 4 > limit:
            raise DexError(f"{name}: map_off 0x{h['map_off']:x} lies outside the file ({limit} bytes)")

        def table(off: int, count: int, item: int, fmt: Literal["H", "I"]) -> _Words:
            return _cast(memoryview(data)[off:off + count * item], fmt)

        self._sid = table(h["string_ids_off"], h["string_ids_size"], 4, "I")
        self._tid = table(h["type_ids_off"], h["type_ids_size"], 4, "I")
        self._pid = table(h["proto_ids_off"], h["proto_ids_size"], 12, "I")
        self._fid_h = table(h["field_ids_off"], h["field_ids_size"], 8, "H")
        self._fid_i = table(h["field_ids_off"], h["field_ids_size"], 8, "I")
        self._mid_h = table(h["method_ids_off"], h["method_ids_size"], 8, "H")
        self._mid_i = table(h["method_ids_off"], h["method_ids_size"], 8, "I")
        self._cd = table(h["class_defs_off"], h["class_defs_size"], 32, "I")
        self._h = _cast(memoryview(data)[: n & ~1], "H")  # the whole file as code units

        self.string_count = _Count(h["string_ids_size"])
        self.type_count = _Count(h["type_ids_size"])
        self.proto_count = _Count(h["proto_ids_size"])
        self.field_count = _Count(h["field_ids_size"])
        self.method_count = _Count(h["method_ids_size"])
        self.class_count = _Count(h["class_defs_size"])

        self._strings: dict[int, str] = {}
        self._found: dict[str, int | None] = {}
        self._protos: dict[int, str] = {}
        self._type_defs: dict[int, int] | None = None
        self._class_methods: dict[int, dict[int, tuple[int, int]]] = {}
        self._str_sorted: tuple[_Words, array[int] | None] | None = None
        self._map_offsets: list[int] | None = None
        # code index, built on first use of refs()/methods_with_code()
        self._code_of: dict[int, int] | None = None
        self._starts: array[int] = array("I")  # code_item offsets, sorted (empty until built)
        self._owners: array[int] = array("I")  # the method id of each
        self._extra_owners: dict[int, list[int]] = {}
        self._odd_code: list[int] = []
        self._region: tuple[int, int] = (0, 0)
        self._units: str | None = None
        self.skipped: dict[int, str] = {}
        """Methods whose body could not be walked during :meth:`refs` (method idx -> reason)."""

    def __repr__(self) -> str:
        return (f"<DexFile {self.name} v{self.version:03d}: {self.string_count} strings, "
                f"{self.method_count} methods, {self.class_count} classes>")

    # ------------------------------------------------------------------ errors

    def _err(self, msg: str) -> DexError:
        return DexError(f"{self.name}: {msg}")

    def _check(self, idx: int, count: int, what: str) -> None:
        if not 0 <= idx < count:
            raise self._err(f"{what} index {idx} out of range (0..{count - 1})")

    # ------------------------------------------------------------------ strings

    def _string_span(self, idx: int) -> tuple[int, int]:
        """(start, end) of the MUTF-8 bytes of string ``idx`` (end at its NUL)."""
        self._check(idx, self.string_count, "string")
        off = self._sid[idx]
        d, size = self._data, self._size
        p, stop = off, min(off + 5, size)
        while p < stop and d[p] & 0x80:
            p += 1
        if p >= stop:
            raise self._err(f"string {idx} data at 0x{off:x} lies outside the file")
        end = d.find(b"\0", p + 1, size)
        if end < 0:
            raise self._err(f"string {idx} at 0x{off:x} has no terminating NUL")
        return p + 1, end

    def string(self, idx: int) -> str:
        """The string with id ``idx``."""
        s = self._strings.get(idx)
        if s is None:
            a, b = self._string_span(idx)
            s = self._strings[idx] = _mutf8(self._data[a:b])
        return s

    def string_bytes(self, idx: int) -> bytes:
        """The raw MUTF-8 bytes of string ``idx``."""
        a, b = self._string_span(idx)
        return self._data[a:b]

    def find_string(self, s: str) -> int | None:
        """The id of string ``s``, by binary search (string ids are sorted), or None.

        Probes compare raw MUTF-8 bytes, whose order equals the dex (UTF-16) order except
        where a NUL (C0 80) meets an ASCII character; such probes compare decoded text.
        """
        hit = self._found.get(s, -1)
        if hit != -1:
            return hit
        hit = self._found[s] = self._find_string(s)
        return hit

    def _find_string(self, s: str) -> int | None:
        want = _mutf8_encode(s) + b"\0"
        width = len(want)
        nul = b"\xc0\x80" in want
        key = None
        d, size, sid = self._data, self._size, self._sid
        lo, hi = 0, int(self.string_count)
        while lo < hi:
            mid = (lo + hi) // 2
            p = sid[mid]
            if p >= size:
                raise self._err(f"string {mid} data at 0x{p:x} lies outside the file")
            p += 1
            while d[p - 1] & 0x80 and p < size:  # skip the uleb128 length
                p += 1
            w = d[p:p + width]
            if w == want:
                return mid
            if nul or b"\xc0\x80" in w:
                if key is None:
                    key = _utf16_key(s)
                m = self.string(mid)
                if m == s:
                    return mid
                below = _utf16_key(m) < key
            else:
                below = w < want
            if below:
                lo = mid + 1
            else:
                hi = mid
        return None

    def _sorted_strings(self) -> tuple[_Words, array[int] | None]:
        """(sorted data offsets, string id at each position) — the id table itself when it is monotonic."""
        if self._str_sorted is None:
            sid = self._sid
            if all(map(lt, sid, islice(sid, 1, None))):
                self._str_sorted = (sid, None)
            else:
                order = sorted(range(len(sid)), key=sid.__getitem__)
                self._str_sorted = (array("I", (sid[i] for i in order)), array("I", order))
        return self._str_sorted

    def strings_matching(self, pattern: bytes | re.Pattern[bytes]) -> list[int]:
        """Ids of the strings whose MUTF-8 bytes contain a match of ``pattern`` (a bytes regex),
        sorted; ``^``/``$`` anchor at the start/end of each string.

        One regex pass over the string data, each hit mapped back to its string id. Patterns
        with a leading ``^``/``\\A`` or trailing ``$``/``\\Z`` scan without the anchor and
        confirm each candidate string; other assertions (``\\b``, lookbehind) run per string.
        """
        rx = pattern if isinstance(pattern, re.Pattern) else re.compile(pattern)
        if not isinstance(rx.pattern, bytes):
            raise TypeError("strings_matching needs a bytes pattern (strings are matched as MUTF-8)")
        n = int(self.string_count)
        if not n:
            return []
        scan: re.Pattern[bytes] | None
        scan, exact = rx, True
        if any(_assertions(rx)):
            scan, exact = _without_edge_anchors(rx), False
        found: set[int] = set()
        mv = memoryview(self._data)
        if scan is None:
            for i in range(n):
                a, b = self._string_span(i)
                if rx.search(mv[a:b]):
                    found.add(i)
            return sorted(found)
        offs, ids = self._sorted_strings()
        d = self._data
        hi = self._string_span(ids[-1] if ids is not None else n - 1)[1]
        pos = offs[0]
        while pos <= hi:
            m = scan.search(d, pos, hi)
            if m is None:
                break
            p = m.start()
            k = bisect_right(offs, p) - 1
            sid = ids[k] if ids is not None else k
            a, b = self._string_span(sid)
            if exact and a <= p and m.end() <= b:
                hit = True
            else:
                hit = rx.search(mv[a:b]) is not None
            if hit:
                found.add(sid)
                if ids is not None:  # strings sharing the same data
                    j = k - 1
                    while j >= 0 and offs[j] == offs[k]:
                        found.add(ids[j])
                        j -= 1
                    j = k + 1
                    while j < n and offs[j] == offs[k]:
                        found.add(ids[j])
                        j += 1
            pos = max(b + 1, p + 1)
        return sorted(found)

    # ------------------------------------------------------------------ types, protos, fields, methods

    def type_name(self, idx: int) -> str:
        """The descriptor of type ``idx`` (``Landroid/net/Uri;``, ``[I``)."""
        self._check(idx, self.type_count, "type")
        return self.string(self._tid[idx])

    def find_type(self, descriptor: str) -> int | None:
        """The type id of ``descriptor``, or None (type ids are sorted by string id)."""
        sid = self.find_string(descriptor)
        if sid is None:
            return None
        i = bisect_left(self._tid, sid)
        return i if i < len(self._tid) and self._tid[i] == sid else None

    def _type_list(self, off: int) -> tuple[str, ...]:
        if not off:
            return ()
        if off + 4 > self._size:
            raise self._err(f"type_list at 0x{off:x} lies outside the file")
        (count,) = struct.unpack_from("<I", self._data, off)
        if off + 4 + 2 * count > self._size:
            raise self._err(f"type_list at 0x{off:x} ({count} entries) runs past the end of the file")
        return tuple(self.type_name(t) for t in struct.unpack_from(f"<{count}H", self._data, off + 4))

    def proto_descriptor(self, idx: int) -> str:
        """``(Landroid/net/Uri;[Ljava/lang/String;)Landroid/database/Cursor;`` for proto ``idx``."""
        s = self._protos.get(idx)
        if s is None:
            self._check(idx, self.proto_count, "proto")
            p = self._pid
            ret = self.type_name(p[3 * idx + 1])
            params = self._type_list(p[3 * idx + 2])
            s = self._protos[idx] = "(" + "".join(params) + ")" + ret
        return s

    def proto(self, idx: int) -> tuple[str, tuple[str, ...]]:
        """``(return type, parameter types)`` of proto ``idx``."""
        self._check(idx, self.proto_count, "proto")
        return self.type_name(self._pid[3 * idx + 1]), self._type_list(self._pid[3 * idx + 2])

    def field(self, idx: int) -> FieldRef:
        """The field id ``idx``."""
        self._check(idx, self.field_count, "field")
        return FieldRef(self.type_name(self._fid_h[4 * idx]), self.string(self._fid_i[2 * idx + 1]),
                        self.type_name(self._fid_h[4 * idx + 1]))

    def method(self, idx: int) -> MethodRef:
        """The method id ``idx``."""
        self._check(idx, self.method_count, "method")
        return MethodRef(self.type_name(self._mid_h[4 * idx]), self.string(self._mid_i[2 * idx + 1]),
                         self.proto_descriptor(self._mid_h[4 * idx + 1]))

    def class_of_method(self, idx: int) -> str:
        """The class descriptor of method id ``idx``."""
        self._check(idx, self.method_count, "method")
        return self.type_name(self._mid_h[4 * idx])

    def _member_range(self, halves: Sequence[int], count: int, class_name: str) -> range:
        cidx = self.find_type(class_name)
        if cidx is None:
            return range(0)

        def key(i: int) -> int:
            return halves[4 * i]

        r = range(int(count))
        return range(bisect_left(r, cidx, key=key), bisect_right(r, cidx, key=key))

    def _members_named(self, words: Sequence[int], count: int, name: str) -> list[int]:
        sid = self.find_string(name)
        if sid is None:
            return []
        return [i for i, v in enumerate(words[1::2]) if v == sid]

    def find_fields(self, class_name: str | None, name: str | None = None) -> list[int]:
        """Field ids of ``class_name`` (optionally only those called ``name``), by binary search.

        ``class_name=None`` searches every class for fields called ``name`` (a linear scan).
        """
        if class_name is None:
            return self._members_named(self._fid_i, self.field_count, name) if name is not None else []
        rng = self._member_range(self._fid_h, self.field_count, class_name)
        if name is None:
            return list(rng)
        sid = self.find_string(name)
        return [i for i in rng if self._fid_i[2 * i + 1] == sid] if sid is not None else []

    def find_field(self, class_name: str, name: str, type: str | None = None) -> int | None:
        """The field id ``class_name->name:type`` (any type when None), or None."""
        for i in self.find_fields(class_name, name):
            if type is None or self.type_name(self._fid_h[4 * i + 1]) == type:
                return i
        return None

    def find_methods(self, class_name: str | None, name: str | None = None) -> list[int]:
        """Method ids of ``class_name`` (optionally only those called ``name``, all overloads),
        by binary search over the sorted method ids.

        ``class_name=None`` searches every class for methods called ``name`` (a linear scan),
        e.g. to catch calls made through an app subclass (``Lcom/x/MyActivity;->managedQuery``).
        """
        if class_name is None:
            return self._members_named(self._mid_i, self.method_count, name) if name is not None else []
        rng = self._member_range(self._mid_h, self.method_count, class_name)
        if name is None:
            return list(rng)
        sid = self.find_string(name)
        return [i for i in rng if self._mid_i[2 * i + 1] == sid] if sid is not None else []

    def find_method(self, class_name: str, name: str, descriptor: str) -> int | None:
        """The method id ``class_name->name descriptor``, or None."""
        for i in self.find_methods(class_name, name):
            if self.proto_descriptor(self._mid_h[4 * i + 1]) == descriptor:
                return i
        return None

    # ------------------------------------------------------------------ classes

    def _class_def_of_type(self, type_idx: int) -> int | None:
        if self._type_defs is None:
            cls = self._cd[0::8]
            self._type_defs = {t & 0xFFFF: i for i, t in reversed(list(enumerate(cls)))}
        return self._type_defs.get(type_idx)

    def class_def_index(self, class_name: str) -> int | None:
        """Index of the (first) class_def defining ``class_name``, or None."""
        t = self.find_type(class_name)
        return None if t is None else self._class_def_of_type(t)

    def class_def(self, i: int) -> ClassDef:
        """The class_def ``i``."""
        self._check(i, self.class_count, "class_def")
        c = self._cd[8 * i:8 * i + 8]
        sup = None if c[2] == NO_INDEX else self.type_name(c[2] & 0xFFFF)
        src = None if c[4] == NO_INDEX else self.string(c[4])
        return ClassDef(self.type_name(c[0] & 0xFFFF), sup, self._type_list(c[3]), c[1], src)

    def class_defs(self) -> list[ClassDef]:
        """Every class_def, in file order."""
        return [self.class_def(i) for i in range(int(self.class_count))]

    def _read_class_data(self, off: int) -> _ClassData:
        """(static fields, instance fields, direct methods, virtual methods) of a class_data_item;
        fields as (field_idx, access), methods as (method_idx, access, code_off)."""
        d, size = self._data, self._size
        p = off

        def uleb() -> int:
            nonlocal p
            result = shift = 0
            while True:
                if p >= size or shift > 28:
                    raise self._err(f"class_data at 0x{off:x} is truncated or has a bad LEB128")
                b = d[p]
                p += 1
                result |= (b & 0x7F) << shift
                if b < 0x80:
                    return result & 0xFFFFFFFF
                shift += 7

        counts = [uleb() for _ in range(4)]
        out: list[list[tuple[int, ...]]] = []
        for k, cnt in enumerate(counts):
            items: list[tuple[int, ...]] = []
            idx = 0
            if cnt > size:
                raise self._err(f"class_data at 0x{off:x} claims {cnt} members")
            for _ in range(cnt):
                idx += uleb()
                if k < 2:
                    items.append((idx, uleb()))
                else:
                    items.append((idx, uleb(), uleb()))
            out.append(items)
        # pairs for k < 2, triples after: the tuple length follows k, which mypy cannot track
        return cast(_ClassData, (out[0], out[1], out[2], out[3]))

    def _methods_of_class_def(self, ci: int) -> dict[int, tuple[int, int]]:
        """method_idx -> (access_flags, code_off) for class_def ``ci`` (cached; the first entry
        wins if class_data lists a method twice)."""
        got = self._class_methods.get(ci)
        if got is None:
            off = self._cd[8 * ci + 6]
            got = {}
            if off:
                _, _, direct, virtual = self._read_class_data(off)
                for m, acc, c in reversed(direct + virtual):
                    got[m] = (acc, c)
            self._class_methods[ci] = got
        return got

    def class_methods(self, class_name: str) -> list[tuple[int, int, int]]:
        """``(method_idx, access_flags, code_off)`` of every method the (first) class_def of
        ``class_name`` defines; code_off is 0 for abstract and native methods."""
        ci = self.class_def_index(class_name)
        if ci is None:
            return []
        off = self._cd[8 * ci + 6]
        if not off:
            return []
        _, _, direct, virtual = self._read_class_data(off)
        return direct + virtual

    def method_access_flags(self, method_idx: int) -> int | None:
        """Access flags of a method defined in this dex, or None if no class here defines it."""
        self._check(method_idx, self.method_count, "method")
        ci = self._class_def_of_type(self._mid_h[4 * method_idx])
        if ci is None:
            return None
        got = self._methods_of_class_def(ci).get(method_idx)
        return None if got is None else got[0]

    # ------------------------------------------------------------------ annotations

    def _annotation_types(self, set_off: int) -> list[str]:
        if not set_off:
            return []
        d, size = self._data, self._size
        if set_off + 4 > size:
            raise self._err(f"annotation_set at 0x{set_off:x} lies outside the file")
        (count,) = struct.unpack_from("<I", d, set_off)
        if set_off + 4 + 4 * count > size:
            raise self._err(f"annotation_set at 0x{set_off:x} ({count} entries) runs past the end of the file")
        out = []
        for item in struct.unpack_from(f"<{count}I", d, set_off + 4):
            m = _ULEB_TOKEN.match(d, item + 1, min(item + 6, size)) if item + 1 < size else None
            if m is None or len(m.group()) > 5:
                raise self._err(f"annotation_item at 0x{item:x} is truncated")
            out.append(self.type_name(_uleb_value(m.group())))
        return out

    def _annotations_directory(self, class_type_idx: int) -> int:
        ci = self._class_def_of_type(class_type_idx)
        if ci is None:
            return 0
        off = self._cd[8 * ci + 5]
        if off and off + 16 > self._size:
            raise self._err(f"annotations_directory at 0x{off:x} lies outside the file")
        return off

    def class_annotations(self, class_name: str) -> list[str]:
        """Annotation type descriptors on a class defined in this dex."""
        t = self.find_type(class_name)
        off = self._annotations_directory(t) if t is not None else 0
        if not off:
            return []
        return self._annotation_types(struct.unpack_from("<I", self._data, off)[0])

    def method_annotations(self, method_idx: int) -> list[str]:
        """Annotation type descriptors on a method, e.g. ``['Landroid/webkit/JavascriptInterface;']``."""
        self._check(method_idx, self.method_count, "method")
        off = self._annotations_directory(self._mid_h[4 * method_idx])
        if not off:
            return []
        _, nfields, nmethods, _ = struct.unpack_from("<4I", self._data, off)
        start = off + 16 + 8 * nfields
        if start + 8 * nmethods > self._size:
            raise self._err(f"annotations_directory at 0x{off:x} runs past the end of the file")
        entries = struct.unpack_from(f"<{2 * nmethods}I", self._data, start)
        for k in range(0, 2 * nmethods, 2):
            if entries[k] == method_idx:
                return self._annotation_types(entries[k + 1])
        return []

    # ------------------------------------------------------------------ code index

    def _map_section_offsets(self) -> list[int]:
        if self._map_offsets is None:
            offs: list[int] = []
            mo = self.header["map_off"]
            try:
                if mo:
                    (count,) = struct.unpack_from("<I", self._data, mo)
                    if mo + 4 + 12 * count <= self._size:
                        offs = sorted({struct.unpack_from("<I", self._data, mo + 12 + 12 * i)[0] for i in range(count)})
            except struct.error:  # pragma: no cover - bounds are checked above
                offs = []
            self._map_offsets = offs
        return self._map_offsets

    def _ensure_index(self) -> dict[int, int]:
        """Map every method with code to its code_item, and back (first class_def wins);
        returns the method_idx -> code_off map."""
        code_of = self._code_of
        if code_of is None:
            with _gc_paused():
                code_of = self._build_index()
        return code_of

    def _build_index(self) -> dict[int, int]:
        d, size = self._data, self._size
        cd = self._cd
        n_methods = int(self.method_count)
        data_offs = list(cd[6::8])
        items = sorted((o, i) for i, o in enumerate(data_offs) if o)
        sections = self._map_section_offsets()
        diff_toks: list[bytes] = []  # method_idx_diff of every encoded_method, in file order
        code_toks: list[bytes] = []  # code_off of every encoded_method
        segments: list[tuple[int, int, int, int]] = []  # (class_def, direct, virtual, end) in those lists
        if items and items[-1][0] >= size:
            raise self._err(f"class_data of class_def {items[-1][1]} at 0x{items[-1][0]:x} lies outside the file")
        toks: list[bytes] = []
        ends: list[int] = [0]  # ends[k]: byte offset (from run_off) where token k starts
        ntoks = ti = 0
        run_off = -1
        full = False  # whether toks runs to the end of the file

        def tokenize(off: int, to_end: bool) -> None:
            nonlocal toks, ends, ntoks, ti, run_off, full
            k = bisect_right(sections, off)
            full = to_end or k >= len(sections)
            toks = _ULEB_TOKEN.findall(d, off, size if full else sections[k])
            ends = [0]
            ends += accumulate(map(len, toks))
            ntoks, ti, run_off = len(toks), 0, off

        for off, ci in items:
            if off != run_off + ends[ti]:
                tokenize(off, False)
            h = b"".join(toks[ti:ti + 4])
            if len(h) == 4:
                sf, inf, dm, vm = h
            else:
                head = toks[ti:ti + 4]
                if len(head) < 4:  # the map was wrong about where this section ends, or the data is cut
                    tokenize(off, True)
                    head = toks[:4]
                    if len(head) < 4:
                        raise self._err(f"class_data of class_def {ci} at 0x{off:x} is truncated")
                sf, inf, dm, vm = _uleb_values(head)
            t1 = ti + 4 + 2 * (sf + inf)
            t3 = t1 + 3 * (dm + vm)
            if t3 > ntoks:
                if full:
                    raise self._err(f"class_data of class_def {ci} at 0x{off:x} is truncated")
                tokenize(off, True)
                t1, t3 = t1 - ti, t3 - ti
                ti = 0
                if t3 > ntoks:
                    raise self._err(f"class_data of class_def {ci} at 0x{off:x} is truncated")
            if t3 > t1:
                start = len(diff_toks)
                diff_toks += toks[t1:t3:3]
                code_toks += toks[t1 + 2:t3:3]
                segments.append((ci, start, start + dm, start + dm + vm))
            ti = t3
        try:
            diffs = _uleb_many(diff_toks)
            codes = _uleb_many(code_toks)
        except ValueError:
            raise self._err("class_data has an over-long LEB128") from None
        segments.sort()
        all_m: list[int] = []
        all_c: list[int] = []
        for ci, a, b, c in segments:
            all_m.extend(accumulate(diffs[a:b]))
            all_m.extend(accumulate(diffs[b:c]))
            all_c.extend(codes[a:c])
        if all_m and max(all_m) >= n_methods:
            ci = next(s[0] for s in segments if max(chain(accumulate(diffs[s[1]:s[2]]), accumulate(diffs[s[2]:s[3]]), [0])) >= n_methods)
            raise self._err(f"class_data of class_def {ci} names method {max(all_m)} of {n_methods}")
        if all_c and max(all_c) + 16 > size:
            ci = next(s[0] for s in segments if max(codes[s[1]:s[3]]) + 16 > size)
            raise self._err(f"class_def {ci} has a code_item at 0x{max(all_c):x} past the end of the file")
        code_of = dict(zip(reversed(all_m), reversed(all_c)))  # the first class_def wins
        order = sorted(code_of, key=code_of.__getitem__)
        starts = array("I", map(code_of.__getitem__, order))
        k = bisect_left(starts, 1)  # drop abstract and native methods
        starts, owners = starts[k:], array("I", order[k:])
        extra: dict[int, list[int]] = {}
        if len(set(starts)) != len(starts):  # several methods share one code_item
            for k in range(1, len(starts)):
                if starts[k] == starts[k - 1]:
                    extra.setdefault(starts[k], [owners[k - 1]]).append(owners[k])
        low_bytes = starts.tobytes()[0 if _LITTLE else 3::4]
        if low_bytes.translate(None, _EVEN_BYTES):  # code_items at odd offsets (ART would refuse them)
            self._odd_code = [m for m in owners if code_of[m] & 1]
        if starts:
            last = starts[-1]
            hi = last + 16 + 2 * _CODE_HEADER.unpack_from(d, last)[5]
            self._region = (starts[0] & ~1, min(hi, size) & ~1)
        self._code_of, self._starts, self._owners, self._extra_owners = code_of, starts, owners, extra
        return code_of

    def _code_header(self, off: int) -> CodeInfo:
        if off + 16 > self._size:
            raise self._err(f"code_item at 0x{off:x} lies outside the file")
        regs, ins, outs, tries, dbg, n = _CODE_HEADER.unpack_from(self._data, off)
        if off + 16 + 2 * n > self._size:
            raise self._err(f"code_item at 0x{off:x} ({n} code units) runs past the end of the file")
        return CodeInfo(off, regs, ins, outs, tries, dbg, n)

    def method_code_offset(self, method_idx: int) -> int | None:
        """File offset of the code_item of a method defined here, or None (abstract, native,
        or not defined in this dex)."""
        self._check(method_idx, self.method_count, "method")
        if self._code_of is not None:
            return self._code_of.get(method_idx) or None
        ci = self._class_def_of_type(self._mid_h[4 * method_idx])
        if ci is not None and self._cd[8 * ci + 6]:
            got = self._methods_of_class_def(ci).get(method_idx)
            c = got[1] if got else 0
            if c and c + 16 > self._size:
                raise self._err(f"method {method_idx} has a code_item at 0x{c:x} past the end of the file")
            return c or None
        # not defined by its own class: only a malformed class_data can still hold it
        return self._ensure_index().get(method_idx) or None

    def code_info(self, method_idx: int) -> CodeInfo | None:
        """The code_item header of a method, or None when it has no code."""
        off = self.method_code_offset(method_idx)
        return None if off is None else self._code_header(off)

    def methods_with_code(self) -> Iterator[int]:
        """Every method id that has a body in this dex, in id order (builds the code index)."""
        return iter(sorted(m for m, c in self._ensure_index().items() if c))

    def tries(self, method_idx: int) -> list[TryBlock]:
        """The try blocks of a method with their handlers (addresses in code units)."""
        info = self.code_info(method_idx)
        if info is None or not info.tries_size:
            return []
        d, size = self._data, self._size
        t = info.code_off + 16 + 2 * info.insns_size
        if info.insns_size & 1:
            t += 2
        hbase = t + 8 * info.tries_size
        if hbase > size:
            raise self._err(f"try items of method {method_idx} run past the end of the file")
        p = 0

        def leb(signed: bool) -> int:
            nonlocal p
            m = _ULEB_TOKEN.match(d, p, min(p + 5, size))
            if m is None:
                raise self._err(f"catch handlers of method {method_idx} are truncated")
            tok = m.group()
            p = m.end()
            v = _uleb_value(tok)
            if signed and tok[-1] & 0x40:
                v -= 1 << (7 * len(tok))
            return v

        out = []
        for k in range(info.tries_size):
            start, count, hoff = struct.unpack_from("<IHH", d, t + 8 * k)
            p = hbase + hoff
            n = leb(True)
            handlers: list[tuple[str | None, int]] = []
            for _ in range(abs(n)):
                ty = leb(False)
                handlers.append((self.type_name(ty), leb(False)))
            if n <= 0:
                handlers.append((None, leb(False)))
            out.append(TryBlock(start, count, tuple(handlers)))
        return out

    # ------------------------------------------------------------------ decoding

    def code(self, method_idx: int) -> list[Insn] | None:
        """Decode one method's body, or None if it has no code here (abstract, native, external).

        Raises DexError when the body is garbage (an instruction or payload runs past its end).
        """
        off = self.method_code_offset(method_idx)
        if off is None:
            return None
        info = self._code_header(off)
        start = off + 16
        if start & 1:
            units = _cast(self._data[start:start + 2 * info.insns_size], "H")
            return _decode(units, 0, info.insns_size, f"{self.name}: method {method_idx}")
        return _decode(self._h, start // 2, start // 2 + info.insns_size, f"{self.name}: method {method_idx}")

    # ------------------------------------------------------------------ references

    def _code_units_text(self) -> str:
        """The code region as one str of 16-bit code units (surrogate bytes folded)."""
        if self._units is None:
            lo, hi = self._region
            self._units = self._data[lo:hi].translate(_NO_SURROGATES).decode("utf-16-le")
        return self._units

    def clear_caches(self) -> None:
        """Drop the decoded-string cache and the code-unit text kept for :meth:`refs`."""
        self._strings.clear()
        self._found.clear()
        self._protos.clear()
        self._units = None

    def refs(self, *, strings: Iterable[int] = (), types: Iterable[int] = (),
             fields: Iterable[int] = (), methods: Iterable[int] = ()) -> list[Ref]:
        """Every instruction, in every method body, that uses one of these indices.

        const-string(/jumbo) for strings; const-class, new-instance, check-cast,
        instance-of, new-array, filled-new-array(/range) for types; iget*/iput*/sget*/sput*
        for fields; invoke-*(/range) and invoke-polymorphic(/range) for methods. Each hit is
        confirmed at an instruction boundary of its method, so operand bytes and payload
        tables never count. Sorted by (method_idx, offset). Methods whose bodies cannot be
        walked are left out and listed in :attr:`skipped`.
        """
        want: dict[str, set[int]] = {}
        for kind, vals in (("string", strings), ("type", types), ("field", fields), ("method", methods)):
            s = {int(v) for v in vals}
            if kind != "string":
                s = {v for v in s if 0 <= v <= 0xFFFF}
            else:
                s = {v for v in s if 0 <= v <= 0xFFFFFFFF}
            if s:
                want[kind] = s
        if not want:
            return []
        self._ensure_index()
        lo, hi = self._region
        cands: dict[int, list[int]] = {}  # code_off -> candidate unit indices (absolute)
        starts = self._starts
        if hi > lo:
            units = self._code_units_text()
            lookbehind = _opcode_units_class(tuple(sorted(want)))
            values = {_fold(v & 0xFFFF) for s in want.values() for v in s}
            rx = re.compile("(?s)" + _charclass(values) + "(?<=" + lookbehind + ".)")
            base = lo // 2 - 1
            for m in rx.finditer(units, 1):
                u = base + m.start()  # unit index of the opcode
                p = 2 * u
                k = bisect_right(starts, p) - 1
                if k < 0:
                    continue
                c = starts[k]
                if p >= c + 16:
                    cands.setdefault(c, []).append(u)
        out: list[Ref] = []
        for c, us in cands.items():
            if not c & 1:
                self._verify(c, c // 2 + 8, sorted(set(us)), want, out, self._h)
        for method_idx in self._odd_code:
            self._verify_odd(method_idx, want, out)
        out.sort()
        return out

    def _owners_of(self, code_off: int) -> list[int]:
        extra = self._extra_owners.get(code_off)
        if extra is not None:
            return extra
        k = bisect_left(self._starts, code_off)
        return [self._owners[k]]

    def _verify(self, code_off: int, s: int, cand_units: list[int], want: dict[str, set[int]],
                out: list[Ref], H: Sequence[int], owners: list[int] | None = None) -> None:
        """Walk the instruction lengths of one code item and keep the candidates that sit
        on an instruction boundary with the right opcode kind and index."""
        owners = owners if owners is not None else self._owners_of(code_off)
        if code_off + 16 > self._size:
            return
        n = _CODE_HEADER.unpack_from(self._data, code_off)[5]
        e = s + n
        ulen = _UNIT_LEN
        i = s
        hits: list[tuple[int, str, int, int]] = []
        try:
            if code_off + 16 + 2 * n > self._size:
                raise self._err(f"code_item at 0x{code_off:x} runs past the end of the file")
            for t in cand_units:
                if t >= e:
                    break
                while i < t:
                    step = ulen[H[i]]
                    if not step:
                        step = _payload_len(H, i, e, f"{self.name}: method {owners[0]}", s)
                    i += step
                if i > e:
                    raise self._err(f"method {owners[0]}: the instruction before code unit {i - s} runs past the end of the code")
                if i != t:
                    continue
                u = H[i]
                op = u & 0xFF
                kind = _OP_KIND[op]
                if kind is None or kind not in want or i + _OP_LEN[op] > e:
                    continue
                idx = H[i + 1] if op != 0x1B else H[i + 1] | (H[i + 2] << 16)
                if idx in want[kind]:
                    hits.append((i - s, kind, idx, op))
        except DexError as exc:
            for m in owners:
                self.skipped[m] = str(exc)
        for m in owners:
            out.extend(Ref(m, off, kind, idx, op) for off, kind, idx, op in hits)

    def _verify_odd(self, method_idx: int, want: dict[str, set[int]], out: list[Ref]) -> None:
        """Refs in a code item at an odd file offset (not loadable by ART, but checked anyway)."""
        off = self._code_of[method_idx]  # type: ignore[index]  # only called by refs(), after _ensure_index()
        if off + 16 > self._size:
            return
        n = _CODE_HEADER.unpack_from(self._data, off)[5]
        raw = self._data[off + 16:off + 16 + 2 * n]
        H = _cast(raw[: len(raw) & ~1], "H")
        cands = []
        for i in range(len(H) - 1):
            kind = _OP_KIND[H[i] & 0xFF]
            if kind in want:
                cands.append(i)
        self._verify(off, 0, cands, want, out, H, [method_idx])
