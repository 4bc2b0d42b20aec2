"""Stage 6: many inputs at once. A scan hands each input to an executor (worker processes here,
or a Dask cluster) under a time and a memory limit and writes each result the moment it is
known, to the SQLite store and/or a JSON Lines log, so an interrupted run loses nothing and
resumes where it stopped. See docs/batch.md.

The worker pool and the sinks (SQLite) load when first used, so ``permaudit audit``, which
imports this package for its exit-code tally, does not pay for them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from permaudit.batch.jobs import (
    DEFAULT_MAX_MEMORY,
    DEFAULT_TIMEOUT,
    AuditOptions,
    Job,
    Outcome,
    audit_job,
    input_key,
)
from permaudit.batch.scan import Executor, Observer, ScanSummary, scan
from permaudit.batch.tally import Tally

if TYPE_CHECKING:
    from permaudit.batch.local import LocalPool
    from permaudit.batch.sinks import JsonlLog, Sink, SinkError, StoreSink

_LATER = {"LocalPool": "local", "JsonlLog": "sinks", "Sink": "sinks", "SinkError": "sinks", "StoreSink": "sinks"}


def __getattr__(name: str) -> object:
    if name not in _LATER:
        raise AttributeError(f"module 'permaudit.batch' has no attribute {name!r}")
    return getattr(import_module(f"permaudit.batch.{_LATER[name]}"), name)


__all__ = [
    "DEFAULT_MAX_MEMORY",
    "DEFAULT_TIMEOUT",
    "AuditOptions",
    "Executor",
    "Job",
    "JsonlLog",
    "LocalPool",
    "Observer",
    "Outcome",
    "ScanSummary",
    "Sink",
    "SinkError",
    "StoreSink",
    "Tally",
    "audit_job",
    "input_key",
    "scan",
]
