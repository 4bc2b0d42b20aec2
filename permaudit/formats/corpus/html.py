"""The corpus report as one self-contained HTML page: no script, no external resource, charts
drawn as inline SVG here, in English or Chinese.

Every string from an app (package, label, path, host, certificate subject) is hostile: it goes
through :func:`permaudit.formats.html.esc` (control and bidi characters written out, then
HTML-escaped, quotes included), and the page carries the same Content-Security-Policy as the
single-app HTML report, which forbids scripts and every fetch.
"""

from __future__ import annotations

from permaudit.formats.corpus import common as c
from permaudit.formats.html import esc, page
from permaudit.store import Answer, Store

STYLE = """
:root { --ink: #1b1f24; --muted: #57606a; --line: #d0d7de; --soft: #f6f8fa; }
body { margin: 0; color: var(--ink); font: 15px/1.5 system-ui, -apple-system, "Segoe UI", "Noto Sans", "Noto Sans CJK SC", sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 24px; }
h1 { font-size: 26px; } h2 { margin-top: 36px; border-bottom: 1px solid var(--line); } h3 { margin-top: 26px; }
p.note, p.desc { color: var(--muted); }
table { border-collapse: collapse; margin: 10px 0; width: 100%; font-size: 14px; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; overflow-wrap: anywhere; }
th { background: var(--soft); overflow-wrap: normal; word-break: keep-all; }
td.num { text-align: right; white-space: nowrap; }
code { font: 13px/1.4 ui-monospace, "SFMono-Regular", Menlo, monospace; }
svg { max-width: 100%; height: auto; }
svg text { font: 12px system-ui, "Noto Sans CJK SC", sans-serif; fill: #1b1f24; }
@media print { main { max-width: none; padding: 0; } table, svg { break-inside: avoid; } }
"""

COLOURS = {"violation": "#b42318", "warning": "#d89b00", "info": "#0b5cad", "none": "#c8ccd1",
           "complete": "#2e7d32", "partial": "#d89b00", "failed": "#b42318"}
NUMERIC = {"apps", "packages", "reads", "violation", "warning", "info", "none"}


def render(store: Store, *, lang: str = "en") -> str:
    """The whole page for ``store`` in ``lang``."""
    lang = c.lang_of(lang)
    corpus = c.read(store)
    def t(key: str, **values: object) -> str:
        return esc(c.tr(key, lang, **values))

    parts = [f"<h1>{t('corpus.title', n=corpus.summary.apps)}</h1>",
             f"<p class=\"note\">{t('corpus.intro', version=corpus.tool_version, store=corpus.store, schema=corpus.summary.schema_version)}</p>",
             f"<h2>{t('corpus.summary')}</h2>",
             _table(["", ""], [[esc(k), esc(v)] for k, v in c.summary_rows(corpus, lang)]),
             _status_chart(corpus, lang),
             f"<h2>{t('corpus.verdicts')}</h2>",
             _verdict_chart(corpus, lang),
             _answer(corpus.answer("verdicts"), lang, heading=False),
             f"<h2>{t('corpus.questions')}</h2>"]
    parts += [_answer(a, lang) for a in corpus.answers if a.question.id != "verdicts"]
    parts.append(f"<h2>{t('corpus.apps')}</h2>")
    parts.append(_apps(corpus, lang))
    parts.append(f"<h2>{t('corpus.limits')}</h2><p>{t('corpus.limits-text')}</p>")
    return page(t("corpus.title", n=corpus.summary.apps), lang, STYLE, "\n".join(p for p in parts if p))


def _table(headers: list[str], rows: list[list[str]], numeric: set[int] | None = None) -> str:
    """Cells are already escaped."""
    numeric = numeric or set()
    head = "".join(f"<th>{h}</th>" for h in headers)
    thead = f"<thead><tr>{head}</tr></thead>\n" if any(headers) else ""
    body = "\n".join("<tr>" + "".join(f'<td class="num">{v}</td>' if i in numeric else f"<td>{v}</td>" for i, v in enumerate(r)) + "</tr>"
                     for r in rows)
    return f"<table>\n{thead}<tbody>\n{body}\n</tbody>\n</table>"


def _answer(answer: Answer, lang: str, heading: bool = True) -> str:
    q = answer.question
    parts = [f'<h3 id="{esc(q.id)}">{esc(q.title.get(lang))} <code>{esc(q.id)}</code></h3>'] if heading else []
    parts.append(f'<p class="desc">{esc(q.description.get(lang))} {esc(c.tr("corpus.params", lang, params=c.params_text(answer)))}</p>')
    if not answer.rows:
        parts.append(f"<p>{esc(c.tr('corpus.no-answer', lang))}</p>")
        return "\n".join(parts)
    headers = [esc(col.title.get(lang)) for col in q.columns]
    numeric = {i for i, col in enumerate(answer.columns) if col in NUMERIC}
    rows = [[esc(c.cell(v)) if i in numeric else f"<code>{esc(c.cell(v))}</code>" if answer.columns[i] in _CODE else esc(c.cell(v))
             for i, v in enumerate(r)] for r in answer.rows]
    parts.append(_table(headers, rows, numeric))
    return "\n".join(parts)


