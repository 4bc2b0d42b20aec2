"""Which methods to decode: those whose code uses an id that matters.

Each dex's sorted tables are searched for the few string, field and method ids the API
tables in ``data/apis.json`` name (contacts URIs, query APIs, permission APIs...); only
the methods holding instructions that use them are ever decoded.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from permaudit.data import load
from permaudit.dex import DexError, DexFile, Insn
from permaudit.errors import one_line
from permaudit.facts.code.dataflow import classify_string
from permaudit.model import Problem

STRING_NEEDLES = (rb"content://", rb"Y29udGVudDovL", rb"vnd\.android\.cursor\.")
"""Cheap literal scans of the string data; each hit is then classified by the patterns in apis.json."""
URI_FIELD_TYPE = "Landroid/net/Uri;"


@dataclass
class OpenDex:
    """One opened dex with the candidate methods its tables point at."""

    name: str
    file: DexFile
    problems: list[Problem]
    """The package's problems: a method that cannot be decoded is recorded here, never dropped."""
    candidates: set[int] = field(default_factory=set)
    code: dict[int, list[Insn] | None] = field(default_factory=dict)

    def insns(self, method_idx: int) -> list[Insn]:
        """The decoded body (empty for abstract and native methods); a body that cannot be
        decoded is a ``bad-method`` problem naming dex, class and method, and reads as empty."""
        if method_idx not in self.code:
            try:
                self.code[method_idx] = self.file.code(method_idx)
            except DexError as exc:
                self.code[method_idx] = None
                self.problems.append(Problem("bad-method", f"{self.name}: {self.describe(method_idx)}: cannot decode ({one_line(exc)})", self.name))
        return self.code[method_idx] or []

    def describe(self, method_idx: int) -> str:
        """``Lcom/x/A;->m(I)V`` where the tables allow, else ``method id N``."""
        try:
            signature = self.file.method(method_idx).signature
            return signature if len(signature) <= 200 else signature[:197] + "..."
        except DexError:
            return f"method id {method_idx}"


def wanted(dex: DexFile) -> dict[str, list[int]]:
    """The ids that matter, as ``DexFile.refs`` keywords: the methods whose code uses one are the
    candidates, the only methods ever decoded (``facts/code`` prefetches them with other stages' ids)."""
    apis = load("apis")
    strings = {
        i
        for needle in STRING_NEEDLES
        for i in dex.strings_matching(needle)
        if classify_string(dex.string(i)).kind in ("data", "mime")
    }
    strings |= {i for e in apis["authorities"] if (i := dex.find_string(e["value"])) is not None}
    fields = [
        idx
        for entry in apis["uri_fields"]
        for type_idx in types_with_prefix(dex, entry["class_prefix"])
        for idx in dex.find_fields(dex.type_name(type_idx))
        if dex.field(idx).type == URI_FIELD_TYPE
    ]
    methods: set[int] = set()
    for entry in apis["query_apis"] + apis["data_apis"] + apis["permission_apis"] + [apis["reflection"]["invoke"]]:
        if "class" in entry:
            methods.update(dex.find_methods(entry["class"], entry["name"]))
        else:
            methods.update(m for m in dex.find_methods(None, entry["name"]) if _name_match(dex, m, entry))
    return {"strings": sorted(strings), "fields": sorted(fields), "methods": sorted(methods)}


def types_with_prefix(dex: DexFile, prefix: str) -> range:
    """Type ids whose descriptor starts with ``prefix``: a contiguous run, since type ids are sorted."""
    start = bisect.bisect_left(range(dex.type_count), prefix, key=dex.type_name)
    end = start
    while end < dex.type_count and dex.type_name(end).startswith(prefix):
        end += 1
    return range(start, end)


def _name_match(dex: DexFile, method_idx: int, entry: dict[str, str]) -> bool:
    """Name-only entries (``query``, ``requestPermissions``) also match calls through subclasses."""
    descriptor = dex.method(method_idx).descriptor
    if "returns" in entry:
        return descriptor.endswith(")" + entry["returns"]) and URI_FIELD_TYPE in descriptor
    return entry.get("params_contain", "") in descriptor.split(")")[0]


__all__ = ["URI_FIELD_TYPE", "OpenDex", "types_with_prefix", "wanted"]
