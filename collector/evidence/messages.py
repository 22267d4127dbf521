"""A closed period's report as the messages that carry it (CONTRACT §7): an e-mail (the HTML
report as its body, the CSV and JSON reports attached) and a `period_closed` webhook event
(§3.2's signed JSON, carrying the report).

Rendered once and stored in the alert outbox (`slawatch.collector.alerts.outbox`), which sends
them as it sends alerts: the same bytes at each attempt, retried until delivered or
`alerts.max_age`. Their id is stable per (channel, SLA, period): deciding the close twice stores
each once, and the e-mail's `Message-ID` is made of it, so a copy sent again after a crash
between the server's answer and the commit is the same message.
"""

from __future__ import annotations

import email.policy
import email.utils
import json
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from slawatch.collector.alerts.events import stable_notification_id
from slawatch.collector.engine.periods import format_instant
from slawatch.collector.reports.build import SlaReport
from slawatch.collector.reports.formats import report_csv, report_page
from slawatch.collector.store import NewNotification
from slawatch.config.schema import Channel, Config

KIND = "period_closed"
WEBHOOK_VERSION = 1
MESSAGE_ID_DOMAIN = "slawatch"


def notification_id(channel: str, sla: str, period: str) -> str:
    return stable_notification_id(channel, KIND, sla, period)


def summary(found: SlaReport) -> str:
    report = found.report
    sla = report.sla
    if report.availability is None:
        figure = "no data"
    else:
        figure = f"{report.availability:.3f} % (objective {report.sla.objective:g} %)"
    return f"SLA report {sla.name}, {found.period}: {figure}, {report.verdict}"


def render(
    channel: Channel, found: SlaReport, config: Config, now_ms: int, *, evidence: str | None
) -> NewNotification:
    """The notification of `found` (a closed period's report) for one of the customer's
    report channels (`close.report_channels`); `evidence`: the kept bundle's path in the API."""
    sla = found.report.sla
    assert found.period is not None
    ident = notification_id(channel.id, sla.id, found.period)
    if channel.type == "email":
        body, headers = _mail(ident, found, config, now_ms), {"Content-Type": "message/rfc822"}
    else:
        payload = _event(ident, found, now_ms, evidence)
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        body, headers = text.encode(), {"Content-Type": "application/json; charset=utf-8"}
    event = {"type": "PeriodClosed", "fields": {"sla": sla.id, "period": found.period}}
    return NewNotification(
        id=ident,
        channel=channel.id,
        kind=KIND,
        event=json.dumps(event),
        body=body,
        headers=json.dumps(headers),
        created_ms=now_ms,
        due_ms=now_ms,
        subject=f"sla:{sla.id}",
        run_ms=found.report.window.from_ms,
    )


def _event(ident: str, found: SlaReport, now_ms: int, evidence: str | None) -> dict[str, Any]:
    sla = found.report.sla
    return {
        "version": WEBHOOK_VERSION,
        "event": KIND,
        "id": ident,
        "at": format_instant(now_ms),
        "summary": summary(found),
        "customer": sla.customer,
        "sla": sla.id,
        "period": found.period,
        "report": found.to_json(),
        "evidence": evidence,
    }


def _mail(ident: str, found: SlaReport, config: Config, now_ms: int) -> bytes:
    sla = found.report.sla
    mail = EmailMessage(policy=email.policy.SMTP)
    mail["Subject"] = summary(found)
    mail["Date"] = email.utils.format_datetime(datetime.fromtimestamp(now_ms / 1000, UTC))
    mail["Message-ID"] = f"<{ident}@{MESSAGE_ID_DOMAIN}>"
    mail["Auto-Submitted"] = "auto-generated"
    mail["X-Slawatch-Event"] = KIND
    mail.set_content(
        f"{summary(found)}\n\nThe report is attached (CSV and JSON); the HTML part shows it.\n",
        cte="quoted-printable",
    )
    mail.add_alternative(report_page(found, config, now_ms), subtype="html", cte="quoted-printable")
    name = f"{sla.id}-{found.period}"
    mail.add_attachment(
        report_csv([found]).encode(), maintype="text", subtype="csv", filename=f"{name}.csv"
    )
    mail.add_attachment(
        json.dumps(found.to_json(), indent=2).encode(),
        maintype="application",
        subtype="json",
        filename=f"{name}.json",
    )
    return mail.as_bytes()
