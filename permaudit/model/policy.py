"""Policy profiles as values: the sources, clauses and verdicts of one legal regime or store policy.

A profile is data (``permaudit/data/policies/<id>.json``, checked against ``schema.json``
beside it) so that lawyers and reviewers can read and correct it without reading code, and
so that the rules engine needs no code per profile: it looks up the verdicts for each
observation (``contacts.bulk-read``) and prints their clauses. Each clause carries how
well its text was verified, because a report may quote only what was read in a primary
source (docs/policies.md).
"""

from __future__ import annotations

import enum

from permaudit.model.record import record


class Verification(enum.StrEnum):
    """How the clause text was verified; decides how a report may show it."""

    P = "P"
    """Primary: read on the issuer's page or a faithful full copy. Quoted verbatim."""
    S = "S"
    """Secondary: a reprint, news story or law-firm page quoting it. Shown, labelled as secondary."""
    U = "U"
    """Unverified: no text was read. The citation is kept, the text is empty and never printed as fact."""

    @property
    def label(self) -> str:
        return {"P": "primary", "S": "secondary", "U": "unverified"}[self.value]


class Applicability(enum.StrEnum):
    """Which apps a profile or verdict judges: the app's category is an input, never a finding."""

    ALL = "all"
    LENDING = "lending"


class PolicySeverity(enum.StrEnum):
    """What a verdict makes of an observation; apart from ``Level`` (findings) and the evidence's confidence."""

    INFO = "info"
    """Worth reporting, no breach: a compliant pattern, or a rule that does not apply yet."""
    WARNING = "warning"
    """A likely breach that depends on what static analysis cannot see (purpose, consent, a declaration)."""
    VIOLATION = "violation"
    """The clause forbids what the APK shows."""

    @property
    def rank(self) -> int:
        return {"info": 0, "warning": 1, "violation": 2}[self.value]


@record
class Localized:
    """A short text in English and Chinese; ``zh`` may be empty where no Chinese form is kept."""

    en: str
    zh: str = ""

    def get(self, lang: str) -> str:
        """The text in ``lang`` (``en``, ``zh``), falling back to English."""
        return (self.zh if lang == "zh" else "") or self.en


@record
class Source:
    """The instrument a clause comes from, and where its text was read."""

    id: str
    title: str
    """In the original language."""
    title_en: str
    publisher: str
    url: str
    date: str | None
    """Adoption or publication date (ISO), None when unknown."""
    version: str
    note: str = ""


@record
class Clause:
    """One article, paragraph or policy sentence, with the text as read and how well it was verified."""

    id: str
    citation: Localized
    text: str
    """In the original language (``lang``), verbatim as read; empty for ``Verification.U``."""
    lang: str
    gloss_en: str
    source: str
    """A ``Source.id`` of the same profile."""
    date: str | None
    """The day this clause, in this version, took effect (ISO), None when unknown."""
    version: str
    level: Verification
    note: str = ""
    gloss_zh: str = ""
    locator: str = ""
    """The article label in the original language (``第六条``), when the source numbers it."""
    until: str | None = None
    """Last day in force, when a later version replaced it."""
    superseded_by: str | None = None
    """The clause id of the version that replaced it."""


@record
class ProhibitedPermission:
    """A permission a store policy forbids, with the day it was added to the list."""

    permission: str
    since: str
    level: Verification
    note: str = ""


@record
class Condition:
    """Facts of the app a verdict needs besides the finding (all must hold); empty means always."""

    target_sdk_min: int | None = None
    target_sdk_max: int | None = None
    declares_any: tuple[str, ...] = ()
    """At least one of these permissions is declared."""
    prohibited_permissions: tuple[ProhibitedPermission, ...] = ()
    """For ``*.prohibited-permission``: the list the finding is checked against."""


@record
class Verdict:
    """What a profile makes of one finding type: a severity, the clauses behind it, a message."""

    finding: str
    """A finding id or pattern: ``contacts.bulk-read``, ``*.bulk-read``, ``location.*``."""
    severity: PolicySeverity
    clauses: tuple[str, ...]
    applies_to: Applicability
    message: Localized
    """Plain text; may hold ``{category}``, ``{permission}``, ``{since}``, ``{target_sdk}``."""
    when: Condition = Condition()

    def say(self, lang: str = "en", **values: object) -> str:
        """The message in ``lang`` with the placeholders given filled in; others are left as written."""
        return self.message.get(lang).format_map(_Keep({k: str(v) for k, v in values.items()}))


class _Keep(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@record
class Profile:
    """One policy profile: who it judges, the clauses it cites and its verdict table."""

    id: str
    title: Localized
    jurisdiction: str
    version: str
    """Of our profile file, not of the law."""
    as_of: str
    """The day the clauses were last checked against the reference notes."""
    applies_to: Applicability
    sources: tuple[Source, ...]
    clauses: tuple[Clause, ...]
    verdicts: tuple[Verdict, ...]
    note: str = ""

    def clause(self, clause_id: str) -> Clause:
        """The clause ``clause_id`` (KeyError if the profile has none)."""
        for clause in self.clauses:
            if clause.id == clause_id:
                return clause
        raise KeyError(clause_id)

    def source(self, source_id: str) -> Source:
        """The source ``source_id`` (KeyError if the profile has none)."""
        for source in self.sources:
            if source.id == source_id:
                return source
        raise KeyError(source_id)

    def prohibited_permissions(self) -> dict[str, ProhibitedPermission]:
        """Every permission the profile prohibits, so the observe stage can emit ``prohibited-permission``."""
        return {p.permission: p for v in self.verdicts for p in v.when.prohibited_permissions}


__all__ = [
    "Applicability",
    "Clause",
    "Condition",
    "Localized",
    "PolicySeverity",
    "Profile",
    "ProhibitedPermission",
    "Source",
    "Verdict",
    "Verification",
]
