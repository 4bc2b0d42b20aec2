"""The result types every stage produces and every format reads, split by stage.

``common`` (levels, statuses, problems, hashes), ``identity`` (artifacts, signatures),
``manifest``, ``code`` and ``result`` (the whole audit of one package).
"""

from permaudit.model.code import (
    AccessSite,
    Attribution,
    CodeFacts,
    CodeLocation,
    DataReference,
    DexInfo,
    HybridEvidence,
    Owner,
    PermissionRequest,
)
from permaudit.model.endpoints import (
    Construction,
    Endpoint,
    EndpointFacts,
    EndpointKind,
    EndpointSource,
    FilteredCount,
    IpScope,
    ServerOwner,
    SourceKind,
)
from permaudit.model.paths import Confidence, Edge, Outcome, PathFacts, PathStep, SendPath, Sink, SinkKind, SitePaths
from permaudit.model.common import Hashes, Level, Problem, Severity, Stage, Status, visible
from permaudit.model.identity import Artifact, Certificate, SchemeCheck, Signing
from permaudit.model.manifest import Component, DeclaredPermission, ManifestFacts, Permission, PermissionDefiner
from permaudit.model.result import SCHEMA_VERSION, AuditResult, Finding

__all__ = [
    "SCHEMA_VERSION",
    "AccessSite",
    "Artifact",
    "Attribution",
    "AuditResult",
    "Certificate",
    "CodeFacts",
    "CodeLocation",
    "Component",
    "Confidence",
    "Construction",
    "DataReference",
    "DeclaredPermission",
    "DexInfo",
    "Edge",
    "Endpoint",
    "EndpointFacts",
    "EndpointKind",
    "EndpointSource",
    "FilteredCount",
    "Finding",
    "Hashes",
    "HybridEvidence",
    "IpScope",
    "Level",
    "ManifestFacts",
    "Outcome",
    "Owner",
    "PathFacts",
    "PathStep",
    "Permission",
    "PermissionDefiner",
    "PermissionRequest",
    "Problem",
    "SchemeCheck",
    "SendPath",
    "ServerOwner",
    "Severity",
    "Stage",
    "Signing",
    "Sink",
    "SinkKind",
    "SitePaths",
    "SourceKind",
    "Status",
    "visible",
]
