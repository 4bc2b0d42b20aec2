"""Dalvik opcodes and the decoder of one instruction stream.

The full opcode table (formats 10x..51l, 45cc/4rcc, and the three payload
pseudo-instructions), :class:`Insn`, and :func:`decode_insns`; the reader decodes a
method body with :func:`_decode` straight from the file's code units, without copying.
Opcodes the format leaves unused decode as one-unit ``unused-XX``, as dexdump shows.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Literal, TypeAlias, cast

from permaudit.errors import DexError

if TYPE_CHECKING:
    from permaudit.dex.reader import DexFile

__all__ = ["FORMAT_UNITS", "OPCODES", "PAYLOAD_NAMES", "Insn", "decode_insns"]

_LITTLE = sys.byteorder == "little"
_Words: TypeAlias = "memoryview[int] | array[int]"
"""A table of 16- or 32-bit words as :func:`_cast` returns it."""
_Payload: TypeAlias = "tuple[tuple[int, int], ...] | tuple[int, bytes]"
"""switch payloads: ``((key, relative target), ...)``; fill-array-data: ``(element_width, raw bytes)``."""

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


class _Building:
    """An :class:`Insn` under construction, at half the cost of ``Insn(...)``: the frozen dataclass's
    ``__init__`` sets each slot through ``object.__setattr__``, this one with plain stores into the
    same slots, then makes the object an ``Insn`` by assigning ``__class__`` (same slot layout, so
    allowed: the very object ``Insn(...)`` makes, equal, same hash, frozen from then on;
    ``tests/test_speed_invariants.py``)."""

    __slots__ = tuple(f.name for f in fields(Insn))

    def __init__(self, offset: int, opcode: int, mnemonic: str, registers: tuple[int, ...], index: int | None,
                 literal: int | None, length: int = 1, index2: int | None = None, payload: _Payload | None = None) -> None:
        self.offset = offset
        self.opcode = opcode
        self.mnemonic = mnemonic
        self.registers = registers
        self.index = index
        self.literal = literal
        self.length = length
        self.index2 = index2
        self.payload = payload
        self.__class__ = Insn  # type: ignore[assignment]


_new_insn = cast("Callable[..., Insn]", _Building)
"""``Insn(...)``, built as :class:`_Building` does it."""


def _decode(H: Sequence[int], s: int, e: int, where: str) -> list[Insn]:
    """Decode code units ``H[s:e]`` linearly (branches ordered by how common each format is)."""
    out: list[Insn] = []
    append = out.append
    op_fmt, op_name, fmt_len = _OP_FMT, _OP_NAME, _FMT_LEN
    new = _new_insn
    i = s
    while i < e:
        u = H[i]
        op = u & 0xFF
        off = i - s
        if not op and u in PAYLOAD_NAMES:
            n = _payload_len(H, i, e, where, s)
            append(new(off, u, PAYLOAD_NAMES[u], (), None, None, n, None, _payload(H, i, n)))
            i += n
            continue
        f = op_fmt[op]
        n = fmt_len[f]
        if i + n > e:
            raise DexError(f"{where}: {op_name[op]} at code unit {off} runs past the end of the code")
        hi = u >> 8
        if f == F35C:
            w = H[i + 2]
            append(new(off, op, op_name[op], (w & 15, (w >> 4) & 15, (w >> 8) & 15, w >> 12, hi & 15)[: hi >> 4],
                        H[i + 1], None, 3))
        elif f == F22C:
            append(new(off, op, op_name[op], (hi & 15, hi >> 4), H[i + 1], None, 2))
        elif f == F11X:
            append(new(off, op, op_name[op], (hi,), None, None, 1))
        elif f == F21C:
            append(new(off, op, op_name[op], (hi,), H[i + 1], None, 2))
        elif f == F11N:
            append(new(off, op, op_name[op], (hi & 15,), None, ((hi >> 4) ^ 8) - 8, 1))
        elif f == F21T:
            append(new(off, op, op_name[op], (hi,), None, off + _s16(H[i + 1]), 2))
        elif f == F22X:
            append(new(off, op, op_name[op], (hi, H[i + 1]), None, None, 2))
        elif f == F10T:
            append(new(off, op, op_name[op], (), None, off + _s8(hi), 1))
        elif f == F10X:
            append(new(off, op, op_name[op], (), None, None, 1))
        elif f == F12X:
            append(new(off, op, op_name[op], (hi & 15, hi >> 4), None, None, 1))
        elif f == F22T:
            append(new(off, op, op_name[op], (hi & 15, hi >> 4), None, off + _s16(H[i + 1]), 2))
        elif f == F23X:
            w = H[i + 1]
            append(new(off, op, op_name[op], (hi, w & 0xFF, w >> 8), None, None, 2))
        elif f == F21S:
            append(new(off, op, op_name[op], (hi,), None, _s16(H[i + 1]), 2))
        elif f == F22B:
            w = H[i + 1]
            append(new(off, op, op_name[op], (hi, w & 0xFF), None, _s8(w >> 8), 2))
        elif f == F3RC:
            c = H[i + 2]
            append(new(off, op, op_name[op], tuple(range(c, c + hi)), H[i + 1], None, 3))
        elif f == F20T:
            append(new(off, op, op_name[op], (), None, off + _s16(H[i + 1]), 2))
        elif f == F21H:
            append(new(off, op, op_name[op], (hi,), None, _s16(H[i + 1]) << (16 if op == 0x15 else 48), 2))
        elif f == F31T:
            append(new(off, op, op_name[op], (hi,), None, off + _s32(H[i + 1] | (H[i + 2] << 16)), 3))
        elif f == F51L:
            lit = _s64(H[i + 1] | (H[i + 2] << 16) | (H[i + 3] << 32) | (H[i + 4] << 48))
            append(new(off, op, op_name[op], (hi,), None, lit, 5))
        elif f == F31I:
            append(new(off, op, op_name[op], (hi,), None, _s32(H[i + 1] | (H[i + 2] << 16)), 3))
        elif f == F31C:
            append(new(off, op, op_name[op], (hi,), H[i + 1] | (H[i + 2] << 16), None, 3))
        elif f == F32X:
            append(new(off, op, op_name[op], (H[i + 1], H[i + 2]), None, None, 3))
        elif f == F30T:
            append(new(off, op, op_name[op], (), None, off + _s32(H[i + 1] | (H[i + 2] << 16)), 3))
        elif f == F22S:
            append(new(off, op, op_name[op], (hi & 15, hi >> 4), None, _s16(H[i + 1]), 2))
        elif f == F45CC:
            w = H[i + 2]
            append(new(off, op, op_name[op], (w & 15, (w >> 4) & 15, (w >> 8) & 15, w >> 12, hi & 15)[: hi >> 4],
                        H[i + 1], None, 4, H[i + 3]))
        elif f == F4RCC:
            c = H[i + 2]
            append(new(off, op, op_name[op], tuple(range(c, c + hi)), H[i + 1], None, 4, H[i + 3]))
        else:  # F20BC: no standard opcode uses it
            append(new(off, op, op_name[op], (), H[i + 1], hi, 2))
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

