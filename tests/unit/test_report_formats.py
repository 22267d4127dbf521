"""CSV and HTML renderings of a report (`slawatch.collector.reports.formats`), from the engine's report of
the contract's example (CONTRACT §4.6)."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from slawatch.collector.engine.periods import window_for_period
from slawatch.collector.engine.report_latency import LatencySource
from slawatch.collector.engine.sla import compute_report
from slawatch.collector.engine.timeline import Run
from slawatch.collector.reports.build import MaintenanceItem, SlaReport
from slawatch.collector.reports.formats import (
    duration,
    incidents_csv,
    local_time,
    percent,
    period_title,
    report_csv,
    report_html,
)
from slawatch.config.schema import (
    CreditTier,
    LatencyObjective,
    MonthlyFee,
    OneOffMaintenance,
    ServiceHours,
    Sla,
)
from tests.support import ms

S = 1000


def example(name: str = "ACME website", error: str = "HTTP 503") -> SlaReport:
    """The contract's example: November 2026 as of the 27th 10:00, one 120 s outage."""
    now, outage = ms("2026-11-27T10:00:00Z"), ms("2026-11-20T13:00:00Z")
    start = ms("2026-11-01T00:00:00Z")
    runs = {"acme-web": {"eu-1": [
        Run(start, outage, True, None, outage - 30 * S, 30 * S, 1000),
        Run(outage, outage + 120 * S, False, error, outage + 90 * S, 30 * S, 4),
        Run(outage + 120 * S, now + 30 * S, True, None, now - 30 * S, 30 * S, 1000),
    ]}}  # fmt: skip
    maintenance = OneOffMaintenance(
        ms("2026-11-08T02:00:00Z") / 1000, ms("2026-11-08T04:00:00Z") / 1000, "kernel <upgrade>"
    )
    sla = Sla(
        id="acme-website", name=name, customer="acme", checks=("acme-web",), objective=99.9,
        latency=LatencyObjective(0.8, 95.0), maintenance=(maintenance,),
        credits=(CreditTier(99.9, 10.0), CreditTier(99.0, 25.0), CreditTier(95.0, 100.0)),
        timezone="Europe/Paris",
    )  # fmt: skip
    window = window_for_period("2026-11", "UTC")
    latencies = LatencySource([80.1] * 50 + [130.2] * 45 + [250.0] * 5)
    report = compute_report(sla, runs, window, now, latency=latencies)
    item = MaintenanceItem(
        "config", ("acme-website",), ms("2026-11-08T02:00:00Z"), ms("2026-11-08T04:00:00Z"),
        "kernel <upgrade>",
    )  # fmt: skip
    return SlaReport(report, "2026-11", (item,))


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


# ---------------------------------------------------------------------------------------- CSV


def test_the_report_csv_is_a_header_and_one_row_with_the_json_numbers() -> None:
    found = example()
    text = report_csv([found])
    assert text.count("\r\n") == 2
    [row] = rows(text)
    data = found.to_json()
    assert row["availability"] == repr(data["availability"]) == "99.99472573839662"
    assert (row["up_s"], row["down_s"], row["error_budget_remaining_s"]) == (
        "2275080.0",
        "120.0",
        "2464.8",
    )
    assert (row["objective"], row["credit_percent"], row["met"]) == ("99.9", "0", "true")
    assert (row["latency_p95_ms"], row["latency_objective_ms"], row["latency_met"]) == (
        "130.2",
        "800",
        "true",
    )
    assert (row["incidents"], row["missing_checks"], row["period"]) == ("1", "", "2026-11")
    assert (row["complete"], row["future_s"], row["verdict"]) == ("false", "309600.0", "on_track")
    assert row["projected_availability"] == repr(data["projected_availability"])


