"""Stage 2a: the manifest facts: who the app is and what it asks the system for.

Reads the parsed manifest tree itself rather than androguard's ``APK`` accessors,
because androguard ignores ``uses-permission-sdk-23`` and parses ``resources.arsc``
eagerly (which fails on deliberately malformed tables). Protection levels, and whether a
name is a platform permission at all, come from AOSP's permission tables of every API
level androguard ships, kept as ``permaudit/data/aosp_permissions.json`` (rebuilt by
``permaudit/data/refresh_android.py``) and read once per process.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterator

from lxml import etree

from permaudit.data import load, permission_categories
from permaudit.errors import ArscError
from permaudit.loading import LoadedPackage
from permaudit.model import (
    Component,
    DeclaredPermission,
    ManifestFacts,
    Permission,
    Problem,
)
from permaudit.model.manifest import PermissionDefiner
from permaudit.model.record import record

NS = "{http://schemas.android.com/apk/res/android}"
PERMISSION_ELEMENTS = ("uses-permission", "uses-permission-sdk-23", "uses-permission-sdk-m")
COMPONENT_ELEMENTS = ("activity", "activity-alias", "service", "receiver", "provider")
MANIFEST = "AndroidManifest.xml"
SDK23 = 23
PLATFORM_PREFIX = "android.permission."
EXPORT_RULE_CHANGED = 31  # Android 12: components with intent filters must say android:exported
PROVIDER_EXPORT_CHANGED = 17  # providers stopped being exported by default at API 17


def extract(package: LoadedPackage) -> ManifestFacts | None:
    """Facts from the base manifest, or None without one.

    Permissions come from every manifest Android or a reader could see: the base, further
    copies of it in the same archive, and split manifests; an entry several of them make
    is listed once, from the first.
    """
    root = package.manifest
    if root is None:
        return None
    sdk = root.find("uses-sdk")
    min_sdk = _int(_attr(sdk, "minSdkVersion")) or 1
    target_sdk = _int(_attr(sdk, "targetSdkVersion")) or min_sdk
    max_sdk = _int(_attr(sdk, "maxSdkVersion"))
    pkg = root.get("package", "")
    declared = tuple(
        sorted(
            (
                DeclaredPermission(_attr(el, "name"), _protection_name(_attr(el, "protectionLevel") or "normal"))
                for el in root.iter("permission")
            ),
            key=lambda d: d.name,
        )
    )
    sources = list(_manifest_sources(package, root, _SdkRange(min_sdk, max_sdk)))
    defined = {d.name: d.protection_level for d in declared}
    for source in sources[1:]:  # a permission a copy or split defines is the app's own too
        defined |= {_attr(el, "name"): _protection_name(_attr(el, "protectionLevel") or "normal") for el in source.root.iter("permission")}
    permissions: dict[tuple[str, str, int | None], Permission] = {}
    for source in sources:
        for entry in _permissions(source, target_sdk, defined):
            permissions.setdefault((entry.name, entry.element, entry.max_sdk), entry)  # the first manifest naming it
    application = root.find("application")
    components = _components(root, pkg, target_sdk)
    main = _main_activity(root, pkg)
    return ManifestFacts(
        package=pkg,
        version_code=_attr(root, "versionCode"),
        version_name=_attr(root, "versionName"),
        label=_label(package, root, pkg, main),
        min_sdk=min_sdk,
        target_sdk=target_sdk,
        max_sdk=max_sdk,
        main_activity=main,
        permissions=tuple(sorted(permissions.values(), key=lambda p: (p.name, p.element, -1 if p.max_sdk is None else p.max_sdk))),
        declared_permissions=declared,
        components=components,
        uses_cleartext_traffic=_bool(_attr(application, "usesCleartextTraffic")),
        network_security_config=_resource_path(package, _attr(application, "networkSecurityConfig")),
        queries=_queries(root),
        splits=tuple(a.split for a in package.apks if a.split),
    )


def _attr(element: etree._Element | None, name: str) -> str:
    """An android: attribute; obfuscated manifests sometimes drop the namespace."""
    if element is None:
        return ""
    value = element.get(NS + name)
    if value is None:
        value = element.get(name)
    return value or ""


def _int(text: str) -> int | None:
    try:
        return int(text, 0) if text.lower().startswith("0x") else int(text)
    except ValueError:
        return None  # codenames such as "Q" in preview builds


def _bool(text: str) -> bool | None:
    lowered = text.lower()
    return True if lowered == "true" else False if lowered == "false" else None


def _class_name(pkg: str, name: str) -> str:
    """Manifest class names may be relative to the package (``.Main`` or ``Main``)."""
    if name.startswith("."):
        return pkg + name
    return name if "." in name or not pkg else f"{pkg}.{name}"


@functools.cache
def _protection_bits() -> tuple[dict[str, int], dict[int, str], dict[int, str]]:
    """Every spelling -> bits; base value -> name; flag bit -> name (``permaudit/data/protection_levels.json``)."""
    table = load("protection_levels")
    spellings = {**table["base"], **table["flags"], **table["aliases"]}
    return spellings, {v: k for k, v in table["base"].items()}, {v: k for k, v in table["flags"].items()}


@functools.lru_cache(maxsize=4096)  # bounded: manifests can carry any string
def _protection_name(raw: str) -> str:
    """One spelling for one protection level, so apps built against different SDKs compare.

    ``0x00001001``, ``dangerous|ephemeral`` and ``dangerous|instant`` all become
    ``dangerous|instant``: the base name, then each flag in bit order, in AOSP's current
    attribute spelling. Tokens no table knows are kept verbatim at the end.
    """
    spellings, base_names, flag_names = _protection_bits()
    value, unknown = 0, []
    number = _int(raw.strip()) if raw.strip()[:1].isdigit() else None
    if number is not None:
        value = number
    else:
        for token in filter(None, (t.strip() for t in raw.split("|"))):
            if token in spellings:
                value |= spellings[token]
            else:
                unknown.append(token)
    parts = [base_names.get(value & 0xF, f"0x{value & 0xF:x}")]
    parts += [flag_names.get(bit, f"0x{bit:x}") for bit in (1 << i for i in range(4, 32)) if value & bit]
    return "|".join(parts + unknown)


@functools.cache
def _api_levels() -> tuple[int, ...]:
    """The API levels with an AOSP permission table, oldest first."""
    return tuple(load("aosp_permissions")["api_levels"])


def _history() -> dict[str, list[tuple[int, str | None]]]:
    """Permission name -> (first API level, protection level as AOSP writes it, None where gone) at each change, as the JSON has them."""
    history: dict[str, list[tuple[int, str | None]]] = load("aosp_permissions")["permissions"]
    return history


def _level(name: str, api: int) -> str | None:
    """``name``'s normalised protection level in AOSP's table for ``api``; None where it has none.
    Looked up per permission, not as whole tables: a manifest names tens of the ~1,000."""
    raw = None
    for since, level in _history().get(name, ()):
        if since > api:
            break
        raw = level
    return _protection_name(raw) if raw is not None else None


def _platform_level(name: str) -> str | None:
    """The level of ``name`` in the newest AOSP table that defines it; None for no platform permission."""
    raw = next((level for _, level in reversed(_history().get(name, ())) if level is not None), None)
    return _protection_name(raw) if raw is not None else None


@functools.cache
def _by_suffix() -> dict[str, str]:
    """Last name segment -> platform permission (``android.permission.`` preferred), for did-you-mean."""
    suffixes: dict[str, str] = {}
    platform = [name for name, changes in _history().items() if any(level is not None for _, level in changes)]
    for name in sorted(platform, key=lambda n: (not n.startswith(PLATFORM_PREFIX), n)):
        suffixes.setdefault(name.rsplit(".", 1)[-1].upper(), name)
    return suffixes


def _table_api(target_sdk: int) -> int:
    """The API level whose table applies to the target SDK (the nearest older one there is; the oldest below it)."""
    levels = _api_levels()
    return max((api for api in levels if api <= target_sdk), default=levels[0])


def _definer(name: str, defined: dict[str, str]) -> tuple[PermissionDefiner, str]:
    """Who defines ``name``, and a note when Android may grant nothing for it."""
    if _platform_level(name) is not None:
        return PermissionDefiner.PLATFORM, ""
    if name in defined:
        return PermissionDefiner.APP, ""
    guess = _by_suffix().get(name.rsplit(".", 1)[-1].upper(), "")
    hint = f": did you mean {guess}?" if guess else ""
    if "." not in name:
        return PermissionDefiner.INVALID, "not a platform permission" + hint
    if name.startswith("android."):
        levels = _api_levels()
        return PermissionDefiner.OTHER, f"not in AOSP's permission tables (API {levels[0]}-{levels[-1]})" + hint
    return PermissionDefiner.OTHER, ""


@record
class _SdkRange:
    """Device API levels the app installs on: ``minSdkVersion`` up to ``<uses-sdk android:maxSdkVersion>``."""

    low: int
    high: int | None


@record
class _Source:
    """One manifest to read permissions from, with the device range that applies to it."""

    root: etree._Element
    split: str
    manifest: str
    devices: _SdkRange


def _manifest_sources(package: LoadedPackage, root: etree._Element, devices: _SdkRange) -> Iterator[_Source]:
    """The base manifest, its further copies, then each split's manifest and copies.

    A further copy of the base manifest is a whole alternative manifest (a device or tool
    that reads it sees its ``<uses-sdk>``); a split's ``<uses-sdk>`` is ignored by Android.
    """
    yield _Source(root, "", MANIFEST, devices)
    for loaded in package.apks:
        is_base = loaded.manifest is root
        if not is_base and loaded.manifest is not None:
            yield _Source(loaded.manifest, loaded.split, MANIFEST, devices)
        for number, copy in enumerate(loaded.manifest_copies, start=2):
            sdk = copy.find("uses-sdk")
            own = _SdkRange(_int(_attr(sdk, "minSdkVersion")) or 1, _int(_attr(sdk, "maxSdkVersion"))) if is_base else devices
            yield _Source(copy, loaded.split if not is_base else "", f"{MANIFEST}#{number}", own)


def _permissions(source: _Source, target_sdk: int, defined: dict[str, str]) -> list[Permission]:
    """Each distinct entry (repeats counted) with the device API levels on which Android requests it."""
    api = _table_api(target_sdk)
    counts: Counter[tuple[str, str, int | None]] = Counter()
    for element in source.root:
        if element.tag in PERMISSION_ELEMENTS:
            tag = "uses-permission" if element.tag == "uses-permission" else "uses-permission-sdk-23"
            counts[(_attr(element, "name"), tag, _int(_attr(element, "maxSdkVersion")))] += 1
    entries = []
    for (name, tag, max_sdk), count in counts.items():
        definer, note = _definer(name, defined)
        low: int | None = max(source.devices.low, SDK23) if tag != "uses-permission" else source.devices.low
        caps = [c for c in (max_sdk, source.devices.high) if c is not None]
        high = min(caps) if caps else None
        if definer is PermissionDefiner.INVALID:
            low = high = None
        entries.append(
            Permission(
                name=name,
                element=tag,
                max_sdk=max_sdk,
                protection_level=_level(name, api) or _platform_level(name) or defined.get(name, "unknown"),
                in_effect=low is not None and (high is None or low <= high),
                device_api_min=low,
                device_api_max=high,
                defined_by=definer,
                count=count,
                note=note,
                category=permission_categories().get(name, ""),
                split=source.split,
                manifest=source.manifest,
            )
        )
    return entries


def _components(root: etree._Element, pkg: str, target_sdk: int) -> tuple[Component, ...]:
    application = root.find("application")
    if application is None:
        return ()
    components = []
    for element in application:
        if element.tag not in COMPONENT_ELEMENTS:
            continue
        explicit = _bool(_attr(element, "exported"))
        if explicit is not None:
            exported = explicit
        elif element.tag == "provider":
            exported = target_sdk < PROVIDER_EXPORT_CHANGED
        else:
            # before Android 12 an intent filter exported a component; from 12 on the
            # attribute is mandatory, so its absence keeps the old, riskier reading
            exported = element.find("intent-filter") is not None
        name = _attr(element, "name") or _attr(element, "targetActivity")
        actions = tuple(sorted({_attr(a, "name") for f in element.iter("intent-filter") for a in f.iter("action")} - {""}))
        categories = tuple(sorted({_attr(c, "name") for f in element.iter("intent-filter") for c in f.iter("category")} - {""}))
        components.append(Component(element.tag, _class_name(pkg, name), exported, explicit is not None, _attr(element, "permission"),
                                     actions, categories, _attr(element, "label"),
                                     _class_name(pkg, target) if (target := _attr(element, "targetActivity")) else ""))
    return tuple(sorted(components, key=lambda c: (c.kind, c.name)))


def components(root: etree._Element | None) -> tuple[Component, ...]:
    """The components of a parsed manifest (for stages that have the tree, not the facts)."""
    if root is None:
        return ()
    target_sdk = _int(_attr(root.find("uses-sdk"), "targetSdkVersion")) or _int(_attr(root.find("uses-sdk"), "minSdkVersion")) or 1
    return _components(root, root.get("package", ""), target_sdk)


def application_class(root: etree._Element | None) -> str:
    """The ``<application android:name>`` class (dotted, resolved against the package), or empty."""
    if root is None:
        return ""
    name = _attr(root.find("application"), "name")
    return _class_name(root.get("package", ""), name) if name else ""


def _main_activity(root: etree._Element, pkg: str) -> str:
    application = root.find("application")
    if application is None:
        return ""
    for element in application:
        if element.tag not in ("activity", "activity-alias"):
            continue
        for intent in element.iter("intent-filter"):
            actions = {_attr(a, "name") for a in intent.iter("action")}
            categories = {_attr(c, "name") for c in intent.iter("category")}
            if "android.intent.action.MAIN" in actions and "android.intent.category.LAUNCHER" in categories:
                return _class_name(pkg, _attr(element, "name"))
    return ""


def _queries(root: etree._Element) -> tuple[str, ...]:
    entries = []
    for queries in root.iter("queries"):
        for child in queries:
            if child.tag == "package":
                entries.append(f"package:{_attr(child, 'name')}")
            elif child.tag == "provider":
                entries.append(f"provider:{_attr(child, 'authorities')}")
            elif child.tag == "intent":
                action = next((_attr(a, "name") for a in child.iter("action")), "")
                data = [
                    f"{key}={_attr(d, key)}"
                    for d in child.iter("data")
                    for key in ("scheme", "host", "mimeType")
                    if _attr(d, key)
                ]
                entries.append(" ".join([f"intent:{action}", *data]))
    return tuple(sorted(entries))


def _label(package: LoadedPackage, root: etree._Element, pkg: str, main: str) -> str:
    """The application label, else the launcher activity's; resolved through resources.arsc.

    When the resource table is malformed (some malware corrupts it on purpose) the
    package name stands in and a problem records why.
    """
    application = root.find("application")
    candidates = [_attr(application, "label")]
    if application is not None:
        candidates += [_attr(a, "label") for a in application.iter("activity") if _class_name(pkg, _attr(a, "name")) == main]
    for raw in filter(None, candidates):
        if not raw.startswith("@"):
            return raw
        resolved = _resolve(package, raw)
        if resolved:
            return resolved
    return pkg


def _resolve(package: LoadedPackage, reference: str) -> str:
    """A resource reference (``@7F0A01A9``) to its default-configuration value."""
    base = package.base
    res_id = _int("0x" + reference[1:]) if reference[1:2].isalnum() and ":" not in reference else None
    if base is None or res_id is None:
        return ""
    try:
        return base.resource_string(res_id) or ""
    except ArscError as exc:
        package.problems.append(Problem("bad-resources", f"{base.name}!resources.arsc: {exc}; {reference} unresolved", "resources.arsc"))
        return ""


def _resource_path(package: LoadedPackage, raw: str) -> str:
    """``@7F0B0000`` -> ``res/xml/network_security_config.xml`` where resources allow."""
    if not raw.startswith("@"):
        return raw
    return _resolve(package, raw) or raw


__all__ = ["application_class", "components", "extract"]
