"""The bytecode stage against androguard's full analysis, on the same files in the same run.

Two kinds of measurement, each in fresh processes, ``--repeat`` times, medians reported:

* **end to end** (the headline): each tool as a whole process, timed from outside
  (``fork`` to exit, interpreter start-up, imports and teardown included), peak RSS from
  the child's own ``wait4`` rusage:

  - permaudit: ``python -m permaudit audit APK --format json`` (stdout to /dev/null);
  - androguard: ``AnalyzeAPK(APK)`` (every method decoded, xrefs built) then the contacts
    reading methods found the way the corpus labeller finds them (a method that reads a
    ContactsContract/Contacts URI field or a contacts URI string and calls a query API),
    the least that makes it produce a fact comparable to permaudit's;

* **in process**, import time apart from analysis time (a batch imports once):

  - ``permaudit``: ``permaudit.audit(path)``, the default path (manifest, bytecode, hybrid,
    endpoints, read-to-send paths);
  - ``androguard``: the same worker as above, its ``AnalyzeAPK`` timed inside;
  - ``floor``: inflate every dex from the zip and scan its bytes once with one regex, the
    least any analysis of the bytecode must do.

Both tools run with a warm bytecode cache, as an installed tool does: the children get
``PYTHONPYCACHEPREFIX`` pointing at a temporary folder (so nothing is written into the
source tree, even where ``PYTHONDONTWRITEBYTECODE`` is set) and one untimed warm-up run
each fills it. ``--cold-bytecode`` keeps the environment as it is instead.

    python benchmarks/bench_bytecode.py [APK ...] [--repeat N] [--androguard-repeat N] [--skip-androguard]

Defaults: ProjectSpy from the corpus and ../shared/bench/mega-multidex.apk; 5 repeats,
3 for androguard (it takes about a minute per run on mega-multidex).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"
DEFAULTS = [
    SHARED / "corpus" / "apk" / "29b0d86ae68d83f9578c3f36041df943195bc55a7f3f1d45a9c23f145d75af9d.apk",
    SHARED / "bench" / "mega-multidex.apk",
]
CONTACTS_REFERENCE = re.compile(r"Landroid/provider/(ContactsContract|Contacts[;$])|content://(com\.android\.)?contacts")
QUERY_NAMES = {"query", "managedQuery"}


def worker(mode: str, path: str) -> dict[str, object]:
    """One measurement: imports timed apart from the analysis (a batch imports once)."""
    start = time.perf_counter()
    methods: list[str] = []
    if mode == "permaudit":
        import permaudit

        imported = time.perf_counter()
        cpu = time.process_time()
        result = permaudit.audit(path)
        elapsed = time.perf_counter() - imported
        cpu = time.process_time() - cpu  # every thread's CPU (dex are inflated and hashed beside the analysis)
        assert result.code is not None
        methods = sorted({f"{s.location.class_name}->{s.location.method}" for s in result.code.sites if s.category == "contacts"})
        return {"seconds": elapsed, "cpu": cpu, "import": imported - start, "rss_mb": _rss_mb(), "methods": methods}
    if mode == "androguard":
        from loguru import logger

        logger.disable("androguard")
        from androguard.misc import AnalyzeAPK

        imported = time.perf_counter()
        _, _, analysis = AnalyzeAPK(path)
        elapsed = time.perf_counter() - imported
        rss = _rss_mb()
        methods = sorted(_androguard_readers(analysis))
        return {"seconds": elapsed, "import": imported - start, "rss_mb": rss, "methods": methods}
    imported = time.perf_counter()  # the floor
    pattern = re.compile(rb"content://com\.android\.contacts")
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if re.fullmatch(r"classes\d*\.dex", name):
                pattern.search(archive.read(name))
    elapsed = time.perf_counter() - imported
    return {"seconds": elapsed, "import": imported - start, "rss_mb": _rss_mb(), "methods": methods}


def _androguard_readers(analysis: object) -> set[str]:
    """Methods that call a query API and name a contacts URI (field or string), via androguard."""
    readers = set()
    for meth in analysis.get_methods():  # type: ignore[attr-defined]
        if meth.is_external():
            continue
        called = [(m.class_name, m.name) for _, m, _ in meth.get_xref_to()]
        if not any(name in QUERY_NAMES or (name == "<init>" and "CursorLoader" in cls) for cls, name in called):
            continue
        text = " ".join(f"{i.get_name()} {i.get_output()}" for i in meth.get_method().get_instructions())
        if CONTACTS_REFERENCE.search(text):
            readers.add(f"{meth.class_name}->{meth.name}")
    return readers


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


ENV: dict[str, str] = dict(os.environ)
"""The children's environment (``main`` points the bytecode cache at a temporary folder)."""


