"""What the human formats (table, markdown, html) share: labels in English and Chinese, the
five-line answer, verdicts per profile, readable names, the evidence chain of a finding, and
the disassembly excerpts around each code location.

Everything here returns plain strings; each format escapes them for itself (``visible`` for a
terminal, ``html.escape`` for HTML, Markdown escaping for Markdown). ``excerpts`` alone reads
the package again (the facts keep one instruction per location, a report shows a few around
it); the formats call it once per result, or take a replacement as the ``excerpts`` option.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import cast

from permaudit.data import load
from permaudit.model import AuditResult, CodeLocation, Stage
from permaudit.model.code import short_api, short_class
from permaudit.model.findings import Evidence, EvidenceKind, Finding
from permaudit.model.policy import Clause, PolicySeverity, Profile, Verification
from permaudit.model.record import record
from permaudit.policy import PolicyError, profile

LANGS = ("en", "zh")

ExcerptKey = tuple[str, str, str, str, int]
"""(dex, class descriptor, method, method descriptor, offset)."""


@record
class Line:
    """One instruction of an excerpt: its offset in code units, smali-like text, whether it is the one cited."""

    offset: int
    text: str
    cited: bool


Excerpts = Mapping[ExcerptKey, tuple[Line, ...]]
ExcerptSource = Callable[[AuditResult], Excerpts]


# --------------------------------------------------------------------------- labels


@functools.cache
def _labels() -> dict[str, dict[str, str]]:
    labels: dict[str, dict[str, str]] = load("labels")["labels"]
    return labels


def tr(key: str, lang: str = "en", **values: object) -> str:
    """The label ``key`` (permaudit/data/labels.json) in ``lang``, placeholders filled."""
    entry = _labels()[key]
    text = entry.get(lang) or entry["en"]
    return text.format(**values) if values else text


def has_label(key: str) -> bool:
    return key in _labels()


def count(n: int, key: str, lang: str = "en") -> str:
    """``1 method``, ``3 methods``, ``3 个方法``: ``key`` names a label with ``one`` and ``other`` forms."""
    entry = _labels()[key]
    if lang == "zh":
        return entry["zh"].format(n=n)
    return (entry["en"] if n == 1 else entry["en_plural"]).format(n=n)


def language(code: str, lang: str = "en") -> str:
    """``zh`` -> ``Chinese`` / ``中文``: the name of a clause's original language, or the code when unknown."""
    key = f"language.{code}"
    return tr(key, lang) if has_label(key) else code


def lang_of(lang: object) -> str:
    return str(lang) if lang in LANGS else "en"


# --------------------------------------------------------------------------- names


def java_class(descriptor: str) -> str:
    """``Lcom/x/A$B;`` -> ``com.x.A$B``; arrays and primitives as written."""
    if descriptor.startswith("L") and descriptor.endswith(";"):
        return descriptor[1:-1].replace("/", ".")
    return descriptor


def at(offset: int) -> str:
    """The one offset notation of every human format: ``@0x6f2`` (code units, as dexdump counts)."""
    return f"@{offset:#x}"


def java_where(location: CodeLocation, multidex: bool = False) -> str:
    """``com.x.BgService$f.handleMessage@0x6f2``, prefixed by the dex file when the package has several."""
    place = f"{java_class(location.class_name)}.{location.method}{at(location.offset)}"
    return f"{location.dex} {place}" if multidex else place


# --------------------------------------------------------------------------- the answer


