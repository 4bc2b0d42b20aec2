"""What the manifest asks the system for."""

from __future__ import annotations

import enum

from permaudit.model.record import record


class PermissionDefiner(str, enum.Enum):
    """Who defines the permission a ``uses-permission`` names: only a defined one can be granted."""

    PLATFORM = "platform"
    """In AOSP's permission tables (any API level androguard ships, 4-36)."""
    APP = "app"
    """Defined by the app itself (a ``<permission>`` in its manifest)."""
    OTHER = "other"
    """A dotted name neither AOSP nor the app defines: another app's (``com.google.android.c2dm.permission.RECEIVE``),
    an OEM's, a newer platform's, or a typo; granted only if an installed app defines it."""
    INVALID = "invalid"
    """A name without a dot that the app does not define (``READ_CONTACTS`` without ``android.permission.``):
    no platform permission is spelled so, and Android grants nothing for it."""


@record
class Permission:
    """One requested permission entry, with the device API levels on which Android requests it.

    Android decides by the device's API level, not the app's target: a ``uses-permission``
    applies on every device the app installs on (``minSdkVersion`` up to ``<uses-sdk
    android:maxSdkVersion>``), capped by its own ``maxSdkVersion``; a
    ``uses-permission-sdk-23`` only from API 23.
    """

    name: str
    element: str
    """``uses-permission`` or ``uses-permission-sdk-23`` (also for the alias ``uses-permission-sdk-m``)."""
    max_sdk: int | None
    """The entry's ``android:maxSdkVersion``."""
    protection_level: str
    """Normalised AOSP protection level (``dangerous``, ``signature|privileged``, ``normal|instant``), the
    app's own declaration, or ``unknown``."""
    in_effect: bool
    """Whether some device the app installs on requests it: the device range is non-empty and the
    name is one Android can grant (not ``invalid``)."""
    device_api_min: int | None
    """Lowest device API level on which it is requested; None for an ``invalid`` name."""
    device_api_max: int | None
    """Highest device API level on which it is requested; None when open-ended (or for an ``invalid``
    name). Below ``device_api_min`` when the range is empty."""
    defined_by: PermissionDefiner
    count: int = 1
    """How many identical entries (same name, element and ``maxSdkVersion``) the manifest holds."""
    note: str = ""
    """Why a name grants nothing or may not (``not a platform permission: did you mean ...?``)."""
    category: str = ""
    """The personal data it unlocks (``contacts``, ``sms``...), empty if not sensitive."""
    split: str = ""
    """The split whose manifest requests it; empty for the base."""
    manifest: str = "AndroidManifest.xml"
    """Which copy of the manifest requests it: ``AndroidManifest.xml``, or ``AndroidManifest.xml#2``, ``#3``...
    for further copies in the same archive (the two-manifest trick)."""

    @property
    def device_apis(self) -> str:
        """The device range as text: ``23+``, ``21-28``, ``30``, or ``never``."""
        low, high = self.device_api_min, self.device_api_max
        if not self.in_effect or low is None:
            return "never"
        if high is None:
            return f"{low}+"
        return str(low) if low == high else f"{low}-{high}"


@record
class DeclaredPermission:
    """A ``<permission>`` the app defines for others to hold."""

    name: str
    protection_level: str


@record
class Component:
    """An activity, activity-alias, service, receiver or provider."""

    kind: str
    name: str
    exported: bool
    """Effective export: the attribute if set, else ``True`` when it has an intent filter
    and targets API < 31 (Android's old default)."""
    exported_explicit: bool
    permission: str = ""
    actions: tuple[str, ...] = ()
    """Actions of its intent filters, sorted (``android.intent.action.BOOT_COMPLETED``): what can start it."""
    categories: tuple[str, ...] = ()
    """Categories of its intent filters, sorted (``android.intent.category.LAUNCHER``)."""
    label: str = ""
    """Its ``android:label`` as the manifest writes it: a literal, or ``@`` and a resource id (``@7F0B0001``)."""
    target_activity: str = ""
    """For an ``activity-alias``: the activity it starts (``android:targetActivity``, resolved against the package)."""


@record
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


__all__ = ["Component", "DeclaredPermission", "ManifestFacts", "Permission", "PermissionDefiner"]
