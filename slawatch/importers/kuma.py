"""`slawatch import uptime-kuma KUMA.db`: Uptime Kuma's monitors and notifications as slawatch
checks, channels and rules.

Read from Uptime Kuma's SQLite database (the `monitor`, `notification` and `monitor_notification`
tables of its schema, 1.x patches and 2.x knex migrations alike), opened read-only: the file is
never changed, and Uptime Kuma may keep running meanwhile.

What maps: monitor types `http`, `keyword` (its keyword: `body_contains`), `port` (a tcp check),
`ping` (icmp) and `dns`; interval, timeout, accepted status codes, method, body, headers,
redirects, TLS verification. Retries become the `after` of an alert rule: Uptime Kuma marks a
monitor DOWN after `maxretries` failed retries `retry_interval` apart, so slawatch alerts once it
has been DOWN that long. Notifications of type webhook, slack, discord, telegram, teams,
mattermost, Google Chat, ntfy and PagerDuty become channels; their URLs and tokens are secrets,
written as `${VARIABLES}`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from slawatch.importers.model import (
    Imported,
    ImportedChannel,
    ImportedCheck,
    ImportedRule,
    Skipped,
    SourceError,
    check_id,
    env_name,
    new_secret,
    seconds_text,
)

TOOL = "Uptime Kuma"
REQUIRED = {
    "monitor": (
        "id", "name", "active", "interval", "url", "type", "hostname", "port", "keyword",
        "maxretries", "accepted_statuscodes_json",
    ),
    "heartbeat": ("monitor_id", "status", "msg", "time", "ping"),
    "notification": ("id", "name", "active", "config"),
    "monitor_notification": ("monitor_id", "notification_id"),
}  # fmt: skip
MAX_INTERVAL_S = 86400
DEFAULT_TIMEOUT_SHARE = 0.8
"""Uptime Kuma's timeout when a monitor has none (0): 80 % of its interval."""


@dataclass(frozen=True, slots=True)
class KumaDatabase:
    """The database's rows the import reads, as plain mappings."""

    path: Path
    version: str
    monitors: list[dict[str, Any]]
    notifications: list[dict[str, Any]]
    links: list[tuple[int, int]]
    """(monitor id, notification id)."""


def connect(path: Path, *, any_thread: bool = False) -> sqlite3.Connection:
    """`path` opened read-only, or SourceError naming it; `any_thread` for a connection used
    from worker threads in turn."""
    if not path.is_file():
        raise SourceError(f"{path}: no such file")
    try:
        uri = f"file:{quote(str(path.resolve()))}?mode=ro"
        db = sqlite3.connect(uri, uri=True, check_same_thread=not any_thread)
        db.row_factory = sqlite3.Row
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as error:
        raise SourceError(f"{path}: not an Uptime Kuma database (not SQLite: {error})") from None
    return db


def check_schema(db: sqlite3.Connection, path: Path) -> str:
    """The schema version said by the database; SourceError if its tables are not Kuma's."""
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "monitor" not in tables or "heartbeat" not in tables:
        raise SourceError(f"{path}: not an Uptime Kuma database (no monitor and heartbeat tables)")
    version = _version(db, tables)
    missing = []
    for table, columns in REQUIRED.items():
        have = {row[1] for row in db.execute(f"PRAGMA table_info([{table}])")}
        missing += [f"{table}.{c}" for c in columns if c not in have]
    if missing:
        raise SourceError(
            f"{path}: Uptime Kuma database of an unsupported schema version ({version}): "
            f"{', '.join(missing)} missing; open it once with Uptime Kuma 1.23 or later so that "
            "it upgrades its schema, then import again"
        )
    return version


def _version(db: sqlite3.Connection, tables: set[str]) -> str:
    if "knex_migrations" in tables:
        row = db.execute("SELECT name FROM knex_migrations ORDER BY id DESC LIMIT 1").fetchone()
        return f"migration {row[0]}" if row else "no migration"
    if "setting" in tables:
        row = db.execute("SELECT value FROM setting WHERE key = 'database_version'").fetchone()
        if row is not None:
            return f"database_version {row[0]}"
    return "unknown version"