def answer(result: AuditResult, lang: str = "en") -> list[tuple[str, str]]:
    """The contact list first, in five lines: can the app read it, does it, where does it send it,
    whose code reads, and what each profile makes of it. Plain text, not escaped."""
    facts = result.manifest
    declared = [p for p in facts.permissions if p.category == "contacts" and p.name.endswith("READ_CONTACTS")] if facts else []
    can = "; ".join(tr("can.yes", lang, permission=p.name, protection=p.protection_level, apis=p.device_apis) for p in declared if p.in_effect) or (
        tr("can.not-in-effect", lang) if declared else tr("can.not-declared", lang) if facts else tr("can.no-manifest", lang))
    lines = [(tr("answer.can", lang), can)]
    code = result.code
    if Stage.CODE in result.skipped or code is None:
        lines.append((tr("answer.reads", lang), tr("reads.not-analysed", lang) if Stage.CODE in result.skipped else tr("reads.no-code", lang)))
        lines.append((tr("answer.verdicts", lang), verdict_line(result, lang)))
        return lines
    sites = [s for s in code.sites if s.category == "contacts" and not s.via]
    kinds = {k: len({s.location.signature for s in sites if s.kind == k}) for k in dict.fromkeys(s.kind for s in sites)}
    picker_only = list(kinds) == ["picker"]
    reads = ", ".join(tr("reads.kind", lang, kind=k, methods=count(n, "n.method", lang)) for k, n in kinds.items())
    if reads and picker_only:
        reads += tr("reads.picker-note", lang)
    if not reads:
        reads = tr("reads.none", lang, dex=count(len(code.dex), "n.dex", lang))
        if result.status.value != "complete":
            reads += tr("reads.status", lang, status=result.status.value)
    lines.append((tr("answer.reads", lang), reads))
    if sites:
        paths = [p for site in (code.paths.sites if code.paths else ()) if site.category == "contacts" for p in site.paths if p.confidence.value != "co-located"]
        servers = list(dict.fromkeys(f"{e.host or e.value} ({e.owner.value})" for p in paths for e in p.endpoints))
        channels = dict.fromkeys(p.sink.kind.value for p in paths)
        if servers:
            hosts = ", ".join(servers[:3]) + (tr("sends.more", lang, n=len(servers) - 3) if len(servers) > 3 else "")
        else:
            hosts = tr("sends.no-endpoint", lang)
        calls = len({(p.sink.location.dex, p.sink.location.signature, p.sink.location.offset) for p in paths})
        sent = tr("sends.by", lang, hosts=hosts, channels=", ".join(channels), calls=count(calls, "n.send-call", lang)) if paths else (
            tr("sends.no-path", lang) if code.paths is not None else tr("sends.not-searched", lang))
        lines.append((tr("answer.sends", lang), sent))
        owners = dict.fromkeys(s.attribution.sdk or s.attribution.owner.value for s in sites)
        whose = ", ".join(f"{o} ({count(sum((s.attribution.sdk or s.attribution.owner.value) == o for s in sites), 'n.read', lang)})" for o in owners)
        lines.append((tr("answer.whose", lang), whose))
    lines.append((tr("answer.lending", lang), lending_line(result, lang)))
    lines.append((tr("answer.verdicts", lang), verdict_line(result, lang)))
    return lines


def lending_line(result: AuditResult, lang: str = "en") -> str:
    """Whether the lending-only verdicts applied, and on what basis: the caller's statement, a
    strong signal with ``--category auto``, or neither (the signal's strength and reason)."""
    signal = result.category_signal
    if result.lending:
        return tr("lending.stated", lang) if result.category == "lending" else tr("lending.signal", lang, reason=signal.reason if signal else "")
    if signal is None:
        return tr("lending.no-signal", lang)
    return tr("lending.not", lang, strength=signal.strength.value, reason=signal.reason)


def profile_of(policy: str) -> Profile | None:
    """The bundled profile ``policy``; None for one the caller loaded from a file (its id is shown alone)."""
    try:
        return profile(policy)
    except PolicyError:
        return None


def cited_clauses(findings: Sequence[Finding], lang: str = "en") -> dict[str, list[str]]:
    """Clause id -> the findings citing it (``contacts.sent (violation)``), in the order first cited."""
    cited: dict[str, list[str]] = {}
    for f in findings:
        for c in f.clauses:
            cited.setdefault(c, []).append(f"{f.rule} ({severity(f.severity, lang)})")
    return cited


