"""Stage "policy": load the profiles in ``permaudit/data/policies`` and resolve their verdicts.

Every profile is data checked against ``schema.json`` beside it; this module holds no
knowledge of any law, so adding or correcting a profile never touches code. The check
here is structural and dependency-free (the tests also run the real JSON Schema), plus
what a schema cannot say: references between clauses, sources and verdicts resolve, and
finding patterns name real categories and finding types. The precedence rule of
:func:`verdicts_for` is documented in docs/policies.md and in ``schema.json``.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Collection, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from permaudit.data import category_order, permission_categories
from permaudit.errors import PermauditError
from permaudit.model.policy import (
    Applicability,
    Clause,
    Condition,
    Localized,
    PolicySeverity,
    Profile,
    ProhibitedPermission,
    Source,
    Verdict,
    Verification,
)

FINDINGS = ("declared", "declared-unused", "prohibited-permission", "requested", "bulk-read", "lookup-read",
            "picker-only", "sent", "sent-third-party", "texted", "before-consent")
"""The finding types (``<category>.<type>``), fixed with the observe stage (data/findings.json)."""

ONLY_FOR = {"picker-only": ("contacts",), "texted": ("contacts",)}
"""Finding types that exist for some categories only."""

PLACEHOLDERS = ("category", "permission", "since", "target_sdk")
"""What a verdict message may leave for the engine to fill in."""

_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_HOLE = re.compile(r"\{([^{}]*)\}")
_E = TypeVar("_E", Applicability, PolicySeverity, Verification)


class PolicyError(PermauditError):
    """A profile is unknown or malformed: the message names the file and the field."""


def profiles() -> dict[str, Profile]:
    """Every bundled profile by id, sorted by id; each file is checked when first loaded."""
    return dict(_bundled())


def profile(profile_id: str) -> Profile:
    """The bundled profile ``profile_id``; a one-line PolicyError naming the valid ids otherwise."""
    found = dict(_bundled())
    if profile_id not in found:
        raise PolicyError(f"unknown policy profile {profile_id!r}; valid: {', '.join(found)}")
    return found[profile_id]


def load_file(path: str | Path) -> Profile:
    """A profile from a JSON file of one's own (same format and checks as the bundled ones)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PolicyError(f"{path.name}: cannot read the profile: {exc}") from exc
    return parse(data, path.name)


def verdicts_for(profile: Profile, finding_id: str, category_is_lending: bool, *,
                 target_sdk: int | None = None, permissions: Collection[str] = ()) -> list[Verdict]:
    """The verdicts ``profile`` gives finding ``finding_id`` (``contacts.bulk-read``) of one app.

    Keeps the verdicts whose pattern matches, that apply to the app (``lending`` ones only to
    lending apps) and whose conditions hold given its ``target_sdk`` (None: unknown, so a
    condition on it fails) and declared ``permissions``; then returns those of the highest
    specificity only, in file order: a named category beats ``*``, then a named finding beats
    ``*``, then ``lending`` beats ``all``. Empty: the profile says nothing about the finding.
    """
    category, _, kind = finding_id.partition(".")
    kept = [v for v in profile.verdicts
            if matches(v.finding, category, kind)
            and (v.applies_to is Applicability.ALL or category_is_lending)
            and _holds(v.when, category, target_sdk, permissions)]
    if not kept:
        return []
    best = max(map(_rank, kept))
    return [v for v in kept if _rank(v) == best]


def matches(pattern: str, category: str, kind: str) -> bool:
    """Whether a verdict's finding pattern (``*.bulk-read``, ``contacts.*``) covers ``category.kind``."""
    want_category, _, want_kind = pattern.partition(".")
    return want_category in ("*", category) and want_kind in ("*", kind)


def _rank(verdict: Verdict) -> tuple[bool, bool, bool]:
    want_category, _, want_kind = verdict.finding.partition(".")
    return want_category != "*", want_kind != "*", verdict.applies_to is Applicability.LENDING


