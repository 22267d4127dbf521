"""`slawatch import uptime-kuma|gatus` as a user runs it (issue 18, "Import"): the printed YAML
is what is expected, line for line, `slawatch check-config` accepts it, secrets go to the
environment file only, and a file that is not the tool's is one line naming it, exit 2."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from tests.kuma_db import build
from tests.support import run_slawatch

SLACK_URL = "https://hooks.slack.com/services/T000/B000/kuma-secret-1"
HOOK_URL = "https://tickets.acme.example/kuma-hook-secret-2"
BOT_TOKEN = "123456:kuma-bot-token-secret-3"

MONITORS = [
    {
        "id": 1, "name": "Main website", "type": "http", "url": "https://acme.example/health",
        "interval": 60, "maxretries": 2, "retry_interval": 30, "timeout": 48,
        "accepted_statuscodes_json": '["200-299"]', "resend_interval": 10,
    },
    {
        "id": 2, "name": "API: status (keyword)", "type": "keyword",
        "url": "http://api.acme.example/status", "keyword": "all good", "interval": 30,
        "accepted_statuscodes_json": '["200", "301"]', "method": "POST",
        "body": '{"ping": true}', "headers": '{"Content-Type": "application/json"}',
        "maxredirects": 0, "ignore_tls": 1,
    },
    {
        "id": 3, "name": "Database", "type": "port", "hostname": "db.acme.example",
        "port": 5432, "interval": 120, "timeout": 10,
    },
    {"id": 4, "name": "Container", "type": "docker", "interval": 60},
    {"id": 5, "name": "Old site", "type": "http", "url": "https://old.acme.example/", "active": 0},
    {
        "id": 6, "name": "No errors page", "type": "keyword", "url": "https://acme.example/",
        "keyword": "error", "invert_keyword": 1, "interval": 60,
    },
    {"id": 7, "name": "Main website", "type": "ping", "hostname": "acme.example", "interval": 20},
]  # fmt: skip
NOTIFICATIONS = [
    {"id": 1, "name": "Ops Slack", "config": {"type": "slack", "slackwebhookURL": SLACK_URL}},
    {"id": 2, "name": "Tickets", "config": {"type": "webhook", "webhookURL": HOOK_URL, "webhookContentType": "json"}},
    {"id": 3, "name": "On-call", "config": {"type": "telegram", "telegramBotToken": BOT_TOKEN, "telegramChatID": "-1001234"}},
    {"id": 4, "name": "Mail", "config": {"type": "smtp", "smtpHost": "mail.acme.example"}},
]  # fmt: skip
LINKS = [(1, 1), (1, 2), (3, 3), (4, 1), (3, 4)]

KUMA_YAML = """\
# Imported from Uptime Kuma (migration 2023-10-16-0000-create-remote-browsers.js): {kuma}
# by `slawatch import`. Check it with `slawatch check-config FILE`.
# Secrets are ${{VARIABLES}} of the environment: their values are in {env_file}.
checks:
  # monitor 1 'Main website' (http)
  - id: main-website
    url: https://acme.example/health
    follow_redirects: true
    interval: 1m
    timeout: 48s
    expect: {{status: [200-299]}}
  # monitor 2 'API: status (keyword)' (keyword)
  - id: api-status-keyword
    url: http://api.acme.example/status
    method: POST
    headers: {{Content-Type: application/json}}
    body: '{{"ping": true}}'
    tls_skip_verify: true
    interval: 30s
    timeout: 24s
    expect: {{status: [200, 301], body_contains: all good}}
  # monitor 3 'Database' (port)
  - id: database
    type: tcp
    host: db.acme.example
    port: 5432
    interval: 2m
    timeout: 10s
  # monitor 7 'Main website' (ping)
  - id: main-website-2
    type: icmp
    host: acme.example
    interval: 20s
    timeout: 16s
  # not imported: monitor 4 'Container' (docker): monitor type 'docker' has no slawatch check type
  # not imported: monitor 5 'Old site' (http): paused in Uptime Kuma
  # not imported: monitor 6 'No errors page' (keyword): an inverted keyword (UP when absent) has no slawatch equivalent
