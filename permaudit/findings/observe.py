"""Stage 3a: from the facts of one package to observations, one per finding type and data category.

Pure and policy-free: what the manifest declares, how the code reads, where it sends and
from which entry point it runs, each with evidence pointing back into the facts. An
absence (``declared-unused``) is only claimed over code that was analysed, and with low
confidence when part of it could not be read: the status never claims more than was read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from permaudit.data import category_rank, load
from permaudit.model import AccessSite, AuditResult, CodeFacts, Stage, Status
from permaudit.model.code import short_api
from permaudit.model.common import counted
from permaudit.model.findings import (
    Evidence,
    EvidenceKind,
    FindingConfidence,
    Observation,
)
from permaudit.model.paths import Confidence as PathConfidence
from permaudit.model.paths import Outcome, SendPath, SinkKind, SitePaths
from permaudit.model.reach import ReachOutcome

MAX_EVIDENCE = 5
"""Evidence items kept per observation (``Observation.more`` counts the rest)."""

FULL_READS = ("bulk", "loader", "reflection", "api")
"""Site kinds that read every record, or the whole datum (a direct API: location, device id, accounts)."""


def finding_types() -> dict[str, dict[str, object]]:
    """Finding type -> its entry in ``data/findings.json``."""
    return {t["type"]: t for t in load("findings")["types"]}


def observe(result: AuditResult) -> tuple[Observation, ...]:
    """Every observation the facts of ``result`` support, by category (contacts first), then type order."""
    groups = load("permissions")["categories"]
    categories = {c["id"]: tuple(c["permissions"]) for c in groups}
    out: list[Observation] = []
    for category in sorted(categories, key=category_rank):
        unlocked = {category} | {c["id"] for c in groups if c.get("unlocked_by") == category}  # phone permissions unlock device ids
        out += _observe(result, category, categories[category], unlocked)
    types = list(finding_types())
    return tuple(sorted(out, key=lambda o: (category_rank(o.category), types.index(o.finding.split(".", 1)[1]))))


def _observe(result: AuditResult, category: str, permissions: tuple[str, ...], unlocked: set[str]) -> Iterator[Observation]:
    declared = [p for p in result.manifest.permissions if p.name in permissions and p.in_effect] if result.manifest else []
    if declared:
        yield _make(category, "declared", FindingConfidence.HIGH, f"declares {', '.join(sorted({p.name for p in declared}))}",
                    (Evidence(EvidenceKind.PERMISSION, f"{p.name} ({p.element}, API {p.device_apis})") for p in declared))
    code = result.code
    analysed = code is not None and Stage.CODE not in result.skipped
    if not analysed or code is None:
        return
    sites = [s for s in code.sites if s.category == category and not s.via]
    if declared and not any(s.category in unlocked for s in code.sites):
        partial = result.status is not Status.COMPLETE
        yield _make(category, "declared-unused", FindingConfidence.LOW if partial else FindingConfidence.MEDIUM,
                    f"no read of {' or '.join(sorted(unlocked))} in {counted(len(code.dex), 'dex file')} analysed" + (" (part of the package could not be read)" if partial else ""),
                    [Evidence(EvidenceKind.ABSENCE, f"{len(code.dex)} dex file(s), {sum(d.methods for d in code.dex)} methods; status {result.status.value}")])
    requests = [r for r in code.requests if set(r.permissions) & set(permissions)]
    if requests:
        yield _make(category, "requested", FindingConfidence.HIGH, f"{counted(len(requests), 'run-time request')} naming {category} permissions",
                    (Evidence(EvidenceKind.REQUEST, f"{short_api(r.api)} {', '.join(p for p in r.permissions if p in permissions)}", r.location) for r in requests))
    full = [s for s in sites if s.kind in FULL_READS]
    lookups = [s for s in sites if s.kind == "lookup"]
    pickers = [s for s in sites if s.kind == "picker"]
    if full:
        yield _make(category, "bulk-read", FindingConfidence.HIGH, f"{counted(len({s.location.signature for s in full}), 'method')} read {category} in full", map(_read, full))
    elif lookups:
        yield _make(category, "lookup-read", FindingConfidence.HIGH, f"{counted(len(lookups), 'read')} of single {category} records by key, no bulk read", map(_read, lookups))
    elif pickers and category == "contacts":
        yield _make(category, "picker-only", FindingConfidence.HIGH, "contacts are only picked by the user (system picker), never read in bulk or looked up", map(_read, pickers))
    yield from _sends(code, category)
    if code.reach is not None:
        early = [s for s in code.reach.sites if s.category == category and s.outcome is ReachOutcome.BEFORE_CONSENT]
        if early:
            yield _make(category, "before-consent", FindingConfidence.MEDIUM, f"{counted(len(early), 'read')} reachable from an entry point before any consent screen",
                        (Evidence(EvidenceKind.REACH, f"{s.entry.kind.value} {s.entry.class_name}->{s.entry.method}: " + " -> ".join(f"{st.method}@{st.offset:#x}" for st in s.steps)
                                  if s.entry is not None else s.note, s.site) for s in early))


def _sends(code: CodeFacts, category: str) -> Iterator[Observation]:
    if code.paths is None:
        return
    reads = [site for site in code.paths.sites if site.category == category and site.outcome is Outcome.PATH]
    # per read, its shortest path of each sort (paths are shortest first)
    texted = [(s, p) for s in reads for p in [q for q in s.paths if q.sink.kind is SinkKind.SMS][:1]]
    sent = [(s, p) for s in reads for p in [q for q in s.paths if q.sink.kind is not SinkKind.SMS][:1]]
    third = [(s, p) for s in reads for p in [q for q in s.paths if q.sink.kind is not SinkKind.SMS and any(e.owner.value == "third-party" for e in q.endpoints)][:1]]
    if sent:
        yield _make(category, "sent", _path_confidence(p for _, p in sent), f"{_reaches(len({s.site for s, _ in sent}))} a send call", (_path(s, p) for s, p in sent))
    if third:
        hosts = sorted({e.service or e.registrable_domain or e.host for _, p in third for e in p.endpoints if e.owner.value == "third-party"})
        yield _make(category, "sent-third-party", _path_confidence(p for _, p in third), f"sent to a third party's server: {', '.join(hosts)}", (_path(s, p) for s, p in third))
    if texted and category == "contacts":
        yield _make(category, "texted", _path_confidence(p for _, p in texted), f"{_reaches(len({s.site for s, _ in texted}))} an SMS send", (_path(s, p) for s, p in texted))


def _make(category: str, kind: str, confidence: FindingConfidence, summary: str, evidence: Iterable[Evidence]) -> Observation:
    items = list(dict.fromkeys(evidence))
    return Observation(f"{category}.{kind}", category, confidence, summary, tuple(items[:MAX_EVIDENCE]), max(0, len(items) - MAX_EVIDENCE))


def _path_confidence(paths: Iterable[SendPath]) -> FindingConfidence:
    """The best path decides: one or no call between read and send is high, more calls medium."""
    close = (PathConfidence.SAME_METHOD, PathConfidence.DIRECT_CALL)
    return FindingConfidence.HIGH if any(p.confidence in close for p in paths) else FindingConfidence.MEDIUM


def _read(site: AccessSite) -> Evidence:
    owner = site.attribution.sdk or site.attribution.owner.value
    return Evidence(EvidenceKind.READ, f"{site.kind} {short_api(site.api)} in {site.location.signature} @{site.location.offset:#x} ({owner})", site.location)


def _path(site: SitePaths, path: SendPath) -> Evidence:
    first = path.endpoints[0] if path.endpoints else None
    chain = " -> ".join(f"{s.method}@{s.offset:#x}" for s in path.steps)
    return Evidence(EvidenceKind.PATH, f"{chain} -> {short_api(path.sink.api)} ({path.confidence.value})", path.sink.location,
                    first.value if first else "", first.owner.value if first else "")


def _reaches(n: int) -> str:
    return f"{counted(n, 'read')} {'reaches' if n == 1 else 'reach'}"


__all__ = ["FULL_READS", "MAX_EVIDENCE", "finding_types", "observe"]
