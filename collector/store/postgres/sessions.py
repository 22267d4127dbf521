"""Browser sessions and share links, in the PostgreSQL store (`SessionStore`)."""

from __future__ import annotations

from slawatch.collector.store.postgres.connections import PostgresConnections
from slawatch.collector.store.records import BrowserSession, ShareLink

_SESSION_COLUMNS = "key_sha256, kind, principal, csrf, created_ms, expires_ms"
_LINK_COLUMNS = "id, customer, created_ms, expires_ms, revoked_ms"


class PostgresSessions(PostgresConnections):
    async def add_session(self, session: BrowserSession) -> None:
        await self.pool.execute(
            f"INSERT INTO sessions ({_SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)",
            session.key_sha256,
            session.kind,
            session.principal,
            session.csrf,
            session.created_ms,
            session.expires_ms,
        )

    async def session(self, key_sha256: bytes, now_ms: int) -> BrowserSession | None:
        row = await self.pool.fetchrow(
            f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE key_sha256 = $1 AND expires_ms > $2",
            key_sha256,
            now_ms,
        )
        return None if row is None else BrowserSession(bytes(row[0]), *row[1:])

    async def delete_session(self, key_sha256: bytes) -> bool:
        status = await self.pool.execute("DELETE FROM sessions WHERE key_sha256 = $1", key_sha256)
        return _count(status) > 0

    async def delete_sessions(self, kind: str, principal: str) -> int:
        status = await self.pool.execute(
            "DELETE FROM sessions WHERE kind = $1 AND principal = $2", kind, principal
        )
        return _count(status)

    async def prune_sessions(self, now_ms: int) -> int:
        status = await self.pool.execute("DELETE FROM sessions WHERE expires_ms <= $1", now_ms)
        return _count(status)

    async def add_share_link(self, link: ShareLink, key_sha256: bytes) -> None:
        await self.pool.execute(
            f"INSERT INTO share_links ({_LINK_COLUMNS}, key_sha256)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            link.id,
            link.customer,
            link.created_ms,
            link.expires_ms,
            link.revoked_ms,
            key_sha256,
        )

    async def share_link(self, key_sha256: bytes, now_ms: int) -> ShareLink | None:
        row = await self.pool.fetchrow(
            f"SELECT {_LINK_COLUMNS} FROM share_links"
            " WHERE key_sha256 = $1 AND expires_ms > $2 AND revoked_ms IS NULL",
            key_sha256,
            now_ms,
        )
        return None if row is None else ShareLink(*row)

    async def share_links(self) -> list[ShareLink]:
        rows = await self.pool.fetch(
            f"SELECT {_LINK_COLUMNS} FROM share_links WHERE revoked_ms IS NULL"
            " ORDER BY created_ms DESC, id"
        )
        return [ShareLink(*row) for row in rows]

    async def revoke_share_link(self, link_id: str, now_ms: int) -> bool:
        status = await self.pool.execute(
            "UPDATE share_links SET revoked_ms = $1 WHERE id = $2 AND revoked_ms IS NULL",
            now_ms,
            link_id,
        )
        return _count(status) > 0


def _count(status: str) -> int:
    """The rows a statement touched, from asyncpg's command tag (`DELETE 3`, `UPDATE 1`)."""
    return int(status.rsplit(" ", 1)[-1])
