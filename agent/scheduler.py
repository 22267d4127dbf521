"""Runs every check on its own fixed grid of slots and hands each sample to a sink (the spool).

A check with interval `i` runs at the slots `offset + k·i` of the wall clock, `offset` in
`[0, i)` from a hash of the check id: 1,000 checks spread over the interval instead of firing
in the same millisecond, and a restart keeps each check's phase. The slots are planned on the
loop's monotonic clock (a wall clock step does not bunch or stall runs); the wall clock only
stamps `ts`.

A check whose interval is longer than `STARTUP_SPREAD_S` first runs once soon after the start,
at a stable moment within that spread (an hourly check is not UNKNOWN for up to an hour after a
restart), then joins its grid at the first slot at least half an interval later. Shorter
intervals start on their grid, which is soon enough.

`update` applies a new set of checks while running (central checks, a reload): a check whose
settings are unchanged keeps its task and so its rhythm, a removed one is stopped (a probe in
flight abandoned), a new or changed one starts as at start-up, but within `LIVE_SPREAD_S`
rather than `STARTUP_SPREAD_S`.

A check never overlaps itself. When a probe ends after the next slot, that run starts at once if
its slot passed less than `late_start_grace` ago (a probe whose timeout equals its interval ends
a few ms past the next slot; skipping it would halve its sampling and leave gaps past `2·i`, the
collector's coverage), otherwise the slots that passed are skipped, counted and logged: runs never
pile up. Probes in flight are bounded by a semaphore (`AgentConfig.concurrency`); the time a run
waits for it counts as schedule lag.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import time
from collections.abc import Awaitable, Callable, Sequence

import structlog
from prometheus_client import Gauge

from slawatch.agent.metrics import AgentMetrics
from slawatch.agent.sample import ProbeResult, Sample
from slawatch.config.schema import Check

log = structlog.get_logger()

ProbeFunction = Callable[[Check], Awaitable[ProbeResult]]
SampleSink = Callable[[Sample], Awaitable[None]]

STARTUP_SPREAD_S = 10.0
"""Checks with a longer interval run once within this long after the start, spread by id."""
LIVE_SPREAD_S = 1.0
"""Checks added while running (a poll, a reload) with a longer interval run once within this
long, spread by id: a change shows within a poll, not a start-up spread later."""
MAX_LATE_START_S = 0.5
"""A run may start at most this late (or a quarter of its interval, if less); later, it skips."""


def stable_offset(check_id: str, interval: float) -> float:
    """The check's phase in `[0, interval)`, the same in every process and after restarts."""
    digest = hashlib.blake2b(check_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 * interval


def late_start_grace(interval: float) -> float:
    return min(MAX_LATE_START_S, interval / 4)


def first_slot(check: Check, wall_now: float) -> float:
    """The wall-clock time of the check's first slot at or after `wall_now`."""
    offset = stable_offset(check.id, check.interval)
    return math.ceil((wall_now - offset) / check.interval) * check.interval + offset


def first_runs(
    check: Check, wall_now: float, spread: float = STARTUP_SPREAD_S
) -> tuple[float, float]:
    """The wall-clock times of the check's first run and of the grid slot its second run follows
    (the second run is at the slot after it, or later if the first runs long)."""
    grid = first_slot(check, wall_now)
    if check.interval <= spread:
        return grid, grid
    start = wall_now + stable_offset(check.id, spread)
    if grid <= start:
        return grid, grid
    joins = grid if grid - start >= check.interval / 2 else grid + check.interval
    return start, joins - check.interval


def _default_probe() -> ProbeFunction:
    from slawatch.agent.probes import run_probe

    return run_probe


class Scheduler:
    def __init__(
        self,
        checks: Sequence[Check],
        sink: SampleSink,
        *,
        probe: ProbeFunction | None = None,
        concurrency: int = 256,
        metrics: AgentMetrics | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.checks = tuple(checks)
        self.sink = sink
        self.probe = probe or _default_probe()
        self.metrics = metrics
        self.wall_clock = wall_clock
        self._semaphore = asyncio.Semaphore(concurrency)
        self._tasks: dict[str, tuple[Check, asyncio.Task[None]]] = {}
        """Check id → the check its task runs and the task, once started."""
        self._retired: set[asyncio.Task[None]] = set()
        self._started = False
        self._failing: dict[str, str] = {}
        """Check id → error of its last probe, for the checks whose last probe failed."""
        self._gauges: dict[str, tuple[Gauge, Gauge]] = {}
        """Check id → its (success, duration) gauges: `labels()` looked up once per check (a
        check's labels removed from the metrics must leave this too)."""

    async def start(self) -> None:
        self._started = True
        for check in self.checks:
            self._start_check(check)

    def _start_check(self, check: Check, spread: float = STARTUP_SPREAD_S) -> None:
        loop = asyncio.get_running_loop()
        wall_now, mono_now = self.wall_clock(), loop.time()
        first, slot = (mono_now + (t - wall_now) for t in first_runs(check, wall_now, spread))
        task = asyncio.create_task(self._run_check(check, first, slot), name=f"check:{check.id}")
        self._tasks[check.id] = (check, task)

    def update(self, checks: Sequence[Check]) -> tuple[list[str], list[str], list[str]]:
        """Run `checks` from now on; returns the ids added, changed and removed."""
        wanted = {check.id: check for check in checks}
        self.checks = tuple(wanted.values())
        running = {check_id: check for check_id, (check, _) in self._tasks.items()}
        if not self._started:
            running = {}
        added = [i for i in wanted if i not in running]
        changed = [i for i in wanted if i in running and running[i] != wanted[i]]
        removed = [i for i in running if i not in wanted]
        if not self._started:
            return added, changed, removed
        for check_id in (*changed, *removed):
            self._retire(check_id)
        for check_id in (*added, *changed):
            self._start_check(wanted[check_id], LIVE_SPREAD_S)
        for check_id in removed:
            self._failing.pop(check_id, None)
            if self.metrics:
                for metric in (self.metrics.probe_success, self.metrics.probe_duration):
                    with contextlib.suppress(KeyError):
                        metric.remove(check_id)
        return added, changed, removed

    def _retire(self, check_id: str) -> None:
        _, task = self._tasks.pop(check_id)
        task.cancel()
        self._retired.add(task)
        task.add_done_callback(self._retired.discard)

    async def stop(self) -> None:
        """Abandon the probes in flight; a sample already handed to the sink is not affected."""
        tasks = [task for _, task in self._tasks.values()] + list(self._retired)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._started = False

    async def _run_check(self, check: Check, first: float, slot: float) -> None:
        """Run at `first`, then at each grid slot after `slot` that may still start."""
        loop = asyncio.get_running_loop()
        grace = late_start_grace(check.interval)
        planned = first
        while True:
            await _sleep_until(planned)
            await self._run_once(check, planned)
            slot = planned = self._next_slot(check, slot, loop.time(), grace)

    def _next_slot(self, check: Check, slot: float, now: float, grace: float) -> float:
        """The slot after `slot` that may still start at `now`; count the ones skipped."""
        following = slot + check.interval
        if now <= following + grace:
            return following
        skipped = math.floor((now - following - grace) / check.interval) + 1
        if self.metrics:
            self.metrics.skipped_runs.labels(check=check.id).inc(skipped)
        log.warning("run_skipped", check=check.id, runs=skipped, reason="previous probe ran late")
        return following + skipped * check.interval

    async def _run_once(self, check: Check, planned: float) -> None:
        loop = asyncio.get_running_loop()
        async with self._semaphore:
            started = loop.time()
            if self.metrics:
                self.metrics.schedule_lag.observe(max(0.0, started - planned))
            ts = self.wall_clock()
            result = await self._probe(check)
            duration = loop.time() - started
        self._record(check, result, duration)
        sample = Sample(check.id, ts, check.interval, check.type, result)
        try:
            await self.sink(sample)
        except Exception as error:  # the spool is the only sink; its failure is logged there
            log.error("sample_lost", check=check.id, error=str(error))

    async def _probe(self, check: Check) -> ProbeResult:
        """The probe's result; a probe that breaks its promise not to raise fails its check."""
        try:
            return await self.probe(check)
        except Exception as error:
            log.exception("probe_crashed", check=check.id)
            return ProbeResult(ok=False, latency_ms=None, error=f"probe crashed: {error}")

    def _record(self, check: Check, result: ProbeResult, duration: float) -> None:
        if self.metrics:
            seconds = duration if result.latency_ms is None else result.latency_ms / 1000
            gauges = self._gauges.get(check.id)
            if gauges is None:
                gauges = self._gauges[check.id] = (
                    self.metrics.probe_success.labels(check=check.id),
                    self.metrics.probe_duration.labels(check=check.id),
                )
            gauges[0].set(1 if result.ok else 0)
            gauges[1].set(seconds)
        previous_error = self._failing.get(check.id)
        if result.ok:
            if previous_error is not None:
                del self._failing[check.id]
                log.info("probe_recovered", check=check.id)
            return
        error = result.error or "failed"
        if error != previous_error:
            log.info("probe_failed", check=check.id, error=error)
        self._failing[check.id] = error


async def _sleep_until(when: float) -> None:
    """Sleep until the loop's clock reads `when` (one timer at an absolute time, no drift)."""
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()
    handle = loop.call_at(when, _wake, waiter)
    try:
        await waiter
    finally:
        handle.cancel()


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
