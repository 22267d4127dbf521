"""Windows declared at run time (maintenance and exclusions) and their audit log, in the
PostgreSQL store. A declaration or a deletion and its audit line commit in one transaction."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from slawatch.collector.engine.timeline import FOREVER_MS
from slawatch.collector.store.postgres.connections import PostgresConnections
from slawatch.collector.store.records import AuditEntry, DeclaredMaintenance, WindowKind

_WINDOW_SELECT = (
    "SELECT m.id, array_agg(s.sla ORDER BY s.sla), m.start_ms, m.end_ms, m.reason,"
    " m.created_ms, m.kind, m.category FROM maintenance m"
    " JOIN maintenance_slas s ON s.maintenance = m.id"
)
AUDIT_COLUMNS = (
    "at_ms", "action", "principal_kind", "principal_id", "window_id", "slas", "start_ms",
    "end_ms", "reason", "created_ms", "kind", "category",
)  # fmt: skip
_AUDIT_COLUMNS = ", ".join(AUDIT_COLUMNS)


class PostgresMaintenance(PostgresConnections):
    async def add_maintenance(
        self,
        slas: Sequence[str],
        start_ms: int,
        end_ms: int,
        reason: str,
        *,
        created_ms: int,
        kind: WindowKind = "maintenance",
        category: str | None = None,
        principal: tuple[str, str] = ("admin", "admin"),
    ) -> DeclaredMaintenance:
        covered = sorted(set(slas))
        async with self.write_transaction() as db:
            maintenance_id = await db.fetchval(
                "INSERT INTO maintenance (start_ms, end_ms, reason, created_ms, kind, category)"
                " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                start_ms,
                end_ms,
                reason,
                created_ms,
                kind,
                category,
            )
            await db.execute(
                "INSERT INTO maintenance_slas (sla, maintenance)"
                " SELECT s, $2 FROM unnest($1::text[]) AS s",
                covered,
                maintenance_id,
            )
            window = DeclaredMaintenance(
                int(maintenance_id),
                tuple(covered),
                start_ms,
                end_ms,
                reason,
                created_ms,
                kind,
                category,
            )
            await _audit(db, created_ms, "declare", principal, window)
        return window

    async def delete_maintenance(
        self,
        maintenance_id: int,
        *,
        at_ms: int | None = None,
        principal: tuple[str, str] = ("admin", "admin"),
    ) -> bool:
        async with self.write_transaction() as db:
            row = await db.fetchrow(
                f"{_WINDOW_SELECT} WHERE m.id = $1 GROUP BY m.id", maintenance_id
            )
            status = await db.execute("DELETE FROM maintenance WHERE id = $1", maintenance_id)
            if row is None or status == "DELETE 0":  # none, or another collector deleted it
                return False
            window = _window(row)
            await _audit(
                db, window.created_ms if at_ms is None else at_ms, "delete", principal, window
            )
        return True

    async def declared_maintenance(
        self,
        slas: Sequence[str] | None = None,
        start_ms: int = -FOREVER_MS,
        end_ms: int = FOREVER_MS,
    ) -> list[DeclaredMaintenance]:
        if slas is not None and not slas:
            return []
        rows = await self.pool.fetch(
            f"{_WINDOW_SELECT} WHERE m.end_ms > $1 AND m.start_ms < $2"
            " AND ($3::text[] IS NULL OR m.id IN"
            " (SELECT maintenance FROM maintenance_slas WHERE sla = ANY($3::text[])))"
            " GROUP BY m.id ORDER BY m.start_ms, m.id",
            start_ms,
            end_ms,
            None if slas is None else list(slas),
        )
        return [_window(row) for row in rows]

    async def audit_log(
        self, slas: Sequence[str] | None = None, *, limit: int = 1000
    ) -> list[AuditEntry]:
        if slas is not None and not slas:
            return []
        rows = await self.pool.fetch(
            f"SELECT id, {_AUDIT_COLUMNS} FROM maintenance_audit"
            " WHERE $1::text[] IS NULL OR slas && $1::text[] ORDER BY id DESC LIMIT $2",
            None if slas is None else sorted(set(slas)),
            limit,
        )
        return [
            AuditEntry(
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                DeclaredMaintenance(row[5], tuple(row[6]), *row[7:]),
            )
            for row in rows
        ]


def _window(row: asyncpg.Record) -> DeclaredMaintenance:
    return DeclaredMaintenance(row[0], tuple(row[1]), *row[2:])


async def _audit(
    db: asyncpg.Connection,
    at_ms: int,
    action: str,
    principal: tuple[str, str],
    window: DeclaredMaintenance,
) -> None:
    await db.execute(
        f"INSERT INTO maintenance_audit ({_AUDIT_COLUMNS})"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        at_ms,
        action,
        *principal,
        window.id,
        list(window.slas),
        window.start_ms,
        window.end_ms,
        window.reason,
        window.created_ms,
        window.kind,
        window.category,
    )
