"""Stage 1: turn a path into the bytes and parsed manifests of one Android package.

Accepts an APK, a split bundle (``.xapk``, ``.apks``, ``.apkm``), a bare ``.dex`` file, or
a folder of dex dumps with an optional ``AndroidManifest.xml`` (binary or text), and
``discover`` expands folders of any of these. Whatever cannot be read becomes a
``Problem`` on the package rather than an exception, so one broken split or dex never
hides what the rest of the package shows. Every zip member, nested splits and signature
checks included, is inflated by ``members`` within the caps of one ``Limits``; every copy
of a duplicated member is kept, so no copy can hide what another declares.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from lxml import etree

from permaudit.errors import ArscError, InputError, MemberError, one_line
from permaudit.model import Artifact, Hashes, Problem, Severity, Signing
from permaudit.model.record import record

from . import arsc
from .manifest_xml import parse_manifest
from .members import Archive, Budget, Entry, Limits, in_background, open_archive
from .signing import ahead_digest, inspect_signing
from .walk import BUNDLE_SUFFIXES, DEX_SUFFIX, ZIP_MAGIC, is_dex_folder, special_kind

DEX_MAGIC = b"dex\n"
MANIFEST = "AndroidManifest.xml"
DEFAULT_LIMITS = Limits()


@record
class DexSource:
    """A dex file inside the package, inflated only when the bytecode stage asks for it."""

    name: str
    """``classes2.dex``, or ``split_feature.apk!classes.dex`` for a split."""
    read: Callable[[], bytes]
    ahead: Callable[[], object] | None = None
    """Start inflating it in the background, for the next ``read`` (a zip member only)."""
    size: int = 0
    """Its size as the zip's central directory declares it (0 when not a zip member): how much
    work its read-ahead covers, never trusted for anything else."""


@dataclass
class LoadedApk:
    """One APK of the package (the base or a split) with its parsed manifest."""

    name: str
    data_hashes: Callable[[], Hashes]
    """The APK file's hashes, waited for when asked (the top-level APK's are computed in a thread)."""
    archive: Archive
    """The APK's entries (every copy of a duplicated name) and the capped reader of their bytes."""
    manifest: etree._Element | None
    split: str
    signing: Signing | None
    manifest_copies: list[etree._Element] = field(default_factory=list)
    """Further parsed copies of ``AndroidManifest.xml`` when the archive holds the name more
    than once (the two-manifest trick); every copy is audited, so none can hide a permission."""

    def files(self) -> list[str]:
        """Member labels: names, with ``#2``, ``#3`` for later copies of a duplicated name."""
        return self.archive.names()

    def read(self, member: str) -> bytes:
        """A member's bytes by label; ``MemberError`` when it is absent, refused or damaged."""
        entry = self.archive.find(member)
        if entry is None:
            raise MemberError(f"no member {member!r}")
        return self.archive.read(entry)

    def resource_string(self, res_id: int) -> str | None:
        """One resource value from ``resources.arsc``; raises ``ArscError`` on a malformed table."""
        if self.archive.find("resources.arsc") is None:
            return None
        try:
            table = self.read("resources.arsc")
        except MemberError as exc:
            raise ArscError(str(exc)) from None
        return arsc.resolve(table, res_id)


@dataclass
class LoadedPackage:
    """Everything stage 2 needs, plus what could not be read."""

    path: str
    kind: str
    hashes: Hashes | None
    apks: list[LoadedApk] = field(default_factory=list)
    """Base first, then splits in name order."""
    manifest: etree._Element | None = None
    """The base manifest (from the base APK, or the dex folder's ``AndroidManifest.xml``)."""
    dex: list[DexSource] = field(default_factory=list)
    artifacts: list[Artifact] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    threads: bool = True
    """Whether work that only C code does (inflating, hashing) may run in background threads (``load``'s ``threads``)."""
    pending: list[Callable[[], None]] = field(default_factory=list)
    """Steps waiting on background work (the whole file's hashes), run by :meth:`settle`."""

    def settle(self) -> LoadedPackage:
        """Wait for the background work and fill in what it gives: ``hashes`` and ``artifacts``.
        The stages never read these, so the audit runs them while a thread hashes the file."""
        while self.pending:
            self.pending.pop(0)()
        return self

    @property
    def base(self) -> LoadedApk | None:
        return self.apks[0] if self.apks else None

    def files(self) -> Iterator[tuple[str, Callable[[], bytes]]]:
        """Every member of every APK as (display name, reader); split members are ``split.apk!member``.

        A member that cannot be inflated reads as empty (the reader has recorded why), so
        an asset scan never stops at one damaged entry.
        """
        for loaded in self.apks:
            prefix = "" if loaded is self.base else f"{loaded.name}!"
            for entry in loaded.archive.entries:
                yield prefix + entry.label, functools.partial(_read_or_empty, loaded.archive, entry)