def clause_of(prof: Profile | None, clause_id: str) -> Clause | None:
    try:
        return prof.clause(clause_id) if prof else None
    except KeyError:
        return None


def level_label(clause: Clause, lang: str = "en") -> str:
    """How a clause's text is presented: quoted ([P]), labelled secondary ([S]), or not shown ([U])."""
    return tr({Verification.P: "clause.primary", Verification.S: "clause.secondary", Verification.U: "clause.unverified"}[clause.level], lang)


def worst(findings: Sequence[Finding]) -> PolicySeverity | None:
    return max((f.severity for f in findings), key=lambda s: s.rank, default=None)


def by_policy(result: AuditResult) -> dict[str, list[Finding]]:
    """Findings per profile, in the order the profiles judged; profiles without a finding are kept, empty."""
    out: dict[str, list[Finding]] = {p: [] for p in result.policies}
    for f in result.findings:
        out.setdefault(f.policy, []).append(f)
    return out


def verdict_line(result: AuditResult, lang: str = "en") -> str:
    """``cn-lending: violation (3), google-play-contacts: info (1)``: per profile with findings, the
    worst severity and how many findings; or why there is none."""
    if not result.policies:
        return tr("verdicts.no-profile", lang)
    groups = {p: fs for p, fs in by_policy(result).items() if fs}
    if not groups:
        return tr("verdicts.none", lang, n=len(result.policies))
    parts = [f"{p}: {severity(worst(fs), lang)} ({len(fs)})" for p, fs in groups.items()]
    quiet = len(result.policies) - len(groups)
    return ", ".join(parts) + (tr("verdicts.quiet", lang, n=quiet) if quiet else "")


def severity(value: PolicySeverity | None, lang: str = "en") -> str:
    return tr(f"severity.{value.value}", lang) if value is not None else "-"


def confidence(value: object, lang: str = "en") -> str:
    return tr(f"confidence.{value}", lang)


def message(finding: Finding, lang: str = "en") -> str:
    return (finding.message_zh if lang == "zh" else "") or finding.message


# --------------------------------------------------------------------------- evidence chains


@record
class Step:
    """One link of an evidence chain: what it is, where, and (for the endpoint) whose server."""

    role: str
    """``read``, ``step``, ``sink``, ``endpoint``, ``entry``, ``request``, ``permission``, ``absence``."""
    text: str
    location: CodeLocation | None = None
    server: str = ""


def chain(result: AuditResult, evidence: Evidence, lang: str = "en") -> list[Step]:
    """The evidence as a chain a person can follow: read site -> path steps -> sink -> endpoint
    for a path; entry point -> steps -> read for reachability; the one location otherwise."""
    code = result.code
    multidex = bool(code and len(code.dex) > 1)
    if evidence.kind is EvidenceKind.PATH and code is not None and code.paths is not None:
        for site in code.paths.sites:
            for path in site.paths:
                if path.sink.location != evidence.location:
                    continue
                steps = [Step("read", tr("chain.read", lang, where=java_where(site.site, multidex)), site.site)]
                for s in path.steps[:-1] if len(path.steps) > 1 else ():
                    loc = CodeLocation(s.dex, s.class_name, s.method, s.descriptor, s.offset, s.instruction)
                    steps.append(Step("step", tr("chain.step", lang, where=java_where(loc, multidex), edge=s.edge.value), loc))
                sink = path.sink
                steps.append(Step("sink", tr("chain.sink", lang, api=short_api(sink.api), kind=sink.kind.value, where=java_where(sink.location, multidex)), sink.location))
                for e in path.endpoints:
                    whose = e.service or e.registrable_domain or e.host or "-"
                    steps.append(Step("endpoint", tr("chain.endpoint", lang, value=e.value), None, f"{e.owner.value}: {whose}"))
                if not path.endpoints:
                    steps.append(Step("endpoint", tr("chain.no-endpoint", lang)))
                return steps
    if evidence.kind is EvidenceKind.REACH and code is not None and code.reach is not None:
        for reach in code.reach.sites:
            if reach.site != evidence.location or not reach.steps:
                continue
            steps = []
            if reach.entry is not None:
                steps.append(Step("entry", tr("chain.entry", lang, kind=reach.entry.kind.value, where=f"{java_class(reach.entry.class_name)}.{reach.entry.method}")))
            for hop in reach.steps:
                steps.append(Step("step", tr("chain.step", lang, where=java_where(hop.location, multidex), edge=hop.edge.value), hop.location))
            return steps
    role = {EvidenceKind.READ: "read", EvidenceKind.REQUEST: "request", EvidenceKind.PERMISSION: "permission"}.get(evidence.kind, evidence.kind.value)
    return [Step(role, evidence.text, evidence.location)]


