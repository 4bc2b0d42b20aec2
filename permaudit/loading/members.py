"""The project's one zip reader: every byte inflated from an APK or bundle comes through here.

Evidence must say what the archive holds as Android reads it, and reading it must be
bounded whatever the archive claims. So this reader, standard library only:

* finds the End of Central Directory and parses the central directory as Android's
  libziparchive and apksig do (the EOCD whose comment runs to the end of the file, UTF-8
  names, data located through each entry's local file header);
* keeps every entry, duplicate names included (Android refuses an archive with
  duplicates, but an analyser that kept only one copy would let the other hide), and
  recovers entries from local file headers when the central directory is damaged;
* inflates in a stream with ``decompressobj().decompress(chunk, max_length)``: a member
  declaring more than the cap is refused before any inflation, one inflating past the cap
  is stopped at the cap (the declared size is never allocated), and a package-wide budget
  bounds the total, signature verification included;
* records each refusal and each anomaly it reads through (CRC, sizes, local header
  disagreeing with the central directory) as a ``Problem``, once per member.

Structure defects that make Android's verifier reject the archive as a whole are kept in
``Archive.error`` for ``signing``; the central directory as parsed is ``Archive.central``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import struct
import threading
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from permaudit.errors import MemberError
from permaudit.model import Problem, Severity
from permaudit.model.record import record

T = TypeVar("T")
Ahead = tuple[bytes, tuple[str, bytes] | None]
"""A member's bytes read ahead, and (algorithm, digest) of them when that was asked for."""

LOCAL_MAGIC = b"PK\x03\x04"
CENTRAL_MAGIC = b"PK\x01\x02"
EOCD_MAGIC = b"PK\x05\x06"
ZIP64_LOCATOR_MAGIC = b"PK\x06\x07"
STORED, DEFLATED = 0, 8
_DATA_DESCRIPTOR = 0x08  # general-purpose flag: sizes and CRC follow the data, not in the local header
_FEED = 1 << 18  # compressed bytes handed to zlib at a time
_OUT = 1 << 20  # most inflated bytes asked of zlib at a time
_MiB = 1 << 20


@record
class Limits:
    """Caps on what one package may make the reader inflate; exceeding one is a ``partial`` problem.

    The defaults leave ample room for real apps (the largest member of any corpus APK
    inflates to 6 MiB; the 19 MB eight-dex benchmark APK inflates to 46 MiB in all, no member
    over 6 MiB) while a zip bomb costs at most one member cap of memory and a few seconds.
    """

    member_bytes: int = 256 * _MiB
    """Inflated size of one member, declared or actual (a dex stays far below: 64K methods)."""
    package_bytes: int = 2048 * _MiB
    """Every byte inflated for one package: members, nested splits, v1 signature digests."""
    members: int = 65_535
    """Entries read from one archive (the most a zip without ZIP64 can declare)."""
    splits: int = 256
    """APKs read from one bundle."""


@dataclass
class Budget:
    """What is left of ``Limits.package_bytes``; shared by every archive of one package."""

    remaining: int


@dataclass(frozen=True)
class Entry:
    """One central directory record (or local file header, when the directory is damaged)."""

    name: str
    raw_name: bytes
    method: int
    flags: int
    crc: int
    compressed_size: int
    size: int
    """Declared uncompressed size."""
    header_offset: int
    label: str
    """``name``, or ``name#2``, ``name#3`` for later copies of a duplicated name."""
    sizes_known: bool = True
    """False for an entry recovered from a local header whose sizes and CRC follow its data."""


@dataclass(frozen=True)
class LocalHeader:
    raw_name: bytes
    method: int
    flags: int
    crc: int
    compressed_size: int
    size: int
    data_offset: int


