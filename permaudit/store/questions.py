"""The cross-app questions, loaded from ``permaudit/data/store/questions.json``.

Questions are data, not code: each is an id, a title and description in English and Chinese,
one SQL query over the store (docs/store.md) with named parameters, and the columns it
answers with. An analyst adds a question by adding an entry; ``Store.ask`` runs it.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

from permaudit.errors import PermauditError
from permaudit.model.policy import Localized
from permaudit.model.record import record

Value = int | float | str | bytes | None


class StoreError(PermauditError):
    """The store cannot be opened, written or asked: the message is one line naming the file or question."""


@record
class Param:
    """A named parameter of a question's SQL (``:min_apps``), with its default and bounds."""

    name: str
    type: str
    """``int`` or ``str``."""
    default: int | str
    description: str
    minimum: int | None = None

    def check(self, value: object) -> int | str:
        """``value`` if it has this parameter's type and bounds, else StoreError."""
        if self.type == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise StoreError(f"parameter {self.name} must be an integer, not {value!r}")
            if self.minimum is not None and value < self.minimum:
                raise StoreError(f"parameter {self.name} must be at least {self.minimum}, not {value}")
            return value
        if not isinstance(value, str):
            raise StoreError(f"parameter {self.name} must be a string, not {value!r}")
        return value


@record
class Column:
    """One column of an answer: the SQL result column's name and its heading in each language."""

    id: str
    title: Localized


@record
class Question:
    """A question a regulator asks of a corpus, answered by one SQL query."""

    id: str
    title: Localized
    description: Localized
    """What the answer means and what it leaves out."""
    sql: str
    columns: tuple[Column, ...]
    params: tuple[Param, ...] = ()

    @property
    def column_ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.columns)

    def bind(self, given: dict[str, object]) -> dict[str, int | str]:
        """The SQL parameters: the defaults overridden by ``given``; an unknown name or a bad value is a StoreError."""
        known = {p.name: p for p in self.params}
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise StoreError(f"question {self.id} has no parameter {', '.join(unknown)} (it has: {', '.join(known) or 'none'})")
        return {name: p.check(given[name]) if name in given else p.default for name, p in known.items()}


@record
class Answer:
    """The rows a question returned, with the parameters it was asked with."""

    question: Question
    columns: tuple[str, ...]
    rows: tuple[tuple[Value, ...], ...]
    params: tuple[tuple[str, int | str], ...] = ()


def _localized(value: Any) -> Localized:
    if isinstance(value, str):
        return Localized(value, "")
    return Localized(str(value["en"]), str(value.get("zh", "")))


@functools.cache
def questions() -> dict[str, Question]:
    """Every question, by id, in file order (the order the corpus report shows them)."""
    raw = json.loads(resources.files("permaudit.data").joinpath("store", "questions.json").read_text(encoding="utf-8"))
    out: dict[str, Question] = {}
    for item in raw["questions"]:
        sql = item["sql"]
        out[item["id"]] = Question(
            id=item["id"],
            title=_localized(item["title"]),
            description=_localized(item["description"]),
            sql="\n".join(sql) if isinstance(sql, list) else sql,
            columns=tuple(Column(c["id"], _localized(c["title"])) for c in item["columns"]),
            params=tuple(Param(p["name"], p["type"], p["default"], p.get("description", ""), p.get("minimum")) for p in item.get("params", ())),
        )
    return out


__all__ = ["Answer", "Column", "Param", "Question", "StoreError", "questions"]
