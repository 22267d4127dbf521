"""Admission control of pushes: past its capacity the collector sheds load with 429 and a
`Retry-After`, rather than making every agent (and everything else it serves) wait.

At most `max_active` pushes are worked on at once (read, judged, stored, evaluated): enough for
the store to commit many in one transaction, few enough that one of them waits for at most that
many others. More wait in line, first come first served, but none longer than `max_wait_s`, and
no more than `max_waiting` of them: a push past either is answered 429, with a `Retry-After` of
the time the pushes ahead of it need at the rate pushes were done lately (1 to
`MAX_RETRY_AFTER_S` seconds). Agents honour it, spread their return over half as long again, and
batch more while the collector is busy (agent/pacing.py), so the load comes back in fewer, bigger
pushes.

Only pushes go through this: `/healthz`, `/metrics`, reports and status pages never wait for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import AsyncIterator

MAX_ACTIVE_PUSHES = 128
MAX_WAITING_PUSHES = 512
MAX_WAIT_S = 0.5
"""What a push may wait for its turn: with its own work, inside an agent's 1 s goal."""
MAX_RETRY_AFTER_S = 10
RATE_PERIOD_S = 1.0
"""Pushes done are counted over this long for the rate behind `Retry-After`."""


class PushShed(Exception):
    """No turn for this push now; come back in `retry_after` whole seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"the collector is busy: push again in {retry_after} s")
        self.retry_after = retry_after


class PushAdmission:
    def __init__(
        self,
        *,
        max_active: int = MAX_ACTIVE_PUSHES,
        max_waiting: int = MAX_WAITING_PUSHES,
        max_wait_s: float = MAX_WAIT_S,
    ) -> None:
        self.max_active = max_active
        self.max_waiting = max_waiting
        self.max_wait_s = max_wait_s
        self.active = 0
        self.shed = 0
        """Pushes refused since the start."""
        self.rate: float | None = None
        """Pushes done per second, lately; None until a period has passed."""
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._done = 0
        self._counting_since: float | None = None

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Hold one of the `max_active` turns for the block; raises `PushShed` if none comes in
        time."""
        await self._take_turn()
        try:
            yield
        finally:
            self._count_done()
            self._pass_turn()

    async def _take_turn(self) -> None:
        if self.active < self.max_active and not self._waiting:
            self.active += 1
            return
        if len(self._waiting) >= self.max_waiting:
            raise self._refuse()
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), self.max_wait_s)
        except TimeoutError:
            if waiter.done():  # the turn came as the wait ran out: take it
                return
            self._waiting.remove(waiter)
            raise self._refuse() from None
        except asyncio.CancelledError:
            if waiter.done():
                self._pass_turn()
            else:
                self._waiting.remove(waiter)
            raise

    def _pass_turn(self) -> None:
        """Hand the turn to the first push in line, or give it back."""
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.active -= 1

    def _count_done(self) -> None:
        now = asyncio.get_running_loop().time()
        if self._counting_since is None:
            self._counting_since = now
        self._done += 1
        elapsed = now - self._counting_since
        if elapsed >= RATE_PERIOD_S:
            rate = self._done / elapsed
            self.rate = rate if self.rate is None else (self.rate + rate) / 2
            self._done, self._counting_since = 0, now

    def _refuse(self) -> PushShed:
        self.shed += 1
        ahead = len(self._waiting) + self.active
        drain_s = ahead / self.rate if self.rate else 1.0
        return PushShed(min(MAX_RETRY_AFTER_S, max(1, math.ceil(drain_s))))
