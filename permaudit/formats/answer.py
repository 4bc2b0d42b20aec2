"""One answer of the results store (``permaudit query``) as a table, JSON or CSV.

Every cell may come from a package (a host, a package name): the table passes cells through
``visible``; CSV cells that a spreadsheet would run as a formula get a leading apostrophe.
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

from permaudit.formats import jsontext
from permaudit.model import visible

if TYPE_CHECKING:
    from permaudit.store import Answer

QUERY_FORMATS = ("csv", "json", "table")


def render_answer(answer: Answer, fmt: str) -> str:
    if fmt == "json":
        rows = [dict(zip(answer.columns, row)) for row in answer.rows]
        document = {"question": answer.question.id, "columns": list(answer.columns), "rows": rows}
        return jsontext.dumps(document, sort_keys=True) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(answer.columns)
        from permaudit.formats.corpus.csv import (
            safe,  # with the store: only a query needs it
        )

        writer.writerows([[safe(cell) if isinstance(cell, str) else cell for cell in row] for row in answer.rows])
        return out.getvalue()
    if not answer.rows:
        return f"{answer.question.title.en}: no answer in this store\n"
    cells = [[visible(str(cell)) if cell is not None else "" for cell in row] for row in answer.rows]
    # the CLI imports this module for QUERY_FORMATS; only a table pays for tabulate
    from tabulate import tabulate

    table: str = tabulate(cells, headers=list(answer.columns))
    return f"{answer.question.title.en}\n\n{table}\n"

