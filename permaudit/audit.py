"""The pipeline, in one place: load -> facts -> result. No printing, no exiting."""

from __future__ import annotations

import traceback
from collections.abc import Iterable, Iterator
from pathlib import Path

from permaudit.errors import InputError
from permaudit.facts import code as code_facts_stage
from permaudit.facts import manifest
from permaudit.loading import discover, load, one_line
from permaudit.model import AuditResult, Problem, Status
from permaudit.version import __version__


def audit(path: str | Path, *, code: bool = True) -> AuditResult:
    """Audit one package (APK, split bundle, dex file or dex folder).

    Never raises for bad input: a package that cannot be read at all comes back with
    ``status == Status.FAILED`` and the reason in ``problems``; one read in part comes
    back ``PARTIAL`` with everything that was read. ``code=False`` stops after the
    manifest (fast, no dex parsing).
    """
    try:
        package = load(path)
    except InputError as exc:
        return AuditResult(str(path), _kind_of(Path(path)), Status.FAILED, None, problems=(exc.problem,), tool_version=__version__)
    facts = manifest.extract(package)
    code_facts = code_facts_stage.extract(package) if code else None
    status = Status.COMPLETE
    if package.problems:
        readable = facts is not None or (code_facts is not None and bool(code_facts.dex))
        status = Status.PARTIAL if readable else Status.FAILED
    return AuditResult(
        path=str(path),
        kind=package.kind,
        status=status,
        hashes=package.hashes,
        artifacts=tuple(package.artifacts),
        manifest=facts,
        code=code_facts,
        problems=tuple(package.problems),
        tool_version=__version__,
    )


def audit_all(paths: Iterable[str | Path], *, code: bool = True) -> Iterator[AuditResult]:
    """Audit every package under ``paths`` (folders are searched recursively), one result each.

    A batch never stops at one file: should auditing a file hit a bug in permaudit, that
    file's result is ``FAILED`` with an ``internal-error`` problem naming where, and the
    batch goes on.
    """
    for path in paths:
        for target in discover(path):
            try:
                yield audit(target, code=code)
            except Exception as exc:  # a bug, not bad input: keep the batch going, say where
                frame = traceback.extract_tb(exc.__traceback__)[-1]
                where = f"{Path(frame.filename).name}:{frame.lineno}"
                problem = Problem("internal-error", f"{target}: internal error {type(exc).__name__} at {where}: {one_line(exc)} (please report)")
                yield AuditResult(str(target), _kind_of(target), Status.FAILED, None, problems=(problem,), tool_version=__version__)


def _kind_of(path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    return "dex-folder" if path.is_dir() else suffix or "unknown"
