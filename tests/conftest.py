"""Shared paths: the committed fixtures, and the third-party corpus read in place."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
APKS = FIXTURES / "apk"
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "corpus"


def fixture(name: str) -> Path:
    path = APKS / name
    assert path.is_file(), f"missing committed fixture {path}"
    return path


def expected(name: str) -> dict:
    """Ground truth written by the fixture's author beside its smali sources."""
    return json.loads((FIXTURES / "src" / name / "expected.json").read_text(encoding="utf-8"))


def corpus(*parts: str) -> Path:
    path = CORPUS.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"third-party corpus not present at {path} (it lives in ../shared, never in the repo)")
    return path


def corpus_labels() -> list[dict[str, str]]:
    import csv

    with corpus("labels.tsv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def with_members(source: Path, target: Path, replace: dict[str, bytes]) -> Path:
    """A copy of an APK with some members' bytes replaced (its signatures then no longer verify)."""
    import zipfile

    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, replace.get(info.filename, src.read(info)))
    return target


def dex_of(apk: Path, member: str = "classes.dex") -> bytes:
    import zipfile

    with zipfile.ZipFile(apk) as archive:
        return archive.read(member)


def zip_members(data: bytes) -> list[tuple[str, bytes]]:
    """Every member of a zip, in order, duplicates included."""
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [(info.filename, archive.read(info)) for info in archive.infolist()]


def rezip(items: list[tuple[str, bytes]]) -> bytes:
    """A deflated zip of these members, in this order (duplicates allowed)."""
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, blob in items:
            archive.writestr(name, blob)
    return buf.getvalue()
