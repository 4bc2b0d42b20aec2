"""Counts over the results of a run, kept as they arrive so a run of thousands holds no results in memory."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from permaudit.model import AuditResult, PolicySeverity, Status


@dataclass
class Tally:
    """How many results had each status, and how many findings each level; the worst finding."""

    statuses: Counter[Status] = field(default_factory=Counter)
    findings: Counter[PolicySeverity] = field(default_factory=Counter)
    apps_with_findings: int = 0
    worst: PolicySeverity | None = None

    def add(self, result: AuditResult) -> None:
        self.statuses[result.status] += 1
        levels = [f.severity for f in result.findings]
        self.findings.update(levels)
        self.apps_with_findings += bool(levels)
        worst = result.highest_severity()
        if worst is not None and (self.worst is None or worst.rank > self.worst.rank):
            self.worst = worst

    @property
    def results(self) -> int:
        return sum(self.statuses.values())

    @classmethod
    def of(cls, results: list[AuditResult]) -> Tally:
        tally = cls()
        for result in results:
            tally.add(result)
        return tally
