"""An Uptime Kuma database as Uptime Kuma 1.23 / 2.x lays it out, for the import tests.

The tables and columns are those of Uptime Kuma's published schema (`db/knex_init_db.js` and
the patches it folds in: `timeout` from patch-add-timeout-monitor, `invert_keyword`,
`resend_interval`, `retry_interval`), restricted to the tables the import reads plus `setting`
and `knex_migrations`, which say the schema's version. Values are stored as Uptime Kuma stores
them: booleans as 0/1, `time` as UTC `YYYY-MM-DD HH:MM:SS.SSS`, notification settings as a JSON
text in `config`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE setting (
    id INTEGER PRIMARY KEY AUTOINCREMENT, key VARCHAR(200) NOT NULL UNIQUE, value TEXT,
    type VARCHAR(20));
CREATE TABLE knex_migrations (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name VARCHAR(255), batch INTEGER,
    migration_time DATETIME);
CREATE TABLE monitor (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name VARCHAR(150), active BOOLEAN NOT NULL DEFAULT 1,
    user_id INTEGER, interval INTEGER NOT NULL DEFAULT 20, url TEXT, type VARCHAR(20),
    weight INTEGER DEFAULT 2000, hostname VARCHAR(255), port INTEGER,
    created_date DATETIME NOT NULL DEFAULT (DATETIME('now')), keyword VARCHAR(255),
    maxretries INTEGER NOT NULL DEFAULT 0, ignore_tls BOOLEAN NOT NULL DEFAULT 0,
    upside_down BOOLEAN NOT NULL DEFAULT 0, maxredirects INTEGER NOT NULL DEFAULT 10,
    accepted_statuscodes_json TEXT NOT NULL DEFAULT '["200-299"]',
    dns_resolve_type VARCHAR(5), dns_resolve_server VARCHAR(255), dns_last_result VARCHAR(255),
    retry_interval INTEGER NOT NULL DEFAULT 0, push_token VARCHAR(20) DEFAULT NULL,
    method TEXT NOT NULL DEFAULT 'GET', body TEXT DEFAULT NULL, headers TEXT DEFAULT NULL,
    basic_auth_user TEXT DEFAULT NULL, basic_auth_pass TEXT DEFAULT NULL,
    resend_interval INTEGER NOT NULL DEFAULT 0, packet_size INTEGER NOT NULL DEFAULT 56,
    timeout DOUBLE NOT NULL DEFAULT 0, invert_keyword BOOLEAN NOT NULL DEFAULT 0,
    description TEXT DEFAULT NULL, parent INTEGER);
CREATE TABLE heartbeat (
    id INTEGER PRIMARY KEY AUTOINCREMENT, important BOOLEAN NOT NULL DEFAULT 0,
    monitor_id INTEGER NOT NULL REFERENCES monitor(id) ON DELETE CASCADE,
    status SMALLINT NOT NULL, msg TEXT, time DATETIME NOT NULL, ping INTEGER,
    duration INTEGER NOT NULL DEFAULT 0, down_count INTEGER NOT NULL DEFAULT 0);
CREATE INDEX monitor_time_index ON heartbeat (monitor_id, time);
CREATE TABLE notification (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name VARCHAR(255), active BOOLEAN NOT NULL DEFAULT 1,
    user_id INTEGER, is_default BOOLEAN NOT NULL DEFAULT 0, config TEXT);
CREATE TABLE monitor_notification (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    monitor_id INTEGER NOT NULL REFERENCES monitor(id) ON DELETE CASCADE,
    notification_id INTEGER NOT NULL REFERENCES notification(id) ON DELETE CASCADE);
"""


def build(
    path: Path,
    monitors: Sequence[Mapping[str, Any]],
    notifications: Sequence[Mapping[str, Any]] = (),
    links: Sequence[tuple[int, int]] = (),
    heartbeats: Sequence[Mapping[str, Any]] = (),
    *,
    schema: str = SCHEMA,
) -> Path:
    """A database at `path` with these rows; a notification's `config` is given as a dict."""
    db = sqlite3.connect(path)
    try:
        db.executescript(schema)
        db.execute(
            "INSERT INTO knex_migrations (name, batch) VALUES ('2023-10-16-0000-create-remote-browsers.js', 1)"
        )
        for monitor in monitors:
            _insert(db, "monitor", monitor)
        for notification in notifications:
            row = dict(notification)
            row["config"] = json.dumps(row["config"])
            _insert(db, "notification", row)
        for monitor_id, notification_id in links:
            _insert(
                db,
                "monitor_notification",
                {"monitor_id": monitor_id, "notification_id": notification_id},
            )
        for beat in heartbeats:
            _insert(db, "heartbeat", beat)
        db.commit()
    finally:
        db.close()
    return path


def _insert(db: sqlite3.Connection, table: str, row: Mapping[str, Any]) -> None:
    columns = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    db.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", tuple(row.values()))
