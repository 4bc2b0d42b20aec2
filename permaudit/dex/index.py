"""The code index of one dex: which code_item belongs to which method, and :meth:`CodeIndex.refs`.

Built once, on first need, from every class_data item. The class_data section is
tokenised into LEB128s with one regex pass (never more: each item offset is mapped to
its token by bisection), so the work and memory are bounded by the section's size
whatever the class_defs claim. What cannot be trusted is recorded, never re-read:

* damage to the class_data (an item outside the section, overlapping another, not on
  a LEB128 boundary, truncated, over-long LEB128s, member ids out of range) is *fatal*:
  the method <-> code map is suspect, so :meth:`CodeIndex.require` raises for refs()
  and code();
* a code_item past the end of the file (or at an odd offset) spoils one method: it is
  left out of the scan, named in ``skipped`` by :meth:`CodeIndex.refs`, and
  ``DexFile.code()`` raises for it alone.
"""

from __future__ import annotations

import functools
import gc
import re
import struct
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import accumulate, chain, islice, repeat
from operator import sub
from typing import Literal, NamedTuple

from permaudit.dex.opcodes import (
    _KIND_OPS,
    _LITTLE,
    _OP_KIND,
    _OP_LEN,
    _UNIT_LEN,
    _payload_len,
)
from permaudit.errors import DexError

__all__ = ["CodeIndex", "Ref"]

CODE_HEADER = struct.Struct("<4HII")
"""registers_size, ins_size, outs_size, tries_size, debug_info_off, insns_size."""
ULEB_TOKEN = re.compile(rb"[\x80-\xff]*[\x00-\x7f]")
"""One LEB128 (any length; longer than 5 bytes is damage)."""
_LANE_MASKS = (b"\x7f\x00\x00\x00", b"\x80\x3f\x00\x00", b"\x00\xc0\x1f\x00", b"\x00\x00\xe0\x0f")
# Bytes 0xD8-0xDF would make surrogate code units when the code is decoded as UTF-16;
# fold them into 0xD7 for the candidate scan (every candidate is re-checked on the raw bytes).
_NO_SURROGATES = bytes(b if not 0xD8 <= b <= 0xDF else 0xD7 for b in range(256))
_EVEN_BYTES = bytes(range(0, 256, 2))
_LEB_ENDS = bytes(int(b < 0x80) for b in range(256))


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


class Damage(NamedTuple):
    """Damage to the class_data the index met (all of it fatal: the method <-> code map is suspect)."""

    message: str
    class_def: int


def uleb_value(tok: bytes) -> int:
    """The value of one LEB128 token of at most 5 bytes (bits past 32 dropped)."""
    if len(tok) == 1:
        return tok[0]
    v = int.from_bytes(tok, "little")
    return (v & 0x7F) | ((v >> 1) & 0x3F80) | ((v >> 2) & 0x1FC000) | ((v >> 3) & 0xFE00000) | ((v >> 4) & 0xF0000000)


def _uleb_many(toks: list[bytes], short: bool) -> list[int] | array[int]:
    """Decode many LEB128 tokens (each at most 5 bytes; ``short``: at most 4) with big-integer lane
    arithmetic, not a loop: each token read as one little-endian int into a 32-bit lane, the
    continuation bits of all lanes squeezed out at once."""
    if not short:  # rare: 5-byte values, or over-long ones of damaged items
        return [uleb_value(t) for t in toks]
    n = len(toks)
    little: repeat[Literal["little"]] = repeat("little")
    raw = array("I", map(int.from_bytes, toks, little))
    if not _LITTLE:  # pragma: no cover
        raw.byteswap()
    v = int.from_bytes(raw, "little")
    m0, m1, m2, m3 = (int.from_bytes(m * n, "little") for m in _LANE_MASKS)
    r = (v & m0) | ((v >> 1) & m1) | ((v >> 2) & m2) | ((v >> 3) & m3)
    out = array("I", r.to_bytes(4 * n, "little"))
    if not _LITTLE:  # pragma: no cover
        out.byteswap()
    return out


def _bad_leb(tok: bytes) -> bool:
    """Over-long: more than 5 bytes, or a 5th byte carrying bits past 32."""
    return len(tok) > 5 or (len(tok) == 5 and tok[4] > 0x0F)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while building big flat tables (nothing built there forms cycles)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _fold(unit: int) -> int:
    return _NO_SURROGATES[unit & 0xFF] | (_NO_SURROGATES[unit >> 8] << 8)


