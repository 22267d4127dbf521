"""When both stores merge the late samples they set aside into runs and rollups.

A late sample (not newer than its series' newest) is stored aside with its batch, acknowledged
like any other, and merged with the others in bulk: a series' late samples then meet its runs
and hourly rollups once a merge, not once a batch. Merges come once `SETTLE_SAMPLES` wait,
`SETTLE_AFTER_S` after the first, before any read of samples, runs or rollups (readers wait for
it), before pruning, and at open and close; `SETTLE_CHUNK_SAMPLES` at a time. Which samples are
late (`split_late`) and what a merge reads back of them (`late_sample_row`) are the same rule in
both stores.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Mapping

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
