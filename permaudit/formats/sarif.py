"""SARIF 2.1.0 for code-scanning dashboards (GitHub code scanning, VS Code's SARIF viewer...).

One run per invocation, built as plain dicts and written by ``jsontext.dumps``, never by string
concatenation. The mapping (docs/output-formats.md, section ``sarif``):

- ``tool.driver.rules[]``: one rule per finding type id that occurs (``contacts.bulk-read``),
  de-duplicated as bandit does per test id, in report order (category, then type). The rule
  is the same whatever profile judged, so its id is stable across runs and ``--policy``
  choices; every result points at it with ``ruleIndex``.
- ``results[]``: one per ``Finding``, that is one per (finding type x profile). The profile's
  severity is the result's ``level`` (violation -> error, warning -> warning, info -> note);
  the profile, its clauses and the evidence's confidence are in ``properties``; the profile is
  also in ``partialFingerprints``, so two profiles judging the same observation stay two alerts.
- ``locations``: the APK (``physicalLocation``, a dex has no source lines) and, for evidence in
  code, the method as a ``logicalLocation`` (``Lcom/x/Y;->m(...)V``, kind ``function``) with the
  dex and the offset (16-bit code units from the method's code, as dexdump prints it) in its
  ``properties``: the offset is not a byte offset into the APK, so no ``region`` is given.
  The first evidence item is the primary location, the others are ``relatedLocations``.
- Packages read in part or not at all: their ``problems`` are
  ``invocations[0].toolExecutionNotifications``; ``executionSuccessful`` is false when a package failed.

Every string taken from a package goes through ``model.visible`` (SARIF is shown in web UIs
and editors, where a bidi override would reorder a line), and ``json``'s own escaping function does it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from permaudit.data import category_rank, load
from permaudit.findings import finding_types
from permaudit.formats import jsontext
from permaudit.model import AuditResult, Problem, Severity, Status, visible
from permaudit.model.code import CodeLocation
from permaudit.model.findings import Evidence, Finding
from permaudit.model.policy import PolicySeverity
from permaudit.policy import profiles
from permaudit.version import __version__

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
FINGERPRINT = "permauditFinding/v1"
"""The ``partialFingerprints`` key; bump the version suffix if what it hashes ever changes."""
INFORMATION_URI = ""
"""The project's home page for ``tool.driver.informationUri`` and the rules' ``helpUri``; empty
(and the two properties left out) until setup.cfg names one: SARIF wants absolute URIs there."""

LEVELS = {PolicySeverity.VIOLATION: "error", PolicySeverity.WARNING: "warning", PolicySeverity.INFO: "note"}
"""Profile severity -> SARIF result level."""
NOTIFICATION_LEVELS = {Severity.FAILED: "error", Severity.PARTIAL: "warning", Severity.NOTE: "note"}
"""Problem severity -> SARIF notification level."""
LANGUAGES = {"en": "en-US", "zh": "zh-CN"}


def render(results: Sequence[AuditResult], *, timestamp: str = "", lang: str = "en", **_: object) -> str:
    """The SARIF log of ``results``; ``lang`` (``en``, ``zh``) chooses the messages and rule titles."""
    return jsontext.dumps(document(results, timestamp=timestamp, lang=lang)) + "\n"


def document(results: Sequence[AuditResult], *, timestamp: str = "", lang: str = "en") -> dict[str, Any]:
    """The SARIF log as plain dicts (``render`` writes it as indented JSON)."""
    rule_ids = sorted({f.rule for r in results for f in r.findings}, key=_rule_order)
    index = {rule: i for i, rule in enumerate(rule_ids)}
    driver: dict[str, Any] = {"name": "permaudit", "version": __version__, "semanticVersion": __version__}
    if INFORMATION_URI:
        driver["informationUri"] = INFORMATION_URI
    driver["rules"] = [_rule(rule, lang) for rule in rule_ids]
    invocation: dict[str, Any] = {
        "executionSuccessful": not any(r.status is Status.FAILED for r in results),
        "toolExecutionNotifications": [_notification(r, k, p) for k, r in enumerate(results) for p in r.problems],
    }
    if timestamp:
        invocation["endTimeUtc"] = _utc(timestamp)
    run: dict[str, Any] = {
        "tool": {"driver": driver},
        "language": LANGUAGES.get(lang, "en-US"),
        "invocations": [invocation],
        "artifacts": [_artifact(r) for r in results],
        "results": [_result(r, k, f, fp, index[f.rule], lang) for k, r in enumerate(results) for f, fp in zip(r.findings, _fingerprints(r), strict=True)],
    }
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def artifact_uri(path: str) -> str:
    """``path`` as a URI reference: relative paths stay relative (``fixtures/apk/x.apk``),
    absolute ones become ``file:`` URIs; anything but unreserved characters is percent-encoded
    (undecodable file-name bytes too, which Python keeps as lone surrogates)."""
    text = path.replace("\\", "/")
    raw = text.encode("utf-8", "surrogateescape")
    if text.startswith("/"):
        return "file://" + quote(raw, safe="/")
    if re.match(r"[A-Za-z]:/", text):  # a Windows drive
        return "file:///" + text[:2] + quote(raw[2:], safe="/")
    return quote(raw, safe="/")


def fingerprint(result: AuditResult, finding: Finding) -> str:
    """What makes a finding the same one in the next run: the app, the finding type and the profile.

    The app is its package name (the file name only when no manifest was read). Not the APK's
    hash, method or offset: those change with every build (and an obfuscator renames classes
    every build), while "this app bulk-reads contacts, judged under cn-lending" is the alert a
    reviewer tracks and dismisses."""
    app = result.manifest.package if result.manifest and result.manifest.package else result.path.replace("\\", "/").rsplit("/", 1)[-1]
    key = f"{app}\x00{finding.rule}\x00{finding.policy}"
    if finding.rule.endswith(".prohibited-permission") and finding.evidence:
        key += f"\x00{finding.evidence[0].text}"  # one finding per prohibited permission: its name
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


def _fingerprints(result: AuditResult) -> list[str]:
    """``fingerprint`` of each finding of ``result``; a repeat (not expected) gets its ordinal
    appended, so no two results of one package share a fingerprint."""
    seen: dict[str, int] = {}
    out = []
    for finding in result.findings:
        fp = fingerprint(result, finding)
        seen[fp] = seen.get(fp, 0) + 1
        out.append(fp if seen[fp] == 1 else hashlib.sha256(f"{fp}:{seen[fp]}".encode()).hexdigest())
    return out


def _rule_order(rule: str) -> tuple[int, int, str]:
    category, _, kind = rule.partition(".")
    types = list(finding_types())
    return category_rank(category), types.index(kind) if kind in types else len(types), rule


def _category_name(category: str, lang: str) -> str:
    for group in load("permissions")["categories"]:
        if group["id"] == category:
            name: dict[str, str] = group.get("name", {})
            return name.get(lang) or name.get("en") or category
    return category


def _rule(rule: str, lang: str) -> dict[str, Any]:
    category, _, kind = rule.partition(".")
    entry: dict[str, Any] = finding_types().get(kind, {})
    title: dict[str, str] = entry.get("title", {})
    detects = str(entry.get("detects", ""))
    name = _category_name(category, lang)
    short = f"{title.get(lang) or title.get('en', rule)}（{name}）" if lang == "zh" else f"{title.get('en', rule)} ({name})"
    doc = f"docs/rules/{kind}.md"
    descriptor: dict[str, Any] = {
        "id": rule,
        "name": "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", rule) if part),
        "shortDescription": {"text": short},
        "fullDescription": {"text": detects or short},
        "help": {
            "text": f"{detects} Each result's level is the severity under the profile named in its properties (policy), with the clauses it cites. See {doc}.",
            "markdown": f"{detects}\n\nEach result's level is the severity under the profile named in its properties (`policy`), with the clauses it cites. See [{doc}]({doc}) and `permaudit explain {rule}`.",
        },
    }
    if INFORMATION_URI:
        descriptor["helpUri"] = f"{INFORMATION_URI.rstrip('/')}/blob/main/{doc}"
    descriptor["properties"] = {"category": category, "type": kind, "docs": doc, "tags": ["privacy", category]}
    return descriptor


def _result(result: AuditResult, k: int, finding: Finding, fp: str, rule_index: int, lang: str) -> dict[str, Any]:
    uri = artifact_uri(result.path)
    message = finding.message_zh if lang == "zh" and finding.message_zh else finding.message
    text = f"{finding.policy}: {message}" + (f" ({finding.summary})" if finding.summary else "")
    locations = [_location(uri, k, e) for e in finding.evidence] or [_location(uri, k, None)]
    out: dict[str, Any] = {
        "ruleId": finding.rule,
        "ruleIndex": rule_index,
        "level": LEVELS[finding.severity],
        "message": {"text": visible(text)},
        "analysisTarget": {"uri": uri, "index": k},
        "locations": locations[:1],
    }
    if len(locations) > 1:
        out["relatedLocations"] = [dict(loc, id=i) for i, loc in enumerate(locations[1:], 1)]
    out["partialFingerprints"] = {FINGERPRINT: fp}
    out["properties"] = {
        "policy": finding.policy,
        "policy_version": _profile_version(finding.policy),
        "severity": finding.severity.value,
        "confidence": finding.confidence.value,
        "clauses": list(finding.clauses),
        "citations": [_citation(finding.policy, c, lang) for c in finding.clauses],
        "category": finding.category,
        "summary": visible(finding.summary),
        "more_evidence": finding.more,
    }
    return out


def _profile_version(policy: str) -> str:
    """The bundled profile's version; empty for a profile a library caller loaded from a file."""
    found = profiles().get(policy)
    return found.version if found is not None else ""


