"""`slas:` — the promises: which checks, what objective, over which periods, and what is owed."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from slawatch.config import contract
from slawatch.config.keys import Key, Kind, Table
from slawatch.config.reader import INVALID, KeyPath, Reader
from slawatch.config.schema import (
    CreditTier,
    LatencyObjective,
    Maintenance,
    OneOffMaintenance,
    RecurringMaintenance,
    Sla,
)
from slawatch.config.values import (
    DURATION,
    ID,
    IDS,
    MAPPING,
    MAPPINGS,
    PERCENT,
    POSITIVE_DURATION,
    QUORUM,
    TEXT,
    TIME_OF_DAY,
    TIMEZONE,
    between,
    choice,
    parse_instant,
    parse_number,
)

INSTANT = Kind("RFC 3339 time (in the SLA's timezone without an offset)")

LATENCY = Table(
    (
        Key(
            "objective",
            POSITIVE_DURATION,
            "The response time the percentile must not exceed.",
            required=True,
            example="800ms",
        ),
        Key(
            "percentile",
            Kind("number 0.001–100", between(0.001, 100, parse_number)),
            "Which percentile of the `latency_ms` of successful samples is judged.",
            default=95,
            example="99",
        ),
    )
)
MAINTENANCE = Table(
    (
        Key(
            "start",
            INSTANT,
            "A one-off window: its start.",
            example="2026-11-08T02:00:00Z",
        ),
        Key(
            "end",
            INSTANT,
            "A one-off window: its end, after `start`.",
            example="2026-11-08T04:00:00Z",
        ),
        Key(
            "every",
            choice((*contract.WEEKDAYS, "day")),
            "A recurring window: which day (or every day), with `at` and `duration`.",
        ),
        Key("at", TIME_OF_DAY, "A recurring window: local start time.", example='"03:00"'),
        Key("duration", POSITIVE_DURATION, "A recurring window: its length.", example="30m"),
        Key(
            "reason",
            TEXT,
            "Shown on reports and status pages.",
            default="",
            example="kernel upgrade",
        ),
    )
)
CREDIT = Table(
    (
        Key("below", PERCENT, "The tier applies when availability is below this.", required=True),
        Key("percent", PERCENT, "Service credit owed, in percent.", required=True, example="25"),
    )
)
TABLE = Table(
    (
        Key(
            "id",
            ID,
            "The SLA's id, in report URLs and alerts.",
            required=True,
            example="acme-website",
        ),
        Key(
            "customer",
            ID,
            "The customer (`collector.customers[].id`) it is promised to.",
            example="acme",
        ),
        Key("name", TEXT, "Shown on reports and status pages.", default_doc="the id"),
        Key("checks", IDS, "The checks that make the service.", required=True),
        Key(
            "require",
            choice(contract.REQUIRE_WORDS),
            "`all`: every check must be up; `any`: one check up is enough.",
            default="all",
        ),
        Key("objective", PERCENT, "Availability promised, in percent.", required=True),
        Key(
            "period",
            choice(contract.PERIOD_WORDS),
            "The calendar period reports, budgets, alerts and credits speak of.",
            default="month",
        ),
        Key("timezone", TIMEZONE, "Where periods and maintenance times are local.", default="UTC"),
        Key(
            "quorum",
            QUORUM,
            "How the agents' views of each check combine (see the checks' `quorum`).",
            default="majority",
        ),
        Key(
            "min_downtime",
            DURATION,
            "DOWN runs shorter than this are forgiven.",
            default="0s",
            example="1m",
        ),
        Key(
            "unknown",
            choice(contract.UNKNOWN_WORDS),
            "How time without data counts: left out, up, or down.",
            default="exclude",
        ),
        Key("latency", MAPPING, "A response-time objective.", table=LATENCY),
        Key(
            "maintenance",
            MAPPINGS,
            "Windows removed from the SLA: one-off (`start`, `end`) or recurring (`every`, "
            "`at`, `duration`).",
            table=MAINTENANCE,
        ),
        Key(
            "credits",
            MAPPINGS,
            "Service credit tiers: the largest `percent` among tiers whose `below` the "
            "availability is under.",
            table=CREDIT,
        ),
    )
)
KEY = Key("slas", MAPPINGS, "The service level agreements.", table=TABLE)


def read(reader: Reader, value: Any) -> tuple[Sla, ...]:
    slas = reader.items(value, ("slas",), lambda v, p: _sla(reader, v, p))
    reader.unique_ids(((("slas", i, "id"), s.id) for i, s in enumerate(slas)), "SLA")
    return slas


def _sla(reader: Reader, value: Any, path: KeyPath) -> Sla:
    data = reader.table(value, path, TABLE)
    values = reader.values(data, path, TABLE)
    if values["checks"] is not INVALID and not values["checks"]:
        reader.fail((*path, "checks"), "must name at least one check")
    zone = values["timezone"]
    return Sla(
        id=values["id"],
        name=values["name"] if values["name"] is not None else values["id"],
        checks=values["checks"],
        objective=values["objective"],
        customer=values["customer"],
        require=values["require"],
        period=values["period"],
        timezone=zone.key if zone is not INVALID else "UTC",
        quorum=values["quorum"],
        min_downtime=values["min_downtime"],
        unknown=values["unknown"],
        latency=_latency(reader, data.get("latency"), (*path, "latency")),
        maintenance=reader.items(
            data.get("maintenance"),
            (*path, "maintenance"),
            lambda v, p: _maintenance(reader, v, p, zone),
        ),
        credits=reader.items(
            data.get("credits"), (*path, "credits"), lambda v, p: _credit(reader, v, p)
        ),
    )


def _latency(reader: Reader, value: Any, path: KeyPath) -> LatencyObjective | None:
    if value is None:
        return None
    values = reader.values(reader.table(value, path, LATENCY), path, LATENCY)
    return LatencyObjective(objective=values["objective"], percentile=values["percentile"])


def _maintenance(reader: Reader, value: Any, path: KeyPath, zone: ZoneInfo | Any) -> Maintenance:
    if zone is INVALID:
        zone = ZoneInfo("UTC")
    data = reader.table(value, path, MAINTENANCE)
    key = MAINTENANCE.key
    reason = reader.take(data, key("reason"), path)
    if "every" in data or "at" in data or "duration" in data:
        for name in ("start", "end"):
            if name in data:
                reader.fail(
                    (*path, name), "a recurring window (every/at/duration) has no start or end"
                )
        return RecurringMaintenance(
            every=reader.take(data, key("every"), path, required=True),
            at=reader.take(data, key("at"), path, required=True),
            duration=reader.take(data, key("duration"), path, required=True),
            reason=reason,
        )
    start, end = (
        reader.take(data, key(name), path, lambda v: parse_instant(v, zone), required=True)
        for name in ("start", "end")
    )
    if start is not INVALID and end is not INVALID and end <= start:
        reader.fail((*path, "end"), "must be after start")
    return OneOffMaintenance(start=start, end=end, reason=reason)


def _credit(reader: Reader, value: Any, path: KeyPath) -> CreditTier:
    values = reader.values(reader.table(value, path, CREDIT), path, CREDIT)
    return CreditTier(below=values["below"], percent=values["percent"])
