"""A scan: every input under some paths, audited by an executor, each result written as it arrives.

Inputs are identified by SHA-256 (``jobs.input_key``), so the same bytes under two names are
audited once (the second name is recorded as such) and ``resume`` skips whatever the sinks
already hold. The biggest inputs go first, so one slow app does not finish alone at the end.
Nothing is dropped: a path that cannot be read, a folder with no package, a worker stopped at
a limit all become ``FAILED`` results in the sinks like any other.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from permaudit.audit import failed_result
from permaudit.batch.jobs import (
    AuditOptions,
    Job,
    Outcome,
    input_key,
    outcome,
    refused_unread,
)
from permaudit.batch.tally import Tally
from permaudit.loading import Refused, discover
from permaudit.model import Problem, Severity, Stage
from permaudit.model.record import record

if TYPE_CHECKING:
    from permaudit.batch.sinks import Sink


class Executor(Protocol):
    def run(self, jobs: Iterator[Job]) -> Iterator[Outcome]:
        """Pull jobs lazily, yield exactly one outcome per job as each finishes, stop all work when closed."""


class Observer(Protocol):
    """What a scan tells whoever shows its progress."""

    def planned(self, total: int) -> None: ...

    def done(self, outcome: Outcome) -> None:
        """An input was audited (or could not be) and its result written."""

    def passed(self, path: str, key: str, why: str) -> None:
        """An input was not audited: ``why`` is ``duplicate`` or ``recorded`` (held from an earlier run)."""


@record
class ScanSummary:
    inputs: int
    """Inputs found under the paths."""
    audited: int
    """Results written by this run (failed ones included)."""
    duplicates: int
    """Inputs whose bytes were already seen in this run under another name."""
    recorded: int
    """Inputs skipped because the sinks held them from an earlier run (``resume``)."""
    seconds: float
    interrupted: bool
    tally: Tally

    @property
    def files_per_second(self) -> float:
        return self.audited / self.seconds if self.seconds > 0 else 0.0


def scan(paths: Sequence[str | Path], executor: Executor, sinks: Sequence[Sink], *,
         options: AuditOptions | None = None, resume: bool = False, observer: Observer | None = None) -> ScanSummary:
    """Audit every input under ``paths`` with ``executor``, writing each outcome to every sink.

    ``KeyboardInterrupt`` ends the run early (``interrupted`` in the summary): what was written
    stays written, and a later run with ``resume=True`` continues where this one stopped.
    """
    started = time.monotonic()
    plan = _Plan(sinks, resume, observer)
    targets = _targets(paths)
    if observer:
        observer.planned(len(targets))
    interrupted = False
    runs = executor.run(plan.jobs(targets, options or AuditOptions()))
    try:
        for outcome in runs:
            plan.write(outcome)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        runs.close()  # type: ignore[attr-defined]
    return ScanSummary(len(targets), plan.tally.results, plan.duplicates, plan.recorded_before,
                       time.monotonic() - started, interrupted, plan.tally)


class _Plan:
    """The run's bookkeeping: which inputs each sink holds, which keys this run has seen."""

    def __init__(self, sinks: Sequence[Sink], resume: bool, observer: Observer | None) -> None:
        self.sinks = sinks
        self.observer = observer
        self.held = [s.recorded() for s in sinks] if resume else [{} for _ in sinks]
        self.seen: dict[str, str] = {}
        self.tally = Tally()
        self.duplicates = 0
        self.recorded_before = 0

    def jobs(self, targets: list[Path | Refused], options: AuditOptions) -> Iterator[Job]:
        """The jobs to run, hashing each input only when its turn comes; inputs that need no
        worker (refused, unreadable, duplicate, already recorded) are settled here."""
        skipped = () if options.code else (Stage.CODE,)
        for target in targets:
            if isinstance(target, Refused):
                path = str(target.path)
                self._settle(outcome(path, _path_key(path), failed_result(path, target.problem, skipped), 0.0))
                continue
            path = str(target)
            try:
                key = _path_key(path) if refused_unread(target) else input_key(target)
            except OSError:  # vanished or unreadable since the walk: the audit says which, as `audit` would
                key = _path_key(path)
            if key in self.seen:
                self.duplicates += 1
                self._name(path, key, "duplicate")
            elif all(key in held for held in self.held) and self.held:
                self.recorded_before += 1
                self.seen[key] = self.held[0][key]  # its first name is the one it was recorded under
                self._name(path, key, "recorded")
            else:
                self.seen[key] = path
                yield Job(path, key, options)

    def write(self, outcome: Outcome) -> None:
        """Write one outcome to every sink that does not hold it yet, then count it."""
        outcome = _as_audited(outcome)
        for sink, held in zip(self.sinks, self.held):
            if outcome.key not in held:
                sink.record(outcome)
        self.tally.add(outcome.result)
        if self.observer:
            self.observer.done(outcome)

    def _settle(self, outcome: Outcome) -> None:
        if outcome.key in self.seen:  # the same unreadable path named twice
            return
        self.seen[outcome.key] = outcome.path
        self.write(outcome)

    def _name(self, path: str, key: str, why: str) -> None:
        """Record ``path`` as another name of ``key`` in each sink where it is not that input's name yet."""
        for sink, held in zip(self.sinks, self.held):
            if held.get(key) != path:
                sink.add_name(path, key, self.seen[key])
        if self.observer:
            self.observer.passed(path, key, why)


def _as_audited(found: Outcome) -> Outcome:
    """``found`` keyed by the bytes the worker read: a file rewritten between its hashing here and
    its audit (a download still arriving) is recorded as what was audited, with a note saying so,
    instead of under a key whose bytes nobody read."""
    result = found.result
    if result.kind != "apk" or result.hashes is None or result.hashes.sha256 == found.key:
        return found
    note = Problem("changed-during-scan", f"{found.path}: the file changed while the scan ran: hashed as {found.key}, "
                   f"audited as {result.hashes.sha256}", severity=Severity.NOTE)
    changed = dataclasses.replace(result, problems=(*result.problems, note))
    return outcome(found.path, result.hashes.sha256, changed, found.seconds, replace_worker=found.replace_worker, stop=found.stop)


def _targets(paths: Iterable[str | Path]) -> list[Path | Refused]:
    """Every input under ``paths``, the biggest first; a path given twice counts once; a folder
    with nothing to audit is ``Refused`` so that it is recorded, not forgotten."""
    found: dict[str, Path | Refused] = {}
    for path in paths:
        empty = True
        for target in discover(path):
            empty = False
            found.setdefault(str(target.path if isinstance(target, Refused) else target), target)
        if empty and Path(path).is_dir():
            problem = Problem("no-package", f"{path}: no APK, bundle or dex file found in this folder", severity=Severity.FAILED)
            found[str(path)] = Refused(Path(path), problem)
    return sorted(found.values(), key=lambda t: -_size(t))


def _size(target: Path | Refused) -> int:
    if not isinstance(target, Path):
        return 0
    try:
        return sum(p.stat().st_size for p in target.iterdir() if p.is_file()) if target.is_dir() else target.stat().st_size
    except OSError:
        return 0


def _path_key(path: str) -> str:
    """A key for an input with no bytes to hash (refused, unreadable): its path's SHA-256."""
    return hashlib.sha256(f"path:{path}".encode("utf-8", "surrogateescape")).hexdigest()
