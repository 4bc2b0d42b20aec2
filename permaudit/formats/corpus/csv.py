"""The corpus as CSV: one row per app with its key columns, for a spreadsheet or a script.

Headers are stable ids (not translated), so a script can rely on them; ``lang`` only changes
nothing here and is accepted for a uniform signature. A spreadsheet runs a cell that starts
with ``=``, ``+``, ``-`` or ``@`` (and tab or carriage return) as a formula, and a package
name, label or path is written by whoever built the APK: such a cell gets a leading ``'``
(OWASP's CSV-injection advice). Control and bidi characters are written out (``visible``).
"""

from __future__ import annotations

import csv
import io

from permaudit.formats.corpus import common as c
from permaudit.model import visible
from permaudit.store import Store

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

COLUMNS = ("input_sha256", "sha256", "path", "other_names", "kind", "status", "package", "version_code", "version_name", "label",
           "certificate_sha256", "lending_signal", "lending", "contacts_reads", "contacts_destinations", "problems", "seconds",
           "audited_at")
"""The fixed columns; one ``verdict:<policy>`` column per policy in the store follows them."""


def safe(value: object) -> str:
    """A cell a spreadsheet shows as text: visible, and never read as a formula."""
    text = "" if value is None else visible(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def render(store: Store, *, lang: str = "en") -> str:
    """One header row, then one row per app (``Store.apps`` order)."""
    c.lang_of(lang)
    policies = store.summary().policies
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*COLUMNS, *(f"verdict:{p}" for p in policies)])
    for app in store.apps():
        verdicts = dict(app.verdicts)
        row: list[object] = [app.input_sha256, app.sha256, app.path, " ".join(app.names), app.kind, app.status, app.package,
                             app.version_code, app.version_name, app.label, app.signer_sha256, app.category_strength,
                             int(app.lending), app.contacts_reads, " ".join(app.destinations), app.problems, f"{app.seconds:.3f}",
                             app.audited_at, *(verdicts.get(p, "") for p in policies)]
        writer.writerow([safe(v) for v in row])
    return out.getvalue()


__all__ = ["COLUMNS", "render", "safe"]
