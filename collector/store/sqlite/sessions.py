"""Browser sessions and share links, in the SQLite store (`SessionStore`)."""

from __future__ import annotations

from slawatch.collector.store.records import BrowserSession, ShareLink
from slawatch.collector.store.sqlite.connections import SqliteConnections

_LINK_COLUMNS = "id, customer, created_ms, expires_ms, revoked_ms"


class SqliteSessions(SqliteConnections):
    async def add_session(self, session: BrowserSession) -> None:
        async with self.write_transaction() as writer:
            await writer.execute(
                "INSERT INTO sessions (key_sha256, kind, principal, csrf, created_ms, expires_ms)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    session.key_sha256,
                    session.kind,
                    session.principal,
                    session.csrf,
                    session.created_ms,
                    session.expires_ms,
                ),
            )

    async def session(self, key_sha256: bytes, now_ms: int) -> BrowserSession | None:
        async with self.reader.execute(
            "SELECT key_sha256, kind, principal, csrf, created_ms, expires_ms FROM sessions"
            " WHERE key_sha256 = ? AND expires_ms > ?",
            (key_sha256, now_ms),
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else BrowserSession(bytes(row[0]), *row[1:])

    async def delete_session(self, key_sha256: bytes) -> bool:
        async with self.write_transaction() as writer:
            cursor = await writer.execute(
                "DELETE FROM sessions WHERE key_sha256 = ?", (key_sha256,)
            )
            return cursor.rowcount > 0

    async def delete_sessions(self, kind: str, principal: str) -> int:
        async with self.write_transaction() as writer:
            cursor = await writer.execute(
                "DELETE FROM sessions WHERE kind = ? AND principal = ?", (kind, principal)
            )
            return cursor.rowcount

    async def prune_sessions(self, now_ms: int) -> int:
        async with self.write_transaction() as writer:
            cursor = await writer.execute("DELETE FROM sessions WHERE expires_ms <= ?", (now_ms,))
            return cursor.rowcount

    async def add_share_link(self, link: ShareLink, key_sha256: bytes) -> None:
        async with self.write_transaction() as writer:
            await writer.execute(
                f"INSERT INTO share_links ({_LINK_COLUMNS}, key_sha256) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    link.id,
                    link.customer,
                    link.created_ms,
                    link.expires_ms,
                    link.revoked_ms,
                    key_sha256,
                ),
            )

    async def share_link(self, key_sha256: bytes, now_ms: int) -> ShareLink | None:
        async with self.reader.execute(
            f"SELECT {_LINK_COLUMNS} FROM share_links"
            " WHERE key_sha256 = ? AND expires_ms > ? AND revoked_ms IS NULL",
            (key_sha256, now_ms),
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else ShareLink(*row)

    async def share_links(self) -> list[ShareLink]:
        async with self.reader.execute(
            f"SELECT {_LINK_COLUMNS} FROM share_links WHERE revoked_ms IS NULL"
            " ORDER BY created_ms DESC, id"
        ) as cursor:
            return [ShareLink(*row) for row in await cursor.fetchall()]

    async def revoke_share_link(self, link_id: str, now_ms: int) -> bool:
        async with self.write_transaction() as writer:
            cursor = await writer.execute(
                "UPDATE share_links SET revoked_ms = ? WHERE id = ? AND revoked_ms IS NULL",
                (now_ms, link_id),
            )
            return cursor.rowcount > 0
