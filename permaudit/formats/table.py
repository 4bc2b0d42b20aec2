"""Human-readable output for a terminal: the answer first, then a header block and tabulate tables per package.

Strings from an APK are attacker-controlled, so every cell goes through
``model.visible``: control, escape and bidi characters are shown, never interpreted.
Labels come from ``data/labels.json`` in English or Chinese (``lang``); code locations are
written as readable Java names with one offset notation, ``com.x.BgService$f.handleMessage@0x6f2``.

Wide tables are wrapped to ``width`` columns: by default the terminal's width when standard
output is a terminal, no wrapping otherwise (so redirected output and the documentation's
examples are the same bytes on every machine); ``width=0`` never wraps.
"""

from __future__ import annotations

import functools
import shutil
import sys
import textwrap
from collections.abc import Callable, Iterable, Sequence

from permaudit.data import category_rank
from permaudit.formats.report import (
    answer,
    at,
    confidence,
    count,
    java_where,
    lang_of,
    message,
    severity,
    short_api,
    short_class,
    tr,
)
from permaudit.model import (
    AccessSite,
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
from permaudit.model.record import record

MIN_WRAP = 16
"""No wrapped column gets narrower than this."""


def render(results: Sequence[AuditResult], *, lang: str = "en", width: int | None = None, **_: object) -> str:
    out = _Out(lang_of(lang), _terminal_width() if width is None else width)
    return "\n\n".join(_result(r, out) for r in results) + "\n"


def _terminal_width() -> int:
    """The terminal's width when standard output is one, else 0 (no wrapping: deterministic bytes)."""
    try:
        if not sys.stdout.isatty():
            return 0
    except (AttributeError, ValueError):
        return 0
    return shutil.get_terminal_size().columns


@record
class _Out:
    lang: str
    width: int

    def t(self, key: str, **values: object) -> str:
        return tr(key, self.lang, **values)

    def n(self, n: int, key: str) -> str:
        return count(n, key, self.lang)

    def table(self, title: str, headers: Sequence[str], rows: Iterable[Sequence[object]], wrap: Sequence[int] = ()) -> str:
        """A titled table of visible cells, wrapped to fit ``width``: the ``wrap`` columns (default: all)."""
        body = [[visible(c) for c in row] for row in rows]
        if not body:
            return ""
        limits = _limits([list(headers), *body], wrap or range(len(headers)), self.width, header=True)
        # here, not at import: a JSON or SARIF run never pays its 14 ms
        from tabulate import tabulate

        text = tabulate(body, headers=list(headers), tablefmt="simple", disable_numparse=True, maxcolwidths=limits)
        return f"{title}\n" + str(text)

    def line(self, text: str) -> str:
        """A line of prose (already visible), wrapped to ``width`` when there is one."""
        return "\n".join(textwrap.wrap(text, self.width, break_on_hyphens=False)) if 0 < self.width < _cell_width(text) else text

    def plain(self, pairs: Sequence[tuple[str, object]]) -> str:
        body = [[k, visible(v)] for k, v in pairs]
        limits = _limits(body, (1,), self.width)
        from tabulate import tabulate

        return str(tabulate(body, tablefmt="plain", disable_numparse=True, maxcolwidths=limits))


def _cell_width(text: str) -> int:
    try:
        from wcwidth import wcswidth

        w = wcswidth(text)
        return w if w >= 0 else len(text)
    except ImportError:  # tabulate counts wide characters only with wcwidth too
        return len(text)


def _limits(rows: list[list[str]], wrap: Sequence[int], width: int, header: bool = False) -> list[int | None] | None:
    """tabulate's ``maxcolwidths``: the ``wrap`` columns narrowed, widest first, until the table fits."""
    if width <= 0 or not rows or not wrap:
        return None
    cols = len(rows[0])
    natural = [max((_cell_width(line) for r in rows for line in str(r[i]).split("\n")), default=0) for i in range(cols)]
    if header:  # tabulate pads a header by 2 in the "simple" format
        natural = [max(n, _cell_width(str(rows[0][i])) + 2) for i, n in enumerate(natural)]
    total = sum(natural) + 2 * (cols - 1)
    if total <= width:
        return None
    wrap = [i for i in wrap if i < cols]
    room = width - (total - sum(natural[i] for i in wrap))
    limits: dict[int, int] = {}
    pending = sorted(wrap, key=lambda i: natural[i])
    while pending:  # narrow columns keep their width, the rest share what is left in proportion
        share = room * natural[pending[0]] // max(1, sum(natural[i] for i in pending))
        i = pending.pop(0)
        limits[i] = min(natural[i], max(MIN_WRAP, share))
        room -= limits[i]
    return [limits[i] if i in limits and limits[i] < natural[i] else None for i in range(cols)]


def _result(result: AuditResult, out: _Out) -> str:
    t = out.t
    parts = [f"== {visible(result.path)}  [{result.kind}, {result.status.value}]", out.plain(answer(result, out.lang))]
    header: list[tuple[str, object]] = []
    facts = result.manifest
    if facts is not None:
        header += [
            (t("id.package"), facts.package),
            (t("id.label"), facts.label),
            (t("id.version"), f"{facts.version_name} ({facts.version_code})"),
            (t("id.sdk"), t("id.sdk-range", min=facts.min_sdk, target=facts.target_sdk) + (t("id.sdk-max", max=facts.max_sdk) if facts.max_sdk else "")),
            (t("id.main-activity"), facts.main_activity or "-"),
        ]
    if result.hashes is not None:
        header += [("sha256", result.hashes.sha256), (t("id.size"), t("id.bytes", n=result.hashes.size))]
    signing = result.signing
    if signing is not None:
        verified = [s.scheme for s in signing.schemes if s.verified]
        header.append((t("id.signature"), t("id.verified", schemes=", ".join(verified)) if verified else t("id.not-verified")))
        header += [
            (t("id.signer") if c.schemes else t("id.certificate"), f"{c.subject} (sha256 {c.sha256})" + ("" if c.schemes else t("id.cert-not-verified")))
            for c in signing.certificates
        ]
    if header:
        parts.append(out.plain(header))
    parts.append(_findings(result, out))
    if facts is not None:
        parts.append(_permissions(facts, out) or t("table.permissions-none"))
    if Stage.CODE in result.skipped:
        parts.append(t("table.code-not-analysed"))
    if result.code is not None:
        code = result.code
        where = functools.partial(java_where, multidex=len(code.dex) > 1)
        direct = sum(not s.via for s in code.sites)
        wrapped = sum(bool(s.via) for s in code.sites)
        title = t("table.sites", sites=out.n(direct, "n.site")) + (t("table.sites-via", n=wrapped) if wrapped else "")
        parts.append(
            out.table(
                t("table.sites-title", counts=title),
                [t("col.data"), t("col.kind"), t("col.where"), t("col.api"), t("col.source"), t("col.code-owner")],
                _site_rows(code.sites, where, t),
            )
            or t("table.sites-none")
        )
        parts.append(
            out.table(
                t("table.references", n=len(code.references)),
                [t("col.data"), t("col.where"), t("col.uri"), t("col.code-owner")],
                ([r.category, where(r.location), r.source, r.attribution.sdk or r.attribution.owner] for r in code.references),
            )
        )
        parts.append(
            out.table(
                t("table.requests"),
                [t("col.api"), t("col.permissions"), t("col.where")],
                ([short_api(r.api), ", ".join(r.permissions) or "?", where(r.location)] for r in code.requests),
            )
        )
        parts.append(
            out.table(t("table.hybrid"), [t("col.framework"), t("col.data"), t("col.evidence"), t("col.path"), t("col.detail")],
                      ([h.framework, h.category, h.evidence_kind, h.path, h.detail] for h in code.hybrid))
        )
        if code.endpoints is not None:
            parts.append(_endpoints(code.endpoints, where, out))
        if code.paths is not None:
            owners = {(site.category, site.location): site.attribution.sdk or site.attribution.owner.value for site in code.sites}
            parts.append(_paths(code.paths, where, lambda p: owners.get((p.category, p.site), "-"), out))
        if code.reach is not None:
            parts.append(_reach(code.reach, where, out))
    parts.append(out.table(t("table.problems"), [t("col.code"), t("col.severity"), t("col.message")],
                           ([p.code, p.severity.value, p.message] for p in result.problems)))
    return "\n\n".join(p for p in parts if p)


def _site_rows(sites: Sequence[AccessSite], where: Callable[[CodeLocation], str], t: Callable[..., str]) -> list[list[str]]:
    """One row per method and kind of read: the method once, then each further read's offset
    (``BgService$f.handleMessage@0x87, @0x1b1``), so ten reads in two methods are two rows."""
    groups: dict[tuple[str, ...], list[AccessSite]] = {}
    for s in sites:
        kind = s.kind + (t("site.bridge") if s.bridge else "") + (t("site.via") if s.via else "")
        key = (s.category, kind, s.location.dex, s.location.signature, short_api(s.api), s.source or "-", s.attribution.sdk or s.attribution.owner.value)
        groups.setdefault(key, []).append(s)
    return [[key[0], key[1], ", ".join([where(group[0].location), *(f"@{g.location.offset:#x}" for g in group[1:])]), *key[4:]]
            for key, group in groups.items()]


def _findings(result: AuditResult, out: _Out) -> str:
    """One row per finding: profile, severity, confidence, finding type, the verdict's message, the clauses cited."""
    if not result.findings:
        return ""
    return out.table(
        out.t("table.findings", n=len(result.findings)),
        [out.t("col.policy"), out.t("col.severity"), out.t("col.confidence"), out.t("col.rule"), out.t("col.message"), out.t("col.clauses")],
        ([f.policy, severity(f.severity, out.lang), confidence(f.confidence.value, out.lang), f.rule, message(f, out.lang), ", ".join(f.clauses)]
         for f in result.findings),
    )


def _endpoints(facts: EndpointFacts, where: Callable[[CodeLocation], str], out: _Out) -> str:
    """Each endpoint once, with whose server it is and where it was first found (+N more places)."""
    t = out.t
    filtered = ", ".join(f"{f.reason} {f.count}" for f in facts.filtered)
    total = sum(f.count for f in facts.filtered)
    title = t("table.endpoints", n=len(facts.endpoints)) + (t("table.endpoints-filtered", n=total, reasons=filtered) if filtered else "") + ")"
    if not facts.endpoints:
        title = t("table.endpoints-none") + (f" ({t('table.filtered', n=total, reasons=filtered)})" if filtered else "")
    table = out.table(
        title,
        [t("col.endpoint"), t("col.kind"), t("col.server"), t("col.domain"), t("col.ip-scope"), t("col.how"), t("col.where")],
        (
            [e.value, e.kind.value, e.owner.value, e.service or e.registrable_domain or "-", e.ip_scope.value if e.ip_scope else "-",
             _how(e), _source(e, where, out)]
            for e in facts.endpoints
        ),
    )
    return "\n".join([table or visible(title), *map(visible, facts.capped)])


def _paths(facts: PathFacts, where: Callable[[CodeLocation], str], whose: Callable[[SitePaths], str], out: _Out) -> str:
    """One row per read: whose code reads, the shortest path to a send API (methods in order)
    and the server it names with whose server it is, or why there is no path."""
    t = out.t
    rows = []
    for site in facts.sites:
        best = site.paths[0] if site.paths else None
        if best is None:
            rows.append([site.category, where(site.site), whose(site), site.outcome.value, "-", site.note or "-", "-", "-"])
            continue
        chain = " -> ".join(f"{short_class(s.class_name)}.{s.method}{at(s.offset)}" for s in best.steps)
        sink = f"{short_api(best.sink.api)} ({best.sink.kind.value})"
        first = best.endpoints[0] if best.endpoints else None
        endpoint = first.value + (f" (+{len(best.endpoints) - 1})" if len(best.endpoints) > 1 else "") if first else "-"
        server = f"{first.owner.value}: {first.service or first.registrable_domain or first.host}" if first else "-"
        outcome = t("paths.co-located") if site.outcome.value == "co-located" else f"{site.outcome.value}, {best.confidence.value}"
        rows.append([site.category, where(site.site), whose(site), outcome, sink, chain, endpoint, server])
    reaching = sum(s.outcome.value == "path" for s in facts.sites)
    title = t("table.paths-one" if len(facts.sites) == 1 else "table.paths", n=reaching, reads=out.n(len(facts.sites), "n.read"))
    table = out.table(title, [t("col.data"), t("col.read"), t("col.code-owner"), t("col.outcome"), t("col.send-api"), t("col.path"), t("col.endpoint"), t("col.server")],
                      rows)
    return "\n".join([table, *map(visible, facts.cut)]) if table else ""


def _reach(facts: ReachFacts, where: Callable[[CodeLocation], str], out: _Out) -> str:
    """One row per read: the entry point that reaches it, before or after consent, the path in short."""
    t = out.t
    rows = []
    for site in facts.sites:
        entry = f"{site.entry.kind.value} {short_class(site.entry.class_name)}.{site.entry.method}" if site.entry is not None else "-"
        chain = " -> ".join(f"{short_class(s.class_name)}.{s.method}{at(s.offset)}" + (f" ({s.edge.value})" if s.edge.value not in ("call", "read") else "")
                            for s in site.steps) or site.note or "-"
        rows.append([site.category, where(site.site), site.outcome.value, entry, chain])
    before = sum(s.outcome.value == "before-consent" for s in facts.sites)
    table = out.table(t("table.reach", n=before, reads=out.n(len(facts.sites), "n.read")),
                      [t("col.data"), t("col.read"), t("col.outcome"), t("col.entry"), t("col.entry-path")], rows)
    if not table:
        return ""
    screens = "; ".join(f"{visible(s.component)} ({', '.join(visible(f'{c.source.value} {c.text!r}') for c in s.clues[:3])})"
                        for s in facts.consent_screens)
    notes = [t("reach.screens", screens=screens) if screens else t("reach.no-screens"), visible(t("reach.caveat") if out.lang != "en" else facts.caveat)]
    return "\n".join([table, *map(out.line, notes), *map(out.line, map(visible, facts.cut))])


def _how(endpoint: Endpoint) -> str:
    """How the value was built, and the network API it reaches (``literal -> HttpPost POST``)."""
    if not endpoint.sources:
        return "-"
    first = endpoint.sources[0]
    api = " ".join(filter(None, (".".join(first.api.split(".")[-2:]), first.http_method)))
    return first.construction.value + (f" -> {api}" if api else "")


def _source(endpoint: Endpoint, where: Callable[[CodeLocation], str], out: _Out) -> str:
    if not endpoint.sources:
        return "-"
    first = endpoint.sources[0]
    place = where(first.location) if first.location is not None else " ".join(filter(None, (first.member, first.detail)))
    more = endpoint.source_count - 1
    return place + (out.t("endpoints.more-places", n=more) if more else "")


def _permissions(facts: ManifestFacts, out: _Out) -> str:
    """Sensitive first; the device API levels Android requests each on (``23+``, ``21-28``, ``never``).

    A ``note`` column appears only when some entry has one (repeated entries, a name Android
    grants nothing for, a split or a further copy of the manifest), so common tables stay narrow.
    """
    t = out.t

    def key(p: Permission) -> tuple[int, str]:
        return (category_rank(p.category), p.name)

    def note(p: Permission) -> str:
        parts = [t("perm.entries", n=p.count)] if p.count > 1 else []
        parts += [p.note] if p.note else []
        parts += [t("perm.split", split=p.split)] if p.split else []
        parts += [t("perm.from", manifest=p.manifest)] if p.manifest != "AndroidManifest.xml" else []
        return "; ".join(parts)

    entries = sorted(facts.permissions, key=key)
    notes = [note(p) for p in entries]
    extra = [t("col.note")] if any(notes) else []
    return out.table(
        t("table.permissions", n=len(entries)),
        [t("col.permission"), t("col.data"), t("col.protection"), t("col.element"), t("col.max-sdk"), t("col.in-effect"), *extra],
        (
            [p.name, p.category or "-", p.protection_level, p.element, p.max_sdk or "-", p.device_apis, *([n or "-"] if extra else [])]
            for p, n in zip(entries, notes)
        ),
    )
