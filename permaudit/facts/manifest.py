"""Stage 2a: the manifest facts: who the app is and what it asks the system for.

Reads the parsed manifest tree itself rather than androguard's ``APK`` accessors,
because androguard ignores ``uses-permission-sdk-23`` and parses ``resources.arsc``
eagerly (which fails on deliberately malformed tables). Protection levels come from
androguard's bundled AOSP permission tables.
"""

from __future__ import annotations

from androguard.core.androconf import load_api_specific_resource_module
from androguard.core.apk import protection_flags_to_attributes as flag_names
from lxml import etree

from permaudit.data import permission_categories
from permaudit.errors import ArscError
from permaudit.loading import LoadedPackage
from permaudit.model import Component, DeclaredPermission, ManifestFacts, Permission, Problem

NS = "{http://schemas.android.com/apk/res/android}"
PERMISSION_ELEMENTS = ("uses-permission", "uses-permission-sdk-23", "uses-permission-sdk-m")
COMPONENT_ELEMENTS = ("activity", "activity-alias", "service", "receiver", "provider")
SDK23 = 23
NEWEST_TABLE = 36  # newest API level androguard ships a permission table for
EXPORT_RULE_CHANGED = 31  # Android 12: components with intent filters must say android:exported
PROVIDER_EXPORT_CHANGED = 17  # providers stopped being exported by default at API 17


def extract(package: LoadedPackage) -> ManifestFacts | None:
    """Facts from the base manifest (and permissions from split manifests), or None without one."""
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
                DeclaredPermission(_attr(el, "name"), _protection_name(_attr(el, "protectionLevel") or "0x00000000"))
                for el in root.iter("permission")
            ),
            key=lambda d: d.name,
        )
    )
    levels = _protection_levels(target_sdk, {d.name: d.protection_level for d in declared})
    permissions = _permissions(root, "", min_sdk, target_sdk, levels)
    seen = {(p.name, p.element) for p in permissions}
    for split in package.apks[1:]:
        if split.manifest is not None:
            extra = _permissions(split.manifest, split.split, min_sdk, target_sdk, levels)
            permissions += tuple(p for p in extra if (p.name, p.element) not in seen)
            seen |= {(p.name, p.element) for p in extra}
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
        permissions=permissions,
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


def _protection_name(raw: str) -> str:
    """``0x00000012`` -> ``signature|privileged``, using androguard's flag names."""
    value = _int(raw)
    if value is None:
        return raw  # text manifests already say "signature"
    parts = [flag_names.get(f"0x{value & 0xF:08x}", f"0x{value & 0xF:x}")]
    parts += [flag_names.get(f"0x{bit:08x}", f"0x{bit:x}") for bit in (1 << i for i in range(4, 32)) if value & bit]
    return "|".join(parts)


def _protection_levels(target_sdk: int, declared: dict[str, str]) -> dict[str, str]:
    """Levels from the AOSP table for the target SDK, then the newest table, then the app's own."""
    levels = dict(declared)
    for api in (NEWEST_TABLE, min(max(target_sdk, 4), NEWEST_TABLE)):
        table = load_api_specific_resource_module("aosp_permissions", api) or {}
        levels.update({name: str(entry.get("protectionLevel", "unknown")) for name, entry in table.items()})
    return levels


def _permissions(
    root: etree._Element, split: str, min_sdk: int, target_sdk: int, levels: dict[str, str]
) -> tuple[Permission, ...]:
    """Each entry with the API levels (within min..target) on which Android grants it."""
    entries = []
    top = max(target_sdk, min_sdk)
    for element in root:
        if element.tag not in PERMISSION_ELEMENTS:
            continue
        name = _attr(element, "name")
        max_sdk = _int(_attr(element, "maxSdkVersion"))
        low = max(min_sdk, SDK23) if element.tag != "uses-permission" else min_sdk
        high = min(top, max_sdk) if max_sdk is not None else top
        entries.append(
            Permission(
                name=name,
                element="uses-permission-sdk-23" if element.tag != "uses-permission" else element.tag,
                max_sdk=max_sdk,
                protection_level=levels.get(name, "unknown"),
                in_effect=low <= high,
                effective_sdks=(f"{low}-{high}" if low < high else str(low)) if low <= high else "",
                category=permission_categories().get(name, ""),
                split=split,
            )
        )
    return tuple(sorted(entries, key=lambda p: (p.name, p.element)))


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
        components.append(Component(element.tag, _class_name(pkg, name), exported, explicit is not None, _attr(element, "permission")))
    return tuple(sorted(components, key=lambda c: (c.kind, c.name)))


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


__all__ = ["extract"]
