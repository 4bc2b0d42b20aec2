"""One input of a scan as a job, and what auditing it gives back: plain values that cross processes."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path

from permaudit.audit import audit, failed_result, status_of
from permaudit.loading import DEFAULT_LIMITS
from permaudit.loading.walk import special_kind
from permaudit.model import AuditResult, Problem, Severity, Stage, Status
from permaudit.model.record import record

DEFAULT_TIMEOUT = 600.0
"""Seconds one input may take: ten minutes, 250 times the biggest multidex app we measure."""
DEFAULT_MAX_MEMORY = 4096
"""Megabytes one worker may add to its address space while auditing one input."""
_CHUNK = 1 << 20


@record
class AuditOptions:
    """What every job of a scan is audited with (the arguments of ``permaudit.audit``) and its limits."""

    code: bool = True
    policies: tuple[str, ...] | None = None
    category: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    max_memory: int = DEFAULT_MAX_MEMORY
    threads: bool = True
    """``permaudit.audit``'s ``threads``: False when the workers keep every core busy themselves."""


@record
class Job:
    """One input to audit: its path, and the SHA-256 key that identifies it across names and runs."""

    path: str
    key: str
    options: AuditOptions


@record
class Outcome:
    """What one job gave: the result (``FAILED`` with the reason when the worker was stopped) and its time."""

    path: str
    key: str
    result: AuditResult
    seconds: float
    document: str
    """``result`` as JSON text (sorted keys, ASCII), made once where the audit ran so the sinks that
    keep it (the log, the store's copy of the whole result) do not each make it again."""
    replace_worker: bool = False
    """The worker that ran it must not run another (it hit the memory limit; its heap is suspect)."""
    stop: str = ""
    """Why its worker could not finish it (``time-limit``, ``memory-limit``, ``worker-died``); empty when it did."""


def audit_job(job: Job) -> Outcome:
    """Audit one job here, in this process; running out of memory is recorded as the memory limit."""
    started = time.perf_counter()
    options = job.options
    try:
        result = audit(job.path, code=options.code, policies=options.policies, category=options.category, threads=options.threads)
    except MemoryError:
        return stopped(job, "memory-limit", f"stopped at the memory limit ({options.max_memory} MB)",
                       time.perf_counter() - started, replace_worker=True)
    return outcome(job.path, job.key, result, time.perf_counter() - started)


def outcome(path: str, key: str, result: AuditResult, seconds: float, *, replace_worker: bool = False, stop: str = "") -> Outcome:
    """An ``Outcome`` with its JSON text."""
    return Outcome(path, key, result, seconds, json.dumps(result.to_dict(), sort_keys=True), replace_worker, stop)


def stopped(job: Job, code: str, why: str, seconds: float, *, replace_worker: bool = False) -> Outcome:
    """The outcome of a job its worker could not finish: ``FAILED``, saying why."""
    skipped = () if job.options.code else (Stage.CODE,)
    problem = Problem(code, f"{job.path}: {why}", severity=Severity.FAILED)
    return outcome(job.path, job.key, failed_result(job.path, problem, skipped), seconds, replace_worker=replace_worker, stop=code)


def rescue_job(job: Job) -> Job | None:
    """What to try once a job's worker was stopped: the same input without the bytecode stage
    (manifest, signatures, hashes), under the same limits; None when that is what was stopped."""
    if not job.options.code:
        return None
    return dataclasses.replace(job, options=dataclasses.replace(job.options, code=False))


def rescued(first: Outcome, rescue: Outcome) -> Outcome:
    """The outcome of an input whose full audit was stopped: what the audit without the bytecode
    stage read, ``PARTIAL``, with the stop as its problem; the stop itself if that failed too."""
    if rescue.stop or rescue.result.status is Status.FAILED:
        return first
    stop = first.result.problems[0]
    problem = dataclasses.replace(stop, severity=Severity.PARTIAL,
                                  message=f"{stop.message}; audited again without the bytecode stage: manifest, signatures and hashes only")
    problems = (*rescue.result.problems, problem)
    result = dataclasses.replace(rescue.result, problems=problems, skipped=(), status=status_of(problems, True))
    return outcome(first.path, first.key, result, first.seconds + rescue.seconds, stop=first.stop)


def refused_unread(path: Path) -> bool:
    """Whether loading refuses ``path`` without reading it (missing, a FIFO or device, over the
    package cap): hashing or shipping it would block on a FIFO or read gigabytes for nothing."""
    try:
        return not path.is_dir() and (bool(special_kind(path)) or path.stat().st_size > DEFAULT_LIMITS.package_bytes)
    except OSError:
        return True


def input_key(path: Path) -> str:
    """The SHA-256 that identifies an input whatever its name: of the file's bytes, or for a
    dex-dump folder of each top-level file's name and SHA-256, one line each in name order."""
    if not path.is_dir():
        return _file_sha256(path)
    digest = hashlib.sha256()
    for child in sorted(p for p in path.iterdir() if p.is_file()):
        digest.update(f"{child.name}\0{_file_sha256(child)}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
