"""Whole-dex validation in time linear in the file's size: what can be trusted, and what not.

:class:`DexFile` checks only the header and table bounds when it opens, and raises for
what a lookup or a decode meets later. :func:`validate` checks every table at once,
so a report can say up front which parts of a dex are damaged: ``fatal`` damage makes
the whole dex untrustworthy (the id tables, the map, the class_data that ties methods
to code), other damage spoils one class or one method. Columns of the id tables are
checked at once, byte lane by byte lane (:func:`_reaches`); rows are only walked to name
the offenders once a column is known to be bad.
"""

from __future__ import annotations

import functools
import struct
from array import array
from collections.abc import Callable, Iterable, Sequence
from itertools import chain, compress, islice, repeat
from operator import add, and_, gt, itemgetter, lshift, or_, rshift

from permaudit.dex.index import gc_paused
from permaudit.dex.opcodes import _LITTLE, _cast
from permaudit.dex.reader import CLASS_DATA_ITEM, NO_INDEX, DexFile
from permaudit.model.record import record

__all__ = ["DexDamage", "validate"]

MAP_TYPES = {
    0x0000: "header_item", 0x0001: "string_id_item", 0x0002: "type_id_item", 0x0003: "proto_id_item",
    0x0004: "field_id_item", 0x0005: "method_id_item", 0x0006: "class_def_item", 0x0007: "call_site_id_item",
    0x0008: "method_handle_item", 0x1000: "map_list", 0x1001: "type_list", 0x1002: "annotation_set_ref_list",
    0x1003: "annotation_set_item", CLASS_DATA_ITEM: "class_data_item", 0x2001: "code_item",
    0x2002: "string_data_item", 0x2003: "debug_info_item", 0x2004: "annotation_item", 0x2005: "encoded_array_item",
    0x2006: "annotations_directory_item", 0xF000: "hiddenapi_class_data_item",
}
"""Every map_list type code the format defines."""
_ID_TABLES = {0x0001: "string_ids", 0x0002: "type_ids", 0x0003: "proto_ids", 0x0004: "field_ids",
              0x0005: "method_ids", 0x0006: "class_defs"}
_ALIGNED = bytes(range(0, 256, 4))
"""The low bytes of 4-byte aligned offsets."""
_NAMED = 5
"""Offenders named one by one per check; the rest are counted in one more line."""


@record
class DexDamage:
    """One damaged part of a dex; ``message`` is one line naming the dex and where."""

    message: str
    fatal: bool
    """True when nothing in this dex can be trusted (id tables, map, class_data); False when
    the damage spoils one class (``class_def``) or one method (``method_idx``)."""
    method_idx: int | None = None
    class_def: int | None = None


def validate(dex: DexFile) -> tuple[DexDamage, ...]:
    """Every damage found in ``dex``, fatal first; empty for a sound dex. Linear in the file size."""
    out: list[DexDamage] = []
    with gc_paused():  # flat lists of ints only: no cycles for the collector to find
        _map(dex, out)
        _ids(dex, out)
        _class_defs(dex, out)
        index = dex._code_index()
        index.check_fields(dex._describe_class)
        _offenders(list(range(len(index.damage))), lambda k: DexDamage(index.damage[k].message, True, None,
                                                                          index.damage[k].class_def), out, f"{dex.name}: class_data")
        if not index.damage:
            _code_items(dex, out)
    out.sort(key=lambda d: not d.fatal)
    return tuple(out)


def _offenders(hits: list[int], say: Callable[[int], DexDamage], out: list[DexDamage], total: str) -> None:
    """Name the first offending rows, and count the others in one line."""
    out += (say(i) for i in hits[:_NAMED])
    if len(hits) > _NAMED:
        out.append(DexDamage(f"{total}: {len(hits) - _NAMED} more like the above", say(hits[0]).fatal))


def _column(out: list[DexDamage], name: str, table: str, column: Sequence[int], what: str, limit: int) -> None:
    """Every id of one id-table column below ``limit`` (rows walked only on damage)."""
    if _reaches(column, limit):
        _offenders([i for i, v in enumerate(column) if v >= limit],
                   lambda i: DexDamage(f"{name}: {table}[{i}]: {what} {column[i]} of {limit}", True), out, f"{name}: {table}")


