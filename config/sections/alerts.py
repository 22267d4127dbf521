"""`alerts:` — channels (`sections.channels`), the rules that send to them, and how messages are
grouped, limited and summed up weekly."""

from __future__ import annotations

from typing import Any

from slawatch.config import contract
from slawatch.config.keys import Key, Kind, Table
from slawatch.config.reader import INVALID, KeyPath, Reader
from slawatch.config.schema import (
    ALERT_EVENTS,
    DEFAULT_BURN_RATE,
    DEFAULT_DIGEST_AT,
    DEFAULT_GROUP_WINDOW_S,
    DEFAULT_RATE_LIMIT,
    AlertRule,
    AlertsConfig,
    BurnRateWindow,
    DigestSettings,
    FlappingSettings,
    RateLimit,
)
from slawatch.config.sections import channels
from slawatch.config.values import (
    BOOLEAN,
    COUNT,
    DURATION,
    ID,
    IDS,
    MAPPING,
    MAPPINGS,
    POSITIVE_DURATION,
    TIME_OF_DAY,
    TIMEZONE,
    at_least,
    choice,
    format_duration,
    parse_glob_list,
    parse_int,
    parse_number,
    positive,
)


def parse_events(value: Any) -> tuple[str, ...]:
    words = ", ".join(ALERT_EVENTS)
    if not isinstance(value, list) or not value:
        raise ValueError(f"must be a list of events among {words}")
    for item in value:
        if item not in ALERT_EVENTS:
            raise ValueError(f"{str(item)[:40]!r} is not an event: use {words}")
    return tuple(dict.fromkeys(value))


EVENTS = Kind("list of events: " + ", ".join(ALERT_EVENTS), parse_events)
FLAPPING = FlappingSettings()