def excerpt_key(location: CodeLocation) -> ExcerptKey:
    return (location.dex, location.class_name, location.method, location.descriptor, location.offset)


def locations(result: AuditResult) -> list[CodeLocation]:
    """Every code location the findings' chains cite, each once, in report order."""
    seen: dict[ExcerptKey, CodeLocation] = {}
    for f in result.findings:
        for e in f.evidence:
            for step in chain(result, e):
                if step.location is not None:
                    seen.setdefault(excerpt_key(step.location), step.location)
    return list(seen.values())


# --------------------------------------------------------------------------- disassembly


BEFORE = 3
AFTER = 3


def excerpts(result: AuditResult, *, before: int = BEFORE, after: int = AFTER) -> dict[ExcerptKey, tuple[Line, ...]]:
    """The instructions around every code location the findings cite, read again from the package.

    Opens the package once (``permaudit.loading.load``) and each dex it needs once; anything
    that cannot be read leaves that location out (the report then says the excerpt is not
    available), never raises: the package is hostile and a report must still be written.
    """
    wanted = locations(result)
    if not wanted:
        return {}
    try:
        from permaudit.dex import DexFile
        from permaudit.loading import load

        package = load(result.path)
    except Exception:  # noqa: BLE001 - a report without excerpts beats no report
        return {}
    sources = {s.name: s for s in package.dex}
    opened: dict[str, object] = {}
    out: dict[ExcerptKey, tuple[Line, ...]] = {}
    for loc in wanted:
        try:
            if loc.dex not in opened:
                source = sources.get(loc.dex)
                opened[loc.dex] = DexFile(source.read(), source.name) if source is not None else None
            dex = opened[loc.dex]
            if dex is None:
                continue
            assert isinstance(dex, DexFile)
            idx = dex.find_method(loc.class_name, loc.method, loc.descriptor)
            insns = dex.code(idx) if idx is not None else None
            if not insns:
                continue
            at_ = next((i for i, insn in enumerate(insns) if insn.offset == loc.offset), None)
            if at_ is None:
                continue
            window = insns[max(0, at_ - before) : at_ + after + 1]
            out[excerpt_key(loc)] = tuple(Line(i.offset, i.text(dex), i.offset == loc.offset) for i in window)
        except Exception:  # noqa: BLE001, S112 - one unreadable method costs its excerpt only
            continue
    return out


def excerpt_source(option: object) -> ExcerptSource:
    """The ``excerpts`` render option: a callable, a fixed mapping, or None for :func:`excerpts`."""
    if option is None:
        return excerpts
    if callable(option):
        return cast(ExcerptSource, option)
    fixed = dict(cast(Excerpts, option))
    return lambda _result: fixed


# --------------------------------------------------------------------------- verification by hand


def how_to_verify(result: AuditResult, lang: str = "en") -> list[tuple[str, str]]:
    """(what it checks, command) pairs a person can run with Debian's Android tools."""
    path = result.path
    out = [
        (tr("verify.hash", lang), f"sha256sum {shell(path)}"),
        (tr("verify.signature", lang), f"apksigner verify --print-certs -v {shell(path)}"),
        (tr("verify.permissions", lang), f"aapt dump permissions {shell(path)}"),
        (tr("verify.disassemble", lang), f"baksmali d --code-offsets {shell(path)} -o smali-out"),
    ]
    dexes = sorted({loc.dex for loc in locations(result)})
    for dex in dexes:
        out.append((tr("verify.dexdump", lang, dex=dex), f"unzip -o {shell(path)} {shell(dex)} -d dex-out && dexdump -d dex-out/{shell(dex)}"))
    return out


