"""The alerts' durable outbox, open alerts and marks, in the SQLite store (the story is told in
`slawatch.collector.alerts.outbox`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from slawatch.collector.store.records import (
    NOTIFICATION_COLUMNS,
    AlertChanges,
    NewNotification,
    Notification,
    OpenAlert,
)
from slawatch.collector.store.sqlite.connections import SqliteConnections


class SqliteOutbox(SqliteConnections):
    """`OutboxStore` (see `slawatch.collector.store.protocols` for what each method does)."""

    async def commit_alerts(self, changes: AlertChanges, *, busy: Iterable[int] = ()) -> list[str]:
        inserted: list[str] = []
        busy_seqs = sorted(set(busy))
        async with self.write_transaction() as w:
            for n in changes.notifications:
                cursor = await w.execute(
                    "INSERT OR IGNORE INTO alert_outbox (id, channel, kind, subject, run_ms,"
                    " event, body, headers, status, grouped, created_ms, due_ms, released_ms)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (n.id, n.channel, n.kind, n.subject, n.run_ms, n.event, n.body, n.headers,
                     "held" if n.grouped else "pending", n.grouped, n.created_ms, n.due_ms,
                     None if n.grouped else n.created_ms),
                )  # fmt: skip
                if cursor.rowcount != 1:
                    continue
                inserted.append(n.id)
                if n.supersedes and n.subject is not None and n.run_ms is not None:
                    kinds = ",".join("?" * len(n.supersedes))
                    skip = ",".join("?" * len(busy_seqs))
                    await w.execute(
                        "UPDATE alert_outbox SET status = 'merged', merged_into = ?,"
                        " finished_ms = ? WHERE channel = ? AND subject = ? AND run_ms = ?"
                        f" AND kind IN ({kinds}) AND status IN ('held', 'pending')"
                        f" AND id != ? AND seq NOT IN ({skip})",
                        (n.id, n.created_ms, n.channel, n.subject, n.run_ms, *n.supersedes,
                         n.id, *busy_seqs),
                    )  # fmt: skip
            await w.executemany(
                "INSERT OR REPLACE INTO alert_open (rule, subject, topic, state)"
                " VALUES (?, ?, ?, ?)",
                [(a.rule, a.subject, a.topic, a.state) for a in changes.opened],
            )
            await w.executemany(
                "DELETE FROM alert_open WHERE rule = ? AND subject = ? AND topic = ?",
                changes.closed,
            )
            await w.executemany(
                "INSERT OR IGNORE INTO alert_marks (key, at_ms) VALUES (?, ?)", changes.marks
            )
        return inserted

    async def open_alerts(self) -> list[OpenAlert]:
        async with self.reader.execute(
            "SELECT rule, subject, topic, state FROM alert_open ORDER BY rule, subject, topic"
        ) as cursor:
            return [OpenAlert(*row) for row in await cursor.fetchall()]

    async def alert_marks(self, keys: Iterable[str]) -> set[str]:
        wanted = sorted(set(keys))
        found: set[str] = set()
        for start in range(0, len(wanted), 900):
            chunk = wanted[start : start + 900]
            async with self.reader.execute(
                f"SELECT key FROM alert_marks WHERE key IN ({','.join('?' * len(chunk))})", chunk
            ) as cursor:
                found.update(row[0] for row in await cursor.fetchall())
        return found

    async def held_notifications(self, channel: str) -> list[Notification]:
        return await self._notifications_where(
            "channel = ? AND status = 'held' ORDER BY seq", (channel,)
        )

    async def next_notification(self, channel: str) -> Notification | None:
        found = await self._notifications_where(
            "channel = ? AND status IN ('held', 'pending') ORDER BY created_ms, seq LIMIT 1",
            (channel,),
        )
        return found[0] if found else None

    async def released_since(self, channel: str, since_ms: int) -> list[int]:
        async with self.reader.execute(
            "SELECT released_ms FROM alert_outbox WHERE channel = ? AND grouped = 1"
            " AND released_ms >= ? AND status IN ('pending', 'sent', 'given_up')"
            " ORDER BY released_ms",
            (channel, since_ms),
        ) as cursor:
            return [row[0] for row in await cursor.fetchall()]

    async def release_notifications(
        self, channel: str, seqs: Sequence[int], now_ms: int, group: NewNotification | None
    ) -> None:
        marks = ",".join("?" * len(seqs))
        async with self.write_transaction() as w:
            if group is None:
                await w.execute(
                    "UPDATE alert_outbox SET status = 'pending', released_ms = ?, due_ms = ?"
                    f" WHERE channel = ? AND status = 'held' AND seq IN ({marks})",
                    (now_ms, now_ms, channel, *seqs),
                )
                return
            await w.execute(
                "INSERT OR IGNORE INTO alert_outbox (id, channel, kind, subject, run_ms, event,"
                " body, headers, status, grouped, created_ms, due_ms, released_ms)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', 1, ?, ?, ?)",
                (group.id, channel, group.kind, group.subject, group.run_ms, group.event,
                 group.body, group.headers, group.created_ms, now_ms, now_ms),
            )  # fmt: skip
            await w.execute(
                "UPDATE alert_outbox SET status = 'merged', merged_into = ?, finished_ms = ?"
                f" WHERE channel = ? AND status = 'held' AND seq IN ({marks})",
                (group.id, now_ms, channel, *seqs),
            )

    async def notification_sent(
        self, seq: int, now_ms: int, *, attempts: int, status: int | None
    ) -> None:
        async with self.write_transaction() as w:
            await w.execute(
                "UPDATE alert_outbox SET status = 'sent', finished_ms = ?, attempts = ?,"
                " last_status = ?, last_error = NULL WHERE seq = ?",
                (now_ms, attempts, status, seq),
            )

    async def notification_failed(
        self, seq: int, *, attempts: int, due_ms: int, status: int | None, error: str | None
    ) -> None:
        async with self.write_transaction() as w:
            await w.execute(
                "UPDATE alert_outbox SET attempts = ?, due_ms = ?, last_status = ?, last_error = ?"
                " WHERE seq = ? AND status = 'pending'",
                (attempts, due_ms, status, error, seq),
            )

    async def notification_given_up(
        self, seq: int, now_ms: int, *, attempts: int, error: str | None
    ) -> None:
        async with self.write_transaction() as w:
            await w.execute(
                "UPDATE alert_outbox SET status = 'given_up', finished_ms = ?, attempts = ?,"
                " last_error = ? WHERE seq = ? AND status IN ('pending', 'held')",
                (now_ms, attempts, error, seq),
            )

    async def notifications(
        self,
        *,
        statuses: Sequence[str] | None = None,
        channel: str | None = None,
        before_seq: int | None = None,
        limit: int = 100,
    ) -> list[Notification]:
        conditions: list[str] = ["1"]
        values: list[Any] = []
        if statuses:
            conditions.append(f"status IN ({','.join('?' * len(statuses))})")
            values.extend(statuses)
        if channel is not None:
            conditions.append("channel = ?")
            values.append(channel)
        if before_seq is not None:
            conditions.append("seq < ?")
            values.append(before_seq)
        return await self._notifications_where(
            f"{' AND '.join(conditions)} ORDER BY seq DESC LIMIT ?", (*values, limit)
        )

    async def notification_counts(self) -> dict[tuple[str, str], int]:
        async with self.reader.execute(
            "SELECT channel, status, COUNT(*) FROM alert_outbox GROUP BY channel, status"
        ) as cursor:
            return {(row[0], row[1]): row[2] for row in await cursor.fetchall()}

    async def prune_notifications(self, before_ms: int, *, marks_before_ms: int) -> int:
        async with self.write_transaction() as w:
            cursor = await w.execute(
                "DELETE FROM alert_outbox WHERE finished_ms < ? AND status != 'pending'"
                " AND status != 'held'",
                (before_ms,),
            )
            await w.execute("DELETE FROM alert_marks WHERE at_ms < ?", (marks_before_ms,))
        return cursor.rowcount

    async def _notifications_where(
        self, condition: str, values: Sequence[Any]
    ) -> list[Notification]:
        async with self.reader.execute(
            f"SELECT {NOTIFICATION_COLUMNS} FROM alert_outbox WHERE {condition}", values
        ) as cursor:
            return [Notification.from_row(row) for row in await cursor.fetchall()]
