"""What a report's times mean under its SLA (CONTRACT §4.6, §4.8): availability, the error
budget, the verdict and the service credit. Pure, exact: times are ints of milliseconds and the
budget a Fraction, with the objective read as the decimal written.

A complete window is judged by its availability. A window still in progress cannot be: after one
2-minute outage on the first day of monitoring the availability may read 30 %, while the period
can still end at 99.99 %. So it is judged by what can still happen, the error budget of the whole
period (§4.6: measured time plus `future`, the rest of the window outside maintenance):

- `on_track`: at least `AT_RISK_SHARE` of the budget is left;
- `at_risk`: some is left, less than that;
- `breached`: more than the budget is down already; the objective can no longer be met.

Its credit is that of `projected_availability` (the availability if the rest of the window is
up): the credit already certain, whatever comes next.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Literal

from slawatch.config.schema import Sla

Verdict = Literal["met", "on_track", "at_risk", "breached", "no_data"]
VERDICTS: tuple[Verdict, ...] = ("met", "on_track", "at_risk", "breached", "no_data")
AT_RISK_SHARE = Fraction(1, 4)
"""A window in progress with less than this share of its error budget left is at risk."""


@dataclass(frozen=True, slots=True)
class Judgement:
    availability: float | None
    """100 · up / eligible; None without eligible time."""
    projected_availability: float | None
    """100 · (up + future) / (eligible + future); None when both are 0."""
    met: bool | None
    """`availability ≥ objective` (§4.6), whether the window is complete or not."""
    verdict: Verdict
    error_budget_s: Fraction
    error_budget_remaining_s: Fraction
    credit_percent: float


def judge(sla: Sla, up_ms: int, down_ms: int, future_ms: int, *, complete: bool) -> Judgement:
    """The figures of §4.6 and §4.8 from a report's totals (after §4.4)."""
    eligible = up_ms + down_ms
    availability = _percent(up_ms, eligible)
    projected = _percent(up_ms + future_ms, eligible + future_ms)
    budget = allowed_downtime_s(sla.objective, eligible + future_ms)
    remaining = budget - Fraction(down_ms, 1000)
    met = None if availability is None else availability >= sla.objective
    if projected is None:
        verdict: Verdict = "no_data"
    elif complete:
        verdict = "met" if met else "breached"
    elif remaining < 0:
        verdict = "breached"
    else:
        verdict = "on_track" if remaining >= AT_RISK_SHARE * budget else "at_risk"
    return Judgement(
        availability=availability,
        projected_availability=projected,
        met=met,
        verdict=verdict,
        error_budget_s=budget,
        error_budget_remaining_s=remaining,
        credit_percent=credit_percent(sla, availability if complete else projected),
    )


def allowed_downtime_s(objective: float, budget_time_ms: int) -> Fraction:
    """(1 − objective/100) · time, in seconds, exactly."""
    allowed = (100 - Fraction(Decimal(repr(objective)))) / 100
    return allowed * Fraction(budget_time_ms, 1000)


def credit_percent(sla: Sla, availability: float | None) -> float:
    """The largest `percent` among the tiers with `availability < below`; 0 if none."""
    if availability is None:
        return 0
    return max((tier.percent for tier in sla.credits if availability < tier.below), default=0)


def _percent(part_ms: int, whole_ms: int) -> float | None:
    """100 · part / whole, correctly rounded (int division is); None when whole is 0."""
    return 100 * part_ms / whole_ms if whole_ms else None
