"""Contacts access by cross-platform frameworks (React Native, Flutter, Cordova, uni-app).

Such apps read the contact list from JavaScript or Dart, so the bytecode stage only sees a
plugin's generic bridge. The evidence is elsewhere: the JS bundle, the Dart AOT snapshot
(``libapp.so``), the bundled plugin files and the plugin's Java classes. The signatures
live in ``data/hybrid.json``; this module only matches them, reading no member that no
signature targets.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable

from permaudit.data import load
from permaudit.loading import member_name
from permaudit.model import HybridEvidence
from permaudit.model.record import record

DETAIL_MAX = 120
PICKER = "picker"
_SPACE = re.compile(r"\s+")
_GLOB = {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}


@record
class _Signature:
    framework: str
    category: str
    kind: str
    label: str
    picker: bool
    members: str
    """Its member globs as one regex's text, compiled (and cached by ``re``) when first matched:
    most APKs never meet most signatures."""
    exclude: str
    patterns: tuple[bytes, ...]
    prefix: str
    entries: tuple[str, ...]

    def targets(self, member: str) -> bool:
        return bool(re.fullmatch(self.members, member)) and not re.fullmatch(self.exclude, member)

    def evidence(self, path: str, detail: str) -> HybridEvidence:
        text = f"{PICKER}: {detail}" if self.picker else detail
        return HybridEvidence(self.framework, self.category, self.kind, path, text[:DETAIL_MAX])


def scan(files: Iterable[tuple[str, Callable[[], bytes]]], classes: Iterable[str]) -> tuple[HybridEvidence, ...]:
    """Evidence from APK members (path, reader) and dex class descriptors, sorted and de-duplicated."""
    signatures, targeted, cap = _signatures()
    found: dict[tuple[str, str], list[HybridEvidence]] = {}
    present: dict[_Signature, list[str]] = {}
    for path, read in files:
        member = member_name(path)  # "split.apk!assets/...", and "#2" for a second copy of one name
        if not targeted.fullmatch(member):
            continue
        data: bytes | None = None
        for sig in signatures:
            if not sig.targets(member):
                continue
            if not sig.patterns:
                present.setdefault(sig, []).append(path)
                continue
            if data is None:
                data = read()
            for detail in _matches(sig.patterns, data, cap):
                _add(found, sig.evidence(path, detail), cap)
    for sig, paths in present.items():
        _add(found, sig.evidence(_pick(paths, sig.entries), sig.label), cap)
    _classes(found, signatures, classes, cap)
    return tuple(sorted((e for group in found.values() for e in group), key=lambda e: (e.framework, e.path, e.detail)))


def class_prefixes() -> tuple[str, ...]:
    """Class descriptor prefixes the signatures look for, so callers can list only those classes."""
    return tuple(s.prefix for s in _signatures()[0] if s.kind == "class")


def _classes(found: dict[tuple[str, str], list[HybridEvidence]], signatures: tuple[_Signature, ...], classes: Iterable[str], cap: int) -> None:
    """One evidence per class signature: an entry class when defined, else the first (in sort order) under the prefix."""
    by_prefix = [s for s in signatures if s.kind == "class"]
    prefixes = tuple(s.prefix for s in by_prefix)
    hits: dict[_Signature, list[str]] = {}
    for name in classes:
        if name.startswith(prefixes):
            for sig in by_prefix:
                if name.startswith(sig.prefix):
                    hits.setdefault(sig, []).append(name)
    for sig, names in hits.items():
        _add(found, sig.evidence(_pick(names, sig.entries), sig.label), cap)


def _pick(candidates: list[str], entries: tuple[str, ...]) -> str:
    return next((e for e in entries if e in candidates), min(candidates))


def _add(found: dict[tuple[str, str], list[HybridEvidence]], evidence: HybridEvidence, cap: int) -> None:
    group = found.setdefault((evidence.framework, evidence.path), [])
    if evidence not in group and len(group) < cap:
        group.append(evidence)


def _matches(patterns: tuple[bytes, ...], data: bytes, cap: int) -> list[str]:
    """The first ``cap`` distinct matches, in pattern order, as one-line text (a bundle may be Hermes bytecode, so bytes)."""
    details: list[str] = []
    for pattern in patterns:
        for match in re.finditer(pattern, data):
            text = _SPACE.sub(" ", match.group().decode("utf-8", "replace")).strip()
            if text not in details:
                details.append(text)
                if len(details) == cap:
                    return details
    return details


@functools.cache
def _signatures() -> tuple[tuple[_Signature, ...], re.Pattern[str], int]:
    """The signatures of ``data/hybrid.json``, all their member globs as one compiled regex
    (most members of an APK are dismissed by it alone) and the per-path evidence cap."""
    table = load("hybrid")
    signatures = tuple(
        _Signature(
            framework=s["framework"],
            category=s["category"],
            kind=s["kind"],
            label=s.get("label", ""),
            picker=s.get("access") == PICKER,
            members=_globs(s.get("members", [])),
            exclude=_globs(s.get("exclude", [])),
            patterns=tuple(p.encode("ascii") for p in s.get("patterns", [])),
            prefix=s.get("prefix", ""),
            entries=tuple(s.get("entries", [])),
        )
        for s in table["signatures"]
    )
    targeted = re.compile(_globs([g for s in table["signatures"] for g in s.get("members", [])]))
    return signatures, targeted, int(table["max_per_path"])


def _globs(patterns: list[str]) -> str:
    """One regex's text for member globs (none: matches nothing); ``**/`` spans folders, ``*`` and ``?`` stay within one."""
    return "|".join(_glob(p) for p in patterns) or "(?!)"


def _glob(pattern: str) -> str:
    parts = re.split(r"(\*\*/|\*\*|\*|\?)", pattern)
    return "(?:" + "".join(_GLOB.get(part, re.escape(part)) for part in parts) + ")"
