"""When both stores merge the late samples they set aside into runs and rollups.

A late sample (not newer than its series' newest) is stored aside with its batch, acknowledged
like any other, and merged with the others in bulk: a series' late samples then meet its runs
and hourly rollups once a merge, not once a batch. Merges come once `SETTLE_SAMPLES` wait,
`SETTLE_AFTER_S` after the first, before any read of samples, runs or rollups (readers wait for
it), before pruning, and at open and close; `SETTLE_CHUNK_SAMPLES` at a time.
"""

from __future__ import annotations

import structlog

from slawatch.collector.log_throttle import LogThrottle

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
