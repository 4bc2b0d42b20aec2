"""Zip bombs: permaudit's capped member reader against androguard's APK reader, same inputs, same run.

Each input is a committed fixture APK whose ``classes.dex`` is replaced by a hostile one:

* ``lying``: a deflate stream of ``--gib`` GiB of zeros (about 3 MB on disk) whose
  headers declare 4 KiB, so only streaming inflation with a cap stops it;
* ``declared``: a small member whose headers declare 10 GiB, refused before inflating.

Each tool runs in a fresh subprocess (``permaudit.audit(path)``; androguard's
``APK(path).get_all_dex()``) and reports wall time and peak memory.

    python benchmarks/bench_bombs.py [--gib 3] [--skip-androguard]
"""

from __future__ import annotations

import argparse
import json
import resource
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from pathlib import Path

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "apk" / "loan_harvest.apk"
CHUNK = 64 << 20


def lying_bomb(target: Path, gib: int) -> None:
    """The fixture with classes.dex swapped for ``gib`` GiB of deflated zeros declaring 4 KiB."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(CHUNK)
    body = b"".join(deflate.compress(zeros) for _ in range((gib << 30) // CHUNK)) + deflate.flush()
    _write(target, body, declared=4096, crc=0)


def declared_bomb(target: Path) -> None:
    """The fixture with a classes.dex whose headers declare 10 GiB (ZIP64 sizes)."""
    _write(target, zlib.compressobj(9, zlib.DEFLATED, -15).compress(b"dex\n035\0") + b"\x03\x00", declared=10 << 30, crc=0)


def _write(target: Path, deflated: bytes, declared: int, crc: int) -> None:
    """Copy the fixture, then append classes.dex as raw records with the given sizes."""
    with zipfile.ZipFile(FIXTURE) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename != "classes.dex":
                dst.writestr(info, src.read(info))
    data = bytearray(target.read_bytes())
    eocd = data.rfind(b"PK\x05\x06")
    count, cd_size, cd_off = struct.unpack_from("<HII", data, eocd + 10)
    central = bytes(data[cd_off:cd_off + cd_size])
    name = b"classes.dex"
    zip64 = declared >= 0xFFFFFFFF
    size32 = 0xFFFFFFFF if zip64 else declared
    extra = struct.pack("<HHQQ", 1, 16, declared, len(deflated)) if zip64 else b""
    csize32 = 0xFFFFFFFF if zip64 else len(deflated)
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 45 if zip64 else 20, 0, 8, 0, 0, crc, csize32, size32, len(name), len(extra)) + name + extra
    record = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45 if zip64 else 20, 45 if zip64 else 20, 0, 8, 0, 0, crc, csize32, size32,
                         len(name), len(extra), 0, 0, 0, 0, cd_off) + name + extra
    out = bytes(data[:cd_off]) + local + deflated
    new_cd = len(out)
    out += central + record
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count + 1, count + 1, len(central) + len(record), new_cd, 0)
    target.write_bytes(out)


def worker(tool: str, path: str) -> dict[str, object]:
    start = time.perf_counter()
    outcome = ""
    if tool == "permaudit":
        import permaudit

        result = permaudit.audit(path)
        outcome = f"{result.status.value}: " + ", ".join(sorted({p.code for p in result.problems}))
    else:
        from loguru import logger

        logger.disable("androguard")
        from androguard.core.apk import APK

        try:
            outcome = f"{sum(len(d) for d in APK(path).get_all_dex())} bytes of dex"
        except Exception as exc:  # noqa: BLE001 - the baseline's own failure is a result too
            outcome = f"{type(exc).__name__}: {str(exc)[:80]}"
    return {"seconds": time.perf_counter() - start, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "outcome": outcome}


def measure(tool: str, path: Path) -> dict[str, object]:
    proc = subprocess.run([sys.executable, __file__, "--worker", tool, str(path)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return {"seconds": float("nan"), "rss_mb": float("nan"), "outcome": (proc.stderr.strip().splitlines() or ["died"])[-1][:100]}
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=int, default=3)
    parser.add_argument("--skip-androguard", action="store_true")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(*args.worker)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        inputs = {f"lying ({args.gib} GiB declaring 4 KiB)": Path(tmp) / "lying.apk", "declared (10 GiB)": Path(tmp) / "declared.apk"}
        lying_bomb(inputs[next(iter(inputs))], args.gib)
        declared_bomb(inputs["declared (10 GiB)"])
        for label, path in inputs.items():
            print(f"\n{label}: {path.stat().st_size / 1e6:.1f} MB on disk")
            for tool in ("permaudit",) + (() if args.skip_androguard else ("androguard",)):
                m = measure(tool, path)
                print(f"  {tool:10s} {m['seconds']:6.2f} s  {m['rss_mb']:7.0f} MB peak  {m['outcome']}")


if __name__ == "__main__":
    main()
