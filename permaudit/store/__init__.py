"""The embedded results store: every audit of a scan in one SQLite file, and the cross-app
questions a regulator asks of it (docs/store.md).

    >>> from permaudit.store import Store
    >>> with Store.open("scan.db") as store:
    ...     store.record(result, input_sha256=result.hashes.sha256, seconds=1.2)
    ...     store.ask("shared-certificate").rows
"""

from permaudit.store.questions import (
    Answer,
    Column,
    Param,
    Question,
    StoreError,
    questions,
)
from permaudit.store.rows import app_rows
from permaudit.store.store import (
    STORE_SCHEMA_VERSION,
    AppRow,
    Migration,
    Store,
    Summary,
    migrations,
)

__all__ = [
    "STORE_SCHEMA_VERSION",
    "Answer",
    "AppRow",
    "Column",
    "Migration",
    "Param",
    "Question",
    "Store",
    "StoreError",
    "Summary",
    "app_rows",
    "migrations",
    "questions",
]
