"""Audits on a Dask cluster, for a scan bigger than one machine: the executor contract of ``LocalPool``.

The client submits a bounded number of jobs at a time and yields each outcome as it finishes; the
scan writes it to the store here, in the client, so resuming works as it does locally. On a Dask
worker each task hands its job to a ``LocalPool(1)`` kept between tasks (one per worker thread,
owned by a worker plugin), so every audit still runs in a child process under the job's time and
memory limits: a runaway child is killed and recorded as ``time-limit``/``memory-limit`` and the
Dask worker goes on. A Dask worker that dies under a task (``KilledWorker`` once the scheduler
gives up retrying it) is recorded as ``worker-died``. ``distributed`` is imported only when a pool
is opened, so permaudit works without the ``dask`` extra. See docs/cluster.md.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import logging
import multiprocessing
import os
import queue
import signal
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Generator, Iterator
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any, Self

from permaudit.batch.jobs import Job, Outcome, audit_job, refused_unread, stopped
from permaudit.batch.jobs import outcome as outcome_of
from permaudit.batch.local import LocalPool
from permaudit.errors import PermauditError, one_line
from permaudit.loading.walk import is_dex_folder
from permaudit.model.record import record

CONNECT_TIMEOUT = 10.0
"""Seconds to reach the scheduler before giving up: a typo in the address should fail fast."""
WORKER_TIMEOUT = 120.0
"""Seconds to wait for the first worker to join a scheduler that has none."""
IN_FLIGHT_PER_THREAD = 2
"""Jobs submitted per worker thread: one running, one queued beside it so no thread waits for the client."""
_RESIZE_EVERY = 5.0
"""Seconds between looks at how many worker threads the cluster has (it may grow or shrink)."""
_PLUGIN = "permaudit-audit-slots"
LOOPBACK_HTTP = {"dashboard_address": "127.0.0.1:0"}
"""The scheduler's HTTP server (health and metrics routes; no dashboard) on a free loopback port, not on
8787: another cluster on the machine may hold that."""
NOT_DAEMONIC = ("a Dask worker process is daemonic, so it cannot start the child processes that enforce the "
                "time and memory limits: start workers with DASK_DISTRIBUTED__WORKER__DAEMON=False (docs/cluster.md)")


class ClusterError(PermauditError):
    """The cluster cannot run the scan: the extra is missing, the scheduler is unreachable, a worker is misconfigured."""


class DaskPool:
    """Jobs audited on Dask workers: those of the scheduler at ``address``, or of a cluster of
    ``local_workers`` processes on 127.0.0.1 started and closed with the pool. ``send_bytes``: the
    client reads each input and ships its bytes, so workers need no access to the inputs.

    Use it as a context manager (``with DaskPool(...) as pool``), which connects once for many
    ``run`` calls; ``run`` outside one connects for that call only.
    """

    def __init__(self, address: str | None = None, *, local_workers: int = 0, send_bytes: bool = False,
                 connect_timeout: float = CONNECT_TIMEOUT, quiet: bool = True) -> None:
        if (address is None) == (local_workers < 1):
            raise ValueError("DaskPool takes a scheduler address or a number of local workers, one of the two")
        self.address = address
        self.local_workers = local_workers
        self.send_bytes = send_bytes
        self.connect_timeout = connect_timeout
        self.quiet = quiet
        self._stack: contextlib.ExitStack | None = None
        self._client: Any = None

    def __enter__(self) -> Self:
        distributed = _distributed()
        stack = contextlib.ExitStack()
        try:
            self._client = stack.enter_context(self._connect(distributed, stack))
            self._client.register_plugin(_slots_plugin(distributed), name=_PLUGIN)
        except BaseException:
            stack.close()
            raise
        self._stack = stack
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Disconnect, and stop the local cluster if the pool started one."""
        if self._stack is not None:
            self._stack.close()
        self._stack = None
        self._client = None

    def run(self, jobs: Iterator[Job]) -> Iterator[Outcome]:
        """Audit ``jobs`` on the cluster, pulling one only when there is room for it; yield each
        outcome as it finishes. On exit the jobs not yet finished are cancelled (one already running
        on a worker stops at its time limit at the latest)."""
        with contextlib.ExitStack() as own:
            if self._client is None:
                own.enter_context(self)
            yield from self._run(self._client, jobs)

    def _connect(self, distributed: ModuleType, stack: contextlib.ExitStack) -> Any:
        """A client of the scheduler at ``address``, or of a new local cluster kept open by ``stack``."""
        address = self.address
        if address is None:
            import dask

            # Held while the cluster lives, not just while it starts: its nannies read this each time
            # they (re)start a worker process, and a daemonic worker cannot start audit children.
            stack.enter_context(dask.config.set({"distributed.worker.daemon": False}))
            with _sigint_ignored():
                cluster = stack.enter_context(distributed.LocalCluster(
                    n_workers=self.local_workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                    dashboard_address=None, scheduler_kwargs=LOOPBACK_HTTP,
                    silence_logs=logging.CRITICAL if self.quiet else logging.WARNING))
            address = cluster.scheduler_address
        try:
            return distributed.Client(address, timeout=self.connect_timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ClusterError(f"cannot reach the Dask scheduler at {address} within {self.connect_timeout:g} s: {one_line(exc)}") from None

    def _run(self, client: Any, jobs: Iterator[Job]) -> Iterator[Outcome]:
        distributed = _distributed()
        _wait_for_workers(client)
        finished = distributed.as_completed(loop=client.loop)
        running: dict[Any, tuple[Job, float]] = {}
        room, looked = _room(client), time.monotonic()
        more = True
        try:
            while True:
                while more and len(running) < room:
                    job = next(jobs, None)
                    if job is None:
                        more = False
                        break
                    shipped = _ship(Path(job.path)) if self.send_bytes else None
                    if self.send_bytes and shipped is None:
                        yield audit_job(job)  # refused before reading (missing, special, too large): say why from here
                        continue
                    future = _submit(client, job, shipped)
                    running[future] = (job, time.monotonic())
                    finished.add(future)
                if not running:
                    return
                future = next(finished)
                job, started = running.pop(future)
                yield _outcome(distributed, future, job, time.monotonic() - started)
                if time.monotonic() - looked > _RESIZE_EVERY:
                    room, looked = _room(client), time.monotonic()
        finally:
            if running:
                client.cancel(list(running), force=True)


@record
class Shipped:
    """An input's bytes, for a worker that cannot read the input: a file, or a dex-dump folder's top-level files."""

    name: str
    folder: bool
    files: tuple[tuple[str, bytes], ...]

    def write(self, into: Path) -> Path:
        """Recreate the input under ``into`` with its own name (results name its files), and return its path."""
        target = into / self.name
        if self.folder:
            target.mkdir()
            for name, data in self.files:
                (target / name).write_bytes(data)
        else:
            target.write_bytes(self.files[0][1])
        return target


def _ship(path: Path) -> Shipped | None:
    """``path``'s bytes; None when loading refuses it before reading (missing, not a regular file or
    dex folder, over the package limit, unreadable), which the client can then report in no time."""
    try:
        if is_dex_folder(path):
            files = tuple((p.name, p.read_bytes()) for p in sorted(path.iterdir()) if p.is_file())
            return Shipped(path.name, True, files)
        if path.is_dir() or refused_unread(path):
            return None
        return Shipped(path.name, False, ((path.name, path.read_bytes()),))
    except OSError:
        return None


def _submit(client: Any, job: Job, shipped: Shipped | None) -> Any:
    """Submit ``job``: by its absolute path (a worker's working folder is not the client's), or with
    its bytes, scattered rather than put in the task (Dask warns about, and slows on, big tasks)."""
    key = f"permaudit-audit-{job.key[:12]}-{uuid.uuid4().hex[:8]}"
    if shipped is None:
        return client.submit(_audit_on_worker, dataclasses.replace(job, path=os.path.abspath(job.path)), None, job.path,
                             key=key, pure=False)
    return client.submit(_audit_on_worker, job, client.scatter(shipped, hash=False), job.path, key=key, pure=False)


@contextlib.contextmanager
def _sigint_ignored() -> Generator[None, None, None]:
    """SIGINT ignored while the local cluster starts its processes, which inherit that (Python and
    asyncio leave an ignored SIGINT ignored): Ctrl-C on the scan reaches the whole process group,
    and the client, not each nanny with a traceback, decides how the run stops."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: signals are not ours to set here
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _outcome(distributed: ModuleType, future: Any, job: Job, seconds: float) -> Outcome:
    """The task's outcome; a worker that died under it is the job's ``worker-died``; any other
    failure is the cluster's, not the input's, and stops the scan rather than record a false result."""
    try:
        outcome: Outcome = future.result()
    except distributed.KilledWorker as exc:
        return stopped(job, "worker-died", f"the Dask worker auditing it died ({one_line(exc)})", seconds)
    except ClusterError:
        raise
    except Exception as exc:  # noqa: BLE001  (whatever it is, it ends the scan, as one line)
        raise ClusterError(f"a Dask worker could not audit {job.path}: {type(exc).__name__}: {one_line(exc)}") from None
    finally:
        future.release()
    return outcome


def _room(client: Any) -> int:
    threads = sum(w["nthreads"] for w in client.scheduler_info()["workers"].values())
    return max(1, int(threads)) * IN_FLIGHT_PER_THREAD


def _wait_for_workers(client: Any) -> None:
    try:
        client.wait_for_workers(1, timeout=WORKER_TIMEOUT)
    except TimeoutError:
        raise ClusterError(f"no Dask worker joined the scheduler at {client.scheduler.address} within {WORKER_TIMEOUT:g} s") from None


def _distributed() -> ModuleType:
    try:
        import distributed
    except ImportError:
        raise ClusterError("Dask is not installed: pip install 'permaudit[dask]'") from None
    return distributed


# -- on the worker ------------------------------------------------------------------------------


def _audit_on_worker(job: Job, shipped: Shipped | None, shown: str) -> Outcome:
    """A task: audit ``job`` in a child process of this Dask worker (a shipped input written to a
    private folder first), and report it under ``shown``, the path the client named."""
    from distributed import get_worker

    slots: _AuditSlots = get_worker().plugins[_PLUGIN].slots  # type: ignore[attr-defined]  # our SlotsPlugin
    if shipped is None:
        outcome = slots.audit(job)
    else:
        with tempfile.TemporaryDirectory(prefix="permaudit-") as folder:
            job = dataclasses.replace(job, path=str(shipped.write(Path(folder))))
            outcome = slots.audit(job)
    if job.path == shown:
        return outcome
    return outcome_of(shown, outcome.key, _renamed(outcome.result, job.path, shown), outcome.seconds,
                      replace_worker=outcome.replace_worker, stop=outcome.stop)


class _AuditSlots:
    """One ``_Slot`` per worker thread running a task, created when first needed; torn down with the worker."""

    def __init__(self) -> None:
        self._idle: queue.SimpleQueue[_Slot] = queue.SimpleQueue()
        self._all: list[_Slot] = []

    def audit(self, job: Job) -> Outcome:
        if multiprocessing.current_process().daemon:
            raise ClusterError(NOT_DAEMONIC)
        try:
            slot = self._idle.get_nowait()
        except queue.Empty:
            slot = _Slot()
            self._all.append(slot)
        try:
            return slot.audit(job)
        finally:
            self._idle.put(slot)

    def close(self) -> None:
        for slot in self._all:
            slot.close()


class _Slot:
    """A ``LocalPool(1)`` kept running between tasks: its job feed is refilled just before each
    outcome is asked for, so its child process (and the imports it paid for) serves task after task."""

    def __init__(self) -> None:
        self._feed: deque[Job] = deque()
        self._memory = -1
        self._outcomes: Iterator[Outcome] | None = None

    def audit(self, job: Job) -> Outcome:
        outcomes = self._outcomes
        if outcomes is None or job.options.max_memory != self._memory:  # a child's limit is set when it starts
            self.close()
            self._memory = job.options.max_memory
            outcomes = self._outcomes = LocalPool(1).run(iter(self._feed.popleft, None))
        self._feed.append(job)
        return next(outcomes)

    def close(self) -> None:
        """Kill the child, if any (closing the pool's generator runs its clean-up). A task still
        running in it (the worker is being torn down under it) keeps it: its child dies with the
        worker process (the kernel kills a worker's child when its parent goes, docs/batch.md)."""
        if isinstance(self._outcomes, Generator):
            try:
                self._outcomes.close()
            except ValueError:  # "generator already executing": in another thread, right now
                pass


def _slots_plugin(distributed: ModuleType) -> Any:
    """The worker plugin that gives each Dask worker its ``_AuditSlots``. Its class is made here, as
    a plugin must subclass ``WorkerPlugin`` and ``distributed`` is imported only when a pool opens;
    Dask ships a class made at run time to the workers by value (cloudpickle)."""

    class SlotsPlugin(distributed.WorkerPlugin):  # type: ignore[misc, name-defined]
        idempotent = True  # a later scan's registration keeps the running audit children (and their imports)
        slots: _AuditSlots

        def setup(self, worker: Any) -> None:
            self.slots = _AuditSlots()

        def teardown(self, worker: Any) -> None:
            self.slots.close()

    return SlotsPlugin()


def _renamed(value: Any, old: str, new: str) -> Any:
    """``value`` with ``old`` replaced by ``new`` in every string of it (dataclasses, tuples, lists, dicts)."""
    if isinstance(value, enum.Enum):
        return value
    if isinstance(value, str):
        return value.replace(old, new) if old in value else value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: _renamed(getattr(value, f.name), old, new) for f in dataclasses.fields(value) if f.init}
        return dataclasses.replace(value, **changes)
    if isinstance(value, (tuple, list)):
        return type(value)(_renamed(v, old, new) for v in value)
    if isinstance(value, dict):
        return {_renamed(k, old, new): _renamed(v, old, new) for k, v in value.items()}
    return value


__all__ = ["CONNECT_TIMEOUT", "IN_FLIGHT_PER_THREAD", "LOOPBACK_HTTP", "NOT_DAEMONIC", "WORKER_TIMEOUT", "ClusterError", "DaskPool", "Shipped"]
