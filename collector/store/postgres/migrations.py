"""The PostgreSQL store's schema: numbered migrations, applied in order at open, under an
advisory lock so that collectors starting together on a new database migrate it once.

Tables (as SQLite's, `slawatch.collector.store.sqlite.migrations`, with these differences):
- `samples` is partitioned by time (declarative range partitioning on `ts_ms`, one partition a
  UTC day, `samples_dYYYYMMDD`, made on demand by `partitions`): retention drops whole days.
- `series` also keeps what SQLite's `checks` table holds, per (check, agent): each series is
  written only under its own advisory lock, so two collectors never wait on one `checks` row;
  `seen_checks` merges them.
- rollup histograms are two arrays (buckets, counts) instead of a BLOB.
- `late_samples` (migration 5) has `samples`' primary key: a duplicate is refused there too.
"""

from __future__ import annotations

import asyncpg
import structlog

log = structlog.get_logger()

MIGRATION_LOCK = (0x534C4157, 0)
"""(namespace, key) of the advisory lock held while migrating."""

MIGRATIONS: tuple[str, ...] = (
    # 1: samples, derived runs and rollups, series and agents seen, maintenance, alerts, keys
    """
    CREATE TABLE series (
        id SERIAL PRIMARY KEY,
        check_id TEXT NOT NULL,
        agent TEXT NOT NULL,
        type TEXT,
        interval_ms BIGINT,
        first_seen_ms BIGINT,
        last_seen_ms BIGINT,
        UNIQUE (check_id, agent)
    );
    CREATE TABLE samples (
        series INTEGER NOT NULL,
        ts_ms BIGINT NOT NULL,
        ok BOOLEAN NOT NULL,
        latency_ms DOUBLE PRECISION,
        interval_ms BIGINT NOT NULL,
        status_code INTEGER,
        error TEXT,
        dns_us DOUBLE PRECISION,
        connect_us DOUBLE PRECISION,
        tls_us DOUBLE PRECISION,
        ttfb_us DOUBLE PRECISION,
        transfer_us DOUBLE PRECISION,
        tls_expires DOUBLE PRECISION,
        PRIMARY KEY (series, ts_ms)
    ) PARTITION BY RANGE (ts_ms);
    CREATE TABLE runs (
        series INTEGER NOT NULL,
        start_ms BIGINT NOT NULL,
        end_ms BIGINT NOT NULL,
        ok BOOLEAN NOT NULL,
        error TEXT,
        last_ts_ms BIGINT NOT NULL,
        last_interval_ms BIGINT NOT NULL,
        samples INTEGER NOT NULL,
        PRIMARY KEY (series, start_ms)
    );
    CREATE INDEX runs_by_end ON runs (series, end_ms);
    CREATE TABLE rollups (
        series INTEGER NOT NULL,
        hour_ms BIGINT NOT NULL,
        samples INTEGER NOT NULL,
        ok_samples INTEGER NOT NULL,
        latency_sum_ms DOUBLE PRECISION NOT NULL,
        buckets SMALLINT[] NOT NULL,
        counts INTEGER[] NOT NULL,
        PRIMARY KEY (series, hour_ms)
    );
    CREATE TABLE agents (
        id TEXT PRIMARY KEY,
        labels TEXT NOT NULL,
        last_push_ms BIGINT NOT NULL
    );
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value BIGINT NOT NULL
    );
    CREATE TABLE maintenance (
        id BIGSERIAL PRIMARY KEY,
        start_ms BIGINT NOT NULL,
        end_ms BIGINT NOT NULL,
        reason TEXT NOT NULL,
        created_ms BIGINT NOT NULL
    );
    CREATE TABLE maintenance_slas (
        sla TEXT NOT NULL,
        maintenance BIGINT NOT NULL REFERENCES maintenance (id) ON DELETE CASCADE,
        PRIMARY KEY (sla, maintenance)
    );
    CREATE INDEX maintenance_slas_by_window ON maintenance_slas (maintenance);
    CREATE TABLE alert_outbox (
        seq BIGSERIAL PRIMARY KEY,
        id TEXT NOT NULL,
        channel TEXT NOT NULL,
        kind TEXT NOT NULL,
        subject TEXT,
        run_ms BIGINT,
        event TEXT NOT NULL,
        body BYTEA NOT NULL,
        headers TEXT NOT NULL,
        status TEXT NOT NULL,
        grouped BOOLEAN NOT NULL,
        created_ms BIGINT NOT NULL,
        due_ms BIGINT NOT NULL,
        released_ms BIGINT,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_status INTEGER,
        last_error TEXT,
        finished_ms BIGINT,
        merged_into TEXT,
        UNIQUE (channel, id)
    );
    CREATE INDEX alert_outbox_queue ON alert_outbox (channel, status, seq);
    CREATE INDEX alert_outbox_finished ON alert_outbox (finished_ms);
    CREATE TABLE alert_open (
        rule TEXT NOT NULL,
        subject TEXT NOT NULL,
        topic TEXT NOT NULL,
        state TEXT NOT NULL,
        PRIMARY KEY (rule, subject, topic)
    );
    CREATE TABLE alert_marks (
        key TEXT PRIMARY KEY,
        at_ms BIGINT NOT NULL
    );
    CREATE TABLE secrets (
        name TEXT PRIMARY KEY,
        value BYTEA NOT NULL
    );
    """,
    # 2: how far `slawatch migrate-store` has copied an SQLite store (`from_sqlite`)
    """
    CREATE TABLE import_progress (
        step TEXT PRIMARY KEY,
        series BIGINT NOT NULL,
        position BIGINT NOT NULL,
        finished BOOLEAN NOT NULL
    );
    """,
    # 3: browser sessions (`/login`) and share links, by the SHA-256 of their secret
    """
    CREATE TABLE sessions (
        key_sha256 BYTEA PRIMARY KEY,
        kind TEXT NOT NULL,
        principal TEXT NOT NULL,
        csrf TEXT NOT NULL,
        created_ms BIGINT NOT NULL,
        expires_ms BIGINT NOT NULL
    );
    CREATE INDEX sessions_by_principal ON sessions (kind, principal);
    CREATE TABLE share_links (
        id TEXT PRIMARY KEY,
        key_sha256 BYTEA NOT NULL UNIQUE,
        customer TEXT NOT NULL,
        created_ms BIGINT NOT NULL,
        expires_ms BIGINT NOT NULL,
        revoked_ms BIGINT
    );
    """,
    # 4: exclusions after the fact (kind, category) and the audit log of declared windows
    """
    ALTER TABLE maintenance ADD COLUMN kind TEXT NOT NULL DEFAULT 'maintenance';
    ALTER TABLE maintenance ADD COLUMN category TEXT;
    CREATE TABLE maintenance_audit (
        id BIGSERIAL PRIMARY KEY,
        at_ms BIGINT NOT NULL,
        action TEXT NOT NULL,
        principal_kind TEXT NOT NULL,
        principal_id TEXT NOT NULL,
        window_id BIGINT NOT NULL,
        slas TEXT[] NOT NULL,
        start_ms BIGINT NOT NULL,
        end_ms BIGINT NOT NULL,
        reason TEXT NOT NULL,
        created_ms BIGINT NOT NULL,
        kind TEXT NOT NULL,
        category TEXT
    );
    """,
    # 5: late samples set aside at ingest, merged into runs and rollups in batches
    # (`late_samples`); a plain table with `samples`' columns and primary key
    """
    CREATE TABLE late_samples (LIKE samples INCLUDING ALL);
    """,
)
"""Numbered from 1 by position; a new migration is appended, never edited once released."""


