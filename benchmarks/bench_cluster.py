"""Throughput of the same inputs on a local Dask cluster of 1 and 2 workers, and on LocalPool(1)/(2).

Inputs: every file of ``../shared/corpus/apk``, every folder of ``../shared/corpus/dex`` and every
fixture APK. Each executor audits all of them once (``--repeat`` times, best kept); the time is
the wall clock of ``run`` alone, so each pool's start-up is reported apart (a Dask cluster's
scheduler and workers, not the audit children: those start with the first job and are in the
time, as in a real scan). Every executor must give the same results; a difference is printed.

    python benchmarks/bench_cluster.py [--corpus DIR] [--repeat N] [--timeout S]

LocalPool runs first, while this process has one thread, so it forks its workers as the CLI does;
a Dask worker has threads, so its audit children are spawned.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from permaudit.batch.cluster import DaskPool
from permaudit.batch.jobs import AuditOptions, Job, Outcome, input_key
from permaudit.batch.local import LocalPool

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"


def inputs(corpus: Path) -> list[Path]:
    """Every corpus APK and dex-dump folder, and every fixture APK."""
    apks = sorted(p for p in (corpus / "apk").iterdir() if p.is_file()) if (corpus / "apk").is_dir() else []
    dex = sorted(p for p in (corpus / "dex").iterdir() if p.is_dir()) if (corpus / "dex").is_dir() else []
    return apks + dex + sorted((ROOT / "fixtures").glob("**/*.apk"))


def measure(open_pool: Callable[[], AbstractContextManager[Any]], jobs: list[Job], repeat: int) -> tuple[float, float, dict[str, dict[str, Any]]]:
    """(start-up seconds, best seconds for all jobs, results by path)."""
    started = time.perf_counter()
    with open_pool() as pool:
        startup = time.perf_counter() - started
        best, results = float("inf"), {}
        for _ in range(repeat):
            started = time.perf_counter()
            outcomes: list[Outcome] = list(pool.run(iter(jobs)))
            best = min(best, time.perf_counter() - started)
            results = {o.path: o.result.to_dict() for o in outcomes}
    return startup, best, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--repeat", type=int, default=1, help="passes per executor; the fastest counts")
    parser.add_argument("--timeout", type=float, default=600.0, help="per-input time limit, seconds")
    args = parser.parse_args()

    paths = inputs(args.corpus)
    options = AuditOptions(timeout=args.timeout)
    jobs = [Job(str(p), input_key(p), options) for p in paths]
    megabytes = sum(_size(p) for p in paths) / 2**20
    print(f"{len(jobs)} inputs, {megabytes:.1f} MB, best of {args.repeat}\n")

    executors: list[tuple[str, Callable[[], AbstractContextManager[Any]]]] = [
        ("LocalPool(1)", lambda: nullcontext(LocalPool(1))),
        ("LocalPool(2)", lambda: nullcontext(LocalPool(2))),
        ("DaskPool(local_workers=1)", lambda: DaskPool(local_workers=1)),
        ("DaskPool(local_workers=2)", lambda: DaskPool(local_workers=2)),
    ]
    rows: list[tuple[str, float, float]] = []
    reference: dict[str, dict[str, Any]] | None = None
    for name, open_pool in executors:
        startup, seconds, results = measure(open_pool, jobs, args.repeat)
        rows.append((name, startup, seconds))
        if reference is None:
            reference = results
        differ = sorted(p for p in reference if results.get(p) != reference[p])
        if differ or len(results) != len(reference):
            print(f"{name}: {len(differ)} results differ from {executors[0][0]}'s: {differ[:3]}")

    print(f"{'executor':28} {'start-up s':>10} {'run s':>8} {'files/s':>8}")
    for name, startup, seconds in rows:
        print(f"{name:28} {startup:10.2f} {seconds:8.2f} {len(jobs) / seconds:8.1f}")
    by_name = {name: seconds for name, _, seconds in rows}
    print()
    for two, one in (("LocalPool(2)", "LocalPool(1)"), ("DaskPool(local_workers=2)", "DaskPool(local_workers=1)"),
                     ("DaskPool(local_workers=1)", "LocalPool(1)"), ("DaskPool(local_workers=2)", "LocalPool(2)")):
        print(f"{two} / {one}: {by_name[one] / by_name[two]:.2f}x the throughput")


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(f.stat().st_size for f in path.iterdir() if f.is_file())


if __name__ == "__main__":
    main()
