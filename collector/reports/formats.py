"""SLA reports as CSV and as a printable HTML page. Pure: a `SlaReport` in, text out.

CSV: one row per SLA-period (`report_csv`) and one per incident (`incidents_csv`), written by
the csv module (RFC 4180 quoting, CRLF line ends). Numbers are written as JSON writes them (full
precision), booleans as `true`/`false`, nothing as an empty cell. A text cell that a spreadsheet
would run as a formula (starting with `=`, `+`, `-`, `@`, tab or CR) gets a leading `'`: error
messages come from the probed targets, and a report is opened by people.

HTML: `collector/templates/report.html` (Jinja2, autoescaped) gets a view model of display
strings built here; the exact figures ride along in `<data value="…">` elements.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from slawatch.collector.engine.periods import from_ms, window_for_period, zone_of
from slawatch.collector.engine.sla import Incident, Report
from slawatch.collector.reports.build import MaintenanceItem, SlaReport
from slawatch.collector.reports.words import (
    IN_PROGRESS_RULE,
    VERDICT_TEXT,
    budget_note,
    exclusion_text,
    measured,
    service_hours_text,
    span,
    verdict_meaning,
)
from slawatch.config.currencies import quantum
from slawatch.config.schema import Brand, Config, Sla

REPORT_COLUMNS = (
    "sla", "customer", "name", "period", "from", "to", "as_of", "objective",
    "up_s", "down_s", "unknown_s", "maintenance_s", "eligible_s", "availability", "met",
    "error_budget_s", "error_budget_remaining_s", "credit_percent",
    "latency_count", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms",
    "latency_objective_ms", "latency_objective_percentile", "latency_met",
    "incidents", "missing_checks",
    "complete", "future_s", "projected_availability", "verdict",
    "outside_hours_s", "credit_amount", "currency",
)  # fmt: skip
"""The CSV's columns: new ones are appended, so that spreadsheets reading by position keep
working."""
INCIDENT_COLUMNS = (
    "sla", "customer", "name", "start", "end", "duration_s", "run_start", "run_end", "checks",
    "error",
)  # fmt: skip
TEXT_COLUMNS = frozenset({"sla", "customer", "name", "checks", "error", "missing_checks"})
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

TEMPLATES = Environment(
    loader=PackageLoader("slawatch.collector", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
"""The HTML pages' templates (`collector/templates/`): this report and the status page."""


# ---------------------------------------------------------------------------------------- CSV


def report_csv(reports: Iterable[SlaReport]) -> str:
    """A header row and one row per report."""
    rows = []
    for found in reports:
        data = found.to_json()
        latency = data["latency"]
        rows.append(
            {
                **{key: data[key] for key in REPORT_COLUMNS if key in data},
                "latency_count": latency["count"],
                "latency_p50_ms": latency["p50_ms"],
                "latency_p95_ms": latency["p95_ms"],
                "latency_p99_ms": latency["p99_ms"],
                "latency_objective_ms": latency["objective_ms"],
                "latency_objective_percentile": latency["objective_percentile"],
                "latency_met": latency["met"],
                "incidents": len(data["incidents"]),
                "missing_checks": " ".join(data["missing_checks"]),
                "credit_amount": found.report.credit_amount,
            }
        )
    return _csv(REPORT_COLUMNS, rows)


def incidents_csv(reports: Iterable[SlaReport]) -> str:
    """A header row and one row per incident of every report, in order."""
    rows = []
    for found in reports:
        sla = found.report.sla
        for incident in found.report.incidents:
            data = incident.to_json()
            rows.append(
                {
                    "sla": sla.id,
                    "customer": sla.customer,
                    "name": sla.name,
                    **{key: data[key] for key in INCIDENT_COLUMNS if key in data},
                    "checks": " ".join(data["checks"]),
                }
            )
    return _csv(INCIDENT_COLUMNS, rows)