_WHERE_ENTRY = 32
"""What remembering one scanned value costs beyond its indices, in index units (4 bytes): the
array, its key and the dict slot; up to 65,536 values may be asked for."""

_FIND_MAX = 24
"""Up to this many wanted values, each is found with ``str.find`` (a class scan costs about 30 finds
of a method id on mega-multidex's code; fewer for ids whose low byte is common, hence the margin)."""


def _positions(units: str, ch: str) -> Iterator[int]:
    """Every index past 0 of ``units`` holding the character ``ch``, in order."""
    find = units.find
    j = find(ch, 1)
    while j >= 0:
        yield j
        j = find(ch, j + 1)


@functools.lru_cache(maxsize=64)
def _values_regex(values: frozenset[int]) -> re.Pattern[str]:
    return re.compile("(?s)" + _charclass(values))


@functools.lru_cache(maxsize=16)
def _opcode_mask(kinds: tuple[str, ...]) -> bytes:
    """256 bytes, 1 at every opcode that uses an index of one of ``kinds``."""
    ops = {op for kind in kinds for op in _KIND_OPS[kind]}
    return bytes(int(b in ops) for b in range(256))


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


class CodeIndex:
    """method <-> code_item of one dex, built from its class_data in one pass; finds refs.

    ``span`` is the class_data section (from the map list) that items must lie in;
    ``describe_class`` names a class_def in messages (used while building, not kept: a
    bound method of the DexFile kept here would make a cycle that holds the whole file).
    """

    def __init__(self, data: bytes, size: int, units: Sequence[int], class_data_offs: Sequence[int],
                 span: tuple[int, int], method_count: int, field_count: int, name: str,
                 describe_class: Callable[[int], str]) -> None:
        self._data, self._size, self._h, self.name = data, size, units, name
        self.damage: list[Damage] = []
        self._found: list[tuple[int, str]] = []  # (class_def, what), named once the build is done
        self.bad_code: dict[int, str] = {}
        """Methods whose code_item cannot be read (method idx -> message naming it)."""
        self.code_of: dict[int, int] = {}
        """method idx -> code_off (0 for abstract/native) of every method a class_def defines."""
        self.starts: array[int] = array("I")
        """Readable code_item offsets, sorted."""
        self._owners: array[int] = array("I")
        self._extra_owners: dict[int, list[int]] = {}
        self.shared = False
        """Whether some methods share one code_item (``starts`` then repeats offsets)."""
        self._region = (0, 0)
        self._units: str | None = None
        self._where: dict[str, array[int]] = {}
        """Scanned code unit (folded, as a character) -> its indices in the code text: each value is
        scanned for once per dex, however many stages ask (bounded by ``_where_room``)."""
        self._where_room = 0
        self._fields: tuple[list[bytes], list[tuple[int, int, int, int]], int, bool] = ([], [], field_count, True)
        with gc_paused():
            self._build(class_data_offs, span, method_count, field_count)
        self._name_damage(describe_class)

    def _fatal(self, ci: int, msg: str) -> None:
        self._found.append((ci, msg))

    def _name_damage(self, describe_class: Callable[[int], str]) -> None:
        for ci, msg in self._found:
            where = " ".join(filter(None, ("class_def", str(ci), describe_class(ci))))
            self.damage.append(Damage(f"{self.name}: {where}: {msg}", ci))
        self._found = []

    def require(self) -> None:
        """Raise the first fatal damage: the method <-> code map cannot be trusted."""
        if self.damage:
            raise DexError(self.damage[0].message)

    def _build(self, class_data_offs: Sequence[int], span: tuple[int, int], n_methods: int, n_fields: int) -> None:
        d = self._data
        items = sorted(zip(class_data_offs, range(len(class_data_offs))))
        del items[:bisect_left(items, (1, 0))]  # no class_data
        if not items:
            return
        hi = min(span[1], len(d))  # a map may claim a section past the end of a truncated file
        lo = min(span[0], hi)
        toks = ULEB_TOKEN.findall(d, lo, hi) if hi > lo else []
        ends_of = d[lo:hi].translate(_LEB_ENDS)  # 1 where a LEB128 ends, 0 on a continuation byte
        ends: array[int] | None = None  # ends[k]: where token k starts, relative to lo; built on the first gap
        long = ends_of.find(b"\0\0\0\0") >= 0  # some token has 5 bytes or more
        ntoks = len(toks)
        m_toks: list[bytes] = []  # method_idx_diff and code_off of every encoded_method, in file order
        c_toks: list[bytes] = []
        f_toks: list[bytes] = []  # field_idx_diff of every encoded_field
        segments: list[tuple[int, int, int, int]] = []  # (class_def, direct, virtual, end) in m_toks/c_toks
        fsegments: list[tuple[int, int, int, int]] = []  # (class_def, static, instance, end) in f_toks
        item_at: list[tuple[int, int, int, int]] = []  # (first token, end token, class_def, offset)
        ti, prev_off, prev_n, prev_ci = 0, lo, 0, -1  # the previous item: offset, tokens, class_def
        for off, ci in items:
            if off == prev_off and prev_n:
                self._fatal(ci, f"class_data at 0x{off:x} is also the class_data of class_def {prev_ci}")
                continue
            if not lo <= off < hi:
                self._fatal(ci, f"class_data at 0x{off:x} lies outside the class_data section (0x{lo:x}..0x{hi:x})")
                continue
            # the fast path: this item starts right after the previous one's prev_n tokens
            # (its bytes hold exactly prev_n LEB128 ends, and the last byte before it is one)
            if ends is not None or (off != lo and not ends_of[off - lo - 1]) or (
                    ends_of.count(1, prev_off - lo, off - lo) != prev_n):
                if ends is None:
                    ends = array("I", [0])
                    ends.extend(accumulate(map(len, toks)))
                if off - lo < ends[ti]:
                    self._fatal(ci, f"class_data at 0x{off:x} overlaps the class_data of class_def {prev_ci}")
                    continue
                k = bisect_left(ends, off - lo, ti)
                if k > ntoks or ends[k] != off - lo:
                    self._fatal(ci, f"class_data at 0x{off:x} starts inside a LEB128")
                    continue
                ti = k
            head = toks[ti:ti + 4]
            h = b"".join(head)
            if len(h) == 4:
                sf, inf, dm, vm = h
            elif len(head) < 4 or any(map(_bad_leb, head)):
                self._fatal(ci, f"class_data at 0x{off:x} is truncated or has an over-long LEB128")
                continue
            else:
                sf, inf, dm, vm = map(uleb_value, head)
            t1 = ti + 4 + 2 * (sf + inf)
            t3 = t1 + 3 * (dm + vm)
            if t3 > ntoks:
                self._fatal(ci, f"class_data at 0x{off:x} is truncated ({sf}+{inf} fields, {dm}+{vm} methods claimed, "
                                f"the class_data section ends at 0x{hi:x})")
                continue
            if sf + inf:
                start = len(f_toks)
                f_toks += toks[ti + 4:t1:2]
                fsegments.append((ci, start, start + sf, start + sf + inf))
            if dm + vm:
                start = len(m_toks)
                m_toks += toks[t1:t3:3]
                c_toks += toks[t1 + 2:t3:3]
                segments.append((ci, start, start + dm, start + dm + vm))
            if long:
                item_at.append((ti, t3, ci, off))
            ti, prev_off, prev_n, prev_ci = t3, off, t3 - ti, ci
        bad_items: set[int] = set()
        if long:  # check the items' own LEB128s
            for first, end, ci, off in item_at:
                if any(map(_bad_leb, toks[first:end])):
                    self._fatal(ci, f"class_data at 0x{off:x} has an over-long LEB128")
                    bad_items.add(ci)
        self._fields = (f_toks, [s for s in fsegments if s[0] not in bad_items] if bad_items else fsegments, n_fields, not long)
        if segments and not self._found:
            self._map_code(_uleb_many(m_toks, not long), _uleb_many(c_toks, not long), segments, n_methods, bad_items)

    def check_fields(self, describe_class: Callable[[int], str]) -> None:
        """Record (fatal) damage for class_data naming fields past the field ids; only
        :func:`permaudit.dex.validate` needs this, refs() and code() do not read fields."""
        toks, segments, count, short = self._fields
        self._fields = ([], [], count, short)
        if segments:
            self._check_ids(_uleb_many(toks, short), segments, count, "field", set())
            self._name_damage(describe_class)

    def _check_ids(self, diffs: Sequence[int], segments: list[tuple[int, int, int, int]], count: int, what: str,
                   bad: set[int], ids: list[int] | None = None) -> list[int]:
        """Damage for each class_def whose member ids (diffs added up, or ``ids`` when given)
        reach ``count``, added to ``bad``; returns the ids, or each list's largest one."""
        if ids is None:  # diffs are unsigned: a list's largest id is its sum, read off the running total
            total = [0, *accumulate(diffs)]
            _, firsts, seconds, ends = zip(*segments)
            at = total.__getitem__
            ids = [*map(sub, map(at, seconds), map(at, firsts)), *map(sub, map(at, ends), map(at, seconds))]
        if max(ids, default=0) >= count:
            for ci, a, b, c in segments:
                last = max(max(accumulate(diffs[a:b]), default=0), max(accumulate(diffs[b:c]), default=0))
                if last >= count:
                    self._fatal(ci, f"class_data names {what} {last} of {count}")
                    bad.add(ci)
        return ids

    def _map_code(self, diffs: Sequence[int], codes: Sequence[int], segments: list[tuple[int, int, int, int]],
                  n_methods: int, bad: set[int]) -> None:
        segments.sort()
        all_m: list[int] = []
        for _, a, b, c in segments:
            all_m.extend(accumulate(diffs[a:b]))
            all_m.extend(accumulate(diffs[b:c]))
        self._check_ids(diffs, segments, n_methods, "method", bad, all_m)
        all_c: Sequence[int] = codes
        if any(s[1] != k[3] for s, k in zip(islice(segments, 1, None), segments)):  # re-ordered by the sort above
            all_c = []
            for _, a, _, c in segments:
                all_c.extend(codes[a:c])
        if bad:  # the map is not built: require() raises for refs() and code()
            return
        code_of = self.code_of = dict(zip(reversed(all_m), reversed(all_c)))  # the first class_def wins
        size = self._size
        order = sorted(code_of, key=code_of.__getitem__)
        starts = array("I", map(code_of.__getitem__, order))
        k = bisect_left(starts, 1)  # drop abstract and native methods
        starts, owners = starts[k:], array("I", order[k:])
        if starts and (starts[-1] + 16 > size or starts.tobytes()[0 if _LITTLE else 3::4].translate(None, _EVEN_BYTES)):
            keep = []
            for j, c in enumerate(starts):
                m = owners[j]
                if c + 16 > size:
                    self.bad_code[m] = f"code_item at 0x{c:x} lies outside the file ({size} bytes)"
                elif c & 1:
                    self.bad_code[m] = f"code_item at 0x{c:x} is at an odd offset"
                else:
                    keep.append(j)
            starts, owners = array("I", (starts[j] for j in keep)), array("I", (owners[j] for j in keep))
        extra: dict[int, list[int]] = {}
        if len(set(starts)) != len(starts):  # several methods share one code_item
            for j in range(1, len(starts)):
                if starts[j] == starts[j - 1]:
                    extra.setdefault(starts[j], [owners[j - 1]]).append(owners[j])
        if starts:
            last = starts[-1]
            hi = last + 16 + 2 * CODE_HEADER.unpack_from(self._data, last)[5]
            self._region = (starts[0], min(hi, size) & ~1)
        self.starts, self._owners, self._extra_owners = starts, owners, extra
        self.shared = bool(extra)

    # ------------------------------------------------------------------ references

    def _code_units_text(self) -> str:
        """The code region as one str of 16-bit code units (surrogate bytes folded)."""
        if self._units is None:
            lo, hi = self._region
            self._units = self._data[lo:hi].translate(_NO_SURROGATES).decode("utf-16-le")
            self._where_room = max(len(self._units) // 16, 4096)  # 4 bytes an index: an eighth of the text's size
        return self._units

    def _scan(self, want: dict[str, set[int]]) -> dict[str, array[int]]:
        """The indices (past 0, in order) of each wanted value, as the code unit it leaves in the
        code text (low 16 bits, folded), scanned for only where not remembered; what is scanned
        is remembered while the room lasts (:meth:`prefetch` and :meth:`refs` share it).

        A few values: one C-speed find each; many: one pass of a character class."""
        values = {_fold(v & 0xFFFF) for s in want.values() for v in s}
        units = self._code_units_text()
        where = self._where
        got = {ch: where[ch] for ch in map(chr, values) if ch in where}
        new = [v for v in values if chr(v) not in got]
        if not new:
            return got
        if len(new) <= _FIND_MAX:
            found = {ch: array("I", _positions(units, ch)) for ch in map(chr, new)}
        else:
            found = {chr(v): array("I") for v in new}
            for m in _values_regex(frozenset(new)).finditer(units, 1):
                found[m.group()].append(m.start())
        for ch, at in found.items():
            cost = len(at) + _WHERE_ENTRY  # an empty answer is remembered too, and costs its dict slot
            if cost <= self._where_room:
                where[ch] = at
                self._where_room -= cost
        got.update(found)
        return got

    def prefetch(self, want: dict[str, set[int]]) -> None:
        """Scan for ``want``'s values now, in one pass, so that later :meth:`refs` calls asking
        for any of them need no scan of their own (nothing else changes: each call still
        confirms its own candidates). Does nothing when the class_data cannot be trusted."""
        lo, hi = self._region
        if hi > lo and not self.damage:
            self._scan(want)

    def refs(self, want: dict[str, set[int]], skipped: dict[int, str], describe_method: Callable[[int], str]) -> list[Ref]:
        """Every instruction using one of ``want[kind]``, confirmed at instruction boundaries;
        methods whose body cannot be walked go to ``skipped`` (method idx -> reason naming it)."""
        self.require()
        for method_idx, why in self.bad_code.items():
            skipped[method_idx] = f"{self.name}: {describe_method(method_idx)}: {why}"
        lo, hi = self._region
        cands: dict[int, list[int]] = {}  # code_off -> candidate unit indices (absolute)
        starts = self.starts
        if hi > lo:
            is_op = _opcode_mask(tuple(sorted(want)))
            base = lo // 2 - 1
            data = self._data
            # every code unit equal to a wanted index whose preceding unit has the low byte
            # of an opcode of a wanted kind (a superset of the instructions: each is verified
            # at instruction boundaries below). The opcode test is on the raw low byte: the
            # folding of surrogate bytes never touches an opcode that takes an index.
            scanned = list(self._scan(want).values())
            found: Iterable[int] = scanned[0] if len(scanned) == 1 else sorted(chain.from_iterable(scanned))
            for j in found:
                u = base + j  # unit index of the opcode
                p = 2 * u
                if not is_op[data[p]]:
                    continue
                k = bisect_right(starts, p) - 1
                if k < 0:
                    continue
                c = starts[k]
                if p >= c + 16:
                    cands.setdefault(c, []).append(u)
        out: list[Ref] = []
        for c, us in cands.items():
            self._verify(c, sorted(set(us)), want, out, skipped, describe_method)
        out.sort()
        return out

    def _owners_of(self, code_off: int) -> list[int]:
        extra = self._extra_owners.get(code_off)
        if extra is not None:
            return extra
        return [self._owners[bisect_left(self.starts, code_off)]]

    def _verify(self, code_off: int, cand_units: list[int], want: dict[str, set[int]], out: list[Ref],
                skipped: dict[int, str], describe_method: Callable[[int], str]) -> None:
        """Walk the instruction lengths of one code item and keep the candidates that sit
        on an instruction boundary with the right opcode kind and index."""
        owners = self._owners_of(code_off)
        H = self._h
        s = code_off // 2 + 8
        n = CODE_HEADER.unpack_from(self._data, code_off)[5]
        e = s + n
        ulen = _UNIT_LEN
        i = s
        hits: list[tuple[int, str, int, int]] = []
        where = f"{self.name}: method {owners[0]}"  # named in full below, only on damage
        try:
            if code_off + 16 + 2 * n > self._size:
                raise DexError(f"{where}: code_item at 0x{code_off:x} ({n} code units) runs past the end of the file")
            for t in cand_units:
                if t >= e:
                    break
                while i < t:
                    step = ulen[H[i]]
                    if not step:
                        step = _payload_len(H, i, e, where, s)
                    i += step
                if i > e:
                    raise DexError(f"{where}: the instruction before code unit {i - s} runs past the end of the code")
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
        except DexError as damage:
            exc = DexError(f"{self.name}: {describe_method(owners[0])}{str(damage)[len(where):]}")
            for m in owners:
                skipped[m] = str(exc) if m == owners[0] else f"{self.name}: {describe_method(m)}: shares a code_item ({exc})"
        for m in owners:
            out.extend(Ref(m, off, kind, idx, op) for off, kind, idx, op in hits)
