"""Parse an AndroidManifest.xml, binary (AXML, through androguard) or text (lxml)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from androguard.core.axml import AXMLPrinter, StringBlock
from lxml import etree

from permaudit.errors import one_line
from permaudit.model import Problem

if TYPE_CHECKING:
    from permaudit.loading.package import LoadedPackage

AXML_MAGIC = b"\x03\x00\x08\x00"


def parse_manifest(package: LoadedPackage, raw: bytes, where: str, member: str = "") -> etree._Element | None:
    """Binary AXML through androguard, decoded text through lxml; a problem if neither parses."""
    try:
        root = _parse_axml(raw) if raw[:4] == AXML_MAGIC else etree.fromstring(raw, etree.XMLParser(resolve_entities=False, no_network=True))
    except Exception as exc:  # AXML and XML parsers raise many types on hostile input
        root = _parse_axml_leniently(raw) if raw[:4] == AXML_MAGIC else None
        if root is None:
            package.problems.append(Problem("bad-manifest", f"{where}: cannot parse ({one_line(exc)})", member))
            return None
        package.problems.append(
            Problem("malformed-manifest", f"{where}: malformed string pool ({one_line(exc)}); read leniently, as Android does", member)
        )
    if root is None or root.tag != "manifest":
        package.problems.append(Problem("bad-manifest", f"{where}: no <manifest> root element", member))
        return None
    return root


def _parse_axml(raw: bytes) -> etree._Element | None:
    printer = AXMLPrinter(raw)
    return printer.get_xml_obj() if printer.is_valid() else None


def _parse_axml_leniently(raw: bytes) -> etree._Element | None:
    """Retry with UTF-16 strings read by their length prefix, without demanding a terminator.

    Some malware (Geinimi) drops the terminator to crash analysers; Android's own
    reader bounds strings by their length, so the app installs. androguard raises
    instead, so for this one retry its decoder is swapped for a length-bounded one.
    """
    def decode16(self: StringBlock, offset: int) -> str:
        length, skip = self._decode_length(offset, 2)
        start = offset + skip
        return str(self._decode_bytes(self.m_charbuff[start : start + 2 * length], "utf-16", length))

    strict = StringBlock._decode16
    StringBlock._decode16 = decode16
    try:
        return _parse_axml(raw)
    except Exception:  # still unreadable: the caller reports the original error
        return None
    finally:
        StringBlock._decode16 = strict


__all__ = ["AXML_MAGIC", "parse_manifest"]
