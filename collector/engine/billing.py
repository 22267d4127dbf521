"""Service credits as money (CONTRACT §7, `slas[].monthly_fee`). Pure and exact: Decimal and
Fraction, never a float.

The fee of a window is the monthly fee prorated by time over each calendar month (in the SLA's
timezone) the window overlaps: a whole month costs the fee, whatever its length; a week inside
November costs 7/30 of it; a window across two months takes its share of each. The credit is
that fee × `credit_percent` / 100, rounded half-even to the currency's minor unit (cents; none
for JPY).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

from slawatch.collector.engine.periods import Window, from_ms, local_midnight_ms, zone_of
from slawatch.config.currencies import quantum
from slawatch.config.schema import MonthlyFee


def prorated_fee(fee: MonthlyFee, window: Window, tz: str) -> Fraction:
    """The part of the monthly fee that `window` covers, exactly."""
    zone = zone_of(tz)
    first = from_ms(window.from_ms, zone).date().replace(day=1)
    share = Fraction(0)
    month = first
    while True:
        start = local_midnight_ms(month, zone)
        if start >= window.to_ms:
            break
        following = _next_month(month)
        end = local_midnight_ms(following, zone)
        overlap = min(end, window.to_ms) - max(start, window.from_ms)
        if overlap > 0:
            share += Fraction(overlap, end - start)
        month = following
    return Fraction(fee.amount) * share


def credit_amount(
    fee: MonthlyFee | None, credit_percent: float, window: Window, tz: str
) -> Decimal | None:
    """What the credit of `credit_percent` comes to over `window`; None without a fee."""
    if fee is None:
        return None
    percent = Fraction(Decimal(repr(float(credit_percent))))
    return _round(prorated_fee(fee, window, tz) * percent / 100, quantum(fee.currency))


def _round(exact: Fraction, step: Decimal) -> Decimal:
    """`exact` rounded half-even to a multiple of `step`, computed on integers (no 28-digit
    context to overflow)."""
    units = exact / Fraction(step)
    whole, rest = divmod(units.numerator, units.denominator)
    twice = 2 * rest
    if twice > units.denominator or (twice == units.denominator and whole % 2):
        whole += 1
    return (Decimal(whole) * step).quantize(step)


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)
