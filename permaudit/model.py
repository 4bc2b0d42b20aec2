"""The result types every stage produces and every format reads.

Everything here is a frozen dataclass of plain values (str, int, bool, tuples), so a
result can be compared, hashed, pickled across processes and serialised to JSON
without custom code. Stages only add facts; judgement (findings under a policy)
comes later and never mutates facts.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import Any

SCHEMA_VERSION = "1.0"


class Level(str, enum.Enum):
    """How serious a finding is; ordered so that ``--fail-on`` can compare levels."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        return list(Level).index(self)


class Status(str, enum.Enum):
    """Whether the whole package could be read."""

    COMPLETE = "complete"
    PARTIAL = "partial"  # something was read, something was not: see ``problems``
    FAILED = "failed"  # nothing usable was read


@dataclass(frozen=True)
class Problem:
    """Something that could not be read, as data rather than an exception."""

    code: str
    """Stable kebab-case identifier, e.g. ``not-a-zip``, ``bad-dex``, ``bad-resources``."""
    message: str
    """One line a person can act on; names the file or member."""
    member: str = ""
    """The member of the package it concerns (``classes2.dex``), or empty for the whole file."""


@dataclass(frozen=True)
class Hashes:
    """Digests and size of one file, so anyone can check they hold the same bytes."""

    sha256: str
    sha1: str
    md5: str
    size: int


@dataclass(frozen=True)
class Certificate:
    """A signer certificate, with the schemes under which it verifies."""

    subject: str
    issuer: str
    serial: str
    not_before: str
    not_after: str
    sha256: str
    sha1: str
    public_key: str
    schemes: tuple[str, ...]


@dataclass(frozen=True)
class SchemeCheck:
    """Whether one APK signature scheme is present and verifies."""

    scheme: str
    present: bool
    verified: bool
    detail: str = ""


@dataclass(frozen=True)
class Signing:
    """What the signatures of one APK prove about who built it."""

    schemes: tuple[SchemeCheck, ...]
    certificates: tuple[Certificate, ...]


@dataclass(frozen=True)
class Artifact:
    """One file read as part of the package: the container, each split APK, each dex."""

    path: str
    """Path inside the input (``base.apk``, ``split_feature.apk!classes2.dex``) or the file itself."""
    kind: str
    """``apk``, ``split``, ``dex``, ``manifest``, ``bundle``."""
    hashes: Hashes
    split: str = ""
    """Split name from the split's manifest (``feature_sync``); empty for a base APK."""
    signing: Signing | None = None


@dataclass(frozen=True)
class Permission:
    """One ``uses-permission`` or ``uses-permission-sdk-23`` entry, judged against the SDK range."""

    name: str
    element: str
    """``uses-permission`` or ``uses-permission-sdk-23``."""
    max_sdk: int | None
    protection_level: str
    """From AOSP's tables for the target SDK, the app's own declaration, or ``unknown``."""
    in_effect: bool
    """Whether any API level in the app's min..target range grants this entry."""
    effective_sdks: str
    """The API levels within min..target where the entry applies, e.g. ``23-30``; empty if none."""
    category: str = ""
    """The personal data it unlocks (``contacts``, ``sms``...), empty if not sensitive."""
    split: str = ""
    """The split whose manifest requests it; empty for the base."""


@dataclass(frozen=True)
class DeclaredPermission:
    """A ``<permission>`` the app defines for others to hold."""

    name: str
    protection_level: str


@dataclass(frozen=True)
class Component:
    """An activity, activity-alias, service, receiver or provider."""

    kind: str
    name: str
    exported: bool
    """Effective export: the attribute if set, else ``True`` when it has an intent filter
    and targets API < 31 (Android's old default)."""
    exported_explicit: bool
    permission: str = ""


@dataclass(frozen=True)
class ManifestFacts:
    """What the manifest says, read once."""

    package: str
    version_code: str
    version_name: str
    label: str
    min_sdk: int | None
    target_sdk: int | None
    max_sdk: int | None
    main_activity: str
    permissions: tuple[Permission, ...]
    declared_permissions: tuple[DeclaredPermission, ...]
    components: tuple[Component, ...]
    uses_cleartext_traffic: bool | None
    network_security_config: str
    queries: tuple[str, ...]
    """``package:<name>``, ``intent:<action>[ <data>]`` and ``provider:<authorities>`` entries."""
    splits: tuple[str, ...] = ()
    """Names of the split APKs whose manifests were read alongside the base."""

    @property
    def query_all_packages(self) -> bool:
        """Whether the app may list every installed app (Android 11+ package visibility)."""
        return any(p.name == "android.permission.QUERY_ALL_PACKAGES" and p.in_effect for p in self.permissions)

    def permission(self, name: str) -> Permission | None:
        """The entry for ``name`` that is in effect, else any entry for it."""
        entries = [p for p in self.permissions if p.name == name]
        return next((p for p in entries if p.in_effect), entries[0] if entries else None)


@dataclass(frozen=True)
class Attribution:
    """Whose code it is: the app's own, or a named third-party SDK from ``data/sdk_prefixes.json``."""

    owner: str
    """``first-party`` or ``third-party``."""
    sdk: str = ""
    prefix: str = ""
    category: str = ""
    source: str = ""
    """Where the prefix-to-SDK mapping comes from, so a reader can check it."""


