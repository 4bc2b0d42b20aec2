"""Whose code a class is: the app's own, a named third-party library, or unknown.

A read of the contact list inside a risk-control or KYC SDK is still the app's doing, but
the report should say which vendor's code does it, and it must never call library code
the developer's own. The rule (docs/attribution.md):

1. a class under the app's own package (the manifest ``package``, or the package of the
   ``<application android:name>`` class) is ``first-party``, even where a library list
   names that namespace (``com.tencent.mm`` is WeChat's own code in WeChat);
2. else the longest *named* library prefix that owns the class makes it ``third-party``
   (``data/libraries.tsv``, Apache-2.0/MIT sources and our curated rows, and
   ``data/libraries-exodus.tsv``, Exodus Privacy's ODbL tracker signatures);
3. else a namespace that AndroLibZoo lists as a library (no name: ``data/libraries-androlibzoo.txt.gz``)
   makes it ``third-party`` with the prefix as its name;
4. else ``unknown``: obfuscated or unrecognised code, never silently first-party.

A prefix ``P`` owns class ``C`` when ``C == P`` or ``C`` starts with ``P + "."`` or
``P + "$"``. The tables are read once per process, lazily, on the first class attributed.
"""

from __future__ import annotations

import functools
import gzip
import json
from bisect import bisect_left
from importlib import resources
from typing import Any, NamedTuple

from permaudit.model.code import Attribution, Owner

ANDROID_NS = "{http://schemas.android.com/apk/res/android}"
TABLE = "libraries.tsv"
EXODUS = "libraries-exodus.tsv"
NAMESPACES = "libraries-androlibzoo.txt.gz"
SOURCES = "library_sources.json"
COLUMNS = ("prefix", "name", "category", "source", "evidence")
VENDOR = "vendor-sdk"
"""A vendor's whole namespace (``com.tencent``): a row under it is more specific."""
GENERIC = "tracker"
"""Exodus's category for a tracker it gives none; a permissive row's category is kept then."""
FRAMEWORK = ("android.", "java.", "javax.", "dalvik.", "kotlin.", "androidx.")
"""An application class here is the platform's or a library's: its package says nothing about the app."""

UNKNOWN = Attribution(Owner.UNKNOWN)


class Library(NamedTuple):
    prefix: str
    name: str
    category: str
    source: str
    """Comma list of dataset ids (``library_sources.json``); the first supplied name and category."""
    evidence: str = ""
    """For our curated rows: the public evidence that the prefix is that SDK's."""


class Attributor:
    """Attribution of classes in one package; build one per package, ask ``.of(class_name)`` per site.

    ``package_name`` is the manifest's ``package``; ``application_class`` its
    ``<application android:name>`` (relative names such as ``.App`` are resolved). With
    neither (a bare dex), no class is first-party: everything unlisted is ``unknown``.
    """

    def __init__(self, package_name: str = "", application_class: str = "") -> None:
        self.package_name = package_name.strip()
        self.application_class = _resolve(self.package_name, application_class.strip())
        self._own: dict[str, str] | None = None  # built on the first class: it may read the tables
        self._cache: dict[str, Attribution] = {}

    @property
    def own_packages(self) -> dict[str, str]:
        """The app's own packages, each with why it is the app's."""
        if self._own is None:
            own: dict[str, str] = {}
            if self.package_name:
                own[self.package_name] = f"manifest package {self.package_name}"
            app_package = _package_of(self.application_class)
            if app_package and app_package not in own and _may_be_own(app_package, self.application_class):
                own[app_package] = f"package of application class {self.application_class}"
            self._own = own
        return self._own

    @classmethod
    def from_manifest(cls, manifest: Any) -> Attributor:
        """From the parsed base manifest (an lxml element), or None for a bare dex."""
        if manifest is None:
            return cls()
        application = manifest.find("application")
        app_class = ""
        if application is not None:
            # obfuscated manifests sometimes drop the namespace
            app_class = application.get(f"{ANDROID_NS}name") or application.get("name") or ""
        return cls(manifest.get("package") or "", app_class)

    def of(self, class_name: str) -> Attribution:
        """Whose code ``class_name`` is (``Lcom/x/Y;``, ``[Lcom/x/Y;`` or ``com.x.Y``)."""
        found = self._cache.get(class_name)
        if found is None:
            found = self._cache[class_name] = self._attribute(dotted(class_name))
        return found

    def _attribute(self, name: str) -> Attribution:
        own = self.own_packages
        for candidate in prefixes_of(name):
            why = own.get(candidate)
            if why is not None:
                return Attribution(Owner.FIRST_PARTY, source=why)
        return library_attribution(name)

    def __repr__(self) -> str:
        return f"Attributor({self.package_name!r}, {self.application_class!r})"


def library_attribution(name: str) -> Attribution:
    """The third-party library that owns dotted class ``name`` by prefix alone, else ``unknown``."""
    library = match(name)
    if library is None:
        return UNKNOWN
    return _as_attribution(library)


