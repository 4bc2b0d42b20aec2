"""One audit result as the rows of the store's tables (docs/store.md).

Pure functions: no database here, so ``Store.record`` can build every row before it opens its
transaction and hold the write lock only for the inserts.
"""

from __future__ import annotations

import json
import zlib

from permaudit.model.code import CodeLocation
from permaudit.model.record import record
from permaudit.model.result import AuditResult

Row = tuple[object, ...]

TABLES = ("certificates", "permissions", "read_sites", "endpoints", "paths", "findings", "finding_clauses", "verdicts", "problems")
"""The tables with rows per app, in the order ``record`` fills them (``apps`` first, ``names`` apart)."""

COLUMNS: dict[str, int] = {
    "apps": 25,
    "certificates": 11,
    "permissions": 13,
    "read_sites": 17,
    "endpoints": 15,
    "paths": 23,
    "findings": 9,
    "finding_clauses": 5,
    "verdicts": 4,
    "problems": 5,
}
"""How many columns each table has (the INSERT statements are built from it)."""


@record
class AppRows:
    """Every row one result adds, keyed by table; ``apps`` holds exactly one."""

    app: Row
    tables: dict[str, list[Row]]


def escaped(rows: AppRows) -> AppRows:
    """``rows`` as SQLite can take them: every lone surrogate written out as ``\\udcff`` (SQLite text
    must be UTF-8, and an undecodable file name or a hostile UTF-16 string holds such code points),
    and every integer beyond 64 bits as its digits (a text manifest may claim any version), which
    an integer column keeps as an approximate REAL; the whole result keeps the exact value."""
    return AppRows(escaped_row(rows.app), {table: [escaped_row(r) for r in found] for table, found in rows.tables.items()})


def escaped_row(row: Row) -> Row:
    return tuple(_storable(v) for v in row)


def _storable(value: object) -> object:
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, int) and not -(1 << 63) <= value < (1 << 63):
        return str(value)
    return value


def compress(result: AuditResult, document: str | None = None) -> bytes:
    """The whole result, so nothing the normalised tables leave out is lost (``Store.result`` reads it
    back); ``document`` is its JSON text when the caller has made it already."""
    text = document if document is not None else json.dumps(result.to_dict(), sort_keys=True)
    return zlib.compress(text.encode("utf-8"), 6)


def app_rows(result: AuditResult, input_sha256: str, seconds: float, audited_at: str, document: str | None = None) -> AppRows:
    """The rows of every table for ``result``, recorded under ``input_sha256``."""
    key = input_sha256
    facts = result.manifest
    code = result.code
    signing = result.signing
    signer = " ".join(sorted({c.sha256 for c in signing.certificates})) if signing is not None else None
    contacts_reads = sum(1 for s in code.sites if s.category == "contacts" and not s.via) if code is not None else 0
    hashes = result.hashes
    strength = result.category_signal.strength.value if result.category_signal is not None else None
    app: Row = (
        key, result.path, result.kind, result.status.value,
        hashes.sha256 if hashes else None, hashes.sha1 if hashes else None, hashes.md5 if hashes else None, hashes.size if hashes else None,
        facts.package if facts else None, facts.version_code if facts else None, facts.version_name if facts else None,
        facts.label if facts else None, facts.min_sdk if facts else None, facts.target_sdk if facts else None,
        signer, result.category, strength, int(result.lending), " ".join(result.policies), contacts_reads,
        result.tool_version, result.schema_version, float(seconds), audited_at, compress(result, document),
    )
    tables: dict[str, list[Row]] = {name: [] for name in TABLES}

    certificates = tables["certificates"]
    for artifact in result.artifacts:
        if artifact.signing is None:
            continue
        is_signer = int(artifact.signing is signing)
        for cert in artifact.signing.certificates:
            certificates.append((key, artifact.path, is_signer, cert.sha256, cert.sha1, cert.subject, cert.issuer, cert.serial,
                                 cert.not_before, cert.not_after, " ".join(cert.schemes)))

    if facts is not None:
        tables["permissions"] = [
            (key, p.name, p.element, p.category, p.protection_level, int(p.in_effect), p.device_api_min, p.device_api_max,
             p.max_sdk, p.defined_by.value, p.count, p.split, p.manifest)
            for p in facts.permissions
        ]

    if code is not None:
        sites = tables["read_sites"]
        site_of: dict[tuple[str, str, str, str, str, int], int] = {}
        for index, s in enumerate(code.sites):
            loc, att = s.location, s.attribution
            sites.append((key, index, s.category, s.kind, loc.dex, loc.class_name, loc.method, loc.descriptor, loc.offset, s.api,
                          s.source, att.owner.value, att.sdk, att.prefix, att.category, s.via, int(s.bridge)))
            site_key = (s.category, *_where(loc))
            if site_key not in site_of or (not s.via and code.sites[site_of[site_key]].via):
                site_of[site_key] = index  # a path starts at the read itself, not at a repeat at a wrapper's call
        if code.endpoints is not None:
            tables["endpoints"] = [
                (key, index, e.value, e.kind.value, e.scheme, e.host, e.port, e.path, e.registrable_domain, e.owner.value,
                 e.service, e.category, e.ip_scope.value if e.ip_scope is not None else None, int(e.cleartext), e.source_count)
                for index, e in enumerate(code.endpoints.endpoints)
            ]
        if code.paths is not None:
            paths = tables["paths"]
            for sp in code.paths.sites:
                loc = sp.site
                read = (key, site_of.get((sp.category, *_where(loc))), sp.category, loc.dex, loc.class_name, loc.method,
                        loc.descriptor, loc.offset, sp.outcome.value)
                if not sp.paths:
                    paths.append(read + (None,) * 14)
                    continue
                for number, path in enumerate(sp.paths):
                    sink = path.sink
                    head = read + (number, path.confidence.value, path.calls, sink.api, sink.kind.value, sink.role,
                                   sink.location.class_name, sink.location.method, sink.location.offset)
                    if not path.endpoints:
                        paths.append(head + (None,) * 5)
                    for e in path.endpoints:
                        paths.append(head + (e.value, e.host, e.registrable_domain, e.owner.value,
                                             e.ip_scope.value if e.ip_scope is not None else None))

    findings, clauses = tables["findings"], tables["finding_clauses"]
    for index, f in enumerate(result.findings):
        severity = f.severity.value
        findings.append((key, index, f.policy, f.rule, f.category, severity, f.confidence.value, " ".join(f.clauses), f.message))
        clauses.extend((key, index, f.policy, clause, severity) for clause in dict.fromkeys(f.clauses))

    worst: dict[str, tuple[int, str, int]] = {policy: (-1, "none", 0) for policy in result.policies}
    for f in result.findings:
        rank, severity, n = worst.get(f.policy, (-1, "none", 0))
        worst[f.policy] = (f.severity.rank, f.severity.value, n + 1) if f.severity.rank > rank else (rank, severity, n + 1)
    tables["verdicts"] = [(key, policy, severity, n) for policy, (_, severity, n) in worst.items()]

    tables["problems"] = [(key, p.code, p.severity.value, p.member, p.message) for p in result.problems]
    return AppRows(app, tables)


def _where(loc: CodeLocation) -> tuple[str, str, str, str, int]:
    return (loc.dex, loc.class_name, loc.method, loc.descriptor, loc.offset)


__all__ = ["COLUMNS", "TABLES", "AppRows", "Row", "app_rows", "compress", "escaped", "escaped_row"]
