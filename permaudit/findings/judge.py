"""Stage 3b: observations judged under policy profiles, into findings.

Everything a profile says is data (permaudit/data/policies): which finding types it judges,
with which severity, citing which clauses, for which apps (lending-only verdicts apply when
the app is judged a lending app), under which conditions (target SDK, declared or
prohibited permissions). This module only joins observations to verdicts.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from permaudit.data import category_names, permission_categories
from permaudit.model import AuditResult
from permaudit.model.findings import (
    Evidence,
    EvidenceKind,
    Finding,
    FindingConfidence,
    Observation,
)
from permaudit.model.policy import Profile, Verdict
from permaudit.policy import verdicts_for


def judge(result: AuditResult, observations: Sequence[Observation], profiles: Iterable[Profile], *, lending: bool) -> tuple[Finding, ...]:
    """The findings of every profile: for each observation (and each prohibited permission the
    app declares) the verdicts the profile gives it. Profiles in the order given, then the
    observations' order; a profile that says nothing about an observation adds nothing."""
    manifest = result.manifest
    target = manifest.target_sdk if manifest else None
    declared = {p.name: p for p in manifest.permissions if p.in_effect} if manifest else {}
    out: list[Finding] = []
    for profile in profiles:
        for obs in [*observations, *_prohibited(profile, declared)]:
            for verdict in verdicts_for(profile, obs.finding, lending, target_sdk=target, permissions=tuple(declared)):
                out += _findings(profile, verdict, obs, target)
    return tuple(out)


def _prohibited(profile: Profile, declared: Collection[str]) -> list[Observation]:
    """One ``<category>.prohibited-permission`` observation per prohibited permission the app declares."""
    owners = permission_categories()
    out = []
    for name, rule in profile.prohibited_permissions().items():
        if name in declared and name in owners:
            out.append(Observation(f"{owners[name]}.prohibited-permission", owners[name], FindingConfidence.HIGH,
                                   f"declares {name}, on {profile.id}'s prohibited list since {rule.since}",
                                   (Evidence(EvidenceKind.PERMISSION, name),)))
    return out


def _findings(profile: Profile, verdict: Verdict, obs: Observation, target: int | None) -> list[Finding]:
    """One finding, or one per prohibited permission the verdict's message names."""
    rules = verdict.when.prohibited_permissions
    names = [e.text for e in obs.evidence] if rules else [""]
    out = []
    for name in names:
        since = next((r.since for r in rules if r.permission == name), "")
        if rules and not since:
            continue  # the observation's permission is not on this verdict's list
        values = {"permission": name, "since": since, "target_sdk": "" if target is None else target}
        out.append(Finding(obs.finding, profile.id, verdict.severity, obs.confidence, verdict.clauses,
                           verdict.say("en", category=_name(obs.category, "en"), **values),
                           verdict.say("zh", category=_name(obs.category, "zh"), **values), obs.summary, obs.evidence, obs.more))
    return out


def _name(category: str, lang: str) -> str:
    """The category's name in a message (``call log``, ``通话记录``), from data/permissions.json."""
    return category_names().get(category, {}).get(lang, category)


__all__ = ["judge"]