@dataclass(frozen=True)
class CodeLocation:
    """An instruction a person can find again with baksmali or dexdump."""

    dex: str
    class_name: str
    """Dalvik descriptor, ``Lcom/example/Foo;``."""
    method: str
    descriptor: str
    """``(Landroid/content/Context;)V``."""
    offset: int
    """In 16-bit code units from the start of the method's code, as dexdump prints it."""
    instruction: str

    @property
    def signature(self) -> str:
        return f"{self.class_name}->{self.method}{self.descriptor}"


@dataclass(frozen=True)
class AccessSite:
    """A place where the code reads personal data (or lets the user pick one contact)."""

    category: str
    """``contacts``, ``call_log``, ``sms``, ``installed_apps``, ``media``, ``location``, ``device_id``, ``accounts``."""
    kind: str
    """``bulk`` (cursor iterated), ``lookup`` (one row), ``picker``, ``loader``, ``reflection``, ``api``."""
    api: str
    """The method invoked, ``Landroid/content/ContentResolver;->query(...)Landroid/database/Cursor;``."""
    source: str
    """What names the data: the URI field, the URI string, or empty for direct APIs."""
    location: CodeLocation
    attribution: Attribution
    evidence: tuple[str, ...] = ()
    """The instructions that carry the URI to the query, in order."""
    columns: tuple[str, ...] = ()
    """Columns the code asks for (projection, ``getColumnIndex``): ``display_name``, ``data1``..."""
    bridge: bool = False
    """The method is a ``@JavascriptInterface``: a web page can call it."""


@dataclass(frozen=True)
class DataReference:
    """Code that names a personal-data URI that no read was found to use.

    Explains apps that carry contacts URIs without reading through them (dead code, a
    permission they lack, a payload loaded later); never counted as a read.
    """

    category: str
    source: str
    location: CodeLocation
    attribution: Attribution


@dataclass(frozen=True)
class PermissionRequest:
    """A runtime permission request or check, with the permission strings it names."""

    api: str
    permissions: tuple[str, ...]
    location: CodeLocation
    attribution: Attribution


@dataclass(frozen=True)
class HybridEvidence:
    """Contacts access by a cross-platform framework, found in assets, native strings or plugin classes."""

    framework: str
    """``react-native``, ``flutter``, ``cordova``, ``uni-app``."""
    category: str
    evidence_kind: str
    """``asset``, ``native`` or ``class``."""
    path: str
    detail: str


@dataclass(frozen=True)
class DexInfo:
    """One dex file that was read, with its hashes."""

    name: str
    hashes: Hashes
    classes: int
    methods: int


@dataclass(frozen=True)
class CodeFacts:
    """What the bytecode and assets show the app does."""

    dex: tuple[DexInfo, ...]
    sites: tuple[AccessSite, ...]
    references: tuple[DataReference, ...]
    requests: tuple[PermissionRequest, ...]
    hybrid: tuple[HybridEvidence, ...]


@dataclass(frozen=True)
class Finding:
    """A judgement about the app under a policy, with the evidence behind it."""

    rule: str
    level: Level
    confidence: str
    message: str
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True)
class AuditResult:
    """Everything permaudit learned about one package."""

    path: str
    kind: str
    """``apk``, ``xapk``, ``apks``, ``apkm``, ``dex``, ``dex-folder``."""
    status: Status
    hashes: Hashes | None
    artifacts: tuple[Artifact, ...] = ()
    manifest: ManifestFacts | None = None
    code: CodeFacts | None = None
    """None when the bytecode stage was skipped or no dex could be read."""
    findings: tuple[Finding, ...] = ()
    problems: tuple[Problem, ...] = ()
    tool_version: str = ""
    schema_version: str = SCHEMA_VERSION

    @property
    def signing(self) -> Signing | None:
        """Signatures of the base APK (the one Android checks on install)."""
        return next((a.signing for a in self.artifacts if a.signing is not None), None)

    def highest_level(self) -> Level | None:
        return max((f.level for f in self.findings), key=lambda lv: lv.rank, default=None)

    def error_line(self) -> str:
        """The one-line error for stderr, or empty when the package was read whole."""
        if not self.problems:
            return ""
        first = self.problems[0].message
        name = self.path.replace("\\", "/").rsplit("/", 1)[-1]
        if first.startswith(self.path):
            line = first
        elif first.startswith((name + ":", name + "!")):
            line = self.path + first[len(name) :]  # the message names the file; give its full path
        else:
            line = f"{self.path}: {first}"
        more = len(self.problems) - 1
        return line + (f" (+{more} more)" if more else "")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with enums as their values."""
        plain: dict[str, Any] = _plain(self)
        return plain


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


__all__ = [
    "SCHEMA_VERSION",
    "AccessSite",
    "Artifact",
    "Attribution",
    "CodeFacts",
    "CodeLocation",
    "DataReference",
    "DexInfo",
    "HybridEvidence",
    "PermissionRequest",
    "AuditResult",
    "Certificate",
    "Component",
    "DeclaredPermission",
    "Finding",
    "Hashes",
    "Level",
    "ManifestFacts",
    "Permission",
    "Problem",
    "SchemeCheck",
    "Signing",
    "Status",
]
