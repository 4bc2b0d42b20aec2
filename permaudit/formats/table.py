"""Human-readable output for a terminal: a header block and tabulate tables per package.

Strings from an APK are attacker-controlled, so every cell goes through
``model.visible``: control, escape and bidi characters are shown, never interpreted.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence

from tabulate import tabulate

from permaudit.data import category_rank
from permaudit.model import (
    AuditResult,
    CodeLocation,
    Endpoint,
    EndpointFacts,
    ManifestFacts,
    PathFacts,
    Permission,
    ReachFacts,
    SitePaths,
    Stage,
    visible,
)


def render(results: Sequence[AuditResult], **_: object) -> str:
    return "\n\n".join(_result(r) for r in results) + "\n"


def _table(title: str, headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    body = [[visible(c) for c in row] for row in rows]
    if not body:
        return ""
    return f"{title}\n" + str(tabulate(body, headers=list(headers), tablefmt="simple", disable_numparse=True))


def _result(result: AuditResult) -> str:
    parts = [f"== {visible(result.path)}  [{result.kind}, {result.status.value}]", _answer(result)]
    header: list[tuple[str, object]] = []
    facts = result.manifest
    if facts is not None:
        header += [
            ("package", facts.package),
            ("label", facts.label),
            ("version", f"{facts.version_name} ({facts.version_code})"),
            ("sdk", f"min {facts.min_sdk}, target {facts.target_sdk}" + (f", max {facts.max_sdk}" if facts.max_sdk else "")),
            ("main activity", facts.main_activity or "-"),
        ]
    if result.hashes is not None:
        header += [("sha256", result.hashes.sha256), ("size", f"{result.hashes.size} bytes")]
    signing = result.signing
    if signing is not None:
        verified = [s.scheme for s in signing.schemes if s.verified]
        header.append(("signature", ", ".join(verified) + " verified" if verified else "does not verify"))
        header += [
            ("signer" if c.schemes else "certificate", f"{c.subject} (sha256 {c.sha256})" + ("" if c.schemes else ", signature does not verify"))
            for c in signing.certificates
        ]
    if header:
        parts.append(tabulate([[k, visible(v)] for k, v in header], tablefmt="plain", disable_numparse=True))
    if facts is not None:
        parts.append(_permissions(facts) or "Permissions: none requested")
    if Stage.CODE in result.skipped:
        parts.append("Personal-data access in code: not analysed (--manifest-only)")
    if result.code is not None:
        code = result.code
        where = functools.partial(_where, multidex=len(code.dex) > 1)
        parts.append(
            _table(
                f"Personal-data access in code ({_count(sum(not s.via for s in code.sites), 'site')}"
                + (f"; {sum(bool(s.via) for s in code.sites)} more at calls of wrappers)" if any(s.via for s in code.sites) else ")"),
                ["data", "kind", "where", "api", "source", "code owner"],
                (
                    [s.category, s.kind + (" (JS bridge)" if s.bridge else "") + (" (via wrapper)" if s.via else ""), where(s.location),
                     _short_api(s.api), s.source or "-", s.attribution.sdk or s.attribution.owner]
                    for s in code.sites
                ),
            )
            or "Personal-data access in code: none found"
        )
        parts.append(
            _table(
                f"Personal-data URIs named but not read ({len(code.references)})",
                ["data", "where", "uri", "code owner"],
                ([r.category, where(r.location), r.source, r.attribution.sdk or r.attribution.owner] for r in code.references),
            )
        )
        parts.append(
            _table(
                "Runtime permission requests",
                ["api", "permissions", "where"],
                ([_short_api(r.api), ", ".join(r.permissions) or "?", where(r.location)] for r in code.requests),
            )
        )
        parts.append(
            _table("Hybrid frameworks", ["framework", "data", "evidence", "path", "detail"],
                   ([h.framework, h.category, h.evidence_kind, h.path, h.detail] for h in code.hybrid))
        )
        if code.endpoints is not None:
            parts.append(_endpoints(code.endpoints, where))
        if code.paths is not None:
            owners = {(site.category, site.location): site.attribution.sdk or site.attribution.owner.value for site in code.sites}
            parts.append(_paths(code.paths, where, lambda p: owners.get((p.category, p.site), "-")))
        if code.reach is not None:
            parts.append(_reach(code.reach, where))
    parts.append(_table("Problems", ["code", "severity", "message"], ([p.code, p.severity.value, p.message] for p in result.problems)))
    return "\n\n".join(p for p in parts if p)


def _endpoints(facts: EndpointFacts, where: Callable[[CodeLocation], str]) -> str:
    """Each endpoint once, with whose server it is and where it was first found (+N more places)."""
    filtered = ", ".join(f"{f.reason} {f.count}" for f in facts.filtered)
    title = f"Endpoints ({len(facts.endpoints)}" + (f"; filtered {sum(f.count for f in facts.filtered)}: {filtered}" if filtered else "") + ")"
    if not facts.endpoints:
        title = "Endpoints: none found" + (f" (filtered {sum(f.count for f in facts.filtered)}: {filtered})" if filtered else "")
    table = _table(
        title,
        ["endpoint", "kind", "server", "domain / service", "ip scope", "how", "where"],
        (
            [e.value, e.kind.value, e.owner.value, e.service or e.registrable_domain or "-", e.ip_scope.value if e.ip_scope else "-",
             _how(e), _source(e, where)]
            for e in facts.endpoints
        ),
    )
    return "\n".join([table or title, *facts.capped])


def _answer(result: AuditResult) -> str:
    """The contact list first, in four lines: can the app read it, does it, where does it send it, whose code reads."""
    facts = result.manifest
    declared = [p for p in facts.permissions if p.category == "contacts" and p.name.endswith("READ_CONTACTS")] if facts else []
    can = "; ".join(f"yes: {p.name} ({p.protection_level}), device API {p.device_apis}" for p in declared if p.in_effect) or (
        "no: READ_CONTACTS is not in effect on any device API" if declared else "no: READ_CONTACTS not declared" if facts else "unknown: no manifest read")
    code = result.code
    lines = [("can read contacts", can)]
    if Stage.CODE in result.skipped or code is None:
        lines.append(("reads contacts", "not analysed (--manifest-only)" if Stage.CODE in result.skipped else "unknown: no code read"))
        return "\n".join(tabulate([[k, visible(v)] for k, v in lines], tablefmt="plain", disable_numparse=True).splitlines())
    sites = [s for s in code.sites if s.category == "contacts" and not s.via]
    kinds = {k: len({s.location.signature for s in sites if s.kind == k}) for k in dict.fromkeys(s.kind for s in sites)}
    picker_only = list(kinds) == ["picker"]
    lines.append(("reads contacts", ", ".join(f"{k} in {_count(n, 'method')}" for k, n in kinds.items()) + (" (the system picker needs no permission)" if picker_only else "")
                  or f"no read found in {_count(len(code.dex), 'dex file')}" + ("" if result.status.value == "complete" else f" (status {result.status.value})")))
    if sites:
        paths = [p for site in (code.paths.sites if code.paths else ()) if site.category == "contacts" for p in site.paths if p.confidence.value != "co-located"]
        servers = list(dict.fromkeys(f"{e.host or e.value} ({e.owner.value})" for p in paths for e in p.endpoints))
        channels = dict.fromkeys(p.sink.kind.value for p in paths)
        hosts = ", ".join(servers[:3]) + (f" and {len(servers) - 3} more" if len(servers) > 3 else "") if servers else "no endpoint tied to the send call"
        sent = f"{hosts}; by {', '.join(channels)} ({_count(len({(p.sink.location.dex, p.sink.location.signature, p.sink.location.offset) for p in paths}), 'send call')})" if paths else (
            "no path to a send call found" if code.paths is not None else "not searched")
        lines.append(("sends them", sent))
        owners = dict.fromkeys(s.attribution.sdk or s.attribution.owner.value for s in sites)
        lines.append(("whose code", ", ".join(f"{o} ({_count(sum((s.attribution.sdk or s.attribution.owner.value) == o for s in sites), 'read')})" for o in owners)))
    return tabulate([[k, visible(v)] for k, v in lines], tablefmt="plain", disable_numparse=True)


def _paths(facts: PathFacts, where: Callable[[CodeLocation], str], whose: Callable[[SitePaths], str]) -> str:
    """One row per read: whose code reads, the shortest path to a send API (methods in order)
    and the server it names with whose server it is, or why there is no path."""
    rows = []
    for site in facts.sites:
        best = site.paths[0] if site.paths else None
        if best is None:
            rows.append([site.category, where(site.site), whose(site), site.outcome.value, "-", site.note or "-", "-", "-"])
            continue
        chain = " -> ".join(f"{_short_class(s.class_name)}.{s.method}@{s.offset:#x}" for s in best.steps)
        sink = f"{_short_api(best.sink.api)} ({best.sink.kind.value})"
        first = best.endpoints[0] if best.endpoints else None
        endpoint = first.value + (f" (+{len(best.endpoints) - 1})" if len(best.endpoints) > 1 else "") if first else "-"
        server = f"{first.owner.value}: {first.service or first.registrable_domain or first.host}" if first else "-"
        outcome = "co-located: no flow to it" if site.outcome.value == "co-located" else f"{site.outcome.value}, {best.confidence.value}"
        rows.append([site.category, where(site.site), whose(site), outcome, sink, chain, endpoint, server])
    reaching = sum(s.outcome.value == "path" for s in facts.sites)
    table = _table(f"From read to send ({reaching} of {_count(len(facts.sites), 'read')} {'reaches' if len(facts.sites) == 1 else 'reach'} a send API)",
                   ["data", "read", "code owner", "outcome", "send api", "path", "endpoint", "server"], rows)
    return "\n".join([table, *facts.cut]) if table else ""


def _reach(facts: ReachFacts, where: Callable[[CodeLocation], str]) -> str:
    """One row per read: the entry point that reaches it, before or after consent, the path in short."""
    rows = []
    for site in facts.sites:
        entry = f"{site.entry.kind.value} {_short_class(site.entry.class_name)}.{site.entry.method}" if site.entry is not None else "-"
        chain = " -> ".join(f"{_short_class(s.class_name)}.{s.method}@{s.offset:#x}" + (f" ({s.edge.value})" if s.edge.value not in ("call", "read") else "")
                            for s in site.steps) or site.note or "-"
        rows.append([site.category, where(site.site), site.outcome.value, entry, chain])
    before = sum(s.outcome.value == "before-consent" for s in facts.sites)
    table = _table(f"Reachable from entry points ({before} of {_count(len(facts.sites), 'read')} before consent)",
                   ["data", "read", "outcome", "entry point", "path from the entry point"], rows)
    if not table:
        return ""
    screens = "; ".join(f"{visible(s.component)} ({', '.join(visible(f'{c.source.value} {c.text!r}') for c in s.clues[:3])})" for s in facts.consent_screens)
    lines = [table, f"consent screens: {screens}" if screens else "consent screens: none found (no read is called before-consent)", visible(facts.caveat)]
    return "\n".join([*lines, *map(visible, facts.cut)])


def _short_class(descriptor: str) -> str:
    """``Lcom/x/Uploader;`` -> ``Uploader``."""
    return descriptor.rstrip(";").rsplit("/", 1)[-1]


def _how(endpoint: Endpoint) -> str:
    """How the value was built, and the network API it reaches (``literal -> HttpPost POST``)."""
    if not endpoint.sources:
        return "-"
    first = endpoint.sources[0]
    api = " ".join(filter(None, (".".join(first.api.split(".")[-2:]), first.http_method)))
    return first.construction.value + (f" -> {api}" if api else "")


def _source(endpoint: Endpoint, where: Callable[[CodeLocation], str]) -> str:
    if not endpoint.sources:
        return "-"
    first = endpoint.sources[0]
    place = where(first.location) if first.location is not None else " ".join(filter(None, (first.member, first.detail)))
    more = endpoint.source_count - 1
    return place + (f" (+{more} more)" if more else "")


def _permissions(facts: ManifestFacts) -> str:
    """Sensitive first; the device API levels Android requests each on (``23+``, ``21-28``, ``never``).

    A ``note`` column appears only when some entry has one (repeated entries, a name Android
    grants nothing for, a split or a further copy of the manifest), so common tables stay narrow.
    """

    def key(p: Permission) -> tuple[int, str]:
        return (category_rank(p.category), p.name)

    def note(p: Permission) -> str:
        parts = [f"{p.count} entries"] if p.count > 1 else []
        parts += [p.note] if p.note else []
        parts += [f"split {p.split}"] if p.split else []
        parts += [f"from {p.manifest}"] if p.manifest != "AndroidManifest.xml" else []
        return "; ".join(parts)

    entries = sorted(facts.permissions, key=key)
    notes = [note(p) for p in entries]
    extra = ["note"] if any(notes) else []
    return _table(
        f"Permissions ({len(entries)})",
        ["permission", "data", "protection", "element", "max sdk", "in effect on API", *extra],
        (
            [p.name, p.category or "-", p.protection_level, p.element, p.max_sdk or "-", p.device_apis, *([n or "-"] if extra else [])]
            for p, n in zip(entries, notes)
        ),
    )


def _where(location: CodeLocation, multidex: bool) -> str:
    """``Lcom/x/A;->m()V @0x1c``, prefixed by the dex file when the package has several."""
    place = f"{location.signature} @{location.offset:#x}"
    return f"{location.dex} {place}" if multidex else place


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _short_api(api: str) -> str:
    """``Landroid/content/ContentResolver;->query(...)`` -> ``ContentResolver.query``."""
    owner, _, rest = api.partition("->")
    return owner.rstrip(";").rsplit("/", 1)[-1] + "." + rest.split("(", 1)[0] if rest else api
