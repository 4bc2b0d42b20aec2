"""Observations: what the facts show about one data category, before any policy judges it.

An observation names a finding type (``contacts.bulk-read``, data/findings.json) and carries
the evidence a person needs to re-check it, each item pointing back into the facts (a
permission, a read site, a path, a reachability path). Policies (permaudit/policy) turn
observations into findings with a severity per clause; confidence is the evidence's own
and stays apart from severity, as bandit keeps them.
"""

from __future__ import annotations

import enum

from permaudit.model.code import CodeLocation
from permaudit.model.policy import PolicySeverity
from permaudit.model.record import record


class FindingConfidence(enum.StrEnum):
    """How strongly the evidence supports the observation, whatever a policy makes of it."""

    HIGH = "high"
    """Read directly from the manifest, or a read or path within one or two methods."""
    MEDIUM = "medium"
    """A path over several calls, or an absence shown on a complete analysis."""
    LOW = "low"
    """An absence on a partial analysis, or evidence that only co-locates."""

    @property
    def rank(self) -> int:
        return {"low": 0, "medium": 1, "high": 2}[self.value]


class EvidenceKind(enum.StrEnum):
    """Which fact an evidence item points at."""

    PERMISSION = "permission"
    """``ManifestFacts.permissions``: ``text`` is the permission with its element and device API range."""
    REQUEST = "request"
    """``CodeFacts.requests``: a run-time request or check naming the permission."""
    READ = "read"
    """``CodeFacts.sites``: the read, its kind, API and whose code it is."""
    PATH = "path"
    """``CodeFacts.paths``: the read-to-send path, its send API and endpoint."""
    REACH = "reach"
    """``CodeFacts.reach``: the path from an entry point to the read."""
    ABSENCE = "absence"
    """Nothing of the category was read in the code analysed (``text`` says how much was analysed)."""


@record
class Evidence:
    """One item of evidence, short enough for a table, exact enough to re-check."""

    kind: EvidenceKind
    text: str
    location: CodeLocation | None = None
    """Where in the code (the read, the send call, the entry point); None for manifest facts."""
    endpoint: str = ""
    """For a path: the first endpoint named on it."""
    server: str = ""
    """For a path with an endpoint: whose server it is (``app``, ``third-party``, ``unknown``)."""


@record
class Observation:
    """What the facts show for one finding type and data category of one app."""

    finding: str
    """The finding type id, ``<category>.<type>`` (data/findings.json)."""
    category: str
    confidence: FindingConfidence
    summary: str
    """One line in English, facts only: "3 methods read the contact list in bulk"."""
    evidence: tuple[Evidence, ...]
    more: int = 0
    """Evidence items beyond those kept (at most ``MAX_EVIDENCE`` in observe.py)."""


@record
class Finding:
    """An observation judged under one policy profile: its severity there and the clauses it cites.

    Severity is the profile's (``info``, ``warning``, ``violation``); confidence is the evidence's,
    whatever the profile. The same observation judged by two profiles is two findings."""

    rule: str
    """The finding type id, ``contacts.bulk-read`` (data/findings.json; docs/rules/)."""
    policy: str
    """The profile id, ``cn-lending`` (data/policies/; docs/policies.md)."""
    severity: PolicySeverity
    confidence: FindingConfidence
    clauses: tuple[str, ...]
    """Clause ids of the profile, in the order the verdict cites them."""
    message: str
    """The verdict's message in English, its placeholders filled (``{permission}``, ``{since}``...)."""
    message_zh: str
    summary: str
    """What the facts show (the observation's summary)."""
    evidence: tuple[Evidence, ...]
    more: int = 0
    """Evidence items beyond those kept."""

    @property
    def category(self) -> str:
        return self.rule.split(".", 1)[0]


__all__ = ["Evidence", "EvidenceKind", "Finding", "FindingConfidence", "Observation"]
