"""A Markdown evidence report (GitHub-flavoured), in English or Chinese.

Per package: identity, the five-line answer, the verdict per profile and clause with the
clause text as verified ([P] quoted verbatim, [S] labelled secondary, [U] never as text),
each finding with its evidence chain and the disassembly around every step, and the
commands to verify it by hand.

Every string from an APK is hostile: it goes through ``visible`` (control, escape and bidi
characters written out) and then through :func:`text` (Markdown punctuation backslash-escaped,
``<``/``>`` as entities, ``|`` escaped so a table row cannot be split) or :func:`code` (an inline
code span whose backtick fence is longer than any run inside). Disassembly goes in fenced
blocks whose fence is longer than any backtick run in the block.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import partial

from permaudit.formats import report as r
from permaudit.model import AuditResult, visible
from permaudit.model.policy import Profile, Verification

_SPECIAL = re.compile(r"([\\`*_\[\]#!|~])")


def render(results: Sequence[AuditResult], *, lang: str = "en", excerpts: object = None, **_: object) -> str:
    lang = r.lang_of(lang)
    source = r.excerpt_source(excerpts)
    return "\n\n".join(_result(res, lang, source(res)) for res in results).rstrip("\n") + "\n"


def text(value: object) -> str:
    """Plain Markdown text, safe in a paragraph, a heading, a list item and a table cell."""
    escaped = _SPECIAL.sub(r"\\\1", visible(value))
    return escaped.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def prose(value: str) -> str:
    """Trusted multi-line text (clause wording from our profiles): escaped, newlines kept."""
    return "\n".join(text(line) for line in value.split("\n"))


def code(value: object, cell: bool = False) -> str:
    """An inline code span; in a table ``cell`` the ``|`` is escaped (GFM reads ``\\|`` as ``|`` there)."""
    body = visible(value)
    run = max((len(m) for m in re.findall(r"`+", body)), default=0)
    fence = "`" * (run + 1)
    pad = " " if body.startswith("`") or body.endswith("`") or run else ""
    if cell:
        body = body.replace("|", "\\|")
    return f"{fence}{pad}{body}{pad}{fence}"


def block(lines: Sequence[str], info: str = "") -> str:
    """A fenced code block, fence longer than any backtick run in ``lines``."""
    body = "\n".join(visible(line) for line in lines)
    run = max((len(m) for m in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, run + 1)
    return f"{fence}{info}\n{body}\n{fence}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Cells are already escaped; a stray newline would end the row, so none is left."""
    def row(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("\n", " ") for c in cells) + " |"

    return "\n".join([row(headers), "| " + " | ".join("---" for _ in headers) + " |", *(row(c) for c in rows)])


def _result(result: AuditResult, lang: str, excerpts: r.Excerpts) -> str:
    t = partial(r.tr, lang=lang)
    facts = result.manifest
    name = (facts.label or facts.package) if facts is not None else result.path.replace("\\", "/").rsplit("/", 1)[-1]
    parts = [f"# {text(t('report.title', name=name))}", text(t("report.intro", version=result.tool_version))]
    parts += [f"## {text(t('section.identity'))}", table(["", ""], [[text(k), code(v, cell=True)] for k, v in r.identity(result, lang)])]
    parts += [f"## {text(t('section.answer'))}", table(["", ""], [[f"**{text(k)}**", text(v)] for k, v in r.answer(result, lang)])]
    parts.append(f"## {text(t('section.verdicts'))}")
    parts.append(text(r.lending_line(result, lang)))
    for policy, findings in r.by_policy(result).items():
        parts.append(_profile(policy, findings, lang))
    parts.append(f"## {text(t('section.findings'))}")
    if not result.findings:
        parts.append(text(r.verdict_line(result, lang)))
    for number, (rule, evidence, more, findings) in enumerate(r.groups(result), 1):
        parts.append(_finding(number, result, rule, evidence, more, findings, lang, excerpts))
    parts.append(f"## {text(t('section.verify'))}")
    parts.append(text(t("verify.intro")))
    parts.append("\n".join(f"- {text(what)}:\n\n  {code(cmd)}" for what, cmd in r.how_to_verify(result, lang)))
    cited = r.locations(result)
    if cited:
        parts.append(text(t("verify.locations")))
        parts.append("\n".join(
            "- " + text(t("verify.location", cls=r.java_class(loc.class_name), method=loc.method, descriptor=loc.descriptor, offset=f"{loc.offset:#x}",
                          dex=loc.dex, instruction="")).rstrip(": ") + ": " + code(loc.instruction)
            for loc in cited))
    if result.problems:
        parts.append(f"## {text(t('section.problems'))}")
        parts.append(table([text(t("col.code")), text(t("col.severity")), text(t("col.message"))],
                            [[code(p.code, cell=True), text(p.severity.value), text(p.message)] for p in result.problems]))
    parts += [f"## {text(t('section.limits'))}", text(t("limits.text"))]
    return "\n\n".join(p for p in parts if p)