def _holds(when: Condition, category: str, target_sdk: int | None, permissions: Collection[str]) -> bool:
    if when.target_sdk_min is not None and (target_sdk is None or target_sdk < when.target_sdk_min):
        return False
    if when.target_sdk_max is not None and (target_sdk is None or target_sdk > when.target_sdk_max):
        return False
    if when.declares_any and not set(when.declares_any) & set(permissions):
        return False
    if when.prohibited_permissions:
        owners = permission_categories()
        return any(p.permission in permissions and owners.get(p.permission) == category for p in when.prohibited_permissions)
    return True


@functools.cache
def _bundled() -> tuple[tuple[str, Profile], ...]:
    folder = resources.files("permaudit.data").joinpath("policies")
    out = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json") and entry.name != "schema.json":
            loaded = parse(json.loads(entry.read_text(encoding="utf-8")), entry.name)
            if f"{loaded.id}.json" != entry.name:
                raise PolicyError(f"{entry.name}: id {loaded.id!r} does not match the file name")
            out.append((loaded.id, loaded))
    return tuple(out)


def parse(data: Any, name: str = "<profile>") -> Profile:
    """A checked Profile from parsed JSON; PolicyError names ``name`` and the field at fault."""
    check = _Checker(name)
    top = check.obj(data, "", {"schema_version", "id", "title", "jurisdiction", "version", "as_of", "applies_to",
                              "sources", "clauses", "verdicts"}, {"note"})
    if top["schema_version"] != 1:
        check.fail("schema_version", "must be 1")
    applies = check.enum(Applicability, top["applies_to"], "applies_to")
    sources = tuple(_source(check, s, f"sources[{i}]") for i, s in enumerate(check.items(top["sources"], "sources")))
    clauses = tuple(_clause(check, c, f"clauses[{i}]") for i, c in enumerate(check.items(top["clauses"], "clauses")))
    verdicts = tuple(_verdict(check, v, f"verdicts[{i}]") for i, v in enumerate(check.items(top["verdicts"], "verdicts")))
    for what, ids in (("source", [s.id for s in sources]), ("clause", [c.id for c in clauses])):
        dupes = {i for i in ids if ids.count(i) > 1}
        if dupes:
            check.fail(f"{what}s", f"duplicate {what} id {min(dupes)!r}")
    source_ids, clause_ids = {s.id for s in sources}, {c.id for c in clauses}
    for i, c in enumerate(clauses):
        if c.source not in source_ids:
            check.fail(f"clauses[{i}].source", f"unknown source {c.source!r}")
        if c.superseded_by is not None and c.superseded_by not in clause_ids:
            check.fail(f"clauses[{i}].superseded_by", f"unknown clause {c.superseded_by!r}")
    seen: set[tuple[str, Applicability, Condition]] = set()
    for i, v in enumerate(verdicts):
        missing = [c for c in v.clauses if c not in clause_ids]
        if missing:
            check.fail(f"verdicts[{i}].clauses", f"unknown clause {missing[0]!r}")
        if applies is Applicability.LENDING and v.applies_to is not Applicability.LENDING:
            check.fail(f"verdicts[{i}].applies_to", "a lending profile has lending verdicts only")
        if (v.finding, v.applies_to, v.when) in seen:
            check.fail(f"verdicts[{i}]", f"a second verdict for {v.finding} ({v.applies_to}) under the same conditions")
        seen.add((v.finding, v.applies_to, v.when))
    return Profile(id=check.id(top["id"], "id"), title=_localized(check, top["title"], "title", zh=True),
                   jurisdiction=check.text(top["jurisdiction"], "jurisdiction"), version=check.text(top["version"], "version"),
                   as_of=check.date(top["as_of"], "as_of"), applies_to=applies, sources=sources, clauses=clauses,
                   verdicts=verdicts, note=check.text(top.get("note", ""), "note", empty=True))


