"""A self-contained HTML evidence report, in English or Chinese, to print or attach to a complaint.

One file: inline CSS, no script, no external asset (no font, image or stylesheet is fetched),
and a Content-Security-Policy that forbids scripts and every fetch, so even a string that got
past escaping could not run. Per package: identity (hashes, signature schemes, signer
certificates), the five-line answer, the verdict per profile and clause with the clause text
as verified ([P] quoted verbatim, [S] labelled secondary, [U] never shown as text), each
finding with its evidence chain (read -> path -> send -> endpoint) and the disassembly
around each step, and the commands to verify it by hand.

Every string from an APK goes through :func:`esc`: ``visible`` (control, escape and bidi
characters written out as ``\\x1b``, ``\\u202e``) and ``html.escape`` (``<``, ``>``, ``&`` and
quotes). Markup is built only from constant tags around escaped text.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from functools import partial

from permaudit.formats import report as r
from permaudit.model import AuditResult, visible
from permaudit.model.findings import Finding
from permaudit.model.policy import Profile, Verification

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; script-src 'none'; base-uri 'none'; form-action 'none'"

STYLE = """
:root { --ink: #1b1f24; --muted: #57606a; --line: #d0d7de; --soft: #f6f8fa; --violation: #b42318; --warning: #9a6700; --info: #0b5cad; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff; font: 15px/1.55 "Noto Sans", "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 32px 48px; }
article + article { border-top: 3px double var(--line); margin-top: 40px; padding-top: 24px; }
h1 { font-size: 26px; margin: 0 0 6px; overflow-wrap: anywhere; }
h2 { font-size: 20px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 17px; margin: 24px 0 8px; overflow-wrap: anywhere; }
h4 { font-size: 15px; margin: 0 0 4px; }
p { margin: 6px 0; }
.intro, .note { color: var(--muted); }
table { border-collapse: collapse; width: 100%; margin: 8px 0 12px; }
th, td { border: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top; overflow-wrap: anywhere; }
th { background: var(--soft); font-weight: 600; white-space: nowrap; }
table.kv th { width: 190px; white-space: nowrap; }
table.answer th { width: 190px; white-space: nowrap; font-size: 16px; }
table.answer td { font-size: 16px; }
code, pre, .mono { font-family: "Noto Sans Mono", "DejaVu Sans Mono", Consolas, Menlo, monospace; font-size: 13px; }
code { background: var(--soft); padding: 1px 4px; border-radius: 3px; overflow-wrap: anywhere; }
pre { background: var(--soft); border: 1px solid var(--line); border-radius: 4px; padding: 8px 10px; margin: 6px 0 10px; white-space: pre-wrap; overflow-wrap: anywhere; }
pre .cited { display: block; background: #fff1c2; font-weight: 700; }
.sev { display: inline-block; padding: 0 8px; border-radius: 10px; color: #fff; font-weight: 600; font-size: 13px; white-space: nowrap; }
.sev-violation { background: var(--violation); } .sev-warning { background: var(--warning); } .sev-info { background: var(--info); }
.clause { border-left: 4px solid var(--line); padding: 6px 12px; margin: 12px 0; background: #fff; }
.clause.level-P { border-color: #1a7f37; } .clause.level-S { border-color: var(--warning); } .clause.level-U { border-color: #8c959f; }
.level { font-size: 13px; font-weight: 600; }
.level-P .level { color: #1a7f37; } .level-S .level { color: var(--warning); } .level-U .level { color: #57606a; }
blockquote { margin: 6px 0; padding: 6px 12px; background: var(--soft); white-space: pre-line; font-family: "Noto Serif CJK SC", "Noto Serif", "Songti SC", serif; }
ol.chain { padding-left: 22px; }
ol.chain > li { margin: 8px 0; }
.role { display: inline-block; min-width: 86px; font-weight: 600; }
.finding { border: 1px solid var(--line); border-radius: 6px; padding: 4px 16px 10px; margin: 16px 0; }
ul.verify li { margin: 6px 0; }
td.id code { white-space: nowrap; }
td.clauses { font-size: 13px; width: 24%; }
td.sev-cell { white-space: nowrap; }
@media print { main { max-width: none; padding: 0; } .finding, .clause, pre { break-inside: avoid; } a { color: inherit; } }
"""


def esc(value: object) -> str:
    """Any string from the package (or anything else): visible, then HTML-escaped."""
    return html.escape(visible(value), quote=True)


def trusted(value: str) -> str:
    """Multi-line text from our own data (clause wording): escaped, newlines kept for ``pre-line``;
    control and bidi characters other than the newline are still written out."""
    return "\n".join(esc(line) for line in value.split("\n"))


def render(results: Sequence[AuditResult], *, lang: str = "en", excerpts: object = None, **_: object) -> str:
    lang = r.lang_of(lang)
    source = r.excerpt_source(excerpts)
    names = ", ".join(_name(res) for res in results) or "permaudit"
    body = "\n".join(_result(res, lang, source(res)) for res in results)
    return page(esc(r.tr("report.title", lang, name=names)), lang, STYLE, body)


def page(title: str, lang: str, style: str, body: str) -> str:
    """A self-contained page around ``body`` (already escaped): no script, no outside resource
    (the CSP forbids both), no referrer."""
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{"zh-CN" if lang == "zh" else "en"}">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="referrer" content="no-referrer">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n"
        f"<style>{style}</style>\n</head>\n<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def _name(result: AuditResult) -> str:
    facts = result.manifest
    if facts is not None and (facts.label or facts.package):
        return facts.label or facts.package
    return result.path.replace("\\", "/").rsplit("/", 1)[-1]


def _sev(finding_severity: object, lang: str) -> str:
    value = getattr(finding_severity, "value", str(finding_severity))
    return f'<span class="sev sev-{esc(value)}">{esc(r.severity(finding_severity, lang))}</span>'  # type: ignore[arg-type]


def _kv(rows: Sequence[tuple[str, str]], cls: str, code: bool = False) -> str:
    cells = "".join(f"<tr><th>{esc(k)}</th><td>{f'<code>{esc(v)}</code>' if code else esc(v)}</td></tr>" for k, v in rows)
    return f'<table class="{cls}">{cells}</table>'


def _result(result: AuditResult, lang: str, excerpts: r.Excerpts) -> str:
    t = partial(r.tr, lang=lang)
    out = ['<article class="result">', f"<h1>{esc(t('report.title', name=_name(result)))}</h1>",
           f'<p class="intro">{esc(t("report.intro", version=result.tool_version))}</p>']
    out += [f"<h2>{esc(t('section.answer'))}</h2>", _kv(r.answer(result, lang), "answer")]
    out += [f"<h2>{esc(t('section.identity'))}</h2>", _kv(r.identity(result, lang), "kv", code=True)]
    out.append(f"<h2>{esc(t('section.verdicts'))}</h2>")
    out.append(f'<p class="note">{esc(r.lending_line(result, lang))}</p>')
    for policy, findings in r.by_policy(result).items():
        out.append(_profile(policy, findings, lang))
    out.append(f"<h2>{esc(t('section.findings'))}</h2>")
    if not result.findings:
        out.append(f"<p>{esc(r.verdict_line(result, lang))}</p>")
    for number, (rule, evidence, more, findings) in enumerate(r.groups(result), 1):
        out.append(_finding(number, result, rule, evidence, more, findings, lang, excerpts))
    out.append(f"<h2>{esc(t('section.verify'))}</h2>")
    out.append(f"<p>{esc(t('verify.intro'))}</p>")
    out.append('<ul class="verify">' + "".join(f"<li>{esc(what)}<pre>{esc(cmd)}</pre></li>" for what, cmd in r.how_to_verify(result, lang)) + "</ul>")
    cited = r.locations(result)
    if cited:
        out.append(f"<p>{esc(t('verify.locations'))}</p>")
        rows = "".join(
            f"<tr><td><code>{esc(loc.dex)}</code></td><td><code>{esc(loc.class_name)}</code></td><td><code>{esc(loc.method + loc.descriptor)}</code></td>"
            f"<td><code>{loc.offset:#x}</code></td><td><code>{esc(loc.instruction)}</code></td></tr>"
            for loc in cited
        )
        heads = "".join(f"<th>{esc(h)}</th>" for h in ("dex", "class", "method", t("col.offset"), t("col.instruction")))
        out.append(f"<table><tr>{heads}</tr>{rows}</table>")
    if result.problems:
        out.append(f"<h2>{esc(t('section.problems'))}</h2>")
        rows = "".join(f"<tr><td><code>{esc(p.code)}</code></td><td>{esc(p.severity.value)}</td><td>{esc(p.message)}</td></tr>" for p in result.problems)
        out.append(f"<table><tr><th>{esc(t('col.code'))}</th><th>{esc(t('col.severity'))}</th><th>{esc(t('col.message'))}</th></tr>{rows}</table>")
    out += [f"<h2>{esc(t('section.limits'))}</h2>", f"<p>{esc(t('limits.text'))}</p>", "</article>"]
    return "\n".join(out)


def _profile(policy: str, findings: list[Finding], lang: str) -> str:
    t = partial(r.tr, lang=lang)
    profile = r.profile_of(policy)
    title = t("profile.heading", title=profile.title.get(lang), id=policy, version=profile.version, as_of=profile.as_of) if profile else policy
    out = [f'<section class="profile"><h3>{esc(title)}</h3>']
    if not findings:
        out.append(f'<p class="note">{esc(t("profile.no-findings"))}</p></section>')
        return "\n".join(out)
    heads = "".join(f"<th>{esc(t(k))}</th>" for k in ("col.severity", "col.confidence", "col.rule", "col.message", "col.clauses"))
    rows = "".join(
        f"<tr><td class=\"sev-cell\">{_sev(f.severity, lang)}</td><td>{esc(r.confidence(f.confidence.value, lang))}</td><td class=\"id\"><code>{esc(f.rule)}</code></td>"
        f"<td>{esc(r.message(f, lang))}</td><td class=\"clauses\">{esc(', '.join(f.clauses))}</td></tr>"
        for f in findings
    )
    out.append(f"<table><tr>{heads}</tr>{rows}</table>")
    cited = r.cited_clauses(findings, lang)
    out += [_clause(profile, clause_id, rules, lang) for clause_id, rules in cited.items()]
    out.append("</section>")
    return "\n".join(out)


def _clause(profile: Profile | None, clause_id: str, rules: list[str], lang: str) -> str:
    t = partial(r.tr, lang=lang)
    clause = r.clause_of(profile, clause_id)
    cited_by = f'<p class="note">{esc(t("clause.cited-by"))}: {esc(", ".join(rules))}</p>'
    if clause is None:
        return f'<div class="clause"><h4>{esc(clause_id)}</h4>{cited_by}</div>'
    level = r.level_label(clause, lang)
    out = [f'<div class="clause level-{clause.level.value}" id="clause-{esc(clause.id)}">',
           f"<h4>{esc(clause.citation.get(lang))} <span class=\"mono\">[{clause.level.value}]</span></h4>",
           f'<p><code>{esc(clause.id)}</code> <span class="level">{esc(level)}</span></p>']
    if clause.level is Verification.U:
        out.append(f'<p class="note">{esc(t("clause.unverified-note"))}</p>')
    elif clause.text:
        out.append(f'<p class="note">{esc(t("clause.original", language=r.language(clause.lang, lang)))}:</p>')
        out.append(f'<blockquote lang="{esc(clause.lang)}">{trusted(clause.text)}</blockquote>')
        gloss = (clause.gloss_zh if lang == "zh" else "") or clause.gloss_en
        if gloss:
            out.append(f"<p><em>{esc(t('clause.gloss'))}</em>: {esc(gloss)}</p>")
    if profile is not None:
        try:
            src = profile.source(clause.source)
            dates = ", ".join(filter(None, [t("clause.date", date=clause.date) if clause.date else "", t("clause.until", date=clause.until) if clause.until else ""]))
            line = f"{esc(t('clause.source'))}: {esc(src.title)} ({esc(src.publisher)}{', ' + esc(src.date) if src.date else ''})"
            line += f"; {esc(dates)}" if dates else ""
            if src.url.startswith(("https://", "http://")):
                line += f'; <a href="{esc(src.url)}" rel="noreferrer">{esc(src.url)}</a>'
            out.append(f'<p class="note">{line}</p>')
        except KeyError:
            pass
    out += [cited_by, "</div>"]
    return "\n".join(out)


def _finding(number: int, result: AuditResult, rule: str, evidence: tuple, more: int, findings: list[Finding], lang: str, excerpts: r.Excerpts) -> str:  # type: ignore[type-arg]
    t = partial(r.tr, lang=lang)
    first = findings[0]
    out = ['<section class="finding">', f"<h3>{number}. {esc(r.rule_title(rule, lang))} <code>{esc(rule)}</code></h3>",
           f"<p>{esc(t('finding.facts'))}: {esc(first.summary)}<br>{esc(t('finding.confidence'))}: {esc(r.confidence(first.confidence.value, lang))}</p>"]
    heads = "".join(f"<th>{esc(t(k))}</th>" for k in ("col.policy", "col.severity", "col.message", "col.clauses"))
    rows = "".join(
        f"<tr><td class=\"id\"><code>{esc(f.policy)}</code></td><td class=\"sev-cell\">{_sev(f.severity, lang)}</td><td>{esc(r.message(f, lang))}</td><td class=\"clauses\">{esc(', '.join(f.clauses))}</td></tr>"
        for f in findings
    )
    out.append(f"<table><tr>{heads}</tr>{rows}</table>")
    out.append(f"<h4>{esc(t('finding.evidence'))}</h4>")
    for e in evidence:
        items = []
        for step in r.chain(result, e, lang):
            role_key = "role." + step.role
            role = t(role_key) if role_key in _roles() else step.role
            item = f'<li><span class="role">{esc(role)}</span> <code>{esc(step.text)}</code>'
            if step.server:
                item += f" — {esc(t('chain.server', server=step.server))}"
            if step.location is not None:
                lines = excerpts.get(r.excerpt_key(step.location))
                if lines:
                    listing = "".join(
                        f'<span class="cited">&gt; {ln.offset:04x}: {esc(ln.text)}</span>' if ln.cited else f"  {ln.offset:04x}: {esc(ln.text)}\n"
                        for ln in lines
                    )
                    item += f'<p class="note">{esc(t("finding.disassembly", where=r.java_where(step.location)))}</p><pre>{listing}</pre>'
                else:
                    item += f'<p class="note">{esc(t("finding.no-excerpt"))}</p>'
            items.append(item + "</li>")
        out.append('<ol class="chain">' + "".join(items) + "</ol>")
    if more:
        out.append(f'<p class="note">{esc(t("finding.more", n=more))}</p>')
    out.append("</section>")
    return "\n".join(out)


def _roles() -> set[str]:
    from permaudit.data import load

    return {k for k in load("labels")["labels"] if k.startswith("role.")}
