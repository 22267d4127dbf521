"""The SQLite store's schema: numbered migrations, applied in order at open.

Tables:
- `series`: (check, agent) interned to an integer, so the big tables carry one small key.
- `samples`: raw samples keyed (series, ts_ms), WITHOUT ROWID; pruned after `retention.raw`.
  Phases are kept in whole microseconds: SQLite stores a whole REAL as an integer of 1-4 bytes,
  a float as 8, and every byte of a sample row is B-tree work on the ingest path (a sample of
  the bench: 40 bytes instead of 64, 35 % fewer pages; the store alone, in process, ingests 2
  million samples 10 % faster).
- `runs`: one agent's view of one check as runs of state
  (`slawatch.collector.engine.timeline.Run`), kept exact whatever the arrival order.
- `rollups`: per (series, hour): sample count, ok count, latency sum and a histogram of the ok
  samples' latencies (`slawatch.collector.engine.latency`; encoded by `histograms`).
- `checks`, `agents`: every check seen (type, last interval, first/last seen) and the latest
  labels of every agent.
- `late_samples`: samples older than their series' newest, stored (so acknowledged) but not yet
  merged into runs and rollups: merged in batches, then moved to `samples` (`ingest_transaction`).
  Rows go at the end of the table, its index reads them back by series; emptied at each merge.
- `meta`: `raw_horizon_ms`, the prune cutoff of raw samples.
- `maintenance`, `maintenance_slas`: windows declared at run time, maintenance or exclusions.
- `maintenance_audit`: every declaration and deletion of a window, the window copied whole.
- `alert_outbox`, `alert_open`, `alert_marks`: the alerts' durable outbox and state.
- `secrets`: keys generated once (the link key).
- `sessions`, `share_links`: browser sessions and share links, by the SHA-256 of their secret.
"""

from __future__ import annotations

import sqlite3

import aiosqlite
import structlog

log = structlog.get_logger()

