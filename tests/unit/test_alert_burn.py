"""Error-budget burn rate (multiwindow, SRE workbook) and "objective breached once per period",
on crafted budget burns stored in a real SQLite file; the rates come from the SLA engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slawatch.collector.alerts import burn
from slawatch.collector.alerts.events import BurnWindow
from slawatch.collector.alerts.outbox import decode_event
from slawatch.collector.engine.periods import Window
from slawatch.collector.engine.sla import compute_report
from slawatch.collector.engine.timeline import Run
from slawatch.collector.samples import SampleRow
from slawatch.collector.store import Store
from slawatch.config.loader import parse_config
from slawatch.config.schema import DEFAULT_BURN_RATE, BurnRateWindow, Config, Sla
from tests.unit.test_alert_evaluator import T0, Clock, evaluator, notifications, unsigned

MINUTE = 60.0
HOUR = 3600.0

CONFIG = """
collector: {listen: "127.0.0.1:0"}
checks: [{id: web, url: "http://127.0.0.1:1/", interval: 1m}]
slas: [{id: shop, checks: [web], objective: 99.9, period: day}]
alerts:
  group_window: 0s
  channels: [{id: ops, type: slack, url: "https://hooks.example/ops"}]
  rules:
"""


def config(rules: str, tmp_path: Path, objective: float = 99.9) -> Config:
    text = CONFIG.replace("objective: 99.9", f"objective: {objective}") + rules
    return parse_config(text, base_dir=tmp_path, process="collector")


async def run_for(store: Store, clock: Clock, seconds: float, ok: bool) -> None:
    """One agent probing every minute for `seconds` from the clock's time."""
    rows = []
    end = clock.now + seconds
    while clock.now < end:
        rows.append(SampleRow(round(clock.now * 1000), ok, 10.0 if ok else None, 60_000,
                              None, None if ok else "HTTP 503", None, None, None, None, None,
                              None, "web", "http"))  # fmt: skip
        clock.now += MINUTE
    await store.ingest("eu-1", rows, labels=None, now_ms=round(clock.now * 1000))


# ------------------------------------------------------------------------------------- pure


SLA = Sla(id="shop", name="shop", checks=("web",), objective=99.0)


def test_burn_rate_is_the_down_fraction_over_the_allowed_one() -> None:
    runs = {"web": {"eu-1": [Run(0, 3_000_000, True, None, 2_940_000, 60_000, 50),
                             Run(3_000_000, 3_600_000, False, "x", 3_540_000, 60_000, 10)]}}  # fmt: skip
    report = compute_report(SLA, runs, Window(0, 3_600_000), 3_600_000)
    assert burn.burn_rate(report) == pytest.approx(600 / 3600 / 0.01)
    empty = compute_report(SLA, {}, Window(0, 3_600_000), 3_600_000)
    assert burn.burn_rate(empty) is None
    perfect = compute_report(
        Sla(id="p", name="p", checks=("web",), objective=100.0),
        runs,
        Window(0, 3_600_000),
        3_600_000,
    )
    assert burn.burn_rate(perfect) is None


def test_both_windows_must_burn_past_the_factor() -> None:
    rates = {3600.0: 20.0, 300.0: 15.0, 21600.0: 7.0, 1800.0: 5.9, 259200.0: 2.0}
    check = burn.judge(DEFAULT_BURN_RATE, rates)
    assert check.severity == "page"
    assert check.windows == (  # most urgent first; 6h/30m does not fire (5.9 < 6)
        BurnWindow(3600, 300, 14.4, 20.0, 15.0),
        BurnWindow(259200, 21600, 1.0, 2.0, 7.0),
    )
    calm = {**rates, 300.0: 14.4, 259200.0: 0.5}
    assert burn.judge(DEFAULT_BURN_RATE, calm).severity is None  # "more than" the factor
    ticket = burn.judge(DEFAULT_BURN_RATE, {**rates, 300.0: 1.0})
    assert ticket.severity == "ticket"
    assert [w.threshold for w in ticket.windows] == [1.0]
    assert burn.judge(DEFAULT_BURN_RATE, {}).severity is None


