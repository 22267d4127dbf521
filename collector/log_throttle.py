"""One log line per interval for a failure that may repeat many times a second.

A full disk fails every checkpoint, a descriptor shortage fails every accept: logging each would
flood the journal (196 MB of tracebacks in 90 s, once). `LogThrottle.hit()` lets the first
occurrence through, then one per `every_s` carrying how many happened meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Callable

DEFAULT_EVERY_S = 60.0


class LogThrottle:
    def __init__(
        self, every_s: float = DEFAULT_EVERY_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.every_s = every_s
        self._clock = clock
        self._logged_at: float | None = None
        self._held = 0

    def hit(self) -> int | None:
        """Count one occurrence; the number to log (this one included) if a line is due now,
        else None."""
        self._held += 1
        now = self._clock()
        if self._logged_at is not None and now - self._logged_at < self.every_s:
            return None
        self._logged_at = now
        count, self._held = self._held, 0
        return count

    def reset(self) -> bool:
        """The failure is over: whether it had happened since the last reset. The next one is
        logged at once."""
        failed = self._logged_at is not None
        self._logged_at, self._held = None, 0
        return failed
