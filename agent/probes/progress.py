"""What a probe has measured so far, and how every probe ends: a result, a failure or a timeout.

Phases are differences of marks taken on one `perf_counter` clock and kept in whole
microseconds, so on success they add up to `latency_ms` exactly (CONTRACT §3.1).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from slawatch.agent.probes.errors import ProbeFailure, describe
from slawatch.agent.sample import ProbeResult
from slawatch.config.schema import Check
from slawatch.config.values import format_duration

Measure = Callable[[Check, "Progress"], Awaitable[ProbeResult]]


@dataclass(slots=True)
class Progress:
    clock: Callable[[], float] = time.perf_counter
    started: float = field(default_factory=time.perf_counter)
    """On `clock`: a test passing its own clock passes its own start too."""
    phases_us: dict[str, int] = field(default_factory=dict)
    mark_us: int = 0
    """End of the last completed phase, in µs since `started`."""
    status_code: int | None = None
    tls_expires: float | None = None
    deadline: asyncio.Timeout | None = None
    """The probe's hard timeout, moved later by `uncounted` time."""

    def elapsed_us(self) -> int:
        return round((self.clock() - self.started) * 1_000_000)

    def lap(self, phase: str) -> None:
        """End `phase` now; a phase met again (a redirect's second hop) adds up."""
        now_us = self.elapsed_us()
        self.phases_us[phase] = self.phases_us.get(phase, 0) + now_us - self.mark_us
        self.mark_us = now_us

    def mark(self) -> None:
        """The measure ends now, in no phase: a ping's round trip has none."""
        self.mark_us = self.elapsed_us()

    def skip(self, phase: str) -> None:
        """A phase that took no time, like `dns` for an IP address."""
        self.phases_us.setdefault(phase, 0)

    @contextmanager
    def uncounted(self) -> Iterator[None]:
        """Local work that is not the target's time, like loading a trust store the first
        time: the clock skips it, and the deadline waits for it, so the target still gets its
        whole timeout and a timeout still reads as one."""
        before = self.clock()
        try:
            yield
        finally:
            skipped = self.clock() - before
            self.started += skipped
            deadline = self.deadline
            # A deadline that already fired (the work awaited past it) cannot move any more:
            # the probe ends as the timeout it has become.
            when = None if deadline is None or deadline.expired() else deadline.when()
            if deadline is not None and when is not None:
                deadline.reschedule(when + skipped)

    def finish(self, error: str | None = None) -> ProbeResult:
        """Every phase done; `error` is an expectation the answer failed, or None if UP."""
        return self._result(error, self.mark_us)

    def fail(self, error: str) -> ProbeResult:
        """Stopped by `error` before the last phase: latency is the time until now."""
        return self._result(error, self.elapsed_us())

    def _result(self, error: str | None, latency_us: int) -> ProbeResult:
        return ProbeResult(
            ok=error is None,
            latency_ms=latency_us / 1000,
            error=error,
            status_code=self.status_code,
            phases_ms={phase: us / 1000 for phase, us in self.phases_us.items()},
            tls_expires=self.tls_expires,
        )


def timed(measure: Measure) -> Callable[[Check], Awaitable[ProbeResult]]:
    """Make a probe of `measure`: a hard `check.timeout`, target problems as DOWN results.

    On timeout the probe is cancelled where it waits (its `finally` closes its socket) and the
    result keeps the phases completed so far. Only `CancelledError` and bugs escape.
    """

    @functools.wraps(measure)
    async def probe(check: Check) -> ProbeResult:
        deadline = asyncio.timeout(check.timeout)
        progress = Progress(deadline=deadline)
        try:
            async with deadline:
                return await measure(check, progress)
        except ProbeFailure as failure:
            return progress.fail(str(failure))
        except TimeoutError as error:
            if deadline.expired():
                return progress.fail(f"timeout after {format_duration(check.timeout)}")
            return progress.fail(describe(error))
        except OSError as error:
            return progress.fail(describe(error))

    return probe
