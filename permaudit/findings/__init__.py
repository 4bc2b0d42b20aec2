"""Stage 3: observations from the facts, then findings under each policy (docs/findings.md)."""

from permaudit.findings.judge import judge
from permaudit.findings.observe import finding_types, observe

__all__ = ["finding_types", "judge", "observe"]
