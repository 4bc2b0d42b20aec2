"""resources.arsc without parsing the whole table: one resource id, a pool's strings, entry names.

androguard's ``ARSCParser`` decodes every entry of every package (0.5 s on Google Play
services' table), which would blow the manifest stage's time budget just to read the
app label. The label needs one string: find the package chunk, the type chunks for the
id's type, the entry, and decode a single string from the global pool. The format is
AOSP's ``ResourceTypes.h``; anything unexpected raises ``ArscError`` so the caller can
report the table as malformed.
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Iterable

from permaudit.errors import ArscError
from permaudit.model.record import record

RES_STRING_POOL = 0x0001
RES_TABLE = 0x0002
RES_TABLE_PACKAGE = 0x0200
RES_TABLE_TYPE = 0x0201
TYPE_REFERENCE = 0x01
TYPE_STRING = 0x03
FLAG_COMPLEX = 0x0001
FLAG_COMPACT = 0x0008
TYPE_FLAG_SPARSE = 0x01
TYPE_FLAG_OFFSET16 = 0x02
NO_ENTRY = 0xFFFFFFFF
UTF8_FLAG = 1 << 8
MAX_REFERENCE_DEPTH = 8


def resolve(table: bytes, res_id: int) -> str | None:
    """The default-configuration string value of ``res_id`` (following references), or None."""
    try:
        return _Table(table).resolve(res_id, MAX_REFERENCE_DEPTH)
    except (struct.error, IndexError, UnicodeDecodeError, ValueError) as exc:
        raise ArscError(f"resource table truncated or inconsistent ({exc})") from None


class _Table:
    def __init__(self, data: bytes) -> None:
        self.data = data
        kind, header_size, size = struct.unpack_from("<HHI", data, 0)
        if kind != RES_TABLE or size > len(data) or header_size < 12:
            raise ArscError(f"not a resource table (chunk type {kind:#x})")
        self.pool_offset = -1
        self.packages: dict[int, int] = {}
        for offset, chunk_kind, _ in _chunks(data, header_size, size):
            if chunk_kind == RES_STRING_POOL and self.pool_offset < 0:
                self.pool_offset = offset
            elif chunk_kind == RES_TABLE_PACKAGE:
                self.packages[struct.unpack_from("<I", data, offset + 8)[0]] = offset

    def resolve(self, res_id: int, depth: int) -> str | None:
        package = self.packages.get(res_id >> 24)
        if package is None or depth == 0:
            return None
        value = self._value(package, (res_id >> 16) & 0xFF, res_id & 0xFFFF)
        if value is None:
            return None
        data_type, data = value
        if data_type == TYPE_STRING:
            return _string(self.data, self.pool_offset, data)
        if data_type == TYPE_REFERENCE and data:
            return self.resolve(data, depth - 1)
        return None

    def _value(self, package: int, type_id: int, entry_index: int) -> tuple[int, int] | None:
        """(dataType, data) from the default configuration, else the first configuration that has it."""
        data = self.data
        header_size, size = struct.unpack_from("<HI", data, package + 2)
        fallback = None
        for offset, kind, _ in _chunks(data, package + header_size, package + size):
            if kind != RES_TABLE_TYPE or data[offset + 8] != type_id:
                continue
            value = _entry(data, offset, entry_index)
            if value is None:
                continue
            config_size = struct.unpack_from("<I", data, offset + 20)[0]
            if not any(data[offset + 24 : offset + 20 + config_size]):
                return value
            fallback = fallback or value
        return fallback


def _chunks(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    chunks, offset = [], start
    while offset + 8 <= end:
        kind, _, size = struct.unpack_from("<HHI", data, offset)
        if size < 8 or offset + size > end:
            raise ArscError(f"chunk at {offset:#x} overruns its parent")
        chunks.append((offset, kind, size))
        offset += size
    return chunks


def _entry(data: bytes, chunk: int, index: int) -> tuple[int, int] | None:
    header_size = struct.unpack_from("<H", data, chunk + 2)[0]
    flags = data[chunk + 9]
    count, entries_start = struct.unpack_from("<II", data, chunk + 12)
    offsets = chunk + header_size
    if flags & TYPE_FLAG_SPARSE:
        for i in range(count):
            idx, half = struct.unpack_from("<HH", data, offsets + 4 * i)
            if idx == index:
                return _value_at(data, chunk + entries_start + half * 4)
        return None
    if index >= count:
        return None
    if flags & TYPE_FLAG_OFFSET16:
        half = struct.unpack_from("<H", data, offsets + 2 * index)[0]
        return None if half == 0xFFFF else _value_at(data, chunk + entries_start + half * 4)
    entry = struct.unpack_from("<I", data, offsets + 4 * index)[0]
    return None if entry == NO_ENTRY else _value_at(data, chunk + entries_start + entry)


def _value_at(data: bytes, offset: int) -> tuple[int, int] | None:
    size, flags = struct.unpack_from("<HH", data, offset)
    if flags & FLAG_COMPACT:
        return flags >> 8, struct.unpack_from("<I", data, offset + 4)[0]
    if flags & FLAG_COMPLEX:
        return None
    _, _, data_type, value = struct.unpack_from("<HBBI", data, offset + size)
    return data_type, value


def _string(data: bytes, pool: int, index: int) -> str:
    if pool < 0:
        raise ArscError("no global string pool")
    count, _, flags, strings_start = struct.unpack_from("<IIII", data, pool + 8)
    if index >= count:
        raise ArscError(f"string {index} out of range ({count})")
    header_size = struct.unpack_from("<H", data, pool + 2)[0]
    return _decode(data, pool + strings_start + struct.unpack_from("<I", data, pool + header_size + 4 * index)[0], flags)


@record
class GlobalPool:
    """The global string pool of a resource table, laid out so its bytes can be searched and a
    hit mapped back to its string without decoding the pool."""

    offset: int
    """Of the pool chunk in the table (for ``pool_strings``)."""
    utf8: bool
    """UTF-8 strings; else UTF-16LE."""
    data: bytes
    """The pool's string bytes."""
    starts: tuple[int, ...]
    """Start of each string in ``data``, ascending."""
    order: tuple[int, ...]
    """The string index of each entry of ``starts``."""

    def index_at(self, position: int) -> int | None:
        """The index of the string whose bytes hold ``position`` of ``data``."""
        k = bisect.bisect_right(self.starts, position) - 1
        return self.order[k] if k >= 0 else None


