"""A lean reader over the tables of a dex file, built for the audit's hot path.

androguard's ``DEX()`` parses every method of every dex before it answers anything;
on a large multidex app that costs minutes and gigabytes. The audit only needs a few
indices (the method id of ``ContentResolver.query``, the field id of a
``ContactsContract`` ``CONTENT_URI``, the string ids that hold ``content://`` URIs),
the instructions that use them, and the decoded bodies of the few methods involved.

:class:`DexFile` answers exactly that, in pure Python over the raw bytes:

* the constructor checks the header and that every table lies inside the file, and
  parses nothing else (:func:`permaudit.dex.validate` checks the rest, in linear time);
* the id tables are zero-copy ``memoryview`` casts, searched by bisection (the dex
  format keeps them sorted); strings are decoded (MUTF-8) one at a time, on demand;
* :meth:`DexFile.refs` and :meth:`DexFile.code` use the code index
  (:mod:`permaudit.dex.index`), built once from the class_data items.

Malformed input raises :class:`DexError` with a one-line message naming the dex (and
the class and method, for a body); it never leaks ``IndexError`` or ``struct.error``.

Semantics worth knowing:

* a method id with bodies in several class_defs (duplicate classes) gets the body of
  the first class_def; :meth:`DexFile.refs` ignores the shadowed bodies, as ART does;
* dex 035-040 are read alike; a 041 file is read when it holds one dex (or is the
  first entry of a container); big-endian dex files are refused.

Our own MUTF-8 decoder is kept rather than the ``mutf8`` package: on the corpus
(405,501 strings) both take 0.11 s and agree, but ``mutf8`` reads bytes 0x80-0xFF that
start no sequence as Latin-1 and raises on a truncated sequence, where ours gives U+FFFD.
"""

from __future__ import annotations

import functools
import re
import struct
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import islice
from operator import lt
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypeAlias

from permaudit.dex.index import CODE_HEADER, ULEB_TOKEN, CodeIndex, Ref, uleb_value
from permaudit.dex.opcodes import _LITTLE, Insn, _cast, _decode, _Words
from permaudit.errors import DexError

__all__ = ["ClassDef", "CodeInfo", "DexFile", "FieldRef", "MethodRef", "split_params"]

NO_INDEX = 0xFFFFFFFF
CLASS_DATA_ITEM = 0x2000
"""The map_list type code of the class_data section."""

if TYPE_CHECKING:  # typeshed has no stubs for re._constants / re._parser, only for these old aliases of them
    import sre_constants as C
    import sre_parse as P
else:
    try:  # the regex parser, to tell anchors from look-alike characters in a pattern
        from re import _constants as C
        from re import _parser as P
    except ImportError:  # pragma: no cover
        C = P = None

_ReNode: TypeAlias = "tuple[int, Any]"
"""``(opcode, argument)`` in a parsed regex; the argument's shape depends on the opcode (a tagged
union mypy cannot narrow on an int opcode), hence Any, confined to :func:`_assertions`."""


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


# --------------------------------------------------------------------------- helpers

_HEADER_FIELDS = (
    "file_size", "header_size", "endian_tag", "link_size", "link_off", "map_off",
    "string_ids_size", "string_ids_off", "type_ids_size", "type_ids_off",
    "proto_ids_size", "proto_ids_off", "field_ids_size", "field_ids_off",
    "method_ids_size", "method_ids_off", "class_defs_size", "class_defs_off",
    "data_size", "data_off",
)
_ANCHORS = re.compile(rb"\^|\$|\\[AZbB]|\(\?<?[=!]")
_SURROGATE = re.compile("[\ud800-\udfff]")
"""A UTF-16 surrogate code point (half of a pair MUTF-8 encodes one by one)."""


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
    if _SURROGATE.search(s):
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


_SAMPLE_EVERY = 32
"""Every this many string ids, :meth:`DexFile._find_string` keeps a prefix to bisect (a binary
search step in Python costs about 0.4 us; 32 ids are 5 steps instead of 16 on a large dex)."""
_SAMPLE_BYTES = 32


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


_MISPLACED = 64
"""Hits of a name id off the name column that ``_members_named`` walks past one by one (a real
table has a handful at most) before it searches the column itself."""


