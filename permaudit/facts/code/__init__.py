"""Stage 2b: where the code reads the contact list and other personal data.

The hot path never builds androguard's whole-program ``Analysis``. It looks up, in each
dex's sorted tables, the few string, field and method ids that matter (contacts URIs,
query APIs, permission APIs...), finds the instructions that use them, and decodes only
the methods that hold those instructions (``permaudit.dexindex``). Each such method gets
one forward register pass (``permaudit.dataflow``). Values kept in fields, and values
handed to the app's own methods as arguments, are followed in up to ``ROUNDS`` rounds.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Iterable
from dataclasses import dataclass, field

from permaudit.facts import hybrid
from permaudit.facts.attribution import attribute
from permaudit.data import category_rank, load
from permaudit.facts.code.dataflow import MethodAnalyzer, MethodFacts, Site, Value, classify_string, moves_cursor
from permaudit.dex import DexError, DexFile, Insn
from permaudit.loading import LoadedPackage, hashes_of, one_line
from permaudit.model import (
    AccessSite,
    CodeFacts,
    CodeLocation,
    DataReference,
    DexInfo,
    HybridEvidence,
    PermissionRequest,
    Problem,
)

ROUNDS = 4
STRING_NEEDLES = (rb"content://", rb"Y29udGVudDovL", rb"vnd\.android\.cursor\.")
"""Cheap literal scans of the string data; each hit is then classified by the patterns in apis.json."""
LOADER_METHOD = "loadInBackground"
URI_FIELD_TYPE = "Landroid/net/Uri;"


@dataclass
class _Dex:
    """One opened dex with the candidate methods its tables point at."""

    name: str
    file: DexFile
    candidates: set[int] = field(default_factory=set)
    code: dict[int, list[Insn] | None] = field(default_factory=dict)

    def insns(self, method_idx: int) -> list[Insn]:
        if method_idx not in self.code:
            try:
                self.code[method_idx] = self.file.code(method_idx)
            except DexError:
                self.code[method_idx] = None
        return self.code[method_idx] or []


def extract(package: LoadedPackage) -> CodeFacts | None:
    """Code facts for every dex of every split; None when the package holds no dex at all."""
    if not package.dex:
        return None
    dexes, infos = _open(package)
    usable = []
    for dex in dexes:
        try:
            dex.candidates = _candidates(dex.file)
        except DexError as exc:  # tables past the header are damaged: nothing in this dex can be trusted
            package.problems.append(Problem("bad-dex", one_line(exc), dex.name))
            continue
        usable.append(dex)
    try:
        results = _analyse(usable, package.problems)
        sites, references = _settle(usable, results)
        requests = [
            PermissionRequest(r.api, r.permissions, _location(dex, r.method_idx, r.offset, r.instruction), attribute(dex.file.method(r.method_idx).class_name))
            for dex, facts in results
            for r in facts.requests
        ]
        classes = [
            name
            for prefix in hybrid.class_prefixes()
            for dex in usable
            for name in map(dex.file.type_name, _types_with_prefix(dex.file, prefix))
            if dex.file.class_def_index(name) is not None
        ]
    except DexError as exc:  # damage met while following values across methods
        package.problems.append(Problem("bad-dex", f"{one_line(exc)}; code facts of this package are incomplete", ""))
        sites, references, requests, classes = [], [], [], []
    bridges = {
        HybridEvidence("webview", s.category, "class", s.location.class_name, f"@JavascriptInterface {s.location.method}{s.location.descriptor} reads {s.category}")
        for s in sites
        if s.bridge
    }
    return CodeFacts(
        dex=tuple(infos),
        sites=tuple(sorted(sites, key=_site_order)),
        references=tuple(sorted(references, key=_site_order)),
        requests=tuple(sorted(requests, key=lambda r: (r.location.dex, r.location.signature, r.location.offset))),
        hybrid=tuple(sorted(set(hybrid.scan(package.files(), classes)) | bridges, key=lambda h: (h.framework, h.path, h.detail))),
    )


def _open(package: LoadedPackage) -> tuple[list[_Dex], list[DexInfo]]:
    dexes, infos = [], []
    for source in package.dex:
        try:
            data = source.read()
        except Exception as exc:  # a damaged zip member can fail in zlib or in androguard's reader
            package.problems.append(Problem("bad-dex", f"{source.name}: cannot read ({one_line(exc)})", source.name))
            continue
        try:
            dex = DexFile(data, source.name)
        except DexError as exc:
            package.problems.append(Problem("bad-dex", one_line(exc), source.name))
            infos.append(DexInfo(source.name, hashes_of(data), 0, 0))
            continue
        infos.append(DexInfo(source.name, hashes_of(data), dex.class_count, dex.method_count))
        dexes.append(_Dex(source.name, dex))
    return dexes, infos


def _candidates(dex: DexFile) -> set[int]:
    """Methods whose code uses one of the ids that matter; the only methods ever decoded."""
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
        for type_idx in _types_with_prefix(dex, entry["class_prefix"])
        for idx in dex.find_fields(dex.type_name(type_idx))
        if dex.field(idx).type == URI_FIELD_TYPE
    ]
    methods: set[int] = set()
    for entry in apis["query_apis"] + apis["data_apis"] + apis["permission_apis"] + [apis["reflection"]["invoke"]]:
        if "class" in entry:
            methods.update(dex.find_methods(entry["class"], entry["name"]))
        else:
            methods.update(m for m in dex.find_methods(None, entry["name"]) if _name_match(dex, m, entry))
    refs = dex.refs(strings=sorted(strings), fields=sorted(fields), methods=sorted(methods))
    return {r.method_idx for r in refs}


def _types_with_prefix(dex: DexFile, prefix: str) -> range:
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


def _analyse(dexes: list[_Dex], problems: list[Problem]) -> list[tuple[_Dex, MethodFacts]]:
    """Run the register pass over every candidate; then, round by round, over the methods
    that use a field a tracked value was stored in (or whose unknown value reached a
    permission API), were handed one as an argument, or call a method that returns one."""
    fields: dict[str, Value] = {}
    handed: dict[str, dict[int, Value]] = {}
    returned: dict[str, Value] = {}
    latest: dict[tuple[str, int], tuple[_Dex, MethodFacts]] = {}
    asked: set[str] = set()
    todo = {dex.name: set(dex.candidates) for dex in dexes}
    for _ in range(ROUNDS):
        new_fields: dict[str, Value] = {}
        new_args: set[str] = set()
        new_returns: dict[str, Value] = {}
        wanted: set[str] = set()
        for dex in dexes:
            analyzer = MethodAnalyzer(dex.file, fields, returned)
            seeded = _callees(dex.file, handed)
            for method_idx in sorted(todo[dex.name]):
                try:
                    facts = analyzer.run(method_idx, dex.insns(method_idx), _registers(dex.file, method_idx, seeded.get(method_idx)))
                except DexError as exc:  # one method refers past the tables; the others still count
                    problems.append(Problem("bad-dex", f"{one_line(exc)} (method id {method_idx} skipped)", dex.name))
                    continue
                latest[(dex.name, method_idx)] = (dex, facts)
                wanted |= facts.wanted - fields.keys() - asked
                new_fields.update((k, v) for k, v in facts.stores.items() if k not in fields)
                signature = dex.file.method(method_idx).signature
                if facts.returns is not None and signature not in returned:
                    new_returns[signature] = facts.returns
                for callee, args in facts.calls.items():
                    known = handed.setdefault(callee, {})
                    new_args.update(callee for position in args if position not in known)
                    for position, value in args.items():
                        known.setdefault(position, value)
        if not new_fields and not new_args and not new_returns and not wanted:
            break
        fields.update(new_fields)
        returned.update(new_returns)
        asked |= wanted
        for dex in dexes:
            callees = _callees(dex.file, {s: handed[s] for s in new_args})
            touched = _field_users(dex.file, new_fields.keys() | wanted)
            todo[dex.name] = touched | callees.keys() | _callers(dex.file, new_returns)
    return list(latest.values())


def _callers(dex: DexFile, signatures: dict[str, Value]) -> set[int]:
    """Methods of this dex that invoke one of these app methods."""
    targets = sorted(i for i in map(functools.partial(_find, dex), signatures) if i is not None)
    return {r.method_idx for r in dex.refs(methods=targets)} if targets else set()


def _callees(dex: DexFile, handed: dict[str, dict[int, Value]]) -> dict[int, dict[int, Value]]:
    """Methods of this dex, with code, that a caller handed a tracked value to."""
    found = {}
    for signature, args in handed.items():
        method_idx = _find(dex, signature)
        if method_idx is not None and dex.method_code_offset(method_idx) is not None:
            found[method_idx] = args
    return found


def _find(dex: DexFile, signature: str) -> int | None:
    """The method id of ``Lcom/x/A;->name(...)R`` in this dex, if it names it."""
    class_name, _, rest = signature.partition("->")
    return dex.find_method(class_name, rest[: rest.index("(")], rest[rest.index("(") :])


def _registers(dex: DexFile, method_idx: int, args: dict[int, Value] | None) -> dict[int, Value] | None:
    """Argument positions to registers: arguments occupy the last ``ins_size`` registers."""
    info = dex.code_info(method_idx) if args else None
    if info is None or args is None:
        return None
    first = info.registers_size - info.ins_size
    return {first + position: value for position, value in args.items()}


def _field_users(dex: DexFile, keys: Iterable[str]) -> set[int]:
    """Methods that read or write one of these fields (``Lcls;->name:type`` keys)."""
    indices = []
    for key in keys:
        class_name, _, rest = key.partition("->")
        name, _, type_ = rest.partition(":")
        indices += [i for i in dex.find_fields(class_name, name) if dex.field(i).type == type_]
    return {r.method_idx for r in dex.refs(fields=sorted(indices))} if indices else set()


def _settle(dexes: list[_Dex], results: list[tuple[_Dex, MethodFacts]]) -> tuple[list[AccessSite], list[DataReference]]:
    """Decide each read's kind; keep picker queries only where a contacts picker is launched;
    list the URIs that no read used."""
    launches = [(dex, s) for dex, facts in results for s in facts.picker_launches]
    sites: dict[tuple[str, int, int], AccessSite] = {}
    used = {s.origin for _, s in launches}
    for dex, facts in results:
        picked_at = min((s.offset for s in facts.sites if s.kind == "picker"), default=None)
        for site in facts.sites:
            if site.kind == "picker" and not launches:
                continue  # Intent.getData() of some other picker (an image, a file)
            if site.kind == "query":
                site.kind = _query_kind(dexes, dex, site, picked_at)
            used.add(site.origin)
            sites[(dex.name, site.method_idx, site.offset)] = _access(dex, site)
    for dex, site in launches:
        sites[(dex.name, site.method_idx, site.offset)] = _access(dex, site)
    references = {
        (dex.name, ref.method_idx, ref.source): DataReference(ref.category, ref.source, _location(dex, ref.method_idx, ref.offset, ref.instruction), attribute(dex.file.method(ref.method_idx).class_name))
        for dex, facts in results
        for ref in facts.created
        if ref.origin not in used
    }
    return list(sites.values()), list(references.values())


def _query_kind(dexes: list[_Dex], dex: _Dex, site: Site, picked_at: int | None) -> str:
    """``bulk`` when the cursor is iterated; ``picker`` for a follow-up on a picked contact."""
    if picked_at is not None and site.offset > picked_at:
        site.evidence += ("follows the query of a contact the user picked, in the same method",)
        return "picker"
    if _iterated(dexes, dex, site):
        return "bulk"
    if site.returned and dex.file.method(site.method_idx).name == LOADER_METHOD:
        site.evidence += ("cursor returned from a Loader's loadInBackground to the app's onLoadFinished",)
        return "loader"
    return "lookup"


def _iterated(dexes: list[_Dex], dex: _Dex, site: Site) -> bool:
    """Iterated here, in a method the cursor is handed to, or by a caller it is returned to."""
    if site.iterated:
        return True
    for callee in site.escapes:
        for other in dexes:
            for idx in other.file.find_methods(callee.class_name, callee.name):
                if other.file.method(idx).descriptor == callee.descriptor and moves_cursor(other.file, other.insns(idx)):
                    site.evidence += (f"cursor iterated in {callee.class_name}->{callee.name}",)
                    return True
    if site.returned:
        me = dex.file.method(site.method_idx)
        for other in dexes:
            targets = [i for i in other.file.find_methods(me.class_name, me.name) if other.file.method(i).descriptor == me.descriptor]
            for ref in other.file.refs(methods=targets) if targets else []:
                if moves_cursor(other.file, other.insns(ref.method_idx)):
                    caller = other.file.method(ref.method_idx)
                    site.evidence += (f"cursor returned to {caller.class_name}->{caller.name}, which iterates it",)
                    return True
    return False


def _access(dex: _Dex, site: Site) -> AccessSite:
    ref = dex.file.method(site.method_idx)
    bridge = load("apis")["javascript_interface"] in dex.file.method_annotations(site.method_idx)
    return AccessSite(
        category=site.category,
        kind=site.kind,
        api=site.api,
        source=site.source,
        location=_location(dex, site.method_idx, site.offset, site.instruction),
        attribution=attribute(ref.class_name),
        evidence=tuple(dict.fromkeys(site.evidence)),
        columns=tuple(dict.fromkeys(site.columns)),
        bridge=bridge,
    )


def _location(dex: _Dex, method_idx: int, offset: int, instruction: str) -> CodeLocation:
    ref = dex.file.method(method_idx)
    return CodeLocation(dex.name, ref.class_name, ref.name, ref.descriptor, offset, instruction)


def _site_order(site: AccessSite | DataReference) -> tuple[int, str, str, int]:
    return (category_rank(site.category), site.location.dex, site.location.signature, site.location.offset)


__all__ = ["extract"]