def test_a_page_or_a_ticket_opens_once_and_a_page_is_not_followed_by_its_ticket() -> None:
    page = burn.BurnCheck("page", (), ticket=True)
    only_page = burn.BurnCheck("page", ())
    ticket = burn.BurnCheck("ticket", (), ticket=True)
    quiet = burn.BurnCheck(None)
    alert, notify = burn.step(None, ticket, 1_000)
    assert (alert, notify) == (burn.BurnAlert(None, 1_000), "ticket")
    assert burn.step(alert, ticket, 2_000) == (alert, None)
    alert, notify = burn.step(alert, page, 3_000)  # escalation
    assert (alert, notify) == (burn.BurnAlert(3_000, 1_000), "page")
    assert burn.step(alert, page, 4_000) == (alert, None)
    alert, notify = burn.step(alert, ticket, 5_000)  # the page clears, the ticket lingers
    assert (alert, notify) == (burn.BurnAlert(None, 1_000), None)
    assert burn.step(alert, quiet, 6_000) == (None, None)
    alert, notify = burn.step(None, page, 7_000)
    assert (alert, notify) == (burn.BurnAlert(7_000, 7_000), "page")  # its ticket says nothing
    assert burn.step(None, only_page, 8_000) == (burn.BurnAlert(8_000, None), "page")


# ----------------------------------------------------------------------- crafted budget burn


async def test_a_fast_burn_pages_once_and_a_new_burn_pages_again(
    store: Store, tmp_path: Path
) -> None:
    rules = "    - {slas: [shop], channels: [ops], events: [burn_rate]}\n"
    clock = Clock(T0 - 36 * HOUR)  # every window holds enough eligible time to be judged
    judge = evaluator(store, config(rules, tmp_path), clock)
    await run_for(store, clock, 38 * HOUR, ok=True)
    await judge.evaluate(budgets=True)
    assert await notifications(store) == []
    await run_for(store, clock, 8 * MINUTE, ok=False)  # 8 min of an hour: 133× the budget rate
    await judge.evaluate(budgets=True)
    (page,) = await notifications(store)
    event = decode_event(page.event)
    assert event.severity == "page"  # type: ignore[union-attr]
    fired = {(w.long_s, w.short_s): w for w in event.windows}  # type: ignore[union-attr]
    assert set(fired) == {(3600.0, 300.0), (21600.0, 1800.0), (259200.0, 21600.0)}
    assert event.windows[0].long_s == 3600  # type: ignore[union-attr]
    assert fired[(3600.0, 300.0)].long_rate == pytest.approx(8 * 60 / 3600 / 0.001)
    assert fired[(3600.0, 300.0)].short_rate == pytest.approx(1000.0)
    assert event.period == "2026-11-27" and event.objective == 99.9  # type: ignore[union-attr]
    assert event.budget_s == pytest.approx(86.4)  # type: ignore[union-attr]  # 0.1 % of a day
    assert event.budget_remaining_s == pytest.approx(86.4 - 480)  # type: ignore[union-attr]
    await run_for(store, clock, 5 * MINUTE, ok=False)
    await judge.evaluate(budgets=True)
    assert len(await notifications(store)) == 1  # the same burn
    await run_for(store, clock, 35 * MINUTE, ok=True)  # the 5- and 30-minute windows clear
    await judge.evaluate(budgets=True)
    (still,) = await store.open_alerts()
    assert json.loads(still.state)["page_ms"] is None  # the ticket lingers (6 h window)
    await run_for(store, clock, 10 * MINUTE, ok=False)
    await judge.evaluate(budgets=True)
    assert [row.kind for row in await notifications(store)] == ["burn_rate", "burn_rate"]


async def test_a_slow_burn_opens_a_ticket_then_escalates(store: Store, tmp_path: Path) -> None:
    rules = (
        "    - slas: [shop]\n      channels: [ops]\n      events: [burn_rate]\n"
        "      burn_rate:\n"
        "        - {severity: ticket, long: 2h, short: 10m, factor: 2}\n"
        "        - {severity: page, long: 1h, short: 5m, factor: 5}\n"
    )
    clock = Clock(T0)
    judge = evaluator(store, config(rules, tmp_path, objective=90), clock)
    for _ in range(12):  # 3 minutes down in every 10: 3× the budget rate of a 90 % objective
        await run_for(store, clock, 7 * MINUTE, ok=True)
        await run_for(store, clock, 3 * MINUTE, ok=False)
    await judge.evaluate(budgets=True)
    (ticket,) = await notifications(store)
    assert decode_event(ticket.event).severity == "ticket"  # type: ignore[union-attr]
    await run_for(store, clock, 20 * MINUTE, ok=False)  # the last hour: 32 min down, 5.3×
    await judge.evaluate(budgets=True)
    first, page = await notifications(store)
    assert decode_event(page.event).severity == "page"  # type: ignore[union-attr]
    assert page.id != first.id


