"""DaskPool on a real ``distributed.LocalCluster`` on loopback (2 worker processes x 1 thread).

Each outcome is compared with ``permaudit.audit()`` run here on the same input; the limits are
checked on real inputs: the eight-dex benchmark APK (``../shared/bench``, skipped when absent)
takes seconds and hundreds of MB to audit, so a 0.5 s or 64 MB limit stops it every time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed")
import dask  # after the skip: both come with the dask extra

from permaudit import audit
from permaudit.batch.cluster import LOOPBACK_HTTP, ClusterError, DaskPool
from permaudit.batch.jobs import AuditOptions, Job, Outcome, input_key

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = sorted((ROOT / "fixtures" / "apk").iterdir())
SHARED = ROOT.parent / "shared"
MEGA = SHARED / "bench" / "mega-multidex.apk"
DEX_FOLDERS = sorted(p for p in (SHARED / "corpus" / "dex").glob("*") if p.is_dir())
needs_mega = pytest.mark.skipif(not MEGA.is_file(), reason=f"{MEGA} is absent (the shared benchmark inputs)")


@pytest.fixture(scope="module")
def cluster() -> Iterator[object]:
    # The nannies read the daemon setting at each worker (re)start; one allowed failure makes a
    # worker killed under a task KilledWorker at once instead of after three retries.
    with (dask.config.set({"distributed.worker.daemon": False, "distributed.scheduler.allowed-failures": 0}),
          distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                   dashboard_address=None, scheduler_kwargs=LOOPBACK_HTTP, silence_logs=40) as local):
        yield local


@pytest.fixture(scope="module")
def client(cluster: object) -> Iterator[object]:
    with distributed.Client(cluster, set_as_default=False) as c:
        yield c


@pytest.fixture(scope="module")
def pool(cluster: object) -> Iterator[DaskPool]:
    with DaskPool(cluster.scheduler_address) as p:  # type: ignore[attr-defined]
        yield p


@pytest.fixture(scope="module")
def expected() -> dict[str, dict[str, object]]:
    """In-process results, by path."""
    return {str(p): audit(str(p)).to_dict() for p in [*FIXTURES, *DEX_FOLDERS]}


def jobs(paths: Iterable[Path | str], **options: object) -> Iterator[Job]:
    for path in map(Path, paths):
        key = input_key(path) if path.exists() and not path.is_fifo() else "0" * 64
        yield Job(str(path), key, AuditOptions(**options))  # type: ignore[arg-type]


def by_path(outcomes: Iterable[Outcome]) -> dict[str, Outcome]:
    found: dict[str, Outcome] = {}
    for outcome in outcomes:
        assert outcome.path not in found, f"two outcomes for {outcome.path}"
        found[outcome.path] = outcome
    return found


def codes(outcome: Outcome) -> list[str]:
    return [p.code for p in outcome.result.problems]


def test_results_are_those_of_an_in_process_audit(pool: DaskPool, expected: dict[str, dict[str, object]]) -> None:
    outcomes = by_path(pool.run(jobs(FIXTURES)))
    assert set(outcomes) == {str(p) for p in FIXTURES}
    for path, outcome in outcomes.items():
        assert outcome.result.to_dict() == expected[path], path
        assert outcome.key == input_key(Path(path))


def test_sent_bytes_give_the_same_results_under_the_original_paths(pool: DaskPool, expected: dict[str, dict[str, object]],
                                                                  tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.apk"
    os.mkfifo(fifo)
    missing = tmp_path / "gone.apk"
    paths = [*FIXTURES, *DEX_FOLDERS, fifo, missing]
    with DaskPool(pool.address, send_bytes=True) as sending:
        outcomes = by_path(sending.run(jobs(paths)))
    assert set(outcomes) == set(map(str, paths))
    for path, outcome in outcomes.items():
        assert outcome.result.path == path
        if path in expected:
            assert outcome.result.to_dict() == expected[path], path
    assert "permaudit-" not in repr([o.result for o in outcomes.values()])  # no worker temp path leaks
    assert codes(outcomes[str(fifo)]) == ["special-file"]  # refused by the client, never opened
    assert codes(outcomes[str(missing)]) == ["missing-file"]


@needs_mega
def test_a_runaway_is_stopped_at_the_time_limit_and_the_workers_go_on(pool: DaskPool, client: object) -> None:
    pids = client.run(os.getpid)  # type: ignore[attr-defined]
    started = time.monotonic()
    (outcome,) = pool.run(jobs([MEGA], timeout=0.5))
    # the full audit takes over 2 s; audited again without the bytecode stage (0.1 s), it is partial
    assert codes(outcome) == ["time-limit"] and outcome.result.problems[0].severity.value == "partial"
    assert outcome.result.status.value == "partial" and outcome.result.manifest is not None and outcome.result.code is None
    assert 0.5 <= outcome.seconds < 1.5 and time.monotonic() - started < 3
    after = by_path(pool.run(jobs(FIXTURES[:4])))
    assert all(o.result.status.value == "complete" for o in after.values())
    assert client.run(os.getpid) == pids  # type: ignore[attr-defined]  # no Dask worker was replaced


@needs_mega
def test_a_runaway_is_stopped_at_the_memory_limit(pool: DaskPool) -> None:
    outcomes = by_path(pool.run(jobs([MEGA, FIXTURES[0]], max_memory=64)))
    assert codes(outcomes[str(MEGA)]) == ["memory-limit"]  # the manifest-only retry fits: partial
    assert outcomes[str(MEGA)].result.status.value == "partial" and outcomes[str(MEGA)].result.manifest is not None
    assert outcomes[str(FIXTURES[0])].result.status.value == "complete"


@needs_mega
def test_a_dask_worker_dying_under_a_task_is_recorded_and_the_scan_goes_on(pool: DaskPool, client: object) -> None:
    def kill_the_busy_worker() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            busy = [w for w, keys in client.processing().items() if keys]  # type: ignore[attr-defined]
            if busy:
                time.sleep(0.5)  # into the audit, which takes seconds
                pid = client.run(os.getpid, workers=busy)[busy[0]]  # type: ignore[attr-defined]
                os.kill(pid, signal.SIGKILL)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_the_busy_worker)
    killer.start()
    try:
        (outcome,) = pool.run(jobs([MEGA]))
    finally:
        killer.join()
    assert codes(outcome) == ["worker-died"]
    assert "Dask worker" in outcome.result.problems[0].message
    client.wait_for_workers(2, timeout=30)  # type: ignore[attr-defined]  # the nanny replaced it
    after = by_path(pool.run(jobs(FIXTURES[:2])))
    assert all(o.result.status.value == "complete" for o in after.values())


def test_jobs_are_pulled_as_room_frees_not_all_at_once(pool: DaskPool) -> None:
    pulled = 0

    def counted() -> Iterator[Job]:
        nonlocal pulled
        for job in jobs(FIXTURES):
            pulled += 1
            yield job

    outcomes = pool.run(counted())
    next(outcomes)
    assert pulled <= 4  # 2 workers x 1 thread x 2 in flight
    assert len(list(outcomes)) == len(FIXTURES) - 1
    assert pulled == len(FIXTURES)


def test_a_local_cluster_is_started_and_closed_with_the_pool(expected: dict[str, dict[str, object]]) -> None:
    before = dask.config.get("distributed.worker.daemon")
    with DaskPool(local_workers=1) as local:
        assert dask.config.get("distributed.worker.daemon") is False
        outcomes = by_path(local.run(jobs(FIXTURES[:3])))
    assert {p: o.result.to_dict() for p, o in outcomes.items()} == {str(p): expected[str(p)] for p in FIXTURES[:3]}
    assert dask.config.get("distributed.worker.daemon") == before  # the pool's setting ends with it


def test_an_unreachable_scheduler_is_one_line_error_quickly() -> None:
    started = time.monotonic()
    with pytest.raises(ClusterError) as caught, DaskPool("tcp://127.0.0.1:9", connect_timeout=1):
        pass
    assert time.monotonic() - started < 5
    assert "tcp://127.0.0.1:9" in str(caught.value) and "\n" not in str(caught.value)


def test_one_of_address_and_local_workers() -> None:
    with pytest.raises(ValueError):
        DaskPool()
    with pytest.raises(ValueError):
        DaskPool("tcp://127.0.0.1:8786", local_workers=2)


def test_without_the_extra_the_error_names_it() -> None:
    code = ("import sys; sys.modules['distributed'] = None\n"
            "from permaudit.batch.cluster import ClusterError, DaskPool\n"
            "try:\n    DaskPool(local_workers=1).__enter__()\n"
            "except ClusterError as exc:\n    print(exc)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.splitlines() == ["Dask is not installed: pip install 'permaudit[dask]'"]
