"""A window still in progress (CONTRACT §4.8): `complete`, `projected_availability`, `verdict`,
the credit of a window in progress, and what the engine says of the time before monitoring
began. Numbers computed by hand.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from slawatch.collector.engine.periods import Window, window_for_period
from slawatch.collector.engine.sla import compute_report
from slawatch.collector.engine.timeline import Run
from slawatch.collector.engine.verdict import AT_RISK_SHARE, allowed_downtime_s, judge
from slawatch.config.schema import CreditTier, OneOffMaintenance, Sla
from tests.support import ms

S = 1000
MIN = 60 * S
HOUR = 60 * MIN
DAY = 24 * HOUR
T0 = ms("2026-11-01T00:00:00Z")
NOVEMBER = window_for_period("2026-11", "UTC")
TIERS = (CreditTier(99.9, 10.0), CreditTier(99.0, 25.0), CreditTier(95.0, 100.0))


def sla(**changes: object) -> Sla:
    fields: dict = {"id": "web", "name": "Web", "checks": ("web",), "objective": 99.9}
    fields.update({"credits": TIERS, **changes})
    return Sla(customer="acme", **fields)


def runs(*spans: tuple[int, int, bool], agent: str = "eu-1") -> dict:
    """One agent's runs of check `web`: (start, end, ok), instants in ms."""
    return {
        "web": {
            agent: [
                Run(start, end, ok, None if ok else "HTTP 503", start, 60 * S)
                for start, end, ok in spans
            ]
        }
    }


def test_one_short_outage_on_the_first_day_of_monitoring_is_on_track() -> None:
    """Issue 14: monitoring began on 1 November at 10:00; at 10:03 the target had been down
    2 minutes. Availability so far is 1/3 (below every credit tier), but the month can still
    end at 99.995 %: on track, no credit, not "breached", not 100 % owed."""
    start = T0 + 10 * HOUR
    now = start + 3 * MIN
    report = compute_report(
        sla(), runs((start, start + MIN, True), (start + MIN, now, False)), NOVEMBER, now
    )
    body = report.to_json()
    assert body["availability"] == 100 * 60 / 180
    assert body["met"] is False
    assert body["complete"] is False
    # The rest of November, 30 d − 10 h 03 min, up: 100 · (60 s + future) / (180 s + future).
    future_s = 30 * 86_400 - 10 * 3600 - 180
    assert body["future_s"] == future_s
    assert body["projected_availability"] == 100 * (60 + future_s) / (180 + future_s)
    assert body["verdict"] == "on_track"
    assert body["credit_percent"] == 0
    # The budget counts measured time and what is to come: 0.1 % of 30 d − 10 h = 2556 s, of
    # which 120 s are spent (95 % left); the 10 h before monitoring are excluded.
    assert body["error_budget_s"] == 2556.0
    assert body["error_budget_remaining_s"] == 2436.0
    assert report.calendar_error_budget_s == 2592.0
    assert (report.measured_from_ms, report.unmeasured_before_ms) == (start, 10 * HOUR)


@pytest.mark.parametrize(
    ("down_ms", "verdict"),
    # Window [0, 2000 s), now 1000 s, objective 99.9 %: the budget is 0.1 % of 2000 s = 2 s,
    # exactly; a quarter of it is 500 ms. Floats would misjudge both edges (0.1 % is not a
    # binary fraction): 1500 ms down leaves exactly a quarter, 2000 ms exactly nothing.
    [
        (0, "on_track"),
        (1499, "on_track"),
        (1500, "on_track"),
        (1501, "at_risk"),
        (2000, "at_risk"),
        (2001, "breached"),
        (500_000, "breached"),
    ],
)
def test_a_window_in_progress_is_judged_by_its_budget(down_ms: int, verdict: str) -> None:
    window = Window(T0, T0 + 2000 * S)
    now = T0 + 1000 * S
    trace = (
        runs((T0, T0 + down_ms, False), (T0 + down_ms, now, True))
        if down_ms
        else runs((T0, now, True))
    )
    report = compute_report(sla(), trace, window, now)
    assert report.error_budget_s == 2.0
    assert report.verdict == verdict
    assert not report.complete
    # `met` keeps its §4.6 meaning: availability so far against the objective.
    assert report.met == (100 * (1000 * S - down_ms) / (1000 * S) >= 99.9)


@pytest.mark.parametrize(
    ("down_s", "verdict", "credit"),
    # A complete window of 1000 s: 1 s down is 99.9 % (met, no credit), 2 s 99.8 % (breached,
    # 10 %), 60 s 94 % (breached, 100 %).
    [(0, "met", 0), (1, "met", 0), (2, "breached", 10), (60, "breached", 100)],
)
def test_a_complete_window_is_judged_by_its_availability(
    down_s: int, verdict: str, credit: float
) -> None:
    window = Window(T0, T0 + 1000 * S)
    trace = runs((T0, T0 + down_s * S, False), (T0 + down_s * S, window.to_ms, True))
    report = compute_report(sla(), trace, window, window.to_ms + HOUR)
    assert report.complete
    assert report.projected_availability == report.availability == 100 * (1000 - down_s) / 1000
    assert (report.verdict, report.credit_percent, report.future_ms) == (verdict, credit, 0)


