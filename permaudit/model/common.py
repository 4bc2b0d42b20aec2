"""Values every stage shares: levels, statuses, problems, hashes, and ``visible``.

Every string taken from a package (member names, labels, URIs, class names) may hold
terminal escape sequences, control characters or bidi overrides aimed at the reader's
terminal or at the meaning of a line. ``visible`` shows them as ``\\x1b``, ``\\u202e``...,
so the reader sees that they are there and nothing is hidden, reordered or executed.
Problem messages go through it when made; formats pass every cell through it.
"""

from __future__ import annotations

import enum
import re

from permaudit.model.record import record


class Status(str, enum.Enum):
    """Whether the whole package could be read."""

    COMPLETE = "complete"
    PARTIAL = "partial"  # something was read, something was not: see ``problems``
    FAILED = "failed"  # nothing usable was read


class Stage(str, enum.Enum):
    """A stage of the audit, to say which one a problem hit or which one was skipped by choice."""

    LOAD = "load"
    MANIFEST = "manifest"
    CODE = "code"


class Severity(str, enum.Enum):
    """What a problem costs the result: ordered, so the worst one sets the status."""

    NOTE = "note"
    """An anomaly read anyway, as Android reads it: the result stays ``complete``."""
    PARTIAL = "partial"
    """Something was not read: the result is ``partial``."""
    FAILED = "failed"
    """Nothing usable was read: the result is ``failed``."""

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


@record
class Problem:
    """Something that could not be read, or was read despite an anomaly, as data rather than an exception."""

    code: str
    """Stable kebab-case identifier, e.g. ``not-a-zip``, ``bad-dex``, ``bad-resources``."""
    message: str
    """One line a person can act on; names the file or member."""
    member: str = ""
    """The member of the package it concerns (``classes2.dex``), or empty for the whole file."""
    severity: Severity = Severity.PARTIAL
    """``note``, ``partial`` or ``failed``: see :class:`Severity`."""

    def __post_init__(self) -> None:
        """A message is one visible line whatever a package put in the names it quotes."""
        object.__setattr__(self, "message", visible(self.message))


@record
class Hashes:
    """Digests and size of one file, so anyone can check they hold the same bytes."""

    sha256: str
    sha1: str
    md5: str
    size: int


_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f"  # C0 and C1 controls, DEL (ESC starts every ANSI sequence; CSI is \x9b)
    "\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff"  # bidi marks, overrides, isolates; zero-width; line separators
    "\ud800-\udfff]"  # lone surrogates: not printable, and an encoder error on a strict stream
)


def visible(text: object) -> str:
    """``text`` on one line with every control, escape and bidi character written out as an escape."""
    return _UNSAFE.sub(_escape, str(text))


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def counted(n: int, noun: str) -> str:
    """``1 read``, ``3 reads``: English counts in facts' notes and summaries (reports translate their own)."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


__all__ = ["Hashes", "Problem", "Severity", "Stage", "Status", "counted", "visible"]
