"""The samples table's partitions: one a UTC day, `samples_dYYYYMMDD`, made on demand before a
batch that needs it is written, and dropped whole by retention.

A partition is made in a short transaction of its own, under an advisory lock (two collectors
may need the same day at once), never inside an ingest transaction: creating one locks the
parent table, which every ingest transaction uses.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import TypeVar

import asyncpg

_T = TypeVar("_T")

DAY_MS = 86_400_000
PARTITION_LOCK = (0x534C4157, 1)
"""(namespace, key) of the advisory lock held while making partitions."""


def day_of(ts_ms: int) -> int:
    return ts_ms - ts_ms % DAY_MS


def partition_name(day_ms: int) -> str:
    return "samples_d" + datetime.fromtimestamp(day_ms / 1000, UTC).strftime("%Y%m%d")


class Partitions:
    """The days known to have a partition (in this process; another collector's retention may
    drop one meanwhile: `forget` and make it again)."""

    def __init__(self) -> None:
        self.days: set[int] = set()

    async def load(self, db: asyncpg.Connection) -> None:
        self.days = set(await partition_days(db))

    def forget(self) -> None:
        self.days.clear()

    async def ensure(self, db: asyncpg.Connection, timestamps: Iterable[int]) -> None:
        missing = {day_of(ts) for ts in timestamps} - self.days
        if not missing:
            return
        async with db.transaction():
            await db.execute("SELECT pg_advisory_xact_lock($1, $2)", *PARTITION_LOCK)
            for day in sorted(missing):
                await db.execute(
                    f"CREATE TABLE IF NOT EXISTS {partition_name(day)} PARTITION OF samples"
                    f" FOR VALUES FROM ({day}) TO ({day + DAY_MS})"
                )
        self.days |= missing

    async def written(
        self,
        db: asyncpg.Connection,
        work: Callable[[], Awaitable[_T]],
        timestamps: Callable[[], Awaitable[Iterable[int]]],
    ) -> _T:
        """`work` in a transaction of `db`. If a partition it writes into was dropped meanwhile
        by another collector's retention (no partition takes the row: a CHECK violation), the
        partitions of `timestamps()` are made again and `work` runs once more."""
        try:
            async with db.transaction():
                return await work()
        except asyncpg.CheckViolationError:
            self.forget()
            await self.ensure(db, await timestamps())
            async with db.transaction():
                return await work()


async def partition_days(db: asyncpg.Connection) -> list[int]:
    """The first instant of each day that has a partition, in order."""
    bounds = await db.fetch(
        "SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
        " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'samples'::regclass"
    )
    days = []
    for (bound,) in bounds:
        # FOR VALUES FROM ('1790000000000') TO ('…')
        start = bound.split("FROM (", 1)[1].split(")", 1)[0].strip("'")
        days.append(int(start))
    return sorted(days)
