"""The weekly SLA digest: when it is due in its timezone, which week it reviews, its content on a
fixed clock from a real store, and once per week even across restarts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from slawatch.collector.alerts import digest
from slawatch.collector.alerts.outbox import decode_event
from slawatch.collector.samples import SampleRow
from slawatch.collector.store import Store
from slawatch.config.loader import parse_config
from slawatch.config.schema import Config, DigestSettings
from tests.unit.test_alert_evaluator import Clock, evaluator, notifications, unsigned

PARIS = ZoneInfo("Europe/Paris")
SETTINGS = DigestSettings(("ops",), "monday", time(9, 0), "Europe/Paris")


def paris(*parts: int) -> float:
    return datetime(*parts, tzinfo=PARIS).timestamp()  # type: ignore[arg-type, misc]


def ms(ts: float) -> int:
    return round(ts * 1000)


# ------------------------------------------------------------------------------- schedule


def test_due_at_the_weekday_and_hour_of_its_timezone() -> None:
    monday_9 = paris(2026, 11, 30, 9, 0)
    assert digest.last_due_ms(SETTINGS, ms(monday_9) - 1) == ms(paris(2026, 11, 23, 9, 0))
    assert digest.last_due_ms(SETTINGS, ms(monday_9)) == ms(monday_9)
    assert digest.last_due_ms(SETTINGS, ms(paris(2026, 12, 2, 18, 0))) == ms(monday_9)
    friday = DigestSettings(("ops",), "friday", time(17, 30), "UTC")
    now = ms(datetime.fromisoformat("2026-11-30T12:00:00+00:00").timestamp())
    assert digest.last_due_ms(friday, now) == ms(
        datetime.fromisoformat("2026-11-27T17:30:00+00:00").timestamp()
    )


def test_it_reviews_the_last_whole_iso_week_in_its_timezone() -> None:
    week, window = digest.reviewed_week(SETTINGS, ms(paris(2026, 11, 30, 9, 0)))
    assert week == "2026-W48"
    assert (window.from_ms, window.to_ms) == (ms(paris(2026, 11, 23)), ms(paris(2026, 11, 30)))
    week, window = digest.reviewed_week(SETTINGS, ms(paris(2026, 3, 30, 9, 0)))
    assert week == "2026-W13"
    assert window.duration_ms == (7 * 24 - 1) * 3_600_000  # the week of the change to summer time


def test_a_review_a_day_late_is_skipped() -> None:
    monday_9 = paris(2026, 11, 30, 9, 0)
    assert digest.due(SETTINGS, ms(monday_9) + 86_400_000) is not None
    assert digest.due(SETTINGS, ms(monday_9) + 86_400_001) is None


# -------------------------------------------------------------------------- content, once


CONFIG = """
collector:
  listen: "127.0.0.1:8480"
  customers: [{id: acme, name: ACME}]
checks:
  - {id: web, url: "http://127.0.0.1:1/"}
  - {id: api, url: "http://127.0.0.1:2/"}
slas:
  - {id: shop, name: ACME shop, customer: acme, checks: [web], objective: 99.9,
     credits: [{below: 99.9, percent: 10}]}
  - {id: api, checks: [api], objective: 99.0, timezone: Europe/Paris}
alerts:
  channels: [{id: ops, type: slack, url: "https://hooks.example/ops"}]
  rules: []
  digest: {channels: [ops], weekday: monday, at: "09:00", timezone: Europe/Paris}
"""
STEP = 600.0


def config(tmp_path: Path) -> Config:
    return parse_config(CONFIG, base_dir=tmp_path, process="collector")


async def history(
    store: Store, check: str, start: float, end: float, down: tuple[float, float] | None
) -> None:
    rows = []
    ts = start
    while ts < end:
        ok = down is None or not down[0] <= ts < down[1]
        rows.append(SampleRow(ms(ts), ok, 20.0 if ok else None, ms(STEP), None,
                              None if ok else "HTTP 502 bad gateway", None, None, None, None,
                              None, None, check, "http"))  # fmt: skip
        ts += STEP
    await store.ingest("eu-1", rows, labels=None, now_ms=ms(end))


async def test_the_digest_content_on_a_fixed_clock_sent_once_a_week(
    store: Store, tmp_path: Path
) -> None:
    start = paris(2026, 11, 16)
    outage = (paris(2026, 11, 25, 14, 0), paris(2026, 11, 25, 14, 30))
    now = paris(2026, 11, 30, 9, 0, 30)
    await history(store, "web", start, now, down=outage)
    await history(store, "api", start, now, down=None)
    clock = Clock(now)
    settings = config(tmp_path)
    await evaluator(store, settings, clock).evaluate(budgets=True)
    await evaluator(store, settings, clock).evaluate(budgets=True)  # a restart: not again
    (row,) = await notifications(store)
    assert (row.kind, row.status) == ("digest", "pending")
    event = decode_event(row.event)
    assert event.week == "2026-W48"  # type: ignore[union-attr]
    shop, api = event.slas  # type: ignore[union-attr]
    week_s = 7 * 86_400
    assert shop.week_availability == pytest.approx(100 * (week_s - 1800) / week_s)
    assert shop.period == "2026-11" and shop.customer == "acme"
    month_s = now - paris(2026, 11, 16)  # data since the 16th: the rest is excluded
    assert shop.period_availability == pytest.approx(100 * (month_s - 1800) / month_s)
    assert shop.period_measured_s == pytest.approx(month_s)
    assert shop.week_measured_s == week_s
    # November is in progress (CONTRACT §4.8), but its 30 minutes down exceed the budget of the
    # whole month as measured, 0.1 % of the 14 d 08 h since the 16th and the 16 h to come:
    # breached, and the 10 % credit is certain whatever comes next.
    to_come = datetime(2026, 12, 1, tzinfo=UTC).timestamp() - now
    assert shop.period_projected_availability == pytest.approx(
        100 * (month_s - 1800 + to_come) / (month_s + to_come)
    )
    assert (shop.period_verdict, shop.credit_percent, shop.met) == ("breached", 10, False)
    (incident,) = shop.incidents
    assert (incident.start, incident.end, incident.duration_s) == (*outage, 1800.0)
    assert incident.error == "HTTP 502 bad gateway" and incident.checks == ("web",)
    link = await unsigned(store, shop.link, now)
    assert link == "http://127.0.0.1:8480/api/v1/slas/shop/report?format=html&period=2026-11"
    assert (api.week_availability, api.incidents, api.met) == (100.0, (), True)
    assert (api.period_verdict, api.credit_percent) == ("on_track", 0)
    text = json.loads(row.body)["text"]
    assert text.startswith("SLA weekly review 2026-W48 (")
    assert "2 SLAs: 1 objective breached, 1 on track" in text
    body = json.dumps(json.loads(row.body))
    words = json.dumps(json.loads(row.body), ensure_ascii=False)
    assert "2026-11 to date 99.855% over 14d 9h measured (objective 99.9%)" in words
    assert "objective breached ✗, at most 99.861% by its end" in words
    assert "· credit certain so far 10%" in words
    assert "ACME shop (shop)" in body and "HTTP 502 bad gateway" in body

    clock.now = paris(2026, 12, 7, 9, 0)
    await history(store, "web", now, clock.now, down=None)
    await evaluator(store, settings, clock).evaluate(budgets=True)
    weeks = [decode_event(r.event).week for r in await notifications(store)]  # type: ignore[union-attr]
    assert weeks == ["2026-W48", "2026-W49"]
