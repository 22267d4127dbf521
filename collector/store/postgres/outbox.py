"""The alerts' durable outbox, open alerts and marks, in the PostgreSQL store (the story is told
in `slawatch.collector.alerts.outbox`). Only the alert leader writes here
(`slawatch.collector.store.postgres.leader`); any collector reads it for the API and pages."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from slawatch.collector.store.postgres.connections import PostgresConnections
from slawatch.collector.store.records import (
    NOTIFICATION_COLUMNS,
    AlertChanges,
    NewNotification,
    Notification,
    OpenAlert,
)

_INSERT = (
    "INSERT INTO alert_outbox (id, channel, kind, subject, run_ms, event, body, headers, status,"
    " grouped, created_ms, due_ms, released_ms)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    " ON CONFLICT (channel, id) DO NOTHING RETURNING seq"
)


class PostgresOutbox(PostgresConnections):
    """`OutboxStore` (see `slawatch.collector.store.protocols` for what each method does)."""

    async def commit_alerts(self, changes: AlertChanges, *, busy: Iterable[int] = ()) -> list[str]:
        inserted: list[str] = []
        busy_seqs = sorted(set(busy))
        async with self.write_transaction() as db:
            for n in changes.notifications:
                seq = await db.fetchval(
                    _INSERT,
                    n.id, n.channel, n.kind, n.subject, n.run_ms, n.event, n.body, n.headers,
                    "held" if n.grouped else "pending", n.grouped, n.created_ms, n.due_ms,
                    None if n.grouped else n.created_ms,
                )  # fmt: skip
                if seq is None:
                    continue
                inserted.append(n.id)
                if n.supersedes and n.subject is not None and n.run_ms is not None:
                    await db.execute(
                        "UPDATE alert_outbox SET status = 'merged', merged_into = $1,"
                        " finished_ms = $2 WHERE channel = $3 AND subject = $4 AND run_ms = $5"
                        " AND kind = ANY($6::text[]) AND status IN ('held', 'pending')"
                        " AND id != $1 AND NOT (seq = ANY($7::bigint[]))",
                        n.id, n.created_ms, n.channel, n.subject, n.run_ms,
                        list(n.supersedes), busy_seqs,
                    )  # fmt: skip
            await db.executemany(
                "INSERT INTO alert_open (rule, subject, topic, state) VALUES ($1, $2, $3, $4)"
                " ON CONFLICT (rule, subject, topic) DO UPDATE SET state = excluded.state",
                [(a.rule, a.subject, a.topic, a.state) for a in changes.opened],
            )
            await db.executemany(
                "DELETE FROM alert_open WHERE rule = $1 AND subject = $2 AND topic = $3",
                list(changes.closed),
            )
            await db.executemany(
                "INSERT INTO alert_marks (key, at_ms) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                list(changes.marks),
            )
        return inserted

    async def open_alerts(self) -> list[OpenAlert]:
        rows = await self.pool.fetch(
            "SELECT rule, subject, topic, state FROM alert_open ORDER BY rule, subject, topic"
        )
        return [OpenAlert(*row) for row in rows]

    async def alert_marks(self, keys: Iterable[str]) -> set[str]:
        wanted = sorted(set(keys))
        if not wanted:
            return set()
        rows = await self.pool.fetch(
            "SELECT key FROM alert_marks WHERE key = ANY($1::text[])", wanted
        )
        return {row[0] for row in rows}

    async def held_notifications(self, channel: str) -> list[Notification]:
        return await self._notifications_where(
            "channel = $1 AND status = 'held' ORDER BY seq", (channel,)
        )

    async def next_notification(self, channel: str) -> Notification | None:
        found = await self._notifications_where(
            "channel = $1 AND status IN ('held', 'pending') ORDER BY created_ms, seq LIMIT 1",
            (channel,),
        )
        return found[0] if found else None

    async def released_since(self, channel: str, since_ms: int) -> list[int]:
        rows = await self.pool.fetch(
            "SELECT released_ms FROM alert_outbox WHERE channel = $1 AND grouped"
            " AND released_ms >= $2 AND status IN ('pending', 'sent', 'given_up')"
            " ORDER BY released_ms",
            channel,
            since_ms,
        )
        return [row[0] for row in rows]

    async def release_notifications(
        self, channel: str, seqs: Sequence[int], now_ms: int, group: NewNotification | None
    ) -> None:
        async with self.write_transaction() as db:
            if group is None:
                await db.execute(
                    "UPDATE alert_outbox SET status = 'pending', released_ms = $1, due_ms = $1"
                    " WHERE channel = $2 AND status = 'held' AND seq = ANY($3::bigint[])",
                    now_ms,
                    channel,
                    list(seqs),
                )
                return
            await db.execute(
                "INSERT INTO alert_outbox (id, channel, kind, subject, run_ms, event, body,"
                " headers, status, grouped, created_ms, due_ms, released_ms)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', TRUE, $9, $10, $10)"
                " ON CONFLICT (channel, id) DO NOTHING",
                group.id, channel, group.kind, group.subject, group.run_ms, group.event,
                group.body, group.headers, group.created_ms, now_ms,
            )  # fmt: skip
            await db.execute(
                "UPDATE alert_outbox SET status = 'merged', merged_into = $1, finished_ms = $2"
                " WHERE channel = $3 AND status = 'held' AND seq = ANY($4::bigint[])",
                group.id,
                now_ms,
                channel,
                list(seqs),
            )

    async def notification_sent(
        self, seq: int, now_ms: int, *, attempts: int, status: int | None
    ) -> None:
        async with self.write_transaction() as db:
            await db.execute(
                "UPDATE alert_outbox SET status = 'sent', finished_ms = $1, attempts = $2,"
                " last_status = $3, last_error = NULL WHERE seq = $4",
                now_ms,
                attempts,
                status,
                seq,
            )

    async def notification_failed(
        self, seq: int, *, attempts: int, due_ms: int, status: int | None, error: str | None
    ) -> None:
        async with self.write_transaction() as db:
            await db.execute(
                "UPDATE alert_outbox SET attempts = $1, due_ms = $2, last_status = $3,"
                " last_error = $4 WHERE seq = $5 AND status = 'pending'",
                attempts,
                due_ms,
                status,
                error,
                seq,
            )

    async def notification_given_up(
        self, seq: int, now_ms: int, *, attempts: int, error: str | None
    ) -> None:
        async with self.write_transaction() as db:
            await db.execute(
                "UPDATE alert_outbox SET status = 'given_up', finished_ms = $1, attempts = $2,"
                " last_error = $3 WHERE seq = $4 AND status IN ('pending', 'held')",
                now_ms,
                attempts,
                error,
                seq,
            )

    async def notifications(
        self,
        *,
        statuses: Sequence[str] | None = None,
        channel: str | None = None,
        before_seq: int | None = None,
        limit: int = 100,
    ) -> list[Notification]:
        conditions: list[str] = ["TRUE"]
        values: list[Any] = []
        if statuses:
            values.append(list(statuses))
            conditions.append(f"status = ANY(${len(values)}::text[])")
        if channel is not None:
            values.append(channel)
            conditions.append(f"channel = ${len(values)}")
        if before_seq is not None:
            values.append(before_seq)
            conditions.append(f"seq < ${len(values)}")
        values.append(limit)
        return await self._notifications_where(
            f"{' AND '.join(conditions)} ORDER BY seq DESC LIMIT ${len(values)}", values
        )

    async def notification_counts(self) -> dict[tuple[str, str], int]:
        rows = await self.pool.fetch(
            "SELECT channel, status, COUNT(*) FROM alert_outbox GROUP BY channel, status"
        )
        return {(row[0], row[1]): int(row[2]) for row in rows}

    async def prune_notifications(self, before_ms: int, *, marks_before_ms: int) -> int:
        async with self.write_transaction() as db:
            status = await db.execute(
                "DELETE FROM alert_outbox WHERE finished_ms < $1 AND status != 'pending'"
                " AND status != 'held'",
                before_ms,
            )
            await db.execute("DELETE FROM alert_marks WHERE at_ms < $1", marks_before_ms)
        return int(status.rsplit(" ", 1)[1])

    async def _notifications_where(
        self, condition: str, values: Sequence[Any]
    ) -> list[Notification]:
        rows = await self.pool.fetch(
            f"SELECT {NOTIFICATION_COLUMNS} FROM alert_outbox WHERE {condition}", *values
        )
        return [Notification.from_row(row) for row in rows]
