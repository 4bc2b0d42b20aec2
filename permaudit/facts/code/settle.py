"""Decide what each read is (bulk, lookup, picker, loader) and turn it into evidence."""

from __future__ import annotations

from permaudit.data import category_rank, load
from permaudit.dex import DexError
from permaudit.errors import one_line
from permaudit.facts.attribution import Attributor
from permaudit.facts.code.candidates import OpenDex
from permaudit.facts.code.dataflow import Call, MethodFacts, Site, moves_cursor
from permaudit.model import AccessSite, CodeLocation, DataReference, Problem

LOADER_METHOD = "loadInBackground"


def settle(dexes: list[OpenDex], results: list[tuple[OpenDex, MethodFacts]], problems: list[Problem], attributor: Attributor) -> tuple[list[AccessSite], list[DataReference]]:
    """Decide each read's kind; keep picker queries only where a contacts picker is launched;
    list the URIs that no read used. Damage met while looking is a problem; the site stays."""
    launches = [(dex, s) for dex, facts in results for s in facts.picker_launches]
    inner: list[tuple[OpenDex, Site]] = []
    sites: dict[tuple[str, int, int], AccessSite] = {}
    used = {s.origin for _, s in launches}
    for dex, facts in results:
        picked_at = min((s.offset for s in facts.sites if s.kind == "picker"), default=None)
        for site in facts.sites:
            if site.kind == "picker" and not launches:
                continue  # Intent.getData() of some other picker (an image, a file)
            if site.kind == "query":
                site.kind = _query_kind(dexes, dex, site, picked_at, problems)
            used.add(site.origin)
            sites[(dex.name, site.method_idx, site.offset)] = _access(dex, site, problems, attributor)
            if site.param >= 0:
                inner.append((dex, site))
    for dex, site in launches:
        sites[(dex.name, site.method_idx, site.offset)] = _access(dex, site, problems, attributor)
    for dex, site in _via_wrappers(results, inner):
        used.add(site.origin)
        sites.setdefault((dex.name, site.method_idx, site.offset), _access(dex, site, problems, attributor))
    references = {
        (dex.name, ref.method_idx, ref.source): DataReference(ref.category, ref.source, location(dex, ref.method_idx, ref.offset, ref.instruction), attributor.of(dex.file.method(ref.method_idx).class_name))
        for dex, facts in results
        for ref in facts.created
        if ref.origin not in used
    }
    return list(sites.values()), list(references.values())


def _via_wrappers(results: list[tuple[OpenDex, MethodFacts]], inner: list[tuple[OpenDex, Site]]) -> list[tuple[OpenDex, Site]]:
    """A read of a URI that came in as an argument is also a read at each invoke handing it one.

    The caller's site has the wrapper's kind, the wrapper as ``api``, the URI the caller chose
    as ``source``, and ends its evidence with ``via wrapper <signature> @<offset>: <instruction>``,
    the site it repeats (counted once, there), so the app code choosing the URI is on record.
    Wrappers of wrappers are followed up to the callers that name the URI themselves."""
    callers: dict[str, list[tuple[OpenDex, Call]]] = {}
    for dex, facts in results:
        for call in facts.handed:
            callers.setdefault(call.callee, []).append((dex, call))
    found: list[tuple[OpenDex, Site]] = []
    seen: set[tuple[str, int, int]] = set()
    todo = list(inner)
    while todo:
        dex, site = todo.pop(0)
        wrapper = dex.file.method(site.method_idx).signature
        for caller_dex, call in callers.get(wrapper, []):
            value = call.args.get(site.param)
            key = (caller_dex.name, call.method_idx, call.offset)
            if value is None or key in seen:
                continue
            seen.add(key)
            pointer = f"via wrapper {wrapper} @{site.offset:#x}: {site.instruction}"
            derived = Site(site.category, site.kind, wrapper, value.text, call.method_idx, call.offset, call.instruction,
                           value.evidence + (pointer,), value.origin, site.columns, param=value.param, via=f"{wrapper} @{site.offset:#x}")
            found.append((caller_dex, derived))
            if derived.param >= 0:
                todo.append((caller_dex, derived))
    return found


def _query_kind(dexes: list[OpenDex], dex: OpenDex, site: Site, picked_at: int | None, problems: list[Problem]) -> str:
    """``bulk`` when the cursor is iterated; ``picker`` for a follow-up on a picked contact.

    When damaged tables stop the search for the loop over the cursor, the read is kept as
    a ``lookup`` (the weaker claim) and a problem says the kind is unsettled."""
    if picked_at is not None and site.offset > picked_at:
        site.evidence += ("follows the query of a contact the user picked, in the same method",)
        return "picker"
    try:
        iterated = _iterated(dexes, dex, site)
    except DexError as exc:
        problems.append(Problem("bad-dex", f"{dex.name}: {dex.describe(site.method_idx)} @{site.offset:#x}: could not tell whether the cursor is iterated ({one_line(exc)}); reported as lookup", dex.name))
        iterated = False
    if iterated:
        return "bulk"
    if site.returned and dex.file.method(site.method_idx).name == LOADER_METHOD:
        site.evidence += ("cursor returned from a Loader's loadInBackground to the app's onLoadFinished",)
        return "loader"
    return "lookup"


def _iterated(dexes: list[OpenDex], dex: OpenDex, site: Site) -> bool:
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


def _access(dex: OpenDex, site: Site, problems: list[Problem], attributor: Attributor) -> AccessSite:
    ref = dex.file.method(site.method_idx)
    try:
        bridge = load("apis")["javascript_interface"] in dex.file.method_annotations(site.method_idx)
    except DexError as exc:  # a damaged annotations directory costs the bridge flag, not the site
        problems.append(Problem("bad-dex", f"{dex.name}: {ref.signature}: annotations unreadable ({one_line(exc)}); not known whether it is a JavaScript bridge", dex.name))
        bridge = False
    return AccessSite(
        category=site.category,
        kind=site.kind,
        api=site.api,
        source=site.source,
        location=location(dex, site.method_idx, site.offset, site.instruction),
        attribution=attributor.of(ref.class_name),
        evidence=tuple(dict.fromkeys(site.evidence)),
        columns=tuple(dict.fromkeys(site.columns)),
        bridge=bridge,
        via=site.via,
    )


def location(dex: OpenDex, method_idx: int, offset: int, instruction: str) -> CodeLocation:
    ref = dex.file.method(method_idx)
    return CodeLocation(dex.name, ref.class_name, ref.name, ref.descriptor, offset, instruction)


def site_order(site: AccessSite | DataReference) -> tuple[int, str, str, int]:
    return (category_rank(site.category), site.location.dex, site.location.signature, site.location.offset)


__all__ = ["location", "settle", "site_order"]
