"""Maintenance windows declared at run time, in the SQLite store."""

from __future__ import annotations

from collections.abc import Sequence

from slawatch.collector.engine.timeline import FOREVER_MS
from slawatch.collector.store.records import DeclaredMaintenance
from slawatch.collector.store.sqlite.connections import SqliteConnections


class SqliteMaintenance(SqliteConnections):
    async def add_maintenance(
        self, slas: Sequence[str], start_ms: int, end_ms: int, reason: str, *, created_ms: int
    ) -> DeclaredMaintenance:
        covered = sorted(set(slas))
        async with self.write_transaction() as writer:
            cursor = await writer.execute(
                "INSERT INTO maintenance (start_ms, end_ms, reason, created_ms)"
                " VALUES (?, ?, ?, ?)",
                (start_ms, end_ms, reason, created_ms),
            )
            maintenance_id = cursor.lastrowid
            assert maintenance_id is not None
            await writer.executemany(
                "INSERT INTO maintenance_slas (sla, maintenance) VALUES (?, ?)",
                [(sla, maintenance_id) for sla in covered],
            )
        return DeclaredMaintenance(
            maintenance_id, tuple(covered), start_ms, end_ms, reason, created_ms
        )

    async def delete_maintenance(self, maintenance_id: int) -> bool:
        async with self.write_transaction() as writer:
            cursor = await writer.execute("DELETE FROM maintenance WHERE id = ?", (maintenance_id,))
            found = cursor.rowcount > 0
            await writer.execute(
                "DELETE FROM maintenance_slas WHERE maintenance = ?", (maintenance_id,)
            )
        return found

    async def declared_maintenance(
        self,
        slas: Sequence[str] | None = None,
        start_ms: int = -FOREVER_MS,
        end_ms: int = FOREVER_MS,
    ) -> list[DeclaredMaintenance]:
        if slas is not None and not slas:
            return []
        which = ""
        if slas is not None:
            marks = ",".join("?" * len(slas))
            which = (
                f" AND m.id IN (SELECT maintenance FROM maintenance_slas WHERE sla IN ({marks}))"
            )
        async with self.reader.execute(
            "SELECT m.id, group_concat(s.sla, ' '), m.start_ms, m.end_ms, m.reason, m.created_ms"
            " FROM maintenance m JOIN maintenance_slas s ON s.maintenance = m.id"
            f" WHERE m.end_ms > ? AND m.start_ms < ?{which}"
            " GROUP BY m.id ORDER BY m.start_ms, m.id",
            (start_ms, end_ms, *(slas or ())),
        ) as cursor:
            return [
                DeclaredMaintenance(row[0], tuple(sorted(row[1].split(" "))), *row[2:])
                for row in await cursor.fetchall()
            ]