@dataclass
class Archive:
    """An opened zip: its entries, and a capped reader that records what it refuses or reads through."""

    data: bytes
    limits: Limits
    budget: Budget
    prefix: str = ""
    """Put before member names in problems (``split_a.apk!`` for a member of a split)."""
    eocd: int = -1
    """Offset of the End of Central Directory record, -1 if none."""
    cd_offset: int = 0
    cd_size: int = 0
    declared: int = 0
    """Entries the EOCD declares."""
    central: list[Entry] = field(default_factory=list)
    """The central directory as parsed, up to the first damaged record (what apksig judges)."""
    entries: list[Entry] = field(default_factory=list)
    """Every entry read: the central directory, or what local headers give when it is damaged."""
    error: str = ""
    """A structure defect that makes Android's verifier reject the whole archive, or ""."""
    recovered: bool = False
    """True when the central directory is missing or damaged and ``entries`` come from local headers."""
    problems: list[Problem] = field(default_factory=list)
    _by_label: dict[str, Entry] = field(default_factory=dict)
    _locals: dict[int, LocalHeader] = field(default_factory=dict)
    _refused: dict[str, str] = field(default_factory=dict)
    _reported: set[tuple[str, str]] = field(default_factory=set)
    retain: Callable[[str], object] | None = None
    """Names of members to keep once read in full by :meth:`keep` (the loader sets it to the dex
    files when the code stage will read them again after the v1 signature check)."""
    _kept: dict[str, bytes] = field(default_factory=dict)
    _ahead: dict[str, Callable[[], Ahead | None]] = field(default_factory=dict)
    threads: bool = True
    """Whether :meth:`read_ahead` may inflate in a background thread; when False it does nothing."""

    # -- what the archive holds ---------------------------------------------------------

    def names(self) -> list[str]:
        """Labels of every entry in central directory order (``name#2`` for a second copy)."""
        return [e.label for e in self.entries]

    def find(self, label: str) -> Entry | None:
        """The entry with this label (a plain name finds its first copy)."""
        return self._by_label.get(label)

    def shown(self, entry: Entry) -> str:
        return self.prefix + entry.label

    # -- reading -------------------------------------------------------------------------

    def read(self, entry: Entry) -> bytes:
        """A member's bytes; ``MemberError`` (already recorded as a problem) if it is refused or damaged."""
        kept = self._kept.pop(entry.label, None)
        if kept is not None:  # inflated once already: charged to the budget again, as a second inflation is
            self._spend(entry, len(kept))
            return kept
        ahead = self.take_ahead(entry)
        return ahead[0] if ahead is not None else b"".join(self.chunks(entry))

    def take_ahead(self, entry: Entry) -> Ahead | None:
        """The bytes a :meth:`read_ahead` of ``entry`` inflated (waiting for them), charged to the
        budget, with the digest asked for there, when they read cleanly; None when there was none
        or it did not (read it with ``chunks``, which records why)."""
        ahead = self._ahead.pop(entry.label, None)
        if ahead is None or entry.label in self._refused:
            return None
        got = ahead()
        if got is not None:  # read cleanly in the background: only the budget is left to charge
            self._spend(entry, len(got[0]))
        return got

    def checkpoint(self) -> Callable[[], None]:
        """A call that undoes what reads record from now on: problems, refusals, bytes kept,
        read-aheads taken and budget spent (the v1 check reads on past an entry still inflating
        in a thread; where that would record anything differently, it undoes and reads in order)."""
        problems, refused, reported = len(self.problems), dict(self._refused), set(self._reported)
        kept, ahead, remaining = dict(self._kept), dict(self._ahead), self.budget.remaining

        def restore() -> None:
            del self.problems[problems:]
            self._refused, self._reported, self._kept, self._ahead = refused, reported, kept, ahead
            self.budget.remaining = remaining

        return restore

    def reading_ahead(self, entry: Entry) -> bool:
        """Whether a :meth:`read_ahead` of ``entry`` was started and its bytes are not taken yet."""
        return entry.label in self._ahead

    def read_ahead(self, entry: Entry, digest: str = "") -> Callable[[], object] | None:
        """Start inflating ``entry`` in a background thread (zlib releases the GIL), for its next
        :meth:`read`; return a call that waits until it is done, or None when it was not started.
        ``digest`` (a hashlib name): hash the bytes there too (:meth:`take_ahead` gives both).

        Only a member that reads cleanly (local header agreeing, inside the caps, size and
        CRC as declared) is taken from there; any other is read again by ``read`` itself,
        in order, so problems are recorded exactly as without read-ahead.
        """
        if (not self.threads or entry.label in self._ahead or entry.label in self._kept or entry.label in self._refused
                or entry.method not in (STORED, DEFLATED) or not entry.sizes_known or entry.size > self.limits.member_bytes):
            return None
        in_flight = sum(self._by_label[label].size for label in self._ahead)
        if entry.size + in_flight > self.budget.remaining:  # what is inflated ahead stays within the package's budget
            return None
        started = self._ahead[entry.label] = in_background(lambda: self._clean_digested(entry, digest), "permaudit-inflate")
        return started

    def _clean_digested(self, entry: Entry, digest: str) -> Ahead | None:
        clean = self._clean_bytes(entry)
        if clean is None:
            return None
        return clean, (digest, hashlib.new(digest, clean).digest()) if digest else None

    def _clean_bytes(self, entry: Entry) -> bytes | None:
        """The member's bytes when ``chunks`` would read them without a note, refusal or damage;
        else None. Records nothing (it runs in a background thread)."""
        data, at, end = self.data, entry.header_offset, self._data_end()
        if at + 30 > end or data[at : at + 4] != LOCAL_MAGIC:
            return None
        flags, method, _time, _date, crc, csize, size, nlen, xlen = struct.unpack_from("<HHHHIIIHH", data, at + 6)
        if data[at + 30 : at + 30 + nlen] != entry.raw_name or method != entry.method:
            return None
        if not flags & _DATA_DESCRIPTOR and (crc, csize, size) != (entry.crc, entry.compressed_size, entry.size):
            return None
        start = at + 30 + nlen + xlen
        stop = start + entry.compressed_size
        if stop > end:
            return None
        view = memoryview(data)[start:stop]
        if entry.method == STORED:
            out = bytes(view)
        else:
            inflater = zlib.decompressobj(-15)
            try:
                out = inflater.decompress(view, entry.size + 1)  # a byte past the declared size shows a longer stream
            except zlib.error:
                return None
            if not inflater.eof:
                return None
        if len(out) != entry.size or zlib.crc32(out) != entry.crc:
            return None
        return out

    def wants(self, entry: Entry) -> bool:
        """Whether :meth:`keep` would keep this member's bytes for its next :meth:`read`."""
        return self.retain is not None and bool(self.retain(entry.name)) and entry.label not in self._refused

    def keep(self, entry: Entry, data: bytes) -> None:
        """Keep bytes ``chunks(entry)`` gave in full, so the next ``read`` does not inflate them again
        (every check and note of that read is made already; its budget charge is repeated)."""
        if self.wants(entry):
            self._kept[entry.label] = data

    def chunks(self, entry: Entry) -> Iterator[bytes | memoryview]:
        """Stream a member's uncompressed bytes within the caps, located through its local header.

        Reads by the central directory as Android does; what disagrees is noted, what
        cannot be read or exceeds a cap raises ``MemberError`` after recording a problem.
        """
        if entry.label in self._refused:  # refused once, refused again without inflating it again
            raise MemberError(self._refused[entry.label])
        cap = self.limits.member_bytes
        if entry.size > cap:
            self._refuse(entry, "member-too-large", f"declares {entry.size} bytes inflated, over the {cap}-byte member cap; not read")
        local = self.local(entry)
        self._check_local(entry, local)
        start, stop = local.data_offset, local.data_offset + entry.compressed_size
        if stop > self._data_end():
            self._fail(entry, f"data (offset {start}, {entry.compressed_size} bytes) runs past the end of the entries")
        view = memoryview(self.data)[start:stop]
        if entry.method == STORED:
            if len(view) > cap:
                self._refuse(entry, "member-too-large", f"stores {len(view)} bytes, over the {cap}-byte member cap; not read")
            self._spend(entry, len(view))
            self._check_result(entry, len(view), zlib.crc32(view))
            yield view
            return
        if entry.method != DEFLATED:
            self._fail(entry, f"unsupported compression method {entry.method}")
        yield from self._inflate(entry, view, cap)

    def _inflate(self, entry: Entry, view: memoryview, cap: int) -> Iterator[bytes]:
        inflater = zlib.decompressobj(-15)
        total, crc = 0, 0
        try:
            for off in range(0, len(view), _FEED):
                piece: bytes | memoryview = view[off : off + _FEED]
                while piece and not inflater.eof:
                    out = inflater.decompress(piece, min(_OUT, cap - total + 1))  # one byte past the cap shows it is crossed
                    piece = inflater.unconsumed_tail
                    total += len(out)
                    if total > cap:
                        self._refuse(entry, "member-too-large", f"inflates past the {cap}-byte member cap (declared {entry.size}); stopped there, not read")
                    self._spend(entry, len(out))
                    crc = zlib.crc32(out, crc)
                    yield out
                if inflater.eof:
                    break
        except zlib.error as exc:
            self._fail(entry, f"cannot inflate ({exc})")
        if not inflater.eof:
            self._fail(entry, "deflate data ends before the end of its stream")
        self._check_result(entry, total, crc)

    def local(self, entry: Entry) -> LocalHeader:
        """The entry's local file header; ``MemberError`` if there is none where the directory points."""
        at = entry.header_offset
        local = self._locals.get(at)
        if local is None:
            if at + 30 > self._data_end() or self.data[at : at + 4] != LOCAL_MAGIC:
                self._fail(entry, f"no local file header at offset {at}")
            flags, method, _time, _date, crc, csize, size, nlen, xlen = struct.unpack_from("<HHHHIIIHH", self.data, at + 6)
            local = LocalHeader(self.data[at + 30 : at + 30 + nlen], method, flags, crc, csize, size, at + 30 + nlen + xlen)
            self._locals[at] = local
        return local

    # -- problems ------------------------------------------------------------------------

    def note(self, code: str, member: str, message: str, severity: Severity = Severity.NOTE) -> None:
        """Record a problem once per (code, member), however often the member is read."""
        if (code, member) not in self._reported:
            self._reported.add((code, member))
            self.problems.append(Problem(code, f"{member}: {message}" if member else message, member, severity))

    def _refuse(self, entry: Entry, code: str, why: str) -> None:
        self.note(code, self.shown(entry), why, Severity.PARTIAL)
        self._refused[entry.label] = why
        raise MemberError(why)

    def _fail(self, entry: Entry, why: str) -> None:
        self._refuse(entry, "bad-member", f"{why}; not read")

    def _spend(self, entry: Entry, size: int) -> None:
        self.budget.remaining -= size
        if self.budget.remaining < 0:
            cap = self.limits.package_bytes
            self._refuse(entry, "package-too-large", f"inflating it exceeds the {cap}-byte cap on all bytes inflated for this package; not read")

    def _check_local(self, entry: Entry, local: LocalHeader) -> None:
        """Note a local header that disagrees with the central directory (libziparchive refuses a
        differing name, CRC or sizes; apksig a differing name); the data is read by the directory."""
        differ = []
        if local.raw_name != entry.raw_name:
            differ.append(f"name {local.raw_name.decode('utf-8', 'replace')!r}")
        if local.method != entry.method:
            differ.append(f"compression method {local.method} (central directory: {entry.method})")
        if not local.flags & _DATA_DESCRIPTOR and (local.crc, local.compressed_size, local.size) != (entry.crc, entry.compressed_size, entry.size):
            differ.append(
                f"CRC/sizes {local.crc:08x}/{local.compressed_size}/{local.size} "
                f"(central directory: {entry.crc:08x}/{entry.compressed_size}/{entry.size})"
            )
        if differ:
            self.note("local-header-mismatch", self.shown(entry), "local file header gives " + ", ".join(differ) + "; read by the central directory, as Android locates data")

    def _check_result(self, entry: Entry, size: int, crc: int) -> None:
        if not entry.sizes_known:
            return
        if size != entry.size:
            self.note("size-mismatch", self.shown(entry), f"inflates to {size} bytes, declared {entry.size}; read in full")
        if crc != entry.crc:
            self.note("crc-mismatch", self.shown(entry), f"CRC-32 is {crc:08x}, declared {entry.crc:08x}; read anyway, as Android does (it does not check CRCs)")

    def _data_end(self) -> int:
        """Member data must end before the central directory (libziparchive's rule), or the file when there is none."""
        return self.cd_offset if self.eocd >= 0 and not self.recovered else len(self.data)