def read_database(path: Path) -> KumaDatabase:
    db = connect(path)
    try:
        version = check_schema(db, path)
        monitors = [dict(r) for r in db.execute("SELECT * FROM monitor ORDER BY id")]
        notifications = [dict(r) for r in db.execute("SELECT * FROM notification ORDER BY id")]
        links = [
            (int(r[0]), int(r[1]))
            for r in db.execute(
                "SELECT monitor_id, notification_id FROM monitor_notification ORDER BY id"
            )
        ]
    except sqlite3.Error as error:
        raise SourceError(f"{path}: cannot read the Uptime Kuma database: {error}") from None
    finally:
        db.close()
    return KumaDatabase(path, version, monitors, notifications, links)


def import_database(path: Path) -> Imported:
    database = read_database(path)
    taken: set[str] = set()
    checks: list[ImportedCheck] = []
    skipped: list[Skipped] = []
    check_of_monitor: dict[int, ImportedCheck] = {}
    for monitor in database.monitors:
        label = f"monitor {monitor['id']} {monitor['name']!r} ({monitor['type']})"
        if not monitor["active"]:
            skipped.append(Skipped(label, "paused in Uptime Kuma"))
            continue
        try:
            check = monitor_check(monitor, taken, label)
        except Unmapped as reason:
            skipped.append(Skipped(label, str(reason)))
            continue
        checks.append(check)
        check_of_monitor[int(monitor["id"])] = check
    channels, secrets, channel_of = _channels(database.notifications, skipped)
    rules = _rules(database, check_of_monitor, channel_of)
    return Imported(
        tool=f"{TOOL} ({database.version})",
        file=str(path),
        checks=tuple(checks),
        channels=tuple(channels),
        rules=tuple(rules),
        skipped=tuple(skipped),
        secrets=secrets,
    )


class Unmapped(Exception):
    """Why a monitor or notification has no slawatch equivalent."""


def monitor_check(monitor: Mapping[str, Any], taken: set[str], label: str) -> ImportedCheck:
    kind = monitor["type"]
    interval = min(int(monitor["interval"] or 60), MAX_INTERVAL_S)
    if monitor.get("upside_down"):
        raise Unmapped("upside-down mode (UP when the target fails) has no slawatch equivalent")
    notes: list[str] = []
    if kind in ("http", "keyword"):
        data = _http(monitor, notes)
    elif kind == "port":
        data = _port(monitor)
    elif kind == "ping":
        if not monitor.get("hostname"):
            raise Unmapped("no hostname")
        data = {"type": "icmp", "host": monitor["hostname"]}
    elif kind == "dns":
        data = _dns(monitor)
    else:
        raise Unmapped(f"monitor type {kind!r} has no slawatch check type")
    data = {
        "id": check_id(str(monitor["name"] or ""), taken, f"kuma-{monitor['id']}"),
        **data,
        "interval": seconds_text(interval),
    }
    timeout = float(monitor.get("timeout") or 0) or interval * DEFAULT_TIMEOUT_SHARE
    data["timeout"] = seconds_text(min(timeout, interval))
    return ImportedCheck(
        data=_ordered(data), source=label, notes=tuple(notes), origin=int(monitor["id"])
    )


def _http(monitor: Mapping[str, Any], notes: list[str]) -> dict[str, Any]:
    url = monitor.get("url") or ""
    if not url.lower().startswith(("http://", "https://")):
        raise Unmapped(f"URL {url!r} is not http(s)")
    data: dict[str, Any] = {"url": url}
    method = str(monitor.get("method") or "GET").upper()
    if method != "GET":
        data["method"] = method
    headers = _headers(monitor.get("headers"))
    if headers:
        data["headers"] = headers
    if monitor.get("body"):
        data["body"] = monitor["body"]
    if int(monitor.get("maxredirects", 10) or 0) > 0:
        data["follow_redirects"] = True
    if monitor.get("ignore_tls"):
        data["tls_skip_verify"] = True
    if monitor.get("basic_auth_user"):
        notes.append(
            "Basic authentication not imported: put `user:password@` in the url from a ${VARIABLE}"
        )
    expect: dict[str, Any] = {"status": _status_codes(monitor.get("accepted_statuscodes_json"))}
    if monitor["type"] == "keyword":
        if monitor.get("invert_keyword"):
            raise Unmapped("an inverted keyword (UP when absent) has no slawatch equivalent")
        if not monitor.get("keyword"):
            raise Unmapped("keyword monitor without a keyword")
        expect["body_contains"] = monitor["keyword"]
    data["expect"] = expect
    return data


