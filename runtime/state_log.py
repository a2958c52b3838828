"""A service actor's live state, one line on its stderr.

The Ray dashboard's page of an actor (Actors view, click the actor's ID) opens on its Logs,
stderr first, and follows them live; the Repr column cannot follow a changing state (Ray
reads an actor's repr once, when its creation task ends). So the registry and the
dispatcher write `state: ...` here when their state changes (at most every `min_gap_s`)
and again every `every_s` while it does not, so the last line is never old.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

PREFIX = "state: "


class StateLog:
    def __init__(self, *, min_gap_s: float = 5.0, every_s: float = 60.0,
                 stream: TextIO | None = None) -> None:
        self._min_gap_s, self._every_s = min_gap_s, every_s
        self._stream = stream
        self._last: tuple[float, str] | None = None  # (written at, text)

    def write(self, text: str, *, now: float | None = None) -> bool:
        """Write `text` (one line) if it changed and the last line is `min_gap_s` old, or if
        the last line is `every_s` old; answers whether it wrote."""
        now = time.time() if now is None else now
        if self._last is not None:
            age = now - self._last[0]
            if age < (self._min_gap_s if text != self._last[1] else self._every_s):
                return False
        stream = self._stream or sys.stderr  # Ray's worker points stderr at the .err file
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
        print(f"{stamp} {PREFIX}{text}", file=stream, flush=True)
        self._last = (now, text)
        return True
