"""The embedded results store: one SQLite file a scan of thousands of apps writes to and a
regulator's questions read from (docs/store.md).

Why SQLite from the standard library: one file to hand over, readable by any SQL tool, and
WAL journaling lets a report read while a scan writes. Each ``record`` is one transaction
committed before it returns, so a scan killed at any moment keeps every app it recorded and
``recorded()`` tells a resumed scan what to skip. The schema is versioned with
``PRAGMA user_version`` and upgraded by the SQL files in ``permaudit/data/store/``; a store
written by a newer permaudit is refused and never touched.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import json
import re
import sqlite3
import zlib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from permaudit.errors import one_line
from permaudit.loading.walk import special_kind
from permaudit.model.record import record
from permaudit.model.result import AuditResult
from permaudit.store.questions import Answer, StoreError, questions
from permaudit.store.rows import COLUMNS, TABLES, app_rows, escaped, escaped_row
from permaudit.version import __version__

SQLITE_MAGIC = b"SQLite format 3\x00"
_MIGRATION = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


@record
class Migration:
    """One schema step: the SQL file that takes a store from ``version - 1`` to ``version``."""

    version: int
    name: str
    sql: str


@functools.cache
def migrations() -> tuple[Migration, ...]:
    """The SQL files in ``permaudit/data/store/``, in order; numbered 1, 2, ... without a gap."""
    folder = resources.files("permaudit.data").joinpath("store")
    found = sorted((int(m.group(1)), entry.name) for entry in folder.iterdir() if (m := _MIGRATION.match(entry.name)))
    if [v for v, _ in found] != list(range(1, len(found) + 1)):
        raise StoreError(f"store migrations are not numbered 1..{len(found)}: {', '.join(n for _, n in found)}")
    return tuple(Migration(v, name, folder.joinpath(name).read_text(encoding="utf-8")) for v, name in found)


STORE_SCHEMA_VERSION = len(migrations())
"""The schema version this permaudit writes (``PRAGMA user_version`` of an up-to-date store)."""


@record
class Summary:
    """What a corpus report opens with."""

    apps: int
    complete: int
    partial: int
    failed: int
    lending: int
    """Apps judged as lending apps (lending-only verdicts applied)."""
    lending_strong: int
    """Apps whose lending signal is strong, whether or not it was acted on."""
    names: int
    """Paths recorded, an app seen under several names counted once per name."""
    newest: str
    """``audited_at`` of the most recent record, empty for an empty store."""
    oldest: str
    seconds: float
    """Audit time of every app, summed."""
    policies: tuple[str, ...]
    tool_versions: tuple[str, ...]
    schema_version: int


@record
class AppRow:
    """One app's key facts, as the per-app table and the CSV show them."""

    input_sha256: str
    sha256: str
    path: str
    names: tuple[str, ...]
    """Every other path the same bytes were seen under."""
    kind: str
    status: str
    package: str
    version_code: str
    version_name: str
    label: str
    signer_sha256: str
    category_strength: str
    lending: bool
    contacts_reads: int
    verdicts: tuple[tuple[str, str], ...]
    """(profile, worst severity or ``none``) in the order the profiles judged."""
    destinations: tuple[str, ...]
    """Hosts named on read-to-send paths from contacts reads, sorted."""
    problems: int
    seconds: float
    audited_at: str


