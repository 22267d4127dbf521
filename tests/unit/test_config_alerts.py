"""The `alerts:` section's newer keys: rule ids, events, burn rate, flapping, storm window, rate
limit, digest; defaults, and a clear error naming the path of every bad value."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from slawatch.config.loader import ConfigError, parse_config
from slawatch.config.schema import (
    ALERT_EVENTS,
    DEFAULT_BURN_RATE,
    AlertsConfig,
    BurnRateWindow,
    DigestSettings,
    FlappingSettings,
    RateLimit,
)

BASE = """
collector: {listen: 127.0.0.1:0}
slas: [{id: shop, checks: [web], objective: 99.9}]
alerts:
  channels: [{id: ops, type: slack, url: "https://hooks.example/x"}]
"""


def alerts_of(extra: str, tmp_path: Path) -> AlertsConfig:
    return parse_config(BASE + extra, base_dir=tmp_path, process="collector").alerts


def problems_of(extra: str, tmp_path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(BASE + extra, base_dir=tmp_path, process="check")
    return caught.value.render()


def test_defaults(tmp_path: Path) -> None:
    alerts = alerts_of("  rules: [{checks: ['*'], channels: [ops]}]\n", tmp_path)
    rule = alerts.rules[0]
    assert rule.events == ALERT_EVENTS
    assert rule.burn_rate == DEFAULT_BURN_RATE
    assert [(w.long, w.short, w.factor, w.severity) for w in DEFAULT_BURN_RATE] == [
        (3600, 300, 14.4, "page"),
        (21600, 1800, 6, "page"),
        (259200, 21600, 1, "ticket"),
    ]
    assert rule.flapping == FlappingSettings(changes=5, window=600, settle=600)
    assert alerts.group_window == 30
    assert alerts.rate_limit == RateLimit(20, 600)
    assert alerts.digest is None
    assert rule.sends("resolved") and rule.sends("burn_rate")


def test_every_new_key_read(tmp_path: Path) -> None:
    alerts = alerts_of(
        """
  group_window: 10s
  rate_limit: {messages: 5, per: 2m}
  digest: {channels: [ops], weekday: friday, at: 08:30, timezone: Europe/Paris}
  rules:
    - id: web-down
      checks: ["web*"]
      channels: [ops]
      events: [down, resolved, down]
      resolved: false
      flapping: {changes: 3, window: 5m}
      burn_rate: false
    - slas: [shop]
      channels: [ops]
      flapping: false
      burn_rate:
        - {long: 1h, short: 5m, factor: 10}
        - {severity: ticket, long: 1d, short: 2h, factor: "1.5"}