def _headers(text: Any) -> dict[str, str]:
    if not text:
        return {}
    try:
        headers = json.loads(text)
    except ValueError:
        raise Unmapped("its headers are not JSON") from None
    if not isinstance(headers, dict):
        raise Unmapped("its headers are not a JSON object")
    return {str(k): str(v) for k, v in headers.items()}


def _status_codes(text: Any) -> list[Any]:
    try:
        codes = json.loads(text or '["200-299"]')
    except ValueError:
        raise Unmapped("its accepted status codes are not JSON") from None
    out: list[Any] = []
    for raw in codes if isinstance(codes, list) else []:
        code = str(raw).strip()
        out.append(int(code) if code.isdigit() else code)
    if not out:
        raise Unmapped("no accepted status codes")
    return out


def _port(monitor: Mapping[str, Any]) -> dict[str, Any]:
    if not monitor.get("hostname") or not monitor.get("port"):
        raise Unmapped("no hostname or port")
    return {"type": "tcp", "host": monitor["hostname"], "port": int(monitor["port"])}


def _dns(monitor: Mapping[str, Any]) -> dict[str, Any]:
    name = monitor.get("hostname")
    server = monitor.get("dns_resolve_server") or "1.1.1.1"
    record = str(monitor.get("dns_resolve_type") or "A").upper()
    if record not in ("A", "AAAA", "CNAME", "MX", "TXT", "NS", "SOA"):
        raise Unmapped(f"DNS record type {record} is not one slawatch queries")
    if not name:
        raise Unmapped("no hostname to resolve")
    port = int(monitor.get("port") or 53)
    host = f"[{server}]" if ":" in server else server
    return {"url": f"dns://{host}:{port}/{name}?type={record}"}


KEY_ORDER = (
    "id", "type", "url", "host", "port", "method", "headers", "body", "follow_redirects",
    "tls_skip_verify", "interval", "timeout", "expect",
)  # fmt: skip


def _ordered(data: dict[str, Any]) -> dict[str, Any]:
    return {key: data[key] for key in KEY_ORDER if key in data} | {
        key: value for key, value in data.items() if key not in KEY_ORDER
    }


CHANNEL_TYPES = {
    # Kuma type: (slawatch type, {slawatch key: key of the notification's config JSON})
    "slack": ("slack", {"url": "slackwebhookURL"}),
    "discord": ("discord", {"url": "discordWebhookUrl"}),
    "teams": ("teams", {"url": "webhookUrl"}),
    "mattermost": ("mattermost", {"url": "mattermostWebhookUrl"}),
    "GoogleChat": ("googlechat", {"url": "googleChatWebhookURL"}),
    "telegram": ("telegram", {"bot_token": "telegramBotToken", "chat_id": "telegramChatID"}),
    "PagerDuty": ("pagerduty", {"routing_key": "pagerdutyIntegrationKey"}),
    "webhook": ("webhook", {"url": "webhookURL"}),
}
PUBLIC_KEYS = frozenset({"chat_id"})


