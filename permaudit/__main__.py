"""``python -m permaudit``."""

from permaudit.cli import entry

entry()
