"""Machine-readable output: deterministic, versioned JSON.

Keys are sorted and every list in the facts is already in a stable order, so two runs
on the same input give the same bytes (golden files and diffs work). No timestamp
unless the caller passes one.

    {"schema_version": "1.0", "tool": {"name": "permaudit", "version": "0.1.0"},
     "results": [{"path": "app.apk", "status": "complete", "manifest": {...}, ...}]}
"""

from __future__ import annotations

from collections.abc import Sequence

from permaudit.formats import jsontext
from permaudit.model import SCHEMA_VERSION, AuditResult
from permaudit.version import __version__


def render(results: Sequence[AuditResult], *, timestamp: str = "", **_: object) -> str:
    document: dict[str, object] = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "permaudit", "version": __version__},
        "results": [r.to_dict() for r in results],
    }
    if timestamp:
        document["generated_at"] = timestamp
    return jsontext.dumps(document, sort_keys=True) + "\n"
