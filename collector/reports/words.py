"""How the figures of a report read for people: the verdict, the measured time an availability
stands on, and why an error budget is smaller than the calendar's. One home for the phrases the
HTML report, the status page and the weekly digest share (CONTRACT §4.8: every availability
shown says over how much measured time it stands).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from slawatch.collector.engine.sla import Report
from slawatch.collector.engine.verdict import Verdict
from slawatch.config.schema import DAY_NAMES, ServiceHours, Sla, clock_text

VERDICT_TEXT: dict[Verdict, str] = {
    "met": "objective met",
    "on_track": "on track",
    "at_risk": "at risk",
    "breached": "objective breached",
    "no_data": "no data",
}
IN_PROGRESS_RULE = (
    "A period in progress is judged by its error budget, the downtime the objective allows over "
    "the measured time and the rest of the period: on track while at least a quarter of it is "
    "left, at risk below that, breached once it is spent (the objective can then no longer be "
    "met)."
)
"""How a period in progress is judged (CONTRACT §4.8), for the footnotes of pages."""


def verdict_meaning(report: Report) -> str:
    """The verdict of `report` in a sentence."""
    if report.verdict == "breached" and not report.complete:
        return (
            "the downtime already exceeds the error budget of the whole period: the objective "
            "can no longer be met"
        )
    return {
        "met": "the period is over and its availability reached the objective",
        "breached": "the period is over and its availability fell short of the objective",
        "on_track": "the period is in progress with at least a quarter of its error budget left",
        "at_risk": "the period is in progress with less than a quarter of its error budget left",
        "no_data": "nothing was measured, and nothing is left to measure",
    }[report.verdict]


def span(seconds: float) -> str:
    """A duration as people say it, its two largest units: "45 s", "12 min", "2 h 05 min",
    "3 d 04 h"; negative with a minus."""
    if seconds < 0:
        return "−" + span(-seconds)
    total = math.floor(seconds)
    if total < 60:
        return f"{total} s" if total or not seconds else "< 1 s"
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours:02d} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes:02d} min" if minutes else f"{hours} h"
    return f"{minutes} min {secs:02d} s" if secs else f"{minutes} min"


def measured(report: Report) -> str:
    """The time an availability stands on: "over 6 d 04 h measured"; with `unknown: up` or
    `down`, time without data is in it too, and the phrase says so."""
    if report.eligible_ms == 0:
        return "nothing measured yet" if not report.complete else "nothing measured"
    over = f"over {span(report.eligible_ms / 1000)}"
    if report.sla.unknown == "exclude":
        return f"{over} measured"
    return f"{over} (time without data counts as {report.sla.unknown})"


def budget_note(report: Report, when: Callable[[int], str]) -> str | None:
    """Why the error budget is smaller than the calendar's, when it is: time without data is
    left out (`unknown: exclude`), and so is its share of the budget. `when` writes an instant.
    None when the budget is the calendar's."""
    unknown = report.unknown_ms
    if report.sla.unknown != "exclude" or unknown == 0 or report.calendar_error_budget_s <= 0:
        return None
    before = report.unmeasured_before_ms
    if report.measured_from_ms is None and report.complete:
        why = f"nothing was measured, and the {span(unknown / 1000)} of it are"
    elif report.measured_from_ms is None:
        why = f"nothing has been measured yet, and the {span(unknown / 1000)} so far are"
    elif before == unknown:
        why = (
            f"monitoring began {when(report.measured_from_ms)}, and the {span(before / 1000)} "
            "before it are"
        )
    elif before:
        why = (
            f"{span(unknown / 1000)} without data ({span(before / 1000)} of it before "
            f"monitoring began {when(report.measured_from_ms)}) are"
        )
    else:
        why = f"{span(unknown / 1000)} without data are"
    return (
        f"The error budget is {span(report.error_budget_s)}, not the "
        f"{span(report.calendar_error_budget_s)} of the whole period: {why} unknown and left "
        "out, as time without data is, with their share of the budget."
    )


EXCLUSION_TEXT = {
    "customer": "customer-caused",
    "force_majeure": "force majeure",
    "third_party": "third-party",
    "other": "other",
}
"""An exclusion's category (CONTRACT §7) as a customer reads it: "excluded: customer-caused"."""


def exclusion_text(category: str | None, reason: str) -> str:
    """ "excluded: customer-caused — DNS change by the customer"."""
    words = EXCLUSION_TEXT.get(category or "other", "other")
    return f"excluded: {words} — {reason}" if reason else f"excluded: {words}"


def service_hours_text(sla: Sla) -> str | None:
    """ "Mon–Fri 08:00–18:00, Sat 10:00–14:00 (Europe/Paris), except 25 Dec 2026": the SLA's
    service hours (CONTRACT §7) in words; None for a 24×7 SLA without holidays."""
    if not sla.hours and not sla.holidays:
        return None
    lines = ", ".join(_hours_line(line) for line in sla.hours) or "all day, every day"
    text = f"{lines} ({sla.timezone})"
    if sla.holidays:
        days = ", ".join(f"{d.day} {d:%b %Y}" for d in sla.holidays)
        text += f", except {days}"
    return text


def _hours_line(line: ServiceHours) -> str:
    return f"{_days_text(line.days)} {clock_text(line.start_s)}–{clock_text(line.end_s)}"


def _days_text(days: tuple[int, ...]) -> str:
    """(0, 1, 2, 3, 4) → "Mon–Fri"; (0, 2, 4) → "Mon, Wed, Fri"; every day → "every day"."""
    if len(days) == 7:
        return "every day"
    runs: list[list[int]] = []
    for day in days:
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    names = [DAY_NAMES[day].capitalize() for day in range(7)]
    return ", ".join(
        names[run[0]] if len(run) == 1 else f"{names[run[0]]}–{names[run[-1]]}" for run in runs
    )