def shell(text: str) -> str:
    """Quote for a POSIX shell, so a hostile file name cannot become a command."""
    import shlex

    return shlex.quote(text)


__all__ = [
    "ExcerptKey",
    "Excerpts",
    "Line",
    "Step",
    "answer",
    "at",
    "by_policy",
    "chain",
    "count",
    "excerpt_key",
    "excerpt_source",
    "excerpts",
    "how_to_verify",
    "java_class",
    "java_where",
    "lang_of",
    "locations",
    "message",
    "severity",
    "short_api",
    "short_class",
    "tr",
    "verdict_line",
    "worst",
]


# --------------------------------------------------------------------------- shared report structure


def identity(result: AuditResult, lang: str = "en") -> list[tuple[str, str]]:
    """(label, value) rows of who built the package: path, package, label, version, SDK range, hashes,
    size, each signature scheme and each signer certificate with its sha256. Plain text."""
    rows = [(tr("id.path", lang), result.path), (tr("id.kind", lang), result.kind), (tr("id.status", lang), result.status.value)]
    facts = result.manifest
    if facts is not None:
        sdk = tr("id.sdk-range", lang, min=facts.min_sdk, target=facts.target_sdk) + (tr("id.sdk-max", lang, max=facts.max_sdk) if facts.max_sdk else "")
        rows += [
            (tr("id.package", lang), facts.package),
            (tr("id.label", lang), facts.label),
            (tr("id.version", lang), f"{facts.version_name} ({facts.version_code})"),
            (tr("id.sdk", lang), sdk),
        ]
    if result.hashes is not None:
        h = result.hashes
        rows += [("SHA-256", h.sha256), ("SHA-1", h.sha1), ("MD5", h.md5), (tr("id.size", lang), tr("id.bytes", lang, n=h.size))]
    signing = result.signing
    if signing is not None:
        for s in signing.schemes:
            state = tr("id.scheme-verified", lang) if s.verified else tr("id.scheme-failed", lang) if s.present else tr("id.scheme-absent", lang)
            rows.append((f"{tr('id.signature', lang)} {s.scheme}", state + (f" ({s.detail})" if s.detail else "")))
        for c in signing.certificates:
            label = tr("id.signer", lang) if c.schemes else tr("id.certificate", lang)
            rows.append((label, f"{c.subject} (sha256 {c.sha256}; {', '.join(c.schemes) or '-'})" + ("" if c.schemes else tr("id.cert-not-verified", lang))))
    rows.append((tr("id.tool", lang), f"permaudit {result.tool_version}"))
    return rows


def groups(result: AuditResult) -> list[tuple[str, tuple[Evidence, ...], int, list[Finding]]]:
    """Findings grouped by what the facts show (finding type and evidence): (rule, evidence, more,
    the findings under each profile), so each evidence chain is printed once with every verdict on it."""
    out: dict[tuple[str, tuple[Evidence, ...]], list[Finding]] = {}
    for f in result.findings:
        out.setdefault((f.rule, f.evidence), []).append(f)
    return [(rule, evidence, fs[0].more, fs) for (rule, evidence), fs in out.items()]


def rule_title(rule: str, lang: str = "en") -> str:
    """``contacts.bulk-read`` -> the finding type's title in ``lang`` (data/findings.json), with the category."""
    from permaudit.findings import finding_types

    category, _, kind = rule.partition(".")
    entry = finding_types().get(kind)
    title = entry["title"] if entry else None
    text = (title.get(lang) or title.get("en")) if isinstance(title, dict) else kind
    return f"{text} ({category})"