MIGRATIONS: tuple[str, ...] = (
    # 1: samples, derived runs and rollups, checks and agents seen
    """
    CREATE TABLE series (
        id INTEGER PRIMARY KEY,
        check_id TEXT NOT NULL,
        agent TEXT NOT NULL,
        UNIQUE (check_id, agent)
    );
    CREATE TABLE samples (
        series INTEGER NOT NULL,
        ts_ms INTEGER NOT NULL,
        ok INTEGER NOT NULL,
        latency_ms REAL,
        interval_ms INTEGER NOT NULL,
        status_code INTEGER,
        error TEXT,
        dns_ms REAL,
        connect_ms REAL,
        tls_ms REAL,
        ttfb_ms REAL,
        transfer_ms REAL,
        tls_expires REAL,
        PRIMARY KEY (series, ts_ms)
    ) WITHOUT ROWID;
    CREATE TABLE runs (
        series INTEGER NOT NULL,
        start_ms INTEGER NOT NULL,
        end_ms INTEGER NOT NULL,
        ok INTEGER NOT NULL,
        error TEXT,
        last_ts_ms INTEGER NOT NULL,
        last_interval_ms INTEGER NOT NULL,
        samples INTEGER NOT NULL,
        PRIMARY KEY (series, start_ms)
    ) WITHOUT ROWID;
    CREATE INDEX runs_by_end ON runs (series, end_ms);
    CREATE TABLE rollups (
        series INTEGER NOT NULL,
        hour_ms INTEGER NOT NULL,
        samples INTEGER NOT NULL,
        ok_samples INTEGER NOT NULL,
        latency_sum_ms REAL NOT NULL,
        histogram BLOB NOT NULL,
        PRIMARY KEY (series, hour_ms)
    ) WITHOUT ROWID;
    CREATE TABLE checks (
        id TEXT PRIMARY KEY,
        type TEXT,
        interval_ms INTEGER NOT NULL,
        first_seen_ms INTEGER NOT NULL,
        last_seen_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE agents (
        id TEXT PRIMARY KEY,
        labels TEXT NOT NULL,
        last_push_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    ) WITHOUT ROWID;
    """,
    # 2: maintenance windows declared at run time (POST /api/v1/maintenance), for some SLAs
    """
    CREATE TABLE maintenance (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        start_ms INTEGER NOT NULL,
        end_ms INTEGER NOT NULL,
        reason TEXT NOT NULL,
        created_ms INTEGER NOT NULL
    );
    CREATE TABLE maintenance_slas (
        sla TEXT NOT NULL,
        maintenance INTEGER NOT NULL,
        PRIMARY KEY (sla, maintenance)
    ) WITHOUT ROWID;
    CREATE INDEX maintenance_slas_by_window ON maintenance_slas (maintenance);
    """,
    # 3: alerts: the durable outbox of notifications, open alerts, things decided once
    """
    CREATE TABLE alert_outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL,
        channel TEXT NOT NULL,
        kind TEXT NOT NULL,
        subject TEXT,
        run_ms INTEGER,
        event TEXT NOT NULL,
        body BLOB NOT NULL,
        headers TEXT NOT NULL,
        status TEXT NOT NULL,
        grouped INTEGER NOT NULL,
        created_ms INTEGER NOT NULL,
        due_ms INTEGER NOT NULL,
        released_ms INTEGER,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_status INTEGER,
        last_error TEXT,
        finished_ms INTEGER,
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
    ) WITHOUT ROWID;
    CREATE TABLE alert_marks (
        key TEXT PRIMARY KEY,
        at_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    """,
    # 4: keys the collector generates once and keeps (the signing key of links in alerts)
    """
    CREATE TABLE secrets (
        name TEXT PRIMARY KEY,
        value BLOB NOT NULL
    ) WITHOUT ROWID;
    """,
    # 5: a sample's phases in whole microseconds
    # (`slawatch.collector.ingest.batch.phase_microseconds`)
    """
    ALTER TABLE samples RENAME COLUMN dns_ms TO dns_us;
    ALTER TABLE samples RENAME COLUMN connect_ms TO connect_us;
    ALTER TABLE samples RENAME COLUMN tls_ms TO tls_us;
    ALTER TABLE samples RENAME COLUMN ttfb_ms TO ttfb_us;
    ALTER TABLE samples RENAME COLUMN transfer_ms TO transfer_us;
    UPDATE samples SET
        dns_us = round(dns_us * 1000),
        connect_us = round(connect_us * 1000),
        tls_us = round(tls_us * 1000),
        ttfb_us = round(ttfb_us * 1000),
        transfer_us = round(transfer_us * 1000)
    WHERE COALESCE(dns_us, connect_us, tls_us, ttfb_us, transfer_us) IS NOT NULL;
    """,
    # 6: browser sessions (`/login`) and share links, by the SHA-256 of their secret
    """
    CREATE TABLE IF NOT EXISTS sessions (
        key_sha256 BLOB PRIMARY KEY,
        kind TEXT NOT NULL,
        principal TEXT NOT NULL,
        csrf TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS sessions_by_principal ON sessions (kind, principal);
    CREATE TABLE IF NOT EXISTS share_links (
        id TEXT PRIMARY KEY,
        key_sha256 BLOB NOT NULL UNIQUE,
        customer TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL,
        revoked_ms INTEGER
    );
    """,
    # 7: exclusions after the fact (kind, category) and the audit log of declared windows
    """
    ALTER TABLE maintenance ADD COLUMN kind TEXT NOT NULL DEFAULT 'maintenance';
    ALTER TABLE maintenance ADD COLUMN category TEXT;
    CREATE TABLE maintenance_audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at_ms INTEGER NOT NULL,
        action TEXT NOT NULL,
        principal_kind TEXT NOT NULL,
        principal_id TEXT NOT NULL,
        window_id INTEGER NOT NULL,
        slas TEXT NOT NULL,
        start_ms INTEGER NOT NULL,
        end_ms INTEGER NOT NULL,
        reason TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        kind TEXT NOT NULL,
        category TEXT
    );
    """,
    # 8: late samples set aside until merged into runs and rollups (`ingest_transaction`)
    """
    CREATE TABLE late_samples (
        series INTEGER NOT NULL,
        ts_ms INTEGER NOT NULL,
        ok INTEGER NOT NULL,
        latency_ms REAL,
        interval_ms INTEGER NOT NULL,
        status_code INTEGER,
        error TEXT,
        dns_us REAL,
        connect_us REAL,
        tls_us REAL,
        ttfb_us REAL,
        transfer_us REAL,
        tls_expires REAL
    );
    CREATE INDEX late_samples_by_series ON late_samples (series, ts_ms);
    """,
)
"""Numbered from 1 by position; a new migration is appended, never edited once released."""


async def schema_version(db: aiosqlite.Connection) -> int:
    """The number of migrations applied to the database of `db`."""
    async with db.execute("SELECT MAX(version) FROM schema_version") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row and row[0] is not None else 0


async def migrate(db: aiosqlite.Connection) -> None:
    """Apply the pending migrations, each in a transaction of its own; refuse a database of a
    newer schema than this slawatch knows (RuntimeError)."""
    await db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    current = await schema_version(db)
    if current > len(MIGRATIONS):
        raise RuntimeError(
            f"the database has schema version {current}, newer than this slawatch knows"
            f" ({len(MIGRATIONS)}): upgrade slawatch"
        )
    for version in range(current + 1, len(MIGRATIONS) + 1):
        await db.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[version - 1].split(";"):
                if statement.strip():
                    await db.execute(statement)
            await db.execute("INSERT INTO schema_version VALUES (?)", (version,))
            await db.commit()
        except BaseException:
            await db.rollback()
            raise
        log.info("database_migrated", version=version)


async def check_readable(db: aiosqlite.Connection) -> None:
    """sqlite3.DatabaseError unless `db` is a slawatch database of exactly this schema (a read-only
    reader can neither migrate an older one nor read a newer one)."""
    try:
        version = await schema_version(db)
    except sqlite3.OperationalError:
        raise sqlite3.DatabaseError("not a slawatch database (no schema_version)") from None
    if version != len(MIGRATIONS):
        raise sqlite3.DatabaseError(
            f"the database has schema version {version}, this slawatch reads {len(MIGRATIONS)}: "
            + ("upgrade slawatch" if version > len(MIGRATIONS)
               else "start the collector once to upgrade the database")
        )  # fmt: skip