def _map(dex: DexFile, out: list[DexDamage]) -> None:
    name, size, h = dex.name, dex._size, dex.header
    mo = h["map_off"]
    if not mo:
        out.append(DexDamage(f"{name}: header: no map_list (map_off 0)", True))
        return
    if mo & 3 or mo + 4 > size:
        out.append(DexDamage(f"{name}: header: map_off 0x{mo:x} is unaligned or outside the file ({size} bytes)", True))
        return
    (count,) = struct.unpack_from("<I", dex._data, mo)
    if mo + 4 + 12 * count > size:
        out.append(DexDamage(f"{name}: map_list at 0x{mo:x} ({count} entries) runs past the end of the file", True))
        return
    header_offs = {0x0001: h["string_ids_off"], 0x0002: h["type_ids_off"], 0x0003: h["proto_ids_off"],
                   0x0004: h["field_ids_off"], 0x0005: h["method_ids_off"], 0x0006: h["class_defs_off"]}
    for k, (t, n, o) in enumerate(dex.map_list()):
        where = f"{name}: map_list entry {k} (type 0x{t:04x})"
        if t not in MAP_TYPES:
            out.append(DexDamage(f"{where}: unknown type code", True))
        elif n and o >= size:
            out.append(DexDamage(f"{where}: {MAP_TYPES[t]} section at 0x{o:x} lies outside the file ({size} bytes)", True))
        elif t in _ID_TABLES and n and o != header_offs[t]:
            out.append(DexDamage(f"{where}: {_ID_TABLES[t]} at 0x{o:x}, the header says 0x{header_offs[t]:x}", True))
        elif t == 0x1000 and o != mo:
            out.append(DexDamage(f"{where}: map_list at 0x{o:x}, the header says 0x{mo:x}", True))


def _ids(dex: DexFile, out: list[DexDamage]) -> None:
    """Every id of every id table inside its target table; string data inside the data area."""
    name, size, h = dex.name, dex._size, dex.header
    nstr, ntyp, npro = dex.string_count, dex.type_count, dex.proto_count
    lo = h["data_off"] if h["data_size"] else h["header_size"]
    sid = dex._sid
    if sid and (_reaches(sid, size) or not _reaches(sid, lo, every=True)):
        _offenders([i for i, o in enumerate(sid) if not lo <= o < size],
                   lambda i: DexDamage(f"{name}: string_ids[{i}]: string_data at 0x{sid[i]:x} lies outside the data "
                                       f"area (0x{lo:x}..0x{size:x})", True), out, f"{name}: string_ids")
    _column(out, name, "type_ids", dex._tid, "string", nstr)
    pid = dex._pid
    _column(out, name, "proto_ids", pid[0::3], "shorty string", nstr)
    _column(out, name, "proto_ids", pid[1::3], "return type", ntyp)
    params = pid[2::3]
    bad_lists = _type_lists(dex, set(params))
    if bad_lists:
        _offenders([i for i, v in enumerate(params) if v in bad_lists],
                   lambda i: DexDamage(f"{name}: proto_ids[{i}]: parameters {bad_lists[params[i]]}", True), out,
                   f"{name}: proto_ids")
    _column(out, name, "field_ids", dex._fid_h[0::4], "class", ntyp)
    _column(out, name, "field_ids", dex._fid_h[1::4], "type", ntyp)
    _column(out, name, "field_ids", dex._fid_i[1::2], "name string", nstr)
    _column(out, name, "method_ids", dex._mid_h[0::4], "class", ntyp)
    _column(out, name, "method_ids", dex._mid_h[1::4], "proto", npro)
    _column(out, name, "method_ids", dex._mid_i[1::2], "name string", nstr)


