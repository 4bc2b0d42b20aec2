"""Where a scan writes each result the moment it is known: a JSON Lines log and the SQLite store.

Each sink says which inputs it already holds (for ``--resume``), writes one outcome durably
(a flushed line, a committed row) and records another name of an input it holds.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Protocol

from permaudit.batch.jobs import Outcome
from permaudit.errors import PermauditError
from permaudit.loading.walk import special_kind
from permaudit.model.record import record
from permaudit.store import Store


class SinkError(PermauditError):
    """A sink that cannot be opened or written: the run cannot keep its results, so it stops."""


class Sink(Protocol):
    def recorded(self) -> dict[str, str]:
        """Input SHA-256 -> the path it was recorded under."""

    def record(self, outcome: Outcome) -> None: ...

    def add_name(self, path: str, key: str, same_as: str) -> None:
        """``path`` holds the bytes of ``key``, first met as ``same_as`` (maybe still being audited)."""

    def close(self) -> None: ...


class JsonlLog:
    """One JSON document per line: ``{"input": {"path", "sha256"}, "seconds", "result"}`` for an
    audit, ``{"input": {...}, "same_as": path}`` for another name of an input already written.

    A run killed mid-line leaves a torn last line; resuming cuts it off before appending, so
    every line of the file is whole."""

    def __init__(self, path: str | Path, *, resume: bool) -> None:
        self.path = Path(path)
        held: dict[str, str] = {}
        names: set[tuple[str, str]] = set()
        if resume and (special := special_kind(self.path)):  # a pipe holds no earlier results to read
            raise SinkError(f"{self.path}: is a {special}; --resume reads the log file an earlier scan wrote")
        try:
            if resume and self.path.exists():
                held, names = _read_and_mend(self.path)
                self._file: IO[bytes] = self.path.open("ab")
            else:
                self._file = self.path.open("wb")
        except OSError as exc:
            raise SinkError(f"cannot open {self.path}: {exc.strerror or exc}") from None
        self._held = held
        self._names = names

    def recorded(self) -> dict[str, str]:
        return dict(self._held)

    def record(self, outcome: Outcome) -> None:
        self._write(outcome.path, outcome.key, {"seconds": round(outcome.seconds, 3), "result": _Raw(outcome.document)})

    def add_name(self, path: str, key: str, same_as: str) -> None:
        if (path, key) not in self._names:
            self._names.add((path, key))
            self._write(path, key, {"same_as": same_as})

    def close(self) -> None:
        self._file.close()

    def _write(self, path: str, key: str, document: dict[str, object]) -> None:
        fields = {"input": {"path": path, "sha256": key}, **document}
        line = "{" + ", ".join(f"{json.dumps(k)}: {v.text if isinstance(v, _Raw) else json.dumps(v, sort_keys=True)}"
                               for k, v in sorted(fields.items())) + "}\n"
        try:
            self._file.write(line.encode("utf-8", "surrogateescape"))
            self._file.flush()
        except OSError as exc:
            raise SinkError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        if "result" in document:
            self._held.setdefault(key, path)


@record
class _Raw:
    """JSON text already made (the result's, by the worker), written into the line as it is."""

    text: str


def _read_and_mend(path: Path) -> tuple[dict[str, str], set[tuple[str, str]]]:
    """The inputs a log holds a result for, and the other names it holds; a torn last line (the
    run was killed while writing it) is cut off. A name written while its input was still being
    audited does not make the input held: its result may never have come."""
    data = path.read_bytes()
    whole = data.rfind(b"\n") + 1
    if whole < len(data):
        with path.open("r+b") as handle:
            handle.truncate(whole)
            os.fsync(handle.fileno())
    held: dict[str, str] = {}
    names: set[tuple[str, str]] = set()
    for number, line in enumerate(data[:whole].splitlines(), 1):
        try:
            entry = json.loads(line)
            key, name = entry["input"]["sha256"], entry["input"]["path"]
        except (ValueError, KeyError, TypeError):
            raise SinkError(f"{path}:{number}: not a permaudit result line; resume with the log the scan wrote") from None
        if "result" in entry:
            held.setdefault(key, name)
        else:
            names.add((name, key))
    return held, names


class StoreSink:
    """The SQLite store (``permaudit.store``) as a sink: each outcome one committed transaction."""

    def __init__(self, path: str | Path) -> None:
        self._store = Store.open(path)

    def recorded(self) -> dict[str, str]:
        return self._store.recorded()

    def record(self, outcome: Outcome) -> None:
        self._store.record(outcome.result, input_sha256=outcome.key, seconds=outcome.seconds, document=outcome.document)

    def add_name(self, path: str, key: str, same_as: str) -> None:
        self._store.add_name(path, key)

    def close(self) -> None:
        self._store.close()
