"""The corpus report: one report over a results store (permaudit.store), not over one app.

Each format is a module with ``render(store, *, lang) -> str``: ``html`` (a self-contained page
with inline SVG charts), ``markdown``, ``csv`` (one row per app). docs/store.md shows them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from permaudit.store import Store

CORPUS_FORMATS = ("csv", "html", "markdown")
"""One module of this package each; imported when asked for, so ``permaudit audit`` never loads them."""


def render_corpus(store: Store, fmt: str, *, lang: str = "en") -> str:
    """The corpus report of ``store`` in format ``fmt`` (one of ``CORPUS_FORMATS``) and ``lang`` (en, zh)."""
    if fmt not in CORPUS_FORMATS:
        raise ValueError(f"unknown corpus report format {fmt!r} (one of: {', '.join(CORPUS_FORMATS)})")
    text: str = import_module(f"permaudit.formats.corpus.{fmt}").render(store, lang=lang)
    return text


__all__ = ["CORPUS_FORMATS", "render_corpus"]