async def test_objective_breached_once_per_period_even_across_restarts(
    store: Store, tmp_path: Path
) -> None:
    rules = "    - {slas: [shop], channels: [ops], events: [objective_breached]}\n"
    clock = Clock(T0)
    settings = config(rules, tmp_path)
    judge = evaluator(store, settings, clock)
    await run_for(store, clock, HOUR, ok=True)
    await judge.evaluate(budgets=True)
    await run_for(store, clock, 2 * MINUTE, ok=False)  # 2 of 62 minutes: 96.8 % < 99.9 %
    await judge.evaluate(budgets=True)
    await run_for(store, clock, 2 * MINUTE, ok=False)
    await evaluator(store, settings, clock).evaluate(budgets=True)  # after a restart
    (breach,) = await notifications(store)
    event = decode_event(breach.event)
    assert event.period == "2026-11-27"  # type: ignore[union-attr]
    assert event.availability == pytest.approx(100 * 60 / 62)  # type: ignore[union-attr]
    link = await unsigned(store, event.link, event.at)  # type: ignore[union-attr]
    assert link.endswith("/api/v1/slas/shop/report?format=html&period=2026-11-27")
    clock.now = T0 + 86_400  # the next day is a new period
    await run_for(store, clock, 10 * MINUTE, ok=False)
    await judge.evaluate(budgets=True)
    assert [row.kind for row in await notifications(store)] == ["objective_breached"] * 2


async def test_breached_only_once_the_period_can_no_longer_meet_its_objective(
    store: Store, tmp_path: Path
) -> None:
    """Below the objective so far is not a breach while the budget of the whole period lasts:
    the day can still end above 99 %."""
    rules = "    - {slas: [shop], channels: [ops], events: [objective_breached]}\n"
    clock = Clock(T0)
    judge = evaluator(store, config(rules, tmp_path, objective=99), clock)
    await run_for(store, clock, HOUR, ok=True)
    await run_for(store, clock, 2 * MINUTE, ok=False)  # 96.8 % so far; 2 m of a 12 m 36 s budget
    await judge.evaluate(budgets=True)
    assert await notifications(store) == []
    await run_for(store, clock, 10 * MINUTE, ok=False)
    await judge.evaluate(budgets=True)
    assert await notifications(store) == []  # 12 m down: 36 s of budget left
    await run_for(store, clock, MINUTE, ok=False)
    await judge.evaluate(budgets=True)
    (breach,) = await notifications(store)
    event = decode_event(breach.event)
    assert (event.down_s, event.budget_s) == (780, pytest.approx(756))  # type: ignore[union-attr]
    assert json.loads(breach.body)["text"].startswith(
        "BREACHED SLA shop — 2026-11-27 can no longer meet its 99% objective"
        " — 13m down, over the 12m 36s budget — 82.191% over 1h 13m measured"
    )
    # At most 98.968 % by the end of the day: 13 minutes down of the 21 hours measured or to
    # come (the budget's 756 s are 1 % of them).
    assert event.projected_availability == pytest.approx(100 * (1 - 780 / 75_600))  # type: ignore[union-attr]
    await run_for(store, clock, 5 * MINUTE, ok=False)
    await judge.evaluate(budgets=True)
    assert len(await notifications(store)) == 1


async def test_no_burn_rate_is_judged_on_too_little_eligible_time(
    store: Store, tmp_path: Path
) -> None:
    """A new SLA: 1 minute down of its first 5 reads as 200× over 1 h, but 5 minutes of an hour
    mean nothing yet. Each window needs half its length of eligible time."""
    rules = "    - {slas: [shop], channels: [ops], events: [burn_rate]}\n"
    clock = Clock(T0)
    settings = config(rules, tmp_path)
    judge = evaluator(store, settings, clock)
    await run_for(store, clock, 4 * MINUTE, ok=True)
    await run_for(store, clock, MINUTE, ok=False)
    sla = settings.slas[0]
    rates = await burn.rates(store, sla, DEFAULT_BURN_RATE, round(clock.now * 1000), [])
    assert rates[300.0] == pytest.approx(200.0)  # the whole 5-minute window has data
    assert rates[3600.0] is None and rates[21600.0] is None and rates[259200.0] is None
    await judge.evaluate(budgets=True)
    assert await notifications(store) == []
    await run_for(store, clock, 25 * MINUTE, ok=True)
    await run_for(store, clock, 8 * MINUTE, ok=False)  # 38 minutes of the hour have data
    await judge.evaluate(budgets=True)
    (page,) = await notifications(store)
    event = decode_event(page.event)
    assert [(w.long_s, w.short_s) for w in event.windows] == [(3600.0, 300.0)]  # type: ignore[union-attr]
    assert event.windows[0].long_rate == pytest.approx(9 * 60 / (38 * 60) / 0.001)  # type: ignore[union-attr]


def test_default_conditions_are_the_workbook() -> None:
    assert (
        BurnRateWindow(3600, 300, 14.4, "page"),
        BurnRateWindow(21600, 1800, 6, "page"),
        BurnRateWindow(259200, 21600, 1, "ticket"),
    ) == DEFAULT_BURN_RATE