def _read_or_empty(archive: Archive, entry: Entry) -> bytes:
    try:
        return archive.read(entry)
    except MemberError:
        return b""


def hashes_later(data: bytes, threads: bool = True, after: Callable[[], object] | None = None) -> Callable[[], Hashes]:
    """``hashes_of(data)`` computed in a background thread (hashlib releases the GIL on large
    buffers, so it runs beside the caller's work), once ``after`` has returned; call the result to
    wait for it. ``threads=False``: computed at once, here."""
    if not threads or len(data) < _HASH_IN_THREAD:
        done = hashes_of(data)
        return lambda: done
    later = in_background(lambda: hashes_of(data), "permaudit-hashes", after)
    return functools.cache(lambda: later() or hashes_of(data))  # asked twice (package, artifact): hashed once


_HASH_IN_THREAD = 1 << 20
"""Smaller data is hashed at once (starting a thread costs more than it saves)."""


def hashes_of(data: bytes) -> Hashes:
    """SHA-256, SHA-1, MD5 and size: the identifiers analysts and courts quote."""
    return Hashes(
        sha256=hashlib.sha256(data).hexdigest(),
        sha1=hashlib.sha1(data).hexdigest(),
        md5=hashlib.md5(data).hexdigest(),
        size=len(data),
    )


def load(path: str | Path, limits: Limits = DEFAULT_LIMITS, *, keep_dex: bool = False, settle: bool = True,
         threads: bool = True) -> LoadedPackage:
    """Read one target within ``limits``; raise ``InputError`` only when nothing of it can be read.

    ``keep_dex``: the dex files will be read (the code stage): keep those the v1 signature
    check inflates, so they are not inflated twice. ``settle=False`` returns before the
    file's hashes are known (``hashes`` and ``artifacts`` are filled in by
    :meth:`LoadedPackage.settle`), so the caller's stages run beside the hashing. ``threads=False``
    does all of it in the calling thread (for a worker whose pool already keeps every core busy).
    """
    path = Path(path)
    if path.is_dir():
        if not is_dex_folder(path):
            raise InputError(Problem("no-package", f"{path}: folder holds no .dex file", severity=Severity.FAILED))
        return _load_dex_folder(path, limits, threads)
    data = _read_file(path, limits)
    if data[:4] == DEX_MAGIC or (path.suffix.lower() == DEX_SUFFIX and data[:4] != ZIP_MAGIC):
        package = LoadedPackage(str(path), "dex", hashes_of(data), threads=threads)
        package.dex.append(DexSource(path.name, lambda: data))
        return package
    package = LoadedPackage(str(path), "apk", None, threads=threads)
    budget = Budget(limits.package_bytes)
    archive = open_archive(data, limits, budget, problems=package.problems, threads=threads)
    if keep_dex:
        archive.retain = _dex_number
    if archive.find(MANIFEST) is None and any(e.name.lower().endswith(".apk") for e in archive.entries):
        suffix = path.suffix.lower()
        package.kind = suffix[1:] if suffix in BUNDLE_SUFFIXES else "bundle"
        package.hashes = hashes_of(data)  # the bundle's artifact is listed first, before its splits are opened
        bundle = _load_bundle(package, path, package.hashes, archive, limits, budget, keep_dex)
        return bundle.settle() if settle else bundle
    # the file's hashes, beside the signature and (with settle=False) code work, once the first dex
    # is inflated: two helpers at once would take the core the caller's own work runs on
    loaded = _open_apk(package, path.name, archive, member="")
    if loaded is None:
        raise InputError(next(p for p in package.problems if p.severity is Severity.FAILED))
    package.pending.append(lambda: setattr(package, "hashes", loaded.data_hashes()))
    _arrange(package, [loaded], top_level=True)
    return package.settle() if settle else package


def _read_file(path: Path, limits: Limits) -> bytes:
    def failed(code: str, why: str) -> InputError:
        return InputError(Problem(code, f"{path}: {why}", severity=Severity.FAILED))

    special = special_kind(path)
    if special:  # opening a FIFO blocks forever; a device never ends
        raise failed("special-file", f"refused, a {special} is not a file")
    try:
        size = path.stat().st_size
        if size > limits.package_bytes:
            raise failed("file-too-large", f"{size} bytes, over the {limits.package_bytes}-byte package limit")
        data = path.read_bytes()
    except FileNotFoundError:
        raise failed("missing-file", "no such file") from None
    except IsADirectoryError:
        raise failed("unreadable-file", "is a directory") from None
    except OSError as exc:
        raise failed("unreadable-file", f"cannot read ({exc.strerror or exc})") from None
    if not data:
        raise failed("empty-file", "file is empty")
    return data


