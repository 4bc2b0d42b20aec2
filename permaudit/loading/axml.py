"""Binary XML (AXML, the compiled ``AndroidManifest.xml``) as an lxml tree, read by our own code.

androguard's ``AXMLPrinter`` did this before. Importing it cost ~90 ms (loguru, a parse
of its bundled ``public.xml``, ``xml.sax`` pulling in ``urllib``) and reading a manifest
four to ten times as long as this reader takes (a debug log call per attribute). This
reader needs only the standard library, lxml and ``permaudit/data/android_attrs.json``.

The tree it builds is the one ``AXMLPrinter(raw).get_xml_obj()`` builds, equal once
serialised (``tests/test_axml.py`` compares them on every corpus and fixture manifest and
on mutated ones), so that no fact or problem read from a manifest depends on which reader
ran. That includes androguard's ways with damaged files, which Android-targeting packers
exercise: a chunk header that does not look like one is searched for byte by byte; the
string count is derived from where the strings start; an element's attributes are read
even past its chunk; a UTF-16 string without its terminator is an error (the caller
retries with a repaired string pool); an attribute is named after its android resource
ID when it has one; names and values are mended with ``_``; a second root element ends
the document; typed values are written the way androguard writes them (``@7F0B001C``,
``?android:01010000``, ``0x00000010``, ``#FF00FF00``, ``16.000000dip``).

What androguard calls invalid (a broken file, string pool or chunk header), ``parse``
returns None for; where androguard raises, ``parse`` raises ValueError: ``AxmlError``,
or lxml's own for a name or text it refuses.

Unlike androguard, every read is bounds-checked before it is made, every loop advances
through the input, and the work (characters decoded, attributes and namespace
declarations created, bytes skipped looking for a header) is capped in proportion to the
input, so a hostile file costs time and memory in proportion to its size; past a cap it
raises ``AxmlError`` where androguard would go on. One more deliberate difference: an
attribute with an empty name and no resource ID is named after its string index, where
androguard draws a random number.
"""

from __future__ import annotations

import functools
import re
import struct
import sys
from array import array

from lxml import etree

from permaudit.data import load

MAX_BYTES = 8 << 20
"""Binary XML larger than this is refused (real manifests are far below 1 MiB)."""
MAX_SKIPPED = 64 << 10
"""Bytes skipped in all while searching for chunk headers (packers insert a few)."""
WORK_PER_BYTE = 4
"""Work allowed per input byte, in bytes of a well-formed file's share: decoded characters
count one each, an attribute 20, an element 36 plus its depth (lxml walks the ancestors),
a namespace declaration 24 for each element it is declared on and 4 each time the open
ones are looked through (real manifests use about one unit per byte)."""
WORK_FLOOR = 1 << 16

_STRING_POOL = 0x0001
_NAMESPACE_START, _NAMESPACE_END, _ELEMENT_START, _ELEMENT_END, _CDATA = 0x0100, 0x0101, 0x0102, 0x0103, 0x0104
_XML_CHUNKS = range(0x0100, 0x0180)
_RESOURCE_MAP = 0x0180
_POOL_HEADER_SIZE = 28
_XML_HEADER_SIZE = 16
_NO_INDEX = 0xFFFFFFFF
_UTF8 = 1 << 8

_CHUNK = struct.Struct("<HHI")  # type, header size, chunk size
_POOL = struct.Struct("<5I")  # string count, style count, flags, strings start, styles start
_U32 = struct.Struct("<I")
_PAIR = struct.Struct("<II")
_ELEMENT = struct.Struct("<IIHHHHHH")  # namespace, name, attribute start, attribute size, count, id, class, style
_ATTRIBUTE = struct.Struct("<IIIII")  # namespace, name, raw value string, typed value (size, 0, type), data
_ATTRIBUTE_SIZE = _ATTRIBUTE.size
_LENGTHS16 = struct.Struct("<HH")

