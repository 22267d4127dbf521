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

A push that carries a check's change of state (the agent says so: `X-Slawatch-State-Change`) is
news for the alerts: it goes ahead of the line, and `STATE_CHANGE_TURNS` more turns are kept for
such pushes alone, so that a busy collector still hears of an outage at once. (An agent's token
is needed to say it, and an agent gains nothing but its own pushes' place by lying.)

Only pushes go through this: `/healthz`, `/metrics`, reports and status pages never wait for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

MAX_ACTIVE_PUSHES = 128
MAX_WAITING_PUSHES = 512
MAX_WAIT_S = 0.5
"""What a push may wait for its turn: with its own work, inside an agent's 1 s goal."""
STATE_CHANGE_TURNS = 32
"""Turns beyond `max_active` that only pushes carrying a change of state may take."""
MAX_RETRY_AFTER_S = 10
RATE_PERIOD_S = 1.0
"""Pushes done are counted over this long for the rate behind `Retry-After`."""


@dataclass(frozen=True, slots=True)
class _Waiter:
    turn: asyncio.Future[None]
    state_change: bool


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
        self._waiting: deque[_Waiter] = deque()
        """Pushes carrying a state change first, then the others, each in arrival order."""
        self._done = 0
        self._counting_since: float | None = None

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @contextlib.asynccontextmanager
    async def turn(self, *, state_change: bool = False) -> AsyncIterator[None]:
        """Hold one of the `max_active` turns for the block; raises `PushShed` if none comes in
        time. A push carrying a `state_change` goes ahead of the line."""
        await self._take_turn(state_change)
        try:
            yield
        finally:
            self._count_done()
            self._pass_turn()

    async def _take_turn(self, state_change: bool) -> None:
        if state_change:
            if self.active < self.max_active + STATE_CHANGE_TURNS:
                self.active += 1
                return
        elif self.active < self.max_active and not self._waiting:
            self.active += 1
            return
        if len(self._waiting) >= self.max_waiting and not state_change:
            raise self._refuse()
        waiter = _Waiter(asyncio.get_running_loop().create_future(), state_change)
        if state_change:
            ahead = next((i for i, w in enumerate(self._waiting) if not w.state_change), None)
            self._waiting.insert(len(self._waiting) if ahead is None else ahead, waiter)
        else:
            self._waiting.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter.turn), self.max_wait_s)
        except TimeoutError:
            if waiter.turn.done():  # the turn came as the wait ran out: take it
                return
            self._waiting.remove(waiter)
            raise self._refuse() from None
        except asyncio.CancelledError:
            if waiter.turn.done():
                self._pass_turn()
            else:
                self._waiting.remove(waiter)
            raise

    def _pass_turn(self) -> None:
        """Hand the turn to the first push in line, or give it back. One of the turns kept
        for state changes goes to a push that carries one, not to any other."""
        while self._waiting:
            if self.active > self.max_active and not self._waiting[0].state_change:
                break
            waiter = self._waiting.popleft()
            if not waiter.turn.done():
                waiter.turn.set_result(None)
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
