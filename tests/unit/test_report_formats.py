"""CSV and HTML renderings of a report (`slawatch.collector.reports.formats`), from the engine's report of
the contract's example (CONTRACT §4.6)."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import replace

import pytest

from slawatch.collector.engine.periods import window_for_period
from slawatch.collector.engine.sla import LatencySource, compute_report
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
from slawatch.config.schema import CreditTier, LatencyObjective, OneOffMaintenance, Sla
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
    assert ">99.9 %<" in page and "Objective met" in page
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
