"""Stage 1: turn a path into the bytes and parsed manifests of one Android package.

Accepts an APK, a split bundle (``.xapk``, ``.apks``, ``.apkm``), a bare ``.dex`` file, or
a folder of dex dumps with an optional ``AndroidManifest.xml`` (binary or text), and
``discover`` expands folders of any of these. Whatever cannot be read becomes a
``Problem`` on the package rather than an exception, so one broken split or dex never
hides what the rest of the package shows. This package and the manifest and bytecode
modules are the only places that touch androguard.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from androguard.core.apk import APK
from lxml import etree

from permaudit.model import Artifact, Hashes, Problem, Signing

from permaudit.errors import ArscError, InputError, MemberError, one_line

from . import arsc
from .manifest_xml import AXML_MAGIC, parse_manifest
from .signing import inspect_signing
from .walk import APK_SUFFIXES, BUNDLE_SUFFIXES, DEX_SUFFIX, ZIP_MAGIC, is_dex_folder

DEX_MAGIC = b"dex\n"
MANIFEST = "AndroidManifest.xml"
MAX_MEMBER_BYTES = 1 << 30  # a split APK larger than 1 GiB inflated is a zip bomb, not an app


def _member(apk: APK, name: str) -> bytes:
    try:
        return bytes(apk.get_file(name))
    except Exception as exc:  # apkInspector/zlib raise zlib.error, KeyError, ValueError, struct.error
        raise MemberError(f"cannot inflate ({one_line(exc)})") from None


@dataclass(frozen=True)
class DexSource:
    """A dex file inside the package, inflated only when the bytecode stage asks for it."""

    name: str
    """``classes2.dex``, or ``split_feature.apk!classes.dex`` for a split."""
    read: Callable[[], bytes]


@dataclass
class LoadedApk:
    """One APK of the package (the base or a split) with its parsed manifest."""

    name: str
    data_hashes: Hashes
    apk: APK
    """The androguard ``APK`` (opened without its own manifest analysis)."""
    manifest: etree._Element | None
    split: str
    signing: Signing | None
    manifest_copies: list[etree._Element] = field(default_factory=list)
    """Further parsed copies of ``AndroidManifest.xml`` when the archive holds the name more
    than once (the two-manifest trick); every copy is audited, so none can hide a permission."""

    def files(self) -> list[str]:
        return list(self.apk.get_files())

    def read(self, member: str) -> bytes:
        """A member's bytes; ``MemberError`` when it cannot be inflated."""
        return _member(self.apk, member)

    def resource_string(self, res_id: int) -> str | None:
        """One resource value from ``resources.arsc``; raises ``ArscError`` on a malformed table."""
        if "resources.arsc" not in self.files():
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

    @property
    def base(self) -> LoadedApk | None:
        return self.apks[0] if self.apks else None

    def files(self) -> Iterator[tuple[str, Callable[[], bytes]]]:
        """Every member of every APK as (display name, reader); split members are ``split.apk!member``.

        A member that cannot be inflated reads as empty and is recorded as a problem, so an
        asset scan never stops at one damaged entry.
        """
        for loaded in self.apks:
            prefix = "" if loaded is self.base else f"{loaded.name}!"
            for member in loaded.files():
                yield prefix + member, functools.partial(self._read_or_record, loaded, member, prefix + member)

    def _read_or_record(self, loaded: LoadedApk, member: str, shown: str) -> bytes:
        try:
            return loaded.read(member)
        except MemberError as exc:
            self.problems.append(Problem("bad-member", f"{shown}: {exc}", shown))
            return b""


def hashes_of(data: bytes) -> Hashes:
    """SHA-256, SHA-1, MD5 and size: the identifiers analysts and courts quote."""
    return Hashes(
        sha256=hashlib.sha256(data).hexdigest(),
        sha1=hashlib.sha1(data).hexdigest(),
        md5=hashlib.md5(data).hexdigest(),
        size=len(data),
    )


