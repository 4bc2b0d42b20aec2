"""Keep androguard's loguru output out of our callers' terminals unless they ask for it."""

from __future__ import annotations

from loguru import logger


def quiet_androguard(quiet: bool = True) -> None:
    """Silence (or, with ``quiet=False``, restore) androguard's loguru messages.

    ``logger.disable(name)`` is loguru's documented switch for a library's messages. It
    is process-wide and left as set: an audit never turns androguard's logging back on
    behind a caller who had turned it off; ``audit(..., quiet=False)`` turns it on.
    """
    if quiet:
        logger.disable("androguard")
    else:
        logger.enable("androguard")