BURN_RATE = Table(
    (
        Key("long", POSITIVE_DURATION, "The long window.", required=True, example="1h"),
        Key("short", POSITIVE_DURATION, "The short window, shorter than `long`.", required=True),
        Key(
            "factor",
            Kind("number > 0", positive(parse_number)),
            "Times the sustainable burn rate, over both windows.",
            required=True,
            example="14.4",
        ),
        Key("severity", choice(("page", "ticket")), "Said in the message.", default="page"),
    )
)
FLAPPING_TABLE = Table(
    (
        Key(
            "changes",
            Kind("integer ≥ 2", at_least(2, parse_int)),
            "UP/DOWN changes within `window` that make one `flapping` message.",
            default=FLAPPING.changes,
            example="4",
        ),
        Key(
            "window",
            POSITIVE_DURATION,
            "The window the changes are counted in.",
            default=format_duration(FLAPPING.window),
        ),
        Key(
            "settle",
            POSITIVE_DURATION,
            "Quiet after a `flapping` message until the state has held this long.",
            default_doc="window",
            example="15m",
        ),
    )
)
RULE = Table(
    (
        Key(
            "id",
            ID,
            "Keeps the rule's open alerts when its other keys are edited.",
            example="web-down",
        ),
        Key(
            "checks",
            Kind("list of check ids or globs", parse_glob_list),
            'Checks it watches, by id or glob (`["*"]`, `["acme-*"]`).',
            example='["*"]',
        ),
        Key(
            "slas",
            IDS,
            "SLAs it watches (as services, and their error budgets).",
            example="[acme-website]",
        ),
        Key("channels", IDS, "Where it sends.", required=True, example="[ops-chat]"),
        Key(
            "after",
            DURATION,
            "`down` only once the target has been DOWN this long (from its first failing sample).",
            default="0s",
            example="2m",
        ),
        Key(
            "repeat",
            DURATION,
            "A `reminder` every this long while still down; 0: never.",
            default="0s",
            example="1h",
        ),
        Key("resolved", BOOLEAN, "Send `resolved` on recovery.", default=True, example="false"),
        Key(
            "only_in_hours",
            BOOLEAN,
            "Open alerts and send reminders only inside the service hours of the SLAs that "
            "count the target (`slas[].hours`); `resolved` still goes out.",
            default=False,
            example="true",
        ),
        Key(
            "resolve_after",
            DURATION,
            "`resolved` only once the target has been UP this long.",
            default="0s",
            example="1m",
        ),
        Key(
            "events",
            EVENTS,
            "Which kinds of notification it sends.",
            default_doc="all of them",
            example="[down, resolved]",
        ),
        Key(
            "burn_rate",
            Kind("false | list of mappings"),
            "Error-budget burn-rate conditions of its SLAs (Google SRE workbook, two windows "
            "each); `false`: none.",
            default_doc="page at 14.4× over 1h and 5m, page at 6× over 6h and 30m, ticket at "
            "1× over 3d and 6h",
            table=BURN_RATE,
        ),
        Key(
            "flapping",
            Kind("false | mapping"),
            "Flap detection; `false`: none.",
            default_doc="{changes: 5, window: 10m, settle: 10m}",
            table=FLAPPING_TABLE,
        ),
    )
)
RATE_LIMIT = Table(
    (
        Key(
            "messages",
            COUNT,
            "At most this many state-change messages…",
            required=True,
            example="20",
        ),
        Key(
            "per", POSITIVE_DURATION, "…per channel within this long.", required=True, example="10m"
        ),
    )
)
DIGEST = Table(
    (
        Key(
            "channels",
            IDS,
            "Where the weekly SLA review goes.",
            required=True,
            example="[ops-chat]",
        ),
        Key("weekday", choice(contract.WEEKDAYS), "The day it is sent.", default="monday"),
        Key(
            "at",
            TIME_OF_DAY,
            "Local time it is sent.",
            default=DEFAULT_DIGEST_AT.strftime("%H:%M"),
        ),
        Key("timezone", TIMEZONE, "Where `weekday` and `at` are local.", default="UTC"),
    )
)
TABLE = Table(
    (
        Key("channels", MAPPINGS, "The chat services to send to.", table=channels.COMMON),
        Key("rules", MAPPINGS, "What is watched, and where it is told.", table=RULE),
        Key(
            "max_age",
            POSITIVE_DURATION,
            "A notification not delivered within this long is given up, logged and counted.",
            default=format_duration(contract.DEFAULT_ALERT_MAX_AGE_S),
            example="12h",
        ),
        Key(
            "group_window",
            DURATION,
            "State changes within this window go to a channel as one message; 0 sends at once.",
            default=format_duration(DEFAULT_GROUP_WINDOW_S),
            example="1m",
        ),
        Key(
            "rate_limit",
            Kind("false | mapping"),
            "Per channel; the excess waits and goes out grouped, never dropped. `false`: none.",
            default_doc=f"{{messages: {DEFAULT_RATE_LIMIT.messages}, per: "
            f"{format_duration(DEFAULT_RATE_LIMIT.per)}}}",
            table=RATE_LIMIT,
        ),
        Key("digest", MAPPING, "The weekly SLA review.", default_doc="none", table=DIGEST),
    )
)
KEY = Key("alerts", MAPPING, "Alerts to chat services and webhooks.", table=TABLE)


def read(reader: Reader, value: Any, *, typed_channels: bool) -> AlertsConfig:
    """The section; `typed_channels` False (an agent) leaves the channels' own keys unread."""
    path: KeyPath = ("alerts",)
    data = reader.table(value, path, TABLE)
    channel_list = channels.read(
        reader, data.get("channels"), (*path, "channels"), typed=typed_channels
    )
    rules = reader.items(data.get("rules"), (*path, "rules"), lambda v, p: _rule(reader, v, p))
    reader.unique_ids(
        (((*path, "channels", i, "id"), c.id) for i, c in enumerate(channel_list)), "channel"
    )
    reader.unique_ids(
        (((*path, "rules", i, "id"), r.id) for i, r in enumerate(rules) if r.id), "rule"
    )
    return AlertsConfig(
        channels=channel_list,
        rules=rules,
        max_age=reader.take(data, TABLE.key("max_age"), path),
        group_window=reader.take(data, TABLE.key("group_window"), path),
        rate_limit=_rate_limit(reader, data.get("rate_limit"), (*path, "rate_limit")),
        digest=_digest(reader, data.get("digest"), (*path, "digest")),
    )