def load(path: str | Path) -> LoadedPackage:
    """Read one target; raise ``InputError`` only when nothing of it can be read."""
    path = Path(path)
    if path.is_dir():
        if not is_dex_folder(path):
            raise InputError(Problem("no-package", f"{path}: folder holds no .dex file"))
        return _load_dex_folder(path)
    data = _read_file(path)
    if data[:4] == DEX_MAGIC or (path.suffix.lower() == DEX_SUFFIX and data[:4] != ZIP_MAGIC):
        package = LoadedPackage(str(path), "dex", hashes_of(data))
        package.dex.append(DexSource(path.name, lambda: data))
        return package
    names = _zip_names(data)
    if names is not None and MANIFEST not in names and any(n.lower().endswith(".apk") for n in names):
        return _load_bundle(path, data)
    package = LoadedPackage(str(path), "apk", hashes_of(data))
    loaded = _open_apk(package, path.name, data, names, member="")
    if loaded is None:
        raise InputError(package.problems[0])
    _arrange(package, [loaded], top_level=True)
    return package


def _read_file(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(Problem("missing-file", f"{path}: no such file")) from None
    except IsADirectoryError:
        raise InputError(Problem("unreadable-file", f"{path}: is a directory")) from None
    except OSError as exc:
        raise InputError(Problem("unreadable-file", f"{path}: cannot read ({exc.strerror or exc})")) from None
    if not data:
        raise InputError(Problem("empty-file", f"{path}: file is empty"))
    return data


def _zip_names(data: bytes) -> list[str] | None:
    """Member names by the standard library's strict reader; None if the central directory is unreadable."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return archive.namelist()
    except Exception:  # BadZipFile, an unsupported zip version or method, ValueError, EOFError
        return None


def _open_apk(package: LoadedPackage, name: str, data: bytes, names: list[str] | None, member: str) -> LoadedApk | None:
    """Open one APK and parse its manifest; record what fails, return None if nothing is readable."""
    if names is None:
        if data[:4] != ZIP_MAGIC:
            package.problems.append(Problem("not-a-zip", f"{name}: not a zip archive (starts with {data[:4]!r})", member))
            return None
        # androguard's zip reader (apkInspector) recovers entries from local headers
        package.problems.append(Problem("truncated-zip", f"{name}: zip central directory is truncated or damaged", member))
    elif not names:
        package.problems.append(Problem("empty-zip", f"{name}: zip archive has no entries", member))
        return None
    try:
        apk = APK(data, raw=True, skip_analysis=True)
        files = apk.get_files()
    except Exception as exc:  # androguard raises ValueError, BrokenAPKError and others
        package.problems.append(Problem("not-a-zip", f"{name}: cannot open as zip ({one_line(exc)})", member))
        return None
    manifest = None
    if MANIFEST not in files:
        package.problems.append(Problem("no-manifest", f"{name}: no {MANIFEST} in the archive", member))
    else:
        try:
            raw = _member(apk, MANIFEST)
        except MemberError as exc:
            package.problems.append(Problem("bad-manifest", f"{name}!{MANIFEST}: {exc}", member))
        else:
            manifest = parse_manifest(package, raw, f"{name}!{MANIFEST}", member)
    hashes = package.hashes if not member and package.hashes else hashes_of(data)
    split = manifest.get("split", "") if manifest is not None else ""
    return LoadedApk(name, hashes, apk, manifest, split, inspect_signing(data))


def _arrange(package: LoadedPackage, loaded: list[LoadedApk], *, top_level: bool) -> None:
    """Put the base APK first (the one whose manifest names no split), then list artifacts and dex."""
    loaded.sort(key=lambda a: (a.manifest is None or bool(a.split), a.name))
    package.apks = loaded
    base = loaded[0]
    if base.manifest is not None and not base.split:
        package.manifest = base.manifest
    for apk in loaded:
        is_base = apk is base and package.manifest is not None or top_level
        package.artifacts.append(Artifact(apk.name, "apk" if is_base else "split", apk.data_hashes, apk.split, apk.signing))
        for dex_name in sorted(apk.apk.get_dex_names(), key=_dex_order):
            label = dex_name if top_level else f"{apk.name}!{dex_name}"
            package.dex.append(DexSource(label, functools.partial(apk.read, dex_name)))


def _load_bundle(path: Path, data: bytes) -> LoadedPackage:
    suffix = path.suffix.lower()
    package = LoadedPackage(str(path), suffix[1:] if suffix in BUNDLE_SUFFIXES else "bundle", hashes_of(data))
    loaded: list[LoadedApk] = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        declared = _bundle_json(archive, package)
        for info in sorted(archive.infolist(), key=lambda i: i.filename):
            if not info.filename.lower().endswith(".apk"):
                continue
            if not _safe_member(info.filename):
                package.problems.append(Problem("unsafe-member", f"{path.name}: refused member name {info.filename!r}", info.filename))
                continue
            if info.file_size > MAX_MEMBER_BYTES:
                package.problems.append(Problem("bad-member", f"{info.filename}: {info.file_size} bytes inflated, over the {MAX_MEMBER_BYTES} limit", info.filename))
                continue
            try:
                blob = archive.read(info)
            except Exception as exc:  # zlib.error, BadZipFile (CRC), an unsupported method, EOFError
                package.problems.append(Problem("bad-member", f"{info.filename}: cannot inflate ({one_line(exc)})", info.filename))
                continue
            apk = _open_apk(package, info.filename, blob, _zip_names(blob), member=info.filename)
            if apk is not None:
                loaded.append(apk)
    if not loaded:
        raise InputError(package.problems[0] if package.problems else Problem("no-base-apk", f"{path}: bundle holds no APK"))
    package.artifacts.append(Artifact(path.name, "bundle", hashes_of(data)))
    _arrange(package, loaded, top_level=False)
    if package.manifest is None:
        package.problems.append(Problem("no-base-apk", f"{path}: bundle has no readable base APK"))
    elif declared and declared != package.manifest.get("package"):
        found = package.manifest.get("package")
        package.problems.append(Problem("bundle-mismatch", f"{path}: bundle metadata names {declared!r}, base APK is {found!r}"))
    return package


def _bundle_json(archive: zipfile.ZipFile, package: LoadedPackage) -> str:
    """The package name the bundle's JSON claims (XAPK ``manifest.json``, APKM ``info.json``)."""
    for name in ("manifest.json", "info.json"):
        if name not in archive.namelist():
            continue
        try:
            meta = json.loads(archive.read(name))
        except Exception as exc:  # damaged member (zlib.error, BadZipFile) or not JSON (ValueError)
            package.problems.append(Problem("bad-bundle-json", f"{name}: not valid JSON ({one_line(exc)})", name))
            return ""
        return str(meta.get("package_name") or meta.get("pname") or "") if isinstance(meta, dict) else ""
    return ""


def _safe_member(name: str) -> bool:
    pure = PurePosixPath(name.replace("\\", "/"))
    return not pure.is_absolute() and ".." not in pure.parts and not (len(name) > 1 and name[1] == ":")


def _load_dex_folder(path: Path) -> LoadedPackage:
    package = LoadedPackage(str(path), "dex-folder", None)
    for dex_path in sorted((p for p in path.iterdir() if p.suffix == DEX_SUFFIX), key=lambda p: _dex_order(p.name)):
        package.dex.append(DexSource(dex_path.name, dex_path.read_bytes))
    manifest_path = path / MANIFEST
    if manifest_path.is_file():
        raw = manifest_path.read_bytes()
        package.artifacts.append(Artifact(MANIFEST, "manifest", hashes_of(raw)))
        package.manifest = parse_manifest(package, raw, str(manifest_path), MANIFEST)
    return package


def _dex_order(name: str) -> tuple[int, str]:
    """classes.dex, classes2.dex, ... classes10.dex: the order Android loads them."""
    stem = PurePosixPath(name).name
    if stem.startswith("classes") and stem.endswith(".dex"):
        number = stem[len("classes") : -len(".dex")]
        if number == "" or number.isdigit():
            return (int(number or 1), stem)
    return (10**6, stem)


__all__ = ["DexSource", "LoadedApk", "LoadedPackage", "hashes_of", "load", "one_line"]
