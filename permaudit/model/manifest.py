"""What the manifest asks the system for."""

from __future__ import annotations

from dataclasses import dataclass


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


__all__ = ['Component', 'DeclaredPermission', 'ManifestFacts', 'Permission']
