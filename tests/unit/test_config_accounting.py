"""`slas[].hours`, `holidays` and `monthly_fee` (CONTRACT §7): read exactly, bad values named by
their key path."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from slawatch.config.loader import ConfigError, parse_config
from slawatch.config.schema import MonthlyFee, ServiceHours


def load(slas: str):
    text = "slas:\n" + slas
    return parse_config(text, source="f.yaml", base_dir=Path("/cfg"), process="check", environ={})


def problems(slas: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load(slas)
    return caught.value.render()


GOOD = """\
  - id: s
    checks: [web]
    objective: 99.9
    timezone: Europe/Paris
    hours:
      - {days: mon-fri, from: 08:00, to: "18:00"}
      - {days: "sat,sun", from: "10:00", to: 24:00}
      - {days: [fri-mon], from: "00:00", to: "01:30:30"}
    holidays: [2026-12-25, "2027-01-01", 2026-12-25]
    monthly_fee: {amount: 450.10, currency: eur}
"""


def test_hours_holidays_and_fee_are_read_as_written() -> None:
    sla = load(GOOD).slas[0]
    assert sla.hours == (
        ServiceHours((0, 1, 2, 3, 4), 8 * 3600, 18 * 3600),
        ServiceHours((5, 6), 10 * 3600, 86_400),
        ServiceHours((0, 4, 5, 6), 0, 5430),
    )
    assert sla.holidays == (date(2026, 12, 25), date(2027, 1, 1))
    assert sla.monthly_fee == MonthlyFee(Decimal("450.10"), "EUR")
    assert sla.hours[1].to_json() == {"days": ["sat", "sun"], "from": "10:00", "to": "24:00"}


def test_no_hours_is_round_the_clock_and_no_fee() -> None:
    sla = load("  - {id: s, checks: [web], objective: 99}\n").slas[0]
    assert (sla.hours, sla.holidays, sla.monthly_fee) == ((), (), None)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("{days: funday, from: '08:00', to: '18:00'}", "slas[0].hours[0].days: 'funday' is not"),
        ("{days: mon, from: '18:00', to: '08:00'}", "slas[0].hours[0].to: must be after from"),
        ("{days: mon, from: '08:00', to: '08:00'}", "slas[0].hours[0].to: must be after from"),
        ("{days: mon, from: '24:00', to: '24:00'}", "slas[0].hours[0].from: must be a time of"),
        ("{days: mon, from: '08:00', to: '24:01'}", "slas[0].hours[0].to: must be a time of"),
        ("{days: mon, from: '8h', to: '18:00'}", "slas[0].hours[0].from: must be a time of"),
        ("{days: mon, to: '18:00'}", "slas[0].hours[0].from: is required"),
        ("{days: [], from: '08:00', to: '18:00'}", "slas[0].hours[0].days"),
        ("{day: mon, from: '08:00', to: '18:00'}", "slas[0].hours[0].day: unknown key"),
    ],
)
def test_bad_hours_are_named_by_key_path(line: str, expected: str) -> None:
    text = f"  - id: s\n    checks: [web]\n    objective: 99\n    hours:\n      - {line}\n"
    assert expected in problems(text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('[2026-12-25, "2026-02-30"]', "slas[0].holidays[1]: must be a date like 2026-12-25"),
        ('["soon"]', "slas[0].holidays[0]: must be a date"),
        ("{amount: -1, currency: EUR}", "slas[0].monthly_fee.amount: must be an amount of 0"),
        ("{amount: lots, currency: EUR}", "slas[0].monthly_fee.amount: must be an amount"),
        ("{amount: 10, currency: EURO}", "slas[0].monthly_fee.currency: must be an ISO 4217"),
        ("{amount: 10}", "slas[0].monthly_fee.currency: is required"),
    ],
)
def test_bad_holidays_and_fees_are_named_by_key_path(value: str, expected: str) -> None:
    key = "holidays" if value.startswith("[") else "monthly_fee"
    text = f"  - id: s\n    checks: [web]\n    objective: 99\n    {key}: {value}\n"
    assert expected in problems(text)
