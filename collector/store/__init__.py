"""The collector's store: the one place with SQL, behind Protocols by table family.

The rest of the collector imports from here: the Protocols (`Store` and the narrower ones of
`protocols`), the values stores take and give (`records`, `slawatch.collector.samples.SampleRow`,
`slawatch.collector.engine.timeline.Run`), and `create_store`, which picks the backend from
`collector.database`. Backends are packages beside this module (`sqlite/`), imported only when
chosen; nothing here has an import-time side effect.
"""

from __future__ import annotations

from slawatch.collector.store.factory import StoreUnavailableError, create_store, database_label
from slawatch.collector.store.protocols import (
    KeyStore,
    MaintenanceStore,
    OutboxStore,
    SampleStore,
    SessionStore,
    Store,
    StoreLifecycle,
)
from slawatch.collector.store.records import (
    EXCLUSION_CATEGORIES,
    RAW_SAMPLE_COLUMNS,
    AlertChanges,
    AuditEntry,
    BrowserSession,
    CsvSampleRows,
    DeclaredMaintenance,
    IngestResult,
    LastSample,
    NewNotification,
    Notification,
    OpenAlert,
    RawSample,
    SeenAgent,
    SeenCheck,
    ShareLink,
)

__all__ = [
    "EXCLUSION_CATEGORIES",
    "RAW_SAMPLE_COLUMNS",
    "AlertChanges",
    "AuditEntry",
    "BrowserSession",
    "CsvSampleRows",
    "DeclaredMaintenance",
    "IngestResult",
    "KeyStore",
    "LastSample",
    "MaintenanceStore",
    "NewNotification",
    "Notification",
    "OpenAlert",
    "OutboxStore",
    "RawSample",
    "SampleStore",
    "SeenAgent",
    "SeenCheck",
    "SessionStore",
    "ShareLink",
    "Store",
    "StoreLifecycle",
    "StoreUnavailableError",
    "create_store",
    "database_label",
]