def _citation(policy: str, clause: str, lang: str) -> str:
    """The clause's citation in ``lang`` (``PIPL art. 6``), or its id when the profile is not bundled."""
    found = profiles().get(policy)
    if found is None:
        return clause
    try:
        return found.clause(clause).citation.get(lang)
    except KeyError:
        return clause


def _location(uri: str, k: int, evidence: Evidence | None) -> dict[str, Any]:
    location: dict[str, Any] = {"physicalLocation": {"artifactLocation": {"uri": uri, "index": k}}}
    if evidence is None:
        return location
    if evidence.location is not None:
        location["logicalLocations"] = [_method(evidence.location)]
    location["message"] = {"text": visible(evidence.text)}
    properties: dict[str, Any] = {"evidence": evidence.kind.value}
    if evidence.endpoint:
        properties["endpoint"] = visible(evidence.endpoint)
    if evidence.server:
        properties["server"] = visible(evidence.server)
    location["properties"] = properties
    return location


def _method(where: CodeLocation) -> dict[str, Any]:
    """The method as a logical location; no offset in the name, so it matches across runs."""
    return {
        "name": visible(where.method),
        "fullyQualifiedName": visible(where.signature),
        "kind": "function",
        "properties": {"dex": visible(where.dex), "offset": where.offset, "instruction": visible(where.instruction)},
    }


