"""The bytecode stage against androguard's full analysis, on the same files in the same run.

Each measurement runs in a fresh subprocess so its peak memory is its own; import time
is reported apart from analysis time (a batch run imports once):

* ``androguard``: ``AnalyzeAPK(path)`` (every method decoded, xrefs built), then the
  contacts reading methods found the way the corpus labeller finds them (a method that
  reads a ContactsContract/Contacts URI field or a contacts URI string and calls a query
  API), to check permaudit finds the same methods;
* ``permaudit``: ``permaudit.audit(path)``, the default path (manifest + bytecode + hybrid);
* ``floor``: inflate every dex from the zip and scan its bytes once with one regex, the
  least any analysis of the bytecode must do.

    python benchmarks/bench_bytecode.py [APK ...] [--skip-androguard]

Defaults: ProjectSpy from the corpus and ../shared/bench/mega-multidex.apk.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
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
        result = permaudit.audit(path)
        elapsed = time.perf_counter() - imported
        assert result.code is not None
        methods = sorted({f"{s.location.class_name}->{s.location.method}" for s in result.code.sites if s.category == "contacts"})
    elif mode == "androguard":
        from loguru import logger

        logger.disable("androguard")
        from androguard.misc import AnalyzeAPK

        imported = time.perf_counter()
        _, _, analysis = AnalyzeAPK(path)
        elapsed = time.perf_counter() - imported
        rss = _rss_mb()
        methods = sorted(_androguard_readers(analysis))
        return {"seconds": elapsed, "import": imported - start, "rss_mb": rss, "methods": methods}
    else:
        imported = time.perf_counter()
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


def measure(mode: str, path: Path) -> dict[str, object]:
    proc = subprocess.run([sys.executable, __file__, "--worker", mode, str(path)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return {"seconds": float("nan"), "rss_mb": float("nan"), "methods": [], "error": proc.stderr.strip().splitlines()[-1:]}
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, default=DEFAULTS)
    parser.add_argument("--skip-androguard", action="store_true", help="only permaudit and the floor (androguard takes minutes on big apps)")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(*args.worker)))
        return
    for path in args.paths:
        ours = measure("permaudit", path)
        floor = measure("floor", path)
        print(f"\n{path.name} ({path.stat().st_size / 1e6:.1f} MB)")
        print(f"  floor (inflate dex + one scan): {floor['seconds']:.2f} s, {floor['rss_mb']:.0f} MB peak")
        print(f"  permaudit.audit:               {ours['seconds']:.2f} s (+{ours['import']:.2f} s imports), {ours['rss_mb']:.0f} MB peak "
              f"({ours['seconds'] / floor['seconds']:.1f}x the floor)")  # type: ignore[operator]
        if args.skip_androguard:
            continue
        theirs = measure("androguard", path)
        cold = (theirs["seconds"] + theirs["import"]) / (ours["seconds"] + ours["import"])  # type: ignore[operator]
        print(f"  androguard AnalyzeAPK:         {theirs['seconds']:.2f} s (+{theirs['import']:.2f} s imports), {theirs['rss_mb']:.0f} MB peak "
              f"(permaudit is {theirs['seconds'] / ours['seconds']:.1f}x faster; {cold:.1f}x counting imports)")  # type: ignore[operator]
        missing = sorted(set(theirs["methods"]) - set(ours["methods"]))  # type: ignore[arg-type]
        print(f"  contacts reading methods: androguard-style {len(theirs['methods'])}, permaudit {len(ours['methods'])}, "  # type: ignore[arg-type]
              f"missed by permaudit: {missing or 'none'}")


if __name__ == "__main__":
    main()
