"""The words of reports (`slawatch.collector.reports.words`): the measured time an availability
stands on and why an error budget is smaller than the calendar's (CONTRACT §4.8), on reports of
the engine."""

from __future__ import annotations

import pytest

from slawatch.collector.engine.periods import Window
from slawatch.collector.engine.sla import Report, compute_report
from slawatch.collector.engine.timeline import Run
from slawatch.collector.reports.formats import local_time
from slawatch.collector.reports.words import budget_note, measured, span, verdict_meaning
from slawatch.config.schema import Sla
from tests.support import ms

S = 1000
HOUR = 3600 * S
T0 = ms("2026-11-01T00:00:00Z")
DAY = Window(T0, T0 + 24 * HOUR)
"""Objective 99 %: the day allows 14 min 24 s of downtime."""


def day_report(spans: list[tuple[int, int]], now_ms: int, unknown: str = "exclude") -> Report:
    """A report of `DAY` whose service was up during `spans` (hours from midnight)."""
    sla = Sla(id="web", name="Web", checks=("web",), objective=99.0, unknown=unknown)  # type: ignore[arg-type]
    runs = [Run(T0 + a * HOUR, T0 + b * HOUR, True, None, T0 + a * HOUR, 60 * S) for a, b in spans]
    return compute_report(sla, {"web": {"eu-1": runs}}, DAY, now_ms)


def note(report: Report) -> str | None:
    return budget_note(report, lambda instant: local_time(instant, "UTC"))


def test_monitoring_that_began_late_explains_the_smaller_budget() -> None:
    report = day_report([(6, 8)], T0 + 8 * HOUR)
    assert measured(report) == "over 2 h measured"
    assert note(report) == (
        "The error budget is 10 min 48 s, not the 14 min 24 s of the whole period: monitoring "
        "began 2026-11-01 06:00:00 UTC, and the 6 h before it are unknown and left out, as time "
        "without data is, with their share of the budget."
    )


def test_gaps_after_monitoring_began_are_named_apart() -> None:
    report = day_report([(6, 8), (9, 10)], T0 + 10 * HOUR)
    assert measured(report) == "over 3 h measured"
    assert note(report) is not None and note(report).endswith(  # type: ignore[union-attr]
        "whole period: 7 h without data (6 h of it before monitoring began 2026-11-01 "
        "06:00:00 UTC) are unknown and left out, as time without data is, with their share of "
        "the budget."
    )
    gap_only = day_report([(0, 8), (9, 10)], T0 + 10 * HOUR)
    assert "whole period: 1 h without data are unknown" in note(gap_only)  # type: ignore[operator]


def test_nothing_measured_yet_or_at_all() -> None:
    fresh = day_report([], T0 + 2 * HOUR)
    assert measured(fresh) == "nothing measured yet"
    assert "nothing has been measured yet, and the 2 h so far are unknown" in note(fresh)  # type: ignore[operator]
    past = day_report([], T0 + 48 * HOUR)
    assert measured(past) == "nothing measured"
    assert "nothing was measured, and the 1 d of it are unknown" in note(past)  # type: ignore[operator]
    assert verdict_meaning(past) == "nothing was measured, and nothing is left to measure"


@pytest.mark.parametrize("unknown", ["up", "down"])
def test_time_without_data_that_counts_keeps_the_calendars_budget(unknown: str) -> None:
    report = day_report([(6, 8)], T0 + 8 * HOUR, unknown=unknown)
    assert note(report) is None
    assert measured(report) == f"over 8 h (time without data counts as {unknown})"


def test_a_complete_day_measured_whole_needs_no_note() -> None:
    report = day_report([(0, 24)], T0 + 25 * HOUR)
    assert (note(report), measured(report)) == (None, "over 1 d measured")
    assert (
        verdict_meaning(report) == "the period is over and its availability reached the objective"
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (0.4, "< 1 s"), (45, "45 s"), (720, "12 min"), (7500, "2 h 05 min"),
     (3 * 86_400 + 4 * 3600, "3 d 04 h"), (86_400, "1 d"), (-90, "−1 min 30 s")],
)  # fmt: skip
def test_spans_read_as_people_say_them(seconds: float, text: str) -> None:
    assert span(seconds) == text