def _profile(policy: str, findings: list, lang: str) -> str:  # type: ignore[type-arg]
    t = partial(r.tr, lang=lang)
    profile = r.profile_of(policy)
    title = t("profile.heading", title=profile.title.get(lang), id=policy, version=profile.version, as_of=profile.as_of) if profile else policy
    out = [f"### {text(title)}"]
    if not findings:
        out.append(text(t("profile.no-findings")))
        return "\n\n".join(out)
    out.append(table(
        [text(t("col.severity")), text(t("col.confidence")), text(t("col.rule")), text(t("col.message")), text(t("col.clauses"))],
        [[f"**{text(r.severity(f.severity, lang))}**", text(r.confidence(f.confidence.value, lang)), code(f.rule, cell=True), text(r.message(f, lang)),
          text(", ".join(f.clauses))] for f in findings],
    ))
    cited = r.cited_clauses(findings, lang)
    for clause_id, rules in cited.items():
        out.append(_clause(profile, clause_id, rules, lang))
    return "\n\n".join(out)


def _clause(profile: Profile | None, clause_id: str, rules: list[str], lang: str) -> str:
    t = partial(r.tr, lang=lang)
    clause = r.clause_of(profile, clause_id)
    if clause is None:
        return f"#### {text(clause_id)}\n\n{text(t('clause.cited-by'))}: {text(', '.join(rules))}"
    level = r.level_label(clause, lang)
    out = [f"#### {text(clause.citation.get(lang))} [{clause.level.value}]", f"{code(clause.id)}: *{text(level)}*"]
    if clause.level is Verification.U:
        out.append(text(t("clause.unverified-note")))
    elif clause.text:
        out.append(f"{text(t('clause.original', language=r.language(clause.lang, lang)))}:")
        out.append("\n>\n".join("> " + prose(line) for line in clause.text.split("\n")))
        gloss = (clause.gloss_zh if lang == "zh" else "") or clause.gloss_en
        if gloss:
            out.append(f"{text(t('clause.gloss'))}: {text(gloss)}")
    if profile is not None:
        try:
            src = profile.source(clause.source)
            dates = ", ".join(filter(None, [t("clause.date", date=clause.date) if clause.date else "", t("clause.until", date=clause.until) if clause.until else ""]))
            line = f"{text(t('clause.source'))}: {text(src.title)} ({text(src.publisher)}{', ' + text(src.date) if src.date else ''})"
            line += f"; {text(dates)}" if dates else ""
            if src.url.startswith(("https://", "http://")):
                line += f"; <{src.url.replace('>', '%3E').replace(' ', '%20')}>"
            out.append(line)
        except KeyError:
            pass
    out.append(f"{text(t('clause.cited-by'))}: {text(', '.join(rules))}")
    return "\n\n".join(out)


def _finding(number: int, result: AuditResult, rule: str, evidence: tuple, more: int, findings: list, lang: str, excerpts: r.Excerpts) -> str:  # type: ignore[type-arg]
    t = partial(r.tr, lang=lang)
    first = findings[0]
    out = [f"### {number}. {text(r.rule_title(rule, lang))}: {code(rule)}"]
    out.append(f"- {text(t('finding.facts'))}: {text(first.summary)}\n- {text(t('finding.confidence'))}: {text(r.confidence(first.confidence.value, lang))}")
    out.append(table(
        [text(t("col.policy")), text(t("col.severity")), text(t("col.message")), text(t("col.clauses"))],
        [[code(f.policy, cell=True), f"**{text(r.severity(f.severity, lang))}**", text(r.message(f, lang)), text(", ".join(f.clauses))] for f in findings],
    ))
    out.append(f"{text(t('finding.evidence'))}:")
    for e in evidence:
        steps = r.chain(result, e, lang)
        items = []
        for i, step in enumerate(steps, 1):
            line = f"{i}. **{text(t('role.' + step.role) if ('role.' + step.role) in _roles() else step.role)}**: {code(step.text)}"
            if step.server:
                line += f" — {text(t('chain.server', server=step.server))}"
            if step.location is not None:
                lines = excerpts.get(r.excerpt_key(step.location))
                where = r.java_where(step.location)
                if lines:
                    listing = [f"{'>' if ln.cited else ' '} {ln.offset:04x}: {ln.text}" for ln in lines]
                    line += "\n\n   " + text(t("finding.disassembly", where=where)) + "\n\n" + _indent(block(listing, "smali"), "   ")
                else:
                    line += "\n\n   " + text(t("finding.no-excerpt"))
            items.append(line)
        out.append("\n".join(items))
    if more:
        out.append(text(t("finding.more", n=more)))
    return "\n\n".join(out)


def _roles() -> set[str]:
    from permaudit.data import load

    return {k for k in load("labels")["labels"] if k.startswith("role.")}


def _indent(value: str, prefix: str) -> str:
    return "\n".join(prefix + line if line else line for line in value.split("\n"))
