"""Keys the collector generates once and keeps, in the SQLite store."""

from __future__ import annotations

import secrets

from slawatch.collector.store.sqlite.connections import SqliteConnections

LINK_KEY_BYTES = 32


class SqliteKeys(SqliteConnections):
    async def link_key(self) -> bytes:
        async with self.write_transaction() as writer:
            await writer.execute(
                "INSERT OR IGNORE INTO secrets (name, value) VALUES ('link_key', ?)",
                (secrets.token_bytes(LINK_KEY_BYTES),),
            )
            async with writer.execute(
                "SELECT value FROM secrets WHERE name = 'link_key'"
            ) as cursor:
                row = await cursor.fetchone()
        assert row is not None
        return bytes(row[0])
