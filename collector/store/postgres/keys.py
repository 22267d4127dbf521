"""Keys the collector generates once and keeps, in the PostgreSQL store: the first collector
to ask makes it, every other gets the same."""

from __future__ import annotations

import secrets

from slawatch.collector.store.postgres.connections import PostgresConnections

LINK_KEY_BYTES = 32


class PostgresKeys(PostgresConnections):
    async def link_key(self) -> bytes:
        async with self.write_transaction() as db:
            await db.execute(
                "INSERT INTO secrets (name, value) VALUES ('link_key', $1)"
                " ON CONFLICT (name) DO NOTHING",
                secrets.token_bytes(LINK_KEY_BYTES),
            )
            value = await db.fetchval("SELECT value FROM secrets WHERE name = 'link_key'")
        return bytes(value)