def _open_apk(package: LoadedPackage, name: str, archive: Archive, member: str) -> LoadedApk | None:
    """Parse every manifest copy of one opened APK; record what fails, return None (after a
    problem, ``failed`` for the package itself) if the archive has no entries to read. The
    top-level APK is hashed in a thread once its first dex is read ahead; a split when asked."""
    data = archive.data
    if not archive.entries:
        if archive.eocd >= 0 and archive.declared == 0:
            why = ("empty-zip", f"{name}: zip archive has no entries")
        elif data[:4] != ZIP_MAGIC:
            why = ("not-a-zip", f"{name}: not a zip archive (starts with {data[:4]!r})")
        else:
            why = ("truncated-zip", f"{name}: zip central directory is damaged ({archive.error}) and no local file header could be read")
        package.problems.append(Problem(*why, member, Severity.PARTIAL if member else Severity.FAILED))  # one split of several
        return None
    if archive.recovered:
        package.problems.append(Problem(
            "truncated-zip",
            f"{name}: zip central directory is truncated or damaged ({archive.error}); "
            f"{len(archive.entries)} entries recovered from local file headers",
            member,
        ))
    roots = []
    copies = [e for e in archive.entries if e.name == MANIFEST]
    if not copies:
        package.problems.append(Problem("no-manifest", f"{name}: no {MANIFEST} in the archive", member))
    for entry in copies:
        where = f"{name}!{entry.label}"
        try:
            raw = archive.read(entry)
        except MemberError as exc:
            package.problems.append(Problem("bad-manifest", f"{where}: {exc}", member))
            continue
        root = parse_manifest(package, raw, where, member)
        if root is not None:
            roots.append(root)
    manifest = roots[0] if roots else None
    first: Callable[[], object] | None = None
    if archive.retain is not None and not member:
        # the code stage reads these first: they inflate while the signatures are read (not for a
        # bundle's splits, which could be hundreds), after the manifests, within what is left of the
        # budget; with a JAR signature, hashed there as MANIFEST.MF most often asks
        digest = ahead_digest(archive)
        for entry in _dex_entries(archive)[:_INFLATED_AHEAD]:
            started = archive.read_ahead(entry, digest)
            first = first or started
    hashes = functools.partial(hashes_of, data) if member else hashes_later(data, package.threads, after=first)
    signing = inspect_signing(data, archive)
    split = manifest.get("split", "") if manifest is not None else ""
    return LoadedApk(name, hashes, archive, manifest, split, signing, roots[1:])


def _arrange(package: LoadedPackage, loaded: list[LoadedApk], *, top_level: bool) -> None:
    """Put the base APK first (the one whose manifest names no split), then list artifacts and
    every dex, each copy of a duplicated ``classes*.dex`` included."""
    loaded.sort(key=lambda a: (a.manifest is None or bool(a.split), a.name))
    package.apks = loaded
    base = loaded[0]
    if base.manifest is not None and not base.split:
        package.manifest = base.manifest
    kinds = ["apk" if apk is base and package.manifest is not None or top_level else "split" for apk in loaded]
    package.pending.append(lambda: package.artifacts.extend(
        Artifact(apk.name, kind, apk.data_hashes(), apk.split, apk.signing) for apk, kind in zip(loaded, kinds)))
    for apk in loaded:
        for entry in _dex_entries(apk.archive):
            label = entry.label if top_level else f"{apk.name}!{entry.label}"
            package.dex.append(DexSource(label, functools.partial(apk.archive.read, entry),
                                         functools.partial(apk.archive.read_ahead, entry), entry.size))


def _load_bundle(
    package: LoadedPackage, path: Path, hashes: Hashes, archive: Archive, limits: Limits, budget: Budget, keep_dex: bool = False
) -> LoadedPackage:
    """Every APK of a split bundle, each opened within the same package budget."""
    declared = _bundle_json(archive, package)
    apks = sorted((e for e in archive.entries if e.name.lower().endswith(".apk")), key=lambda e: (e.name != "base.apk", e.label))
    if len(apks) > limits.splits:
        package.problems.append(Problem(
            "too-many-splits", f"{path.name}: {len(apks)} APKs, over the cap of {limits.splits}; only the first {limits.splits} read"
        ))
        apks = apks[: limits.splits]
    loaded: list[LoadedApk] = []
    for entry in apks:
        if not _safe_member(entry.name):
            package.problems.append(Problem("unsafe-member", f"{path.name}: refused member name {entry.name!r}", entry.label))
            continue
        try:
            blob = archive.read(entry)
        except MemberError:
            continue  # the reader recorded why
        inner = open_archive(blob, limits, budget, prefix=f"{entry.label}!", problems=package.problems, threads=package.threads)
        if keep_dex:
            inner.retain = _dex_number
        apk = _open_apk(package, entry.label, inner, member=entry.label)
        if apk is not None:
            loaded.append(apk)
    if not loaded:
        why = next((p for p in package.problems if p.severity is not Severity.NOTE), None)
        raise InputError(why or Problem("no-base-apk", f"{path}: bundle holds no readable APK", severity=Severity.FAILED))
    package.artifacts.append(Artifact(path.name, "bundle", hashes))
    _arrange(package, loaded, top_level=False)
    if package.manifest is None:
        package.problems.append(Problem("no-base-apk", f"{path}: bundle has no readable base APK"))
    elif declared and declared != package.manifest.get("package"):
        found = package.manifest.get("package")
        package.problems.append(Problem("bundle-mismatch", f"{path}: bundle metadata names {declared!r}, base APK is {found!r}"))
    return package