def _type_lists(dex: DexFile, offsets: Iterable[int]) -> dict[int, str]:
    """Why each unreadable type_list at these offsets cannot be read (0 is no list).

    Counts are gathered with one ``itemgetter`` over the file's 32-bit words; the entries
    are checked at once over the span the lists cover (:func:`_reaches`), and list by list
    only when that fails (the span also holds the counts and padding, so it can only be
    too strict, never too lax).
    """
    size, ntyp = dex._size, dex.type_count
    offs = sorted(set(offsets) - {0})
    bad: dict[int, str] = {}
    if offs and (offs[-1] + 4 > size or any(map(and_, offs, repeat(3)))):
        bad = {o: f"type_list at 0x{o:x} is unaligned or outside the file" for o in offs if o & 3 or o + 4 > size}
        offs = [o for o in offs if o not in bad]
    if not offs:
        return bad
    words = _cast(memoryview(dex._data)[: len(dex._data) & ~3], "I")
    counts = _gather(words, map(rshift, offs, repeat(2)))
    ends = [o + 4 + 2 * c for o, c in zip(offs, counts)]
    if max(ends) > size:
        bad.update((o, f"type_list at 0x{o:x} ({c} entries) runs past the end of the file")
                   for o, c, e in zip(offs, counts, ends) if e > size)
    if any(map(gt, ends, islice(offs, 1, None))):  # lists must not overlap: that bounds the walk below
        bad.update((o, f"type_list at 0x{o:x} ({c} entries) overlaps the type_list at 0x{nxt:x}")
                   for o, c, e, nxt in zip(offs, counts, ends, offs[1:]) if e > nxt)
    units = dex._h
    if _reaches(units[offs[0] // 2:min(max(ends), size) // 2], ntyp):
        for o, c, e in zip(offs, counts, ends):
            if o not in bad and c and max(units[o // 2 + 2:e // 2]) >= ntyp:
                bad[o] = f"type_list at 0x{o:x} names a type past the {ntyp} type ids"
    return bad


@functools.cache
def _byte_tests(k: int) -> tuple[bytes, bytes]:
    """``translate`` tables marking with 1 the bytes above ``k``, and the byte equal to ``k``."""
    return bytes(int(b > k) for b in range(256)), bytes(int(b == k) for b in range(256))


def _reaches(column: Sequence[int], limit: int, *, every: bool = False) -> bool:
    """Whether some value (``every``: each value) of a table column, a memoryview or array of
    unsigned ints, is ``limit`` or more. The values are compared with ``limit`` byte by byte from
    the most significant, one C-speed ``translate`` of each byte lane of the column into 0/1
    flags held as a big integer: no Python int per value, unlike ``max()``."""
    view = memoryview(column)  # type: ignore[arg-type]  # a buffer: memoryview and array both are
    width, raw = view.itemsize, view.tobytes()
    n = len(raw) // width
    if not n or limit >= 1 << 8 * width:
        return every and not n
    ones = int.from_bytes(b"\1" * n, "little")
    above, equal = 0, ones  # per value: already above the limit; equal to it in the bytes so far
    for k in reversed(range(width)):
        lane = raw[k if _LITTLE else width - 1 - k::width]
        gt_table, eq_table = _byte_tests((limit >> 8 * k) & 0xFF)
        above |= equal & int.from_bytes(lane.translate(gt_table), "little")
        equal &= int.from_bytes(lane.translate(eq_table), "little")
        if not equal:
            break
    reached = above | equal
    return reached == ones if every else bool(reached)


def _gather(seq: Sequence[int], indices: Iterable[int]) -> list[int]:
    """``[seq[i] for i in indices]`` at C speed."""
    idx = list(indices)
    if not idx:
        return []
    got = itemgetter(*idx)(seq)
    return list(got) if len(idx) > 1 else [got]


def _class_defs(dex: DexFile, out: list[DexDamage]) -> None:
    """Every class_def's ids and offsets in range (class_data is the code index's business)."""
    name, size, cd = dex.name, dex._size, dex._cd
    ntyp, nstr = dex.type_count, dex.string_count

    def damage(ci: int, what: str) -> DexDamage:
        return DexDamage(f"{name}: class_defs[{ci}] {dex._describe_class(ci)}: {what}".replace(" : ", ": "), False,
                         class_def=ci)

    checks: list[tuple[int, Callable[[int], bool], Callable[[int], str]]] = [
        (0, lambda v: v >= ntyp, lambda v: f"class type {v} of {ntyp}"),
        (2, lambda v: v != NO_INDEX and v >= ntyp, lambda v: f"superclass type {v} of {ntyp}"),
        (4, lambda v: v != NO_INDEX and v >= nstr, lambda v: f"source_file string {v} of {nstr}"),
        (5, lambda v: v + 16 > size, lambda v: f"annotations_directory at 0x{v:x} lies outside the file"),
        (6, lambda v: v >= size, lambda v: f"class_data at 0x{v:x} lies outside the file"),
        (7, lambda v: v >= size, lambda v: f"static_values at 0x{v:x} lies outside the file"),
    ]
    for col, bad, say in checks:
        column = cd[col::8]
        if bad(max(filter(NO_INDEX.__ne__, column), default=0)):
            hits = [i for i, v in enumerate(column) if v and bad(v)]
            _offenders(hits, lambda i: damage(i, say(column[i])), out, f"{name}: class_defs")  # noqa: B023 - used at once
    interfaces = cd[3::8]
    bad_lists = _type_lists(dex, set(interfaces))
    if bad_lists:
        hits = [i for i, v in enumerate(interfaces) if v in bad_lists]
        _offenders(hits, lambda i: damage(i, f"interfaces {bad_lists[interfaces[i]]}"), out, f"{name}: class_defs")


def _code_items(dex: DexFile, out: list[DexDamage]) -> None:
    """Each code_item inside the data area with its insns, tries and handlers; none overlapping."""
    index = dex._code_index()
    name, size, data = dex.name, dex._size, dex._data
    for m, why in sorted(index.bad_code.items()):
        out.append(DexDamage(f"{name}: {dex.describe_method(m)}: {why}", False, m))
    starts = index.starts if not index.shared else array("I", dict.fromkeys(index.starts))  # sorted, even, unique
    if not starts:
        return
    owner: dict[int, int] = {}

    def damage(c: int, what: str) -> DexDamage:
        if not owner:
            owner.update((c, m) for m, c in index.code_of.items() if c)
        m = owner[c]
        return DexDamage(f"{name}: {dex.describe_method(m)}: code_item at 0x{c:x} {what}", False, m)

    where = f"{name}: code_items"
    h = dex.header
    lo = h["data_off"] if h["data_size"] else h["header_size"]
    if starts[0] < lo:
        _offenders([c for c in starts if c < lo], lambda c: damage(c, f"lies before the data area (0x{lo:x})"), out, where)
    units = dex._h
    tries = _gather(units, _offsets(starts, 1, 3))
    if starts.tobytes()[0 if _LITTLE else 3::4].translate(None, _ALIGNED):
        _offenders([c for c in starts if c & 3], lambda c: damage(c, "is not 4-byte aligned"), out, where)
        n_insns = list(map(or_, _gather(units, _offsets(starts, 1, 6)),
                           map(lshift, _gather(units, _offsets(starts, 1, 7)), repeat(16))))
    else:  # insns_size in one 32-bit word
        words = _cast(memoryview(data)[: len(data) & ~3], "I")
        n_insns = _gather(words, _offsets(starts, 2, 3))
    if _runs_past(starts, n_insns, size):  # name the offenders
        ends = list(map(add, map(add, starts, repeat(16)), map(add, n_insns, n_insns)))
        if max(ends) > size:
            _offenders([k for k, e in enumerate(ends) if e > size],
                       lambda k: damage(starts[k], f"({n_insns[k]} code units) runs past the end of the file"), out, where)
        if any(map(gt, ends, islice(starts, 1, None))):
            _offenders([k for k, e in enumerate(ends[:-1]) if e > starts[k + 1]],
                       lambda k: damage(starts[k], f"({n_insns[k]} code units) overlaps the code_item at 0x{starts[k + 1]:x}"),
                       out, where)
    # the try items of overlapping code_items could be read once per claimant: check only the
    # disjoint ones (the overlaps are damage already), so the work stays linear in the file size
    with_tries = []
    last = len(starts) - 1
    for j in compress(range(len(starts)), tries):
        c, n, k = starts[j], n_insns[j], tries[j]
        e = c + 16 + 2 * n
        nxt = starts[j + 1] if j < last else size
        if e > nxt:
            continue  # overlapping: reported above
        t = e + (2 if n & 1 else 0)
        if t + 8 * k > nxt:
            out.append(damage(c, f"has {k} try items running into the next code_item at 0x{nxt:x}"))
            continue
        with_tries.append((c, n, k, t))
    if with_tries:
        _tries(data, size, with_tries, damage, out)


def _as_int(values: array[int]) -> int:
    """An array of unsigned values as one big integer, a lane per value."""
    if not _LITTLE:  # pragma: no cover - big-endian hosts only
        values = array(values.typecode, values)
        values.byteswap()
    return int.from_bytes(values, "little")


def _repeated(value: int, width: int, n: int) -> int:
    """``value`` in each of ``n`` lanes ``width`` bytes wide."""
    return int.from_bytes(value.to_bytes(width, "little") * n, "little")


def _offsets(starts: array[int], shift: int, plus: int) -> array[int]:
    """``(c >> shift) + plus`` for every offset at once (32-bit lanes of one big integer): the
    indices of a header field of every code_item, with no loop over the items."""
    n = len(starts)
    lanes = (_as_int(starts) >> shift) & _repeated(0xFFFFFFFF >> shift, 4, n)
    out = array("I", (lanes + _repeated(plus, 4, n)).to_bytes(4 * n, "little"))
    if not _LITTLE:  # pragma: no cover - big-endian hosts only
        out.byteswap()
    return out


def _runs_past(starts: array[int], n_insns: Sequence[int], size: int) -> bool:
    """Whether some code_item's instructions (16-byte header, 2 bytes a code unit) run past the
    next code_item's start, or the last one's past the file: all at once, in 64-bit lanes."""
    n = len(starts)
    ends = _as_int(array("Q", starts)) + (_as_int(array("Q", n_insns)) << 1) + _repeated(16, 8, n)
    nexts = array("Q", islice(starts, 1, None))
    nexts.append(size)
    # each end is below 2**35 and each next below 2**32: no borrow crosses a lane, and bit 63
    # of a lane is set exactly where end - next - 1 >= 0
    return bool((ends + _repeated((1 << 63) - 1, 8, n) - _as_int(nexts)) & _repeated(1 << 63, 8, n))


def _tries(data: bytes, size: int, items: list[tuple[int, int, int, int]], damage: Callable[[int, str], DexDamage],
           out: list[DexDamage]) -> None:
    """Try items and handler lists of these code_items ``(offset, insns_size, tries_size, try
    items' offset)`` inside the file and inside their code: checked all at once, row by row
    only to name an offender."""
    hbases = [t + 8 * k for _, _, k, t in items]
    if max(hbases) >= size:
        for (c, _, k, _), hb in zip(items, hbases):
            if hb >= size:
                out.append(damage(c, f"has {k} try items or their handlers past the end of the file"))
        items = [x for x, hb in zip(items, hbases) if hb < size]
        hbases = [hb for hb in hbases if hb < size]
    if not items:
        return
    rows = list(struct.iter_unpack("<IHH", b"".join([data[t:hb] for (_, _, _, t), hb in zip(items, hbases)])))
    counts = [k for _, _, k, _ in items]
    limit = list(chain.from_iterable(map(repeat, [n for _, n, _, _ in items], counts)))
    base = list(chain.from_iterable(map(repeat, hbases, counts)))
    if any(map(gt, [a + k for a, k, _ in rows], limit)) or max(map(add, base, [h for _, _, h in rows])) >= size:
        r = 0
        for c, n, k, _ in items:
            mine, hb = rows[r:r + k], base[r]
            r += k
            if max(a + k for a, k, _ in mine) > n:
                out.append(damage(c, f"has a try block past its {n} code units"))
            elif hb + max(h for _, _, h in mine) >= size:
                out.append(damage(c, f"has a catch handler at 0x{hb + max(h for _, _, h in mine):x}, outside the file"))