async def schema_version(db: asyncpg.Connection) -> int:
    """The number of migrations applied (0 on a database without slawatch's tables)."""
    exists = await db.fetchval("SELECT to_regclass('schema_version') IS NOT NULL")
    if not exists:
        return 0
    version = await db.fetchval("SELECT MAX(version) FROM schema_version")
    return int(version or 0)


async def migrate(db: asyncpg.Connection) -> None:
    """Apply the pending migrations, each in a transaction of its own, holding the migration
    lock; refuse a database of a newer schema than this slawatch knows (RuntimeError)."""
    await db.execute("SELECT pg_advisory_lock($1, $2)", *MIGRATION_LOCK)
    try:
        await db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        current = await schema_version(db)
        if current > len(MIGRATIONS):
            raise RuntimeError(
                f"the database has schema version {current}, newer than this slawatch knows"
                f" ({len(MIGRATIONS)}): upgrade slawatch"
            )
        for version in range(current + 1, len(MIGRATIONS) + 1):
            async with db.transaction():
                await db.execute(MIGRATIONS[version - 1])
                await db.execute("INSERT INTO schema_version VALUES ($1)", version)
            log.info("database_migrated", version=version)
    finally:
        await db.execute("SELECT pg_advisory_unlock($1, $2)", *MIGRATION_LOCK)


class UnreadableDatabaseError(Exception):
    """Not a slawatch database this slawatch can read."""


async def check_readable(db: asyncpg.Connection) -> None:
    """UnreadableDatabaseError unless `db` is a slawatch database of exactly this schema."""
    version = await schema_version(db)
    if version == 0:
        raise UnreadableDatabaseError("not a slawatch database (no schema_version)")
    if version != len(MIGRATIONS):
        raise UnreadableDatabaseError(
            f"the database has schema version {version}, this slawatch reads {len(MIGRATIONS)}: "
            + ("upgrade slawatch" if version > len(MIGRATIONS)
               else "start the collector once to upgrade the database")
        )  # fmt: skip
