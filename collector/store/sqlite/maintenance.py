"""Windows declared at run time (maintenance and exclusions) and their audit log, in the SQLite
store. A declaration or a deletion and its audit line commit in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aiosqlite

from slawatch.collector.engine.timeline import FOREVER_MS
from slawatch.collector.store.records import AuditEntry, DeclaredMaintenance, WindowKind
from slawatch.collector.store.sqlite.connections import SqliteConnections

_WINDOW_COLUMNS = "m.id, group_concat(s.sla, ' '), m.start_ms, m.end_ms, m.reason, m.created_ms"
_AUDIT_COLUMNS = (
    "id, at_ms, action, principal_kind, principal_id, window_id, slas, start_ms, end_ms, reason,"
    " created_ms, kind, category"
)


class SqliteMaintenance(SqliteConnections):
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
        async with self.write_transaction() as writer:
            cursor = await writer.execute(
                "INSERT INTO maintenance (start_ms, end_ms, reason, created_ms, kind, category)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (start_ms, end_ms, reason, created_ms, kind, category),
            )
            maintenance_id = cursor.lastrowid
            assert maintenance_id is not None
            await writer.executemany(
                "INSERT INTO maintenance_slas (sla, maintenance) VALUES (?, ?)",
                [(sla, maintenance_id) for sla in covered],
            )
            window = DeclaredMaintenance(
                maintenance_id, tuple(covered), start_ms, end_ms, reason, created_ms, kind, category
            )
            await _audit(writer, created_ms, "declare", principal, window)
        return window

    async def delete_maintenance(
        self,
        maintenance_id: int,
        *,
        at_ms: int | None = None,
        principal: tuple[str, str] = ("admin", "admin"),
    ) -> bool:
        async with self.write_transaction() as writer:
            async with writer.execute(
                f"SELECT {_WINDOW_COLUMNS}, m.kind, m.category FROM maintenance m"
                " JOIN maintenance_slas s ON s.maintenance = m.id WHERE m.id = ? GROUP BY m.id",
                (maintenance_id,),
            ) as cursor:
                row = await cursor.fetchone()
            cursor = await writer.execute("DELETE FROM maintenance WHERE id = ?", (maintenance_id,))
            found = cursor.rowcount > 0
            await writer.execute(
                "DELETE FROM maintenance_slas WHERE maintenance = ?", (maintenance_id,)
            )
            if found and row is not None:
                window = _window(row)
                when = window.created_ms if at_ms is None else at_ms
                await _audit(writer, when, "delete", principal, window)
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
            f"SELECT {_WINDOW_COLUMNS}, m.kind, m.category"
            " FROM maintenance m JOIN maintenance_slas s ON s.maintenance = m.id"
            f" WHERE m.end_ms > ? AND m.start_ms < ?{which}"
            " GROUP BY m.id ORDER BY m.start_ms, m.id",
            (start_ms, end_ms, *(slas or ())),
        ) as cursor:
            return [_window(row) for row in await cursor.fetchall()]

    async def audit_log(
        self, slas: Sequence[str] | None = None, *, limit: int = 1000
    ) -> list[AuditEntry]:
        if slas is not None and not slas:
            return []
        which, wanted = "", tuple(sorted(set(slas or ())))
        if slas is not None:
            which = " WHERE " + " OR ".join("instr(' ' || slas || ' ', ?) > 0" for _ in wanted)
        async with self.reader.execute(
            f"SELECT {_AUDIT_COLUMNS} FROM maintenance_audit{which} ORDER BY id DESC LIMIT ?",
            (*(f" {sla} " for sla in wanted), limit),
        ) as cursor:
            rows = await cursor.fetchall()
        return [
            AuditEntry(
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                DeclaredMaintenance(
                    row[5], tuple(row[6].split(" ")), row[7], row[8], row[9], row[10], *row[11:]
                ),
            )
            for row in rows
        ]


def _window(row: Sequence[Any]) -> DeclaredMaintenance:
    return DeclaredMaintenance(row[0], tuple(sorted(row[1].split(" "))), *row[2:])


async def _audit(
    writer: aiosqlite.Connection,
    at_ms: int,
    action: str,
    principal: tuple[str, str],
    window: DeclaredMaintenance,
) -> None:
    await writer.execute(
        f"INSERT INTO maintenance_audit ({_AUDIT_COLUMNS.removeprefix('id, ')})"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            at_ms,
            action,
            *principal,
            window.id,
            " ".join(window.slas),
            window.start_ms,
            window.end_ms,
            window.reason,
            window.created_ms,
            window.kind,
            window.category,
        ),
    )
