#!/usr/bin/env python3
"""Fuzz ``permaudit.audit()``: mutate the fixtures and corpus, check nothing escapes.

Every input is built deterministically from ``(--seed, index)``: a source package (a
committed fixture APK or bundle, a corpus APK, or a corpus dex dump) and a stack of
mutations, raw or structure-aware:

* raw bytes of the file (bit flips, interesting values, truncation, splices);
* the zip structure (end-of-central-directory, central and local headers, the APK
  signing block);
* one member, re-zipped: ``classes*.dex`` (header fields, id tables, truncated tables
  with a matching ``file_size``, code items and code units, string data, type
  descriptors without ``;``, class data, the map), ``AndroidManifest.xml`` (binary XML
  chunks, string pool, attributes and typed values; or text XML), ``resources.arsc``
  (chunks, entries, self-referencing values), ``META-INF`` signature files, duplicated,
  removed or renamed members, other compression methods, zip bombs;
* bundles (``.xapk``/``.apks``): bad ``manifest.json``, unsafe names, a nested split
  APK mutated as above;
* dex dumps: a mutated ``classes.dex`` (and manifest) written into a temporary folder
  beside the dump's ``AndroidManifest.xml``, or a bare ``.dex`` file.

Each input is audited in a long-lived worker subprocess with ``RLIMIT_AS`` set to
``--max-memory``; a worker that passes ``--timeout`` on one input is killed (its stack,
dumped by ``faulthandler`` just before, is shown) and replaced, as is one that dies.

    python benchmarks/fuzz.py --count 2000 --jobs 2
    python benchmarks/fuzz.py --seed 1 --only 417             # one input, full traceback
    python benchmarks/fuzz.py --seed 1 --only 417 --save out/  # and keep its bytes

Exit status 1 if an exception escaped ``audit()``, an invariant broke, an input hung,
hit the memory cap or killed its worker; 0 otherwise.
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import os
import random
import re
import resource
import selectors
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures" / "apk"
CORPUS = ROOT.parent / "shared" / "corpus"

I32 = [0, 1, 2, 3, 4, 7, 8, 0x10, 0x20, 0x40, 0x70, 0x7F, 0x80, 0xFF, 0x100, 0x3FF, 0x1000, 0x7FFF,
       0x8000, 0xFFFF, 0x10000, 0x100000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF]
I16 = [0, 1, 2, 3, 7, 8, 0x10, 0x14, 0x1C, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF]
I8 = [0, 1, 0x7F, 0x80, 0xFE, 0xFF]


# ====================================================================== sources


@dataclass(frozen=True)
class Source:
    kind: str  # apk | bundle | dex-folder
    path: Path
    label: str


def find_sources(corpus: Path | None) -> list[Source]:
    out: list[Source] = []
    for p in sorted(FIXTURES.glob("*")):
        if p.suffix == ".apk":
            out.append(Source("apk", p, f"fixture {p.name}"))
        elif p.suffix in (".xapk", ".apks", ".apkm"):
            out.append(Source("bundle", p, f"fixture {p.name}"))
    if corpus is not None and corpus.is_dir():
        for p in sorted((corpus / "apk").glob("*.apk")):
            out.append(Source("apk", p, f"corpus apk/{p.name[:16]}"))
        for p in sorted((corpus / "dex").glob("*")):
            if (p / "classes.dex").is_file():
                out.append(Source("dex-folder", p, f"corpus dex/{p.name}"))
    return out


_BYTES: dict[Path, bytes] = {}


def read_source(path: Path) -> bytes:
    data = _BYTES.get(path)
    if data is None:
        data = _BYTES[path] = path.read_bytes()
    return data


# ====================================================================== helpers


def u16(d: bytes | bytearray, o: int) -> int:
    return struct.unpack_from("<H", d, o)[0]


def u32(d: bytes | bytearray, o: int) -> int:
    return struct.unpack_from("<I", d, o)[0]


def put16(d: bytearray, o: int, v: int) -> None:
    if 0 <= o <= len(d) - 2:
        struct.pack_into("<H", d, o, v & 0xFFFF)


def put32(d: bytearray, o: int, v: int) -> None:
    if 0 <= o <= len(d) - 4:
        struct.pack_into("<I", d, o, v & 0xFFFFFFFF)


def pick_value32(rng: random.Random, old: int, limit: int) -> int:
    r = rng.random()
    if r < 0.4:
        return rng.choice(I32)
    if r < 0.6:
        return (old + rng.choice([-4, -2, -1, 1, 2, 4, 8, 0x100, -0x100])) & 0xFFFFFFFF
    if r < 0.8:
        return rng.randrange(max(limit, 1) + 0x100)
    if r < 0.9:
        return max(limit, 1) + rng.choice([-1, 0, 1, 4, 0x70])
    return rng.getrandbits(32)


def pick_value16(rng: random.Random, old: int) -> int:
    r = rng.random()
    if r < 0.5:
        return rng.choice(I16)
    if r < 0.75:
        return (old + rng.choice([-2, -1, 1, 2, 0x10])) & 0xFFFF
    return rng.getrandbits(16)


def uleb(d: bytes | bytearray, p: int) -> tuple[int, int]:
    r = s = 0
    for _ in range(5):
        b = d[p]
        p += 1
        r |= (b & 0x7F) << s
        s += 7
        if not b & 0x80:
            break
    return r, p


def mutate_raw(rng: random.Random, data: bytes, desc: list[str], what: str = "file") -> bytes:
    """Format-blind mutations of a byte string."""
    d = bytearray(data)
    if not d:
        return bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 64)))
    op = rng.choice(["flip", "flip", "bytes", "truncate", "delete", "insert", "dup", "splice", "zero", "word"])
    n = len(d)
    if op == "flip":
        k = rng.choice([1, 1, 2, 4, 8, 32])
        for _ in range(k):
            i = rng.randrange(n)
            d[i] ^= 1 << rng.randrange(8)
        desc.append(f"{what}: flip {k} bit(s)")
    elif op == "bytes":
        k = rng.choice([1, 2, 4, 16])
        for _ in range(k):
            d[rng.randrange(n)] = rng.choice(I8 + [rng.getrandbits(8)])
        desc.append(f"{what}: set {k} byte(s)")
    elif op == "truncate":
        cut = rng.choice([rng.randrange(n), n - rng.randrange(1, min(n, 64) + 1), rng.randrange(min(n, 512))])
        d = d[:cut]
        desc.append(f"{what}: truncate to {cut} bytes")
    elif op == "delete":
        i = rng.randrange(n)
        k = rng.randrange(1, min(n - i, 4096) + 1)
        del d[i:i + k]
        desc.append(f"{what}: delete {k} bytes at {i}")
    elif op == "insert":
        i = rng.randrange(n + 1)
        k = rng.choice([1, 4, 16, 256])
        d[i:i] = bytes(rng.getrandbits(8) for _ in range(k))
        desc.append(f"{what}: insert {k} random bytes at {i}")
    elif op == "dup":
        i = rng.randrange(n)
        k = rng.randrange(1, min(n - i, 4096) + 1)
        j = rng.randrange(n + 1)
        d[j:j] = d[i:i + k]
        desc.append(f"{what}: duplicate {k} bytes from {i} to {j}")
    elif op == "splice":
        i, j = rng.randrange(n), rng.randrange(n)
        k = min(rng.randrange(1, 512), n - i, n - j)
        d[j:j + k] = d[i:i + k]
        desc.append(f"{what}: copy {k} bytes from {i} over {j}")
    elif op == "zero":
        i = rng.randrange(n)
        k = rng.randrange(1, min(n - i, 1024) + 1)
        d[i:i + k] = bytes(k)
        desc.append(f"{what}: zero {k} bytes at {i}")
    else:
        if n >= 4:
            i = rng.randrange(n - 3)
            v = rng.choice(I32)
            put32(d, i, v)
            desc.append(f"{what}: u32 at {i} = 0x{v:x}")
    return bytes(d)


# ====================================================================== zip writing


@dataclass
class Member:
    name: str
    data: bytes
    method: int = zipfile.ZIP_DEFLATED
    raw: bytes | None = None  # already-compressed stream (bombs)
    size: int | None = None
    crc: int | None = None
    zip64: str = ""  # "", "ok", "short", "huge", "missing", "local-only": a zip64 extra field, right or wrong
    descriptor: str = ""  # "", "sig", "nosig", "wrong": sizes in a data descriptor after the data
    extra: bytes = b""  # further extra-field bytes (both headers)


def read_members(data: bytes) -> list[Member]:
    out = []
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for info in z.infolist():
            try:
                blob = z.read(info)
            except Exception:  # noqa: BLE001, S112 - a member the stdlib cannot read is left out of the mutation
                continue
            method = info.compress_type if info.compress_type in (0, 8) else 8
            out.append(Member(info.filename, blob, method))
    return out


def build_zip(members: list[Member], comment: bytes = b"") -> bytes:
    """A plain zip, written by hand so duplicate and unsafe names, stored/deflated/other
    methods and pre-compressed bombs are all possible."""
    out = bytearray()
    central = bytearray()
    for m in members:
        name = m.name.encode("utf-8", "surrogateescape")
        if m.raw is not None:
            comp, crc, size = m.raw, m.crc or 0, m.size or 0
        else:
            size, crc = len(m.data), zlib.crc32(m.data)
            if m.method == 8:
                c = zlib.compressobj(6, zlib.DEFLATED, -15)
                comp = c.compress(m.data) + c.flush()
            else:
                comp = m.data
        flags = 0x800 if any(ch > 0x7F for ch in name) else 0
        off = len(out)
        csize, usize, lcrc = len(comp), size, crc
        l_extra = c_extra = m.extra
        if m.zip64:
            body = {"ok": struct.pack("<QQ", size, len(comp)), "short": struct.pack("<I", size),
                    "huge": struct.pack("<QQ", 1 << 62, 1 << 62), "missing": b"", "local-only": b""}[m.zip64]
            z64 = struct.pack("<HH", 1, len(body)) + body if m.zip64 != "missing" else b""
            c_extra = (z64 if m.zip64 != "local-only" else b"") + m.extra
            l_extra = z64 + m.extra if m.zip64 != "local-only" else struct.pack("<HHQQ", 1, 16, size, len(comp)) + m.extra
            csize = usize = 0xFFFFFFFF
        l_csize, l_usize = csize, usize
        if m.descriptor:
            flags |= 0x8
            l_csize = l_usize = lcrc = 0
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45 if m.zip64 else 20, flags, m.method, 0, 0x21, lcrc, l_csize, l_usize,
                           len(name), len(l_extra))
        out += name + l_extra + comp
        if m.descriptor:
            sizes = (len(comp), size) if m.descriptor != "wrong" else (len(comp) + 7, size // 2)
            out += (b"PK\x07\x08" if m.descriptor != "nosig" else b"") + struct.pack("<III", crc, *sizes)
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 45 if m.zip64 else 20, flags, m.method, 0, 0x21, crc,
                               csize, usize, len(name), len(c_extra), 0, 0, 0, 0, off)
        central += name + c_extra
    cd_off = len(out)
    out += central
    n = min(len(members), 0xFFFF)
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, len(central), cd_off, len(comment)) + comment
    return bytes(out)


_BOMBS: dict[int, tuple[bytes, int]] = {}


def bomb(mb: int) -> tuple[bytes, int]:
    """A raw deflate stream of ``mb`` MiB of zeros (built by repeating one full-flushed block) and its CRC."""
    if mb not in _BOMBS:
        zero = bytes(1 << 20)
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        block = c.compress(zero) + c.flush(zlib.Z_FULL_FLUSH)
        crc = 0
        for _ in range(mb):
            crc = zlib.crc32(zero, crc)
        _BOMBS[mb] = (block * mb + b"\x03\x00", crc)
    return _BOMBS[mb]


# ====================================================================== zip structure


def mutate_zipstruct(rng: random.Random, data: bytes, desc: list[str]) -> bytes:
    d = bytearray(data)
    eocd = data.rfind(b"PK\x05\x06")
    cds = [m.start() for m in re.finditer(rb"PK\x01\x02", data[eocd - 0x100000 if eocd > 0x100000 else 0:])]
    base = eocd - 0x100000 if eocd > 0x100000 else 0
    cds = [c + base for c in cds]
    lfhs = [m.start() for m in re.finditer(rb"PK\x03\x04", data[: 1 << 22])]
    sig = data.rfind(b"APK Sig Block 42", 0, eocd if eocd > 0 else len(data))
    # an EOCD cut short by an earlier mutation is no target
    choices = ["eocd"] * (0 <= eocd <= len(data) - 22) + ["cd"] * 3 * bool(cds) + ["lfh"] * 2 * bool(lfhs) + ["sigblock"] * 2 * (sig >= 0)
    if not choices:
        return mutate_raw(rng, data, desc, "zip")
    op = rng.choice(choices)
    if op == "eocd":
        fields = [(4, 2, "disk"), (6, 2, "cd disk"), (8, 2, "entries on disk"), (10, 2, "entries"),
                  (12, 4, "cd size"), (16, 4, "cd offset"), (20, 2, "comment length")]
        o, w, label = rng.choice(fields)
        old = u16(d, eocd + o) if w == 2 else u32(d, eocd + o)
        v = pick_value16(rng, old) if w == 2 else pick_value32(rng, old, len(d))
        (put16 if w == 2 else put32)(d, eocd + o, v)
        desc.append(f"zip: EOCD {label} {old} -> {v}")
    elif op in ("cd", "lfh"):
        at = rng.choice(cds if op == "cd" else lfhs)
        if op == "cd":
            fields = [(6, 2, "version needed"), (8, 2, "flags"), (10, 2, "method"), (16, 4, "crc"), (20, 4, "compressed size"),
                      (24, 4, "size"), (28, 2, "name length"), (30, 2, "extra length"), (32, 2, "comment length"),
                      (34, 2, "disk"), (42, 4, "local header offset")]
        else:
            fields = [(4, 2, "version"), (6, 2, "flags"), (8, 2, "method"), (14, 4, "crc"), (18, 4, "compressed size"),
                      (22, 4, "size"), (26, 2, "name length"), (28, 2, "extra length")]
        o, w, label = rng.choice(fields)
        if at + o + w > len(d):
            return mutate_raw(rng, data, desc, "zip")
        old = u16(d, at + o) if w == 2 else u32(d, at + o)
        if "flags" in label:
            v = old | rng.choice([1, 8, 0x40, 0x800, 0x2000])
        elif "method" in label:
            v = rng.choice([0, 1, 6, 9, 12, 14, 93, 95, 98, 99, 0xFFFF])
        elif "size" in label and rng.random() < 0.3:
            v = 0xFFFFFFFF  # zip64 marker without a zip64 extra field
        else:
            v = pick_value16(rng, old) if w == 2 else pick_value32(rng, old, len(d))
        (put16 if w == 2 else put32)(d, at + o, v)
        desc.append(f"zip: {op} header at {at} {label} {old} -> {v}")
    else:
        # APK signing block: patch a length prefix (a u32/u64 that fits what follows) or bytes
        end = sig + 16
        size = struct.unpack_from("<Q", d, sig - 8)[0] if sig >= 8 else 0
        start = max(0, end - size - 8)
        if rng.random() < 0.6:
            cands = [p for p in range(start, end - 4) if 4 <= u32(d, p) <= end - p]
            if cands:
                p = rng.choice(cands)
                old = u32(d, p)
                v = rng.choice([0, 1, 3, old - 1, old + 1, old + 4, 0x7FFFFFFF, 0xFFFFFFFF, end - p + 100])
                put32(d, p, v)
                desc.append(f"zip: signing block length at {p} {old} -> {v & 0xFFFFFFFF}")
                return bytes(d)
        k = rng.choice([1, 4, 16])
        for _ in range(k):
            d[rng.randrange(start, end)] ^= 1 << rng.randrange(8)
        desc.append(f"zip: flip {k} bits in the signing block [{start}, {end})")
    return bytes(d)


# ====================================================================== dex

HEADER_FIELDS = ["file_size", "header_size", "endian_tag", "link_size", "link_off", "map_off", "string_ids_size",
                 "string_ids_off", "type_ids_size", "type_ids_off", "proto_ids_size", "proto_ids_off",
                 "field_ids_size", "field_ids_off", "method_ids_size", "method_ids_off", "class_defs_size",
                 "class_defs_off", "data_size", "data_off"]
TABLES = {"string_ids": (4, [(0, 4)]), "type_ids": (4, [(0, 4)]), "proto_ids": (12, [(0, 4), (4, 4), (8, 4)]),
          "field_ids": (8, [(0, 2), (2, 2), (4, 4)]), "method_ids": (8, [(0, 2), (2, 2), (4, 4)]),
          "class_defs": (32, [(0, 4), (4, 4), (8, 4), (12, 4), (16, 4), (20, 4), (24, 4), (28, 4)])}


def dex_header(d: bytes | bytearray) -> dict[str, int]:
    if len(d) < 0x70:
        return {}
    return dict(zip(HEADER_FIELDS, struct.unpack_from("<20I", d, 0x20)))


def dex_code_items(rng: random.Random, d: bytes | bytearray, want: int = 1) -> list[int]:
    """Offsets of a few code items, found through randomly chosen class_data items."""
    h = dex_header(d)
    n, off = h.get("class_defs_size", 0), h.get("class_defs_off", 0)
    out: list[int] = []
    for _ in range(40):
        if not n or off + 32 * n > len(d) or len(out) >= want:
            break
        cd = u32(d, off + 32 * rng.randrange(n) + 24)
        if not cd or cd >= len(d):
            continue
        try:
            p = cd
            sf, p = uleb(d, p)
            inf, p = uleb(d, p)
            dm, p = uleb(d, p)
            vm, p = uleb(d, p)
            for _ in range(min(sf + inf, 100000)):
                _, p = uleb(d, p)
                _, p = uleb(d, p)
            codes = []
            for _ in range(min(dm + vm, 100000)):
                _, p = uleb(d, p)
                _, p = uleb(d, p)
                co, p = uleb(d, p)
                if co and co + 16 <= len(d):
                    codes.append(co)
            if codes:
                out.append(rng.choice(codes))
        except IndexError:
            continue
    return out


def dex_strings(d: bytes | bytearray, h: dict[str, int], limit: int = 200000) -> list[tuple[int, int, int]]:
    """(index, data offset after the uleb length, end at the NUL) for each readable string."""
    out = []
    n, off = h.get("string_ids_size", 0), h.get("string_ids_off", 0)
    if off + 4 * n > len(d):
        return out
    for i in range(min(n, limit)):
        so = u32(d, off + 4 * i)
        if so >= len(d):
            continue
        try:
            _, p = uleb(d, so)
        except IndexError:
            continue
        e = d.find(b"\0", p)
        if e > 0:
            out.append((i, p, e))
    return out


def fix_dex_checksum(d: bytearray) -> None:
    if len(d) >= 0x20:
        put32(d, 8, zlib.adler32(bytes(d[12:])))


def mutate_dex(rng: random.Random, data: bytes, desc: list[str], what: str = "classes.dex") -> bytes:
    d = bytearray(data)
    if len(d) < 0x70:
        return mutate_raw(rng, data, desc, what)
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        h = dex_header(d)
        if not h:  # an earlier mutation cut it below a header
            break
        op = rng.choice(["header"] * 3 + ["magic"] + ["table"] * 4 + ["truncate"] * 2 + ["code"] * 6 + ["string"] * 2
                        + ["descriptor"] * 2 + ["class_data"] * 2 + ["map"] + ["proto_params"] + ["raw"] * 2 + ["region"] * 2)
        if op == "header":
            i = rng.randrange(len(HEADER_FIELDS))
            name = HEADER_FIELDS[i]
            old = h[name]
            other = rng.choice(list(h.values()))
            v = rng.choice([pick_value32(rng, old, len(d)), other, len(d) - 1, len(d)])
            put32(d, 0x20 + 4 * i, v)
            desc.append(f"{what}: header {name} 0x{old:x} -> 0x{v & 0xFFFFFFFF:x}")
        elif op == "magic":
            v = rng.choice([b"035", b"036", b"037", b"038", b"039", b"040", b"041", b"042", b"099", b"0a5", b"\x0035"])
            d[4:7] = v[:3]
            if rng.random() < 0.3:
                d[7] = rng.choice([1, 0x0A, 0xFF])
            if rng.random() < 0.3:
                put32(d, 0x28, rng.choice([0x78563412, 0, 0xFFFFFFFF]))
            desc.append(f"{what}: magic -> {bytes(d[:8])!r} endian 0x{u32(d, 0x28):x}")
        elif op == "table":
            name = rng.choice(list(TABLES))
            size, fields = TABLES[name]
            n, off = h[name + "_size"], h[name + "_off"]
            if not n or off + size * n > len(d):
                continue
            i = rng.randrange(n)
            fo, w = rng.choice(fields)
            at = off + size * i + fo
            old = u16(d, at) if w == 2 else u32(d, at)
            limit = {"string_ids": len(d)}.get(name, max(h["string_ids_size"], h["type_ids_size"], len(d) if fo >= 8 else 0))
            v = pick_value16(rng, old) if w == 2 else pick_value32(rng, old, limit)
            (put16 if w == 2 else put32)(d, at, v)
            desc.append(f"{what}: {name}[{i}]+{fo} 0x{old:x} -> 0x{v & 0xFFFFFFFF:x}")
        elif op == "truncate":
            # cut inside a table or the data, and (usually) make file_size agree so the header passes
            name = rng.choice(list(TABLES) + ["data", "map", "any"])
            if name in TABLES and h[name + "_size"]:
                start = h[name + "_off"]
                cut = start + rng.randrange(max(1, TABLES[name][0] * h[name + "_size"]))
            elif name == "data" and h["data_size"]:
                cut = h["data_off"] + rng.randrange(max(1, h["data_size"]))
            elif name == "map" and h["map_off"]:
                cut = h["map_off"] + rng.randrange(1, 64)
            else:
                cut = rng.randrange(0x70, max(0x71, len(d)))  # a dex already cut to its header by an earlier mutation
            cut = max(0x70, min(cut, len(d)))
            d = d[:cut]
            if rng.random() < 0.8:
                put32(d, 0x20, cut)
                if rng.random() < 0.5:
                    put32(d, 0x68, max(0, cut - h["data_off"]))
            desc.append(f"{what}: truncate in {name} at {cut} (file_size {u32(d, 0x20)})")
        elif op == "code":
            cos = dex_code_items(rng, d)
            if not cos:
                continue
            co = cos[0]
            insns = u32(d, co + 12)
            sub = rng.choice(["regs", "ins", "outs", "tries", "debug", "insns_size", "unit", "unit", "unit", "opcode",
                              "payload", "index", "tail"])
            if sub in ("regs", "ins", "outs", "tries"):
                o = {"regs": 0, "ins": 2, "outs": 4, "tries": 6}[sub]
                old = u16(d, co + o)
                v = pick_value16(rng, old)
                put16(d, co + o, v)
                desc.append(f"{what}: code_item@0x{co:x} {sub} {old} -> {v}")
            elif sub in ("debug", "insns_size"):
                o = 8 if sub == "debug" else 12
                old = u32(d, co + o)
                v = pick_value32(rng, old, len(d) // 2)
                put32(d, co + o, v)
                desc.append(f"{what}: code_item@0x{co:x} {sub} {old} -> 0x{v & 0xFFFFFFFF:x}")
            elif insns and co + 16 + 2 * insns <= len(d):
                k = rng.randrange(insns)
                at = co + 16 + 2 * k
                old = u16(d, at)
                if sub == "unit":
                    v = pick_value16(rng, old)
                elif sub == "opcode":
                    v = (old & 0xFF00) | rng.choice([0x1A, 0x1B, 0x1C, 0x1F, 0x22, 0x23, 0x24, 0x25, 0x26, 0x2B, 0x2C,
                                                     0x52, 0x60, 0x62, 0x69, 0x6E, 0x71, 0x74, 0x77, 0xFA, 0xFB, 0xFC,
                                                     0xFD, 0xFE, 0xFF, 0x3E, 0x73, 0x79, 0xE3, rng.randrange(256)])
                elif sub == "payload":
                    v = rng.choice([0x0100, 0x0200, 0x0300])
                    put16(d, at + 2, rng.choice(I16))
                    put32(d, at + 4, rng.choice(I32))
                elif sub == "index":
                    v = old
                    put16(d, at + 2, rng.choice(I16))
                else:  # tail: the last unit becomes the start of a long instruction
                    at = co + 16 + 2 * (insns - 1)
                    old = u16(d, at)
                    v = rng.choice([0x1B, 0x17, 0x18, 0x74, 0x6E, 0xFA, 0x26, 0x2B, 0x0100, 0x0300])
                put16(d, at, v)
                desc.append(f"{what}: code_item@0x{co:x} {sub} unit {k} 0x{old:04x} -> 0x{v & 0xFFFF:04x}")
            else:
                continue
        elif op in ("string", "descriptor"):
            strs = dex_strings(d, h)
            if not strs:
                continue
            if op == "descriptor":
                typ = [s for s in strs if d[s[1]:s[1] + 1] in (b"L", b"[") and d[s[2] - 1:s[2]] == b";"]
                if not typ:
                    continue
                i, p, e = rng.choice(typ)
                old = bytes(d[p:e])
                how = rng.choice(["semicolon", "semicolon", "semicolon", "L", "bracket", "empty-class"])
                if how == "semicolon":
                    d[e - 1] = rng.choice(b"X/$[L(;)V")
                elif how == "L":
                    d[p] = rng.choice(b"[(QZ)")
                elif how == "bracket":
                    d[e - 1] = ord("[")
                else:
                    d[p + 1:e] = b";" * (e - p - 1)
                desc.append(f"{what}: type string {i} {old[:60]!r} -> {bytes(d[p:e])[:60]!r}")
            else:
                i, p, e = rng.choice(strs)
                how = rng.choice(["nul", "uleb", "byte", "surrogate", "overlong"])
                if how == "nul":
                    d[e] = rng.choice(b"A\x80\xff")
                elif how == "uleb":
                    so = u32(d, h["string_ids_off"] + 4 * i)
                    d[so] = 0xFF
                    if so + 1 < p:
                        d[so + 1] = 0xFF
                elif e > p:
                    k = rng.randrange(p, e)
                    if how == "byte":
                        d[k] = rng.choice([0x80, 0xC0, 0xE0, 0xF0, 0xFF, 0xC1, 0xED])
                    elif how == "surrogate" and e - k >= 3:
                        d[k:k + 3] = rng.choice([b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xed\xb0\x80"])
                    elif e - k >= 2:
                        d[k:k + 2] = b"\xc0\x80"
                desc.append(f"{what}: string {i} {how}")
        elif op == "class_data":
            n, off = h["class_defs_size"], h["class_defs_off"]
            if not n or off + 32 * n > len(d):
                continue
            i = rng.randrange(n)
            cd = u32(d, off + 32 * i + 24)
            if cd and cd + 8 < len(d) and rng.random() < 0.7:
                k = rng.randrange(1, 6)
                at = cd + rng.randrange(8)
                d[at:at + k] = b"\xff" * k if rng.random() < 0.5 else bytes(rng.getrandbits(8) for _ in range(k))
                desc.append(f"{what}: class_defs[{i}] class_data@0x{cd:x}+{at - cd}: {k} bytes")
            else:
                v = pick_value32(rng, cd, len(d))
                put32(d, off + 32 * i + 24, v)
                desc.append(f"{what}: class_defs[{i}] class_data_off 0x{cd:x} -> 0x{v & 0xFFFFFFFF:x}")
        elif op == "map":
            mo = h["map_off"]
            if not mo or mo + 4 > len(d):
                continue
            n = u32(d, mo)
            if rng.random() < 0.3 or not n:
                v = rng.choice(I32)
                put32(d, mo, v)
                desc.append(f"{what}: map size {n} -> {v}")
            else:
                i = rng.randrange(min(n, 64))
                fo = rng.choice([0, 4, 8])
                at = mo + 4 + 12 * i + fo
                if at + 4 > len(d):
                    continue
                old = u16(d, at) if fo == 0 else u32(d, at)
                if fo == 0:
                    put16(d, at, rng.choice([0, 1, 2, 0x1000, 0x2001, 0x2002, 0x2003, 0x2006, 0xFFFF]))
                else:
                    put32(d, at, pick_value32(rng, old, len(d)))
                desc.append(f"{what}: map item {i}+{fo} patched (was 0x{old:x})")
        elif op == "proto_params":
            n, off = h["proto_ids_size"], h["proto_ids_off"]
            if not n or off + 12 * n > len(d):
                continue
            i = rng.randrange(n)
            po = u32(d, off + 12 * i + 8)
            if po and po + 4 <= len(d) and rng.random() < 0.6:
                cnt = u32(d, po)
                if rng.random() < 0.5 or not cnt:
                    put32(d, po, rng.choice(I32))
                    desc.append(f"{what}: proto {i} type_list size {cnt} -> {u32(d, po)}")
                else:
                    j = rng.randrange(min(cnt, 255))
                    put16(d, po + 4 + 2 * j, rng.choice(I16))
                    desc.append(f"{what}: proto {i} param {j} type -> {u16(d, po + 4 + 2 * j) if po + 6 + 2 * j <= len(d) else '?'}")
            else:
                v = pick_value32(rng, po, len(d))
                put32(d, off + 12 * i + 8, v)
                desc.append(f"{what}: proto {i} parameters_off 0x{po:x} -> 0x{v & 0xFFFFFFFF:x}")
        elif op == "region":
            name = rng.choice(list(TABLES) + ["data", "header"])
            if name == "header":
                lo, hi = 0x20, 0x70
            elif name == "data":
                lo, hi = h["data_off"], h["data_off"] + h["data_size"]
            else:
                lo, hi = h[name + "_off"], h[name + "_off"] + TABLES[name][0] * h[name + "_size"]
            hi = min(hi, len(d))
            if hi <= lo:
                continue
            k = rng.choice([1, 2, 8])
            for _ in range(k):
                d[rng.randrange(lo, hi)] ^= 1 << rng.randrange(8)
            desc.append(f"{what}: flip {k} bit(s) in {name}")
        else:
            d = bytearray(mutate_raw(rng, bytes(d), desc, what))
    if rng.random() < 0.6:
        fix_dex_checksum(d)
    return bytes(d)


# ====================================================================== binary XML (AXML) and ARSC

RES_TYPES = [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x10, 0x11, 0x12, 0x1C, 0x1D, 0x1E, 0x1F, 0xFF]


def res_chunks(d: bytes | bytearray, start: int, end: int, depth: int = 0, out: list | None = None) -> list[tuple[int, int, int, int]]:
    """(offset, type, header size, size) of each chunk, entering the table, package and file containers."""
    out = [] if out is None else out
    p = start
    while p + 8 <= end and len(out) < 20000:
        t, hs, sz = struct.unpack_from("<HHI", d, p)
        out.append((p, t, hs, sz))
        if sz < 8 or hs < 8:
            break
        if t in (0x0002, 0x0200, 0x0003) and depth < 3 and hs < sz:
            res_chunks(d, p + hs, min(p + sz, end), depth + 1, out)
        p += sz
    return out


def mutate_axml(rng: random.Random, data: bytes, desc: list[str], what: str = "AndroidManifest.xml") -> bytes:
    if data[:4] != b"\x03\x00\x08\x00":
        return mutate_text_xml(rng, data, desc, what)
    d = bytearray(data)
    chunks = res_chunks(d, 0, len(d))
    pools = [c for c in chunks if c[1] == 0x0001 and c[0] + 28 <= len(d)]  # a truncated pool header has no fields to mutate
    elems = [c for c in chunks if c[1] == 0x0102]
    op = rng.choice(["chunk"] * 2 + ["pool"] * 3 + ["string"] * 2 + ["attr"] * 6 + ["attrs"] + ["elem"] + ["truncate"]
                    + ["dropchunk", "dupchunk"] + ["raw"])
    if op == "chunk" and chunks:
        p, t, hs, sz = rng.choice(chunks)
        o = rng.choice([0, 2, 4])
        if o == 4:
            v = pick_value32(rng, sz, len(d))
            put32(d, p + 4, v)
        else:
            v = pick_value16(rng, u16(d, p + o))
            put16(d, p + o, v)
        desc.append(f"{what}: chunk@{p} type 0x{t:x} field +{o} -> 0x{v & 0xFFFFFFFF:x}")
    elif op == "pool" and pools:
        p, t, hs, sz = pools[0]
        o, label = rng.choice([(8, "stringCount"), (12, "styleCount"), (16, "flags"), (20, "stringsStart"), (24, "stylesStart")])
        old = u32(d, p + o)
        v = old ^ rng.choice([0x100, 0x1, 0x101]) if label == "flags" else pick_value32(rng, old, sz)
        put32(d, p + o, v)
        desc.append(f"{what}: string pool {label} 0x{old:x} -> 0x{v & 0xFFFFFFFF:x}")
    elif op == "string" and pools:
        p, t, hs, sz = pools[0]
        n, ss, utf8 = u32(d, p + 8), u32(d, p + 20), bool(u32(d, p + 16) & 0x100)
        if not n or p + hs + 4 * n > len(d):
            return mutate_raw(rng, data, desc, what)
        i = rng.randrange(min(n, 10000))
        so = p + ss + u32(d, p + hs + 4 * i)
        how = rng.choice(["offset", "length", "terminator", "bytes"])
        if how == "offset":
            put32(d, p + hs + 4 * i, pick_value32(rng, so - p - ss, sz))
        elif so + 4 <= len(d):
            if how == "length":
                if utf8:
                    d[so] = rng.choice([0x7F, 0x80, 0xFF])
                    d[so + 1] = rng.choice([0x7F, 0xFF, 0x00])
                else:
                    put16(d, so, rng.choice([0x7FFF, 0x8000, 0xFFFF, 0]))
                    if u16(d, so) & 0x8000:
                        put16(d, so + 2, rng.choice([0, 0xFFFF]))
            elif how == "terminator":
                ln = d[so + 1] if utf8 else u16(d, so)
                at = so + (2 + ln if utf8 else 2 + 2 * ln)
                if at + 2 <= len(d):
                    d[at:at + 2] = b"AA"
            else:
                for _ in range(rng.choice([1, 2, 4])):
                    d[min(len(d) - 1, so + 2 + rng.randrange(16))] = rng.choice([0x00, 0xFF, 0xD8, 0xDC, 0xC0, 0x80])
        desc.append(f"{what}: string {i} {how}")
    elif op in ("attr", "attrs", "elem") and elems:
        p, t, hs, sz = rng.choice(elems)
        if p + 36 > len(d):
            return mutate_raw(rng, data, desc, what)
        a_start, a_size, a_count = u16(d, p + 24), u16(d, p + 26), u16(d, p + 28)
        if op == "elem":
            o = rng.choice([16, 20, 30, 32, 34])
            (put32 if o in (16, 20) else put16)(d, p + o, rng.choice(I32) if o in (16, 20) else rng.choice(I16))
            desc.append(f"{what}: element@{p} field +{o} patched")
        elif op == "attrs" or not a_count:
            o = rng.choice([24, 26, 28])
            v = pick_value16(rng, u16(d, p + o))
            put16(d, p + o, v)
            desc.append(f"{what}: element@{p} attribute {['start', 'size', 'count'][(o - 24) // 2]} -> {v}")
        else:
            k = rng.randrange(a_count)
            at = p + 16 + a_start + a_size * k
            if at + 20 > len(d):
                return mutate_raw(rng, data, desc, what)
            part = rng.choice(["ns", "name", "raw", "type", "type", "data", "data", "ref"])
            if part in ("ns", "name", "raw"):
                o = {"ns": 0, "name": 4, "raw": 8}[part]
                put32(d, at + o, rng.choice(I32 + [rng.randrange(64)]))
            elif part == "type":
                d[at + 15] = rng.choice(RES_TYPES)
            elif part == "data":
                put32(d, at + 16, rng.choice(I32 + [rng.getrandbits(32), 0x7F010000 + rng.randrange(16)]))
            else:  # a reference into resources.arsc, so the label lookup walks the table
                d[at + 15] = 0x01
                put32(d, at + 16, rng.choice([0x7F010000, 0x7F020000, 0x7F030000, 0x7F040000, 0x01040000, 0x7F000000,
                                              0x7FFFFFFF, 0x7F01FFFF, 0x00000000]) + rng.randrange(4))
                put32(d, at + 8, 0xFFFFFFFF)
            desc.append(f"{what}: element@{p} attribute {k} {part}")
    elif op == "truncate":
        cut = rng.choice([rng.randrange(len(d))] + [c[0] + rng.randrange(0, 24) for c in chunks[:50]])
        d = d[:cut]
        desc.append(f"{what}: truncate to {cut}")
    elif op in ("dropchunk", "dupchunk") and len(chunks) > 3:
        p, t, hs, sz = rng.choice(chunks[1:])
        if sz < 8 or p + sz > len(d):
            return mutate_raw(rng, data, desc, what)
        piece = bytes(d[p:p + sz])
        if op == "dropchunk":
            del d[p:p + sz]
        else:
            d[p:p] = piece * rng.choice([1, 2, 50])
        if rng.random() < 0.7:
            put32(d, 4, len(d))
        desc.append(f"{what}: {op} type 0x{t:x} at {p}")
    else:
        return mutate_raw(rng, data, desc, what)
    return bytes(d)


def mutate_text_xml(rng: random.Random, data: bytes, desc: list[str], what: str) -> bytes:
    text = data.decode("utf-8", "replace")
    op = rng.choice(["value", "value", "value", "inject", "raw", "rename", "strip_ns", "encoding"])
    if op == "value":
        vals = list(re.finditer(r'="([^"]*)"', text))
        if not vals:
            return mutate_raw(rng, data, desc, what)
        m = rng.choice(vals)
        v = rng.choice(["", "-1", "0", "99999999999999999999999", "2147483648", "@string/x", "@0x7f010000", "@7F010000",
                        "&#0;", "&amp;", "x" * 5000, "true", "false", "1e9", "\u2028", "a\nb", "&#10;", "0x1F",
                        "com.android.contacts", "android.permission.READ_CONTACTS", "${applicationId}", "@null", "?attr/x"])
        text = text[:m.start(1)] + v + text[m.end(1):]
        desc.append(f"{what}: attribute value {m.group(1)[:40]!r} -> {v[:40]!r}")
    elif op == "inject":
        attack = rng.choice([
            ('<!DOCTYPE m [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">'
             '<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">'
             '<!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;"><!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;">]>'),
            '<!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
            '<!DOCTYPE m [<!ENTITY x SYSTEM "http://127.0.0.1:9/x">]>',
        ])
        text = re.sub(r"^(<\?xml[^>]*\?>)?", lambda m: (m.group(1) or "") + attack, text, count=1)
        text = re.sub(r'(<uses-permission[^>]*android:name=")[^"]*', lambda m: m.group(1) + rng.choice(["&g;", "&x;", "&e;"]), text, count=1)
        desc.append(f"{what}: inject DOCTYPE entity attack")
    elif op == "rename":
        tag = rng.choice(["manifest", "uses-permission", "application", "activity", "uses-sdk"])
        text = text.replace("<" + tag, "<" + rng.choice(["x", "manifest", "uses-permission-sdk-23", tag.upper(), "a:" + tag]), 1)
        desc.append(f"{what}: rename first <{tag}>")
    elif op == "strip_ns":
        text = re.sub(r'\s+xmlns:android="[^"]*"', "", text, count=1)
        desc.append(f"{what}: drop xmlns:android")
    elif op == "encoding":
        enc = rng.choice(["utf-16", "latin-1", "bogus", "utf-32"])
        text = re.sub(r'encoding="[^"]*"', f'encoding="{enc}"', text, count=1)
        desc.append(f"{what}: declared encoding {enc}")
        if rng.random() < 0.5 and enc in ("utf-16", "utf-32"):
            return text.encode(enc)
    else:
        return mutate_raw(rng, data, desc, what)
    return text.encode("utf-8")


def deep_xml(rng: random.Random, desc: list[str]) -> bytes:
    n = rng.choice([300, 5000, 100000])
    desc.append(f"AndroidManifest.xml: text XML nested {n} deep")
    return ('<?xml version="1.0"?><manifest xmlns:android="http://schemas.android.com/apk/res/android" package="a.b">'
            + "<application>" * n + "</application>" * n + "</manifest>").encode()


def mutate_arsc(rng: random.Random, data: bytes, desc: list[str], what: str = "resources.arsc") -> bytes:
    d = bytearray(data)
    chunks = res_chunks(d, 0, len(d))
    types = [c for c in chunks if c[1] == 0x0201]
    op = rng.choice(["chunk"] * 3 + ["type"] * 4 + ["entry"] * 4 + ["selfref"] * 2 + ["truncate", "raw"])
    if op == "chunk" and chunks:
        p, t, hs, sz = rng.choice(chunks)
        o = rng.choice([0, 2, 4, 8, 12, 16, 20])
        if p + o + 4 > len(d):
            return mutate_raw(rng, data, desc, what)
        old = u32(d, p + o)
        v = pick_value32(rng, old, sz)
        if o in (0, 2):
            put16(d, p + o, v)
        else:
            put32(d, p + o, v)
        desc.append(f"{what}: chunk@{p} type 0x{t:x} +{o} -> 0x{v & 0xFFFFFFFF:x}")
    elif op in ("type", "entry", "selfref") and types:
        p, t, hs, sz = rng.choice(types)
        if p + 20 > len(d):
            return mutate_raw(rng, data, desc, what)
        count, start = u32(d, p + 12), u32(d, p + 16)
        if op == "type" or not count:
            o = rng.choice([8, 9, 10, 12, 16])
            if o in (8, 9):
                d[p + o] = rng.choice(I8)
            elif o == 10:
                put16(d, p + o, rng.choice(I16))
            else:
                put32(d, p + o, pick_value32(rng, u32(d, p + o), sz))
            desc.append(f"{what}: type chunk@{p} field +{o} patched")
        else:
            i = rng.randrange(min(count, 4096))
            slot = p + hs + 4 * i
            if slot + 4 > len(d):
                return mutate_raw(rng, data, desc, what)
            eo = u32(d, slot)
            if op == "entry" and (eo == 0xFFFFFFFF or rng.random() < 0.4):
                put32(d, slot, rng.choice([0, 1, 0xFFFFFFFE, 0x7FFFFFFF, sz, sz - 1]))
                desc.append(f"{what}: type chunk@{p} entry {i} offset 0x{eo:x} -> 0x{u32(d, slot):x}")
            elif eo != 0xFFFFFFFF:
                e = p + start + eo
                if e + 16 > len(d):
                    return mutate_raw(rng, data, desc, what)
                if op == "selfref":  # a reference to itself (or a cycle), so resolution must be bounded
                    pkg = next((c[0] for c in chunks if c[1] == 0x0200 and c[0] < p), None)
                    pid = u32(d, pkg + 8) if pkg is not None else 0x7F
                    ref = (pid << 24) | (d[p + 8] << 16) | (i + rng.choice([0, 0, 1]))
                    flags = u16(d, e + 2)
                    if flags & 1:  # complex entry: make its parent point at itself
                        put32(d, e + 8, ref)
                    else:
                        d[e + 11] = 0x01
                        put32(d, e + 12, ref)
                    desc.append(f"{what}: entry {i} of type chunk@{p} references 0x{ref:08x}")
                else:
                    o = rng.choice([0, 2, 4, 8, 10, 11, 12])
                    if o in (10, 11):
                        d[e + o] = rng.choice(RES_TYPES)
                    elif o in (0, 2, 8):
                        put16(d, e + o, rng.choice(I16))
                    else:
                        put32(d, e + o, rng.choice(I32))
                    desc.append(f"{what}: entry {i} of type chunk@{p} field +{o} patched")
            else:
                return mutate_raw(rng, data, desc, what)
    elif op == "truncate":
        cut = rng.randrange(len(d)) if d else 0
        d = d[:cut]
        desc.append(f"{what}: truncate to {cut}")
    else:
        return mutate_raw(rng, data, desc, what)
    return bytes(d)


def mutate_der(rng: random.Random, data: bytes, desc: list[str], what: str) -> bytes:
    d = bytearray(data)
    # patch a DER length byte: positions right after a tag whose length fits
    cands = [i for i in range(1, min(len(d) - 1, 4000)) if d[i - 1] in (0x30, 0x31, 0x02, 0x04, 0x03, 0x06, 0xA0, 0x13, 0x0C)]
    if cands and rng.random() < 0.6:
        i = rng.choice(cands)
        old = d[i]
        d[i] = rng.choice([0x00, 0x7F, 0x80, 0x81, 0x84, 0x89, 0xFF, (old + 1) & 0xFF, (old - 1) & 0xFF])
        desc.append(f"{what}: DER length at {i} 0x{old:02x} -> 0x{d[i]:02x}")
        return bytes(d)
    return mutate_raw(rng, data, desc, what)


def mutate_text(rng: random.Random, data: bytes, desc: list[str], what: str) -> bytes:
    lines = data.split(b"\n")
    if len(lines) > 2 and rng.random() < 0.6:
        i = rng.randrange(len(lines))
        how = rng.choice(["drop", "dup", "long", "colon", "digest"])
        if how == "drop":
            del lines[i]
        elif how == "dup":
            lines.insert(i, lines[i])
        elif how == "long":
            lines[i] = lines[i] + b"A" * 100000
        elif how == "colon":
            lines[i] = lines[i].replace(b":", b"", 1)
        else:
            lines[i] = re.sub(rb"(Digest[^:]*: ).*", rb"\1!!notbase64==", lines[i])
        desc.append(f"{what}: line {i} {how}")
        return b"\n".join(lines)
    return mutate_raw(rng, data, desc, what)


# ====================================================================== packages


def is_dex_name(name: str) -> bool:
    return name.endswith(".dex")


def mutate_apk(rng: random.Random, data: bytes, desc: list[str], *, nested: bool = False) -> bytes:
    op = rng.choices(["raw", "zipstruct", "member"], [2, 2, 7])[0]
    if op == "raw":
        return mutate_raw(rng, data, desc, "apk")
    if op == "zipstruct":
        return mutate_zipstruct(rng, data, desc)
    try:
        members = read_members(data)
    except Exception:  # noqa: BLE001 - not a zip the stdlib reads: mutate its bytes instead
        return mutate_raw(rng, data, desc, "apk")
    if not members:
        return mutate_raw(rng, data, desc, "apk")
    names = [m.name for m in members]
    dex = [i for i, n in enumerate(names) if is_dex_name(n)]
    man = [i for i, n in enumerate(names) if n == "AndroidManifest.xml"]
    arsc = [i for i, n in enumerate(names) if n == "resources.arsc"]
    meta = [i for i, n in enumerate(names) if n.startswith("META-INF/")]
    other = [i for i in range(len(names)) if i not in dex + man + arsc + meta]
    cat = rng.choices(["dex", "manifest", "arsc", "meta", "other", "structure"],
                      [5 * bool(dex), 5 * bool(man), 2 * bool(arsc), 1.5 * bool(meta), 0.5 * bool(other), 3])[0]
    comment = b""
    if cat == "dex":
        i = rng.choice(dex)
        members[i].data = mutate_dex(rng, members[i].data, desc, names[i])
    elif cat == "manifest":
        i = rng.choice(man)
        if rng.random() < 0.05:
            members[i].data = deep_xml(rng, desc)
        else:
            members[i].data = mutate_axml(rng, members[i].data, desc)
            if rng.random() < 0.25:
                members[i].data = mutate_axml(rng, members[i].data, desc)
    elif cat == "arsc":
        i = rng.choice(arsc)
        members[i].data = mutate_arsc(rng, members[i].data, desc)
        if man and rng.random() < 0.5:  # make sure something looks a value up
            j = man[0]
            members[j].data = mutate_axml(random.Random(rng.random()), members[j].data, desc)
    elif cat == "meta":
        i = rng.choice(meta)
        n = names[i].upper()
        if n.endswith((".RSA", ".DSA", ".EC")):
            members[i].data = mutate_der(rng, members[i].data, desc, names[i])
        else:
            members[i].data = mutate_text(rng, members[i].data, desc, names[i])
    elif cat == "other":
        i = rng.choice(other)
        members[i].data = mutate_raw(rng, members[i].data, desc, names[i])
    else:
        how = rng.choice(["dup-manifest", "dup-dex", "remove", "rename", "method", "bomb", "add-dex", "order",
                          "comment", "empty-member", "lie-size", "zip64", "zip64", "descriptor", "descriptor", "extra",
                          "prefix"])
        if how == "dup-manifest" and man:
            copy = Member("AndroidManifest.xml", mutate_axml(rng, members[man[0]].data, desc) if rng.random() < 0.5 else members[man[0]].data)
            members.insert(rng.randrange(len(members) + 1), copy)
            desc.append("structure: AndroidManifest.xml twice")
        elif how == "dup-dex" and dex:
            i = rng.choice(dex)
            members.append(Member(names[i], mutate_dex(rng, members[i].data, desc, names[i] + " (copy)")))
            desc.append(f"structure: {names[i]} twice")
        elif how == "remove":
            i = rng.choice(man + dex if (man + dex) and rng.random() < 0.7 else list(range(len(members))))
            desc.append(f"structure: remove {members[i].name}")
            del members[i]
        elif how == "rename":
            i = rng.randrange(len(members))
            new = rng.choice(["../" + names[i], "/" + names[i], names[i].upper(), names[i] + "\x00x", "classes0.dex",
                              "classes1.dex", "classes99999999999999999999.dex", "classes2.dex/", "a\nb.dex", "C:\\x.dex",
                              "\u202eclasses.dex", "classes.dex ", "AndroidManifest.xml/"])
            desc.append(f"structure: rename {names[i]!r} -> {new!r}")
            members[i].name = new
        elif how == "method":
            i = rng.randrange(len(members))
            members[i].method = rng.choice([0, 1, 9, 12, 14, 99])
            if members[i].method not in (0, 8):
                members[i].raw, members[i].crc, members[i].size = members[i].data[: len(members[i].data) // 2], zlib.crc32(members[i].data), len(members[i].data)
            desc.append(f"structure: {names[i]} compression method {members[i].method}")
        elif how == "bomb":
            mb = rng.choice([16, 64, 256, 1100])
            name = rng.choice([n for n in names if is_dex_name(n)] + ["assets/index.android.bundle", "classes2.dex", "lib/arm64-v8a/libflutter.so", "resources.arsc"])
            raw, crc = bomb(mb)
            members = [m for m in members if m.name != name] + [Member(name, b"", 8, raw, mb << 20, crc)]
            desc.append(f"structure: {name} is {mb} MiB of zeros (deflated {len(raw)} bytes)")
        elif how == "add-dex":
            src = members[dex[0]].data if dex else b"dex\n035\0" + bytes(0x68)
            name = rng.choice(["classes2.dex", "classes10.dex", "assets/x.dex", "classes.dex"])
            members.append(Member(name, mutate_dex(rng, src, desc, name)))
            desc.append(f"structure: add {name}")
        elif how == "order":
            rng.shuffle(members)
            desc.append("structure: shuffle member order")
        elif how == "comment":
            comment = rng.choice([b"PK\x05\x06" + bytes(18), b"x" * 0xFFFF, b"PK\x01\x02junk"])
            desc.append(f"structure: zip comment of {len(comment)} bytes")
        elif how == "empty-member":
            i = rng.choice(man + dex) if (man + dex) else rng.randrange(len(members))
            members[i].data = b""
            desc.append(f"structure: {members[i].name} empty")
        elif how == "lie-size":
            i = rng.choice(dex + man) if (dex + man) else rng.randrange(len(members))
            m = members[i]
            c = zlib.compressobj(6, zlib.DEFLATED, -15)
            m.raw, m.crc = c.compress(m.data) + c.flush(), zlib.crc32(m.data)
            m.size = rng.choice([0, 1, len(m.data) // 2, len(m.data) + 1, 0xFFFFFFFF, 0x7FFFFFFF])
            m.method = 8
            desc.append(f"structure: {m.name} declares {m.size} bytes, holds {len(m.data)}")
        elif how == "zip64":
            targets = rng.sample(range(len(members)), k=min(len(members), rng.choice([1, 1, 3])))
            kind = rng.choice(["ok", "ok", "short", "huge", "missing", "local-only"])
            for i in targets:
                members[i].zip64 = kind
            desc.append(f"structure: zip64 extra field ({kind}) on {[members[i].name for i in targets]}")
        elif how == "descriptor":
            kind = rng.choice(["sig", "nosig", "wrong"])
            targets = [i for i in range(len(members)) if rng.random() < 0.5] or [0]
            for i in targets:
                members[i].descriptor = kind
            desc.append(f"structure: data descriptor ({kind}) on {len(targets)} member(s)")
        elif how == "extra":
            i = rng.randrange(len(members))
            members[i].extra = rng.choice([b"\x01", b"\xff\xff\xff\xff", struct.pack("<HH", 0x9901, 0xFFFF),
                                           struct.pack("<HH", 0xD935, 2) + b"\x00\x00", struct.pack("<HH", 0x5455, 0),
                                           struct.pack("<HH", 0x0001, 0)])
            desc.append(f"structure: extra field {members[i].extra!r} on {members[i].name}")
        elif how == "prefix":
            desc.append("structure: junk before the first local header")
            return rng.choice([b"MZ" + bytes(100), b"#!/bin/sh\n" * 10, b"PK\x03\x04" + bytes(26)]) + build_zip(members, comment)
        else:
            desc.append("structure: (no-op)")
    return build_zip(members, comment)


BAD_JSON = [
    lambda rng, old: old[: rng.randrange(len(old))],
    lambda rng, old: bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 200))),
    lambda rng, old: b"[" * 100000 + b"]" * 100000,
    lambda rng, old: b'{"package_name":' * 50000,
    lambda rng, old: b"1" * 100000,
    lambda rng, old: b'{"package_name": ' + b"9" * 5000 + b"}",
    lambda rng, old: b'{"package_name": NaN, "split_apks": Infinity}',
    lambda rng, old: b'{"package_name": ["a", {"b": null}], "split_apks": "base.apk"}',
    lambda rng, old: b'{"package_name": {"x": 1}}',
    lambda rng, old: b'{"package_name": 1e999}',
    lambda rng, old: b'{"package_name": null, "pname": 7}',
    lambda rng, old: b'{"package_name": false, "pname": true}',
    lambda rng, old: b'{"package_name": "com.example.other\\nline\\u2028x\\u0000"}',
    lambda rng, old: b'"just a string"',
    lambda rng, old: b"null",
    lambda rng, old: b"\xef\xbb\xbf" + old,
    lambda rng, old: old.decode("utf-8", "replace").encode("utf-16"),
    lambda rng, old: b"\xff\xfe\x00\x00" + old,
    lambda rng, old: b"",
    lambda rng, old: b'{"package_name": "' + b"a" * 1000000 + b'"}',
    lambda rng, old: b'{"split_apks": [{"file": "../../../etc/passwd", "id": "base"}, {"file": null}], "package_name": "com.example.loanbundle"}',
    lambda rng, old: b'{"a":1,"a":2,"package_name":"x","package_name":"com.example.loanbundle"}',
    lambda rng, old: b'{"package_name": "\xff\xfe"}',
    lambda rng, old: b'{"package_name": "\\ud800"}',
]


def mutate_bundle(rng: random.Random, data: bytes, desc: list[str]) -> bytes:
    op = rng.choices(["json", "nested", "structure", "raw", "zipstruct"], [4, 6, 3, 1, 1])[0]
    if op == "raw":
        return mutate_raw(rng, data, desc, "bundle")
    if op == "zipstruct":
        return mutate_zipstruct(rng, data, desc)
    members = read_members(data)
    names = [m.name for m in members]
    apks = [i for i, n in enumerate(names) if n.endswith(".apk")]
    if op == "json":
        js = [i for i, n in enumerate(names) if n in ("manifest.json", "info.json")]
        old = members[js[0]].data if js else b'{"package_name": "com.example.loanbundle"}'
        k = rng.randrange(len(BAD_JSON))
        new = BAD_JSON[k](rng, old)
        desc.append(f"bundle: manifest.json variant {k} ({len(new)} bytes): {new[:50]!r}")
        if js:
            members[js[0]].data = new
        else:
            members.insert(0, Member(rng.choice(["manifest.json", "info.json"]), new))
    elif op == "nested" and apks:
        i = rng.choice(apks)
        sub: list[str] = []
        members[i].data = mutate_apk(rng, members[i].data, sub, nested=True)
        desc.extend(f"{names[i]}: {s}" for s in sub)
    else:
        how = rng.choice(["unsafe", "remove-base", "dup", "not-zip", "empty", "only-splits", "bomb", "nested-bundle"])
        if how == "unsafe" and apks:
            i = rng.choice(apks)
            members[i].name = rng.choice(["../" + names[i], "/tmp/" + names[i], "C:" + names[i], "a/../../" + names[i],
                                          "..\\" + names[i], "x\n.apk", "\x00.apk", ".apk", "../../x/../.apk"])
            desc.append(f"bundle: rename {names[i]} -> {members[i].name!r}")
        elif how == "remove-base" and apks:
            i = apks[0]
            desc.append(f"bundle: remove {names[i]}")
            del members[i]
        elif how == "dup" and apks:
            i = rng.choice(apks)
            members.append(Member(names[i], members[i].data, 0))
            desc.append(f"bundle: {names[i]} twice")
        elif how == "not-zip":
            members.append(Member(rng.choice(["a.apk", "base.apk", "zz.apk"]), bytes(rng.getrandbits(8) for _ in range(64)), 0))
            desc.append("bundle: add a non-zip .apk")
        elif how == "empty" and apks:
            i = rng.choice(apks)
            members[i].data = b""
            desc.append(f"bundle: {names[i]} empty")
        elif how == "only-splits":
            members = [m for m in members if not m.name.endswith(".apk") or "split" in m.name or "config" in m.name]
            desc.append("bundle: splits only")
        elif how == "bomb":
            mb = rng.choice([64, 1100, 5000])
            raw, crc = bomb(min(mb, 1100))
            members.append(Member("zbomb.apk", b"", 8, raw, min(mb << 20, 0xFFFFFFFF), crc))
            desc.append(f"bundle: zbomb.apk {mb} MiB of zeros")
        elif how == "nested-bundle" and apks:
            inner = build_zip([Member(m.name, m.data, m.method) for m in members])
            members.append(Member("inner.apk", inner, 0))
            desc.append("bundle: the bundle nested inside itself as inner.apk")
        else:
            desc.append("bundle: (no-op)")
    return build_zip(members)


# ====================================================================== inputs


@dataclass
class Input:
    files: dict[str, bytes]  # relative path -> bytes
    target: str  # relative path audited
    desc: list[str] = field(default_factory=list)


def generate(seed: int, index: int, sources: list[Source]) -> Input:
    rng = random.Random(f"permaudit-fuzz:{seed}:{index}")
    weights = [{"apk": 3.0 if s.label.startswith("fixture") else 1.0, "bundle": 4.0, "dex-folder": 3.0}[s.kind] for s in sources]
    src = rng.choices(sources, weights)[0]
    desc = [src.label]
    if src.kind == "dex-folder":
        dex = (src.path / "classes.dex").read_bytes() if src.path not in _BYTES else _BYTES[src.path]
        _BYTES[src.path] = dex
        man = src.path / "AndroidManifest.xml"
        files: dict[str, bytes] = {}
        how = rng.choices(["folder-dex", "folder-manifest", "folder-both", "bare-dex", "folder-two"], [5, 2, 1, 3, 1])[0]
        desc.append(how)
        if how == "bare-dex":
            return Input({"x.dex": mutate_dex(rng, dex, desc)}, "x.dex", desc)
        files["dump/classes.dex"] = mutate_dex(rng, dex, desc) if how != "folder-manifest" else dex
        if man.is_file():
            raw = man.read_bytes()
            files["dump/AndroidManifest.xml"] = mutate_text_xml(rng, raw, desc, "AndroidManifest.xml") if how in ("folder-manifest", "folder-both") else raw
        if how == "folder-two":
            files["dump/classes2.dex"] = mutate_dex(rng, dex, desc, "classes2.dex")
        return Input(files, "dump", desc)
    data = read_source(src.path)
    if src.kind == "bundle":
        return Input({"in" + src.path.suffix: mutate_bundle(rng, data, desc)}, "in" + src.path.suffix, desc)
    if rng.random() < 0.08:  # the APK's own dex, audited as a bare .dex
        try:
            members = read_members(data)
            dexes = [m for m in members if is_dex_name(m.name)]
        except Exception:  # noqa: BLE001 - a dex the stdlib cannot read out of the APK
            dexes = []
        if dexes:
            m = rng.choice(dexes)
            desc.append(f"bare {m.name}")
            return Input({"x.dex": mutate_dex(rng, m.data, desc, m.name)}, "x.dex", desc)
    out = mutate_apk(rng, data, desc)
    if rng.random() < 0.15:
        out = mutate_apk(rng, out, desc)
    return Input({"in.apk": out}, "in.apk", desc)


def write_input(inp: Input, folder: Path) -> Path:
    for rel, blob in inp.files.items():
        p = folder / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(blob)
    return folder / inp.target


# ====================================================================== worker


def first_permaudit_frame(tb: traceback.StackSummary) -> str:
    frames = [f for f in tb if "/permaudit/" in f.filename.replace("\\", "/")]
    if not frames:
        frames = list(tb)[-1:]
    if not frames:
        return "?"
    f = frames[-1]  # the innermost frame inside permaudit: where it went wrong
    return f"{Path(f.filename).parent.name}/{Path(f.filename).name}:{f.lineno} in {f.name}"


# Python's own error text inside a problem message: often a bug caught by a broad
# ``except`` and reported as bad input. Listed, not counted as a failure.
SUSPICIOUS = re.compile(r"(?<![/$])\b\w*(Error|Exception)\b(?![;$/])|unpack requires|index out of range|has no attribute|NoneType|"
                        r"not subscriptable|object is not|invalid literal|codec can't|unhashable|takes \d+ positional")


def check_invariants(result: object) -> list[str]:
    import permaudit
    from permaudit.formats import render

    bad = []
    if not isinstance(result, permaudit.AuditResult):
        return [f"audit() returned {type(result).__name__}"]
    if not isinstance(result.status, permaudit.Status):
        bad.append(f"status is {result.status!r}")
    if result.status != permaudit.Status.COMPLETE and not result.problems:
        bad.append(f"status {result.status} with no problem")
    for p in result.problems:
        if not p.message or "\n" in p.message or "\r" in p.message:
            bad.append(f"problem {p.code} message is not one line: {p.message[:120]!r}")
        if not p.code:
            bad.append("problem with an empty code")
    for label, fn in (("to_dict/json.dumps", lambda: json.dumps(result.to_dict())),
                      ("render table", lambda: render([result], "table")),
                      ("render json", lambda: json.loads(render([result], "json"))),
                      ("error_line", result.error_line)):
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - any error in a check is the finding
            tb = traceback.extract_tb(exc.__traceback__)
            bad.append(f"{label} raised {type(exc).__name__}: {str(exc)[:200]} at {first_permaudit_frame(tb)}")
    return bad


def run_input(seed: int, index: int, sources: list[Source], work: Path) -> dict:
    import permaudit

    out: dict = {"index": index}
    try:
        inp = generate(seed, index, sources)
    except Exception as exc:  # noqa: BLE001 - a bug in the generator, reported apart
        out.update(status="gen-error", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
        return out
    out["desc"] = inp.desc
    CAUGHT.clear()
    folder = Path(tempfile.mkdtemp(dir=work))
    try:
        target = write_input(inp, folder)
        t0 = time.perf_counter()
        try:
            result = permaudit.audit(target)
        except MemoryError:
            out.update(status="oom", error="MemoryError", traceback=traceback.format_exc())
            return out
        except RecursionError as exc:
            tb = traceback.extract_tb(exc.__traceback__)
            out.update(status="exception", exc_type="RecursionError", error=str(exc)[:300],
                       frame=first_permaudit_frame(tb), traceback="".join(traceback.format_exception(exc))[-6000:])
            return out
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            tb = traceback.extract_tb(exc.__traceback__)
            out.update(status="exception", exc_type=type(exc).__name__, error=str(exc)[:300],
                       frame=first_permaudit_frame(tb), traceback="".join(traceback.format_exception(exc))[-6000:])
            return out
        out["secs"] = round(time.perf_counter() - t0, 3)
        try:
            bad = check_invariants(result)
        except MemoryError:
            out.update(status="oom", error="MemoryError in invariant checks")
            return out
        internal = [p for p in result.problems if p.code == "internal-error"]
        if internal:
            # a bug that audit()'s safety net turned into a problem: as much a finding as an escape
            exc = CAUGHT[0] if CAUGHT else None
            tb = traceback.extract_tb(exc.__traceback__) if exc is not None else None
            out.update(status="internal", exc_type=type(exc).__name__ if exc is not None else "internal-error",
                       error=(str(exc) if exc is not None else internal[0].message)[:300],
                       frame=first_permaudit_frame(tb) if tb else internal[0].message.split(" at ")[-1][:80],
                       problem=internal[0].message[:400],
                       traceback="".join(traceback.format_exception(exc))[-6000:] if exc is not None else "")
        elif bad:
            out.update(status="invariant", error="; ".join(bad)[:1000], result_status=str(result.status.value))
        else:
            out["status"] = result.status.value
            out["codes"] = sorted({p.code for p in result.problems})
            leaks = [f"{p.code}: {p.message[:240]}" for p in result.problems if SUSPICIOUS.search(p.message)]
            if leaks:
                out["suspicious"] = leaks[:3]
        return out
    finally:
        shutil.rmtree(folder, ignore_errors=True)


CAUGHT: list[BaseException] = []


def hook_safety_net() -> None:
    """Keep the exception behind each ``internal-error`` problem, for its traceback.

    ``permaudit.audit`` turns a bug in a stage into an ``internal-error`` problem naming
    one source line; the fuzzer wants the whole traceback, so it wraps the helper that
    builds that problem (when there is one; nothing else changes).
    """
    module = sys.modules.get("permaudit.audit")
    helper = getattr(module, "_internal", None)
    if helper is None or getattr(helper, "_fuzz_hooked", False):
        return

    def internal(*args: object, **kwargs: object) -> object:
        exc = next((a for a in list(args) + list(kwargs.values()) if isinstance(a, BaseException)), None)
        if exc is not None:
            CAUGHT.append(exc)
        return helper(*args, **kwargs)

    internal._fuzz_hooked = True  # type: ignore[attr-defined]
    module._internal = internal  # type: ignore[union-attr]


def worker_main(args: argparse.Namespace) -> None:
    import faulthandler
    import logging
    import warnings

    resp = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # stray prints never corrupt the protocol
    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)
    from loguru import logger

    logger.remove()
    logger.disable("androguard")
    import permaudit
    import permaudit.formats  # noqa: F401

    hook_safety_net()

    sources = find_sources(None if args.no_corpus else Path(args.corpus))
    cap = args.max_memory << 20
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="permaudit-fuzz-"))
    resp.write(json.dumps({"ready": os.getpid()}) + "\n")
    done = 0
    try:
        for line in sys.stdin:
            index = int(line)
            faulthandler.dump_traceback_later(max(1.0, args.timeout * 0.9), exit=False, file=sys.stderr)
            res = run_input(args.seed, index, sources, work)
            faulthandler.cancel_dump_traceback_later()
            done += 1
            last = res["status"] == "oom" or done >= args.recycle  # a fresh process after a MemoryError, and every --recycle inputs
            res["last"] = last
            resp.write(json.dumps(res) + "\n")
            if last:
                break
    finally:
        shutil.rmtree(work, ignore_errors=True)





# ====================================================================== parent


class Worker:
    def __init__(self, args: argparse.Namespace, logdir: Path, n: int) -> None:
        self.log = logdir / f"worker{n}.log"
        self.logf = open(self.log, "w")  # noqa: SIM115 - lives as long as the worker
        self.work = logdir / f"work{n}"  # the parent removes it, even after killing the worker
        self.work.mkdir()
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--workdir", str(self.work), "--seed", str(args.seed),
               "--timeout", str(args.timeout), "--max-memory", str(args.max_memory), "--recycle", str(args.recycle),
               "--corpus", str(args.corpus)] + (["--no-corpus"] if args.no_corpus else [])
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.logf,
                                     cwd=str(ROOT), env={**os.environ, "PYTHONHASHSEED": "0"})
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.buf = b""
        self.ready = False
        self.started = time.monotonic()
        self.index: int | None = None
        self.sent_at = 0.0
        self.eof = False
        self.served = 0

    def send(self, index: int) -> None:
        self.index = index
        self.sent_at = time.monotonic()
        self.proc.stdin.write(f"{index}\n".encode())
        self.proc.stdin.flush()

    def read_lines(self) -> list[dict]:
        try:
            chunk = os.read(self.proc.stdout.fileno(), 1 << 20)
        except BlockingIOError:
            return []
        if not chunk:
            self.eof = True
            return []
        self.buf += chunk
        *lines, self.buf = self.buf.split(b"\n")
        return [json.loads(x) for x in lines if x.strip()]

    def log_tail(self, n: int = 6000) -> str:
        try:
            self.logf.flush()
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def kill(self) -> None:
        if self.proc.poll() is None and self.index is None:
            try:
                self.proc.stdin.close()  # let an idle worker clean up its temporary folder
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.work, ignore_errors=True)
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        self.logf.close()


def dumped_frame(log: str) -> str:
    """The innermost permaudit frame of the last faulthandler dump in a worker log."""
    dump = log[log.rfind("Thread 0x") if "Thread 0x" in log else log.rfind("Current thread"):]
    for line in dump.splitlines():
        m = re.search(r'File "([^"]*/permaudit/[^"]*)", line (\d+) in (\S+)', line)
        if m:
            return f"{Path(m.group(1)).parent.name}/{Path(m.group(1)).name}:{m.group(2)} in {m.group(3)}"
    m = re.search(r'File "([^"]*)", line (\d+) in (\S+)', dump)
    return f"{Path(m.group(1)).name}:{m.group(2)} in {m.group(3)}" if m else "?"


def run_parent(args: argparse.Namespace, indices: list[int]) -> list[dict]:
    logdir = Path(tempfile.mkdtemp(prefix="permaudit-fuzz-logs-"))
    sel = selectors.DefaultSelector()
    results: list[dict] = []
    pending = collections.deque(indices)
    workers: list[Worker] = []
    spawned = [0]

    def spawn() -> Worker:
        w = Worker(args, logdir, spawned[0])
        spawned[0] += 1
        sel.register(w.proc.stdout, selectors.EVENT_READ, w)
        workers.append(w)
        return w

    def retire(w: Worker) -> None:
        sel.unregister(w.proc.stdout)
        w.kill()
        workers.remove(w)

    for _ in range(min(args.jobs, len(indices))):
        spawn()
    t0 = last = time.monotonic()
    deaths = 0
    startup_failures = 0
    while pending or any(w.index is not None for w in workers):
        for w in workers:
            if w.ready and w.index is None and pending:
                w.send(pending.popleft())
        for key, _ in sel.select(timeout=0.2):
            w = key.data
            for msg in w.read_lines():
                if "ready" in msg:
                    w.ready = True
                    continue
                w.served += 1
                msg["worker_log"] = ""
                results.append(msg)
                w.index = None
                if msg.pop("last", False):
                    w.ready = False  # it exits now; retired and replaced below
                if not args.quiet and msg["status"] not in ("complete", "partial", "failed"):
                    print(f"[{msg['index']}] {msg['status']}: {msg.get('exc_type', '')} {msg.get('error', '')[:200]}"
                          f" at {msg.get('frame', '?')}", file=sys.stderr, flush=True)
            if w.ready and w.index is None and pending and not w.eof:
                w.send(pending.popleft())
        now = time.monotonic()
        for w in workers:
            dead = w.eof or w.proc.poll() is not None
            late = w.index is not None and now - w.sent_at > args.timeout
            stuck = not w.ready and now - w.started > 120 and not w.served
            if w.served and not w.ready and w.index is None:
                dead = True  # said it was leaving after its last input
            if not (dead or late or stuck):
                continue
            if dead and not late:
                # drain what it wrote before exiting
                while True:
                    msgs = w.read_lines()
                    if not msgs:
                        break
                    for msg in msgs:
                        if "ready" not in msg:
                            results.append(msg)
                            if msg["index"] == w.index:
                                w.index = None
            if w.index is not None:
                if late:
                    w.proc.send_signal(signal.SIGKILL)
                w.proc.wait()
                tail = w.log_tail()
                rc = w.proc.returncode
                if late:
                    status, err = "hang", f"no result after {args.timeout:g} s; stack at {args.timeout * 0.9:.0f} s: {dumped_frame(tail)}"
                elif "MemoryError" in tail or "Cannot allocate" in tail or "out of memory" in tail.lower():
                    status, err = "oom", f"worker died (rc {rc}) out of memory"
                else:
                    status, err = "crash", f"worker died (rc {rc}{', ' + signal.Signals(-rc).name if rc and rc < 0 else ''})"
                deaths += status != "hang"
                results.append({"index": w.index, "status": status, "error": err, "worker_log": tail[-3000:],
                                "frame": dumped_frame(tail)})
                if not args.quiet:
                    print(f"[{w.index}] {status}: {err}", file=sys.stderr, flush=True)
                w.index = None
            elif not w.ready and not w.served:
                startup_failures += 1
                if startup_failures >= 3:
                    print(f"fuzz: workers fail to start:\n{w.log_tail()[-3000:]}", file=sys.stderr)
                    for x in workers:
                        retire(x)
                    raise SystemExit(2)
            else:
                startup_failures = 0
            retire(w)
            if (pending or any(x.index is not None for x in workers)) and len(workers) < args.jobs:
                spawn()
        if not workers and pending:
            spawn()
        if not args.quiet and now - last > args.progress:
            last = now
            n = len(results)
            print(f"  ... {n}/{len(indices)} inputs, {n / (now - t0):.1f}/s", file=sys.stderr, flush=True)
    for w in workers:
        retire(w)
    shutil.rmtree(logdir, ignore_errors=True)
    results.sort(key=lambda r: r["index"])
    return results


def save_inputs(args: argparse.Namespace, results: list[dict], sources: list[Source]) -> None:
    out = Path(args.save)
    out.mkdir(parents=True, exist_ok=True)
    for r in results:
        if r["status"] in ("complete", "partial", "failed") and not args.only_given:
            continue
        inp = generate(args.seed, r["index"], sources)
        folder = out / f"seed{args.seed}-{r['index']:06d}-{r['status']}"
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir()
        write_input(inp, folder)
        (folder / "README.txt").write_text(
            f"python benchmarks/fuzz.py --seed {args.seed} --only {r['index']}\n"
            f"target: {inp.target}\n" + "\n".join(inp.desc) + "\n\n" + json.dumps(r, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--start", type=int, default=0, help="first index (default 0)")
    ap.add_argument("--only", type=int, action="append", help="run only this index (repeatable) and show everything")
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds per input (default 20)")
    ap.add_argument("--max-memory", type=int, default=1500, help="RLIMIT_AS per worker in MiB (default 1500)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--recycle", type=int, default=400, help="replace each worker after this many inputs")
    ap.add_argument("--save", metavar="DIR", help="write the failing inputs (with --only: that input) here")
    ap.add_argument("--corpus", default=str(CORPUS))
    ap.add_argument("--no-corpus", action="store_true", help="fixtures only")
    ap.add_argument("--json", metavar="FILE", help="write every result as JSON lines")
    ap.add_argument("--describe", action="store_true", help="with --only: print the mutations, do not run")
    ap.add_argument("--progress", type=float, default=30.0, help="seconds between progress lines")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--workdir", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker_main(args)
        return 0
    args.only_given = bool(args.only)
    sources = find_sources(None if args.no_corpus else Path(args.corpus))
    if not sources:
        print("fuzz: no fixtures found", file=sys.stderr)
        return 2
    indices = list(args.only) if args.only else list(range(args.start, args.start + args.count))
    if args.describe:
        for i in indices:
            inp = generate(args.seed, i, sources)
            print(f"[{i}] {inp.target}: " + " | ".join(inp.desc))
        return 0
    t0 = time.monotonic()
    results = run_parent(args, indices)
    took = time.monotonic() - t0
    if args.json:
        with open(args.json, "w") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in results)
    if args.save:
        save_inputs(args, results, sources)
    return report(args, results, took, len(sources))


def report(args: argparse.Namespace, results: list[dict], took: float, n_sources: int) -> int:
    by = collections.Counter(r["status"] for r in results)
    codes = collections.Counter(c for r in results for c in r.get("codes", ()))
    print(f"\npermaudit fuzz: seed {args.seed}, {len(results)} inputs from {n_sources} sources, jobs {args.jobs}, "
          f"timeout {args.timeout:g} s, memory cap {args.max_memory} MiB")
    print(f"  complete {by['complete']}, partial {by['partial']}, failed {by['failed']}")
    print(f"  exceptions escaped {by['exception']}, internal errors (bugs caught by audit's safety net) {by['internal']}, invariant breaks {by['invariant']}, hangs {by['hang']}, "
          f"memory-cap hits {by['oom']}, worker deaths {by['crash'] + by['oom']}, generator errors {by['gen-error']}")
    print(f"  time {took:.1f} s, {len(results) / took if took else 0:.1f} inputs/s")
    if codes:
        print("  problem codes: " + ", ".join(f"{c} {n}" for c, n in codes.most_common()))
    slow = sorted((r for r in results if "secs" in r), key=lambda r: -r["secs"])[:3]
    if slow:
        print("  slowest: " + ", ".join(f"#{r['index']} {r['secs']:.2f} s" for r in slow))
    leaks: dict[str, list[dict]] = collections.defaultdict(list)
    for r in results:
        for line in r.get("suspicious", ()):
            key = re.sub(r"\d+", "N", line.split(":", 1)[0] + ":" + (SUSPICIOUS.search(line).group(0) if SUSPICIOUS.search(line) else ""))
            leaks[key].append({**r, "line": line})
    if leaks:
        print("  problem messages quoting a Python error (maybe a bug behind a broad except; not counted as failures):")
        for key, rs in sorted(leaks.items(), key=lambda kv: -len(kv[1]))[:12]:
            print(f"    {len(rs):4d}  {rs[0]['line'][:200]}  (e.g. --only {rs[0]['index']})")
    bad = [r for r in results if r["status"] not in ("complete", "partial", "failed")]
    for r in bad:
        if not r.get("desc"):  # a hang or a dead worker: describe the input from the seed
            try:
                r["desc"] = generate(args.seed, r["index"], find_sources(None if args.no_corpus else Path(args.corpus))).desc
            except Exception as exc:  # noqa: BLE001
                r["desc"] = [f"(cannot regenerate: {exc})"]
    groups: dict[tuple, list[dict]] = collections.defaultdict(list)
    for r in bad:
        groups[(r["status"], r.get("exc_type", ""), r.get("frame", ""))].append(r)
    for (status, etype, frame), rs in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        r = rs[0]
        print(f"\n== {status} {etype} at {frame}: {len(rs)} input(s), e.g. #{r['index']}")
        print(f"   {r.get('error', '')[:300]}")
        print("   input: " + " | ".join(r.get("desc", []))[:400])
        print(f"   reproduce: python benchmarks/fuzz.py --seed {args.seed} --only {r['index']}")
        more = [x["index"] for x in rs[1:8]]
        if more:
            print(f"   also: {more}")
        if args.only_given:
            print(r.get("traceback") or r.get("worker_log", ""))
    if args.only_given:
        for r in results:
            if r["status"] in ("complete", "partial", "failed"):
                print(f"\n[{r['index']}] {r['status']} in {r.get('secs', 0):.2f} s, problems {r.get('codes')}\n   input: "
                      + " | ".join(r.get("desc", [])))
    failing = by["exception"] + by["internal"] + by["invariant"] + by["hang"] + by["oom"] + by["crash"]
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
