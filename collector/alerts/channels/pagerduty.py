"""PagerDuty Events API v2: an outage is an alert that pages whoever is on call, and its
recovery resolves that same alert.

From PagerDuty's developer docs (Events API v2): `POST /v2/enqueue` with `routing_key` (the
integration key of a service), `event_action` (`trigger` or `resolve`), `dedup_key` (at most 255
characters; the events of one key are one alert) and, for a trigger, a `payload` of `summary`
(at most 1024 characters), `source`, `severity` (critical, error, warning, info), `timestamp`,
`component`, `group`, `class` and `custom_details`, beside `links`. 202 is accepted; 400 is an
event it refuses (not retried); 429 and 5xx are retried. Events hold 512 KB at most. Change
events (`POST /v2/change/enqueue`) are records that page nobody.

What each event becomes:
- `down`: a trigger of severity critical keyed by the outage (`slawatch/check/acme-web/<its
  first failing sample, ms>`); a `reminder` is a trigger of the same key (PagerDuty logs it on
  the open alert and pages nobody again); `resolved` resolves that key, with its payload too
  (the outage's length in the alert's log, as Alertmanager sends it). The channel never groups
  nor merges (`groups=False`), so each trigger gets its resolve.
- `flapping`: a trigger of severity warning keyed by the episode; `flapping_ended` resolves it.
- `no_data`, `agent_silent`, `burn_rate`, `objective_breached`: triggers of their own (error; a
  page burn rate is critical, a ticket one a warning) that no later event resolves: whoever
  handles them resolves them in PagerDuty.
- `test`: a trigger of severity info, so that a test proves the key pages.
- `digest`: a change event; the weekly review is a record, not a page.

The routing key is a secret: the stored event holds none, each attempt adds it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import aiohttp

from slawatch.collector.alerts import delivery
from slawatch.collector.alerts.delivery import DeliveryResult, RenderedMessage, channel_secret
from slawatch.collector.alerts.events import (
    AgentSilent,
    BurnRate,
    Down,
    Event,
    Flapping,
    FlappingEnded,
    Reminder,
    Resolved,
    Subject,
)
from slawatch.collector.alerts.formats import rfc3339
from slawatch.collector.alerts.layout import Message, Tone, clip
from slawatch.collector.alerts.text import compose
from slawatch.config.keys import Key, Table
from slawatch.config.registry import ChannelSpec
from slawatch.config.schema import Channel, Secret
from slawatch.config.values import HTTP_URL, SECRET_TEXT

DEFAULT_API_URL = "https://events.pagerduty.com"
EVENTS_PATH = "/v2/enqueue"
CHANGE_EVENTS_PATH = "/v2/change/enqueue"
CHANGE_KINDS = frozenset({"digest"})
SUMMARY_CHARS = 1024
DETAIL_CHARS = 4000
MAX_DETAIL_LINES = 200
_SEVERITIES: dict[Tone, str] = {
    "bad": "error",
    "warning": "warning",
    "good": "info",
    "info": "info",
}


def render(event: Event, channel: Channel) -> RenderedMessage:
    message = compose(event)
    links = [{"href": message.link, "text": "Open in slawatch"}] if message.link else []
    if event.kind in CHANGE_KINDS:
        payload: dict[str, Any] = {"payload": _details(event, message), "links": links}
    else:
        payload = {
            "event_action": "resolve" if isinstance(event, Resolved | FlappingEnded) else "trigger",
            "dedup_key": dedup_key(event),
            "payload": {**_details(event, message), "severity": severity(event, message)},
            "links": links,
            "client": "slawatch",
            **({"client_url": message.link} if message.link else {}),
        }
    return RenderedMessage.of_json(channel, event.id, event.kind, payload)


def dedup_key(event: Event) -> str:
    """One key per outage for its trigger, reminders and resolve, one per flapping episode for
    its trigger and resolve; one per event otherwise."""
    match event:
        case Down() | Reminder():
            return _key("", event.subject, event.since)
        case Resolved():
            return _key("", event.subject, event.down_since)
        case Flapping():
            return _key("flapping/", event.subject, event.since)
        case FlappingEnded():
            return _key("flapping/", event.subject, event.flapping_since)
    return f"slawatch/{event.kind}/{event.id}"


def _key(episode: str, subject: Subject, since: float) -> str:
    return f"slawatch/{episode}{subject.kind}/{subject.id}/{round(since * 1000)}"


def severity(event: Event, message: Message) -> str:
    if isinstance(event, Down | Reminder):
        return "critical"
    if isinstance(event, BurnRate) and event.severity == "page":
        return "critical"
    return _SEVERITIES[message.tone]


def _details(event: Event, message: Message) -> dict[str, Any]:
    """The PD-CEF fields: what, where (`source`: the check, SLA or agent), when, and the facts."""
    subject = getattr(event, "subject", None)
    details: dict[str, Any] = {f.label: clip(f.value, DETAIL_CHARS) for f in message.facts}
    if message.lines:
        kept = message.lines[:MAX_DETAIL_LINES]
        details["Changes"] = [clip(line, DETAIL_CHARS) for line in kept]
        if len(message.lines) > len(kept):
            details["Changes"].append(f"… and {len(message.lines) - len(kept)} more")
    fields: dict[str, Any] = {
        "summary": clip(message.summary, SUMMARY_CHARS),
        "source": _source(event, subject),
        "timestamp": rfc3339(event.at),
        "custom_details": details,
    }
    if isinstance(subject, Subject):
        fields |= {"component": subject.id, "class": event.kind, "group": subject.customer}
    return {name: value for name, value in fields.items() if value is not None}


def _source(event: Event, subject: object) -> str:
    if isinstance(subject, Subject):
        return subject.id
    if isinstance(event, AgentSilent):
        return event.agent
    return "slawatch"


async def send(
    session: aiohttp.ClientSession,
    channel: Channel,
    message: RenderedMessage,
    *,
    timeout: float,
    clock: Callable[[], float] = time.time,
) -> DeliveryResult:
    """Enqueue `message` with the routing key the config has now."""
    key = channel_secret(channel, "routing_key")
    base = str(channel.settings.get("api_url") or DEFAULT_API_URL).rstrip("/")
    path = CHANGE_EVENTS_PATH if message.event in CHANGE_KINDS else EVENTS_PATH
    body = {"routing_key": key.value, **json.loads(message.body)}
    enqueue = replace(
        message, body=json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    )
    return await delivery.send(
        session,
        Secret(base + path),
        enqueue,
        redact=channel.secrets(),
        timeout=timeout,
        clock=clock,
    )


CHANNEL = ChannelSpec(
    name="pagerduty",
    doc="PagerDuty Events API v2: an outage triggers an alert (severity critical) keyed by the "
    "outage, and its recovery resolves that alert (a flapping episode likewise); other events "
    "trigger alerts of their own; the weekly review is a change event. Events are never grouped "
    "nor merged.",
    keys=Table(
        (
            Key(
                "routing_key",
                SECRET_TEXT,
                "The integration key of an Events API v2 integration of the service to page.",
                required=True,
                secret=True,
                example="${PAGERDUTY_ROUTING_KEY}",
            ),
            Key(
                "api_url",
                HTTP_URL,
                "The Events API's base URL (`https://events.eu.pagerduty.com` for an account "
                "in the EU service region).",
                default=DEFAULT_API_URL,
                example="https://events.eu.pagerduty.com",
            ),
        )
    ),
    render=render,
    send=send,
    groups=False,
)
