"""Worker processes on this machine, each auditing one input at a time under a time and a memory limit.

The parent runs one thread: it hands a job to an idle worker, waits on the workers' pipes until
the nearest deadline, and yields each outcome as it arrives. A worker past its deadline is
killed and its job recorded as ``time-limit``; a worker that dies (a crash, the kernel's OOM
killer) is recorded as ``worker-died`` with its exit status; either way a new worker takes the
next job. Workers ignore SIGINT: the parent decides when to stop, and kills them all when it does.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, cast

from permaudit.batch.jobs import Job, Outcome, audit_job, rescue_job, rescued, stopped
from permaudit.model.record import record

_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_START_LIMIT = 120.0
"""Seconds a new worker may take to be ready (a fresh interpreter on a loaded machine)."""


@record
class _Worker:
    process: BaseProcess
    conn: Connection


@record
class _Task:
    worker: _Worker
    job: Job
    started: float
    first: Outcome | None = None
    """For a rescue (the input again without the bytecode stage): how its full audit was stopped."""


class LocalPool:
    """``workers`` processes; ``run`` audits jobs on them and yields outcomes in the order they finish."""

    def __init__(self, workers: int, *, method: str | None = None) -> None:
        """``method``: how workers start (``fork``, ``spawn``, ``forkserver``). By default fork, which
        is cheap (the parent's imports are shared) but safe only from a single-threaded parent on
        Linux; anywhere else each worker starts a fresh interpreter."""
        self.workers = max(1, workers)
        if method is None:
            method = "fork" if sys.platform == "linux" and threading.active_count() == 1 else "spawn"
        self._context: Any = multiprocessing.get_context(method)  # typeshed's BaseContext lacks Process

    def run(self, jobs: Iterator[Job]) -> Iterator[Outcome]:
        """One outcome per job pulled. A job whose worker is stopped (time, memory, death) is tried
        once more without the bytecode stage before the next job is pulled, so what can be read
        of it still comes back, ``PARTIAL`` (``jobs.rescued``)."""
        idle: list[_Worker] = []
        busy: dict[Connection, _Task] = {}
        rescues: deque[tuple[Job, Outcome]] = deque()
        more = True
        try:
            while True:
                while (rescues or more) and len(busy) < self.workers:
                    if rescues:
                        job, first = rescues.popleft()
                    else:
                        job, first = next(jobs, None), None  # type: ignore[assignment]
                        if job is None:
                            more = False
                            break
                    task = self._hand(job, idle, first)
                    if isinstance(task, Outcome):
                        yield from _settled(job, first, task, rescues)
                    else:
                        busy[task.worker.conn] = task
                if not busy:
                    return
                deadline = min(t.started + t.job.options.timeout for t in busy.values())
                for ready in wait(list(busy), timeout=max(0.0, deadline - time.monotonic())):
                    task = busy.pop(cast(Connection, ready))
                    yield from _settled(task.job, task.first, self._collect(task, idle), rescues)
                now = time.monotonic()
                for conn, task in list(busy.items()):
                    if now >= task.started + task.job.options.timeout:
                        del busy[conn]
                        _stop(task.worker)
                        limit = stopped(task.job, "time-limit", f"stopped at the time limit ({task.job.options.timeout:g} s)",
                                        now - task.started)
                        yield from _settled(task.job, task.first, limit, rescues)
        finally:
            for worker in [*idle, *(t.worker for t in busy.values())]:
                _stop(worker)

    def _hand(self, job: Job, idle: list[_Worker], first: Outcome | None = None) -> _Task | Outcome:
        """Give ``job`` to an idle worker, or to a new one if none is left or the idle one died
        meanwhile; a worker that cannot start makes the job's outcome ``worker-died``."""
        while idle:
            worker = idle.pop()
            try:
                worker.conn.send(job)
                return _Task(worker, job, time.monotonic(), first)
            except OSError:
                _stop(worker)
        started = time.monotonic()
        parent, child = self._context.Pipe()
        process = self._context.Process(target=serve, args=(child, job.options.max_memory),
                                        name="permaudit-worker", daemon=True)
        process.start()
        child.close()  # the parent keeps one end only, so a dead worker reads as end of file
        worker = _Worker(process, parent)
        try:  # the time limit is the audit's: a fresh interpreter's start-up is not charged to it
            if not parent.poll(_START_LIMIT):
                raise EOFError
            parent.recv()
            parent.send(job)
        except (EOFError, OSError):
            _stop(worker)
            return stopped(job, "worker-died", f"the worker auditing it could not start ({_how(process)})", time.monotonic() - started)
        return _Task(worker, job, time.monotonic(), first)

    def _collect(self, task: _Task, idle: list[_Worker]) -> Outcome:
        try:
            outcome: Outcome = task.worker.conn.recv()
        except (EOFError, OSError):
            _stop(task.worker)
            return stopped(task.job, "worker-died", f"the worker auditing it died ({_how(task.worker.process)})",
                           time.monotonic() - task.started)
        if outcome.replace_worker:
            _stop(task.worker)
        else:
            idle.append(task.worker)
        return outcome


def _settled(job: Job, first: Outcome | None, result: Outcome, rescues: deque[tuple[Job, Outcome]]) -> Iterator[Outcome]:
    """The outcome to yield for ``job``: none yet when its worker was stopped and a rescue is queued."""
    if first is not None:
        yield rescued(first, result)
        return
    retry = rescue_job(job) if result.stop else None
    if retry is None:
        yield result
    else:
        rescues.append((retry, result))


def serve(conn: Connection, max_memory: int) -> None:
    """A worker's life: audit each job the parent sends, send back its outcome, until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    gc.freeze()  # what a forked worker inherits is never garbage: collections skip it (3% of the CPU)
    limit_memory(max_memory)
    conn.send(None)  # ready
    while True:
        try:
            job: Job = conn.recv()
        except (EOFError, OSError):
            return
        outcome = audit_job(job)
        try:
            conn.send(outcome)
        except OSError:  # the parent is gone: nobody wants the result
            return
        if outcome.replace_worker:
            return


def _die_with_parent() -> None:
    """Ask Linux to kill this worker when its parent dies, so a killed scan leaves no worker
    auditing for nobody (elsewhere a worker ends when it next reads its closed pipe)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def limit_memory(megabytes: int) -> bool:
    """Let this process grow by at most ``megabytes`` of address space from here on, so an
    allocation past it raises ``MemoryError`` instead of taking the machine. Linux only (elsewhere
    the kernel does not enforce it); ``False`` when it could not be set."""
    try:
        import resource

        with open("/proc/self/statm", encoding="ascii") as statm:
            now = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        limit = now + megabytes * 1024 * 1024
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, OSError, ValueError):
        return False
    return True


def _stop(worker: _Worker) -> None:
    if worker.process.is_alive():
        worker.process.kill()
    worker.process.join()
    worker.conn.close()


def _how(process: BaseProcess) -> str:
    process.join(timeout=5)
    code = process.exitcode
    if code is None:
        return "no exit status"
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else f"signal {-code}"
        hint = "; the system may have run out of memory" if name == "SIGKILL" else ""
        return f"killed by {name}{hint}"
    return f"exit code {code}"
