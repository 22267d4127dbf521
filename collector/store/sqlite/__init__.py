"""The SQLite store, the embedded default: one file, WAL mode, one collector process.

`SqliteStore(path)` implements `slawatch.collector.store.Store`, one module per table family
over one connection and thread model (`connections`):
- `ingest` and `ingest_transaction`: samples in, runs and rollups kept exact in any arrival order;
- `samples`: their reads; `retention`: pruning;
- `maintenance`, `outbox` (alerts), `keys`, `sessions` (browser sessions, share links);
- `migrations` (the schema), `histograms` (a rollup's encoding), `backup` (`slawatch backup`),
  `integrity` (`PRAGMA quick_check`).
"""

from __future__ import annotations

from slawatch.collector.store.sqlite.keys import SqliteKeys
from slawatch.collector.store.sqlite.maintenance import SqliteMaintenance
from slawatch.collector.store.sqlite.outbox import SqliteOutbox
from slawatch.collector.store.sqlite.retention import SqliteRetention
from slawatch.collector.store.sqlite.samples import SqliteSampleReads
from slawatch.collector.store.sqlite.sessions import SqliteSessions


class SqliteStore(
    SqliteSampleReads, SqliteRetention, SqliteMaintenance, SqliteOutbox, SqliteKeys, SqliteSessions
):
    """`store = SqliteStore(path)`, then `await store.open()`; one instance per file and
    process."""


__all__ = ["SqliteStore"]
