"""Crafted dex tables against the cost of reading them (a script, not a test).

A dex whose tables point in odd places must cost no more to read than a clean one of the
same size: time and memory of ``DexFile(data)`` + ``validate`` + ``refs(...)`` on typical
ids are measured for each clean real dex and for crafted copies of it, each in a fresh
subprocess (peak RSS is its own), and reported with the ratio hostile / clean.
androguard's ``DEX(data)`` on the clean input is the baseline (skipped past 60 s).

Crafted copies (header and class_def fields patched with struct, nothing else moved):

* ``class_defs_into_ids``: class_defs_off points at the string id table, so every
  class_data_off is a string data offset (scattered, not on item boundaries);
* ``class_data_shifted``: every class_data_off moved one byte on;
* ``class_data_shared``: every class_def points at the same class_data item;
* ``class_data_into_code``: the first class_data item "moved" to the start of the data
  section (the code items), with garbage member counts;
* ``code_past_end``: one method's code_off (a 4-byte LEB128 rewritten in place) past the end.

    python benchmarks/bench_hostile_dex.py [--only NAME] [--skip-androguard]
"""

from __future__ import annotations

import argparse
import json
import resource
import struct
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"
INPUTS = {
    "corpus 2228c2f4 (1.9 MB)": (SHARED / "corpus" / "apk" / "2228c2f40f8b0c7cd9194844b80f09b75a1cbd5534cd35131cf31e09aaaf25c5.apk", "classes.dex"),
    "ProjectSpy (7.0 MB)": (SHARED / "corpus" / "apk" / "29b0d86ae68d83f9578c3f36041df943195bc55a7f3f1d45a9c23f145d75af9d.apk", "classes.dex"),
    "mega-multidex classes7 (6.2 MB)": (SHARED / "bench" / "mega-multidex.apk", "classes7.dex"),
}
TARGETS = {  # typical ids the audit asks refs() for
    "Landroid/content/ContentResolver;": ("query",),
    "Landroid/app/Activity;": ("managedQuery", "requestPermissions"),
    "Landroid/net/Uri;": ("parse",),
    "Landroid/database/Cursor;": ("moveToNext", "moveToFirst"),
}
FIELDS = ("Landroid/provider/ContactsContract$Contacts;", "Landroid/provider/ContactsContract$CommonDataKinds$Phone;")


def load(label: str) -> bytes:
    path, member = INPUTS[label]
    with zipfile.ZipFile(path) as z:
        return z.read(member)


def _header(data: bytes) -> dict[str, int]:
    names = ("string_ids_off", "data_off", "class_defs_size", "class_defs_off")
    offsets = (0x3C, 0x6C, 0x60, 0x64)
    return {n: struct.unpack_from("<I", data, o)[0] for n, o in zip(names, offsets)}


def _class_data_offs(data: bytes) -> list[tuple[int, int]]:
    h = _header(data)
    return [(h["class_defs_off"] + 32 * i + 24, struct.unpack_from("<I", data, h["class_defs_off"] + 32 * i + 24)[0])
            for i in range(h["class_defs_size"])]


def class_defs_into_ids(data: bytes) -> bytes:
    out = bytearray(data)
    struct.pack_into("<I", out, 0x64, _header(data)["string_ids_off"])
    return bytes(out)


def class_data_shifted(data: bytes) -> bytes:
    out = bytearray(data)
    for where, off in _class_data_offs(data):
        if off:
            struct.pack_into("<I", out, where, off + 1)
    return bytes(out)


def class_data_shared(data: bytes) -> bytes:
    out = bytearray(data)
    first = min(off for _, off in _class_data_offs(data) if off)
    for where, _ in _class_data_offs(data):
        struct.pack_into("<I", out, where, first)
    return bytes(out)


def class_data_into_code(data: bytes) -> bytes:
    out = bytearray(data)
    where, _ = min((x for x in _class_data_offs(data) if x[1]), key=lambda x: x[1])
    struct.pack_into("<I", out, where, _header(data)["data_off"])
    return bytes(out)


def _leb(value: int) -> bytes:
    out = bytearray()
    while True:
        out.append(value & 0x7F | (0x80 if value >> 7 else 0))
        value >>= 7
        if not value:
            return bytes(out)