def _rule(reader: Reader, value: Any, path: KeyPath) -> AlertRule:
    data = reader.table(value, path, RULE)
    key = RULE.key
    rule = AlertRule(
        id=reader.take(data, key("id"), path),
        checks=reader.take(data, key("checks"), path, default=()),
        slas=reader.take(data, key("slas"), path, default=()),
        channels=reader.take(data, key("channels"), path),
        after=reader.take(data, key("after"), path),
        repeat=reader.take(data, key("repeat"), path),
        resolved=reader.take(data, key("resolved"), path),
        only_in_hours=reader.take(data, key("only_in_hours"), path),
        resolve_after=reader.take(data, key("resolve_after"), path),
        events=reader.take(data, key("events"), path, default=ALERT_EVENTS),
        burn_rate=_burn_rate(reader, data.get("burn_rate"), (*path, "burn_rate")),
        flapping=_flapping(reader, data.get("flapping"), (*path, "flapping")),
    )
    if not data.get("checks") and not data.get("slas"):
        reader.fail(path, "must name checks (globs) or slas to watch")
    return rule


def _burn_rate(reader: Reader, value: Any, path: KeyPath) -> tuple[BurnRateWindow, ...]:
    """The rule's burn-rate conditions: the SRE workbook's by default, `false` for none."""
    if value is None or value is True:
        return DEFAULT_BURN_RATE
    if value is False:
        return ()
    if not isinstance(value, list) or not value:
        reader.fail(path, "must be false or a list of {severity, long, short, factor}")
        return ()
    return reader.items(value, path, lambda v, p: _burn_rate_window(reader, v, p))


def _burn_rate_window(reader: Reader, value: Any, path: KeyPath) -> BurnRateWindow:
    values = reader.values(reader.table(value, path, BURN_RATE), path, BURN_RATE)
    window = BurnRateWindow(**values)
    if INVALID not in (window.long, window.short) and window.short >= window.long:
        reader.fail((*path, "short"), "must be shorter than long")
    return window


def _flapping(reader: Reader, value: Any, path: KeyPath) -> FlappingSettings | None:
    if value is None or value is True:
        return FLAPPING
    if value is False:
        return None
    data = reader.table(value, path, FLAPPING_TABLE)
    key = FLAPPING_TABLE.key
    window = reader.take(data, key("window"), path)
    settle_default = window if window is not INVALID else FLAPPING.settle
    return FlappingSettings(
        changes=reader.take(data, key("changes"), path),
        window=window,
        settle=reader.take(data, key("settle"), path, default=settle_default),
    )


def _rate_limit(reader: Reader, value: Any, path: KeyPath) -> RateLimit | None:
    if value is None:
        return DEFAULT_RATE_LIMIT
    if value is False:
        return None
    values = reader.values(reader.table(value, path, RATE_LIMIT), path, RATE_LIMIT)
    return RateLimit(**values)


def _digest(reader: Reader, value: Any, path: KeyPath) -> DigestSettings | None:
    if value is None:
        return None
    values = reader.values(reader.table(value, path, DIGEST), path, DIGEST)
    if values["channels"] is not INVALID and not values["channels"]:
        reader.fail((*path, "channels"), "must name at least one channel")
    zone = values["timezone"]
    return DigestSettings(
        channels=values["channels"],
        weekday=values["weekday"],
        at=values["at"],
        timezone=zone.key if zone is not INVALID else "UTC",
    )