def global_pool(table: bytes) -> GlobalPool:
    """The global string pool of ``resources.arsc``; ``ValueError`` (or ``struct.error``) when the
    table is not one or its pool is missing: the caller names the member."""
    kind, header_size, _ = struct.unpack_from("<HHI", table, 0)
    if kind != RES_TABLE:
        raise ValueError(f"not a resource table (chunk type {kind:#x})")
    pool = header_size
    if struct.unpack_from("<H", table, pool)[0] != RES_STRING_POOL:
        raise ValueError("no global string pool")
    pool_header, pool_size = struct.unpack_from("<HI", table, pool + 2)
    count, _, flags, strings_start = struct.unpack_from("<IIII", table, pool + 8)
    count = min(count, max(0, (len(table) - pool - pool_header) // 4))
    offsets = struct.unpack_from(f"<{count}I", table, pool + pool_header)
    order = tuple(sorted(range(count), key=offsets.__getitem__))
    base = pool + strings_start
    return GlobalPool(pool, bool(flags & UTF8_FLAG), table[base:min(len(table), pool + pool_size)], tuple(offsets[i] for i in order), order)


def pool_strings(data: bytes, pool: int, wanted: Iterable[int] | None = None) -> list[str]:
    """Strings of the string pool chunk at ``pool``: all, or those in ``wanted`` in that order
    (empty for an index past the pool). A pool cut short raises ``struct.error``/``IndexError``:
    the caller names the member it could not read."""
    header_size = struct.unpack_from("<H", data, pool + 2)[0]
    count, _, flags, strings_start = struct.unpack_from("<IIII", data, pool + 8)
    count = min(count, (len(data) - pool - header_size) // 4)
    return [_decode(data, pool + strings_start + struct.unpack_from("<I", data, pool + header_size + 4 * i)[0], flags) if i < count else ""
            for i in (range(count) if wanted is None else wanted)]


def _decode(data: bytes, offset: int, flags: int) -> str:
    """One pool string at ``offset``: UTF-8 (two lengths) or UTF-16 (one or two 16-bit lengths)."""
    if flags & UTF8_FLAG:
        _, offset = _length8(data, offset)
        length, offset = _length8(data, offset)
        return data[offset : offset + length].decode("utf-8", errors="replace")
    length = struct.unpack_from("<H", data, offset)[0]
    offset += 2
    if length & 0x8000:
        length = ((length & 0x7FFF) << 16) | struct.unpack_from("<H", data, offset)[0]
        offset += 2
    return data[offset : offset + 2 * length].decode("utf-16-le", errors="replace")


def _length8(data: bytes, offset: int) -> tuple[int, int]:
    first = data[offset]
    if first & 0x80:
        return ((first & 0x7F) << 8) | data[offset + 1], offset + 2
    return first, offset + 1


def entry_names(data: bytes, wanted: set[int]) -> dict[int, set[str]]:
    """``type/name`` of every entry (simple or in a bag) whose string value is a wanted global-pool index."""
    names: dict[int, set[str]] = {}
    budget = [len(data) // 12 + 1]  # a bag item is 12 bytes: crafted bags sharing bytes cannot multiply the work
    _, header_size, size = struct.unpack_from("<HHI", data, 0)
    end = min(size, len(data))
    offset = header_size
    while offset + 8 <= end:
        kind, _, chunk_size = struct.unpack_from("<HHI", data, offset)
        if chunk_size < 8:
            break
        if kind == RES_TABLE_PACKAGE:
            _package_names(data, offset, min(offset + chunk_size, end), wanted, names, budget)
        offset += chunk_size
    return names


def _package_names(data: bytes, package: int, end: int, wanted: set[int], names: dict[int, set[str]], budget: list[int]) -> None:
    header_size = struct.unpack_from("<H", data, package + 2)[0]
    type_strings, _, key_strings = struct.unpack_from("<III", data, package + 8 + 4 + 256)
    hits: list[tuple[int, int, int]] = []  # (pool index, type id, key index)
    offset = package + header_size
    while offset + 8 <= end:
        kind, chunk_header, chunk_size = struct.unpack_from("<HHI", data, offset)
        if chunk_size < 8:
            break
        if kind == RES_TABLE_TYPE:
            _type_hits(data, offset, chunk_header, wanted, hits, budget)
        offset += chunk_size
    if not hits:
        return
    types = pool_strings(data, package + type_strings, sorted({t - 1 for _, t, _ in hits}))
    type_names = dict(zip(sorted({t - 1 for _, t, _ in hits}), types))
    key_list = sorted({k for _, _, k in hits})
    keys = dict(zip(key_list, pool_strings(data, package + key_strings, key_list)))
    for index, type_id, key in hits:
        names.setdefault(index, set()).add(f"{type_names.get(type_id - 1, '?')}/{keys.get(key, '?')}")


def _type_hits(data: bytes, chunk: int, header_size: int, wanted: set[int], hits: list[tuple[int, int, int]], budget: list[int]) -> None:
    type_id, flags = data[chunk + 8], data[chunk + 9]
    count, entries_start = struct.unpack_from("<II", data, chunk + 12)
    offsets_at = chunk + header_size
    if flags & 0x01:  # sparse: (index, offset/4) pairs
        entry_offsets = [struct.unpack_from("<HH", data, offsets_at + 4 * i)[1] * 4 for i in range(count)]
    elif flags & 0x02:  # 16-bit offsets
        entry_offsets = [o * 4 for o in struct.unpack_from(f"<{count}H", data, offsets_at) if o != 0xFFFF]
    else:
        entry_offsets = [o for o in struct.unpack_from(f"<{count}I", data, offsets_at) if o != 0xFFFFFFFF]
    base = chunk + entries_start
    for entry_offset in entry_offsets:
        at = base + entry_offset
        size, entry_flags = struct.unpack_from("<HH", data, at)
        if entry_flags & 0x0008:  # compact: key in size, value inline
            if entry_flags >> 8 == 0x03:
                value = struct.unpack_from("<I", data, at + 4)[0]
                if value in wanted:
                    hits.append((value, type_id, size))
            continue
        key = struct.unpack_from("<I", data, at + 4)[0]
        if entry_flags & 0x0001:  # bag: parent, count, then (name, Res_value) maps
            map_count = struct.unpack_from("<I", data, at + 12)[0]
            at += size
            budget[0] -= min(map_count, 4096)
            if budget[0] < 0:
                raise ValueError("resource bags claim more items than the table can hold")
            for _ in range(min(map_count, 4096)):
                data_type, value = data[at + 7], struct.unpack_from("<I", data, at + 8)[0]
                if data_type == 0x03 and value in wanted:
                    hits.append((value, type_id, key))
                at += 12
            continue
        data_type, value = data[at + size + 3], struct.unpack_from("<I", data, at + size + 4)[0]
        if data_type == 0x03 and value in wanted:
            hits.append((value, type_id, key))
