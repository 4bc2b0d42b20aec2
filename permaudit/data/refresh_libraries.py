"""Maintenance, not run time: rebuild the library tables of this folder from the reference merge.

``python -m permaudit.data.refresh_libraries ../shared/reference/libraries`` (docs/attribution.md,
"Refresh"). Reads ``prefixes.permissive.tsv``, ``prefixes.exodus-odbl.tsv`` and
``build/curated.tsv``; never ``prefixes.reference-only.tsv`` (AGPL / unlicensed: not shippable).
"""

from __future__ import annotations

import csv
import gzip
import sys
from pathlib import Path

from permaudit.facts.attribution import (
    COLUMNS,
    EXODUS,
    NAMESPACES,
    TABLE,
    Library,
    parse_table,
    prefixes_of,
)


def refresh(reference: Path, data: Path) -> dict[str, int]:
    """Rewrite the three tables from a reference merge, keeping our ``permaudit`` rows; the counts written."""
    evidence = {r["prefix"]: r["evidence"] for r in _rows(reference / "build" / "curated.tsv")}
    table = data / TABLE
    ours = [r for r in parse_table(table.read_text(encoding="utf-8")) if r.source == "permaudit"] if table.exists() else []
    named: dict[str, Library] = {}
    bare: list[str] = []
    for r in _rows(reference / "prefixes.permissive.tsv"):
        clean = {k: _clean(r[k]) for k in ("prefix", "name", "category", "source")}
        if not clean["name"] and clean["category"] == "unknown-library":
            bare.append(clean["prefix"])
            continue
        first = clean["source"].split(",")[0]
        named[clean["prefix"]] = Library(clean["prefix"], clean["name"], clean["category"], clean["source"], _clean(evidence.get(clean["prefix"], "")) if first == "curated" else "")
    for row in ours:
        named[row.prefix] = row
    exodus_rows = [Library(_clean(r["prefix"]), _clean(r["name"]), _clean(r["category"]), "exodus") for r in _rows(reference / "prefixes.exodus-odbl.tsv")]
    covered = set(named) | {r.prefix for r in exodus_rows}
    # an unnamed namespace under a named row would hide that row's name (named rows win): drop it
    bare = sorted(p for p in bare if not any(c in covered for c in prefixes_of(p)[1:]))
    _write_tsv(table, sorted(named.values()))
    _write_tsv(data / EXODUS, sorted(exodus_rows))
    (data / NAMESPACES).write_bytes(gzip.compress(("\n".join(bare) + "\n").encode("utf-8"), 9, mtime=0))
    return {"named": len(named), "permaudit": len(ours), "exodus": len(exodus_rows), "namespaces": len(bare)}


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


def _clean(cell: str) -> str:
    return " ".join(cell.replace("\t", " ").split())


def _write_tsv(path: Path, rows: list[Library]) -> None:
    lines = ["\t".join(COLUMNS)] + ["\t".join(row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    print(refresh(Path(sys.argv[1]), Path(__file__).resolve().parent))
