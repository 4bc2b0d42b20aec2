"""The whole corpus through the CLI, against androguard's full analysis of the same files in the same run.

* ``permaudit``: one ``permaudit audit <every corpus input> --format json`` process, wall
  clock and peak memory, and how many results are complete, partial and failed (every
  input must give a result and no traceback);
* ``androguard``: ``AnalyzeAPK`` of each corpus APK (the dex dumps have no APK), each in a
  subprocess with its own time limit, summed; the ratio is over the APKs both ran.

    python benchmarks/bench_corpus.py [--corpus DIR] [--skip-androguard] [--androguard-timeout S]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
ANDROGUARD = "from loguru import logger; logger.disable('androguard'); import sys; from androguard.misc import AnalyzeAPK; AnalyzeAPK(sys.argv[1])"


def inputs(corpus: Path) -> list[Path]:
    """Every APK, and every TaintBench dump folder, of the corpus."""
    return sorted((corpus / "apk").glob("*.apk")) + sorted(p for p in (corpus / "dex").iterdir() if p.is_dir())


def run_permaudit(paths: list[Path]) -> dict[str, object]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "permaudit", "audit", *map(str, paths), "--format", "json"], capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    results = json.loads(proc.stdout)["results"]
    statuses = {s: sum(r["status"] == s for r in results) for s in ("complete", "partial", "failed")}
    return {
        "seconds": seconds,
        "rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "results": len(results),
        "statuses": statuses,
        "tracebacks": proc.stderr.count("Traceback"),
        "exit": proc.returncode,
    }


def run_androguard(apks: list[Path], timeout: float) -> tuple[float, int, int]:
    """(seconds over the APKs it finished, how many finished, how many failed or timed out)."""
    total, done, failed = 0.0, 0, 0
    for apk in apks:
        start = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, "-c", ANDROGUARD, str(apk)], capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            failed += 1
            continue
        if proc.returncode == 0:
            total += time.perf_counter() - start
            done += 1
        else:
            failed += 1
    return total, done, failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--skip-androguard", action="store_true")
    parser.add_argument("--androguard-timeout", type=float, default=300)
    args = parser.parse_args()
    paths = inputs(args.corpus)
    ours = run_permaudit(paths)
    print(f"permaudit CLI, {len(paths)} inputs in one process: {ours['seconds']:.1f} s wall clock, {ours['rss_mb']:.0f} MB peak")
    print(f"  results {ours['results']}: {ours['statuses']}; tracebacks {ours['tracebacks']}; exit {ours['exit']}")
    if args.skip_androguard:
        return
    apks = [p for p in paths if p.suffix == ".apk"]
    seconds, done, failed = run_androguard(apks, args.androguard_timeout)
    print(f"androguard AnalyzeAPK, one process per APK: {seconds:.1f} s over the {done} APKs it read ({failed} failed or timed out)")
    print(f"  permaudit on the whole corpus (APKs and dumps) is {seconds / ours['seconds']:.1f}x faster than androguard on those {done} APKs")  # type: ignore[operator]


if __name__ == "__main__":
    main()