def open_archive(
    data: bytes, limits: Limits, budget: Budget, prefix: str = "", problems: list[Problem] | None = None,
    threads: bool = True,
) -> Archive:
    """Parse ``data`` as a zip. Never raises: see ``eocd``, ``error``, ``recovered`` and ``problems``.

    Problems go to ``problems`` (the package's list) as they arise, reads included:
    ``too-many-members`` (partial) past ``limits.members`` and ``duplicate-member`` (note)
    for each name held more than once are recorded here; the caller judges an archive
    with no entries.
    """
    archive = Archive(data, limits, budget, prefix, problems=[] if problems is None else problems, threads=threads)
    _read_central(archive)
    found = 0
    if archive.eocd >= 0 and len(archive.central) == min(archive.declared, limits.members):
        archive.entries = archive.central = _labelled(archive, archive.central)
        found = archive.declared
    elif data[:4] == LOCAL_MAGIC:  # a damaged directory: what the local headers hold
        archive.recovered = True
        recovered = _from_local_headers(archive)
        found = len(recovered)
        archive.entries = _labelled(archive, recovered[: limits.members])
    if found > limits.members:
        count = f"more than {limits.members}" if archive.recovered else str(found)
        why = f"{count} entries, over the cap of {limits.members}; only the first {limits.members} read"
        archive.note("too-many-members", prefix.rstrip("!"), why, Severity.PARTIAL)
    archive._by_label = {e.label: e for e in archive.entries}
    return archive


