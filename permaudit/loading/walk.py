"""Expand the paths a user names into auditable targets (files, and dex-dump folders)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

APK_SUFFIXES = (".apk",)
BUNDLE_SUFFIXES = (".xapk", ".apks", ".apkm")
DEX_SUFFIX = ".dex"
ZIP_MAGIC = b"PK\x03\x04"
DEX_MAGIC = b"dex\n"


def discover(path: str | Path) -> Iterator[Path]:
    """Expand ``path`` into auditable targets; a folder of dex dumps is one target."""
    path = Path(path)
    if not path.is_dir() or is_dex_folder(path):
        yield path
        return
    for child in sorted(path.iterdir()):
        if child.is_dir():
            if not child.is_symlink():  # a linked folder can loop back on itself
                yield from discover(child)
        elif _looks_auditable(child):
            yield child


def is_dex_folder(path: Path) -> bool:
    """A folder an unpacker wrote: dex files at its top level and no packages beside them
    (a folder of samples that happens to hold a stray .dex is a folder of samples)."""
    if not path.is_dir():
        return False
    suffixes = {p.suffix.lower() for p in path.iterdir() if p.is_file()}
    return DEX_SUFFIX in suffixes and not suffixes & set(APK_SUFFIXES + BUNDLE_SUFFIXES)


def _looks_auditable(path: Path) -> bool:
    suffix = path.suffix.lower()
    if suffix in APK_SUFFIXES + BUNDLE_SUFFIXES + (DEX_SUFFIX,):
        return True
    if suffix:  # .json, .txt, .xml: an analyst's notes beside the samples
        return False
    try:  # sample collections often name files by hash, without a suffix
        with path.open("rb") as handle:
            return handle.read(4) in (ZIP_MAGIC, DEX_MAGIC)
    except OSError:
        return True  # let load() report why it cannot be read


__all__ = ["APK_SUFFIXES", "BUNDLE_SUFFIXES", "DEX_SUFFIX", "ZIP_MAGIC", "discover", "is_dex_folder"]