def _csv(columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(_cell(column, row.get(column)) for column in columns)
    return out.getvalue()


def _cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    if column in TEXT_COLUMNS and text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


# --------------------------------------------------------------------------------------- HTML


@dataclass(frozen=True, slots=True)
class Figure:
    """A number as shown (`text`) and as it is (`value`, for `<data value>`)."""

    text: str
    value: str


def report_page(found: SlaReport, config: Config, generated_ms: int) -> str:
    """`report_html` with the customer's name and the provider as the config gives them."""
    settings = config.collector
    customer_id = found.report.sla.customer
    customer = settings.customer(customer_id) if settings and customer_id else None
    return report_html(
        found,
        customer_name=customer.name if customer else customer_id,
        provider=settings.provider_name if settings else None,
        generated_ms=generated_ms,
        brand=customer.brand if customer else None,
    )


def report_html(
    found: SlaReport,
    *,
    customer_name: str | None,
    provider: str | None,
    generated_ms: int,
    brand: Brand | None = None,
) -> str:
    """The printable report a provider sends a customer (in `brand`'s colour and logo)."""
    return TEMPLATES.get_template("report.html").render(
        view=_view(found, customer_name, provider, generated_ms), brand=brand
    )


def _view(
    found: SlaReport, customer_name: str | None, provider: str | None, generated_ms: int
) -> dict[str, Any]:
    report, sla = found.report, found.report.sla
    tz = sla.timezone
    latency = report.latency
    budget_used = (
        None
        if report.error_budget_s <= 0
        else 100 * (report.error_budget_s - report.error_budget_remaining_s) / report.error_budget_s
    )
    return {
        "provider": provider,
        "sla": sla,
        "customer": customer_name or sla.customer or "",
        "period": period_title(found.period, tz),
        "window": f"{local_time(report.window.from_ms, tz)} – "
        f"{local_time(report.window.to_ms, tz)}",
        "timezone": tz,
        "as_of": local_time(report.as_of_ms, tz),
        "complete": report.complete,
        "generated": local_time(generated_ms, tz),
        "objective": Figure(percent(sla.objective), repr(float(sla.objective))),
        "availability": None
        if report.availability is None
        else Figure(percent(report.availability, floor=True), repr(report.availability)),
        "measured": measured(report),
        "projected": None
        if report.complete or report.projected_availability is None or not report.eligible_ms
        else Figure(
            percent(report.projected_availability, floor=True),
            repr(report.projected_availability),
        ),
        "verdict": report.verdict,
        "verdict_text": VERDICT_TEXT[report.verdict].capitalize(),
        "verdict_meaning": verdict_meaning(report),
        "budget": Figure(duration(report.error_budget_s), repr(report.error_budget_s)),
        "budget_remaining": Figure(
            duration(report.error_budget_remaining_s), repr(report.error_budget_remaining_s)
        ),
        "budget_used_percent": None if budget_used is None else min(100.0, max(0.0, budget_used)),
        "budget_used_text": None if budget_used is None else f"{budget_used:.1f} %",
        "budget_note": budget_note(report, lambda ms: local_time(ms, tz)),
        "credit": Figure(f"{_number(report.credit_percent)} %", repr(report.credit_percent)),
        "credit_amount": None
        if report.credit_amount is None
        else Figure(money(report.credit_amount, sla), str(report.credit_amount)),
        "monthly_fee": None if sla.monthly_fee is None else money(sla.monthly_fee.amount, sla),
        "credits": [(f"{_number(t.below)} %", f"{_number(t.percent)} %") for t in sla.credits],
        "times": [
            ("Up", report.up_ms),
            ("Down", report.down_ms),
            ("Unknown (excluded)" if sla.unknown == "exclude" else "Unknown", report.unknown_ms),
            ("Maintenance", report.maintenance_ms),
            *(
                [("Outside service hours", report.outside_hours_ms)]
                if service_hours_text(sla)
                else []
            ),
            ("Eligible (up + down)", report.eligible_ms),
        ],
        "service_hours": service_hours_text(sla),
        "duration_ms": lambda ms: duration(ms / 1000),
        "incidents": [_incident_view(i, tz) for i in report.incidents],
        "maintenance": [_maintenance_view(m, tz) for m in found.planned],
        "exclusions": [
            {**_maintenance_view(m, tz), "text": exclusion_text(m.category, m.reason)}
            for m in found.exclusions
        ],
        "latency": {
            "count": latency.count,
            "rows": [
                (f"p{p}", value)
                for p, value in ((50, latency.p50_ms), (95, latency.p95_ms), (99, latency.p99_ms))
            ],
            "objective": None
            if latency.objective_ms is None
            else f"p{_number(latency.objective_percentile or 0)} "
            f"≤ {_number(latency.objective_ms)} ms",
            "value": latency.value_ms,
            "met": latency.met,
        },
        "ms": lambda value: "–" if value is None else f"{value:.1f} ms",
        "missing_checks": list(report.missing_checks),
        "method": method_notes(found),
    }


def _incident_view(incident: Incident, tz: str) -> dict[str, Any]:
    return {
        "start": local_time(incident.start_ms, tz),
        "end": "ongoing" if incident.end_ms is None else local_time(incident.end_ms, tz),
        "duration": duration(incident.duration_ms / 1000),
        "duration_s": repr(incident.duration_ms / 1000),
        "checks": ", ".join(incident.checks),
        "error": incident.error or "",
        "clipped": incident.run_start_ms != incident.start_ms
        or (incident.run_end_ms is not None and incident.run_end_ms != incident.end_ms),
    }


def _maintenance_view(item: MaintenanceItem, tz: str) -> dict[str, Any]:
    return {
        "start": local_time(item.start_ms, tz),
        "end": local_time(item.end_ms, tz),
        "duration": duration((item.end_ms - item.start_ms) / 1000),
        "reason": item.reason or "–",
        "source": "planned (contract)" if item.source == "config" else "declared",
    }


def method_notes(found: SlaReport) -> list[str]:
    """How the numbers of this report were decided, in words (its footnote): its locations and
    quorum, its checks, its forgiveness, its unknown time and its maintenance as they are."""
    report, sla = found.report, found.report.sla
    notes = [_locations_note(report)]
    if len(set(sla.checks)) > 1:
        notes.append(
            "The service is down when any of its checks is down."
            if sla.require == "all"
            else "The service is up while at least one of its checks is up."
        )
    unknown = {
        "exclude": "is left out of the calculation",
        "up": "counts as available",
        "down": "counts as unavailable",
    }[sla.unknown]
    notes.append(
        "A probe result stands until the next one, for at most two probe intervals; time "
        f"without any result is unknown and {unknown}"
        + (f" (here {span(report.unknown_ms / 1000)})." if report.unknown_ms else ".")
    )
    if sla.min_downtime > 0:
        notes.append(
            f"Outages shorter than {duration(sla.min_downtime)} are forgiven: counted as up."
        )
    else:
        notes.append("Every outage counts, however short: no minimum downtime is forgiven.")
    if found.planned:
        count = len(found.planned)
        listed = (
            "The maintenance window listed above is"
            if count == 1
            else f"The {count} maintenance windows listed above are"
        )
        notes.append(
            f"{listed} removed from the period ({span(report.maintenance_ms / 1000)} up to "
            "the figures' time): maintenance counts neither for nor against availability."
        )
    else:
        notes.append("No maintenance window falls in this period.")
    if found.exclusions:
        reasons = "; ".join(exclusion_text(m.category, m.reason) for m in found.exclusions)
        notes.append(
            f"Time excluded after the fact by the terms of the agreement counts as maintenance "
            f"({len(found.exclusions)} listed above: {reasons})."
        )
    hours = service_hours_text(sla)
    if hours:
        notes.append(
            f"Only service hours count: {hours}. Time outside them "
            f"({span(report.outside_hours_ms / 1000)} up to the figures' time) is removed like "
            "maintenance, after short outages are forgiven, so an outage is judged by its whole "
            "length; the error budget covers service hours only."
        )
    else:
        notes.append("Service is due around the clock (24×7): every hour counts.")
    notes += [
        "Availability = up time / (up time + down time). The error budget is the down time the "
        "objective allows over the measured time and the rest of the period.",
        _verdict_note(report),
        "Latency percentiles are by nearest rank over successful probes outside maintenance; "
        "whole hours come from hourly histograms, accurate to within 1 %.",
        f"Times are shown in {sla.timezone}.",
    ]
    return notes


def _locations_note(report: Report) -> str:
    """Where the checks were probed from, and how their results were combined (the quorum)."""
    sla = report.sla
    seen = {check: agents for check, agents in report.agents.items() if agents}
    if not seen:
        return "No probe result was received in this period."
    if len(seen) == len(report.agents) and len(set(seen.values())) == 1:
        agents = next(iter(seen.values()))
        subject = "The check is" if len(report.agents) == 1 else "Each check is"
        where = f"{subject} probed from {_locations(agents)}"
    else:
        listed = "; ".join(f"{check} from {_locations(a)}" for check, a in seen.items())
        where = f"The checks are probed: {listed}"
    if max(len(agents) for agents in seen.values()) == 1:
        return f"{where}; a check counts as down while that location's probes fail."
    quorum = {
        "any": "any one location seeing it down",
        "majority": "more than half of the locations with a result seeing it down",
        "all": "every location with a result seeing it down",
    }.get(str(sla.quorum), f"at least {sla.quorum} locations (or all with a result) seeing it down")
    return f"{where}; a check counts as down on {quorum} (quorum: {sla.quorum})."


def _locations(agents: Sequence[str]) -> str:
    count = "one location" if len(agents) == 1 else f"{len(agents)} locations"
    return f"{count} ({', '.join(agents)})"


def _verdict_note(report: Report) -> str:
    if report.complete:
        return (
            "The period is over: the objective is met when availability reaches it, and the "
            "service credit is that of the tier availability falls below."
        )
    return (
        f"{IN_PROGRESS_RULE} The service credit shown is the one already certain: that of the "
        "projected availability, if the rest of the period is up."
    )


# ------------------------------------------------------------------------------- words, numbers


def period_title(period: str | None, tz: str) -> str | None:
    """`November 2026`, `Week 47, 2026 (16–22 November)`, `27 November 2026`."""
    if period is None:
        return None
    window = window_for_period(period, tz)
    first = from_ms(window.from_ms, zone_of(tz))
    if len(period) == 7:
        return first.strftime("%B %Y")
    if "W" in period.upper():
        last = from_ms(window.to_ms - 1, zone_of(tz))
        return f"Week {int(period[-2:])}, {period[:4]} ({_day(first)} – {_day(last)})"
    return f"{_day(first)} {first.year}"


def _day(moment: datetime) -> str:
    return f"{moment.day} {moment.strftime('%B')}"


def local_time(ms: int, tz: str) -> str:
    moment = from_ms(ms, zone_of(tz))
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    if ms % 1000:
        text += f".{ms % 1000:03d}"
    return f"{text} {moment.tzname()}"


def duration(seconds: float) -> str:
    """`0 s`, `45 s`, `2 min 03 s`, `3 h 04 min`, `2 d 03 h 04 min`; negative with a minus."""
    if seconds < 0:
        return "−" + duration(-seconds)
    if seconds < 60:
        return f"{_number(round(seconds, 3))} s"
    whole = math.floor(seconds)
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours:02d} h {minutes:02d} min"
    if hours:
        return f"{hours} h {minutes:02d} min {secs:02d} s"
    return f"{minutes} min {secs:02d} s"


def percent(value: float, *, floor: bool = False, places: int = 4) -> str:
    """`99.9 %`; with `floor`, never more than the value (99.89999 is not shown as 99.9)."""
    exact = Decimal(repr(value))
    shown = exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_FLOOR) if floor else exact
    text = format(shown.normalize(), "f") if shown != shown.to_integral() else str(int(shown))
    return f"{text} %"


def money(amount: Decimal, sla: Sla) -> str:
    """`1,234.50 EUR`: the amount as exact as the currency's minor unit, and its code."""
    currency = sla.monthly_fee.currency if sla.monthly_fee else ""
    return f"{amount.quantize(quantum(currency)):,} {currency}".strip()


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