""",
        tmp_path,
    )
    first, second = alerts.rules
    assert first.id == "web-down"
    assert first.events == ("down", "resolved")
    assert first.sends("down") and not first.sends("resolved") and not first.sends("reminder")
    assert first.flapping == FlappingSettings(3, 300, 300)
    assert first.burn_rate == ()
    assert second.flapping is None
    assert second.burn_rate == (
        BurnRateWindow(3600, 300, 10, "page"),
        BurnRateWindow(86400, 7200, 1.5, "ticket"),
    )
    assert alerts.group_window == 10
    assert alerts.rate_limit == RateLimit(5, 120)
    assert alerts.digest == DigestSettings(("ops",), "friday", time(8, 30), "Europe/Paris")


def test_rate_limit_may_be_turned_off_and_digest_has_defaults(tmp_path: Path) -> None:
    alerts = alerts_of(
        "  rate_limit: false\n  group_window: 0\n  digest: {channels: [ops]}\n", tmp_path
    )
    assert alerts.rate_limit is None
    assert alerts.group_window == 0
    assert alerts.digest == DigestSettings(("ops",), "monday", time(9, 0), "UTC")


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("  group_window: -5s\n", "alerts.group_window: must be a duration"),
        (
            "  rate_limit: {messages: 0, per: 1m}\n",
            "alerts.rate_limit.messages: must be at least 1",
        ),
        ("  rate_limit: {messages: 3}\n", "alerts.rate_limit.per: is required"),
        (
            "  rate_limit: {messages: 3, per: 1m, burst: 2}\n",
            "alerts.rate_limit.burst: unknown key",
        ),
        ("  digest: {channels: [nope]}\n", "alerts.digest.channels[0]: unknown channel 'nope'"),
        ("  digest: {channels: []}\n", "alerts.digest.channels: must name at least one channel"),
        ("  digest: {weekday: monday}\n", "alerts.digest.channels: is required"),
        ("  digest: {channels: [ops], weekday: funday}\n", "alerts.digest.weekday: must be one of"),
        ("  digest: {channels: [ops], at: '9h'}\n", "alerts.digest.at: must be a time of day"),
        ("  digest: {channels: [ops], timezone: Mars/Base}\n", "alerts.digest.timezone: unknown"),
        (
            "  rules: [{checks: ['*'], channels: [ops], events: [down, boom]}]\n",
            "alerts.rules[0].events: 'boom' is not an event",
        ),
        (
            "  rules: [{checks: ['*'], channels: [ops], events: []}]\n",
            "alerts.rules[0].events: must be a list of events",
        ),
        (
            "  rules: [{checks: ['*'], channels: [ops], flapping: {changes: 1}}]\n",
            "alerts.rules[0].flapping.changes: must be at least 2",
        ),
        (
            "  rules: [{checks: ['*'], channels: [ops], flapping: {window: 0s}}]\n",
            "alerts.rules[0].flapping.window: must be more than 0",
        ),
        (
            "  rules: [{checks: ['*'], channels: [ops], flapping: {every: 1m}}]\n",
            "alerts.rules[0].flapping.every: unknown key",
        ),
        (
            "  rules: [{slas: [shop], channels: [ops], burn_rate: 3}]\n",
            "alerts.rules[0].burn_rate: must be false or a list",
        ),
        (
            "  rules: [{slas: [shop], channels: [ops], burn_rate: [{long: 5m, short: 1h, "
            "factor: 2}]}]\n",
            "alerts.rules[0].burn_rate[0].short: must be shorter than long",
        ),
        (
            "  rules: [{slas: [shop], channels: [ops], burn_rate: [{long: 1h, short: 5m, "
            "factor: 0}]}]\n",
            "alerts.rules[0].burn_rate[0].factor: must be more than 0",
        ),
        (
            "  rules: [{slas: [shop], channels: [ops], burn_rate: [{long: 1h, short: 5m, "
            "factor: 2, severity: urgent}]}]\n",
            "alerts.rules[0].burn_rate[0].severity: must be one of page, ticket",
        ),
        (
            "  rules: [{slas: [shop], channels: [ops], burn_rate: [{short: 5m, factor: 2}]}]\n",
            "alerts.rules[0].burn_rate[0].long: is required",
        ),
        (
            "  rules: [{id: a, checks: ['*'], channels: [ops]}, {id: a, slas: [shop], "
            "channels: [ops]}]\n",
            "alerts.rules[1].id: duplicate rule id 'a'",
        ),
    ],
)
def test_bad_values_are_named_by_path(tmp_path: Path, extra: str, expected: str) -> None:
    assert expected in problems_of(extra, tmp_path)


def test_example_collector_file_is_valid() -> None:
    example = Path(__file__).parents[2] / "config" / "collector.yaml"
    config = parse_config(
        example.read_text(encoding="utf-8"),
        base_dir=example.parent,
        process="check",
        environ={
            "SLAWATCH_ADMIN_TOKEN": "admin-0123456789abcdef",
            "EU1_TOKEN": "eu1-0123456789abcdef",
            "ACME_TOKEN": "acme-0123456789abcdef",
            "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/x",
            "HOOK_SECRET": "secret-0123456789",
            "TICKETS_HOOK_URL": "https://tickets.example/hook",
            "US1_TOKEN_SHA256": "ab" * 32,
        },
    )
    assert config.alerts.digest is not None
    assert any(rule.id for rule in config.alerts.rules)
