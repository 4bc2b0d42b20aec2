"""Stage 6: many inputs at once. A scan hands each input to an executor (worker processes here,
or a Dask cluster) under a time and a memory limit and writes each result the moment it is
known, to the SQLite store and/or a JSON Lines log, so an interrupted run loses nothing and
resumes where it stopped. See docs/batch.md."""

from permaudit.batch.jobs import (
    DEFAULT_MAX_MEMORY,
    DEFAULT_TIMEOUT,
    AuditOptions,
    Job,
    Outcome,
    audit_job,
    input_key,
)
from permaudit.batch.local import LocalPool
from permaudit.batch.scan import Executor, Observer, ScanSummary, scan
from permaudit.batch.sinks import JsonlLog, Sink, SinkError, StoreSink
from permaudit.batch.tally import Tally

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
