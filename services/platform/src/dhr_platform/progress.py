"""A plain-text progress bar for long replays (rebuilds), written to a terminal or a log."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """`[#########.........]  45%  4500/10000 events  1200/s`, redrawn at most ten times a second."""

    def __init__(self, total: int, label: str = "events", stream: TextIO | None = None,
                 width: int = 30):
        self.total = max(total, 0)
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.done = 0
        self._started = time.monotonic()
        self._last_draw = 0.0

    def advance(self, count: int = 1) -> None:
        self.done += count
        now = time.monotonic()
        if now - self._last_draw >= 0.1 or self.done >= self.total:
            self._draw(now)

    def _draw(self, now: float) -> None:
        self._last_draw = now
        fraction = 1.0 if self.total == 0 else min(self.done / self.total, 1.0)
        filled = int(fraction * self.width)
        rate = self.done / max(now - self._started, 1e-9)
        bar = "#" * filled + "." * (self.width - filled)
        end = "\r" if self.stream.isatty() else "\n"
        self.stream.write(f"[{bar}] {fraction:4.0%} {self.done}/{self.total} {self.label}"
                          f" {rate:,.0f}/s{end}")
        self.stream.flush()

    def close(self) -> None:
        self._draw(time.monotonic())
        if self.stream.isatty():
            self.stream.write("\n")


class Progress:
    """A progress bar shown only when given a stream, fed with running totals (which is what
    worker processes report): `start` once the total is known, `advance_to` a count done."""

    def __init__(self, stream: TextIO | None, label: str = "events"):
        self.stream = stream
        self.label = label
        self.bar: ProgressBar | None = None

    def start(self, total: int) -> None:
        if self.stream is not None and total:
            self.bar = ProgressBar(total, self.label, stream=self.stream)

    def advance_to(self, done: int) -> None:
        if self.bar is not None and done > self.bar.done:
            self.bar.advance(done - self.bar.done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
