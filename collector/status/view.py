"""A status page as HTML (`collector/templates/status.html`, Jinja2, autoescaped) and as its
JSON twin, from the model (`slawatch.collector.status.model`).

The words of the figures are `slawatch.collector.reports.words`' (verdicts, measured time, why a
budget is smaller than the calendar's). Probe errors come from the targets: they are shown as
text, in plain words first, with URL credentials and the config's header values taken out
(`Redactor`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote, urlsplit

from slawatch.collector.engine.periods import format_instant, from_ms, zone_of
from slawatch.collector.engine.sla import Incident, Report
from slawatch.collector.reports.formats import TEMPLATES, percent, period_title
from slawatch.collector.reports.words import (
    IN_PROGRESS_RULE,
    VERDICT_TEXT,
    budget_note,
    exclusion_text,
    measured,
    service_hours_text,
    span,
)
from slawatch.collector.status.model import (
    BAR_DAYS,
    INCIDENT_DAYS,
    CustomerStatus,
    DayStatus,
    SlaStatus,
    Upkeep,
)
from slawatch.config.schema import Config, HttpTarget

REFRESH_S = 60
MAX_PAGE_INCIDENTS = 30
"""Incidents listed on the page, newest first, all SLAs together."""
MAX_ERROR_CHARS = 300
MIN_SECRET_CHARS = 6
"""Header values this long or longer are taken out of errors (shorter ones are no secret)."""

OVERALL_TEXT = {
    "operational": "All systems operational",
    "degraded": "Degraded service",
    "major_outage": "Major outage",
    "maintenance": "Under maintenance",
    "no_data": "No data yet",
}
OVERALL_ICON = {
    "operational": "✓",
    "degraded": "!",
    "major_outage": "✕",
    "maintenance": "⚙",
    "no_data": "?",
}
STATE_TEXT = {
    "operational": "Operational",
    "outage": "Outage",
    "maintenance": "Under maintenance",
    "no_data": "No data",
}
LEVEL_TEXT = {
    "operational": "Objective met",
    "degraded": "Below objective",
    "outage": "Major outage",
    "maintenance": "Maintenance only",
    "no_data": "No data",
}

# --------------------------------------------------------------------------------------- JSON


def status_to_json(
    status: CustomerStatus, *, report_base: str | None, redactor: Redactor
) -> dict[str, Any]:
    """The JSON twin; `report_base` (the collector's URL, "" for root-relative) adds report
    links, for callers allowed to read reports."""
    return {
        "customer": {"id": status.customer.id, "name": status.customer.name},
        "provider": status.provider,
        "updated": format_instant(status.now_ms),
        "refresh_s": REFRESH_S,
        "status": status.overall,
        "status_text": OVERALL_TEXT[status.overall],
        "timezone": status.timezone,
        "slas": [_sla_json(s, report_base, redactor) for s in status.slas],
        "maintenance": [_upkeep_json(u, status.now_ms) for u in status.maintenance],
    }


def _sla_json(status: SlaStatus, report_base: str | None, redactor: Redactor) -> dict[str, Any]:
    report, sla = status.summary.report, status.sla
    return {
        "id": sla.id,
        "name": sla.name,
        "state": status.state,
        "timezone": sla.timezone,
        "period": status.summary.period,
        "from": format_instant(report.window.from_ms),
        "to": format_instant(report.window.to_ms),
        "as_of": format_instant(report.as_of_ms),
        "objective": sla.objective,
        "availability": report.availability,
        "eligible_s": report.eligible_ms / 1000,
        "unknown_s": report.unknown_ms / 1000,
        "future_s": report.future_ms / 1000,
        "outside_hours_s": report.outside_hours_ms / 1000,
        "service_hours": [line.to_json() for line in sla.hours],
        "holidays": [day.isoformat() for day in sla.holidays],
        "complete": report.complete,
        "projected_availability": report.projected_availability,
        "met": report.met,
        "verdict": report.verdict,
        "error_budget_s": report.error_budget_s,
        "error_budget_remaining_s": report.error_budget_remaining_s,
        "error_budget_remaining_ratio": report.error_budget_remaining_ratio,
        "budget_note": budget_note(report, lambda ms: _when(ms, sla.timezone)),
        "credit_percent": report.credit_percent,
        "missing_checks": list(report.missing_checks),
        "exclusions": [
            {
                "start": format_instant(d.start_ms),
                "end": format_instant(d.end_ms),
                "category": d.category,
                "reason": d.reason,
                "text": exclusion_text(d.category, d.reason),
            }
            for d in status.exclusions
        ],
        "uptime": {
            "days": len(status.days),
            "availability": status.uptime,
            "eligible_s": status.uptime_measured_ms / 1000,
        },
        "days": [_day_json(day) for day in status.days],
        "open_incidents": [_incident_json(i, redactor) for i in status.open_incidents],
        "incidents": [_incident_json(i, redactor) for i in status.incidents],
        "incident_count": status.incident_count,
        "report": None if report_base is None else report_base + report_path(status),
    }


def _day_json(day: DayStatus) -> dict[str, Any]:
    report = day.report
    return {
        "date": day.day.isoformat(),
        "from": format_instant(report.window.from_ms),
        "to": format_instant(report.window.to_ms),
        "level": day.level,
        "availability": report.availability,
        "up_s": report.up_ms / 1000,
        "down_s": report.down_ms / 1000,
        "unknown_s": report.unknown_ms / 1000,
        "maintenance_s": report.maintenance_ms / 1000,
        "outside_hours_s": report.outside_hours_ms / 1000,
        "eligible_s": report.eligible_ms / 1000,
        "partial": day.partial,
    }


def _incident_json(incident: Incident, redactor: Redactor) -> dict[str, Any]:
    error = None if incident.error is None else redactor(incident.error)
    return {**incident.to_json(), "error": error, "summary": plain_error(error)}


def _upkeep_json(upkeep: Upkeep, now_ms: int) -> dict[str, Any]:
    return {
        "slas": [sla.id for sla in upkeep.slas],
        "start": format_instant(upkeep.start_ms),
        "end": format_instant(upkeep.end_ms),
        "reason": upkeep.reason,
        "ongoing": upkeep.start_ms <= now_ms,
        "schedule": upkeep.schedule,
    }


def report_path(status: SlaStatus) -> str:
    return f"/api/v1/slas/{status.sla.id}/report?period={status.summary.period}&format=html"


# --------------------------------------------------------------------------------------- HTML


def render_page(
    status: CustomerStatus,
    *,
    report_links: bool,
    redactor: Redactor,
    link_query: str = "",
    signed_in: bool = False,
) -> str:
    """`link_query` ("&key=…") is added to the report links (a share link's key); `signed_in`
    (a browser's session) adds a sign-out link."""
    return TEMPLATES.get_template("status.html").render(
        view=_view(status, report_links, redactor, link_query), error=None, signed_in=signed_in
    )


def _view(
    status: CustomerStatus, report_links: bool, redactor: Redactor, link_query: str = ""
) -> dict[str, Any]:
    tz, now = status.timezone, status.now_ms
    incidents = sorted(
        ((s, i) for s in status.slas for i in s.incidents),
        key=lambda pair: pair[1].run_start_ms,
        reverse=True,
    )
    return {
        "customer": status.customer.name,
        "brand": status.customer.brand,
        "public": status.customer.public_status,
        "provider": status.provider,
        "overall": {
            "key": status.overall,
            "text": OVERALL_TEXT[status.overall],
            "icon": OVERALL_ICON[status.overall],
        },
        "updated": _when(now, tz),
        "updated_iso": format_instant(now),
        "refresh_s": REFRESH_S,
        "timezone": tz,
        "slas": [_sla_view(s, report_links, link_query) for s in status.slas],
        "open": [_incident_view(s, i, redactor, now) for s, i in incidents if i.end_ms is None],
        "incidents": [
            _incident_view(s, i, redactor, now) for s, i in incidents[:MAX_PAGE_INCIDENTS]
        ],
        "more_incidents": sum(s.incident_count for s in status.slas) - MAX_PAGE_INCIDENTS,
        "ongoing": [_upkeep_view(u, tz) for u in status.maintenance if u.start_ms <= now],
        "upcoming": [_upkeep_view(u, tz) for u in status.maintenance if u.start_ms > now],
        "bar_days": BAR_DAYS,
        "incident_days": INCIDENT_DAYS,
        "several_zones": len({s.sla.timezone for s in status.slas}) > 1,
        "levels": [(level, LEVEL_TEXT[level]) for level in LEVEL_TEXT],
        "in_progress_rule": IN_PROGRESS_RULE,
    }


def _sla_view(status: SlaStatus, report_links: bool, link_query: str = "") -> dict[str, Any]:
    report, sla = status.summary.report, status.sla
    return {
        "id": sla.id,
        "name": sla.name,
        "state": status.state,
        "state_text": STATE_TEXT[status.state],
        "period": period_title(status.summary.period, sla.timezone),
        "availability": None
        if report.availability is None
        else _figure(percent(report.availability, floor=True, places=3), report.availability),
        "measured": measured(report),
        "projected": None
        if report.complete or report.projected_availability is None or not report.eligible_ms
        else _figure(
            percent(report.projected_availability, floor=True, places=3),
            report.projected_availability,
        ),
        "objective": _figure(percent(sla.objective), sla.objective),
        "verdict": report.verdict,
        "verdict_text": VERDICT_TEXT[report.verdict],
        "budget": _budget_text(report),
        "budget_note": budget_note(report, lambda ms: _when(ms, sla.timezone)),
        "uptime": None
        if status.uptime is None
        else f"{percent(status.uptime, floor=True, places=3)} uptime "
        f"({span(status.uptime_measured_ms / 1000)} measured)",
        "days": [_day_view(day) for day in status.days],
        "missing": list(report.missing_checks),
        "service_hours": service_hours_text(sla),
        "exclusions": [
            {
                "text": exclusion_text(d.category, d.reason),
                "when": f"{_when(d.start_ms, sla.timezone)} – {_when(d.end_ms, sla.timezone)}",
            }
            for d in status.exclusions
        ],
        "report": f"..{report_path(status)}{link_query}" if report_links else None,
        "timezone": sla.timezone,
    }


def _figure(text: str, value: float) -> dict[str, str]:
    return {"text": text, "value": repr(float(value))}


def _budget_text(report: Report) -> str:
    budget, left = report.error_budget_s, report.error_budget_remaining_s
    if budget <= 0:
        return "none (the objective allows no downtime)"
    if left < 0:
        return f"none: {span(-left)} over a budget of {span(budget)}"
    return f"{span(left)} of {span(budget)} ({math.floor(100 * left / budget)} %)"


def _day_view(day: DayStatus) -> dict[str, str]:
    report = day.report
    label = f"{day.day:%a} {day.day.day} {day.day:%b %Y}"
    maintenance = f"{span(report.maintenance_ms / 1000)} maintenance"
    if day.level == "maintenance" and not report.maintenance_ms:
        text = f"{label}: outside service hours"
    elif day.level == "maintenance":
        text = f"{label}: maintenance only ({span(report.maintenance_ms / 1000)})"
    elif report.availability is None or day.level == "no_data":
        text = f"{label}: no data" + (f", {maintenance}" if report.maintenance_ms else "")
    else:
        down = report.down_ms / 1000
        text = (
            f"{label}: {percent(report.availability, floor=True, places=3)} available "
            f"{measured(report)}, " + (f"{span(down)} down" if down else "no downtime")
        )
        if report.maintenance_ms:
            text += f", {maintenance}"
        if report.unknown_ms:
            text += f", no data for {span(report.unknown_ms / 1000)}"
    if day.partial:
        text += " (today so far)"
    return {"level": day.level, "text": text}


def _incident_view(
    status: SlaStatus, incident: Incident, redactor: Redactor, now_ms: int
) -> dict[str, Any]:
    tz = status.sla.timezone
    end = incident.run_end_ms
    error = None if incident.error is None else redactor(incident.error)
    return {
        "sla": status.sla.name,
        "start": _when(incident.run_start_ms, tz),
        "start_iso": format_instant(incident.run_start_ms),
        "end": None if end is None else _when(end, tz),
        "duration": span(((end if end is not None else now_ms) - incident.run_start_ms) / 1000),
        "checks": ", ".join(incident.checks),
        "summary": plain_error(error),
        "error": None if error is None else _clip(error, MAX_ERROR_CHARS),
    }


def _upkeep_view(upkeep: Upkeep, tz: str) -> dict[str, str | None]:
    return {
        "start": _when(upkeep.start_ms, tz),
        "end": _when(upkeep.end_ms, tz),
        "duration": span((upkeep.end_ms - upkeep.start_ms) / 1000),
        "reason": upkeep.reason or "maintenance",
        "slas": ", ".join(sla.name for sla in upkeep.slas),
        "schedule": upkeep.schedule,
    }


def _when(ms: int, tz: str) -> str:
    moment = from_ms(ms, zone_of(tz))
    return f"{moment:%Y-%m-%d %H:%M} {moment.tzname()}"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -------------------------------------------------------------------------------------- words


def plain_error(error: str | None) -> str:
    """What a probe's error means, for a customer: "The server answered with an error: HTTP
    503 (Service Unavailable)", "No answer in time"."""
    if not error:
        return "The check failed"
    text = error.lower()
    if match := re.search(r"\b(?:http|status)\s+([1-5][0-9]{2})\b", text):
        code = int(match.group(1))
        try:
            phrase = f" ({HTTPStatus(code).phrase})"
        except ValueError:
            phrase = ""
        kind = "an error" if code >= 500 else "an unexpected status"
        return f"The server answered with {kind}: HTTP {code}{phrase}"
    for words, meaning in _PLAIN_WORDS:
        if any(word in text for word in words):
            return meaning
    return "The check failed"


_PLAIN_WORDS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("timeout", "timed out"), "No answer in time"),
    (("connection refused",), "The server refused the connection"),
    (("dns",), "The server's name could not be resolved (DNS)"),
    (("certificate",), "The server's TLS certificate was not accepted"),
    (("tls", "ssl"), "The secure connection (TLS) could not be established"),
    (("unreachable", "no route"), "The server could not be reached"),
    (("connection closed", "reset by peer", "broken pipe"), "The connection was cut"),
    (("slower than",), "The server answered too slowly"),
    (("lacks", "does not match"), "The answer did not contain what was expected"),
)


_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")
_SECRET_QUERY = re.compile(
    r"(?i)([?&][a-z0-9_.-]*(?:token|key|secret|pass|pwd|auth|sig|session)[a-z0-9_.-]*=)[^&#\s]+"
)


@dataclass(frozen=True, slots=True)
class Redactor:
    """Takes out of a probe error what could be a secret: URL credentials, query parameters
    named like secrets, and the config's HTTP header values and URL passwords."""

    secrets: tuple[str, ...] = ()

    @classmethod
    def of(cls, config: Config) -> Redactor:
        found: set[str] = set()
        for check in config.checks:
            if not isinstance(check.target, HttpTarget):
                continue
            headers = check.target.headers.values()
            found.update(value for value in headers if len(value) >= MIN_SECRET_CHARS)
            password = urlsplit(check.target.url).password
            if password:
                found.update({password, unquote(password)})
        return cls(tuple(sorted(found, key=len, reverse=True)))

    def __call__(self, text: str) -> str:
        text = _USERINFO.sub(r"\1***@", text)
        text = _SECRET_QUERY.sub(r"\1***", text)
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text