def _channels(
    notifications: list[dict[str, Any]], skipped: list[Skipped]
) -> tuple[list[ImportedChannel], dict[str, str], dict[int, str]]:
    taken: set[str] = set()
    channels: list[ImportedChannel] = []
    secrets: dict[str, str] = {}
    channel_of: dict[int, str] = {}
    for row in notifications:
        label = f"notification {row['id']} {row['name']!r}"
        try:
            config = json.loads(row["config"] or "{}")
        except ValueError:
            skipped.append(Skipped(label, "its config is not JSON", "channels"))
            continue
        kind = config.get("type") if isinstance(config, dict) else None
        label = f"{label} ({kind})"
        if not row["active"]:
            skipped.append(Skipped(label, "disabled in Uptime Kuma", "channels"))
            continue
        try:
            data, notes, values = _channel(kind, config, str(row["name"] or ""), taken)
        except Unmapped as reason:
            skipped.append(Skipped(label, str(reason), "channels"))
            continue
        secrets.update(values)
        channels.append(ImportedChannel(data=data, source=label, notes=notes))
        channel_of[int(row["id"])] = data["id"]
    return channels, secrets, channel_of


def _channel(
    kind: Any, config: Mapping[str, Any], name: str, taken: set[str]
) -> tuple[dict[str, Any], tuple[str, ...], dict[str, str]]:
    notes: tuple[str, ...] = ()
    if kind == "ntfy":
        server = str(config.get("ntfyserverurl") or "https://ntfy.sh").rstrip("/")
        if not config.get("ntfytopic"):
            raise Unmapped("no topic")
        values = {"url": f"{server}/{config['ntfytopic']}", "token": config.get("ntfyaccesstoken")}
        slawatch_type = "ntfy"
    elif kind in CHANNEL_TYPES:
        slawatch_type, keys = CHANNEL_TYPES[kind]
        values = {key: config.get(kuma_key) for key, kuma_key in keys.items()}
        missing = [keys[key] for key, value in values.items() if not value]
        if missing:
            raise Unmapped(f"{', '.join(missing)} not set")
    else:
        raise Unmapped(f"notification type {kind!r} has no slawatch channel type")
    channel_id = check_id(name, taken, f"kuma-{slawatch_type}")
    data: dict[str, Any] = {"id": channel_id, "type": slawatch_type}
    secrets: dict[str, str] = {}
    for key, value in values.items():
        if value in (None, ""):
            continue
        if key in PUBLIC_KEYS:
            data[key] = str(value)
        else:
            variable = env_name(channel_id, key)
            data[key] = f"${{{variable}}}"
            secrets[variable] = str(value)
    if slawatch_type == "webhook":
        variable = env_name(channel_id, "secret")
        data["secret"] = f"${{{variable}}}"
        secrets[variable] = new_secret()
        notes = (
            "slawatch posts its own signed JSON event (see the webhook channel), not Uptime "
            "Kuma's payload: adapt the receiver",
        )
    return data, notes, secrets


def _rules(
    database: KumaDatabase,
    check_of_monitor: Mapping[int, ImportedCheck],
    channel_of: Mapping[int, str],
) -> list[ImportedRule]:
    """One rule per imported monitor that notifies a mapped channel: `after` from its
    retries, `repeat` from its resend interval."""
    monitors = {int(m["id"]): m for m in database.monitors}
    channels_of: dict[int, list[str]] = {}
    for monitor_id, notification_id in database.links:
        if monitor_id in check_of_monitor and notification_id in channel_of:
            channels_of.setdefault(monitor_id, []).append(channel_of[notification_id])
    rules = []
    for monitor_id, channels in channels_of.items():
        monitor = monitors[monitor_id]
        interval = int(monitor["interval"] or 60)
        retries = int(monitor.get("maxretries") or 0)
        retry_interval = int(monitor.get("retry_interval") or 0) or interval
        after = retries * retry_interval
        data: dict[str, Any] = {
            "checks": [check_of_monitor[monitor_id].id],
            "channels": sorted(set(channels), key=channels.index),
            "after": seconds_text(after),
        }
        resend = int(monitor.get("resend_interval") or 0)
        if resend:
            data["repeat"] = seconds_text(resend * interval)
        why = (
            f"Uptime Kuma: DOWN after {retries} retries {retry_interval}s apart"
            if retries
            else "Uptime Kuma: DOWN at the first failure"
        )
        if resend:
            why += f"; resent every {resend} beats"
        rules.append(ImportedRule(data=data, why=why))
    return rules
