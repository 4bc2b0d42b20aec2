"""Loading plus manifest facts, without dex parsing, against androguard's own APK analysis.

For every APK in the corpus: permaudit.audit(path, code=False) versus androguard's
APK(path) + get_app_name() + get_details_permissions() (what androguard needs for the same
facts), best of --repeat runs each, in the same process and run. Usage:

    python benchmarks/bench_manifest.py [FOLDER_OR_APK ...]   (default ../shared/corpus/apk)
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from loguru import logger
from tabulate import tabulate

import permaudit
from permaudit.loading import discover

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "apk"
BUDGET_SECONDS = 0.2


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        try:
            fn()
        except Exception:  # androguard's baseline fails on some corpus files; time what it did
            pass
        times.append(time.perf_counter() - start)
    return min(times)


def androguard_manifest(path: Path) -> None:
    from androguard.core.apk import APK

    apk = APK(str(path))
    apk.get_app_name()
    apk.get_details_permissions()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", default=[str(DEFAULT)])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    logger.disable("androguard")
    permaudit.audit(next(discover(args.paths[0])), code=False)  # warm imports and data tables
    rows = []
    for path in (t for p in args.paths for t in discover(p)):
        ours = best(lambda p=path: permaudit.audit(p, code=False), args.repeat)
        theirs = best(lambda p=path: androguard_manifest(p), args.repeat)
        rows.append([path.name[:16], f"{path.stat().st_size / 1e6:.1f}", f"{ours * 1000:.0f}", f"{theirs * 1000:.0f}", f"{theirs / ours:.1f}x"])
    rows.sort(key=lambda r: -float(r[2]))
    print(tabulate(rows, headers=["apk", "MB", "permaudit ms", "androguard APK() ms", "ratio"], disable_numparse=True))
    slowest = max(float(r[2]) for r in rows) / 1000
    verdict = "within" if slowest < BUDGET_SECONDS else "OVER"
    print(f"\nslowest: {slowest * 1000:.0f} ms ({verdict} the {BUDGET_SECONDS * 1000:.0f} ms budget) over {len(rows)} files")


if __name__ == "__main__":
    main()