def test_new_csv_columns_come_after_the_existing_ones() -> None:
    """Spreadsheets that read columns by position keep working (§4.8 columns appended)."""
    header = report_csv([example()]).splitlines()[0].split(",")
    assert header[:27] == [
        "sla", "customer", "name", "period", "from", "to", "as_of", "objective", "up_s",
        "down_s", "unknown_s", "maintenance_s", "eligible_s", "availability", "met",
        "error_budget_s", "error_budget_remaining_s", "credit_percent", "latency_count",
        "latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "latency_objective_ms",
        "latency_objective_percentile", "latency_met", "incidents", "missing_checks",
    ]  # fmt: skip
    assert header[27:31] == ["complete", "future_s", "projected_availability", "verdict"]
    assert header[31:] == ["outside_hours_s", "credit_amount", "currency"]


def test_csv_quotes_commas_quotes_and_line_breaks() -> None:
    found = example(name='ACME, "the" website\nEU', error="a,b")
    [row] = rows(report_csv([found]))
    assert row["name"] == 'ACME, "the" website\nEU'
    [incident] = rows(incidents_csv([found]))
    assert (incident["error"], incident["checks"], incident["duration_s"]) == (
        "a,b",
        "acme-web",
        "120.0",
    )


@pytest.mark.parametrize("error", ["=1+1", "+cmd", "-2", "@SUM(A1)", "\tx", "\rx"])
def test_text_cells_a_spreadsheet_would_run_get_a_quote(error: str) -> None:
    [incident] = rows(incidents_csv([example(error=error)]))
    assert incident["error"] == "'" + error


def test_numbers_are_not_defused() -> None:
    # A negative remaining budget stays a number.
    found = example()
    overspent = replace(found, report=replace(found.report, error_budget_remaining_s=-12.5))
    [row] = rows(report_csv([overspent]))
    assert row["error_budget_remaining_s"] == "-12.5"


# --------------------------------------------------------------------------------------- HTML


def test_the_html_report_shows_the_figures_escaped_in_the_slas_timezone() -> None:
    page = report_html(
        example(name="ACME <b>website</b>"), customer_name="ACME & Co", provider="status.example",
        generated_ms=ms("2026-11-27T10:00:00Z"),
    )  # fmt: skip
    assert "<b>website</b>" not in page and "ACME &lt;b&gt;website&lt;/b&gt;" in page
    assert "ACME &amp; Co" in page and "status.example" in page
    assert "kernel &lt;upgrade&gt;" in page
    assert 'value="99.99472573839662">99.9947 %<' in page
    assert ">99.9 %<" in page
    # November is in progress on the 27th, with 95 % of its error budget left (CONTRACT §4.8).
    assert 'data-verdict="on_track">On track<' in page and "Achieved so far" in page
    assert 'id="measured">over 26 d 08 h measured<' in page
    assert 'value="99.9953574744661">99.9953 %</data> by the end of the period' in page
    assert "Service credit certain so far" in page
    assert "November 2026" in page
    # 13:00Z is 14:00 in Paris (CET), and the report says so.
    assert "2026-11-20 14:00:00 CET" in page
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert re.search(r"@page\s*{[^}]*size:\s*A4", page)


def test_an_ongoing_outage_and_missing_checks_are_explained() -> None:
    found = example()
    incident = found.report.incidents[0]
    ongoing = replace(
        found.report,
        incidents=(replace(incident, end_ms=None, run_end_ms=None),),
        missing_checks=("acme-db",),
    )
    page = report_html(
        SlaReport(ongoing, None, ()), customer_name=None, provider=None, generated_ms=0
    )
    assert ">ongoing<" in page
    assert 'id="missing-checks"' in page and "<code>acme-db</code>" in page
    assert "No maintenance in this period." in page


# -------------------------------------------------------------------------------------- words


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (45.5, "45.5 s"), (120, "2 min 00 s"), (3723, "1 h 02 min 03 s"),
     (2 * 86400 + 3 * 3600 + 240, "2 d 03 h 04 min"), (-90, "−1 min 30 s")],
)  # fmt: skip
def test_durations_read_as_people_say_them(seconds: float, text: str) -> None:
    assert duration(seconds) == text