def _column_matches(column: Sequence[int], value: int) -> list[int]:
    """Indices of ``value`` in ``column``, each found by C-speed ``array.index``."""
    words = array("I", column)
    out: list[int] = []
    at = -1
    try:
        while True:
            at = words.index(value, at + 1)
            out.append(at)
    except ValueError:
        return out


_MATCHING_KEPT = 64
"""Most ``strings_matching`` answers a DexFile remembers (the stages ask a few dozen patterns)."""
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

        self.string_count: int = h["string_ids_size"]
        self.type_count: int = h["type_ids_size"]
        self.proto_count: int = h["proto_ids_size"]
        self.field_count: int = h["field_ids_size"]
        self.method_count: int = h["method_ids_size"]
        self.class_count: int = h["class_defs_size"]

        self._strings: dict[int, str] = {}
        self._found: dict[str, int | None] = {}
        self._samples: tuple[list[bytes], list[int]] | None | Literal[False] = None  # built on the first find_string
        self._protos: dict[int, str] = {}
        self._methods: dict[int, MethodRef] = {}
        self._fields: dict[int, FieldRef] = {}
        self._type_names: dict[int, str] = {}  # looked up tens of thousands of times an audit
        self._type_defs: dict[int, int] | None = None
        self._str_sorted: tuple[_Words, array[int] | None] | None = None
        self._matching: dict[tuple[bytes, int], array[int]] = {}  # strings_matching(), asked again by later stages; 4 bytes an id
        self._index: CodeIndex | None = None  # built on first use of refs(), code() and the like
        self.skipped: dict[int, str] = {}
        """Methods whose body could not be walked during :meth:`refs` (method idx -> message
        naming dex, class and method)."""

    def __repr__(self) -> str:
        return (f"<DexFile {self.name} v{self.version:03d}: {self.string_count} strings, "
                f"{self.method_count} methods, {self.class_count} classes>")

    # ------------------------------------------------------------------ errors

    def _err(self, msg: str) -> DexError:
        return DexError(f"{self.name}: {msg}")

    def describe_method(self, idx: int) -> str:
        """``method 12 Lcom/x/A;->m(I)V`` where the tables allow, else ``method 12``, for messages."""
        try:
            return f"method {idx} {self.method(idx).signature}"
        except DexError:
            return f"method {idx}"

    def _describe_class(self, ci: int) -> str:
        """``(Lcom/x/A;)`` for class_def ``ci`` where the tables allow, else empty, for messages."""
        try:
            return f"({self.type_name(self._cd[8 * ci])})"
        except DexError:
            return ""

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
        samples = self._samples if self._samples is not None else self._sample_strings()
        if samples and not nul:  # narrowed at C speed to the ids between two samples
            prefixes, ids = samples
            w = want[:_SAMPLE_BYTES]
            j = bisect_left(prefixes, w)
            k = bisect_right(prefixes, w, j)
            lo, hi = ids[j - 1] + 1 if j else 0, ids[k] if k < len(ids) else hi
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

    def _sample_strings(self) -> tuple[list[bytes], list[int]] | Literal[False]:
        """The first bytes (to its NUL, at most ``_SAMPLE_BYTES``) of every ``_SAMPLE_EVERY``-th string,
        and their ids, which :meth:`_find_string` bisects to narrow its search: cut to a prefix, the
        sorted strings stay sorted, so a sample below the wanted string's prefix is below the string,
        one above it above. A string holding a NUL is no sample (C0 80: its MUTF-8 bytes sort unlike
        its UTF-16 units). False (not used) for a small table or a sample outside the file."""
        n = int(self.string_count)
        self._samples = False
        if n < 4 * _SAMPLE_EVERY:
            return False
        d, size, sid = self._data, self._size, self._sid
        prefixes, ids = [], []
        for i in range(0, n, _SAMPLE_EVERY):
            p = sid[i] + 1
            if p > size:
                return False
            while d[p - 1] & 0x80 and p < size:  # skip the uleb128 length
                p += 1
            end = d.find(b"\0", p, p + _SAMPLE_BYTES)
            prefix = d[p:end + 1 if end >= 0 else p + _SAMPLE_BYTES]
            if b"\xc0" not in prefix:
                prefixes.append(prefix)
                ids.append(i)
        self._samples = prefixes, ids
        return self._samples

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
        Each pattern's answer is remembered: stages that ask the same question share one pass.
        """
        rx = pattern if isinstance(pattern, re.Pattern) else re.compile(pattern)
        if not isinstance(rx.pattern, bytes):
            raise TypeError("strings_matching needs a bytes pattern (strings are matched as MUTF-8)")
        key = (rx.pattern, rx.flags)
        kept = self._matching.get(key)
        if kept is not None:
            return kept.tolist()
        hit = self._strings_matching(rx)
        if len(self._matching) < _MATCHING_KEPT:
            self._matching[key] = array("I", hit)
        return list(hit)

    def _strings_matching(self, rx: re.Pattern[bytes]) -> tuple[int, ...]:
        n = int(self.string_count)
        if not n:
            return ()
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
            return tuple(sorted(found))
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
            if p >= b:  # between strings (crafted string ids): on to the next string, never re-read this one
                pos = offs[k + 1] if k + 1 < n else hi + 1
                continue
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
        return tuple(sorted(found))

    # ------------------------------------------------------------------ types, protos, fields, methods

    def type_name(self, idx: int) -> str:
        """The descriptor of type ``idx`` (``Landroid/net/Uri;``, ``[I``)."""
        s = self._type_names.get(idx)
        if s is None:
            self._check(idx, self.type_count, "type")
            s = self._type_names[idx] = self.string(self._tid[idx])
        return s

    def _find_type(self, descriptor: str) -> int | None:
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

    def field(self, idx: int) -> FieldRef:
        """The field id ``idx``."""
        ref = self._fields.get(idx)
        if ref is None:
            self._check(idx, self.field_count, "field")
            ref = self._fields[idx] = FieldRef(self.type_name(self._fid_h[4 * idx]), self.string(self._fid_i[2 * idx + 1]),
                                               self.type_name(self._fid_h[4 * idx + 1]))
        return ref

    def method(self, idx: int) -> MethodRef:
        """The method id ``idx``."""
        ref = self._methods.get(idx)
        if ref is None:
            self._check(idx, self.method_count, "method")
            ref = self._methods[idx] = MethodRef(self.type_name(self._mid_h[4 * idx]), self.string(self._mid_i[2 * idx + 1]),
                                                 self.proto_descriptor(self._mid_h[4 * idx + 1]))
        return ref

    def _member_range(self, halves: Sequence[int], count: int, class_name: str) -> range:
        cidx = self._find_type(class_name)
        if cidx is None:
            return range(0)

        def key(i: int) -> int:
            return halves[4 * i]

        r = range(int(count))
        return range(bisect_left(r, cidx, key=key), bisect_right(r, cidx, key=key))

    def _members_named(self, table_off: int, count: int, name: str) -> list[int]:
        """Ids of the field or method ids (8-byte rows at ``table_off``) whose name is ``name``: the
        name id's 4 bytes are found with C-speed ``bytes.find`` in the raw table (hits off a
        row's name column are passed over), no copy of the column, no int per row. A crafted table
        can plant such a hit in every row: past ``_MISPLACED`` of them the name column is copied
        and searched with ``array.index`` instead, so no row costs a Python step unless it matches."""
        sid = self.find_string(name)
        if sid is None:
            return []
        d, needle = self._data, sid.to_bytes(4, "little")
        start = table_off + 4  # the name column of row 0
        end = table_off + 8 * count
        out: list[int] = []
        misplaced = 0
        p = d.find(needle, start, end)
        while p >= 0:
            if not (p - start) & 7:
                out.append((p - start) >> 3)
            else:
                misplaced += 1
                if misplaced > _MISPLACED:
                    return _column_matches(_cast(memoryview(d)[table_off:end], "I")[1::2], sid)
            p = d.find(needle, p + 1, end)
        return out

    def find_fields(self, class_name: str | None, name: str | None = None) -> list[int]:
        """Field ids of ``class_name`` (optionally only those called ``name``), by binary search.

        ``class_name=None`` searches every class for fields called ``name`` (a linear scan).
        """
        if class_name is None:
            return self._members_named(self.header["field_ids_off"], self.field_count, name) if name is not None else []
        rng = self._member_range(self._fid_h, self.field_count, class_name)
        if name is None:
            return list(rng)
        sid = self.find_string(name)
        return [i for i in rng if self._fid_i[2 * i + 1] == sid] if sid is not None else []

    def find_methods(self, class_name: str | None, name: str | None = None) -> list[int]:
        """Method ids of ``class_name`` (optionally only those called ``name``, all overloads),
        by binary search over the sorted method ids.

        ``class_name=None`` searches every class for methods called ``name`` (a linear scan),
        e.g. to catch calls made through an app subclass (``Lcom/x/MyActivity;->managedQuery``).
        """
        if class_name is None:
            return self._members_named(self.header["method_ids_off"], self.method_count, name) if name is not None else []
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
        t = self._find_type(class_name)
        return None if t is None else self._class_def_of_type(t)

    def _class_def(self, i: int) -> ClassDef:
        self._check(i, self.class_count, "class_def")
        c = self._cd[8 * i:8 * i + 8]
        sup = None if c[2] == NO_INDEX else self.type_name(c[2] & 0xFFFF)
        src = None if c[4] == NO_INDEX else self.string(c[4])
        return ClassDef(self.type_name(c[0] & 0xFFFF), sup, self._type_list(c[3]), c[1], src)

    def class_defs(self) -> list[ClassDef]:
        """Every class_def, in file order."""
        return [self._class_def(i) for i in range(int(self.class_count))]

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
            m = ULEB_TOKEN.match(d, item + 1, min(item + 6, size)) if item + 1 < size else None
            if m is None or len(m.group()) > 5:
                raise self._err(f"annotation_item at 0x{item:x} is truncated")
            out.append(self.type_name(uleb_value(m.group())))
        return out

    def _annotations_directory(self, class_type_idx: int) -> int:
        ci = self._class_def_of_type(class_type_idx)
        if ci is None:
            return 0
        off = self._cd[8 * ci + 5]
        if off and off + 16 > self._size:
            raise self._err(f"annotations_directory at 0x{off:x} lies outside the file")
        return off

    def method_annotations(self, method_idx: int) -> list[str]:
        """Annotation type descriptors on a method, e.g. ``['Landroid/webkit/JavascriptInterface;']``."""
        set_off = self._method_annotation_set(method_idx)
        return self._annotation_types(set_off) if set_off else []

    def method_annotation_items(self, method_idx: int) -> list[Annotation]:
        """The annotations on a method with their element values decoded (``Annotation``);
        ``[]`` when it has none. Raises DexError on any structure outside the file or malformed."""
        set_off = self._method_annotation_set(method_idx)
        return [self._annotation_item(item, _AnnotationBudget()) for item in self._annotation_set(set_off)] if set_off else []

    def _method_annotation_set(self, method_idx: int) -> int:
        """The offset of a method's annotation_set in its class's annotations_directory, 0 if none."""
        self._check(method_idx, self.method_count, "method")
        off = self._annotations_directory(self._mid_h[4 * method_idx])
        if not off:
            return 0
        _, nfields, nmethods, _ = struct.unpack_from("<4I", self._data, off)
        start = off + 16 + 8 * nfields
        if start + 8 * nmethods > self._size:
            raise self._err(f"annotations_directory at 0x{off:x} runs past the end of the file")
        entries = struct.unpack_from(f"<{2 * nmethods}I", self._data, start)
        return next((entries[k + 1] for k in range(0, 2 * nmethods, 2) if entries[k] == method_idx), 0)

    def annotated_methods(self, types: Iterable[str], *, interfaces_only: bool = False) -> list[tuple[int, Annotation]]:
        """Every method annotation, and every parameter annotation, whose type is one of ``types``
        (``Lretrofit2/http/GET;``), over every class_def (only interfaces with ``interfaces_only``,
        as Retrofit service methods are): ``(method_idx, Annotation)`` in file order, element values
        decoded; a parameter annotation has ``parameter`` set (0-based).

        Bounded on hostile input: each annotations directory, annotation set and annotation item
        is read once however many class_defs or methods share it, the entries walked are bounded
        by the file size, and only annotations of the wanted types are decoded. Raises DexError
        (naming the offset) on any structure outside the file or malformed."""
        wanted = {t for t in (self._find_type(name) for name in types) if t is not None}
        if not wanted:
            return []
        d, size = self._data, self._size
        budget = _AnnotationBudget()
        left = [size // 4 + 1]  # entries (directory, set-ref list, set) walked: crafted overlaps cannot multiply the work
        set_cache: dict[int, list[Annotation]] = {}
        seen_dirs: set[int] = set()
        out: list[tuple[int, Annotation]] = []

        def matching(set_off: int) -> list[Annotation]:
            got = set_cache.get(set_off)
            if got is None:
                got = []
                items = self._annotation_set(set_off)
                left[0] -= len(items)
                if left[0] < 0:
                    raise self._err(f"annotation_set at 0x{set_off:x}: annotation sets claim more entries than the file can hold")
                for item in items:
                    if item + 1 >= size:
                        raise self._err(f"annotation_item at 0x{item:x} lies outside the file")
                    type_idx, _ = self._uleb(item + 1)
                    if type_idx in wanted:
                        got.append(self._annotation_item(item, budget))
                set_cache[set_off] = got
            return got

        flags, directories = self._cd[1::8], self._cd[5::8]
        for ci, off in enumerate(directories):
            if not off or off in seen_dirs or (interfaces_only and not flags[ci] & 0x200):
                continue
            seen_dirs.add(off)
            if off + 16 > size:
                raise self._err(f"annotations_directory at 0x{off:x} lies outside the file")
            _, nfields, nmethods, nparams = struct.unpack_from("<4I", d, off)
            left[0] -= nfields + nmethods + nparams
            if left[0] < 0:
                raise self._err(f"annotations_directory at 0x{off:x}: directories claim more entries than the file can hold")
            start = off + 16 + 8 * nfields
            if start + 8 * (nmethods + nparams) > size:
                raise self._err(f"annotations_directory at 0x{off:x} runs past the end of the file")
            entries = struct.unpack_from(f"<{2 * (nmethods + nparams)}I", d, start)
            for k in range(0, 2 * (nmethods + nparams), 2):
                method_idx, ref = entries[k], entries[k + 1]
                self._check(method_idx, self.method_count, f"annotations_directory at 0x{off:x}: method")
                if k < 2 * nmethods:
                    out.extend((method_idx, a) for a in matching(ref))
                    continue
                if ref + 4 > size:
                    raise self._err(f"annotation_set_ref_list at 0x{ref:x} lies outside the file")
                (count,) = struct.unpack_from("<I", d, ref)
                left[0] -= count
                if left[0] < 0 or ref + 4 + 4 * count > size:
                    raise self._err(f"annotation_set_ref_list at 0x{ref:x} ({count} entries) runs past the end of the file")
                for parameter, set_off in enumerate(struct.unpack_from(f"<{count}I", d, ref + 4)):
                    out.extend((method_idx, a._replace(parameter=parameter)) for a in matching(set_off))
        return out

    def _annotation_set(self, set_off: int) -> tuple[int, ...]:
        """The annotation_item offsets of the annotation_set_item at ``set_off`` (0: none)."""
        if not set_off:
            return ()
        if set_off + 4 > self._size:
            raise self._err(f"annotation_set at 0x{set_off:x} lies outside the file")
        (count,) = struct.unpack_from("<I", self._data, set_off)
        if set_off + 4 + 4 * count > self._size:
            raise self._err(f"annotation_set at 0x{set_off:x} ({count} entries) runs past the end of the file")
        return struct.unpack_from(f"<{count}I", self._data, set_off + 4)

    def _uleb(self, off: int) -> tuple[int, int]:
        """(value, offset after) of the ULEB128 at ``off``; at most 5 bytes, inside the file."""
        m = ULEB_TOKEN.match(self._data, off, min(off + 5, self._size)) if 0 <= off < self._size else None
        if m is None:
            raise self._err(f"LEB128 at 0x{off:x} is truncated or over-long")
        return uleb_value(m.group()), m.end()

    def _annotation_item(self, item: int, budget: _AnnotationBudget) -> Annotation:
        """The annotation_item at ``item``: visibility byte, then an encoded_annotation."""
        if not 0 <= item < self._size:
            raise self._err(f"annotation_item at 0x{item:x} lies outside the file")
        value, _ = self._encoded_annotation(item + 1, 0, budget)
        return value._replace(visibility=self._data[item])

    def _encoded_annotation(self, off: int, depth: int, budget: _AnnotationBudget) -> tuple[Annotation, int]:
        type_idx, off = self._uleb(off)
        count, off = self._uleb(off)
        if count > self._size - off:
            raise self._err(f"encoded_annotation at 0x{off:x} claims {count} elements, more than the file holds")
        elements: list[tuple[str, Any]] = []
        for _ in range(count):
            name_idx, off = self._uleb(off)
            value, off = self._encoded_value(off, depth + 1, budget)
            elements.append((self.string(name_idx), value))
        return Annotation(self.type_name(type_idx), tuple(elements)), off

    def _encoded_value(self, off: int, depth: int, budget: _AnnotationBudget) -> tuple[Any, int]:
        """One encoded_value at ``off``: (decoded value, offset after it). Strings as ``str``, numbers
        as ``int``/``float``, booleans, ``None``, arrays as tuples, nested annotations as
        ``Annotation``, types/fields/methods/enums/method types/handles as ``EncodedRef``."""
        budget.spend(self, off)
        if depth > _ANNOTATION_DEPTH:
            raise self._err(f"encoded_value at 0x{off:x} nests deeper than {_ANNOTATION_DEPTH}")
        d, size = self._data, self._size
        if not 0 <= off < size:
            raise self._err(f"encoded_value at 0x{off:x} lies outside the file")
        head = d[off]
        kind, arg = head & 0x1F, head >> 5
        off += 1
        if kind == 0x1C:  # array
            if arg:
                raise self._err(f"encoded_array at 0x{off - 1:x} has value_arg {arg}")
            count, off = self._uleb(off)
            if count > size - off:
                raise self._err(f"encoded_array at 0x{off:x} claims {count} values, more than the file holds")
            items = []
            for _ in range(count):
                item, off = self._encoded_value(off, depth + 1, budget)
                items.append(item)
            return tuple(items), off
        if kind == 0x1D:  # annotation
            if arg:
                raise self._err(f"encoded_annotation value at 0x{off - 1:x} has value_arg {arg}")
            return self._encoded_annotation(off, depth, budget)
        if kind == 0x1E:  # null
            if arg:
                raise self._err(f"null encoded_value at 0x{off - 1:x} has value_arg {arg}")
            return None, off
        if kind == 0x1F:  # boolean
            if arg > 1:
                raise self._err(f"boolean encoded_value at 0x{off - 1:x} has value_arg {arg}")
            return bool(arg), off
        width = _VALUE_WIDTH.get(kind)
        if width is None:
            raise self._err(f"encoded_value at 0x{off - 1:x} has unknown value_type 0x{kind:02x}")
        n = arg + 1
        if n > width:
            raise self._err(f"encoded_value at 0x{off - 1:x}: {n} bytes for a value of at most {width}")
        if off + n > size:
            raise self._err(f"encoded_value at 0x{off - 1:x} runs past the end of the file")
        raw = d[off:off + n]
        off += n
        if kind in (0x00, 0x02, 0x04, 0x06):  # byte, short, int, long: sign-extended
            return int.from_bytes(raw, "little", signed=True), off
        if kind == 0x03:  # char: zero-extended
            return int.from_bytes(raw, "little"), off
        if kind in (0x10, 0x11):  # float, double: zero-extended to the right
            return struct.unpack("<f" if kind == 0x10 else "<d", raw.rjust(width, b"\0"))[0], off
        index = int.from_bytes(raw, "little")
        if kind == 0x17:
            return self.string(index), off
        if kind == 0x18:
            return EncodedRef("type", self.type_name(index)), off
        if kind in (0x19, 0x1B):
            return EncodedRef("enum" if kind == 0x1B else "field", self.field(index)), off
        if kind == 0x1A:
            return EncodedRef("method", self.method(index)), off
        return EncodedRef("method-type" if kind == 0x15 else "method-handle", index), off

    # ------------------------------------------------------------------ code

    def map_list(self) -> list[tuple[int, int, int]]:
        """``(type code, count, offset)`` of each map_list entry; empty when the map is
        absent or does not fit the file (:func:`permaudit.dex.validate` says which)."""
        mo = self.header["map_off"]
        if not mo or mo + 4 > self._size:
            return []
        (count,) = struct.unpack_from("<I", self._data, mo)
        if mo + 4 + 12 * count > self._size:
            return []
        return [(t, n, o) for t, _, n, o in struct.iter_unpack("<HHII", self._data[mo + 4:mo + 4 + 12 * count])]

    def _class_data_span(self) -> tuple[int, int]:
        """Where class_data items may lie: the map's class_data section, up to the next
        section (or, without a map entry, from the first item to the next section)."""
        entries = self.map_list()
        bounds = sorted({o for _, n, o in entries if n} | {self._size})
        start = next((o for t, n, o in entries if t == CLASS_DATA_ITEM and n), None)
        if start is None:
            start = min((o for o in self._cd[6::8] if o), default=self._size)
        return start, next((b for b in bounds if b > start), self._size)

    def _code_index(self) -> CodeIndex:
        """The method <-> code_item index, built once (bounded by the class_data section's size)."""
        if self._index is None:
            self._index = CodeIndex(self._data, self._size, self._h, self._cd[6::8], self._class_data_span(),
                                    self.method_count, self.field_count, self.name, self._describe_class)
        return self._index

    def _code_header(self, off: int, method_idx: int) -> CodeInfo:
        if off + 16 > self._size:
            raise self._err(f"{self.describe_method(method_idx)}: code_item at 0x{off:x} lies outside the file")
        regs, ins, outs, tries, dbg, n = CODE_HEADER.unpack_from(self._data, off)
        if off + 16 + 2 * n > self._size:
            raise self._err(f"{self.describe_method(method_idx)}: code_item at 0x{off:x} ({n} code units) "
                            "runs past the end of the file")
        return CodeInfo(off, regs, ins, outs, tries, dbg, n)

    def method_code_offset(self, method_idx: int) -> int | None:
        """File offset of the code_item of a method defined here, or None (abstract, native,
        or not defined in this dex). Raises DexError when the class_data cannot be trusted."""
        self._check(method_idx, self.method_count, "method")
        index = self._code_index()
        index.require()
        return index.code_of.get(method_idx) or None

    def code_info(self, method_idx: int) -> CodeInfo | None:
        """The code_item header of a method, or None when it has no code."""
        off = self.method_code_offset(method_idx)
        return None if off is None else self._code_header(off, method_idx)

    def code(self, method_idx: int) -> list[Insn] | None:
        """Decode one method's body, or None if it has no code here (abstract, native, external).

        Raises DexError naming dex, class and method when the body cannot be decoded (its
        code_item lies outside the file or at an odd offset, an instruction or payload runs
        past its end).
        """
        off = self.method_code_offset(method_idx)
        if off is None:
            return None
        info = self._code_header(off, method_idx)
        if off & 1:
            raise self._err(f"{self.describe_method(method_idx)}: code_item at 0x{off:x} is at an odd offset")
        start = off // 2 + 8
        prefix = f"{self.name}: method {method_idx}"
        try:
            return _decode(self._h, start, start + info.insns_size, prefix)
        except DexError as exc:  # name the class and method only when it is needed
            raise self._err(self.describe_method(method_idx) + str(exc)[len(prefix):]) from None

    def refs(self, *, strings: Iterable[int] = (), types: Iterable[int] = (),
             fields: Iterable[int] = (), methods: Iterable[int] = ()) -> list[Ref]:
        """Every instruction, in every method body, that uses one of these indices.

        const-string(/jumbo) for strings; const-class, new-instance, check-cast,
        instance-of, new-array, filled-new-array(/range) for types; iget*/iput*/sget*/sput*
        for fields; invoke-*(/range) and invoke-polymorphic(/range) for methods. Each hit is
        confirmed at an instruction boundary of its method, so operand bytes and payload
        tables never count. Sorted by (method_idx, offset). Methods whose bodies cannot be
        walked are left out and listed in :attr:`skipped`; a class_data that cannot be
        trusted raises DexError (nothing in this dex's code can then be attributed).
        """
        want = _wanted(strings, types, fields, methods)
        if not want:
            return []
        return self._code_index().refs(want, self.skipped, self.describe_method)

    def prefetch(self, *, strings: Iterable[int] = (), types: Iterable[int] = (),
                 fields: Iterable[int] = (), methods: Iterable[int] = ()) -> None:
        """Find the code units equal to these indices in one scan of the code, for later
        :meth:`refs` calls: stages that each ask about a few ids share one pass over the code
        instead of one each. Changes no answer; does nothing (raises nothing) on a dex whose
        class_data cannot be trusted, where :meth:`refs` will raise."""
        want = _wanted(strings, types, fields, methods)
        if want:
            self._code_index().prefetch(want)


def _wanted(strings: Iterable[int], types: Iterable[int], fields: Iterable[int], methods: Iterable[int]) -> dict[str, set[int]]:
    """The indices of each kind that an instruction can hold (a 16-bit index, a 32-bit string)."""
    want: dict[str, set[int]] = {}
    for kind, vals in (("string", strings), ("type", types), ("field", fields), ("method", methods)):
        top = 0xFFFFFFFF if kind == "string" else 0xFFFF
        s = {v for v in map(int, vals) if 0 <= v <= top}
        if s:
            want[kind] = s
    return want


# --------------------------------------------------------------------------- annotation values


class EncodedRef(NamedTuple):
    """An annotation element value that names a table entry: ``kind`` is ``type`` (a descriptor),
    ``field`` / ``enum`` (a ``FieldRef``), ``method`` (a ``MethodRef``), ``method-type`` /
    ``method-handle`` (the raw index)."""

    kind: str
    value: Any


class Annotation(NamedTuple):
    """One annotation with its element values decoded (``DexFile.annotated_methods``)."""

    type: str
    """``Lretrofit2/http/GET;``."""
    elements: tuple[tuple[str, Any], ...] = ()
    """``(name, value)`` in file order: ``(("value", "users/{id}"),)``."""
    visibility: int = -1
    """0 build, 1 runtime, 2 system; -1 for an annotation nested in a value."""
    parameter: int | None = None
    """For a parameter annotation, the parameter's position (0-based, without ``this``)."""

    def get(self, name: str, default: Any = None) -> Any:
        """The value of element ``name``, or ``default``."""
        for key, value in self.elements:
            if key == name:
                return value
        return default


_ANNOTATION_DEPTH = 8
"""Deepest nesting of arrays and annotations decoded in one annotation value."""
_ANNOTATION_VALUES = 100_000
"""Most encoded values decoded per call (a crafted value tree sharing nothing still costs file bytes)."""
_VALUE_WIDTH = {0x00: 1, 0x02: 2, 0x03: 2, 0x04: 4, 0x06: 8, 0x10: 4, 0x11: 8,
                0x15: 4, 0x16: 4, 0x17: 4, 0x18: 4, 0x19: 4, 0x1A: 4, 0x1B: 4}
"""Largest byte width of each sized encoded_value type."""


class _AnnotationBudget:
    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = _ANNOTATION_VALUES

    def spend(self, dex: DexFile, off: int) -> None:
        self.left -= 1
        if self.left < 0:
            raise dex._err(f"annotation values: more than {_ANNOTATION_VALUES} decoded (at 0x{off:x}); given up")


@functools.cache
def split_params(descriptor: str) -> list[str]:
    """The parameter types of ``(I[Ljava/lang/String;)V``; a malformed descriptor from a
    hostile dex (an ``L`` type without its ``;``, no ``)``) is read as far as it goes."""
    body = descriptor[1:].partition(")")[0]
    params, i = [], 0
    while i < len(body):
        j = i
        while j < len(body) and body[j] == "[":
            j += 1
        if j < len(body) and body[j] == "L":
            end = body.find(";", j)
            j = len(body) if end < 0 else end + 1
        else:
            j += 1
        params.append(body[i:j])
        i = j
    return params
