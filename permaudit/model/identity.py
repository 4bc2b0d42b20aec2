"""Who built the package: the files read, their hashes and signatures."""

from __future__ import annotations

from dataclasses import dataclass

from permaudit.model.common import Hashes


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


__all__ = ['Artifact', 'Certificate', 'SchemeCheck', 'Signing']