class Store:
    """An open results store. Open it with :meth:`open`; close it, or use it in a ``with`` block."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path

    # -- opening -----------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path, *, create: bool = True, timeout: float = 10.0) -> Store:
        """Open (``create``: or create) the store at ``path`` and bring its schema up to date.

        Each pending migration runs in its own transaction. Refused with a one-line StoreError:
        a missing file when not ``create``, a file that is not SQLite, a schema newer than this
        permaudit (the file is left as it is), a file locked longer than ``timeout`` seconds or
        one that cannot be written.
        """
        where = Path(path)
        if where.is_dir():
            raise StoreError(f"{where}: is a folder, not a results store")
        if special := special_kind(where):  # reading a FIFO's first bytes would wait forever
            raise StoreError(f"{where}: is a {special}, not a results store")
        if where.exists():
            try:
                with where.open("rb") as handle:
                    head = handle.read(len(SQLITE_MAGIC))
            except OSError as exc:
                raise StoreError(f"{where}: cannot read the store: {one_line(exc)}") from exc
            if head and head != SQLITE_MAGIC:
                raise StoreError(f"{where}: not an SQLite file (not a permaudit results store)")
        elif not create:
            raise StoreError(f"{where}: no such store")
        try:
            connection = sqlite3.connect(str(where), timeout=timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"{where}: cannot open the store: {one_line(exc)}") from exc
        try:
            version = _user_version(connection, where)
            if version > STORE_SCHEMA_VERSION:
                raise StoreError(f"{where}: store schema version {version} is newer than this permaudit's "
                                 f"({STORE_SCHEMA_VERSION}, permaudit {__version__}); use a newer permaudit")
            if version == 0 and _has_tables(connection):
                raise StoreError(f"{where}: an SQLite file with tables but no store schema version: not a permaudit results store")
            pending = [m for m in migrations() if m.version > version]
            if create or pending:
                connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            for migration in pending:
                _migrate(connection, migration)
            if create:  # a writer finds out now, not at its first record, that it cannot write
                connection.execute("BEGIN IMMEDIATE")
                connection.execute("ROLLBACK")
        except StoreError:
            connection.close()
            raise
        except sqlite3.Error as exc:
            connection.close()
            raise StoreError(f"{where}: {_why(exc)}") from exc
        return cls(connection, where)

    def close(self) -> None:
        """Close the connection; every record is already committed."""
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return _user_version(self._db, self.path)

    def meta(self) -> dict[str, str]:
        """The ``meta`` table: which permaudit created and last migrated the store, and when."""
        return dict(self._db.execute("SELECT key, value FROM meta ORDER BY key").fetchall())

    # -- writing -----------------------------------------------------------------------------------

    def record(self, result: AuditResult, *, input_sha256: str, seconds: float, document: str | None = None) -> None:
        """Record one audit result in one transaction, committed before this returns.

        Replaces every earlier row of ``input_sha256`` (a re-scan) and records ``result.path``
        as a name of the input. A failed result still gets its app row and its problems.
        ``document``: the result's JSON text (``json.dumps(result.to_dict(), sort_keys=True)``) when
        the caller has it already (a scan's worker made it), so it is not made twice.
        """
        if not input_sha256:
            raise StoreError(f"{result.path}: no input sha256 to record the result under")
        if result.kind == "apk" and result.hashes is not None and result.hashes.sha256 != input_sha256:
            raise StoreError(f"{result.path}: input sha256 {input_sha256} is not the APK's ({result.hashes.sha256})")
        audited_at = _utc_now()
        rows = app_rows(result, input_sha256, seconds, audited_at, document)
        try:
            self._write(result.path, lambda db: self._replace(db, input_sha256, result.path, rows.app, rows.tables))
        except (UnicodeEncodeError, OverflowError):  # rolled back; written again as SQLite can take it
            safe = escaped(rows)
            path = str(escaped_row((result.path,))[0])
            self._write(path, lambda db: self._replace(db, input_sha256, path, safe.app, safe.tables))

    def add_name(self, path: str, input_sha256: str) -> None:
        """Record that the bytes of ``input_sha256`` were also seen at ``path`` (audited once, under its first name)."""
        row = escaped_row((path, input_sha256))
        self._write(path, lambda db: db.execute("INSERT OR REPLACE INTO names (path, input_sha256) VALUES (?, ?)", row))

    def _replace(self, db: sqlite3.Connection, key: str, path: str, app: tuple[object, ...], tables: dict[str, list[tuple[object, ...]]]) -> None:
        if db.execute("SELECT 1 FROM apps WHERE input_sha256 = ?", (key,)).fetchone() is not None:  # a re-scan
            for table in TABLES:
                db.execute(f"DELETE FROM {table} WHERE input_sha256 = ?", (key,))
            db.execute("DELETE FROM apps WHERE input_sha256 = ?", (key,))
        db.execute(_insert("apps"), app)
        for table in TABLES:
            if tables[table]:
                db.executemany(_insert(table), tables[table])
        db.execute("INSERT OR REPLACE INTO names (path, input_sha256) VALUES (?, ?)", (path, key))

    def _write(self, what: str, work: Any) -> None:
        try:
            with _transaction(self._db):
                work(self._db)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot record {what}: {_why(exc)}") from exc

    # -- reading -----------------------------------------------------------------------------------

    def recorded(self) -> dict[str, str]:
        """Input sha256 -> the path it was audited under, for every input recorded (what ``--resume`` skips)."""
        return dict(self._db.execute("SELECT input_sha256, path FROM apps ORDER BY path").fetchall())

    def names(self) -> dict[str, str]:
        """Every path recorded -> the input sha256 of its bytes (audited paths and ``add_name`` ones)."""
        return dict(self._db.execute("SELECT path, input_sha256 FROM names ORDER BY path").fetchall())

    def result(self, input_sha256: str) -> dict[str, Any]:
        """The whole recorded result, as ``AuditResult.to_dict()`` gave it; StoreError if not recorded."""
        row = self._db.execute("SELECT result FROM apps WHERE input_sha256 = ?", (input_sha256,)).fetchone()
        if row is None:
            raise StoreError(f"{self.path}: no app recorded under {input_sha256}")
        loaded: dict[str, Any] = json.loads(zlib.decompress(row[0]))
        return loaded

    def query(self, sql: str, params: dict[str, object] | tuple[object, ...] = ()) -> tuple[tuple[Any, ...], ...]:
        """Rows of any SQL over the store, for analysts and tests (docs/store.md lists the tables)."""
        try:
            return tuple(tuple(r) for r in self._db.execute(sql, params).fetchall())
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: {_why(exc)}") from exc

    def ask(self, question_id: str, **params: object) -> Answer:
        """Answer one of :func:`questions` with ``params`` overriding its defaults."""
        known = questions()
        if question_id not in known:
            raise StoreError(f"no question {question_id!r}; `permaudit query --db FILE` lists the {len(known)} questions")
        question = known[question_id]
        bound = question.bind(params)
        try:
            cursor = self._db.execute(question.sql, bound)
            rows = tuple(tuple(r) for r in cursor.fetchall())
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: question {question_id}: {_why(exc)}") from exc
        columns = tuple(d[0] for d in cursor.description or ())
        if columns != question.column_ids:
            raise StoreError(f"question {question_id}: its SQL returns columns {', '.join(columns)}, "
                             f"its entry lists {', '.join(question.column_ids)}")
        return Answer(question, columns, rows, tuple(bound.items()))

    def summary(self) -> Summary:
        """Counts over the whole store, for the top of a corpus report."""
        db = self._db
        apps, complete, partial, failed, lending, strong, newest, oldest, seconds = db.execute(
            "SELECT COUNT(*), COALESCE(SUM(status = 'complete'), 0), COALESCE(SUM(status = 'partial'), 0),"
            " COALESCE(SUM(status = 'failed'), 0), COALESCE(SUM(lending), 0), COALESCE(SUM(category_strength = 'strong'), 0),"
            " COALESCE(MAX(audited_at), ''), COALESCE(MIN(audited_at), ''), COALESCE(SUM(seconds), 0.0) FROM apps").fetchone()
        names = db.execute("SELECT COUNT(*) FROM names").fetchone()[0]
        policies: dict[str, None] = {}
        for (line,) in db.execute("SELECT DISTINCT policies FROM apps WHERE policies <> '' ORDER BY policies"):
            policies.update(dict.fromkeys(line.split()))
        tools = tuple(v for (v,) in db.execute("SELECT DISTINCT tool_version FROM apps ORDER BY tool_version"))
        return Summary(apps, complete, partial, failed, lending, strong, names, newest, oldest, float(seconds),
                       tuple(policies), tools, self.schema_version)

    def apps(self) -> tuple[AppRow, ...]:
        """Every app's key facts, by package then path (the per-app table of a corpus report)."""
        db = self._db
        verdicts: dict[str, list[tuple[str, str]]] = {}
        for key, policy, severity in db.execute("SELECT input_sha256, policy, severity FROM verdicts ORDER BY rowid"):
            verdicts.setdefault(key, []).append((policy, severity))
        destinations: dict[str, list[str]] = {}
        for key, host in db.execute("SELECT DISTINCT input_sha256, dest_host FROM paths WHERE category = 'contacts' AND outcome = 'path'"
                                    " AND confidence <> 'co-located' AND COALESCE(dest_host, '') <> '' ORDER BY input_sha256, dest_host"):
            destinations.setdefault(key, []).append(host)
        names: dict[str, list[str]] = {}
        for path, key in db.execute("SELECT n.path, n.input_sha256 FROM names n JOIN apps a ON a.input_sha256 = n.input_sha256"
                                    " WHERE n.path <> a.path ORDER BY n.path"):
            names.setdefault(key, []).append(path)
        problems = dict(db.execute("SELECT input_sha256, COUNT(*) FROM problems GROUP BY input_sha256").fetchall())
        out = []
        for (key, sha256, path, kind, status, package, vcode, vname, label, signer, strength, lending, reads, seconds,
             audited_at) in db.execute(
                "SELECT input_sha256, sha256, path, kind, status, package, version_code, version_name, label, signer_sha256,"
                " category_strength, lending, contacts_reads, seconds, audited_at FROM apps ORDER BY package IS NULL, package, path"):
            out.append(AppRow(key, sha256 or "", path, tuple(names.get(key, ())), kind, status, package or "", vcode or "", vname or "",
                              label or "", signer or "", strength or "", bool(lending), reads, tuple(verdicts.get(key, ())),
                              tuple(destinations.get(key, ())), problems.get(key, 0), seconds, audited_at))
        return tuple(out)


def _user_version(db: sqlite3.Connection, where: Path) -> int:
    try:
        version: int = db.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{where}: not a readable SQLite file: {_why(exc)}") from exc
    return version


def _has_tables(db: sqlite3.Connection) -> bool:
    count: int = db.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
    return count > 0


def _migrate(db: sqlite3.Connection, migration: Migration) -> None:
    """Apply one migration in its own transaction, unless another process already did."""
    with _transaction(db):
        if db.execute("PRAGMA user_version").fetchone()[0] < migration.version:
            for statement in _statements(migration.sql):
                db.execute(statement)
            now = _utc_now()
            updates = {"migrated_by": __version__, "migrated_at": now, f"migration.{migration.version}": migration.name}
            if migration.version == 1:
                updates.update({"created_by": __version__, "created_at": now})
            db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", updates.items())
            db.execute(f"PRAGMA user_version = {int(migration.version)}")


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One write transaction, taken at once (``IMMEDIATE``: a second writer waits here, not midway),
    committed at the end, rolled back on anything raised, interrupts included."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _statements(sql: str) -> list[str]:
    """Split a migration into statements (``executescript`` would commit; a migration is one transaction)."""
    out, current = [], ""
    for line in sql.splitlines(keepends=True):
        if not current and (not line.strip() or line.lstrip().startswith("--")):
            continue
        current += line
        if sqlite3.complete_statement(current):
            out.append(current.strip())
            current = ""
    if current.strip():
        out.append(current.strip())
    return out


@functools.cache
def _insert(table: str) -> str:
    return f"INSERT INTO {table} VALUES ({', '.join('?' * COLUMNS[table])})"


def _why(exc: sqlite3.Error) -> str:
    text = one_line(exc)
    if "locked" in text or "busy" in text:
        return f"{text} (another permaudit is writing to it; try again when it has finished)"
    if "readonly" in text or "read-only" in text or "unable to open" in text:
        return f"{text} (the store or its folder cannot be written)"
    return text


__all__ = ["STORE_SCHEMA_VERSION", "AppRow", "Migration", "Store", "Summary", "migrations"]