# typed value kinds (ResourceTypes.h Res_value)
_REFERENCE, _ATTRIBUTE_REF, _STRING, _FLOAT, _DIMENSION, _FRACTION = 1, 2, 3, 4, 5, 6
_INT_HEX, _INT_BOOLEAN = 0x11, 0x12
_FIRST_INT, _FIRST_COLOR, _LAST_INT = 0x10, 0x1C, 0x1F
# the scale of each radix of a complex value, as androguard rounds it (so values print as it prints them)
_RADIX_SCALES = (0.00390625, 3.051758e-005, 1.192093e-007, 4.656613e-010)
_DIMENSION_UNITS = ("px", "dip", "sp", "pt", "in", "mm")
_FRACTION_UNITS = ("%", "%p")

# a name is kept when this matches; like androguard's check, `$` also matches before a
# final newline, which lxml then refuses
_NAME = re.compile(r"[a-zA-Z0-9._-]*$")
_NOT_NAME = re.compile(r"[^a-zA-Z0-9._-]")
# what XML 1.0 excludes from Char (written as the excluded set: the complement costs 5 ms to compile)
_NOT_XML_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class AxmlError(ValueError):
    """Bytes that break binary XML where androguard raises too (its readers then give up)."""


def parse(raw: bytes) -> etree._Element | None:
    """The root element of binary XML ``raw``, or None when it has no valid header or no element."""
    if len(raw) > MAX_BYTES:
        raise AxmlError(f"binary XML of {len(raw)} bytes, over the cap of {MAX_BYTES}")
    return _Reader(raw).document()


@functools.cache
def _android_attrs() -> dict[int, str]:
    """Android attribute resource ID -> name (``permaudit/data/android_attrs.json``)."""
    table = load("android_attrs")
    return {table["first"] + i: name for i, name in enumerate(table["names"]) if name}


def _braced(uri: str) -> str:
    return "{" + uri + "}" if uri else ""


def _format(kind: int, data: int) -> str:
    """A typed attribute value other than a string as text, in androguard's spelling."""
    if kind in (_REFERENCE, _ATTRIBUTE_REF):
        return ("@" if kind == _REFERENCE else "?") + ("android:" if data >> 24 == 1 else "") + f"{data:08X}"
    if kind == _FLOAT:
        return format(struct.unpack("<f", _U32.pack(data))[0], "f")
    if kind == _INT_HEX:
        return f"0x{data:08X}"
    if kind == _INT_BOOLEAN:
        return "true" if data else "false"
    if kind in (_DIMENSION, _FRACTION):
        units = _DIMENSION_UNITS if kind == _DIMENSION else _FRACTION_UNITS
        if data & 0xF >= len(units):
            raise AxmlError(f"complex value 0x{data:08X} has no unit {data & 0xF}")
        number = float(data & 0xFFFFFF00) * _RADIX_SCALES[(data >> 4) & 3]
        return format(number if kind == _DIMENSION else number * 100, "f") + units[data & 0xF]
    if _FIRST_COLOR <= kind <= _LAST_INT:
        return f"#{data:08X}"
    if _FIRST_INT <= kind <= _LAST_INT:
        return str(data - (1 << 32) if data > 0x7FFFFFFF else data)
    return f"<0x{data:X}, type 0x{kind:02X}>"


def _clean_value(value: str) -> str:
    """Cut at the first NUL (as aapt does) and replace characters XML cannot hold with ``_``."""
    if "\0" in value:
        value = value[: value.index("\0")]
    if not (value.isascii() and value.isprintable()):
        value = _NOT_XML_CHAR.sub("_", value)
    return value