def _source(check: _Checker, raw: Any, at: str) -> Source:
    d = check.obj(raw, at, {"id", "title", "title_en", "publisher", "url", "date", "version"}, {"note"})
    return Source(id=check.id(d["id"], f"{at}.id"), title=check.text(d["title"], f"{at}.title"),
                  title_en=check.text(d["title_en"], f"{at}.title_en"), publisher=check.text(d["publisher"], f"{at}.publisher"),
                  url=check.text(d["url"], f"{at}.url"), date=check.maybe_date(d["date"], f"{at}.date"),
                  version=check.text(d["version"], f"{at}.version"), note=check.text(d.get("note", ""), f"{at}.note", empty=True))


def _clause(check: _Checker, raw: Any, at: str) -> Clause:
    d = check.obj(raw, at, {"id", "citation", "text", "lang", "gloss_en", "source", "date", "version", "level", "note"},
                  {"gloss_zh", "locator", "until", "superseded_by"})
    level = check.enum(Verification, d["level"], f"{at}.level")
    text = check.text(d["text"], f"{at}.text", empty=True)
    if (level is Verification.U) != (text == ""):
        check.fail(f"{at}.text", "an unverified (U) clause has empty text, and only a U clause may")
    return Clause(id=check.id(d["id"], f"{at}.id"), citation=_localized(check, d["citation"], f"{at}.citation", zh=False),
                  text=text, lang=check.text(d["lang"], f"{at}.lang"), gloss_en=check.text(d["gloss_en"], f"{at}.gloss_en"),
                  source=check.id(d["source"], f"{at}.source"), date=check.maybe_date(d["date"], f"{at}.date"),
                  version=check.text(d["version"], f"{at}.version"), level=level,
                  note=check.text(d["note"], f"{at}.note", empty=True), gloss_zh=check.text(d.get("gloss_zh", ""), f"{at}.gloss_zh", empty=True),
                  locator=check.text(d.get("locator", ""), f"{at}.locator", empty=True),
                  until=check.date(d["until"], f"{at}.until") if "until" in d else None,
                  superseded_by=check.id(d["superseded_by"], f"{at}.superseded_by") if "superseded_by" in d else None)


def _verdict(check: _Checker, raw: Any, at: str) -> Verdict:
    d = check.obj(raw, at, {"finding", "severity", "clauses", "applies_to", "message"}, {"when"})
    finding = check.text(d["finding"], f"{at}.finding")
    category, _, kind = finding.partition(".")
    if category not in ("*", *category_order()) or kind not in ("*", *FINDINGS):
        check.fail(f"{at}.finding", f"{finding!r} is not <category>.<finding> with a known category and finding type (or *)")
    if kind in ONLY_FOR and category not in ("*", *ONLY_FOR[kind]):
        check.fail(f"{at}.finding", f"{kind} exists only for {', '.join(ONLY_FOR[kind])}")
    message = _localized(check, d["message"], f"{at}.message", zh=True)
    for text in (message.en, message.zh):
        holes = set(_HOLE.findall(text)) - set(PLACEHOLDERS)
        if holes:
            check.fail(f"{at}.message", f"unknown placeholder {{{min(holes)}}}")
    when = _when(check, d.get("when", {}), f"{at}.when")
    if (kind == "prohibited-permission") != bool(when.prohibited_permissions):
        check.fail(f"{at}.when", "prohibited_permissions goes with, and only with, a *.prohibited-permission verdict")
    clauses = tuple(check.id(c, f"{at}.clauses") for c in check.items(d["clauses"], f"{at}.clauses"))
    return Verdict(finding=finding, severity=check.enum(PolicySeverity, d["severity"], f"{at}.severity"), clauses=clauses,
                   applies_to=check.enum(Applicability, d["applies_to"], f"{at}.applies_to"), message=message, when=when)


