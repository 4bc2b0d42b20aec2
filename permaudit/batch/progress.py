"""A scan's progress on a terminal: one bar redrawn in place, problem lines printed above it.

Quiet when the stream is not a terminal (a log file gets the problem lines and the summary,
no carriage returns). Names from packages pass through ``visible``: a file name is hostile too.
"""

from __future__ import annotations

import time
from typing import TextIO

from permaudit.batch.jobs import Outcome
from permaudit.model import Status, visible

_REDRAW = 0.1  # seconds between redraws: a thousand fast inputs must not cost a thousand writes


class Progress:
    """An ``Observer`` of a scan that draws on ``stream`` (stderr)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.bar = stream.isatty()
        self.total = self.count = 0
        self.started = time.monotonic()
        self._drawn = 0.0

    def planned(self, total: int) -> None:
        self.total = total
        self.started = time.monotonic()
        self._draw("")

    def done(self, outcome: Outcome) -> None:
        self.count += 1
        result = outcome.result
        if result.status is not Status.COMPLETE:
            self.line(f"permaudit: {visible(result.error_line())}")
        self._draw(outcome.path)

    def passed(self, path: str, key: str, why: str) -> None:
        self.count += 1
        self._draw(path)

    def line(self, text: str) -> None:
        """Print ``text`` above the bar."""
        self.stream.write(("\r\x1b[K" if self.bar else "") + text + "\n")
        self._drawn = 0.0
        self._draw("")

    def finish(self) -> None:
        if self.bar:
            self.stream.write("\r\x1b[K")
            self.stream.flush()

    def _draw(self, last: str) -> None:
        now = time.monotonic()
        if not self.bar or (now - self._drawn < _REDRAW and self.count < self.total):
            return
        self._drawn = now
        elapsed = now - self.started
        rate = self.count / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.count) / rate if rate > 0 else 0.0
        share = self.count / self.total if self.total else 1.0
        filled = int(share * 24)
        name = visible(last.rsplit("/", 1)[-1])[:40]
        self.stream.write(f"\r\x1b[K[{'#' * filled}{'.' * (24 - filled)}] {self.count}/{self.total} "
                          f"{rate:.1f} files/s, {_clock(left)} left  {name}")
        self.stream.flush()


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"