def code_past_end(data: bytes) -> bytes:
    """Rewrite the code_off LEB128 of the method with the last code_item to point past the end
    (same byte length: the value past the end must fit the bytes of the old one)."""
    from permaudit.dex import DexFile

    d = DexFile(data)
    off = max(d._code_index().code_of.values())
    old, new = _leb(off), _leb(len(data) + 0x100)
    first_class_data = min(o for _, o in _class_data_offs(data) if o)
    at = data.find(old, first_class_data)
    if at < 0 or len(new) != len(old):
        raise SystemExit("no code_off LEB128 to rewrite")
    return data[:at] + new + data[at + len(old):]


CRAFTS: dict[str, Callable[[bytes], bytes]] = {
    "clean": lambda data: data,
    "class_defs_into_ids": class_defs_into_ids,
    "class_data_shifted": class_data_shifted,
    "class_data_shared": class_data_shared,
    "class_data_into_code": class_data_into_code,
    "code_past_end": code_past_end,
}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(label: str, craft: str, mode: str) -> dict[str, object]:
    """One measurement in this (fresh) process: time and peak RSS above the loaded input."""
    data = CRAFTS[craft](load(label))
    if mode == "androguard":
        from loguru import logger

        logger.disable("androguard")
        from androguard.core.dex import DEX

        base = _rss_mb()
        start = time.perf_counter()
        DEX(data)
        return {"seconds": time.perf_counter() - start, "extra_mb": _rss_mb() - base, "outcome": "ok"}
    from permaudit.dex import DexError, DexFile, validate

    base = _rss_mb()
    start = time.perf_counter()
    outcome = "ok"
    try:
        d = DexFile(data, "classes.dex")
        damage = validate(d)
        if damage:
            outcome = f"{len(damage)} damage ({sum(x.fatal for x in damage)} fatal): {damage[0].message}"
        methods = [m for c, names in TARGETS.items() for n in names for m in d.find_methods(c, n)]
        fields = [f for c in FIELDS for f in d.find_fields(c)]
        strings = d.strings_matching(rb"content://")
        refs = d.refs(strings=strings, fields=fields, methods=methods)
        if outcome == "ok":
            outcome = f"{len(refs)} refs, {len(d.skipped)} skipped"
    except DexError as exc:
        outcome = f"{outcome}; DexError: {exc}" if outcome != "ok" else f"DexError: {exc}"
    return {"seconds": time.perf_counter() - start, "extra_mb": _rss_mb() - base, "outcome": outcome[:160]}


def measure(label: str, craft: str, mode: str, timeout: float) -> dict[str, object] | None:
    cmd = [sys.executable, __file__, "--worker", label, craft, mode]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return None
    if done.returncode:
        return {"seconds": float("nan"), "extra_mb": float("nan"), "outcome": f"crashed: {done.stderr.strip().splitlines()[-1:]}"}
    result: dict[str, object] = json.loads(done.stdout)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", action="append", help="craft names to run (default: all)")
    ap.add_argument("--inputs", action="append", help="input labels (default: all)")
    ap.add_argument("--skip-androguard", action="store_true")
    ap.add_argument("--timeout", type=float, default=120.0, help="per measurement, seconds")
    ap.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(*args.worker)))
        return
    crafts = ["clean"] + [c for c in CRAFTS if c != "clean" and (not args.only or c in args.only)]
    for label in args.inputs or INPUTS:
        print(f"\n{label}")
        clean = None
        for craft in crafts:
            got = measure(label, craft, "permaudit", args.timeout)
            if got is None:
                print(f"  {craft:22s} > {args.timeout:.0f} s (killed)")
                continue
            secs, mb = float(got["seconds"]), float(got["extra_mb"])  # type: ignore[arg-type]
            if craft == "clean":
                clean = (secs, mb)
            ratio = f"x{secs / clean[0]:5.1f} time, x{mb / max(clean[1], 1.0):5.1f} mem" if clean and craft != "clean" else ""
            print(f"  {craft:22s} {secs:7.3f} s {mb:7.1f} MB  {ratio:28s} {got['outcome']}")
        if not args.skip_androguard:
            got = measure(label, "clean", "androguard", 60.0)
            if got is None:
                print("  androguard DEX(clean)  > 60 s (killed)")
            else:
                print(f"  androguard DEX(clean)  {float(got['seconds']):7.3f} s {float(got['extra_mb']):7.1f} MB")  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
