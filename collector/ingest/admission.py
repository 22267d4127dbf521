"""Admission control of pushes: past its capacity the collector sheds load with 429 and a
`Retry-After`, rather than making every agent (and everything else it serves) wait.

At most `max_active` pushes are worked on at once (read, judged, stored, evaluated). More wait in
line, first come first served, but none longer than `max_wait_s`: a push that would (by the time
pushes took lately), or that finds `max_waiting` already in line, is answered 429 at once, with a
`Retry-After` of the time the line needs to drain (1 s at least). Agents honour it, spread their
return over half as long again, and batch more while the collector is busy (agent/pacing.py).

Only pushes go through this: `/healthz`, `/metrics`, reports and status pages never wait for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import AsyncIterator

MAX_ACTIVE_PUSHES = 16
"""Enough for the store to commit pushes in groups; more would only queue inside it."""
MAX_WAITING_PUSHES = 256
MAX_WAIT_S = 0.5
"""What a push may wait for its turn: with its own work, well inside an agent's 1 s goal."""
MAX_RETRY_AFTER_S = 30
SERVICE_SMOOTHING = 0.1
"""Weight of the latest push in the moving average of the time a push holds its turn."""


class PushShed(Exception):
    """No turn for this push now; come back in `retry_after` whole seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"the collector is busy: retry in {retry_after} s")
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
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._service_s = 0.01
        """Moving average of the time a push holds its turn."""

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Hold one of the `max_active` turns for the block; raises `PushShed` if none comes in
        time."""
        await self._take_turn()
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            yield
        finally:
            held = loop.time() - started
            self._service_s += SERVICE_SMOOTHING * (held - self._service_s)
            self._pass_turn()

    async def _take_turn(self) -> None:
        if self.active < self.max_active and not self._waiting:
            self.active += 1
            return
        if len(self._waiting) >= self.max_waiting or self._expected_wait() > self.max_wait_s:
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

    def _expected_wait(self) -> float:
        """How long a push joining the line now would wait, at the pace of late."""
        return (len(self._waiting) + 1) * self._service_s / self.max_active

    def _refuse(self) -> PushShed:
        self.shed += 1
        drain_s = (len(self._waiting) + self.active) * self._service_s / self.max_active
        return PushShed(min(MAX_RETRY_AFTER_S, max(1, math.ceil(drain_s))))