def test_the_credit_of_a_window_in_progress_is_the_one_already_certain() -> None:
    """Half of the first 4000 s of a 100 000 s window down: 50 % so far (a 100 % credit by
    availability), but 98 % at best (2000 s down in 100 000): the 25 % tier is certain."""
    window = Window(T0, T0 + 100_000 * S)
    now = T0 + 4000 * S
    report = compute_report(
        sla(), runs((T0, T0 + 2000 * S, False), (T0 + 2000 * S, now, True)), window, now
    )
    assert report.availability == 50.0
    assert report.projected_availability == 98.0
    assert (report.verdict, report.credit_percent) == ("breached", 25.0)


def test_no_data_needs_both_availabilities_null() -> None:
    # A past window without data: nothing measured, nothing to come.
    past = compute_report(sla(), {}, Window(T0, T0 + HOUR), T0 + 2 * HOUR)
    assert (past.availability, past.projected_availability, past.verdict) == (None, None, "no_data")
    assert past.credit_percent == 0 and past.measured_from_ms is None
    # A window in progress without data yet: its whole budget is left; if the rest is up, 100 %.
    fresh = compute_report(sla(), {}, Window(T0, T0 + HOUR), T0 + 10 * MIN)
    assert (fresh.availability, fresh.projected_availability) == (None, 100.0)
    assert (fresh.verdict, fresh.credit_percent) == ("on_track", 0)
    assert (fresh.measured_from_ms, fresh.unmeasured_before_ms) == (None, 10 * MIN)
    # ... unless the rest of it is maintenance: then nothing can be measured at all.
    rest = OneOffMaintenance((T0 + 10 * MIN) / 1000, (T0 + HOUR) / 1000, "move")
    closed = compute_report(sla(maintenance=(rest,)), {}, Window(T0, T0 + HOUR), T0 + 10 * MIN)
    assert (closed.projected_availability, closed.verdict) == (None, "no_data")


def test_a_window_yet_to_come_is_on_track() -> None:
    report = compute_report(sla(), {}, Window(T0 + DAY, T0 + 2 * DAY), T0)
    assert (report.complete, report.projected_availability, report.verdict) == (
        False,
        100.0,
        "on_track",
    )
    assert report.error_budget_s == 86.4


def test_an_objective_of_100_percent_is_breached_by_any_downtime() -> None:
    window, now = Window(T0, T0 + HOUR), T0 + 10 * MIN
    clean = compute_report(sla(objective=100.0), runs((T0, now, True)), window, now)
    assert (clean.error_budget_s, clean.verdict) == (0.0, "on_track")
    one_ms = runs((T0, T0 + 1, False), (T0 + 1, now, True))
    assert compute_report(sla(objective=100.0), one_ms, window, now).verdict == "breached"


def test_maintenance_before_monitoring_is_not_unmeasured_time() -> None:
    """Monitoring began at 03:00; 01:00–02:00 was maintenance: 2 h before it were unknown."""
    maintenance = OneOffMaintenance((T0 + HOUR) / 1000, (T0 + 2 * HOUR) / 1000, "move")
    now = T0 + 4 * HOUR
    report = compute_report(
        sla(maintenance=(maintenance,)),
        runs((T0 + 3 * HOUR, now, True)),
        Window(T0, T0 + DAY),
        now,
    )
    assert (report.measured_from_ms, report.unmeasured_before_ms) == (T0 + 3 * HOUR, 2 * HOUR)
    assert report.unknown_ms == 2 * HOUR
    assert report.calendar_error_budget_s == pytest.approx(
        report.error_budget_s + 0.001 * 2 * 3600, abs=1e-9
    )


def test_the_agents_with_data_are_named_per_check() -> None:
    now = T0 + HOUR
    both = {
        "web": {
            "eu-1": [Run(T0, now, True, None, T0, MIN)],
            "us-1": [Run(T0 - DAY, T0 - DAY + MIN, True, None, T0 - DAY, MIN)],  # before
        }
    }
    report = compute_report(sla(checks=("web", "db")), both, Window(T0, T0 + DAY), now)
    assert report.agents == {"db": (), "web": ("eu-1",)}
    assert report.missing_checks == ("db",)


def test_judge_is_exact() -> None:
    """The budget is read from the objective as written: 99.95 % of 1 s allows 0.5 ms."""
    assert allowed_downtime_s(99.95, 1000) == Fraction(1, 2000)
    judged = judge(sla(objective=99.95), 999, 1, 0, complete=False)
    assert judged.error_budget_remaining_s == Fraction(1, 2000) - Fraction(1, 1000)
    assert judged.verdict == "breached"
    assert Fraction(1, 4) == AT_RISK_SHARE