class _Reader:
    """One pass over the chunks of one file; the state androguard keeps between chunks."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.work = WORK_PER_BYTE * len(raw) + WORK_FLOOR
        self.skipped = 0
        self.searched = (-1, -1)  # (from, found) of the last header search that skipped bytes
        self.offsets_at = self.count = self.chars_at = self.chars_end = 0
        self.utf8 = False
        self.strings: dict[int, str] = {}
        self.resource_ids = array("I")
        self.namespaces: list[tuple[int, int]] = []  # open (prefix, uri) declarations, repeats kept
        self.nsmap: dict[str, str] | None = None
        self.names: dict[tuple[str, str], tuple[str, str]] = {}

    def spend(self, units: int) -> None:
        self.work -= units
        if self.work < 0:
            raise AxmlError(f"binary XML of {len(self.raw)} bytes asks for more work than its size allows")

    def need(self, end: int, what: str) -> None:
        if end > len(self.raw):
            raise AxmlError(f"{what} runs past the end of the file ({end} > {len(self.raw)})")

    # ------------------------------------------------------------------ chunks

    def document(self) -> etree._Element | None:
        """The root element, as androguard builds it chunk by chunk; None where it calls the file invalid."""
        raw = self.raw
        if len(raw) < 8:
            return None
        _, header_size, file_size = _CHUNK.unpack_from(raw, 0)
        if header_size != 8 or not 8 <= file_size <= len(raw):
            return None
        pool = self.chunk_header(8)
        if pool is None or pool[0] != _STRING_POOL or pool[1] != _POOL_HEADER_SIZE:
            return None
        self.read_pool(pool[3], pool[2])
        root: etree._Element | None = None
        open_elements: list[etree._Element] = []
        at = 8 + pool[2]
        while at != file_size:
            chunk = self.chunk_header(at)
            if chunk is None:
                return None
            kind, header_size, size, found = chunk
            end = at + size
            if kind == _RESOURCE_MAP:
                if size % 4:
                    return None
                count = (size - header_size) // 4  # read from just after the 8-byte header, as androguard does
                self.need(found + 8 + 4 * count, "resource map")
                self.spend(count)
                ids = array("I", raw[found + 8 : found + 8 + 4 * count])
                if sys.byteorder == "big":
                    ids.byteswap()
                self.resource_ids.extend(ids)
                at = found + 8 + 4 * count
                continue
            if kind not in _XML_CHUNKS or header_size != _XML_HEADER_SIZE:
                at = end
                continue
            self.need(found + 16, "XML chunk header")
            (comment,) = _U32.unpack_from(raw, found + 12)
            if kind in (_NAMESPACE_START, _NAMESPACE_END):
                at = self.namespace(kind, found, comment)
                continue
            at = end
            if kind == _ELEMENT_START:
                element = self.start_element(found, comment, root, open_elements)
                if element is None:
                    continue
                if root is None:
                    root = element
                elif not open_elements:
                    return root  # a second root element: androguard stops here
                else:
                    open_elements[-1].append(element)
                open_elements.append(element)
            elif kind == _ELEMENT_END:
                self.end_element(found, open_elements)
            elif kind == _CDATA:
                self.need(found + 28, "text chunk")
                if not open_elements:
                    raise AxmlError("text outside any element")
                text = self.string(_U32.unpack_from(raw, found + 16)[0])
                self.spend(len(text))
                open_elements[-1].text = text
        return root

    def chunk_header(self, at: int) -> tuple[int, int, int, int] | None:
        """(type, header size, size, where found) of the chunk at ``at``; None past the end.

        Where the bytes at ``at`` cannot be a header, the next offset that can is taken
        (its size still counts from ``at``), as androguard skips "dummy data".
        """
        raw, length = self.raw, len(self.raw)
        if at + 8 > length:
            return None
        found = self.searched[1] if self.searched[0] <= at <= self.searched[1] else at
        while True:
            if found + 8 > length:
                raise AxmlError(f"no chunk header from offset {at} to the end of the file")
            kind, header_size, size = _CHUNK.unpack_from(raw, found)
            if size < 8 and length == found + header_size + 8:
                size = 24  # androguard's allowance for packers' empty last namespace end
            if 8 <= header_size <= size:
                break
            found += 1
            self.skipped += 1
            if self.skipped > MAX_SKIPPED:
                raise AxmlError(f"more than {MAX_SKIPPED} bytes that are no chunk header (from offset {at})")
        if found != at:
            self.searched = (at, found)
        return kind, header_size, size, found

    def read_pool(self, found: int, pool_size: int) -> None:
        """Where the strings are; the count comes from where they start (androguard trusts that over the header)."""
        raw = self.raw
        self.need(found + _POOL_HEADER_SIZE, "string pool header")
        _, styles, flags, strings_start, styles_start = _POOL.unpack_from(raw, found + 8)
        self.count = max(strings_start - 4 * styles - _POOL_HEADER_SIZE, 0) // 4
        self.utf8 = bool(flags & _UTF8)
        self.offsets_at = found + _POOL_HEADER_SIZE
        self.chars_at = self.offsets_at + 4 * self.count + 4 * styles
        self.need(self.chars_at, "string pool offsets")
        has_styles = bool(styles and styles_start)
        span = (styles_start if has_styles else pool_size) - strings_start
        if span < -1:  # androguard asks its reader for a negative length, which refuses
            raise AxmlError(f"string pool strings end {-span} bytes before they start")
        self.chars_end = len(raw) if span == -1 else min(self.chars_at + span, len(raw))  # -1: to the end of the file
        if has_styles and (pool_size - styles_start) // 4 > 0:
            self.need(self.chars_end + 4 * ((pool_size - styles_start) // 4), "string pool styles")

    def namespace(self, kind: int, found: int, comment: int) -> int:
        """Open or close a namespace declaration; the offset after it (its size is not used)."""
        if comment != _NO_INDEX:
            self.string(comment)  # read (and so checked) as androguard reads it
        self.need(found + 24, "namespace chunk")
        pair = _PAIR.unpack_from(self.raw, found + 16)
        if kind == _NAMESPACE_START:
            self.string(pair[0])
            self.string(pair[1])
            self.namespaces.append(pair)
        else:
            self.spend(4 * len(self.namespaces))
            if pair in self.namespaces:
                self.namespaces.remove(pair)  # the first such declaration, as androguard removes it
        self.nsmap = None
        self.names.clear()
        return found + 24

    # ------------------------------------------------------------------ elements

    def start_element(self, found: int, comment: int, root: etree._Element | None,
                      open_elements: list[etree._Element]) -> etree._Element | None:
        """The element of a start chunk with its attributes; None for one without a name (skipped)."""
        raw = self.raw
        self.need(found + 36, "element chunk")
        namespace, name_index, _, attribute_size, count, _, _, _ = _ELEMENT.unpack_from(raw, found + 16)
        first = found + 36
        stride = max(attribute_size, _ATTRIBUTE_SIZE)
        if count and attribute_size < _ATTRIBUTE_SIZE - (count == 1):
            # androguard reads attribute_size - 20 bytes of padding after each: a negative length
            # is refused, except -1, which reads to the end of the file, so only one attribute fits
            raise AxmlError(f"{count} attributes of {attribute_size} bytes each in the element at {found}")
        if count:
            self.need(first + (count - 1) * stride + _ATTRIBUTE_SIZE, f"the {count} attributes of the element at {found}")
        name = self.string(name_index)
        if not name:
            return None
        uri, local = self.fix_name(self.uri(namespace), name)
        text = self.string(comment) if comment != _NO_INDEX else ""
        if text and root is not None:
            if not open_elements:
                raise AxmlError("a comment after the root element closed")
            self.spend(len(text))
            open_elements[-1].append(etree.Comment(text))
        element = self.element(uri + local)
        self.spend(_ATTRIBUTE_SIZE * count + len(open_elements))
        for at in range(first, first + count * stride, stride):
            a_namespace, a_name, a_string, a_type, a_data = _ATTRIBUTE.unpack_from(raw, at)
            a_uri, a_local = self.fix_name(self.uri(a_namespace), self.attribute_name(a_name))
            kind = a_type >> 24
            value = _clean_value(self.string(a_string) if kind == _STRING else _format(kind, a_data))
            self.spend(len(value))
            element.set(a_uri + a_local, value)
        return element

    def end_element(self, found: int, open_elements: list[etree._Element]) -> None:
        self.need(found + 24, "element end chunk")
        namespace, name_index = _PAIR.unpack_from(self.raw, found + 16)
        if not self.string(name_index) and open_elements:
            return  # the end of an element skipped for its empty name
        self.uri(namespace)  # read (and so checked) as androguard reads it
        if not open_elements:
            raise AxmlError("an element end with no element open")
        open_elements.pop()

    def element(self, tag: str) -> etree._Element:
        """A new element declaring every open namespace; a prefix lxml refuses becomes ``android``, as in androguard."""
        nsmap = self.namespace_map()
        self.spend(36 + 24 * len(nsmap))
        try:
            return etree.Element(tag, nsmap=nsmap)
        except ValueError as exc:
            if "Invalid namespace prefix" not in str(exc):
                raise
            bad = str(exc).split("'")[1]
            return etree.Element(tag, nsmap={("android" if prefix.startswith(bad) else prefix): uri for prefix, uri in nsmap.items()})

    def namespace_map(self) -> dict[str, str]:
        """Prefix -> URI of the open declarations, neither empty, in androguard's order (a set of the pairs)."""
        if self.nsmap is None:
            self.spend(4 * len(self.namespaces))
            self.nsmap = {}
            for prefix_index, uri_index in set(self.namespaces):
                prefix, uri = self.string(prefix_index), self.string(uri_index)
                if prefix and uri:
                    self.nsmap[prefix] = uri.strip()
        return self.nsmap

    def uri(self, index: int) -> str:
        return "" if index == _NO_INDEX else _braced(self.string(index))

    def attribute_name(self, index: int) -> str:
        """The name string, or the android attribute its resource ID names (which wins, as on a device)."""
        name = self.string(index)
        res_id = self.resource_ids[index] if index < len(self.resource_ids) else 0
        public = _android_attrs().get(res_id) if res_id else None
        if public is not None:
            name = public.replace("_", ":")  # androguard's spelling, mended back to "_" by fix_name
        if not name or name == ":":
            return f"android:UNKNOWN_SYSTEM_ATTRIBUTE_{res_id or index:08x}"
        return name

    def fix_name(self, uri: str, name: str) -> tuple[str, str]:
        """androguard's mending of a name: a letter or ``_`` first, a known ``prefix:`` moved to the namespace, ``_`` for the rest."""
        key = (uri, name)
        fixed = self.names.get(key)
        if fixed is None:
            if not name[0].isalpha() and name[0] != "_":
                name = "_" + name
            if not uri and ":" in name:
                nsmap = self.namespace_map()
                prefix, rest = name.split(":", 1)
                if prefix in nsmap:
                    uri, name = _braced(nsmap[prefix]), rest
            if not _NAME.match(name):
                name = _NOT_NAME.sub("_", name)
            fixed = self.names[key] = (uri, name)
        return fixed

    # ------------------------------------------------------------------ strings

    def string(self, index: int) -> str:
        """String ``index`` of the pool; empty past its count."""
        if index >= self.count:
            return ""
        text = self.strings.get(index)
        if text is None:
            (offset,) = _U32.unpack_from(self.raw, self.offsets_at + 4 * index)
            text = self.strings[index] = self.utf8_at(offset) if self.utf8 else self.utf16_at(offset)
        return text

    def utf16_at(self, offset: int) -> str:
        raw, start = self.raw, self.chars_at + offset
        if start + 4 > self.chars_end:  # androguard reads two length units whatever the first says
            raise AxmlError(f"UTF-16 string at offset {offset} starts past the string pool")
        first, second = _LENGTHS16.unpack_from(raw, start)
        length, head = (((first & 0x7FFF) << 16) | second, 4) if first & 0x8000 else (first, 2)
        start += head
        stop = start + 2 * length
        if stop > self.chars_end:
            return ""
        if stop + 2 > self.chars_end or raw[stop : stop + 2] != b"\0\0":
            raise AxmlError(f"UTF-16 String is not null terminated! At offset={offset + head}")
        self.spend(length)
        return raw[start:stop].decode("utf-16", "replace")

    def utf8_at(self, offset: int) -> str:
        start = self.chars_at + offset
        _, start = self.length8(start, offset)  # the length in UTF-16 units, unused
        size, start = self.length8(start, offset)
        stop = start + size
        if stop > self.chars_end:
            return ""
        if stop >= self.chars_end:
            raise AxmlError(f"UTF-8 string at offset {offset} has no room for its terminator")
        if self.raw[stop]:
            return ""  # not terminated: androguard reads it as empty
        self.spend(size)
        return self.raw[start:stop].decode("utf-8", "replace")

    def length8(self, at: int, offset: int) -> tuple[int, int]:
        """A UTF-8 string's one- or two-byte length at ``at``, and the offset after it."""
        if at + 2 > self.chars_end:  # two bytes are read whatever the first says
            raise AxmlError(f"UTF-8 string at offset {offset} runs past the string pool")
        high, low = self.raw[at], self.raw[at + 1]
        return (((high & 0x7F) << 8) | low, at + 2) if high & 0x80 else (high, at + 1)


__all__ = ["MAX_BYTES", "AxmlError", "parse"]