def _bundle_json(archive: Archive, package: LoadedPackage) -> str:
    """The package name the bundle's JSON claims (XAPK ``manifest.json``, APKM ``info.json``)."""
    for name in ("manifest.json", "info.json"):
        entry = archive.find(name)
        if entry is None:
            continue
        try:
            meta = json.loads(archive.read(entry))
        except MemberError:
            return ""  # the reader recorded why
        except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, or nested past Python's stack
            package.problems.append(Problem("bad-bundle-json", f"{name}: not valid JSON ({one_line(exc)})", name))
            return ""
        return str(meta.get("package_name") or meta.get("pname") or "") if isinstance(meta, dict) else ""
    return ""


def _safe_member(name: str) -> bool:
    pure = PurePosixPath(name.replace("\\", "/"))
    return not pure.is_absolute() and ".." not in pure.parts and not (len(name) > 1 and name[1] == ":")


def _load_dex_folder(path: Path, limits: Limits, threads: bool) -> LoadedPackage:
    """A folder of dex dumps: every regular ``*.dex`` at its top level, and its manifest if any."""
    package = LoadedPackage(str(path), "dex-folder", None, threads=threads)
    for dex_path in sorted((p for p in path.iterdir() if p.suffix == DEX_SUFFIX), key=lambda p: _dex_order(p.name)):
        if _regular(package, dex_path):
            package.dex.append(DexSource(dex_path.name, functools.partial(_read_member_file, package, dex_path, limits)))
    manifest_path = path / MANIFEST
    if manifest_path.exists() and _regular(package, manifest_path):
        try:
            raw = _read_member_file(package, manifest_path, limits)
        except MemberError:
            return package
        package.artifacts.append(Artifact(MANIFEST, "manifest", hashes_of(raw)))
        package.manifest = parse_manifest(package, raw, str(manifest_path), MANIFEST)
    return package


def _regular(package: LoadedPackage, path: Path) -> bool:
    """Whether a file of a dex folder may be opened; a FIFO, device or socket is a problem instead."""
    special = special_kind(path)
    if special:
        package.problems.append(Problem("special-file", f"{path}: refused, a {special} is not a file", path.name))
    return not special


def _read_member_file(package: LoadedPackage, path: Path, limits: Limits) -> bytes:
    """One file of a dex folder, within the member cap; a failure is recorded, then raised."""
    try:
        size = path.stat().st_size
        if size > limits.member_bytes:
            problem = Problem("member-too-large", f"{path}: {size} bytes, over the {limits.member_bytes}-byte member limit", path.name)
        else:
            return path.read_bytes()
    except OSError as exc:
        problem = Problem("unreadable-file", f"{path}: cannot read ({exc.strerror or exc})", path.name)
    package.problems.append(problem)
    raise MemberError(problem.message)


def _dex_entries(archive: Archive) -> list[Entry]:
    """The archive's dex files in the order the code stage reads them (``classes.dex``,
    ``classes2.dex``, ...; copies of a duplicated name in directory order)."""
    dex = [(number, index, e) for index, e in enumerate(archive.entries) if (number := _dex_number(e.name))]
    return [entry for _number, _index, entry in sorted(dex, key=lambda d: (d[0], d[1]))]


_INFLATED_AHEAD = 2
"""Dex files inflated in threads while the loader reads signatures (starting the import of the
signature libraries): more would contend for the two cores the first ones need."""


def _dex_number(name: str) -> int:
    """1 for ``classes.dex``, N for ``classesN.dex`` at the top level of an APK, else 0 (not a dex Android loads)."""
    if name.startswith("classes") and name.endswith(".dex"):
        number = name[len("classes") : -len(".dex")]
        if number == "" or number.isdigit():
            return int(number or 1)
    return 0


def _dex_order(name: str) -> tuple[int, str]:
    """classes.dex, classes2.dex, ... classes10.dex: the order Android loads them; other names after."""
    return (_dex_number(name) or 10**6, name)


__all__ = ["DEFAULT_LIMITS", "DexSource", "LoadedApk", "LoadedPackage", "hashes_later", "hashes_of", "load", "one_line"]