def _when(check: _Checker, raw: Any, at: str) -> Condition:
    d = check.obj(raw, at, set(), {"target_sdk_min", "target_sdk_max", "declares_any", "prohibited_permissions"})
    bounds = {k: d[k] for k in ("target_sdk_min", "target_sdk_max") if k in d}
    for k, v in bounds.items():
        if type(v) is not int or v < 1:
            check.fail(f"{at}.{k}", "must be a positive integer")
    listed = []
    for i, p in enumerate(d.get("prohibited_permissions", [])):
        e = check.obj(p, f"{at}.prohibited_permissions[{i}]", {"permission", "since", "level"}, {"note"})
        level = check.enum(Verification, e["level"], f"{at}.prohibited_permissions[{i}].level")
        if level is Verification.U:
            check.fail(f"{at}.prohibited_permissions[{i}].level", "an unverified listing cannot ground a verdict")
        listed.append(ProhibitedPermission(check.text(e["permission"], f"{at}.prohibited_permissions[{i}].permission"),
                                           check.date(e["since"], f"{at}.prohibited_permissions[{i}].since"), level,
                                           check.text(e.get("note", ""), f"{at}.prohibited_permissions[{i}].note", empty=True)))
    declares = tuple(check.text(p, f"{at}.declares_any") for p in check.items(d.get("declares_any", []), f"{at}.declares_any", empty=True))
    return Condition(target_sdk_min=bounds.get("target_sdk_min"), target_sdk_max=bounds.get("target_sdk_max"),
                     declares_any=declares, prohibited_permissions=tuple(listed))


def _localized(check: _Checker, raw: Any, at: str, *, zh: bool) -> Localized:
    d = check.obj(raw, at, {"en", "zh"} if zh else {"en"}, set() if zh else {"zh"})
    return Localized(check.text(d["en"], f"{at}.en"), check.text(d.get("zh", ""), f"{at}.zh", empty=not zh))


class _Checker:
    """Type and shape checks that raise one PolicyError naming the file and the field."""

    def __init__(self, name: str) -> None:
        self.name = name

    def fail(self, at: str, why: str) -> NoReturn:
        raise PolicyError(f"{self.name}: {at or 'top level'}: {why}")

    def obj(self, raw: Any, at: str, required: set[str], optional: set[str]) -> Mapping[str, Any]:
        if not isinstance(raw, dict):
            self.fail(at, "must be an object")
        missing, extra = required - raw.keys(), raw.keys() - required - optional
        if missing:
            self.fail(at, f"missing {min(missing)!r}")
        if extra:
            self.fail(at, f"unknown field {min(extra)!r}")
        return raw

    def items(self, raw: Any, at: str, *, empty: bool = False) -> list[Any]:
        if not isinstance(raw, list) or (not raw and not empty):
            self.fail(at, "must be a non-empty list")
        return list(raw)

    def text(self, raw: Any, at: str, *, empty: bool = False) -> str:
        if not isinstance(raw, str) or (not raw and not empty):
            self.fail(at, "must be a non-empty string")
        return str(raw)

    def id(self, raw: Any, at: str) -> str:
        if not _ID.match(self.text(raw, at)):
            self.fail(at, f"{raw!r} is not a lower-case kebab-case id")
        return str(raw)

    def maybe_date(self, raw: Any, at: str) -> str | None:
        return None if raw is None else self.date(raw, at)

    def date(self, raw: Any, at: str) -> str:
        if not _DATE.match(self.text(raw, at)):
            self.fail(at, f"{raw!r} is not an ISO date (YYYY-MM-DD)")
        return str(raw)

    def enum(self, kind: type[_E], raw: Any, at: str) -> _E:
        try:
            return kind(raw)
        except ValueError:
            self.fail(at, f"{raw!r} is not one of {', '.join(e.value for e in kind)}")


__all__ = ["FINDINGS", "ONLY_FOR", "PLACEHOLDERS", "PolicyError", "load_file", "matches", "parse", "profile", "profiles", "verdicts_for"]
