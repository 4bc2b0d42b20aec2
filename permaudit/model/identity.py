"""Who built the package: the files read, their hashes and signatures."""

from __future__ import annotations

from permaudit.model.common import Hashes
from permaudit.model.record import record


@record
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


@record
class SchemeCheck:
    """Whether one APK signature scheme is present and verifies."""

    scheme: str
    present: bool
    verified: bool
    detail: str = ""


@record
class Signing:
    """What the signatures of one APK prove about who built it."""

    schemes: tuple[SchemeCheck, ...]
    certificates: tuple[Certificate, ...]


@record
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
