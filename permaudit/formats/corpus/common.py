"""What the corpus formats share: labels in English and Chinese, and the report's content read
once from the store (summary, every question's answer, the per-app rows).

Everything here returns plain values; each format escapes them for itself, because every
string that came from an app (package, label, path, host, certificate subject) is hostile.
"""

from __future__ import annotations

from permaudit.formats.report import LANGS, has_label, tr
from permaudit.model.record import record
from permaudit.store import Answer, AppRow, Store, Summary, questions
from permaudit.version import __version__

SEVERITIES = ("violation", "warning", "info", "none")
"""Worst severities of a policy's verdict, most serious first (``none``: judged, no finding)."""
APP_HEADINGS = ("col.package", "col.label", "col.version", "col.status", "col.sha256", "col.signer", "col.lending",
                "col.contacts-reads", "col.destinations", "col.verdicts", "col.problems", "col.path")
"""The label keys of the per-app table's headings, in column order."""


def lang_of(lang: object) -> str:
    """``en`` or ``zh``; anything else is a ValueError (the CLI offers only these)."""
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r} (one of: {', '.join(LANGS)})")
    return str(lang)


def severity(value: str, lang: str) -> str:
    return tr(f"severity.{value}", lang) if has_label(f"severity.{value}") else value


def status(value: str, lang: str) -> str:
    return tr(f"status.{value}", lang) if has_label(f"status.{value}") else value


@record
class Corpus:
    """Everything a corpus report shows, read from the store in one go."""

    store: str
    summary: Summary
    answers: tuple[Answer, ...]
    """One per question, in ``questions.json`` order, each with its default parameters."""
    apps: tuple[AppRow, ...]
    tool_version: str = __version__

    def answer(self, question_id: str) -> Answer:
        return next(a for a in self.answers if a.question.id == question_id)

    def verdict_counts(self) -> list[tuple[str, dict[str, int]]]:
        """(policy, {severity: apps}) for the chart, policies in the order of the summary."""
        answer = self.answer("verdicts")
        index = {c: i for i, c in enumerate(answer.columns)}
        rows = {str(r[index["policy"]]): {s: int(r[index[s]] or 0) for s in SEVERITIES} for r in answer.rows}
        order = [p for p in self.summary.policies if p in rows] + sorted(p for p in rows if p not in self.summary.policies)
        return [(p, rows[p]) for p in order]


def read(store: Store) -> Corpus:
    """The report's content: the summary, every question answered with its defaults, every app."""
    answers = tuple(store.ask(qid) for qid in questions())
    return Corpus(str(store.path), store.summary(), answers, store.apps())


def summary_rows(corpus: Corpus, lang: str) -> list[tuple[str, str]]:
    """(label, value) lines of the summary table."""
    s = corpus.summary
    return [
        (tr("sum.apps", lang), str(s.apps)),
        (tr("sum.complete", lang), str(s.complete)),
        (tr("sum.partial", lang), str(s.partial)),
        (tr("sum.failed", lang), str(s.failed)),
        (tr("sum.lending", lang), str(s.lending)),
        (tr("sum.lending-strong", lang), str(s.lending_strong)),
        (tr("sum.names", lang), str(s.names)),
        (tr("sum.newest", lang), s.newest or "-"),
        (tr("sum.oldest", lang), s.oldest or "-"),
        (tr("sum.seconds", lang), tr("sum.seconds-value", lang, s=f"{s.seconds:.1f}")),
        (tr("sum.policies", lang), ", ".join(s.policies) or "-"),
        (tr("sum.tools", lang), ", ".join(s.tool_versions) or "-"),
    ]


def params_text(answer: Answer) -> str:
    return ", ".join(f"{name}={value!r}" if isinstance(value, str) else f"{name}={value}" for name, value in answer.params)


def cell(value: object) -> str:
    """One answer value as text: NULL as ``-``, numbers as written."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def app_version(app: AppRow) -> str:
    if app.version_name and app.version_code:
        return f"{app.version_name} ({app.version_code})"
    return app.version_name or app.version_code or "-"


def verdicts_text(app: AppRow, lang: str) -> str:
    """``cn-lending: violation; nothing under the other 7``, as the single-app reports say it."""
    if not app.verdicts:
        return tr("corpus.verdicts.not-judged", lang)
    found = [(p, s) for p, s in app.verdicts if s != "none"]
    quiet = len(app.verdicts) - len(found)
    if not found:
        return tr("corpus.verdicts.quiet", lang, n=quiet)
    text = "; ".join(f"{p}: {severity(s, lang)}" for p, s in found)
    return text + (tr("corpus.verdicts.more-quiet", lang, n=quiet) if quiet else "")


def lending_text(app: AppRow, lang: str) -> str:
    strength = app.category_strength or "-"
    return tr("lending.yes", lang, strength=strength) if app.lending else strength


def short(sha: str, n: int = 12) -> str:
    return sha[:n] if sha else "-"


__all__ = ["APP_HEADINGS", "LANGS", "SEVERITIES", "Corpus", "app_version", "cell", "lang_of", "lending_text", "params_text", "read", "severity",
           "short", "status", "summary_rows", "tr", "verdicts_text"]
