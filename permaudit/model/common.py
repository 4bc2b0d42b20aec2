"""Values every stage shares: levels, statuses, problems, hashes."""

from __future__ import annotations

import enum
from dataclasses import dataclass


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


class Severity(str, enum.Enum):
    """What a problem costs the result: ordered, so the worst one sets the status."""

    NOTE = "note"
    """An anomaly read anyway, as Android reads it: the result stays ``complete``."""
    PARTIAL = "partial"
    """Something was not read: the result is ``partial``."""
    FAILED = "failed"
    """Nothing usable was read: the result is ``failed``."""

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


@dataclass(frozen=True)
class Problem:
    """Something that could not be read, or was read despite an anomaly, as data rather than an exception."""

    code: str
    """Stable kebab-case identifier, e.g. ``not-a-zip``, ``bad-dex``, ``bad-resources``."""
    message: str
    """One line a person can act on; names the file or member."""
    member: str = ""
    """The member of the package it concerns (``classes2.dex``), or empty for the whole file."""
    severity: Severity = Severity.PARTIAL
    """``note``, ``partial`` or ``failed``: see :class:`Severity`."""


@dataclass(frozen=True)
class Hashes:
    """Digests and size of one file, so anyone can check they hold the same bytes."""

    sha256: str
    sha1: str
    md5: str
    size: int


__all__ = ["Hashes", "Level", "Problem", "Severity", "Status"]
