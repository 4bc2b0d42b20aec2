"""``python -m permaudit``."""

import sys

from permaudit.cli import main

sys.exit(main())
