"""Maintenance windows declared at run time, in the PostgreSQL store."""

from __future__ import annotations

from collections.abc import Sequence

from slawatch.collector.engine.timeline import FOREVER_MS
from slawatch.collector.store.postgres.connections import PostgresConnections
from slawatch.collector.store.records import DeclaredMaintenance


class PostgresMaintenance(PostgresConnections):
    async def add_maintenance(
        self, slas: Sequence[str], start_ms: int, end_ms: int, reason: str, *, created_ms: int
    ) -> DeclaredMaintenance:
        covered = sorted(set(slas))
        async with self.write_transaction() as db:
            maintenance_id = await db.fetchval(
                "INSERT INTO maintenance (start_ms, end_ms, reason, created_ms)"
                " VALUES ($1, $2, $3, $4) RETURNING id",
                start_ms,
                end_ms,
                reason,
                created_ms,
            )
            await db.execute(
                "INSERT INTO maintenance_slas (sla, maintenance)"
                " SELECT s, $2 FROM unnest($1::text[]) AS s",
                covered,
                maintenance_id,
            )
        return DeclaredMaintenance(
            int(maintenance_id), tuple(covered), start_ms, end_ms, reason, created_ms
        )

    async def delete_maintenance(self, maintenance_id: int) -> bool:
        async with self.write_transaction() as db:
            status = await db.execute("DELETE FROM maintenance WHERE id = $1", maintenance_id)
        return status != "DELETE 0"

    async def declared_maintenance(
        self,
        slas: Sequence[str] | None = None,
        start_ms: int = -FOREVER_MS,
        end_ms: int = FOREVER_MS,
    ) -> list[DeclaredMaintenance]:
        if slas is not None and not slas:
            return []
        rows = await self.pool.fetch(
            "SELECT m.id, array_agg(s.sla ORDER BY s.sla), m.start_ms, m.end_ms, m.reason,"
            " m.created_ms FROM maintenance m JOIN maintenance_slas s ON s.maintenance = m.id"
            " WHERE m.end_ms > $1 AND m.start_ms < $2 AND ($3::text[] IS NULL OR m.id IN"
            " (SELECT maintenance FROM maintenance_slas WHERE sla = ANY($3::text[])))"
            " GROUP BY m.id ORDER BY m.start_ms, m.id",
            start_ms,
            end_ms,
            None if slas is None else list(slas),
        )
        return [DeclaredMaintenance(row[0], tuple(row[1]), *row[2:]) for row in rows]