@pytest.mark.parametrize(
    ("value", "floor", "text"),
    [(99.9, False, "99.9 %"), (100.0, True, "100 %"), (99.89999, True, "99.8999 %"),
     (99.99472573839662, True, "99.9947 %"), (0.0, True, "0 %")],
)  # fmt: skip
def test_percentages_never_show_more_than_achieved(value: float, floor: bool, text: str) -> None:
    assert percent(value, floor=floor) == text


@pytest.mark.parametrize(
    ("period", "title"),
    [("2026-11", "November 2026"), ("2026-W47", "Week 47, 2026 (16 November – 22 November)"),
     ("2026-11-27", "27 November 2026"), (None, None)],
)  # fmt: skip
def test_period_titles(period: str | None, title: str | None) -> None:
    assert period_title(period, "Europe/Paris") == title


def test_local_times_carry_their_zone_and_milliseconds_when_needed() -> None:
    assert (
        local_time(ms("2026-07-01T12:00:00.250Z"), "Europe/Paris") == "2026-07-01 14:00:00.250 CEST"
    )
    assert local_time(ms("2026-07-01T12:00:00Z"), "UTC") == "2026-07-01 12:00:00 UTC"


# ------------------------------------------------------------------------- a period in progress


def first_day_outage(agents: tuple[str, ...] = ("eu-1",), **changes: object) -> SlaReport:
    """Issue 14's scene: monitoring of November began on the 1st at 10:00 UTC; at 10:03 the
    target had been down 2 minutes (10:01–10:03) as every agent saw it."""
    start = ms("2026-11-01T10:00:00Z")
    now = start + 180 * S
    runs = {"acme-web": {agent: [
        Run(start, start + 60 * S, True, None, start, 30 * S, 2),
        Run(start + 60 * S, now, False, "HTTP 503", now - 30 * S, 30 * S, 4),
    ] for agent in agents}}  # fmt: skip
    fields: dict = {
        "id": "acme-website", "name": "ACME website", "customer": "acme",
        "checks": ("acme-web",), "objective": 99.9,
        "credits": (CreditTier(99.9, 10.0), CreditTier(99.0, 25.0), CreditTier(95.0, 100.0)),
    }  # fmt: skip
    sla = Sla(**{**fields, **changes})
    return SlaReport(
        compute_report(sla, runs, window_for_period("2026-11", "UTC"), now), "2026-11", ()
    )


def render(found: SlaReport) -> str:
    return report_html(found, customer_name=None, provider=None, generated_ms=0)


def test_one_short_outage_on_the_first_day_frightens_nobody() -> None:
    """Issue 14: the report said "Achieved 53.16 % — Objective breached — Service credit owed
    100 %" after one 2-minute outage on the first day of monitoring."""
    page = render(first_day_outage())
    assert 'data-verdict="on_track">On track<' in page
    assert "breached" not in page[page.index("<body>") : page.index("<footer>")]
    assert "Service credit owed" not in page
    assert (
        'Service credit certain so far</div>\n    <div class="big"><data id="credit" value="0">0 %<'
        in page
    )
    assert 'id="availability" value="33.333333333333336">33.3333 %<' in page
    assert 'id="measured">over 3 min measured<' in page
    # The budget counts the 10 hours before monitoring as unknown and leaves them out.
    assert (
        "The error budget is 42 min 36 s, not the 43 min 12 s of the whole period: monitoring "
        "began 2026-11-01 10:00:00 UTC, and the 10 h before it are unknown and left out"
    ) in page
    [row] = rows(report_csv([first_day_outage()]))
    assert (row["met"], row["verdict"], row["credit_percent"]) == ("false", "on_track", "0")