def match(name: str) -> Library | None:
    """The library row owning dotted ``name``: the longest named prefix; an unnamed row only where
    no shorter named row (other than a vendor namespace) covers it; else an AndroLibZoo namespace."""
    table = libraries()
    unnamed = None  # a row with a category but no name: a shorter named row (not a vendor namespace) names it better
    for candidate in prefixes_of(name):
        library = table.get(candidate)
        if library is None:
            continue
        if library.name:
            return unnamed if unnamed is not None and library.category == VENDOR else library
        if unnamed is None:
            unnamed = library
    if unnamed is not None:
        return unnamed
    spaces = namespaces()
    for candidate in prefixes_of(name):
        at = bisect_left(spaces, candidate)
        if at < len(spaces) and spaces[at] == candidate:
            return Library(candidate, "", "unknown-library", "androlibzoo")
    return None


def dotted(class_name: str) -> str:
    name = class_name.lstrip("[")
    if name.startswith("L") and name.endswith(";"):
        name = name[1:-1].replace("/", ".")
    return name


def prefixes_of(name: str) -> list[str]:
    """``name`` and every prefix of it ending before a ``.`` or ``$``, longest first."""
    out = [name] if name else []
    end = len(name)
    while True:
        end = max(name.rfind(".", 0, end), name.rfind("$", 0, end))
        if end <= 0:
            return out
        out.append(name[:end])


def _resolve(package_name: str, class_name: str) -> str:
    """Android's reading of a component name: ``.App`` and ``App`` are relative to the package."""
    if not class_name:
        return ""
    if class_name.startswith("."):
        return package_name + class_name if package_name else class_name[1:]
    if "." not in class_name and package_name:
        return f"{package_name}.{class_name}"
    return class_name


def _package_of(class_name: str) -> str:
    return class_name.rpartition(".")[0]


def _may_be_own(app_package: str, app_class: str) -> bool:
    """An application class's package is the app's unless that class is the platform's or a
    named library's (MultiDexApplication, Tinker, packers) or the package is one bare segment
    (``a``, where R8 also puts renamed library code)."""
    if "." not in app_package or app_class.startswith(FRAMEWORK):
        return False
    library = match(app_class)
    # a vendor's whole namespace (com.google: Authenticator's own app class) or an unnamed
    # AndroLibZoo namespace (app publishers' namespaces are in it) does not make it a library's
    return library is None or library.category == VENDOR or (not library.name and "androlibzoo" == library.source)


def _as_attribution(library: Library) -> Attribution:
    return _attribution(library.prefix, library.name or library.prefix, library.category, library.source, library.evidence)


@functools.cache
def _attribution(prefix: str, name: str, category: str, source: str, evidence: str) -> Attribution:
    return Attribution(Owner.THIRD_PARTY, name, prefix, category, _cite(source, evidence))


def _cite(source: str, evidence: str) -> str:
    """Dataset ids as a citation a reader can check: dataset, repository@commit, licence."""
    known = sources()
    parts = []
    for sid in source.split(","):
        entry = known.get(sid)
        if entry is None:
            parts.append(sid)
        elif entry.get("repo"):
            parts.append(f"{entry['label']} ({entry['repo']}@{entry['commit'][:10]}, {entry['licence']})")
        else:
            parts.append(f"{entry['label']} ({entry['licence']})")
    text = "; ".join(parts)
    return f"{text}: {evidence}" if evidence else text


def _data(name: str) -> Any:
    return resources.files("permaudit.data").joinpath(name)


@functools.cache
def sources() -> dict[str, dict[str, str]]:
    """Dataset id -> label, repo, commit, path, licence."""
    data: dict[str, dict[str, str]] = json.loads(_data(SOURCES).read_text(encoding="utf-8"))["sources"]
    return data


@functools.cache
def libraries() -> dict[str, Library]:
    """Named prefixes: our Apache-2.0/MIT table merged with Exodus's ODbL table.

    On the same prefix Exodus supplies the name (as in the reference merge) unless our row is
    curated; a permaudit or curated row always wins; Exodus's generic ``tracker`` category
    yields to a specific one."""
    table = {row.prefix: row for row in _read_tsv(TABLE)}
    for row in _read_tsv(EXODUS):
        ours = table.get(row.prefix)
        if ours is None:
            table[row.prefix] = row
        elif ours.source.split(",")[0] not in ("curated", "permaudit"):
            category = ours.category if row.category == GENERIC and ours.category not in ("", "unknown-library") else row.category
            table[row.prefix] = Library(row.prefix, row.name, category, f"exodus,{ours.source}")
    return table


@functools.cache
def namespaces() -> list[str]:
    """AndroLibZoo's library namespaces that no named row covers (names unknown), sorted, for
    ``bisect``: the file is written sorted, one per line (``refresh_libraries``; a test checks
    it), and splitting it costs about 2 ms where hashing its 31,000 lines into a set cost 8."""
    raw = gzip.decompress(_data(NAMESPACES).read_bytes()).decode("utf-8")
    return raw.removesuffix("\n").split("\n")


def _read_tsv(name: str) -> list[Library]:
    return parse_table(_data(name).read_text(encoding="utf-8"))


def parse_table(text: str) -> list[Library]:
    """The rows of a library table (``COLUMNS``, tab-separated, a header line, ``#`` comments)."""
    return [Library(*line.split("\t")[:5]) for line in text.split("\n")[1:] if line and not line.startswith("#")]
