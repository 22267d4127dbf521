"""Credits as money (CONTRACT §7): the monthly fee prorated to the window, times the percent,
rounded half-even to the currency's minor unit."""

from __future__ import annotations

from decimal import Decimal

import pytest

from slawatch.collector.engine.billing import credit_amount, prorated_fee
from slawatch.collector.engine.periods import Window, window_for_period
from slawatch.config.schema import MonthlyFee


def fee(amount: str, currency: str = "EUR") -> MonthlyFee:
    return MonthlyFee(Decimal(amount), currency)


@pytest.mark.parametrize(
    ("amount", "currency", "percent", "expected"),
    [
        ("450.00", "EUR", 10, "45.00"),
        ("450.05", "EUR", 10, "45.00"),  # 45.005: half to even
        ("450.15", "EUR", 10, "45.02"),  # 45.015: half to even
        ("450.25", "EUR", 10, "45.02"),
        ("45025", "JPY", 10, "4502"),  # no minor unit
        ("45035", "JPY", 10, "4504"),
        ("12.345", "KWD", 100, "12.345"),  # thousandths
        ("450.00", "EUR", 0, "0.00"),
        ("99.99", "USD", 5.5, "5.50"),  # 5.49945
    ],
)
def test_a_month_credit_is_the_fee_times_the_percent(
    amount: str, currency: str, percent: float, expected: str
) -> None:
    november = window_for_period("2026-11", "Europe/Paris")
    found = credit_amount(fee(amount, currency), percent, november, "Europe/Paris")
    assert found is not None
    assert str(found) == expected


def test_no_fee_no_amount() -> None:
    assert credit_amount(None, 25, window_for_period("2026-11", "UTC"), "UTC") is None


def test_a_week_takes_its_share_of_each_month_it_crosses() -> None:
    """2026-W49 runs 30 Nov – 6 Dec: 1/30 of November's fee and 6/31 of December's."""
    week = window_for_period("2026-W49", "UTC")
    assert prorated_fee(fee("930.00"), week, "UTC") == pytest.approx(31 + 180)
    assert str(credit_amount(fee("930.00"), 100, week, "UTC")) == "211.00"


def test_a_month_with_a_dst_change_costs_the_whole_fee() -> None:
    """October 2026 in Paris lasts 31 days and one hour: still exactly one month's fee."""
    october = window_for_period("2026-10", "Europe/Paris")
    assert prorated_fee(fee("450.00"), october, "Europe/Paris") == 450


def test_any_window_is_prorated_by_time() -> None:
    day = Window(
        window_for_period("2026-11-03", "UTC").from_ms, window_for_period("2026-11-03", "UTC").to_ms
    )
    assert str(credit_amount(fee("300.00"), 100, day, "UTC")) == "10.00"
