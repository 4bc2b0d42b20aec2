"""The pipeline, in one place: load -> facts -> result. No printing, no exiting, no global state."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from permaudit.dex import DexFile
from permaudit.errors import InputError, internal_problem
from permaudit.facts import category as category_stage
from permaudit.facts import code as code_stage
from permaudit.facts import manifest as manifest_stage
from permaudit.findings import judge, observe
from permaudit.loading import (
    DEFAULT_LIMITS,
    Limits,
    LoadedPackage,
    Refused,
    discover,
    load,
)
from permaudit.model import (
    AuditResult,
    CodeFacts,
    ManifestFacts,
    Problem,
    Severity,
    Stage,
    Status,
)
from permaudit.model.category import CategorySignal, CategoryStrength
from permaudit.model.policy import Profile
from permaudit.policy import profile, profiles
from permaudit.version import __version__

T = TypeVar("T")


def audit(path: str | Path, *, code: bool = True, limits: Limits = DEFAULT_LIMITS,
          policies: Sequence[str] | None = None, category: str | None = None, threads: bool = True) -> AuditResult:
    """Audit one package (APK, split bundle, dex file or dex folder).

    Never raises but ``MemoryError`` (the caller's limit, not the package's fault nor a bug: a
    batch worker records it as the memory limit): a package that cannot be read at all comes back ``FAILED`` with the
    reason in ``problems``; one read in part comes back ``PARTIAL`` with everything
    that was read; anomalies read anyway are ``note`` problems on a ``COMPLETE`` result.
    A bug in one stage costs that stage's facts only. ``code=False`` stops after the
    manifest (fast, no dex parsing) and records the code stage in ``skipped``. ``limits``
    caps what is inflated (per member, per package, members, splits: docs/problems.md).
    ``policies`` names the profiles that judge the facts (docs/policies.md; None: every bundled
    profile, ``()``: none); ``category="lending"`` states that the app is a lending app, so
    the lending-only verdicts apply; ``category="auto"`` applies them when the lending signal
    (``AuditResult.category_signal``, docs/category.md) is strong. An unknown profile id raises ``PolicyError`` (a caller's
    mistake, not the package's). ``threads=False`` inflates and hashes in the calling thread
    instead of beside the analysis: for a worker of a pool that already keeps every core busy,
    where the extra threads only contend (docs/batch.md#throughput). The result is the same.
    """
    chosen = _profiles(policies)
    skipped = () if code else (Stage.CODE,)
    try:
        package = load(path, limits, keep_dex=code, settle=False, threads=threads)  # the file is hashed beside the stages
    except InputError as exc:
        return failed_result(path, exc.problem, skipped)
    except Exception as exc:  # a bug, not bad input: say where, keep the caller going
        return failed_result(path, internal_problem(path, f"the {Stage.LOAD.value} stage", exc), skipped)
    problems = package.problems
    facts = _stage(Stage.MANIFEST, manifest_stage.extract, package)
    opened: list[tuple[str, DexFile]] = []
    code_facts = _stage(Stage.CODE, functools.partial(code_stage.extract, keep=opened), package) if code else None
    signal = _category(package, facts, code_facts, opened)
    readable = facts is not None or (code_facts is not None and any(d.classes or d.methods for d in code_facts.dex))
    if not readable and not any(p.severity is not Severity.NOTE for p in problems):
        problems.append(Problem("nothing-read", f"{path}: no manifest and no class or method could be read", severity=Severity.FAILED))
    package.settle()
    result = AuditResult(
        path=str(path),
        kind=package.kind,
        status=status_of(problems, readable),
        hashes=package.hashes,
        artifacts=tuple(package.artifacts),
        manifest=facts,
        code=code_facts,
        skipped=skipped,
        problems=tuple(problems),
        tool_version=__version__,
        category=category or "",
        category_signal=signal,
    )
    lending = category == "lending" or (category == "auto" and signal is not None and signal.strength is CategoryStrength.STRONG)
    return _judged(result, chosen, lending=lending)


def _category(package: LoadedPackage, facts: ManifestFacts | None, code_facts: CodeFacts | None,
              opened: list[tuple[str, DexFile]]) -> CategorySignal | None:
    """The lending signal; a bug in it costs the signal only (a problem says so)."""
    try:
        return category_stage.extract(package, facts, code_facts, opened)
    except Exception as exc:
        package.problems.append(internal_problem(package.path, "the category stage", exc))
        return None


def _profiles(ids: Sequence[str] | None) -> tuple[Profile, ...]:
    return tuple(profiles().values()) if ids is None else tuple(profile(i) for i in ids)


def _judged(result: AuditResult, chosen: tuple[Profile, ...], *, lending: bool) -> AuditResult:
    """The result with its findings under each profile; a bug in judging costs the findings only."""
    if not chosen:
        return result
    try:
        findings = judge(result, observe(result), chosen, lending=lending)
    except Exception as exc:
        problem = internal_problem(result.path, "the findings stage", exc)
        return dataclasses.replace(result, problems=(*result.problems, problem), status=status_of((*result.problems, problem), True))
    return dataclasses.replace(result, findings=findings, policies=tuple(p.id for p in chosen), lending=lending)


def audit_all(paths: str | Path | Iterable[str | Path], *, code: bool = True, limits: Limits = DEFAULT_LIMITS,
              policies: Sequence[str] | None = None, category: str | None = None) -> Iterator[AuditResult]:
    """Audit every package under ``paths`` (one path or many; folders are searched), one result each.

    A folder that holds no package gives a ``FAILED`` result saying so, never silence.
    """
    skipped = () if code else (Stage.CODE,)
    for path in [paths] if isinstance(paths, (str, Path)) else paths:
        found = False
        for target in discover(path):
            found = True
            yield (failed_result(target.path, target.problem, skipped) if isinstance(target, Refused)
                   else audit(target, code=code, limits=limits, policies=policies, category=category))
        if not found:
            problem = Problem("no-package", f"{path}: no APK, bundle or dex file found in this folder", severity=Severity.FAILED)
            yield failed_result(path, problem, skipped)


def status_of(problems: Iterable[Problem], readable: bool) -> Status:
    """The worst problem sets the status; nothing readable is ``FAILED`` whatever the problems say."""
    worst = max((p.severity for p in problems), key=lambda s: s.rank, default=Severity.NOTE)
    if not readable or worst is Severity.FAILED:
        return Status.FAILED
    return Status.PARTIAL if worst is Severity.PARTIAL else Status.COMPLETE


def _stage(stage: Stage, extract: Callable[[LoadedPackage], T | None], package: LoadedPackage) -> T | None:
    """Run one facts stage; a bug in it becomes a problem and costs only its own facts."""
    try:
        return extract(package)
    except Exception as exc:  # a bug, not bad input: the other stages' facts still stand
        package.problems.append(internal_problem(package.path, f"the {stage.value} stage", exc))
        return None


def failed_result(path: str | Path, problem: Problem, skipped: tuple[Stage, ...] = ()) -> AuditResult:
    """A result for a package nothing could be read from, with the one problem that says why."""
    return AuditResult(
        str(path), _kind_of(Path(path)), Status.FAILED, None, skipped=skipped,
        problems=(dataclasses.replace(problem, severity=Severity.FAILED),),
        tool_version=__version__,
    )


def _kind_of(path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    return "dex-folder" if path.is_dir() else suffix or "unknown"