def _read_central(archive: Archive) -> None:
    """Locate the End of Central Directory and parse the records, as apksig does."""
    data, n = archive.data, len(archive.data)
    if n < 22:
        archive.error = "not a ZIP archive: too short for an End of Central Directory record"
        return
    lo, pos = max(0, n - 22 - 0xFFFF), n - 22
    while pos >= lo:  # the record whose comment runs exactly to the end of the file
        i = data.rfind(EOCD_MAGIC, lo, pos + 4)
        if i < 0:
            break
        if struct.unpack_from("<H", data, i + 20)[0] == n - i - 22:
            archive.eocd = i
            break
        pos = i - 1
    if archive.eocd < 0:
        archive.error = "not a ZIP archive: no End of Central Directory record"
        return
    eocd = archive.eocd
    archive.declared, archive.cd_size, archive.cd_offset = struct.unpack_from("<HII", data, eocd + 10)
    cd_offset, cd_size = archive.cd_offset, archive.cd_size
    if eocd >= 20 and data[eocd - 20 : eocd - 16] == ZIP64_LOCATOR_MAGIC:
        archive.error = "ZIP64 archives are not supported by APK signature verification"
    elif cd_offset > eocd:
        archive.error = f"malformed ZIP: central directory offset {cd_offset} is past the End of Central Directory at {eocd}"
    elif cd_offset + cd_size > eocd:
        archive.error = (
            f"malformed ZIP: central directory (offset {cd_offset}, size {cd_size}) overlaps "
            f"the End of Central Directory at {eocd}"
        )
    end = min(cd_offset + cd_size, eocd)
    pos = cd_offset
    for index in range(min(archive.declared, archive.limits.members)):
        if pos + 46 > end or data[pos : pos + 4] != CENTRAL_MAGIC:
            archive.error = archive.error or f"malformed ZIP: central directory record #{index + 1} at offset {pos}"
            return
        flags, method, _t, _d, crc, csize, size, nlen, xlen, clen = struct.unpack_from("<HHHHIIIHHH", data, pos + 8)
        (lfh,) = struct.unpack_from("<I", data, pos + 42)
        if pos + 46 + nlen + xlen + clen > end:
            archive.error = archive.error or f"malformed ZIP: central directory record #{index + 1} at offset {pos}"
            return
        raw = bytes(data[pos + 46 : pos + 46 + nlen])
        name = raw.decode("utf-8", "replace")
        archive.central.append(Entry(name, raw, method, flags, crc, csize, size, lfh, name))
        pos += 46 + nlen + xlen + clen