def _artifact(result: AuditResult) -> dict[str, Any]:
    artifact: dict[str, Any] = {"location": {"uri": artifact_uri(result.path)}, "roles": ["analysisTarget"]}
    if result.hashes is not None:
        artifact["length"] = result.hashes.size
        artifact["hashes"] = {"sha-256": result.hashes.sha256, "sha-1": result.hashes.sha1, "md5": result.hashes.md5}
    properties: dict[str, Any] = {"kind": result.kind, "status": result.status.value}
    if result.manifest is not None:
        properties["package"] = visible(result.manifest.package)
        properties["version_name"] = visible(result.manifest.version_name)
        properties["version_code"] = visible(result.manifest.version_code)
    properties["policies"] = list(result.policies)
    properties["lending"] = result.lending
    properties["skipped"] = [s.value for s in result.skipped]
    artifact["properties"] = properties
    return artifact


def _notification(result: AuditResult, k: int, problem: Problem) -> dict[str, Any]:
    properties: dict[str, Any] = {"severity": problem.severity.value}
    if problem.member:
        properties["member"] = visible(problem.member)
    return {
        "level": NOTIFICATION_LEVELS[problem.severity],
        "message": {"text": visible(problem.message)},
        "descriptor": {"id": problem.code},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": artifact_uri(result.path), "index": k}}}],
        "properties": properties,
    }


def _utc(timestamp: str) -> str:
    """``2026-11-30T17:39:45+00:00`` -> ``2026-11-30T17:39:45Z`` (the form SARIF's examples use)."""
    return timestamp[: -len("+00:00")] + "Z" if timestamp.endswith("+00:00") else timestamp


__all__ = ["FINGERPRINT", "LEVELS", "NOTIFICATION_LEVELS", "artifact_uri", "document", "fingerprint", "render"]
