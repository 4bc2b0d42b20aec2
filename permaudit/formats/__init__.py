"""Stage 4: render results. Each format is a pure function ``list[AuditResult] -> str``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from permaudit.formats import html as html_format
from permaudit.formats import json as json_format
from permaudit.formats import markdown as markdown_format
from permaudit.formats import sarif as sarif_format
from permaudit.formats import table as table_format
from permaudit.model import AuditResult

Renderer = Callable[..., str]

FORMATS: dict[str, Renderer] = {
    "html": html_format.render,
    "json": json_format.render,
    "markdown": markdown_format.render,
    "sarif": sarif_format.render,
    "table": table_format.render,
}


def render(results: Sequence[AuditResult], name: str, **options: object) -> str:
    """Render ``results`` in format ``name`` (one of ``FORMATS``)."""
    return FORMATS[name](results, **options)


__all__ = ["FORMATS", "render"]