def _from_local_headers(archive: Archive) -> list[Entry]:
    """Up to one more than ``limits.members`` entries found by walking local file headers,
    as apkInspector recovers a damaged archive.

    A central record parsed for the same offset supplies what a data descriptor left out
    of the local header; a deflated entry with neither is inflated to the end of its stream.
    """
    data = archive.data
    end = archive.cd_offset if archive.eocd >= 0 and archive.cd_offset <= len(data) else len(data)
    by_offset = {e.header_offset: e for e in archive.central}
    found: list[Entry] = []
    pos = 0
    while len(found) <= archive.limits.members:
        pos = data.find(LOCAL_MAGIC, pos, max(0, end - 29))
        if pos < 0:
            break
        flags, method, _t, _d, crc, csize, size, nlen, xlen = struct.unpack_from("<HHHHIIIHH", data, pos + 6)
        start = pos + 30 + nlen + xlen
        raw = bytes(data[pos + 30 : pos + 30 + nlen])
        entry = by_offset.get(pos)
        name = raw.decode("utf-8", "replace")
        if entry is None and flags & _DATA_DESCRIPTOR:
            csize = len(data) - start if method == DEFLATED else 0
            entry = Entry(name, raw, method, flags, 0, max(0, csize), 0, pos, name, sizes_known=False)
        elif entry is None:
            entry = Entry(name, raw, method, flags, crc, csize, size, pos, name)
        found.append(entry)
        skip = 0 if not entry.sizes_known else entry.compressed_size
        pos = start + skip if start + skip <= end else pos + 4
    return found