def measure(mode: str, path: Path) -> dict[str, object]:
    """One in-process measurement (imports apart), in a fresh subprocess."""
    proc = subprocess.run([sys.executable, __file__, "--worker", mode, str(path)], capture_output=True, text=True, check=False, env=ENV)
    if proc.returncode != 0:
        return {"seconds": float("nan"), "cpu": float("nan"), "import": float("nan"), "rss_mb": float("nan"), "methods": [],
                "error": proc.stderr.strip().splitlines()[-1:]}
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def whole(argv: list[str], keep_output: bool = False) -> tuple[float, float, str, float]:
    """Run ``argv`` as one process, timed from outside: (wall seconds, peak RSS in MB, stdout
    if ``keep_output`` (else it goes to /dev/null), CPU seconds user + system)."""
    with tempfile.TemporaryFile() if keep_output else open(os.devnull, "wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL, env=ENV)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        text = ""
        if keep_output:
            out.seek(0)
            text = out.read().decode("utf-8", "replace")
    return elapsed, usage.ru_maxrss / 1024, text, usage.ru_utime + usage.ru_stime


def permaudit_cli(path: Path) -> tuple[float, float, float]:
    """``python -m permaudit audit PATH --format json > /dev/null`` as one process: (wall s, peak MB, CPU s)."""
    seconds, rss, _, cpu = whole([sys.executable, "-m", "permaudit", "audit", str(path), "--format", "json"])
    return seconds, rss, cpu


def androguard_whole(path: Path) -> tuple[float, float, dict[str, object], float]:
    """The androguard worker as one process: (wall s, peak MB, its own in-process figures, CPU s)."""
    seconds, rss, text, cpu = whole([sys.executable, __file__, "--worker", "androguard", str(path)], keep_output=True)
    try:
        inner = json.loads(text)
    except ValueError:
        inner = {"seconds": float("nan"), "import": float("nan"), "rss_mb": float("nan"), "methods": [], "error": text[-200:]}
    return seconds, rss, inner, cpu


_PHASES = r"""
import gc, os, sys, time
start = time.time()
import permaudit.cli as cli
imported = time.time()
sys.stdout = open(os.devnull, "w")
cli.main(["audit", sys.argv[1], "--format", "json"])
done = time.time()
sys.stderr.write(f"{start} {imported} {done}\n")
gc.freeze()  # as cli.entry does before it exits
"""


def cli_phases(path: Path) -> tuple[float, float, float, float]:
    """Where one CLI process's time goes: (start-up, imports, audit + JSON, exit), in seconds.
    The same as ``python -m permaudit audit PATH --format json``, with a clock read at each step."""
    spawned = time.time()
    proc = subprocess.run([sys.executable, "-c", _PHASES, str(path)], capture_output=True, text=True, check=False, env=ENV)
    ended = time.time()
    try:
        start, imported, done = map(float, proc.stderr.strip().splitlines()[-1].split())
    except (IndexError, ValueError):
        return (float("nan"),) * 4
    return start - spawned, imported - start, done - imported, ended - done


def _median(rows: list[dict[str, object]], key: str) -> float:
    return statistics.median(float(r[key]) for r in rows)  # type: ignore[arg-type]


def _warm_up(path: Path, androguard: bool) -> None:
    """Fill the bytecode cache (untimed): one CLI run, and androguard's imports."""
    whole([sys.executable, "-m", "permaudit", "audit", str(path), "--format", "json"])
    if androguard:
        whole([sys.executable, "-c", "import androguard.misc, androguard.core.analysis.analysis"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, default=DEFAULTS)
    parser.add_argument("--skip-androguard", action="store_true", help="only permaudit and the floor (androguard takes minutes on big apps)")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each permaudit and floor measurement (medians reported)")
    parser.add_argument("--androguard-repeat", type=int, default=3, help="runs of androguard per input (medians reported)")
    parser.add_argument("--cold-bytecode", action="store_true", help="leave PYTHONDONTWRITEBYTECODE / the bytecode cache as the environment has them")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(*args.worker)))
        return
    cache = None
    if not args.cold_bytecode:
        cache = tempfile.TemporaryDirectory(prefix="bench-pyc-")
        ENV.pop("PYTHONDONTWRITEBYTECODE", None)
        ENV["PYTHONPYCACHEPREFIX"] = cache.name
        _warm_up(args.paths[0], not args.skip_androguard)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, bytecode cache {'as the environment has it' if cache is None else 'warm'}; "
          f"medians of {args.repeat} runs (androguard {args.androguard_repeat})")
    for path in args.paths:
        # every kind of run interleaved (permaudit, floor, CLI, androguard, permaudit, ...) so
        # that each meets the same load on a shared machine
        ours: list[dict[str, object]] = []
        floor: list[dict[str, object]] = []
        cli: list[tuple[float, float, float]] = []
        phases: list[tuple[float, float, float, float]] = []
        runs: list[tuple[float, float, dict[str, object], float]] = []
        for k in range(max(args.repeat, 0 if args.skip_androguard else args.androguard_repeat)):
            if k < args.repeat:
                ours.append(measure("permaudit", path))
                floor.append(measure("floor", path))
                cli.append(permaudit_cli(path))
                phases.append(cli_phases(path))
            if not args.skip_androguard and k < args.androguard_repeat:
                runs.append(androguard_whole(path))
        o_s, o_i, o_rss, f_s = _median(ours, "seconds"), _median(ours, "import"), _median(ours, "rss_mb"), _median(floor, "seconds")
        o_cpu = _median(ours, "cpu")
        c_s, c_rss, c_cpu = statistics.median(c[0] for c in cli), max(c[1] for c in cli), statistics.median(c[2] for c in cli)
        print(f"\n{path.name} ({path.stat().st_size / 1e6:.1f} MB)")
        print(f"  floor (inflate dex + one scan): {f_s:.2f} s, {_median(floor, 'rss_mb'):.0f} MB peak")
        print(f"  permaudit.audit:               {o_s:.2f} s (+{o_i:.2f} s imports; {o_cpu:.2f} s CPU, all threads), {o_rss:.0f} MB peak "
              f"({o_s / f_s:.1f}x the floor)")
        print(f"  permaudit CLI, whole process:  {c_s:.2f} s ({c_cpu:.2f} s CPU), {c_rss:.0f} MB peak  (runs: {', '.join(f'{c[0]:.2f}' for c in cli)})")
        start, imports, work, leave = (statistics.median(p[k] for p in phases) for k in range(4))
        print(f"  the CLI's phases (medians):    start-up {start:.2f} s, imports {imports:.2f} s, audit + JSON {work:.2f} s, exit {leave:.2f} s")
        if args.skip_androguard:
            continue
        theirs = [r[2] for r in runs]
        t_s, t_i, t_rss = _median(theirs, "seconds"), _median(theirs, "import"), _median(theirs, "rss_mb")
        w_s, w_rss, w_cpu = statistics.median(r[0] for r in runs), max(r[1] for r in runs), statistics.median(r[3] for r in runs)
        cold = (t_s + t_i) / (o_s + o_i)
        print(f"  androguard AnalyzeAPK:         {t_s:.2f} s (+{t_i:.2f} s imports), {t_rss:.0f} MB peak "
              f"(permaudit is {t_s / o_s:.1f}x faster; {cold:.1f}x counting imports)")
        print(f"  androguard, whole process:     {w_s:.2f} s ({w_cpu:.2f} s CPU), {w_rss:.0f} MB peak  (runs: {', '.join(f'{r[0]:.2f}' for r in runs)})")
        print(f"  end to end, whole processes:   permaudit is {w_s / c_s:.1f}x faster ({w_cpu / c_cpu:.1f}x in CPU time)")
        methods: list[str] = theirs[0]["methods"]  # type: ignore[assignment]
        found: list[str] = ours[0]["methods"]  # type: ignore[assignment]
        missing = sorted(set(methods) - set(found))
        print(f"  contacts reading methods: androguard-style {len(methods)}, permaudit {len(found)}, missed by permaudit: {missing or 'none'}")
    if cache is not None:
        cache.cleanup()


if __name__ == "__main__":
    main()
