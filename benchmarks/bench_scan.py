"""`permaudit scan` on the corpus plus every fixture: workers against one worker, against one CLI
process per file, and against androguard's full analysis of the same files, all in the same run.

* ``scan --jobs N`` for N = 1 and 2 (or ``--jobs-list``): wall clock of the whole CLI run,
  the kinds of run interleaved over ``--repeat`` rounds so that both meet the same load (best
  and median), files/s, and the check that every input has exactly one result and no
  traceback reached stderr;
* ``machine ceiling``: in the same rounds, one CPU-bound Python process against two at once:
  what this machine's cores give two processes at best (a shared virtual machine gives less
  than 2x, and less still when its host is busy);
* ``per-file CLI``: ``permaudit audit INPUT --format json`` once per input, one process each;
* ``interrupted``: a ``--jobs 2`` scan killed (SIGKILL) after half its results, then resumed:
  every input must be in the store and in the log exactly once;
* ``--thousand N``: N distinct APKs (the fixtures, each copy given its own zip comment, so
  its bytes and SHA-256 differ) scanned with ``--jobs 2``: files/s, the parent's peak memory
  (it must not grow with the number of results), the store's size; then the same scan
  killed midway and resumed, every input recorded exactly once;
* ``androguard``: ``AnalyzeAPK`` of each APK in a subprocess (the dex dumps have no APK),
  summed; skipped with ``--skip-androguard``.

Every process runs with a warm bytecode cache, as an installed tool has (``PYTHONPYCACHEPREFIX``
in a temporary folder, one untimed warm-up run; ``--cold-bytecode`` leaves the environment's).

    python benchmarks/bench_scan.py [--repeat 5] [--skip-androguard]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
ANDROGUARD = "from loguru import logger; logger.disable('androguard'); import sys; from androguard.misc import AnalyzeAPK; AnalyzeAPK(sys.argv[1])"
PERMAUDIT = [sys.executable, "-m", "permaudit"]
ENV = dict(os.environ)
SPIN = "s = 0\nfor i in range(12_000_000): s += i * i"


def inputs() -> list[Path]:
    """Every corpus APK, every TaintBench dump folder, every committed fixture."""
    return (sorted((CORPUS / "apk").glob("*.apk")) + sorted(p for p in (CORPUS / "dex").iterdir() if p.is_dir())
            + sorted((ROOT / "fixtures" / "apk").iterdir()))


def scan_once(paths: list[Path], jobs: int, work: Path) -> tuple[float, float, int, int]:
    """(seconds of the whole process, seconds the scan reports for itself (from the first input
    handed out to the last result written), lines in the log, tracebacks) of one fresh scan."""
    log, db = work / f"scan{jobs}.jsonl", work / f"scan{jobs}.db"
    for stale in (log, db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        stale.unlink(missing_ok=True)
    start = time.perf_counter()
    proc = subprocess.run([*PERMAUDIT, "scan", *map(str, paths), "--jobs", str(jobs), "--db", str(db), "--jsonl", str(log)],
                          capture_output=True, text=True, check=False, env=ENV)
    seconds = time.perf_counter() - start
    reported = re.search(r" audited in ([\d.]+) s ", proc.stderr)
    return (seconds, float(reported.group(1)) if reported else float("nan"),
            len(log.read_text(encoding="utf-8").splitlines()), proc.stderr.count("Traceback"))


def per_file(paths: list[Path]) -> tuple[float, int]:
    start, tracebacks = time.perf_counter(), 0
    for path in paths:
        proc = subprocess.run([*PERMAUDIT, "audit", str(path), "--format", "json", "-o", os.devnull],
                              capture_output=True, text=True, check=False, env=ENV)
        tracebacks += proc.stderr.count("Traceback")
    return time.perf_counter() - start, tracebacks


def interrupted(paths: list[Path], work: Path, paths_given: list[Path] | None = None) -> tuple[int, int, int, int]:
    """(lines before the kill, lines after resuming, distinct inputs in the log, apps in the store)."""
    log, db = work / "killed.jsonl", work / "killed.db"
    for stale in (log, db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        stale.unlink(missing_ok=True)
    argv = [*PERMAUDIT, "scan", *map(str, paths_given or paths), "--jobs", "2", "--db", str(db), "--jsonl", str(log)]
    proc = subprocess.Popen(argv, stderr=subprocess.DEVNULL, start_new_session=True, env=ENV)
    while proc.poll() is None and (not log.exists() or log.read_bytes().count(b"\n") < len(paths) // 2):
        time.sleep(0.01)
    proc.kill()
    proc.wait()
    before = log.read_bytes().count(b"\n")
    subprocess.run([*argv, "--resume"], capture_output=True, check=False, env=ENV)
    keys = [json.loads(line)["input"]["sha256"] for line in log.read_text(encoding="utf-8").splitlines()]
    import sqlite3

    with sqlite3.connect(db) as connection:
        apps = connection.execute("SELECT count(*) FROM apps").fetchone()[0]
    return before, len(keys), len(set(keys)), apps


def variants(count: int, folder: Path) -> list[Path]:
    """``count`` distinct APKs: the fixture APKs in turn, each copy with its own zip comment."""
    sources = sorted((ROOT / "fixtures" / "apk").glob("*.apk"))
    folder.mkdir()
    made = []
    for number in range(count):
        data = sources[number % len(sources)].read_bytes()
        end = data.rfind(b"PK\x05\x06")
        comment = f"variant {number}".encode()
        target = folder / f"{number:05}-{sources[number % len(sources)].name}"
        target.write_bytes(data[: end + 20] + len(comment).to_bytes(2, "little") + comment)
        made.append(target)
    return made


def thousand(count: int, work: Path) -> None:
    made = variants(count, work / "thousand")
    db, log = work / "thousand.db", work / "thousand.jsonl"
    taken: dict[int, float] = {}
    for jobs in (1, 2):
        for stale in (log, db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            stale.unlink(missing_ok=True)
        argv = [*PERMAUDIT, "scan", str(work / "thousand"), "--jobs", str(jobs), "--db", str(db), "--jsonl", str(log)]
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, env=ENV)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, _peak_kb(proc.pid))
            time.sleep(0.2)
        taken[jobs] = time.perf_counter() - start
        err = proc.stderr.read() if proc.stderr else ""
        print(f"{count} distinct APKs, --jobs {jobs}: {taken[jobs]:.1f} s, {count / taken[jobs]:.1f} files/s; parent peak {peak / 1024:.0f} MB; "
              f"store {db.stat().st_size / 1e6:.1f} MB, log {log.stat().st_size / 1e6:.1f} MB; {err.count('Traceback')} tracebacks")
    print(f"  throughput --jobs 2 / --jobs 1: {taken[1] / taken[2]:.2f}x")
    before, after, distinct, apps = interrupted(made, work, paths_given=[work / "thousand"])
    print(f"  killed after {before} results, resumed: {after} lines, {distinct} distinct inputs, {apps} apps in the store "
          f"({'none lost, none twice' if after == distinct == apps == count else 'MISMATCH'})")


def _peak_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            return next((int(line.split()[1]) for line in status if line.startswith("VmHWM:")), 0)
    except OSError:
        return 0


def spin(processes: int) -> float:
    """Seconds for ``processes`` copies of one CPU-bound loop started together."""
    start = time.perf_counter()
    running = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(processes)]
    for proc in running:
        proc.wait()
    return time.perf_counter() - start


def androguard(paths: list[Path], timeout: float) -> tuple[float, int]:
    total, done = 0.0, 0
    for apk in (p for p in paths if p.is_file() and p.suffix == ".apk"):
        start = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, "-c", ANDROGUARD, str(apk)], capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            continue
        if proc.returncode == 0:
            total += time.perf_counter() - start
            done += 1
    return total, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--jobs-list", default="1,2")
    parser.add_argument("--skip-androguard", action="store_true")
    parser.add_argument("--thousand", type=int, default=0, metavar="N", help="also scan N distinct fixture variants (e.g. 1000)")
    parser.add_argument("--androguard-timeout", type=float, default=300)
    parser.add_argument("--cold-bytecode", action="store_true", help="leave PYTHONDONTWRITEBYTECODE / the bytecode cache as the environment has them")
    args = parser.parse_args()
    paths = inputs()
    print(f"{len(paths)} inputs ({sum(p.is_file() for p in paths)} files, {sum(p.is_dir() for p in paths)} dex folders), "
          f"{os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if not args.cold_bytecode:
            ENV.pop("PYTHONDONTWRITEBYTECODE", None)
            ENV["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        jobs_list = [int(j) for j in args.jobs_list.split(",")]
        scan_once(paths, 1, work)  # warm-up: bytecode cache, page cache
        times: dict[int, list[float]] = {j: [] for j in jobs_list}
        inside: dict[int, list[float]] = {j: [] for j in jobs_list}
        spins: dict[int, list[float]] = {1: [], 2: []}
        tracebacks, lines = 0, {}
        for _ in range(args.repeat):
            for jobs in jobs_list:
                seconds, reported, lines[jobs], crashes = scan_once(paths, jobs, work)
                times[jobs].append(seconds)
                inside[jobs].append(reported)
                tracebacks += crashes
            for processes, taken in spins.items():
                taken.append(spin(processes))
        for jobs in jobs_list:
            best, median = min(times[jobs]), statistics.median(times[jobs])
            print(f"scan --jobs {jobs}: best {best:.2f} s ({len(paths) / best:.1f} files/s), median {median:.2f} s "
                  f"({len(paths) / median:.1f} files/s); {lines[jobs]} results for {len(paths)} inputs")
        print(f"tracebacks in {args.repeat * len(jobs_list)} scans: {tracebacks}")
        low, high = min(jobs_list), max(jobs_list)
        ratios = sorted(a / b for a, b in zip(times[low], times[high]))
        print(f"throughput --jobs {high} / --jobs {low}: {min(times[low]) / min(times[high]):.2f}x best to best, "
              f"{statistics.median(times[low]) / statistics.median(times[high]):.2f}x median to median "
              f"(per round: {', '.join(f'{r:.2f}' for r in ratios)})")
        own = sorted(a / b for a, b in zip(inside[low], inside[high]))
        print(f"  as the scan reports its own time (interpreter start-up, imports and exit left out): "
              f"--jobs {low} median {statistics.median(inside[low]):.2f} s, --jobs {high} {statistics.median(inside[high]):.2f} s, "
              f"{statistics.median(inside[low]) / statistics.median(inside[high]):.2f}x median to median "
              f"(per round: {', '.join(f'{r:.2f}' for r in own)})")
        ceiling = sorted(2 * a / b for a, b in zip(spins[1], spins[2]))
        print(f"machine ceiling, 2 CPU-bound processes / 1: {statistics.median(ceiling):.2f}x median "
              f"(per round: {', '.join(f'{r:.2f}' for r in ceiling)})")
        one, many = statistics.median(times[low]), statistics.median(times[high])
        seconds, tracebacks = per_file(paths)
        print(f"per-file CLI: {seconds:.2f} s, {len(paths) / seconds:.1f} files/s, {tracebacks} tracebacks; "
              f"scan --jobs {high} is {seconds / many:.1f}x faster, --jobs {low} {seconds / one:.1f}x (medians)")
        before, after, distinct, apps = interrupted(paths, work)
        print(f"killed after {before} results, resumed: {after} lines, {distinct} distinct inputs, {apps} apps in the store, "
              f"for {len(paths)} inputs ({'none lost, none twice' if after == distinct == apps == len(paths) else 'MISMATCH'})")
        if args.thousand:
            thousand(args.thousand, work)
        if not args.skip_androguard:
            total, done = androguard(paths, args.androguard_timeout)
            print(f"androguard AnalyzeAPK, one process per APK: {total:.1f} s over {done} APKs "
                  f"({done / total:.1f} files/s); scan --jobs {high} covers all {len(paths)} inputs {total / many:.1f}x faster")


if __name__ == "__main__":
    main()
