"""Parse an AndroidManifest.xml, binary (AXML, our reader in ``axml``) or text (lxml)."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from lxml import etree

from permaudit.errors import one_line
from permaudit.model import Problem, Severity

from . import axml
from .axml import _CHUNK, _POOL, _POOL_HEADER_SIZE, _STRING_POOL, _UTF8

if TYPE_CHECKING:
    from permaudit.loading.package import LoadedPackage

AXML_MAGIC = b"\x03\x00\x08\x00"


def parse_manifest(package: LoadedPackage, raw: bytes, where: str, member: str = "") -> etree._Element | None:
    """Binary AXML through ``axml``, decoded text through lxml; a problem if neither parses."""
    try:
        root = axml.parse(raw) if raw[:4] == AXML_MAGIC else etree.fromstring(raw, etree.XMLParser(resolve_entities=False, no_network=True))
    except Exception as exc:  # noqa: BLE001 - lxml and the AXML reader raise several types on hostile input
        root = _parse_axml_leniently(raw) if raw[:4] == AXML_MAGIC else None
        if root is None:
            package.problems.append(Problem("bad-manifest", f"{where}: cannot parse ({one_line(exc)})", member))
            return None
        package.problems.append(
            Problem("malformed-manifest", f"{where}: malformed string pool ({one_line(exc)}); read leniently, as Android does", member, Severity.NOTE)
        )
    if root is None or root.tag != "manifest":
        package.problems.append(Problem("bad-manifest", f"{where}: no <manifest> root element", member))
        return None
    return root


def _parse_axml_leniently(raw: bytes) -> etree._Element | None:
    """Retry with UTF-16 strings bounded by their length prefix, without demanding a terminator.

    Some malware (Geinimi) drops the terminators to crash analysers; Android's own reader
    bounds strings by their length, so the app installs. ``axml`` raises instead, as
    androguard does (its reference), so the string pool is rewritten with terminators in a
    copy and read again; anything else the rebuilt pool mends is read the same way.
    """
    repaired = _terminate_utf16_strings(raw)
    if repaired is None:
        return None
    try:
        return axml.parse(repaired)
    except Exception:  # noqa: BLE001 - still unreadable: the caller reports the original error
        return None


def _terminate_utf16_strings(raw: bytes) -> bytes | None:
    """``raw`` with its UTF-16 string pool rebuilt so every string ends in a NUL; None if it is not one."""
    pool = 8
    try:
        kind, header_size, size = _CHUNK.unpack_from(raw, pool)
        count, styles, flags, strings_start, styles_start = _POOL.unpack_from(raw, pool + 8)
    except struct.error:
        return None
    end = pool + size
    if kind != _STRING_POOL or header_size != _POOL_HEADER_SIZE or flags & _UTF8 or end > len(raw) or _POOL_HEADER_SIZE + 4 * (count + styles) > size:
        return None
    offsets = struct.unpack_from(f"<{count}I", raw, pool + _POOL_HEADER_SIZE)
    data_start = pool + strings_start
    data_end = pool + styles_start if styles and styles_start else end
    data = bytearray()
    new_offsets = []
    for offset in offsets:
        at = data_start + offset
        if at + 2 > data_end:
            return None
        (length,) = struct.unpack_from("<H", raw, at)
        head = 2
        if length & 0x8000:
            (low,) = struct.unpack_from("<H", raw, at + 2)
            length, head = ((length & 0x7FFF) << 16) | low, 4
        chars = raw[at + head : min(at + head + 2 * length, data_end)]
        new_offsets.append(len(data))
        data += raw[at : at + head] + chars + b"\0\0"
    data += b"\0" * (-len(data) % 4)
    style_offsets = raw[pool + _POOL_HEADER_SIZE + 4 * count : pool + _POOL_HEADER_SIZE + 4 * (count + styles)]
    style_data = raw[data_end:end] if styles and styles_start else b""
    new_strings_start = _POOL_HEADER_SIZE + 4 * (count + styles)
    new_styles_start = new_strings_start + len(data) if style_data else 0
    body = struct.pack(f"<{count}I", *new_offsets) + style_offsets + bytes(data) + style_data
    chunk = _CHUNK.pack(kind, _POOL_HEADER_SIZE, _POOL_HEADER_SIZE + len(body)) + _POOL.pack(count, styles, flags, new_strings_start, new_styles_start) + body
    rest = raw[end:]
    return raw[:4] + struct.pack("<I", 8 + len(chunk) + len(rest)) + chunk + rest


__all__ = ["AXML_MAGIC", "parse_manifest"]
