"""When both stores merge the late samples they set aside into runs and rollups.

A late sample (not newer than its series' newest) is stored aside with its batch, acknowledged
like any other, and merged with the others in bulk: a series' late samples then meet its runs
and hourly rollups once a merge, not once a batch. Merges come once `SETTLE_SAMPLES` wait,
`SETTLE_AFTER_S` after the first, before any read of samples, runs or rollups (readers wait for
it), before pruning, and at open and close; `SETTLE_CHUNK_SAMPLES` at a time. Which samples are
late (`split_late`) and what a merge reads back of them (`late_sample_row`) are the same rule in
both stores.

One reader may go ahead of a merge that is due (`MergeDue`): the alert evaluator, which passes
every second while batches come. Waiting, a pass merged what was set aside meanwhile on each of
its reads: during a flood of late samples (a history import) its passes took seconds, and
alerts on what happens now waited for them (bench/alert_flood.py). Reading ahead, a pass judges
what is merged, and the checks it judged are judged again once the merge due has ended: a late
sample is judged at most `SETTLE_AFTER_S` after it came, as if it had come then.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_right
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

import structlog

from slawatch.collector.engine.timeline import Run
from slawatch.collector.log_throttle import LogThrottle
from slawatch.collector.samples import SampleRow

log = structlog.get_logger()

SETTLE_SAMPLES = 100_000
"""Late samples set aside (by this collector) that are merged without waiting for
`SETTLE_AFTER_S`. Measured in process on SQLite, a day of 400 series shuffled (bench/ingest.py's
trace), CPU per late sample: 85 µs merged with each group of 4,000 samples, 29 µs merged 48,000
at a time."""

SETTLE_AFTER_S = 5.0
"""The longest a late sample waits to be merged when nothing reads (readers wait for it)."""

SETTLE_CHUNK_SAMPLES = 20_000
"""Late samples read and merged at a time (a series' all at once): what a merge holds in memory
(~1 KB a sample, with its neighbours and runs), and on PostgreSQL how long the series it merges
wait, stay bounded whatever waits."""


_READING_AHEAD: ContextVar[bool] = ContextVar("reading_ahead_of_merge", default=False)
"""Set in the block of `MergeDue.reading_ahead`, for the task that runs it (and those it
starts)."""


class MergeDue:
    """Whether this collector's own timer has a merge due, and the readers that go ahead of it.

    A store calls `arm` where it would arm its timer (`start_timer`, given at creation), `begun`
    when the timer's merge begins (reads wait for merges again until the timer is armed again)
    and runs every merge in `merging`; its `settled` returns at once where `reads_ahead` says
    so. A merge that begins after a reader went ahead merges every sample set aside before it
    read (by any collector): when it ends, so does that reader's wait. A reader that comes while
    a merge is under way and none is due arms the timer: it goes ahead of the next merge, instead
    of waiting for the one under way (seconds, during a flood).
    """

    def __init__(self, start_timer: Callable[[], None]) -> None:
        self._start_timer = start_timer
        self._due = False
        self._merges = 0
        """Merges under way (in `merging`)."""
        self._ended: asyncio.Future[None] | None = None

    @property
    def is_due(self) -> bool:
        return self._due

    def arm(self) -> None:
        """Arm the timer: a merge will begin within `SETTLE_AFTER_S`."""
        self._due = True
        self._start_timer()

    def begun(self) -> None:
        """The timer's merge begins: reads wait for merges again until it is armed again."""
        self._due = False

    @contextmanager
    def reading_ahead(self) -> Iterator[asyncio.Future[None] | None]:
        """Reads of this task in the block do not wait for the merge due; yields a future done
        once a merge that began after them has ended. None when no merge is due nor under way:
        reads wait for merges as always (there are none to wait for)."""
        if not self._due:
            if not self._merges:
                yield None
                return
            self.arm()
        if self._ended is None:
            self._ended = asyncio.get_running_loop().create_future()
        token = _READING_AHEAD.set(True)
        try:
            yield self._ended
        finally:
            _READING_AHEAD.reset(token)

    def reads_ahead(self) -> bool:
        """Whether a read now goes without waiting for the merge due."""
        return self._due and _READING_AHEAD.get()

    @contextmanager
    def merging(self) -> Iterator[None]:
        """A merge, from before it looks at what is set aside to its end (merged or failed):
        then the readers that went ahead before it began are told."""
        self._merges += 1
        ended, self._ended = self._ended, None
        try:
            yield
        finally:
            self._merges -= 1
            if ended is not None and not ended.done():
                ended.set_result(None)


async def timed_merge(settled: Callable[[], Awaitable[None]]) -> None:
    """The timer's merge (`settled`): a defect in it (not a failure of the database, which
    `merge_failed` tells) is logged with its traceback, and the timer goes on."""
    try:
        await settled()
    except Exception:
        log.exception("late_samples_not_merged")


def merge_failed(failures: LogThrottle, database: str, error: Exception) -> None:
    """A merge failed (a full disk, the database gone): one line a minute, with a count; reads
    go on without the samples not merged, the next merge tries again."""
    count = failures.hit()
    if count is not None:
        log.warning("late_samples_not_merged", database=database, error=str(error), count=count)


def split_late(
    by_series: Mapping[int, list[SampleRow]], last_run: Callable[[int], Run | None]
) -> tuple[dict[int, list[SampleRow]], dict[int, list[SampleRow]]]:
    """Each series' samples (sorted, each timestamp once) newer than its newest stored one (the
    last sample of its `last_run`), and the others: the late ones, to be set aside."""
    newest: dict[int, list[SampleRow]] = {}
    late: dict[int, list[SampleRow]] = {}
    for sid, rows in by_series.items():
        last = last_run(sid)
        cut = 0 if last is None else bisect_right(rows, last.last_ts_ms, key=_ts)
        if cut:
            late[sid] = rows[:cut]
        if cut < len(rows):
            newest[sid] = rows[cut:]
    return newest, late


def late_sample_row(
    ts_ms: int, ok: object, latency_ms: float | None, interval_ms: int, error: str | None
) -> SampleRow:
    """A late sample set aside, as a merge reads it back: what its runs and rollups are made of
    (the row itself is moved whole, its status, phases, TLS expiry, check and type untouched)."""
    return SampleRow(ts_ms, bool(ok), latency_ms, interval_ms, None, error, *_NOT_READ)


_NOT_READ = (None,) * 6 + ("", None)


def _ts(row: SampleRow) -> int:
    return row.ts_ms
