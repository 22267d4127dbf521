"""When the agent pushes: batching, the collector's pace, backoff (CONTRACT §3.1, agent side).

A sample that changes nothing waits to go with others: at most its *window*, `BATCH_WINDOW_S` or
half its check's interval if that is shorter (so the collector's view of now never lapses), and
a push takes every sample waiting, up to 1,000. A sample that changes its check's state (its
`ok` differs from the check's previous sample, or it is a check's first sample and fails) is due
at once: alerts stay fast. So an agent with 20 checks every 10 s pushes every 5 s rather than two
or three times a second, and 1,000 such agents make 200 pushes/s (bench/fleet_load.py).

The collector's answers set the pace. A push slower than `SLOW_PUSH_S`, or a 429/503 (the
collector shedding load), doubles every window (`stretch`, at most `MAX_STRETCH`, never past half
a check's interval); each fast push shrinks them back by a fifth. A `Retry-After` is honoured:
never earlier, up to half later, so that agents shed together do not come back together. Other
failures back off exponentially with full jitter, up to `MAX_PUSH_BACKOFF_S`; the first success
resets the backoff. (While the collector is unreachable the shipper also asks its `/healthz`
every `HEALTH_PROBE_INTERVAL_S` and ends the wait on a 200.)
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from slawatch.agent.sample import Sample
from slawatch.config.contract import MAX_PUSH_BACKOFF_S

BATCH_WINDOW_S = 5.0
"""How long a sample that changes nothing may wait for others while the collector is fast."""
SLOW_PUSH_S = 1.0
"""A push answered slower than this says the collector is busy: the windows grow."""
MAX_STRETCH = 8.0
"""How far a busy collector's answers may stretch the windows (never past half an interval)."""
SPEED_UP = 0.8
"""The stretch after a fast push, as a share of the one before (never under 1)."""
RETRY_AFTER_SPREAD = 1.5
"""A `Retry-After` of N seconds waits between N and this times N."""
HEALTH_PROBE_INTERVAL_S = 2.0
"""While the collector is unreachable, its /healthz is asked about this often (± a quarter)."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """Capped exponential backoff with full jitter: a delay in [0, min(cap, base·2^attempt))."""

    base: float = 0.5
    cap: float = MAX_PUSH_BACKOFF_S

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap, self.base * 2 ** min(attempt, 32)))


class Pacing:
    """The shipper's clock: when the samples spooled so far are due, and how long to wait after
    an answer. `clock` is monotonic seconds."""

    def __init__(
        self,
        *,
        window: float = BATCH_WINDOW_S,
        backoff: Backoff = Backoff(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window = window
        self.backoff = backoff
        self.clock = clock
        self.stretch = 1.0
        """Every window times this: 1 while the collector answers fast."""
        self.failures = 0
        """Pushes failed in a row (the backoff's attempt)."""
        self._due: float | None = None
        """When the earliest sample noted and not yet taken must be pushed."""
        self.state_change = False
        """A sample noted and not yet taken changes its check's state: the push carries news
        (the collector lets it ahead of a line)."""
        self._noted = 0
        self._failing: set[str] = set()
        """Checks whose last sample failed."""

    # --------------------------------------------------------------------------------- samples

    def note(self, sample: Sample) -> bool:
        """Record a sample just spooled; True when it is due sooner than those before it (the
        shipper, waiting for them, must wake)."""
        changed = self._changes_state(sample)
        due = self.clock() + (0.0 if changed else self.sample_window(sample.interval_s))
        self.state_change = self.state_change or changed
        self._noted += 1
        if self._due is None or due < self._due:
            self._due = due
            return True
        return False

    def _changes_state(self, sample: Sample) -> bool:
        was_failing = sample.check in self._failing
        if sample.result.ok:
            self._failing.discard(sample.check)
        else:
            self._failing.add(sample.check)
        return was_failing == sample.result.ok

    def sample_window(self, interval_s: float) -> float:
        """How long a sample of a check with this interval may wait for others, now: never more
        than half the interval, so that with the time its push takes it still arrives before
        the collector's coverage of the sample before it (two intervals) runs out."""
        return min(interval_s / 2, self.stretch * self.window)

    def mark(self) -> int:
        """Taken before reading a batch from the spool; give it back to `taken`."""
        return self._noted

    def until_due(self) -> float:
        """Seconds until the queued samples are due; 0 (push now) after a failed push (the
        wait was the backoff's) and for samples nobody noted (left by an earlier run, or the
        rest of a backlog: they are late already)."""
        if self.failures or self._due is None:
            return 0.0
        return max(0.0, self._due - self.clock())

    def taken(self, mark: int) -> None:
        """A push took (or an empty spool showed) every sample queued at `mark`; samples noted
        since may have been committed after the read: they keep their due time."""
        if self._noted == mark:
            self._due = None
            self.state_change = False

    # --------------------------------------------------------------------------------- answers

    def delivered(self, seconds: float) -> None:
        """The collector answered a push in `seconds` (with 200, or refusing samples)."""
        self.failures = 0
        if seconds > SLOW_PUSH_S:
            self._slow_down()
        else:
            self.stretch = max(1.0, self.stretch * SPEED_UP)

    def failed(self, *, retry_after: float | None, shed: bool) -> float:
        """Seconds to wait after a push that must be retried; `shed`: a 429 or 503."""
        if shed:
            self._slow_down()
        attempt, self.failures = self.failures, self.failures + 1
        if retry_after is not None:
            return retry_after * random.uniform(1.0, RETRY_AFTER_SPREAD)
        return self.backoff.delay(attempt)

    def _slow_down(self) -> None:
        self.stretch = min(MAX_STRETCH, self.stretch * 2)


def health_probe_interval() -> float:
    return HEALTH_PROBE_INTERVAL_S * random.uniform(0.75, 1.25)
