"""Expand the paths a user names into auditable targets (files, and dex-dump folders)."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

from permaudit.model import Problem, Severity
from permaudit.model.record import record

APK_SUFFIXES = (".apk",)
BUNDLE_SUFFIXES = (".xapk", ".apks", ".apkm")
DEX_SUFFIX = ".dex"
ZIP_MAGIC = b"PK\x03\x04"
DEX_MAGIC = b"dex\n"


@record
class Refused:
    """A path the walk will not open, and why."""

    path: Path
    problem: Problem


def discover(path: str | Path) -> Iterator[Path | Refused]:
    """Expand ``path`` into auditable targets; a folder of dex dumps is one target.

    The walk is iterative (no recursion limit), follows linked folders but enters each
    real folder once (a symlink loop is walked once), and never opens a FIFO, device or
    socket: those come back as ``Refused`` instead of a target, as do folders that
    cannot be listed. A path named directly is yielded as it is, for ``load`` to judge.
    """
    path = Path(path)
    if not path.is_dir() or is_dex_folder(path):
        yield path
        return
    seen: set[tuple[int, int]] = set()
    stack = [_children(path, seen)]
    while stack:
        child = next(stack[-1], None)
        if child is None:
            stack.pop()
        elif isinstance(child, Refused):
            yield child
        elif child.is_dir():
            if is_dex_folder(child):
                yield child
            else:
                stack.append(_children(child, seen))
        elif special := special_kind(child):
            yield Refused(child, Problem("special-file", f"{child}: refused, a {special} is not a file", severity=Severity.FAILED))
        elif _looks_auditable(child):
            yield child


def _children(folder: Path, seen: set[tuple[int, int]]) -> Iterator[Path | Refused]:
    """The entries of ``folder`` in name order; nothing if this real folder was entered before."""
    try:
        info = folder.stat()
        key = (info.st_dev, info.st_ino)
        if key in seen:
            return iter(())
        seen.add(key)
        return iter(sorted(folder.iterdir()))
    except OSError as exc:
        problem = Problem("unreadable-file", f"{folder}: cannot list folder ({exc.strerror or exc})", severity=Severity.FAILED)
        return iter((Refused(folder, problem),))


def special_kind(path: Path) -> str:
    """``FIFO``, ``device`` or ``socket`` for special files (opening a FIFO blocks forever), else empty."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return ""  # a dangling link: load() says it is missing
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return ""


def is_dex_folder(path: Path) -> bool:
    """A folder an unpacker wrote: dex files at its top level and no packages beside them
    (a folder of samples that happens to hold a stray .dex is a folder of samples)."""
    if not path.is_dir():
        return False
    try:
        suffixes = {p.suffix.lower() for p in path.iterdir() if p.is_file()}
    except OSError:
        return False  # not listable: the walk reports it
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


__all__ = ["APK_SUFFIXES", "BUNDLE_SUFFIXES", "DEX_SUFFIX", "ZIP_MAGIC", "Refused", "discover", "special_kind", "is_dex_folder"]
