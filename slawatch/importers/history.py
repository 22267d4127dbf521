"""`slawatch import uptime-kuma KUMA.db --history --config F`: Uptime Kuma's heartbeats of the
imported monitors, stored as samples of agent `imported` in the collector's database.

Each heartbeat keeps its time (to the millisecond), its verdict and its response time: UP (1) is
an ok sample with `latency_ms` its ping, DOWN (0) and PENDING (2: failed, retries not yet spent)
are failed samples with Uptime Kuma's message as `error`. MAINTENANCE (3) is not a probe result
and is left out, as are UP beats without a response time (a sample that is ok has one). They go
through the store's own `ingest`, in batches, so runs and rollups are derived as for pushed
samples, and importing again stores nothing twice.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from slawatch.collector.samples import SampleRow
from slawatch.collector.store import Store
from slawatch.importers.kuma import connect
from slawatch.importers.model import Imported, SourceError

AGENT = "imported"
BATCH = 5000
UP, DOWN, PENDING, MAINTENANCE = 1, 0, 2, 3


@dataclass(frozen=True, slots=True)
class Series:
    check: str
    type: str
    interval_ms: int


@dataclass(slots=True)
class HistoryResult:
    accepted: int = 0
    duplicates: int = 0
    left_out: int = 0


def series_of(imported: Imported, intervals: Mapping[int, int]) -> dict[int, Series]:
    """Monitor id → the series its heartbeats become."""
    out = {}
    for check in imported.checks:
        if check.origin is None:
            continue
        kind = str(check.data.get("type") or "http")
        if "url" in check.data and str(check.data["url"]).startswith("dns://"):
            kind = "dns"
        out[check.origin] = Series(check.id, kind, intervals[check.origin] * 1000)
    return out


def heartbeat_batches(
    path: Path, series: Mapping[int, Series]
) -> Generator[list[SampleRow | None], None, None]:
    """The samples of the heartbeats of `series`' monitors, oldest first, `BATCH` at a time;
    None for a heartbeat left out."""
    db = connect(path, any_thread=True)
    try:
        ids = ",".join(str(int(i)) for i in series) or "NULL"
        rows = db.execute(
            "SELECT monitor_id, status, msg, time, ping FROM heartbeat"
            f" WHERE monitor_id IN ({ids}) ORDER BY time, id"
        )
        while chunk := rows.fetchmany(BATCH):
            yield [_sample(series[int(m)], s, msg, t, p) for m, s, msg, t, p in chunk]
    except sqlite3.Error as error:
        raise SourceError(f"{path}: cannot read the heartbeats: {error}") from None
    finally:
        db.close()


def _sample(
    series: Series, status: int, message: str | None, time_text: str, ping: float | None
) -> SampleRow | None:
    if status == MAINTENANCE or (status == UP and ping is None):
        return None
    ts_ms = kuma_time_ms(time_text)
    ok = status == UP
    latency = float(ping) if ping is not None else None
    return SampleRow(
        ts_ms, ok, latency, series.interval_ms, None, None if ok else (message or "DOWN"),
        None, None, None, None, None, None, series.check, series.type,
    )  # fmt: skip


def kuma_time_ms(text: str) -> int:
    """Uptime Kuma's `YYYY-MM-DD HH:MM:SS[.fff]`, in UTC, as Unix milliseconds."""
    moment = datetime.fromisoformat(str(text).replace("Z", ""))
    return round(moment.replace(tzinfo=UTC).timestamp() * 1000)


async def load_history(
    store: Store, path: Path, series: Mapping[int, Series], now_ms: int
) -> HistoryResult:
    """Store the heartbeats batch by batch (read in a worker thread); each batch is durable
    before the next is read."""
    result = HistoryResult()
    batches = heartbeat_batches(path, series)
    try:
        while (chunk := await asyncio.to_thread(next, batches, None)) is not None:
            batch = [sample for sample in chunk if sample is not None]
            result.left_out += len(chunk) - len(batch)
            if batch:
                await _store(store, batch, now_ms, result)
    finally:
        await asyncio.to_thread(batches.close)
    return result


async def _store(store: Store, batch: list[SampleRow], now_ms: int, result: HistoryResult) -> None:
    stored = await store.ingest(AGENT, batch, labels=None, now_ms=now_ms)
    result.accepted += stored.accepted
    result.duplicates += stored.duplicates
