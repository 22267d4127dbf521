"""`slas:` — the promises: which checks, what objective, over which periods, and what is owed."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from slawatch.config import contract, currencies
from slawatch.config.keys import Key, Kind, Table
from slawatch.config.reader import INVALID, KeyPath, Reader
from slawatch.config.schema import (
    DAY_NAMES,
    CreditTier,
    LatencyObjective,
    Maintenance,
    MonthlyFee,
    OneOffMaintenance,
    RecurringMaintenance,
    ServiceHours,
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
    ValueProblems,
    between,
    choice,
    parse_instant,
    parse_number,
)

INSTANT = Kind("RFC 3339 time (in the SLA's timezone without an offset)")


def parse_days(value: object) -> tuple[int, ...]:
    """`mon-fri`, `sat`, `mon,wed,fri`, `[mon, tue]` or `fri-mon` (across the weekend) → weekday
    numbers, Monday 0, sorted."""
    items = value if isinstance(value, list) else [value]
    days: set[int] = set()
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise ValueError("must be days like mon-fri, sat or [mon, wed, fri]")
        for part in item.split(","):
            days.update(_day_range(part.strip().lower()))
    if not days:
        raise ValueError("must name at least one day, like mon-fri")
    return tuple(sorted(days))


def _day_range(text: str) -> range | list[int]:
    first, _, last = text.partition("-")
    start, end = _day(first.strip()), _day((last or first).strip())
    if end >= start:
        return range(start, end + 1)
    return [*range(start, 7), *range(end + 1)]


def _day(text: str) -> int:
    for index, name in enumerate(DAY_NAMES):
        if text in (name, contract.WEEKDAYS[index]):
            return index
    raise ValueError(f"{text!r} is not a day: use {', '.join(DAY_NAMES)} (ranges like mon-fri)")


def parse_clock(value: object, *, midnight_after: bool = False) -> int:
    """`HH:MM` or `HH:MM:SS` → seconds after midnight; `24:00` only with `midnight_after`."""
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*", str(value))
    hint = '"24:00"' if midnight_after else '"23:59"'
    if not match:
        raise ValueError(f'must be a time of day from "00:00" to {hint}, like "08:00"')
    hour, minute, second = (int(part or 0) for part in match.groups())
    seconds = hour * 3600 + minute * 60 + second
    if minute > 59 or second > 59 or seconds > 86_400 or (seconds == 86_400) > midnight_after:
        raise ValueError(f'must be a time of day from "00:00" to {hint}, like "08:00"')
    return seconds


def parse_holiday(value: object) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValueError("must be a date like 2026-12-25") from None


def parse_holidays(value: object) -> tuple[date, ...]:
    if not isinstance(value, list):
        value = [value]
    found: set[date] = set()
    problems: list[tuple[str | int, str]] = []
    for index, item in enumerate(value):
        try:
            found.add(parse_holiday(item))
        except ValueError as error:
            problems.append((index, str(error)))
    if problems:
        raise ValueProblems(problems)
    return tuple(sorted(found))


def parse_amount(value: object) -> Decimal:
    """A money amount ≥ 0, read from the YAML source (450.10 stays 450.10, not a float)."""
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError("must be an amount like 450.00") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError("must be an amount of 0 or more, like 450.00")
    return amount


def parse_currency(value: object) -> str:
    if not isinstance(value, str) or value.strip().upper() not in currencies.CODES:
        raise ValueError("must be an ISO 4217 currency code like EUR, USD or JPY")
    return value.strip().upper()


DAYS = Kind("days: mon…sun, ranges and lists", parse_days, example="mon-fri")
FROM_CLOCK = Kind('time of day "HH:MM"', parse_clock, from_source=True, example='"08:00"')
TO_CLOCK = Kind(
    'time of day "HH:MM" ("24:00" allowed)',
    lambda value: parse_clock(value, midnight_after=True),
    from_source=True,
    example='"18:00"',
)
HOLIDAYS = Kind("list of dates YYYY-MM-DD", parse_holidays, example="[2026-12-25, 2027-01-01]")
AMOUNT = Kind("amount", parse_amount, from_source=True, example="450.00")
CURRENCY = Kind("ISO 4217 currency code", parse_currency, example="EUR")

HOURS = Table(
    (
        Key("days", DAYS, "The weekdays this line covers.", required=True),
        Key("from", FROM_CLOCK, "Local start time of service.", required=True),
        Key(
            "to",
            TO_CLOCK,
            "Local end time of service, after `from` (`24:00`: to midnight).",
            required=True,
        ),
    )
)
MONTHLY_FEE = Table(
    (
        Key("amount", AMOUNT, "What the customer pays per month.", required=True),
        Key("currency", CURRENCY, "Its currency.", required=True),
    )
)

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
        Key(
            "hours",
            MAPPINGS,
            "Service hours in the SLA's timezone: time outside them is removed like maintenance "
            "(`outside_hours_s` in reports). None: 24×7.",
            table=HOURS,
        ),
        Key(
            "holidays",
            HOLIDAYS,
            "Whole local days outside service hours.",
        ),
        Key(
            "monthly_fee",
            MAPPING,
            "What the customer pays per month: credits are also given as amounts "
            "(`GET /api/v1/credits`).",
            table=MONTHLY_FEE,
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
        hours=reader.items(data.get("hours"), (*path, "hours"), lambda v, p: _hours(reader, v, p)),
        holidays=values["holidays"] if values["holidays"] not in (INVALID, None) else (),
        monthly_fee=_monthly_fee(reader, data.get("monthly_fee"), (*path, "monthly_fee")),
    )


def _hours(reader: Reader, value: Any, path: KeyPath) -> ServiceHours:
    values = reader.values(reader.table(value, path, HOURS), path, HOURS)
    start, end = values["from"], values["to"]
    if INVALID not in (start, end) and end <= start:
        reader.fail((*path, "to"), "must be after from (a line ends the day it starts)")
    return ServiceHours(days=values["days"], start_s=start, end_s=end)


def _monthly_fee(reader: Reader, value: Any, path: KeyPath) -> MonthlyFee | None:
    if value is None:
        return None
    values = reader.values(reader.table(value, path, MONTHLY_FEE), path, MONTHLY_FEE)
    return MonthlyFee(amount=values["amount"], currency=values["currency"])


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
