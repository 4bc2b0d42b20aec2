"""permaudit: evidence, from the APK itself, that an Android app harvests the contact list.

    >>> import permaudit
    >>> result = permaudit.audit("app.apk")
    >>> [p.name for p in result.manifest.permissions if p.in_effect]

See docs/ for every fact, finding and output format.
"""

from permaudit.audit import audit, audit_all
from permaudit.loading import Limits
from permaudit.model import (
    SCHEMA_VERSION,
    AccessSite,
    Artifact,
    AuditResult,
    CodeFacts,
    CodeLocation,
    Finding,
    ManifestFacts,
    Permission,
    PolicySeverity,
    Problem,
    Status,
)
from permaudit.version import __version__

__all__ = [
    "SCHEMA_VERSION",
    "AccessSite",
    "Artifact",
    "AuditResult",
    "CodeFacts",
    "CodeLocation",
    "Finding",
    "Limits",
    "ManifestFacts",
    "Permission",
    "PolicySeverity",
    "Problem",
    "Status",
    "__version__",
    "audit",
    "audit_all",
]