def member_name(shown: str) -> str:
    """The archive name behind a shown label: ``split.apk!assets/a.json#2`` -> ``assets/a.json``
    (the inverse of the labelling below), so every copy of a duplicated member is matched alike."""
    name = shown.rpartition("!")[2]
    base, hash_, number = name.rpartition("#")
    return base if hash_ and number.isdigit() and base else name


def _labelled(archive: Archive, entries: list[Entry]) -> list[Entry]:
    """Give each entry its label, and note every name the archive holds more than once."""
    copies: Counter[str] = Counter()
    labelled = []
    for entry in entries:
        copies[entry.name] += 1
        number = copies[entry.name]
        labelled.append(entry if number == 1 else dataclasses.replace(entry, label=f"{entry.name}#{number}"))
    for name, count in copies.items():
        if count > 1:
            later = ", ".join(f"{name}#{k}" for k in range(2, count + 1))
            archive.note(
                "duplicate-member", archive.prefix + name,
                f"{count} entries share this name (Android refuses such an archive; a reader keeping one copy "
                f"would hide the others); every copy is audited, the later ones as {later}",
            )
    return labelled


__all__ = ["Archive", "Budget", "Entry", "Limits", "LocalHeader", "in_background", "member_name", "open_archive"]


def in_background(make: Callable[[], T], name: str, after: Callable[[], object] | None = None) -> Callable[[], T | None]:
    """Run ``make`` in a daemon thread, once ``after`` (other background work) has returned; the
    returned call waits for its value. ``None`` when the thread ran out of memory: the caller then
    does the work itself, in the foreground, where a memory limit is met and reported (a thread's
    exception would only be a traceback on stderr)."""
    box: list[T] = []

    def fill() -> None:
        try:
            if after is not None:
                after()
            box.append(make())
        except MemoryError:
            pass

    worker = threading.Thread(target=fill, name=name, daemon=True)
    try:
        worker.start()
    except RuntimeError:  # no thread to be had (a worker under its memory limit): the caller does the work
        return lambda: None

    def result() -> T | None:
        worker.join()
        return box[0] if box else None

    return result
