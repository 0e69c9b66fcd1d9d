"""Progress of a long command (scoring a large file): records done, rate, time left.

On a terminal one line is redrawn in place; otherwise (a log file, CI) a plain line is
printed at most every ``interval`` seconds; ``quiet`` prints nothing.
"""

from __future__ import annotations

import sys
import time
from typing import Optional, TextIO


class Progress:
    """Counts records toward ``total`` (``None`` when unknown) and reports them."""

    def __init__(self, total: Optional[int], label: str = "scored", quiet: bool = False,
                 stream: Optional[TextIO] = None, interval: float = 10.0):
        self.total = total
        self.label = label
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self.done = 0
        self.started = time.monotonic()
        self._last = float("-inf")  # the first update is always shown
        self._shown = False
        self.terminal = bool(getattr(self.stream, "isatty", lambda: False)())

    def update(self, records: int) -> None:
        self.done += records
        now = time.monotonic()
        if self.quiet or (not self.terminal and now - self._last < self.interval):
            return
        self._last = now
        self._show(now, final=False)

    def close(self, failed: bool = False) -> None:
        """The last line; after a failure, only the end of a line drawn in place: the
        error that follows says what happened, with no "0 records scored" before it."""
        if self.quiet:
            return
        if not failed:
            self._show(time.monotonic(), final=True)
        elif self.terminal and self._shown:
            self.stream.write("\n")
            self.stream.flush()

    def line(self, now: float) -> str:
        """``1,234,567 / 8,000,000 records scored (15%), 52,000 records/s, 2 min 10 s left``."""
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        text = f"{self.done:,}"
        if self.total:
            text += f" / {self.total:,} records {self.label} ({100 * self.done / self.total:.0f}%)"
        else:
            text += f" records {self.label}"
        text += f", {rate:,.0f} records/s"
        if self.total and rate > 0 and self.done < self.total:
            text += f", {_duration((self.total - self.done) / rate)} left"
        return text

    def _show(self, now: float, final: bool) -> None:
        self._shown = True
        if self.terminal:
            self.stream.write("\r\033[K" + self.line(now) + ("\n" if final else ""))
        else:
            self.stream.write(self.line(now) + "\n")
        self.stream.flush()


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"
