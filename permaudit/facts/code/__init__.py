"""Stage 2b: where the code reads the contact list and other personal data.

The hot path never builds androguard's whole-program ``Analysis``. ``candidates`` looks
up, in each dex's sorted tables, the few ids that matter and the methods whose code
uses them; ``rounds`` gives each one forward register pass (``dataflow``) and follows
values across methods; ``settle`` decides each read's kind and writes the evidence.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

from permaudit.dex import DexError, DexFile, validate
from permaudit.dex.index import gc_paused
from permaudit.errors import MemberError, internal_problem, one_line
from permaudit.facts import endpoints as endpoint_stage
from permaudit.facts import hybrid
from permaudit.facts import paths as path_stage
from permaudit.facts import reach as reach_stage
from permaudit.facts.attribution import Attributor
from permaudit.facts.code.candidates import OpenDex, types_with_prefix, wanted
from permaudit.facts.code.rounds import analyse
from permaudit.facts.code.settle import location, settle, site_order
from permaudit.loading import DexSource, LoadedPackage, hashes_later

T = TypeVar("T")
from permaudit.model import (
    CodeFacts,
    DexInfo,
    HybridEvidence,
    PermissionRequest,
    Problem,
)


def extract(package: LoadedPackage, keep: list[tuple[str, DexFile]] | None = None) -> CodeFacts | None:
    """Code facts for every dex of every split; None when the package holds no dex at all.
    ``keep`` receives the dex files opened and validated here, for later stages that read
    their tables too (the category signal), so no dex is inflated twice.

    Damage is isolated: a dex whose tables cannot be trusted is skipped with a problem,
    a method that cannot be decoded or analysed is a problem naming it, and what the
    other dex files and methods show is kept.
    """
    if not package.dex:
        return None
    with gc_paused():  # tens of thousands of decoded instructions and values, none in a cycle
        return _extract(package, keep)


def _extract(package: LoadedPackage, keep: list[tuple[str, DexFile]] | None) -> CodeFacts:
    problems = package.problems
    dexes, infos = _open(package)
    usable = []
    for dex in dexes:
        try:
            ids = wanted(dex.file)
            _prefetch(dex.file, ids)
            dex.candidates = {r.method_idx for r in dex.file.refs(**ids)}
        except DexError as exc:  # the id tables are damaged: nothing in this dex can be trusted
            problems.append(Problem("bad-dex", one_line(exc), dex.name))
            continue
        problems.extend(Problem("bad-method", f"{why} (not scanned)", dex.name) for _, why in sorted(dex.file.skipped.items()))
        usable.append(dex)
    results = analyse(usable, problems)
    attributor = Attributor.from_manifest(package.manifest)  # bare dex: no manifest, nothing first-party by package
    sites, references = settle(usable, results, problems, attributor)
    requests = []
    for dex, facts in results:
        for r in facts.requests:
            requests.append(PermissionRequest(r.api, r.permissions, location(dex, r.method_idx, r.offset, r.instruction), attributor.of(dex.file.method(r.method_idx).class_name)))
    bridges = {
        HybridEvidence("webview", s.category, "class", s.location.class_name, f"@JavascriptInterface {s.location.method}{s.location.descriptor} reads {s.category}")
        for s in sites
        if s.bridge
    }
    opened = [(dex.name, dex.file) for dex in usable]
    if keep is not None:
        keep.extend(opened)
    code = CodeFacts(
        dex=tuple(infos),
        sites=tuple(sorted(sites, key=site_order)),
        references=tuple(sorted(references, key=site_order)),
        requests=tuple(sorted(requests, key=lambda r: (r.location.dex, r.location.signature, r.location.offset))),
        endpoints=_guarded(package, "endpoint extraction", endpoint_stage.extract, package, opened),
        hybrid=tuple(sorted(set(hybrid.scan(package.files(), _hybrid_classes(usable, problems))) | bridges, key=lambda h: (h.framework, h.path, h.detail))),
    )
    code = dataclasses.replace(code, paths=_guarded(package, "read-to-send paths", path_stage.extract, code, opened))
    return dataclasses.replace(code, reach=_guarded(package, "reachability from entry points", reach_stage.extract, code, opened, package))


def _prefetch(dex: DexFile, candidate_ids: dict[str, list[int]]) -> None:
    """One scan of the code for the fixed ids of the candidates, endpoints and send APIs, which
    each stage then asks ``refs()`` about in turn (a scan each otherwise). Damage met here, or a
    bug in another stage's code run here, is left for that stage to meet and report as it would
    have (a bug in the endpoint or path stage costs its own facts, never the code facts)."""
    want: dict[str, set[int]] = {}
    try:
        for ids in (candidate_ids, endpoint_stage.wanted(dex), {"methods": path_stage.sink_ids(dex)}):
            for kind, values in ids.items():
                want.setdefault(kind, set()).update(values)
        dex.prefetch(**want)
    except MemoryError:
        raise  # the caller's limit
    except Exception:  # noqa: BLE001, S110 - DexError or a bug: each stage meets it again under its own guard
        pass


def _guarded(package: LoadedPackage, where: str, extract: Callable[..., T], *args: Any) -> T | None:
    """Run one extraction over the opened dex files; a bug in it (not bad input: each turns
    damage into problems itself) costs its own facts only, never the code facts."""
    try:
        return extract(*args)
    except Exception as exc:
        package.problems.append(internal_problem(package.path, where, exc))
        return None


def _hybrid_classes(dexes: list[OpenDex], problems: list[Problem]) -> list[str]:
    """Classes defined under the prefixes of hybrid-framework plugins, dex by dex."""
    classes = []
    for dex in dexes:
        try:
            for prefix in hybrid.class_prefixes():
                names = map(dex.file.type_name, types_with_prefix(dex.file, prefix))
                classes += [name for name in names if dex.file.class_def_index(name) is not None]
        except DexError as exc:
            problems.append(Problem("bad-dex", f"{one_line(exc)}; hybrid plugin classes of this dex not listed", dex.name))
    return classes


def _read_ahead(sources: list[DexSource], k: int) -> None:
    """Start inflating, in threads, the dex files after the ``k``-th one while it is read and
    validated: as many as its own size covers (a small dex is validated in less time than its
    successor takes to inflate, so the one after that starts too), at most ``_AHEAD``. Starting
    one twice is a no-op."""
    covered = 0
    for source in sources[k + 1:k + 1 + _AHEAD]:
        if source.ahead is not None:
            source.ahead()
        covered += source.size
        if covered >= sources[k].size:
            return


_AHEAD = 2
"""Dex files inflating ahead of the one being read, at most: a big dex followed by hundreds of
small ones starts two threads, not hundreds (sizes are the central directory's word, too)."""


def _open(package: LoadedPackage) -> tuple[list[OpenDex], list[DexInfo]]:
    """Each dex that opens and validates, and a ``DexInfo`` (hashes) for every dex that could be read.

    Validation damage confined to methods or classes is reported and the dex still read (the
    reader refuses the damaged parts one by one); damage to its tables skips the dex."""
    dexes, infos = [], []
    for k, source in enumerate(package.dex):
        _read_ahead(package.dex, k)
        try:
            data = source.read()
        except MemberError:
            continue  # the reader recorded why (over a cap, damaged, unreadable)
        hashes = hashes_later(data, package.threads)  # in a thread, beside the validation
        try:
            dex = DexFile(data, source.name)
        except DexError as exc:
            package.problems.append(Problem("bad-dex", one_line(exc), source.name))
            infos.append(DexInfo(source.name, hashes(), 0, 0))
            continue
        damage = validate(dex)  # whole-dex, linear: damage is reported even where no contacts API is involved
        infos.append(DexInfo(source.name, hashes(), dex.class_count, dex.method_count))
        package.problems.extend(Problem("bad-method" if d.method_idx is not None else "bad-dex", d.message, source.name) for d in damage)
        if not any(d.fatal for d in damage):
            dexes.append(OpenDex(source.name, dex, package.problems))
    return dexes, infos


__all__ = ["extract"]
