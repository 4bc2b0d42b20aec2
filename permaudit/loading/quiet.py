"""Keep androguard's loguru output out of our callers' terminals unless they ask for it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from loguru import logger


@contextlib.contextmanager
def quiet_androguard(quiet: bool = True) -> Iterator[None]:
    """Disable androguard's loguru messages for the duration of an audit.

    loguru's documented way for a library to stay silent is ``logger.disable(name)``;
    we re-enable afterwards so a caller's own androguard use logs as before.
    """
    if not quiet:
        yield
        return
    logger.disable("androguard")
    try:
        yield
    finally:
        logger.enable("androguard")
