"""A minimal progress bar for the command line (no dependency: one line, redrawn in place)."""

from __future__ import annotations

import time
from typing import TextIO

_REDRAW_EVERY = 0.1  # seconds


class ProgressBar:
    """`label [#######-------]  47%  text`, on one line of `stream`; `fraction` None draws
    no bar (the total is unknown), only the text."""

    def __init__(self, stream: TextIO, label: str, *, width: int = 28) -> None:
        self.stream = stream
        self.label = label
        self.width = width
        self._last_draw = 0.0
        self._last_line = ""
        self._started = time.monotonic()

    def update(self, fraction: float | None, text: str = "", *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_draw < _REDRAW_EVERY:
            return
        self._last_draw = now
        line = self.label
        if fraction is not None:
            fraction = min(1.0, max(0.0, fraction))
            filled = round(self.width * fraction)
            line += f" [{'#' * filled}{'-' * (self.width - filled)}] {fraction:4.0%}"
        if text:
            line += f"  {text}"
        line += f"  {now - self._started:.0f}s"
        pad = max(0, len(self._last_line) - len(line))
        self.stream.write("\r" + line + " " * pad)
        self.stream.flush()
        self._last_line = line

    def close(self, text: str = "") -> None:
        """Draw the final state and end the line."""
        self.update(1.0, text, force=True)
        self.stream.write("\n")
        self.stream.flush()
