"""Stage 4: render results. Each format is a module ``permaudit.formats.<name>`` whose ``render``
is a pure function ``list[AuditResult] -> str``; only the one asked for is imported (the HTML,
Markdown, SARIF and table modules cost a JSON run about 10 ms of imports otherwise)."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import import_module

from permaudit.model import AuditResult

FORMATS = ("html", "json", "markdown", "sarif", "table")


def render(results: Sequence[AuditResult], name: str, **options: object) -> str:
    """Render ``results`` in format ``name`` (one of ``FORMATS``)."""
    if name not in FORMATS:
        raise ValueError(f"unknown format {name!r} (one of: {', '.join(FORMATS)})")
    text: str = import_module(f"permaudit.formats.{name}").render(results, **options)
    return text


__all__ = ["FORMATS", "render"]
