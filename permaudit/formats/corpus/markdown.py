"""The corpus report in GitHub-flavoured Markdown, in English or Chinese.

Every string from an app goes through :func:`permaudit.formats.markdown.text` (control and
bidi characters written out, Markdown punctuation escaped, ``<``/``>`` as entities, ``|``
escaped so a row cannot be split) or :func:`~permaudit.formats.markdown.code` (an inline code
span whose fence is longer than any backtick run inside). Charts are left to the HTML page.
"""

from __future__ import annotations

from permaudit.formats.corpus import common as c
from permaudit.formats.markdown import code, table, text
from permaudit.store import Answer, Store

CODE = {"host", "domain", "certificate", "hosts", "clause", "policy", "sdk"}


def render(store: Store, *, lang: str = "en") -> str:
    """The whole report for ``store`` in ``lang``."""
    lang = c.lang_of(lang)
    corpus = c.read(store)
    def t(key: str, **values: object) -> str:
        return text(c.tr(key, lang, **values))

    parts = [f"# {t('corpus.title', n=corpus.summary.apps)}",
             t("corpus.intro", version=corpus.tool_version, store=corpus.store, schema=corpus.summary.schema_version),
             f"## {t('corpus.summary')}",
             table(["", ""], [[text(k), text(v)] for k, v in c.summary_rows(corpus, lang)]),
             f"## {t('corpus.verdicts')}",
             _answer(corpus.answer("verdicts"), lang, heading=False),
             f"## {t('corpus.questions')}"]
    parts += [_answer(a, lang) for a in corpus.answers if a.question.id != "verdicts"]
    parts.append(f"## {t('corpus.apps')}")
    parts.append(_apps(corpus, lang))
    parts += [f"## {t('corpus.limits')}", t("corpus.limits-text")]
    return "\n\n".join(parts) + "\n"


def _answer(answer: Answer, lang: str, heading: bool = True) -> str:
    q = answer.question
    parts = [f"### {text(q.title.get(lang))} ({code(q.id)})"] if heading else []
    parts.append(f"{text(q.description.get(lang))} {text(c.tr('corpus.params', lang, params=c.params_text(answer)))}")
    if not answer.rows:
        parts.append(text(c.tr("corpus.no-answer", lang)))
        return "\n\n".join(parts)
    headers = [text(col.title.get(lang)) for col in q.columns]
    rows = [[code(c.cell(v), cell=True) if answer.columns[i] in CODE else text(c.cell(v)) for i, v in enumerate(r)] for r in answer.rows]
    parts.append(table(headers, rows))
    return "\n\n".join(parts)


def _apps(corpus: c.Corpus, lang: str) -> str:
    headers = [text(c.tr(k, lang)) for k in c.APP_HEADINGS]
    rows = []
    for app in corpus.apps:
        path = code(app.path, cell=True)
        if app.names:
            path += " " + text(c.tr("names.also", lang, names=", ".join(app.names)))
        rows.append([
            code(app.package or "-", cell=True), text(app.label or "-"), text(c.app_version(app)), text(c.status(app.status, lang)),
            code(c.short(app.sha256 or app.input_sha256), cell=True),
            " ".join(code(c.short(s), cell=True) for s in app.signer_sha256.split()) or "-",
            text(c.lending_text(app, lang)), str(app.contacts_reads),
            " ".join(code(h, cell=True) for h in app.destinations) or "-",
            text(c.verdicts_text(app, lang)), str(app.problems), path,
        ])
    return table(headers, rows)


__all__ = ["render"]