_CODE = {"host", "domain", "certificate", "hosts", "clause"}


def _apps(corpus: c.Corpus, lang: str) -> str:
    headers = [esc(c.tr(k, lang)) for k in c.APP_HEADINGS]
    rows = []
    for app in corpus.apps:
        names = f"<br>{esc(c.tr('names.also', lang, names=', '.join(app.names)))}" if app.names else ""
        rows.append([
            f"<code>{esc(app.package or '-')}</code>", esc(app.label or "-"), esc(c.app_version(app)), esc(c.status(app.status, lang)),
            f'<code title="{esc(app.sha256 or app.input_sha256)}">{esc(c.short(app.sha256 or app.input_sha256))}</code>',
            " ".join(f'<code title="{esc(s)}">{esc(c.short(s))}</code>' for s in app.signer_sha256.split()) or "-",
            esc(c.lending_text(app, lang)), str(app.contacts_reads),
            "<br>".join(f"<code>{esc(h)}</code>" for h in app.destinations) or "-",
            esc(c.verdicts_text(app, lang)), str(app.problems), f"<code>{esc(app.path)}</code>{names}",
        ])
    return _table(headers, rows, {7, 10})


def _bar(x: float, y: float, width: float, colour: str, title: str) -> str:
    return f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="18" fill="{colour}"><title>{title}</title></rect>'


def _legend(keys: list[tuple[str, str]], y: int) -> str:
    out, x = [], 0
    for colour, label in keys:
        out.append(f'<rect x="{x}" y="{y}" width="12" height="12" fill="{colour}"></rect><text x="{x + 16}" y="{y + 11}">{label}</text>')
        x += 28 + sum(13 if ord(ch) > 0x2e7f else 7 for ch in label)  # CJK glyphs are about twice as wide
    return "".join(out)


def _verdict_chart(corpus: c.Corpus, lang: str) -> str:
    """A stacked horizontal bar per policy: apps by worst severity, drawn to one scale."""
    counts = corpus.verdict_counts()
    if not counts:
        return ""
    label_w, bar_w, row_h = 220, 640, 26
    top = max(sum(v.values()) for _, v in counts) or 1
    rows = []
    for i, (policy, values) in enumerate(counts):
        y = 30 + i * row_h
        rows.append(f'<text x="0" y="{y + 13}">{esc(policy)}</text>')
        x = float(label_w)
        for sev in c.SEVERITIES:
            n = values[sev]
            if not n:
                continue
            w = bar_w * n / top
            rows.append(_bar(x, y, w, COLOURS[sev], esc(f"{policy}: {c.severity(sev, lang)} {n}")))
            if w >= 22:
                colour = "#ffffff" if sev != "none" else "#1b1f24"
                rows.append(f'<text x="{x + w / 2:.1f}" y="{y + 13}" text-anchor="middle" style="fill:{colour}">{n}</text>')
            x += w
        rows.append(f'<text x="{x + 6:.1f}" y="{y + 13}">{esc(c.tr("chart.apps", lang, n=sum(values.values())))}</text>')
    height = 30 + len(counts) * row_h + 10
    legend = _legend([(COLOURS[s], esc(c.severity(s, lang))) for s in c.SEVERITIES], 4)
    title = esc(c.tr("corpus.verdicts-chart", lang))
    return (f'<figure><svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{title}" width="{label_w + bar_w + 100}" '
            f'height="{height}" viewBox="0 0 {label_w + bar_w + 100} {height}">{legend}{"".join(rows)}</svg>'
            f"<figcaption>{title}</figcaption></figure>")


def _status_chart(corpus: c.Corpus, lang: str) -> str:
    """One stacked bar: complete, partial, failed."""
    s = corpus.summary
    if not s.apps:
        return ""
    bar_w = 860
    parts, x = [], 0.0
    for key, n in (("complete", s.complete), ("partial", s.partial), ("failed", s.failed)):
        if not n:
            continue
        w = bar_w * n / s.apps
        parts.append(_bar(x, 22, w, COLOURS[key], esc(f"{c.status(key, lang)} {n}")))
        if w >= 22:
            parts.append(f'<text x="{x + w / 2:.1f}" y="35" text-anchor="middle" style="fill:#ffffff">{n}</text>')
        x += w
    legend = _legend([(COLOURS[k], esc(c.status(k, lang))) for k in ("complete", "partial", "failed")], 2)
    title = esc(c.tr("corpus.status-chart", lang))
    return (f'<figure><svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{title}" width="{bar_w}" height="46" '
            f'viewBox="0 0 {bar_w} 46">{legend}{"".join(parts)}</svg><figcaption>{title}</figcaption></figure>')


__all__ = ["render"]