alerts:
  channels:
    # notification 1 'Ops Slack' (slack)
    - id: ops-slack
      type: slack
      url: ${{OPS_SLACK_URL}}
    # notification 2 'Tickets' (webhook)
    # slawatch posts its own signed JSON event (see the webhook channel), not Uptime Kuma's payload: adapt the receiver
    - id: tickets
      type: webhook
      url: ${{TICKETS_URL}}
      secret: ${{TICKETS_SECRET}}
    # notification 3 'On-call' (telegram)
    - id: on-call
      type: telegram
      bot_token: ${{ON_CALL_BOT_TOKEN}}
      chat_id: '-1001234'
    # not imported: notification 4 'Mail' (smtp): notification type 'smtp' has no slawatch channel type
  rules:
    # Uptime Kuma: DOWN after 2 retries 30s apart; resent every 10 beats
    - checks: [main-website]
      channels: [ops-slack, tickets]
      after: 1m
      repeat: 10m
    # Uptime Kuma: DOWN at the first failure
    - checks: [database]
      channels: [on-call]
      after: 0s
"""

GATUS_CONFIG = """\
alerting:
  slack:
    webhook-url: "https://hooks.slack.com/services/gatus-secret-4"
    default-alert:
      failure-threshold: 2
      send-on-resolved: true
  discord:
    webhook-url: "${DISCORD_WEBHOOK}"
  telegram:
    token: "123:gatus-telegram-secret-5"
    id: "0123456789"
  custom:
    url: "https://hooks.acme.example/gatus-secret-6"
    method: POST
    body: '{"text": "[ALERT_DESCRIPTION]"}'
  twilio:
    sid: "x"
    token: "y"
    from: "+1"
    to: "+2"
endpoints:
  - name: website
    group: core
    url: "https://acme.example/health"
    interval: 5m
    conditions:
      - "[STATUS] == 200"
      - "[RESPONSE_TIME] < 300"
      - "[BODY] == pat(*UP*)"
      - "[CERTIFICATE_EXPIRATION] > 48h"
    alerts:
      - type: slack
      - type: discord
        failure-threshold: 5
        send-on-resolved: true
  - name: api
    url: "https://api.acme.example/v1/status"
    method: POST
    body: '{"check": true}'
    headers:
      Content-Type: application/json
    client:
      timeout: 3s
      insecure: true
    conditions:
      - "[STATUS] == any(200, 204)"
      - "[BODY].status == UP"
    alerts:
      - type: telegram
        failure-threshold: 1
      - type: custom
  - name: postgres
    url: "tcp://db.acme.example:5432"
    interval: 30s
    conditions:
      - "[CONNECTED] == true"
      - "[RESPONSE_TIME] < 100"
  - name: ping
    url: "icmp://acme.example"
    conditions: ["[CONNECTED] == true"]
  - name: ssh
    url: "ssh://acme.example:22"
    conditions: ["[CONNECTED] == true"]
  - name: old
    enabled: false
    url: "https://old.acme.example/"
"""
GATUS_SECRETS = ("gatus-secret-4", "gatus-telegram-secret-5", "gatus-secret-6")

GATUS_YAML = """\
# Imported from Gatus: {gatus}
# by `slawatch import`. Check it with `slawatch check-config FILE`.
# Secrets are ${{VARIABLES}} of the environment: their values are in {env_file}.
checks:
  # endpoint core/website
  - id: core-website
    url: https://acme.example/health
    follow_redirects: true
    interval: 5m
    timeout: 10s
    expect: {{status: [200], max_latency: 300ms, body_contains: UP, tls_min_days: 2}}
  # endpoint api
  # condition `[BODY].status == UP` not imported: slawatch does not read JSON paths of the body
  - id: api
    url: https://api.acme.example/v1/status
    method: POST
    headers: {{Content-Type: application/json}}
    body: '{{"check": true}}'
    follow_redirects: true
    tls_skip_verify: true
    interval: 1m
    timeout: 3s
    expect: {{status: [200, 204]}}
  # endpoint postgres
  - id: postgres
    url: tcp://db.acme.example:5432
    interval: 30s
    timeout: 10s
    expect: {{max_latency: 100ms}}
  # endpoint ping
  - id: ping
    type: icmp
    host: acme.example
    interval: 1m
    timeout: 10s
  # not imported: endpoint ssh: URL 'ssh://acme.example:22': slawatch has no check for ssh
  # not imported: endpoint old: disabled in Gatus
