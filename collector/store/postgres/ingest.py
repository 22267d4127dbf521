"""Ingest into the PostgreSQL store: each batch one transaction on a pooled connection, so that
batches of different series are written side by side, by one collector or several.

Every series a batch touches is locked for the transaction (`pg_advisory_xact_lock`, in series
order, so two batches never wait on each other in a cycle): what a transaction reads of a series
(its last run, its rollups) is what the previous writer of that series committed, whichever
collector that was. So concurrent batches of the same (agent, check), through one collector or
two, give the runs and rollups one writer would. The rules are the pure ones of
`slawatch.collector.engine.timeline` and `.latency`, as on SQLite:
- samples newer than the series' newest stored one are new: COPYed into `samples`, they extend
  its last run and are added into its hourly rollups;
- the others (late) are set aside (`late_samples`), those not stored yet; they are merged into
  runs and rollups in batches, by whichever collector comes first: once `settle_samples` were
  set aside here, `SETTLE_AFTER_S` after one was, before any read of samples, runs or rollups
  (`settled`, which asks the database: another collector may have set some aside), before
  pruning, and at open and close. Readers never see a late sample half-counted;
- the series' type, interval and first/last seen, and the agent's labels, at once.
The caller gets its answer once the transaction is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from functools import partial

import asyncpg

from slawatch.collector.engine.timeline import FOREVER_MS, extend_runs
from slawatch.collector.log_throttle import LogThrottle
from slawatch.collector.samples import SampleRow
from slawatch.collector.store import settling
from slawatch.collector.store.postgres.connections import PostgresConnections
from slawatch.collector.store.postgres.coordination import (
    CHANNEL,
    PostgresCoordination,
    ingest_payload,
    new_token,
)
from slawatch.collector.store.postgres.late_samples import (
    any_set_aside,
    days_set_aside,
    merge_late_samples,
    series_chunks,
    set_aside,
)
from slawatch.collector.store.postgres.partitions import Partitions
from slawatch.collector.store.postgres.writes import (
    copy_samples,
    last_runs,
    update_rollups,
    update_series_seen,
    upsert_runs,
)
from slawatch.collector.store.records import IngestResult
from slawatch.collector.store.settling import (
    SETTLE_CHUNK_SAMPLES,
    SETTLE_SAMPLES,
    MergeDue,
    merge_failed,
    split_late,
    timed_merge,
)

SERIES_LOCK = 0x534C4153
"""The namespace of the advisory locks of series (the key is the series id)."""


class PostgresIngest(PostgresConnections):
    """The samples family's writing side."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._series_ids: dict[tuple[str, str], int] = {}
        """(check, agent) → series id: ids never change, so every collector may cache them. A
        series is made (committed) before the transaction of the batch that needs it."""
        self._partitions = Partitions()
        self._raw_horizon_ms = -FOREVER_MS
        self.token = new_token()
        """This store's name in the NOTIFY of its ingest (`coordination`)."""
        self.settle_samples = SETTLE_SAMPLES
        """Late samples set aside here that are merged at once (tests lower it)."""
        self._set_aside = 0
        """Late samples this collector set aside since its last merge began."""
        self._late_waiting = asyncio.Event()
        self._late_many = asyncio.Event()
        self._merge_due = MergeDue(self._late_waiting.set)
        self._settler: asyncio.Task[None] | None = None
        self._merging = asyncio.Lock()
        self._merge_failures = LogThrottle()

    def coordination(self) -> PostgresCoordination:
        """Leadership and the other collectors' ingest, on a connection of its own."""
        return PostgresCoordination(self.url, self.token)

    async def open(self) -> None:
        """Connect and migrate; merge the late samples a collector set aside and did not merge
        (it died), then merge in the background what this one sets aside."""
        await super().open()
        try:
            async with self.pool.acquire() as db:
                await self._partitions.load(db)
                await self._read_raw_horizon(db)
            await self.settled()
        except BaseException:
            await self.close()
            raise
        self._settler = asyncio.create_task(self._settle_when_due(), name="postgres-settle")

    async def open_readonly(self) -> None:
        """The reader: it merges the late samples set aside before it reads, as a collector
        does (in read-write transactions of its own: merging changes what is derived, never
        what was acknowledged); where it may not write (a replica, a read-only role), it reads
        without those not merged yet and says so (`settled`)."""
        await super().open_readonly()
        async with self.pool.acquire() as db:
            await self._read_raw_horizon(db)

    async def close(self) -> None:
        """Merge the late samples set aside (if that fails, the next open does), then close."""
        settler, self._settler = self._settler, None
        if settler is not None:
            settler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await settler
            await self.settled()
        await super().close()

    @property
    def raw_horizon_ms(self) -> int:
        return self._raw_horizon_ms

    async def _read_raw_horizon(self, db: asyncpg.Connection) -> int:
        value = await db.fetchval("SELECT value FROM meta WHERE key = 'raw_horizon_ms'")
        if value is not None:
            self._raw_horizon_ms = int(value)
        return self._raw_horizon_ms

    async def ingest(
        self,
        agent: str,
        samples: Sequence[SampleRow],
        *,
        labels: Mapping[str, str] | None,
        now_ms: int,
    ) -> IngestResult:
        """One transaction for the batch; a caller cancelled meanwhile may find it committed or
        not, whole either way."""
        async with self.pool.acquire() as db:
            ids: dict[str, int] = {}
            if samples:
                await self._partitions.ensure(db, (row.ts_ms for row in samples))
                ids = await self._series_for(db, agent, sorted({row.check for row in samples}))
            write = partial(self._write_batch, db, agent, ids, samples, labels=labels,
                            now_ms=now_ms)  # fmt: skip
            # in a partition another collector's retention may have dropped: made again
            result, late = await self._partitions.written(db, write, partial(_timestamps, samples))
        if late:
            self._set_aside += late
            self._merge_due.arm()
            if self._set_aside >= self.settle_samples:
                self._late_many.set()
        return result

    async def _write_batch(
        self,
        db: asyncpg.Connection,
        agent: str,
        ids: Mapping[str, int],
        samples: Sequence[SampleRow],
        *,
        labels: Mapping[str, str] | None,
        now_ms: int,
    ) -> tuple[IngestResult, int]:
        """The batch's result, and how many late samples it set aside."""
        accepted = 0
        late_accepted = 0
        checks: frozenset[str] = frozenset()
        if samples:
            by_series: dict[int, list[SampleRow]] = {}
            for row in samples:
                by_series.setdefault(ids[row.check], []).append(row)
            for sid, rows in by_series.items():
                by_series[sid] = _unique_by_ts(rows)
            await db.execute(
                "SELECT pg_advisory_xact_lock($1, s) FROM unnest($2::int[]) AS s",
                SERIES_LOCK,
                sorted(by_series),
            )
            last = await last_runs(db, list(by_series))
            newest, late = split_late(by_series, last.get)
            if newest:
                await copy_samples(db, "samples", newest)
                await upsert_runs(
                    db,
                    [(sid, run) for sid, rows in newest.items()
                     for run in extend_runs(last.get(sid), rows)],
                )  # fmt: skip
                await update_rollups(db, newest)
            kept = await set_aside(db, late) if late else {}
            late_accepted = sum(len(rows) for rows in kept.values())
            stored = _joined(newest, kept)
            if stored:
                await update_series_seen(db, stored)
            accepted = sum(len(rows) for rows in stored.values())
            checks = frozenset(rows[0].check for rows in stored.values())
        # the agent seen; the other collectors hear of the samples once they are committed
        await db.execute(
            "WITH seen AS (INSERT INTO agents (id, labels, last_push_ms) VALUES ($1, $2, $3)"
            " ON CONFLICT (id) DO UPDATE SET last_push_ms = excluded.last_push_ms"
            + (", labels = excluded.labels" if labels is not None else "")
            + ") SELECT pg_notify($4, $5) WHERE $5 <> ''",
            agent,
            json.dumps(dict(labels or {}), sort_keys=True),
            now_ms,
            CHANNEL,
            ingest_payload(self.token, agent, accepted, checks) if checks else "",
        )
        return IngestResult(accepted, len(samples) - accepted, checks), late_accepted

    async def _series_for(
        self, db: asyncpg.Connection, agent: str, checks: Sequence[str]
    ) -> dict[str, int]:
        ids = {}
        missing = []
        for check in checks:
            sid = self._series_ids.get((check, agent))
            if sid is None:
                missing.append(check)
            else:
                ids[check] = sid
        if missing:
            await db.execute(
                "INSERT INTO series (check_id, agent) SELECT c, $2 FROM unnest($1::text[]) AS c"
                " ON CONFLICT DO NOTHING",
                missing,
                agent,
            )
            for sid, check in await db.fetch(
                "SELECT id, check_id FROM series WHERE agent = $2 AND check_id = ANY($1::text[])",
                missing,
                agent,
            ):
                ids[check] = self._series_ids[(check, agent)] = sid
        return ids

    # ------------------------------------------------------------------------- late samples

    async def settled(self) -> None:
        """Return once every late sample set aside (by any collector) before the call is merged
        into runs and rollups: what reads of samples, runs and rollups call first (but those
        going ahead of the merge due, `ahead_of_merge`). A merge that fails is logged, once a
        minute, and what reads goes on without those samples; the next merge tries again."""
        if self._merge_due.reads_ahead():
            return
        with self._merge_due.merging():
            try:
                if await any_set_aside(self.pool):
                    await self._merge_set_aside()
            except self.errors as error:
                merge_failed(self._merge_failures, self.path, error)
            else:
                self._merge_failures.reset()

    def ahead_of_merge(self) -> AbstractContextManager[asyncio.Future[None] | None]:
        return self._merge_due.reading_ahead()

    async def _merge_set_aside(self) -> None:
        """Merge the late samples set aside, a chunk of series a transaction. Another collector
        may merge the same series meanwhile: each chunk waits for their locks and merges what
        is still set aside."""
        async with self._merging, self.pool.acquire() as db:
            self._set_aside = 0
            for series in await series_chunks(db, SETTLE_CHUNK_SAMPLES):
                merge = partial(self._merge_chunk, db, series)
                await self._partitions.written(db, merge, partial(days_set_aside, db, series))

    async def _merge_chunk(self, db: asyncpg.Connection, series: list[int]) -> None:
        if self.read_only:
            await db.execute("SET TRANSACTION READ WRITE")
        await db.execute(
            "SELECT pg_advisory_xact_lock($1, s) FROM unnest($2::int[]) AS s", SERIES_LOCK, series
        )
        await merge_late_samples(db, series, await self._read_raw_horizon(db))

    async def _settle_when_due(self) -> None:
        """Merge what this collector set aside `SETTLE_AFTER_S` after the first, or as soon as
        `settle_samples` wait."""
        while True:
            await self._late_waiting.wait()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._late_many.wait(), settling.SETTLE_AFTER_S)
            self._late_waiting.clear()
            self._late_many.clear()
            self._merge_due.begun()
            await timed_merge(self.settled)


def _joined(
    newest: Mapping[int, list[SampleRow]], late: Mapping[int, list[SampleRow]]
) -> dict[int, list[SampleRow]]:
    """Each series' samples of both, sorted (its late ones come before its newest)."""
    joined = {sid: rows + newest.get(sid, []) for sid, rows in late.items()}
    for sid, rows in newest.items():
        joined.setdefault(sid, rows)
    return joined


async def _timestamps(samples: Sequence[SampleRow]) -> list[int]:
    return [row.ts_ms for row in samples]


def _unique_by_ts(rows: list[SampleRow]) -> list[SampleRow]:
    """Sorted by ts, the first of equal timestamps kept (the sort is stable)."""
    rows.sort(key=_ts)
    return [row for i, row in enumerate(rows) if i == 0 or row.ts_ms != rows[i - 1].ts_ms]


def _ts(row: SampleRow) -> int:
    return row.ts_ms