@pytest.mark.parametrize(
    ("down_s", "verdict", "credit"),
    [(0, "Objective met", "0 %"), (600, "Objective breached", "10 %")],
)
def test_a_complete_period_is_judged_by_its_availability(
    down_s: int, verdict: str, credit: str
) -> None:
    window = window_for_period("2026-11-03", "UTC")
    runs = {"acme-web": {"eu-1": [
        Run(window.from_ms, window.from_ms + down_s * S, False, "x", window.from_ms, 60 * S, 1),
        Run(window.from_ms + down_s * S, window.to_ms, True, None, window.to_ms, 60 * S, 9),
    ]}}  # fmt: skip
    sla = replace(example().report.sla, maintenance=())
    page = render(SlaReport(compute_report(sla, runs, window, window.to_ms + 1), "2026-11-03", ()))
    assert f">{verdict}<" in page and "complete period" in page
    owed = page[page.index("Service credit owed") :]
    assert owed[: owed.index("</data>")].endswith(f">{credit}")
    assert "by the end of the period" not in page and 'id="budget-note"' not in page
    assert "The period is over: the objective is met when availability reaches it" in page


def method(found: SlaReport) -> str:
    page = render(found)
    return page[page.index("How these figures are computed") :]


def test_the_method_notes_describe_this_sla() -> None:
    one = method(first_day_outage())
    assert "several locations" not in one and "quorum" not in one
    assert "The check is probed from one location (eu-1)" in one
    assert "Every outage counts, however short" in one
    assert "No maintenance window falls in this period." in one
    assert "A period in progress is judged by its error budget" in one
    three = method(first_day_outage(("eu-1", "us-1", "ap-1"), quorum=2, min_downtime=300.0))
    assert "The check is probed from 3 locations (ap-1, eu-1, us-1)" in three
    assert "at least 2 locations (or all with a result) seeing it down (quorum: 2)" in three
    assert "Outages shorter than 5 min 00 s are forgiven: counted as up." in three
    maintained = method(example())
    assert "The maintenance window listed above is removed from the period (2 h up to" in maintained


def test_checks_seen_from_different_locations_are_each_named() -> None:
    found = first_day_outage(("eu-1", "us-1"), checks=("acme-web", "acme-db"), quorum="all")
    runs = {**found.report.agents, "acme-db": ("eu-1",)}
    notes = method(replace(found, report=replace(found.report, agents=runs)))
    assert "The checks are probed: acme-db from one location (eu-1); acme-web from 2 " in notes
    assert "every location with a result seeing it down (quorum: all)" in notes
    assert "The service is down when any of its checks is down." in notes


def test_service_hours_and_the_credit_amount_are_shown_and_explained() -> None:
    """An 8×5 SLA with a holiday and a fee: the header, the time table, the method notes and
    the credit say so; the CSV carries the outside time and the exact amount."""
    found = first_day_outage(
        hours=(ServiceHours((0, 1, 2, 3, 4), 8 * 3600, 18 * 3600),),
        holidays=(date(2026, 12, 25),),
        timezone="Europe/Paris",
        monthly_fee=MonthlyFee(Decimal("1250.00"), "EUR"),
    )
    page = render(found)
    assert "Service hours: Mon–Fri 08:00–18:00 (Europe/Paris), except 25 Dec 2026" in page
    assert "Outside service hours" in page
    notes = method(found)
    assert "Only service hours count: Mon–Fri 08:00–18:00 (Europe/Paris)" in notes
    assert "the error budget covers service hours only" in notes
    # 1 November 2026 is a Sunday: the whole outage is outside service hours.
    assert found.report.down_ms == 0
    [row] = rows(report_csv([found]))
    assert row["outside_hours_s"] == repr(found.report.outside_hours_ms / 1000)
    assert (row["credit_amount"], row["currency"]) == ("0.00", "EUR")
    assert 'id="credit-amount" value="0.00">0.00 EUR<' in page


def test_a_round_the_clock_sla_says_so() -> None:
    notes = method(first_day_outage())
    assert "Service is due around the clock (24×7)" in notes
    assert "Outside service hours" not in render(first_day_outage())
