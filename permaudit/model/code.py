"""What the bytecode and assets show the app does."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from permaudit.model.common import Hashes
from permaudit.model.record import record

if TYPE_CHECKING:  # endpoints.py imports CodeLocation and Attribution from here
    from permaudit.model.endpoints import EndpointFacts
    from permaudit.model.paths import PathFacts
    from permaudit.model.reach import ReachFacts


class Owner(enum.StrEnum):
    """Whose code a class is (docs/attribution.md)."""

    FIRST_PARTY = "first-party"
    """Under the app's own package: the manifest ``package`` or its application class's package."""
    THIRD_PARTY = "third-party"
    """Under a known library prefix."""
    UNKNOWN = "unknown"
    """Neither: obfuscated or unrecognised code, never assumed to be the developer's own."""


@record
class Attribution:
    """Whose code it is: the app's own, a named library (``data/libraries*.tsv``), or unknown."""

    owner: Owner
    sdk: str = ""
    """The library's name (a bare namespace from AndroLibZoo has its prefix as name)."""
    prefix: str = ""
    """The library prefix that matched (longest, at a ``.`` or ``$`` boundary)."""
    category: str = ""
    source: str = ""
    """Where the mapping comes from (dataset, repository@commit, licence), so a reader can
    check it; for first-party code, which package made it the app's own."""


@record
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


def short_class(descriptor: str) -> str:
    """``Lcom/x/Uploader;`` -> ``Uploader``: the short name every summary uses."""
    return descriptor.rstrip(";").rsplit("/", 1)[-1]


def short_api(api: str) -> str:
    """``Landroid/content/ContentResolver;->query(...)`` -> ``ContentResolver.query``."""
    owner, _, rest = api.partition("->")
    return short_class(owner) + "." + rest.split("(", 1)[0] if rest else api


@record
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
    via: str = ""
    """Set on a read reported at a call of an app wrapper that does the query: ``<wrapper signature>
    @<offset>`` of the wrapper's own read, which this one repeats. Count reads without ``via``."""


@record
class DataReference:
    """Code that names a personal-data URI that no read was found to use.

    Explains apps that carry contacts URIs without reading through them (dead code, a
    permission they lack, a payload loaded later); never counted as a read.
    """

    category: str
    source: str
    location: CodeLocation
    attribution: Attribution


@record
class PermissionRequest:
    """A runtime permission request or check, with the permission strings it names."""

    api: str
    permissions: tuple[str, ...]
    location: CodeLocation
    attribution: Attribution


@record
class HybridEvidence:
    """Contacts access by a cross-platform framework, found in assets, native strings or plugin classes."""

    framework: str
    """``react-native``, ``flutter``, ``cordova``, ``uni-app``."""
    category: str
    evidence_kind: str
    """``asset``, ``native`` or ``class``."""
    path: str
    detail: str


@record
class DexInfo:
    """One dex file that was read, with its hashes."""

    name: str
    hashes: Hashes
    classes: int
    methods: int


@record
class CodeFacts:
    """What the bytecode and assets show the app does."""

    dex: tuple[DexInfo, ...]
    sites: tuple[AccessSite, ...]
    references: tuple[DataReference, ...]
    requests: tuple[PermissionRequest, ...]
    hybrid: tuple[HybridEvidence, ...]
    endpoints: EndpointFacts | None = None
    """URLs, hosts and servers named in the dex, resources, assets, native libraries and the
    network security config (docs/endpoints.md); None when their extraction hit a bug."""
    paths: PathFacts | None = None
    """For each read: a call path to a send API, or why none was found (docs/paths.md); None when
    the search hit a bug."""
    reach: ReachFacts | None = None
    """For each read: whether an entry point reaches it before a consent screen (docs/reach.md); None
    when the search hit a bug."""


__all__ = ["AccessSite", "Attribution", "CodeFacts", "CodeLocation", "DataReference", "DexInfo", "HybridEvidence", "Owner", "PermissionRequest"]