alerts:
  channels:
    # alerting provider slack
    - id: slack
      type: slack
      url: ${{SLACK_URL}}
    # alerting provider discord
    - id: discord
      type: discord
      url: ${{DISCORD_WEBHOOK}}
    # alerting provider telegram
    - id: telegram
      type: telegram
      bot_token: ${{TELEGRAM_BOT_TOKEN}}
      chat_id: 0123456789
    # alerting provider custom
    # slawatch posts its own signed JSON event (see the webhook channel), not Gatus' custom body: adapt the receiver
    - id: custom
      type: webhook
      url: ${{CUSTOM_URL}}
      secret: ${{CUSTOM_SECRET}}
    # not imported: alerting provider twilio: slawatch has no channel of this type
  rules:
    # Gatus: alert after 2 failures in a row, 5m apart
    - checks: [core-website]
      channels: [slack]
      after: 5m
      resolved: true
    # Gatus: alert after 5 failures in a row, 5m apart
    - checks: [core-website]
      channels: [discord]
      after: 20m
      resolved: true
    # Gatus: alert after 1 failure, 1m apart
    - checks: [api]
      channels: [telegram]
      after: 0s
      resolved: false
    # Gatus: alert after 3 failures in a row, 1m apart
    - checks: [api]
      channels: [custom]
      after: 2m
      resolved: false
"""


@pytest.fixture
def kuma(tmp_path: Path) -> Path:
    return build(tmp_path / "kuma.db", MONITORS, NOTIFICATIONS, LINKS)


@pytest.fixture
def gatus(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(GATUS_CONFIG, encoding="utf-8")
    return path


def read_env(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines())
    return {name: value.strip("'") for name, value in pairs}


def accepted_by_check_config(yaml_text: str, tmp_path: Path, env: dict[str, str]) -> None:
    imported = tmp_path / "imported.yaml"
    imported.write_text(yaml_text, encoding="utf-8")
    result = run_slawatch(["check-config", str(imported)], env=env)
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout


def test_kuma_prints_expected_yaml_and_check_config_accepts_it(kuma: Path, tmp_path: Path) -> None:
    env_file = tmp_path / "secrets.env"
    result = run_slawatch(["import", "uptime-kuma", str(kuma), "--env-file", str(env_file)])
    assert result.returncode == 0, result.stderr
    assert result.stdout == KUMA_YAML.format(kuma=kuma, env_file=env_file)
    for secret in (SLACK_URL, HOOK_URL, BOT_TOKEN):
        assert secret not in result.stdout
        assert secret not in result.stderr
    secrets = read_env(env_file)
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert secrets["OPS_SLACK_URL"] == SLACK_URL
    assert secrets["TICKETS_URL"] == HOOK_URL
    assert secrets["ON_CALL_BOT_TOKEN"] == BOT_TOKEN
    assert len(secrets["TICKETS_SECRET"]) == 64  # a new signing key: Uptime Kuma has none
    accepted_by_check_config(result.stdout, tmp_path, secrets)


def test_kuma_without_env_file_says_how_to_get_the_secrets(kuma: Path) -> None:
    result = run_slawatch(["import", "uptime-kuma", str(kuma)])
    assert result.returncode == 0, result.stderr
    assert "run the import again with --env-file FILE" in result.stdout
    assert SLACK_URL not in result.stdout


def test_env_file_is_never_overwritten(kuma: Path, tmp_path: Path) -> None:
    env_file = tmp_path / "existing.env"
    env_file.write_text("KEEP=1\n", encoding="utf-8")
    result = run_slawatch(["import", "uptime-kuma", str(kuma), "--env-file", str(env_file)])
    assert result.returncode == 2
    assert f"{env_file} exists" in result.stderr
    assert env_file.read_text(encoding="utf-8") == "KEEP=1\n"


def test_gatus_prints_expected_yaml_and_check_config_accepts_it(
    gatus: Path, tmp_path: Path
) -> None:
    env_file = tmp_path / "secrets.env"
    result = run_slawatch(["import", "gatus", str(gatus), "--env-file", str(env_file)])
    assert result.returncode == 0, result.stderr
    assert result.stdout == GATUS_YAML.format(gatus=gatus, env_file=env_file)
    for secret in GATUS_SECRETS:
        assert secret not in result.stdout
    secrets = read_env(env_file)
    assert "DISCORD_WEBHOOK" not in secrets  # a ${VARIABLE} of Gatus' file stays one
    env = {**secrets, "DISCORD_WEBHOOK": "https://discord.com/api/webhooks/1/x"}
    accepted_by_check_config(result.stdout, tmp_path, env)


def not_sqlite(tmp_path: Path) -> Path:
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 50, encoding="utf-8")
    return path


def other_sqlite(tmp_path: Path) -> Path:
    path = tmp_path / "other.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE things (id INTEGER)")
    db.commit()
    db.close()
    return path


def old_kuma(tmp_path: Path) -> Path:
    """Uptime Kuma's first schema (1.0, `database_version` 1): no accepted status codes yet."""
    schema = """
    CREATE TABLE setting (id INTEGER PRIMARY KEY, key VARCHAR(200) UNIQUE, value TEXT, type VARCHAR(20));
    INSERT INTO setting (key, value) VALUES ('database_version', '1');
    CREATE TABLE monitor (id INTEGER PRIMARY KEY, name VARCHAR(150), active BOOLEAN DEFAULT 1,
        interval INTEGER DEFAULT 20, url TEXT, type VARCHAR(20), hostname VARCHAR(255),
        port INTEGER, keyword VARCHAR(255));
    CREATE TABLE heartbeat (id INTEGER PRIMARY KEY, monitor_id INTEGER, status SMALLINT,
        msg TEXT, time DATETIME, ping INTEGER);
    CREATE TABLE notification (id INTEGER PRIMARY KEY, name VARCHAR(255), active BOOLEAN, config TEXT);
    CREATE TABLE monitor_notification (id INTEGER PRIMARY KEY, monitor_id INTEGER, notification_id INTEGER);
    """
    path = tmp_path / "old-kuma.db"
    db = sqlite3.connect(path)
    db.executescript(schema)
    db.close()
    return path


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (not_sqlite, "not an Uptime Kuma database (not SQLite"),
        (other_sqlite, "not an Uptime Kuma database (no monitor and heartbeat tables)"),
        (
            old_kuma,
            "Uptime Kuma database of an unsupported schema version (database_version 1): monitor.maxretries, monitor.accepted_statuscodes_json missing",
        ),
        (lambda tmp: tmp / "missing.db", "no such file"),
    ],
)
def test_kuma_bad_input_is_one_line_exit_2(make, says: str, tmp_path: Path) -> None:
    path = make(tmp_path)
    result = run_slawatch(["import", "uptime-kuma", str(path)])
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"slawatch import: {path}: ")
    assert says in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("endpoints:\n  - name: a\n    url: [unclosed\n", "not valid YAML: line 4, column 1"),
        ("- just\n- a list\n", "not a Gatus config"),
        ("web:\n  port: 8080\n", "not a Gatus config (no `endpoints`)"),
    ],
)
def test_gatus_bad_input_is_one_line_exit_2(text: str, says: str, tmp_path: Path) -> None:
    path = tmp_path / "gatus.yaml"
    path.write_text(text, encoding="utf-8")
    result = run_slawatch(["import", "gatus", str(path)])
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"slawatch import: {path}: {says}")
    assert len(result.stderr.splitlines()) == 1


