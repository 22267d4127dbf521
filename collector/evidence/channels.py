"""The alert outbox's channels that carry closed periods' reports to customers (CONTRACT §7):
`report:CUSTOMER:email` (type `email`, through `reports.smtp`) and `report:CUSTOMER:webhook`
(type `webhook`, signed with `report_to.secret`), made from `collector.customers[].report_to`.
Their ids cannot clash with a configured channel's (an id has no `:`)."""

from __future__ import annotations

from dataclasses import replace

from slawatch.config.schema import AlertsConfig, Channel, Config

CHANNEL_PREFIX = "report:"


def report_channels(config: Config) -> tuple[Channel, ...]:
    """The outbox channels of every customer's `report_to`."""
    found: list[Channel] = []
    settings = config.collector
    for customer in settings.customers if settings else ():
        to = customer.report_to
        if to is None:
            continue
        if to.email and config.reports.smtp is not None:
            found.append(
                Channel(
                    f"{CHANNEL_PREFIX}{customer.id}:email",
                    "email",
                    {"to": to.email, "smtp": config.reports.smtp},
                )
            )
        if to.webhook is not None and to.secret is not None:
            found.append(
                Channel(
                    f"{CHANNEL_PREFIX}{customer.id}:webhook",
                    "webhook",
                    {"url": to.webhook, "secret": to.secret},
                )
            )
    return tuple(found)


def with_report_channels(config: Config) -> AlertsConfig:
    """`alerts` with the report channels added: what the alert outbox delivers."""
    return replace(config.alerts, channels=(*config.alerts.channels, *report_channels(config)))
