"""The corpus report: one report over a results store (permaudit.store), not over one app.

Each format is a module with ``render(store, *, lang) -> str``: ``html`` (a self-contained page
with inline SVG charts), ``markdown``, ``csv`` (one row per app). docs/store.md shows them.
"""

from __future__ import annotations

from collections.abc import Callable

from permaudit.formats.corpus import csv as csv_format
from permaudit.formats.corpus import html as html_format
from permaudit.formats.corpus import markdown as markdown_format
from permaudit.store import Store

CORPUS_FORMATS: dict[str, Callable[..., str]] = {
    "csv": csv_format.render,
    "html": html_format.render,
    "markdown": markdown_format.render,
}


def render_corpus(store: Store, fmt: str, *, lang: str = "en") -> str:
    """The corpus report of ``store`` in format ``fmt`` (one of ``CORPUS_FORMATS``) and ``lang`` (en, zh)."""
    if fmt not in CORPUS_FORMATS:
        raise ValueError(f"unknown corpus report format {fmt!r} (one of: {', '.join(CORPUS_FORMATS)})")
    return CORPUS_FORMATS[fmt](store, lang=lang)


__all__ = ["CORPUS_FORMATS", "render_corpus"]