def test_gatus_unreadable_file_names_it(tmp_path: Path) -> None:
    path = tmp_path / "gatus.yaml"
    path.write_bytes(b"\xff\xfe not text")
    result = run_slawatch(["import", "gatus", str(path)])
    assert result.returncode == 2
    assert result.stderr.startswith(f"slawatch import: {path}: ")
    assert "Traceback" not in result.stderr


def test_history_needs_a_config_and_only_kuma_has_one(kuma: Path, gatus: Path) -> None:
    result = run_slawatch(["import", "uptime-kuma", str(kuma), "--history"])
    assert (result.returncode, result.stdout) == (2, "")
    assert "--history needs --config FILE" in result.stderr
    result = run_slawatch(["import", "gatus", str(gatus), "--history", "--config", "x.yaml"])
    assert (result.returncode, result.stdout) == (2, "")
    assert "only Uptime Kuma keeps a history" in result.stderr


def test_gatus_malformed_endpoints_are_skipped_saying_why(tmp_path: Path) -> None:
    path = tmp_path / "gatus.yaml"
    path.write_text(
        "endpoints:\n"
        "  - {name: a, url: 'https://a.example/', client: oops}\n"
        "  - {name: b, url: 'https://b.example/', alerts: [{type: slack, failure-threshold: many}]}\n"
        "  - just-a-string\n"
        "  - {name: c, url: 'https://c.example/'}\n"
        "alerting:\n  slack: {webhook-url: 'https://hooks.slack.com/x'}\n",
        encoding="utf-8",
    )
    result = run_slawatch(["import", "gatus", str(path)])
    assert result.returncode == 0, result.stderr
    assert "# not imported: endpoint a: not an endpoint as Gatus documents them" in result.stdout
    assert "# not imported: endpoint b: not an endpoint as Gatus documents them" in result.stdout
    assert "# not imported: endpoints[2]: not a mapping" in result.stdout
    assert "  - id: c\n" in result.stdout
    assert "Traceback" not in result.stderr
