"""One exception root for everything permaudit raises internally.

``permaudit.audit()`` never lets these escape: each becomes a ``Problem`` on the result.
They exist so that each stage can stop reading one part (a member, a dex, a method)
and say why in one line, and so that a caller catching ``PermauditError`` catches all.
"""

from __future__ import annotations

import traceback
from pathlib import Path

from permaudit.model.common import Problem


class PermauditError(Exception):
    """The root: the message is one line naming what could not be read."""


class InputError(PermauditError):
    """The path cannot be audited at all; ``problem`` says why, as data."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


class MemberError(PermauditError):
    """A member of a zip archive cannot be read (damaged, over a cap, unsafe name)."""


class ArscError(PermauditError):
    """``resources.arsc`` is malformed where a value was looked up."""


class DexError(PermauditError):
    """A dex file (or one part of it) is malformed."""


def internal_problem(path: object, where: str, exc: Exception) -> Problem:
    """A bug (not bad input) met ``where`` (``the code stage``, ``endpoint extraction``) as a
    problem naming the exception and the source line, so the caller can keep what it has.
    Running out of memory is no bug: ``MemoryError`` goes on up to whoever set the limit."""
    if isinstance(exc, MemoryError):
        raise exc
    frame = traceback.extract_tb(exc.__traceback__)[-1]
    line = f"{Path(frame.filename).name}:{frame.lineno}"
    return Problem("internal-error", f"{path}: internal error in {where}, {type(exc).__name__} at {line}: {one_line(exc)} (please report)")


def one_line(exc: BaseException) -> str:
    """An exception as one line of at most 160 characters, for a problem message."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


__all__ = ["ArscError", "DexError", "InputError", "MemberError", "PermauditError", "internal_problem", "one_line"]
