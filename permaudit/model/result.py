"""The result of one audit: everything every stage produced, in one frozen value.

Everything in ``permaudit.model`` is a frozen dataclass of plain values (str, int, bool,
tuples, enums), so a result can be compared, hashed, pickled across processes and
serialised to JSON without custom code. Stages only add facts; judgement (findings
under a policy) comes later and never mutates facts.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
from typing import Any

from permaudit.model.category import CategorySignal
from permaudit.model.code import CodeFacts
from permaudit.model.common import Hashes, Problem, Severity, Stage, Status
from permaudit.model.findings import Finding
from permaudit.model.identity import Artifact, Signing
from permaudit.model.manifest import ManifestFacts
from permaudit.model.policy import PolicySeverity
from permaudit.model.record import record

SCHEMA_VERSION = "2.1"


@record
class AuditResult:
    """Everything permaudit learned about one package."""

    path: str
    kind: str
    """``apk``, ``xapk``, ``apks``, ``apkm``, ``dex``, ``dex-folder``."""
    status: Status
    hashes: Hashes | None
    artifacts: tuple[Artifact, ...] = ()
    manifest: ManifestFacts | None = None
    code: CodeFacts | None = None
    """None when the bytecode stage was skipped (see ``skipped``), failed, or the package holds no dex."""
    skipped: tuple[Stage, ...] = ()
    """Stages not run by the caller's choice (``code`` with ``--manifest-only``): not analysed, as
    opposed to analysed and found empty, and apart from what could not be read (``problems``)."""
    findings: tuple[Finding, ...] = ()
    """Observations judged under each profile in ``policies`` (docs/findings.md); empty when no profile applied."""
    policies: tuple[str, ...] = ()
    """The profiles that judged the findings, in order."""
    category: str = ""
    """What the caller said about the app's category: ``lending`` (it is a lending app), ``auto``
    (treat it as one when the lending signal is strong), or empty (nothing)."""
    category_signal: CategorySignal | None = None
    """Whether the app looks like a lending app, with the clues (docs/category.md); None when
    the stage could not run. A signal, never a classification: on its own it applies no rule."""
    lending: bool = False
    """Whether the profiles' lending-only verdicts applied: ``category`` is ``lending``, or
    ``auto`` and ``category_signal`` is strong."""
    problems: tuple[Problem, ...] = ()
    tool_version: str = ""
    schema_version: str = SCHEMA_VERSION

    @property
    def signing(self) -> Signing | None:
        """Signatures of the base APK (the one Android checks on install)."""
        return next((a.signing for a in self.artifacts if a.signing is not None), None)

    def highest_severity(self) -> PolicySeverity | None:
        """The most serious finding's severity under any profile, for ``--fail-on``."""
        return max((f.severity for f in self.findings), key=lambda s: s.rank, default=None)

    def error_line(self) -> str:
        """One line for stderr naming the worst problem (notes too), or empty when there is none."""
        if not self.problems:
            return ""
        worst = max(self.problems, key=lambda p: p.severity.rank)
        first = worst.message
        name = self.path.replace("\\", "/").rsplit("/", 1)[-1]
        if first.startswith(self.path):
            line = first
        elif first.startswith((name + ":", name + "!")):
            line = self.path + first[len(name) :]  # the message names the file; give its full path
        else:
            line = f"{self.path}: {first}"
        more = len(self.problems) - 1
        prefix = "note: " if worst.severity is Severity.NOTE else ""
        return prefix + line + (f" (+{more} more)" if more else "")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with enums as their values."""
        plain: dict[str, Any] = _plain(self)
        return plain


_LEAVES = frozenset({str, int, float, bool, type(None)})


def _plain(value: Any) -> Any:
    if type(value) in _LEAVES:
        return value  # most of a result's values; exact types, so a str-valued enum still becomes its value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    names = _field_names(value.__class__)
    if names is not None:
        return {name: _plain(getattr(value, name)) for name in names}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


@functools.cache
def _field_names(kind: type) -> tuple[str, ...] | None:
    """A dataclass's field names, once per class (``dataclasses.fields`` rebuilds the tuple on
    every call, which was half the cost of turning a result into a dict); None for other types."""
    return tuple(f.name for f in dataclasses.fields(kind)) if dataclasses.is_dataclass(kind) else None


__all__ = ["SCHEMA_VERSION", "AuditResult", "Finding"]
